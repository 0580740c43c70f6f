/* SPDX-License-Identifier: Apache-2.0 */
/* edgetrain runtime: the STM32F4 internal-flash port of the A/B weight store (et_storage.h).
 *
 * The two banks live in flash sectors of one size (e.g. sectors 1-3 of 16 KiB, or 5-11 of
 * 128 KiB on an STM32F405/407) and are driven through the FLASH interface registers as RM0090
 * (section 3, "Embedded Flash memory interface") specifies:
 *   unlock   write KEY1 (0x45670123) then KEY2 (0xCDEF89AB) to FLASH_KEYR when FLASH_CR.LOCK is set;
 *   erase    wait for SR.BSY to clear, clear the SR error flags, CR = PSIZE x32 | SER | SNB, set
 *            CR.STRT, wait for BSY, check the error flags, clear SER;
 *   program  CR = PSIZE x32 | PG, then per 32-bit word: write it to its address, wait for BSY,
 *            check the error flags; clear PG;
 *   lock     set CR.LOCK again after every operation (the flash is unlocked only while erasing or
 *            programming).
 * Reads are plain memory reads. Word programming (PSIZE x32) needs a supply of 2.7-3.6 V, which
 * every board running the core at its rated clock has. A flag in FLASH_SR (OPERR, WRPERR, PGAERR,
 * PGPERR, PGSERR, RDERR), a wrong unlock or a BSY that does not clear within `timeout` polls makes
 * the callback fail (the store then keeps its previous commit, see et_storage.h); `last_sr` holds
 * the status register of the failure. The code runs from the flash it programs: on a single-bank
 * STM32F4 the CPU stalls during an erase or program, which is what the datasheet expects (no
 * interrupt handler runs from flash meanwhile, and edgetrain's runtime enables none).
 */
#ifndef ET_STORAGE_STM32F4_H
#define ET_STORAGE_STM32F4_H

#include <stdint.h>

#include "et_storage.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ET_STM32F4_FLASH_REGS 0x40023C00u  /* FLASH interface registers (RM0090) */

typedef struct {
    uint32_t region;        /* address of the storage region (bank A), the start of `first_sector` */
    uint32_t regs;          /* FLASH register block: ET_STM32F4_FLASH_REGS on the chip */
    uint32_t first_sector;  /* sector number at `region` (0..11) */
    uint32_t sector_size;   /* bytes of every sector of the region */
    uint32_t n_sectors;     /* sectors of the region (both banks) */
    uint32_t timeout;       /* BSY polls before an operation counts as failed */
    uint32_t last_sr;       /* FLASH_SR when the last operation failed (0 before any failure) */
} et_stm32f4_flash;

/* Fills `out` for the region described by `flash` (bank_size a multiple of sector_size, both
 * banks inside the region; write unit 4 bytes, erase unit one sector). ET_ERR_NULL_ARG,
 * ET_ERR_BAD_PARAM for a geometry that does not fit. */
et_status et_stm32f4_flash_interface(et_stm32f4_flash *flash, uint32_t bank_size, et_storage *out);

#ifdef __cplusplus
}
#endif

#endif /* ET_STORAGE_STM32F4_H */

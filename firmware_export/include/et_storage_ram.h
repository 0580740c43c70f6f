/* SPDX-License-Identifier: Apache-2.0 */
/* edgetrain runtime: RAM-backed et_storage for host and QEMU tests, emulating NOR flash
 * (erase sets 0xFF, a write can only clear bits) with an injectable power cut.
 *
 * Power cut: with cut_after = N >= 0, the storage dies after N more bytes have been erased or
 * programmed: the operation in progress stops there (bytes before it done, later bytes untouched)
 * and fails, and so does every later call until the test "reboots" by calling
 * et_ram_storage_power_on. With torn != 0 the byte being processed at the cut gets pseudo-random
 * bits (a half-erased byte has some bits set, a half-programmed byte some bits cleared), which is
 * what real flash may leave. With torn == 2 the rest of the interrupted write unit (program) or
 * sector (erase) is torn too: every byte from the cut to its end gets random bits.
 *
 * Flash errors (the operation reports failure; nothing "dies"):
 *   - a bad range: reads (ET_RAM_FAIL_READ), erases (ET_RAM_FAIL_ERASE) or programs
 *     (ET_RAM_FAIL_WRITE) that touch [bad_lo, bad_hi) fail, as selected by bad_ops. A failed
 *     erase or program still does its work outside the bad range; the bad bytes keep their value
 *     (a worn-out sector that no longer erases or programs);
 *   - a transient error: with fail_call = N >= 0 the N-th callback call from now (0 = the next)
 *     fails without any effect; later calls work.
 */
#ifndef ET_STORAGE_RAM_H
#define ET_STORAGE_RAM_H

#include <stdint.h>

#include "et_storage.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ET_RAM_FAIL_READ 1u
#define ET_RAM_FAIL_ERASE 2u
#define ET_RAM_FAIL_WRITE 4u

typedef struct {
    unsigned char *mem;
    uint32_t size;
    uint32_t erase_size;
    uint32_t write_unit;
    int32_t cut_after;     /* -1: no cut planned; else bytes left before the power fails */
    int32_t dead;          /* 1 after the cut, until et_ram_storage_power_on */
    int32_t torn;          /* 1: the interrupted byte gets random bits; 2: the rest of its unit too */
    uint32_t rng;          /* xorshift state for torn bytes */
    uint32_t bad_lo;       /* bad range [bad_lo, bad_hi) for the operations in bad_ops */
    uint32_t bad_hi;
    uint32_t bad_ops;      /* ET_RAM_FAIL_* bits; 0: no bad range */
    int32_t fail_call;     /* -1: none; else callback calls left before one transient failure */
    uint32_t erase_calls;      /* statistics since init */
    uint32_t bytes_erased;
    uint32_t bytes_written;
    uint32_t set_bit_writes;   /* writes that tried to turn a 0 bit into 1 (a NOR violation) */
} et_ram_storage;

/* mem[size] becomes fresh flash (all 0xFF). */
et_status et_ram_storage_init(et_ram_storage *ram, void *mem, uint32_t size, uint32_t erase_size,
                              uint32_t write_unit);
/* Fills `out` with callbacks on `ram` and two banks of bank_size bytes (2 * bank_size <= size). */
et_status et_ram_storage_interface(et_ram_storage *ram, uint32_t bank_size, et_storage *out);
/* Reboot after a cut: the storage works again, no cut planned. */
void et_ram_storage_power_on(et_ram_storage *ram);

#ifdef __cplusplus
}
#endif

#endif /* ET_STORAGE_RAM_H */

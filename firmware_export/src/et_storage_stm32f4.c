/* SPDX-License-Identifier: Apache-2.0 */
/* The STM32F4 internal-flash port of et_storage (see et_storage_stm32f4.h). */
#include "et_storage_stm32f4.h"

#define ET_F4_KEYR 0x04u
#define ET_F4_SR 0x0Cu
#define ET_F4_CR 0x10u

#define ET_F4_KEY1 0x45670123u
#define ET_F4_KEY2 0xCDEF89ABu

#define ET_F4_SR_BSY (1u << 16)
/* OPERR, WRPERR, PGAERR, PGPERR, PGSERR, RDERR: write 1 to clear. */
#define ET_F4_SR_ERRORS ((1u << 1) | (1u << 4) | (1u << 5) | (1u << 6) | (1u << 7) | (1u << 8))
#define ET_F4_SR_EOP 1u

#define ET_F4_CR_PG 1u
#define ET_F4_CR_SER (1u << 1)
#define ET_F4_CR_SNB_SHIFT 3u
#define ET_F4_CR_PSIZE_X32 (2u << 8)
#define ET_F4_CR_STRT (1u << 16)
#define ET_F4_CR_LOCK (1u << 31)

static volatile uint32_t *et_f4_reg(const et_stm32f4_flash *f, uint32_t off)
{
    return (volatile uint32_t *)(uintptr_t)(f->regs + off);
}

/* Waits for BSY to clear, then reports (and clears) any error flag: 0 on success. */
static int et_f4_wait(et_stm32f4_flash *f)
{
    uint32_t n;
    uint32_t sr = 0u;
    for (n = 0u; n < f->timeout; ++n) {
        sr = *et_f4_reg(f, ET_F4_SR);
        if ((sr & ET_F4_SR_BSY) == 0u) {
            break;
        }
    }
    if ((sr & ET_F4_SR_BSY) != 0u || (sr & ET_F4_SR_ERRORS) != 0u) {
        f->last_sr = sr;
        *et_f4_reg(f, ET_F4_SR) = sr & (ET_F4_SR_ERRORS | ET_F4_SR_EOP);
        return -1;
    }
    *et_f4_reg(f, ET_F4_SR) = ET_F4_SR_EOP;
    return 0;
}

/* Unlocks FLASH_CR and leaves the controller idle with no stale flags: 0 on success. */
static int et_f4_begin(et_stm32f4_flash *f)
{
    if ((*et_f4_reg(f, ET_F4_CR) & ET_F4_CR_LOCK) != 0u) {
        *et_f4_reg(f, ET_F4_KEYR) = ET_F4_KEY1;
        *et_f4_reg(f, ET_F4_KEYR) = ET_F4_KEY2;
        if ((*et_f4_reg(f, ET_F4_CR) & ET_F4_CR_LOCK) != 0u) {
            f->last_sr = *et_f4_reg(f, ET_F4_SR);
            return -1;
        }
    }
    {
        uint32_t n;
        for (n = 0u; n < f->timeout && (*et_f4_reg(f, ET_F4_SR) & ET_F4_SR_BSY) != 0u; ++n) {
        }
        if ((*et_f4_reg(f, ET_F4_SR) & ET_F4_SR_BSY) != 0u) {
            f->last_sr = *et_f4_reg(f, ET_F4_SR);
            return -1;
        }
    }
    *et_f4_reg(f, ET_F4_SR) = ET_F4_SR_ERRORS | ET_F4_SR_EOP;
    return 0;
}

static void et_f4_end(et_stm32f4_flash *f)
{
    *et_f4_reg(f, ET_F4_CR) = ET_F4_CR_LOCK;
}

static int et_f4_read(void *ctx, uint32_t offset, void *buf, uint32_t len)
{
    const et_stm32f4_flash *f = (const et_stm32f4_flash *)ctx;
    const volatile unsigned char *src = (const volatile unsigned char *)(uintptr_t)(f->region + offset);
    unsigned char *dst = (unsigned char *)buf;
    uint32_t i;
    if (offset > f->sector_size * f->n_sectors || len > f->sector_size * f->n_sectors - offset) {
        return -1;
    }
    for (i = 0u; i < len; ++i) {
        dst[i] = src[i];
    }
    return 0;
}

static int et_f4_erase(void *ctx, uint32_t offset, uint32_t len)
{
    et_stm32f4_flash *f = (et_stm32f4_flash *)ctx;
    uint32_t s;
    int rc = 0;
    if (offset % f->sector_size != 0u || len % f->sector_size != 0u ||
        offset / f->sector_size + len / f->sector_size > f->n_sectors) {
        return -1;
    }
    if (et_f4_begin(f) != 0) {
        et_f4_end(f);
        return -1;
    }
    for (s = offset / f->sector_size; rc == 0 && s < (offset + len) / f->sector_size; ++s) {
        const uint32_t snb = f->first_sector + s;
        *et_f4_reg(f, ET_F4_CR) = ET_F4_CR_PSIZE_X32 | ET_F4_CR_SER | (snb << ET_F4_CR_SNB_SHIFT);
        *et_f4_reg(f, ET_F4_CR) |= ET_F4_CR_STRT;
        rc = et_f4_wait(f);
        *et_f4_reg(f, ET_F4_CR) &= ~(ET_F4_CR_SER | (0xFu << ET_F4_CR_SNB_SHIFT));
    }
    et_f4_end(f);
    return rc;
}

static int et_f4_write(void *ctx, uint32_t offset, const void *buf, uint32_t len)
{
    et_stm32f4_flash *f = (et_stm32f4_flash *)ctx;
    const unsigned char *src = (const unsigned char *)buf;
    uint32_t i;
    int rc = 0;
    if (offset % 4u != 0u || len % 4u != 0u || offset > f->sector_size * f->n_sectors ||
        len > f->sector_size * f->n_sectors - offset) {
        return -1;
    }
    if (et_f4_begin(f) != 0) {
        et_f4_end(f);
        return -1;
    }
    *et_f4_reg(f, ET_F4_CR) = ET_F4_CR_PSIZE_X32 | ET_F4_CR_PG;
    for (i = 0u; rc == 0 && i < len; i += 4u) {
        /* Assembled byte by byte: the caller's buffer need not be word-aligned. */
        const uint32_t word = (uint32_t)src[i] | ((uint32_t)src[i + 1u] << 8) | ((uint32_t)src[i + 2u] << 16) |
                              ((uint32_t)src[i + 3u] << 24);
        *(volatile uint32_t *)(uintptr_t)(f->region + offset + i) = word;
        rc = et_f4_wait(f);
    }
    *et_f4_reg(f, ET_F4_CR) &= ~ET_F4_CR_PG;
    et_f4_end(f);
    return rc;
}

et_status et_stm32f4_flash_interface(et_stm32f4_flash *flash, uint32_t bank_size, et_storage *out)
{
    if (flash == 0 || out == 0) {
        return ET_ERR_NULL_ARG;
    }
    if (flash->sector_size == 0u || flash->sector_size % 4u != 0u || flash->n_sectors == 0u ||
        flash->first_sector + flash->n_sectors > 12u || flash->region % 4u != 0u || flash->timeout == 0u ||
        bank_size == 0u || bank_size % flash->sector_size != 0u ||
        bank_size / flash->sector_size > flash->n_sectors / 2u) {
        return ET_ERR_BAD_PARAM;
    }
    out->ctx = flash;
    out->read = et_f4_read;
    out->erase = et_f4_erase;
    out->write = et_f4_write;
    out->bank_size = bank_size;
    out->erase_size = flash->sector_size;
    out->write_unit = 4u;
    return et_storage_check(out);
}

/* SPDX-License-Identifier: Apache-2.0 */
/* RAM-backed NOR flash emulation with power-cut injection (see et_storage_ram.h). */
#include "et_storage_ram.h"

static uint32_t et_xorshift(uint32_t *state)
{
    uint32_t x = *state != 0u ? *state : 0x9E3779B9u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    return x;
}

/* Bytes of a `len`-byte operation that complete before the cut; sets dead when it hits. */
static uint32_t et_ram_budget(et_ram_storage *r, uint32_t len)
{
    if (r->cut_after < 0 || (uint32_t)r->cut_after >= len) {
        if (r->cut_after >= 0) {
            r->cut_after -= (int32_t)len;
        }
        return len;
    }
    {
        const uint32_t done = (uint32_t)r->cut_after;
        r->cut_after = -1;
        r->dead = 1;
        return done;
    }
}

/* The planned transient failure: 1 when this call is the one that fails. */
static int et_ram_transient(et_ram_storage *r)
{
    if (r->fail_call < 0) {
        return 0;
    }
    if (r->fail_call == 0) {
        r->fail_call = -1;
        return 1;
    }
    r->fail_call -= 1;
    return 0;
}

/* Whether byte `at` lies in the bad range for operation `op`. */
static int et_ram_bad(const et_ram_storage *r, uint32_t op, uint32_t at)
{
    return (r->bad_ops & op) != 0u && at >= r->bad_lo && at < r->bad_hi;
}

/* Whether [offset, offset + len) overlaps the bad range for operation `op`. */
static int et_ram_touches_bad(const et_ram_storage *r, uint32_t op, uint32_t offset, uint32_t len)
{
    return (r->bad_ops & op) != 0u && len > 0u && offset < r->bad_hi && r->bad_lo < offset + len;
}

/* The end of the unit of `unit` bytes holding byte `at`, capped at `limit`. */
static uint32_t et_ram_unit_end(uint32_t at, uint32_t unit, uint32_t limit)
{
    const uint32_t end = (at / unit + 1u) * unit;
    return end < limit ? end : limit;
}

static int et_ram_read(void *ctx, uint32_t offset, void *buf, uint32_t len)
{
    et_ram_storage *r = (et_ram_storage *)ctx;
    unsigned char *dst = (unsigned char *)buf;
    uint32_t i;
    if (r->dead || offset > r->size || len > r->size - offset) {
        return -1;
    }
    if (et_ram_transient(r) || et_ram_touches_bad(r, ET_RAM_FAIL_READ, offset, len)) {
        return -1;
    }
    for (i = 0u; i < len; ++i) {
        dst[i] = r->mem[offset + i];
    }
    return 0;
}

static int et_ram_erase(void *ctx, uint32_t offset, uint32_t len)
{
    et_ram_storage *r = (et_ram_storage *)ctx;
    uint32_t done;
    uint32_t i;
    if (r->dead || offset > r->size || len > r->size - offset || (offset % r->erase_size) != 0u ||
        (len % r->erase_size) != 0u) {
        return -1;
    }
    if (et_ram_transient(r)) {
        return -1;
    }
    r->erase_calls += 1u;
    done = et_ram_budget(r, len);
    for (i = 0u; i < done; ++i) {
        if (!et_ram_bad(r, ET_RAM_FAIL_ERASE, offset + i)) {
            r->mem[offset + i] = 0xFFu;
        }
    }
    r->bytes_erased += done;
    if (done < len) {
        if (r->torn) {
            const uint32_t end = r->torn >= 2 ? et_ram_unit_end(done, r->erase_size, len) : done + 1u;
            for (i = done; i < end; ++i) {
                r->mem[offset + i] |= (unsigned char)et_xorshift(&r->rng);
            }
        }
        return -1;
    }
    return et_ram_touches_bad(r, ET_RAM_FAIL_ERASE, offset, len) ? -1 : 0;
}

static int et_ram_write(void *ctx, uint32_t offset, const void *buf, uint32_t len)
{
    et_ram_storage *r = (et_ram_storage *)ctx;
    const unsigned char *src = (const unsigned char *)buf;
    uint32_t done;
    uint32_t i;
    if (r->dead || offset > r->size || len > r->size - offset || (offset % r->write_unit) != 0u ||
        (len % r->write_unit) != 0u) {
        return -1;
    }
    if (et_ram_transient(r)) {
        return -1;
    }
    for (i = 0u; i < len; ++i) {
        if ((r->mem[offset + i] & src[i]) != src[i]) {
            r->set_bit_writes += 1u;
            break;
        }
    }
    done = et_ram_budget(r, len);
    for (i = 0u; i < done; ++i) {
        if (!et_ram_bad(r, ET_RAM_FAIL_WRITE, offset + i)) {
            r->mem[offset + i] &= src[i]; /* programming only clears bits */
        }
    }
    r->bytes_written += done;
    if (done < len) {
        if (r->torn) {
            const uint32_t end = r->torn >= 2 ? et_ram_unit_end(done, r->write_unit, len) : done + 1u;
            for (i = done; i < end; ++i) {
                r->mem[offset + i] &= (unsigned char)(src[i] | (unsigned char)et_xorshift(&r->rng));
            }
        }
        return -1;
    }
    return et_ram_touches_bad(r, ET_RAM_FAIL_WRITE, offset, len) ? -1 : 0;
}

et_status et_ram_storage_init(et_ram_storage *r, void *mem, uint32_t size, uint32_t erase_size,
                              uint32_t write_unit)
{
    uint32_t i;
    if (r == 0 || mem == 0) {
        return ET_ERR_NULL_ARG;
    }
    if (size == 0u || erase_size == 0u || write_unit == 0u || (size % erase_size) != 0u ||
        (erase_size % write_unit) != 0u) {
        return ET_ERR_BAD_PARAM;
    }
    r->mem = (unsigned char *)mem;
    r->size = size;
    r->erase_size = erase_size;
    r->write_unit = write_unit;
    r->cut_after = -1;
    r->dead = 0;
    r->torn = 0;
    r->rng = 0x12345678u;
    r->bad_lo = 0u;
    r->bad_hi = 0u;
    r->bad_ops = 0u;
    r->fail_call = -1;
    r->erase_calls = 0u;
    r->bytes_erased = 0u;
    r->bytes_written = 0u;
    r->set_bit_writes = 0u;
    for (i = 0u; i < size; ++i) {
        r->mem[i] = 0xFFu;
    }
    return ET_OK;
}

et_status et_ram_storage_interface(et_ram_storage *r, uint32_t bank_size, et_storage *out)
{
    if (r == 0 || out == 0) {
        return ET_ERR_NULL_ARG;
    }
    if (bank_size == 0u || bank_size > r->size / 2u) {
        return ET_ERR_BAD_PARAM;
    }
    out->ctx = r;
    out->read = et_ram_read;
    out->erase = et_ram_erase;
    out->write = et_ram_write;
    out->bank_size = bank_size;
    out->erase_size = r->erase_size;
    out->write_unit = r->write_unit;
    return et_storage_check(out);
}

void et_ram_storage_power_on(et_ram_storage *r)
{
    if (r != 0) {
        r->dead = 0;
        r->cut_after = -1;
    }
}

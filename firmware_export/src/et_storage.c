/* SPDX-License-Identifier: Apache-2.0 */
/* A/B bank commit and load (layout, write order and the power-safety argument: et_storage.h). */
#include "et_storage.h"

#define ET_HDR ET_STORAGE_HEADER_BYTES
#define ET_HDR_CRC_OFFSET 28u
/* Staging buffer for writes and verification reads: a multiple of every allowed write unit. */
#define ET_CHUNK ET_STORAGE_MAX_WRITE_UNIT

typedef struct {
    int32_t valid;
    int32_t io_error;  /* a read of this bank failed: its state is unknown */
    uint32_t sequence;
    uint32_t payload_len;
    uint32_t layout_tag;
    uint32_t erase_count[2];  /* erase counts of banks A and B recorded in this header */
    uint32_t crc;
} et_bank_state;

static void et_put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v & 0xFFu);
    p[1] = (unsigned char)((v >> 8) & 0xFFu);
    p[2] = (unsigned char)((v >> 16) & 0xFFu);
    p[3] = (unsigned char)((v >> 24) & 0xFFu);
}

static uint32_t et_get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint32_t et_align_up(uint32_t v, uint32_t a)
{
    return ((v + a - 1u) / a) * a;
}

/* a is newer than b in serial-number arithmetic (RFC 1982): survives the wrap of 2^32. */
static int et_seq_newer(uint32_t a, uint32_t b)
{
    const uint32_t d = a - b;
    return d != 0u && d < 0x80000000u;
}

et_status et_storage_check(const et_storage *s)
{
    if (s == 0 || s->read == 0 || s->erase == 0 || s->write == 0) {
        return ET_ERR_NULL_ARG;
    }
    if (s->write_unit == 0u || s->write_unit > ET_STORAGE_MAX_WRITE_UNIT ||
        (ET_STORAGE_MAX_WRITE_UNIT % s->write_unit) != 0u || s->erase_size == 0u ||
        s->bank_size < ET_HDR + s->write_unit || (s->bank_size % s->erase_size) != 0u ||
        (s->erase_size % s->write_unit) != 0u || s->bank_size > 0x7FFFFFFFu) {
        return ET_ERR_BAD_PARAM;
    }
    return ET_OK;
}

uint32_t et_storage_bank_bytes(const et_storage *s, uint32_t payload_len)
{
    const uint32_t unit = (s != 0 && s->write_unit != 0u) ? s->write_unit : 1u;
    if (payload_len > 0xFFFFFFFFu - ET_HDR - ET_STORAGE_MAX_WRITE_UNIT) {
        return 0xFFFFFFFFu;
    }
    return ET_HDR + et_align_up(payload_len, unit);
}

/* Header bytes 0..27 (everything the CRC field covers). */
static void et_header_encode(unsigned char h[ET_HDR], uint32_t seq, uint32_t len, uint32_t tag,
                             const uint32_t erase_count[2])
{
    et_put_u32(h, ET_STORAGE_MAGIC);
    h[4] = (unsigned char)(ET_STORAGE_VERSION & 0xFFu);
    h[5] = (unsigned char)(ET_STORAGE_VERSION >> 8);
    h[6] = (unsigned char)(ET_HDR & 0xFFu);
    h[7] = (unsigned char)(ET_HDR >> 8);
    et_put_u32(h + 8, seq);
    et_put_u32(h + 12, len);
    et_put_u32(h + 16, tag);
    et_put_u32(h + 20, erase_count[0]);
    et_put_u32(h + 24, erase_count[1]);
}

/* CRC of `len` bytes of flash at `offset`, continuing from crc. */
static et_status et_crc_flash(const et_storage *s, uint32_t offset, uint32_t len, uint32_t *crc)
{
    unsigned char buf[ET_CHUNK];
    while (len > 0u) {
        const uint32_t n = len < ET_CHUNK ? len : ET_CHUNK;
        if (s->read(s->ctx, offset, buf, n) != 0) {
            return ET_ERR_STORAGE_IO;
        }
        *crc = et_crc32_update(*crc, buf, n);
        offset += n;
        len -= n;
    }
    return ET_OK;
}

/* Validates one bank: header fields, then the CRC over header and payload. A failed read leaves
 * the bank invalid with st->io_error set (its contents are unknown, not known bad). */
static void et_bank_scan(const et_storage *s, int32_t bank, et_bank_state *st)
{
    unsigned char h[ET_HDR];
    const uint32_t base = (uint32_t)bank * s->bank_size;
    uint32_t crc;
    st->valid = 0;
    st->io_error = 0;
    if (s->read(s->ctx, base, h, ET_HDR) != 0) {
        st->io_error = 1;
        return;
    }
    st->sequence = et_get_u32(h + 8);
    st->payload_len = et_get_u32(h + 12);
    st->layout_tag = et_get_u32(h + 16);
    st->erase_count[0] = et_get_u32(h + 20);
    st->erase_count[1] = et_get_u32(h + 24);
    st->crc = et_get_u32(h + ET_HDR_CRC_OFFSET);
    if (et_get_u32(h) != ET_STORAGE_MAGIC || h[4] != (ET_STORAGE_VERSION & 0xFFu) ||
        h[5] != (ET_STORAGE_VERSION >> 8) || h[6] != ET_HDR || h[7] != 0u ||
        st->payload_len > s->bank_size - ET_HDR) {
        return;
    }
    crc = et_crc32_update(0u, h, ET_HDR_CRC_OFFSET);
    if (et_crc_flash(s, base + ET_HDR, st->payload_len, &crc) != ET_OK) {
        st->io_error = 1;
        return;
    }
    st->valid = crc == st->crc;
}

/* Index of the newest valid bank, or -1. */
static int32_t et_newest(const et_bank_state st[2])
{
    if (st[0].valid && st[1].valid) {
        return et_seq_newer(st[1].sequence, st[0].sequence) ? 1 : 0;
    }
    return st[0].valid ? 0 : (st[1].valid ? 1 : -1);
}

/* Scans both banks. Only when neither bank could be read is that an error (ET_ERR_STORAGE_IO):
 * a read error in one bank leaves the other to work with. */
static et_status et_scan_both(const et_storage *s, et_bank_state st[2])
{
    et_bank_scan(s, 0, &st[0]);
    et_bank_scan(s, 1, &st[1]);
    return st[0].io_error && st[1].io_error ? ET_ERR_STORAGE_IO : ET_OK;
}

/* Erase counts of both banks: the largest recorded in any valid bank (0 when none is valid). */
static void et_erase_counts(const et_bank_state st[2], uint32_t count[2])
{
    int32_t b;
    int32_t k;
    count[0] = 0u;
    count[1] = 0u;
    for (b = 0; b < 2; ++b) {
        if (!st[b].valid) {
            continue;
        }
        for (k = 0; k < 2; ++k) {
            if (st[b].erase_count[k] > count[k]) {
                count[k] = st[b].erase_count[k];
            }
        }
    }
}

static et_status et_segments_len(const et_storage_segment *seg, int32_t n, uint32_t *len)
{
    int32_t i;
    uint32_t total = 0u;
    if (seg == 0 && n != 0) {
        return ET_ERR_NULL_ARG;
    }
    if (n < 0) {
        return ET_ERR_BAD_SHAPE;
    }
    for (i = 0; i < n; ++i) {
        if (seg[i].data == 0 && seg[i].size != 0u) {
            return ET_ERR_NULL_ARG;
        }
        if (seg[i].size > 0x7FFFFFFFu - total) {
            return ET_ERR_STORAGE_FULL;
        }
        total += seg[i].size;
    }
    *len = total;
    return ET_OK;
}

/* Streams the segments to flash at `offset` in write_unit-aligned chunks, padding the end with
 * erased bytes (0xFF: programming them changes nothing). */
static et_status et_write_payload(const et_storage *s, uint32_t offset,
                                  const et_storage_segment *seg, int32_t n)
{
    unsigned char buf[ET_CHUNK];
    uint32_t fill = 0u;
    int32_t i;
    for (i = 0; i < n; ++i) {
        const unsigned char *src = (const unsigned char *)seg[i].data;
        uint32_t k;
        for (k = 0u; k < seg[i].size; ++k) {
            buf[fill++] = src[k];
            if (fill == ET_CHUNK) {
                if (s->write(s->ctx, offset, buf, ET_CHUNK) != 0) {
                    return ET_ERR_STORAGE_IO;
                }
                offset += ET_CHUNK;
                fill = 0u;
            }
        }
    }
    if (fill > 0u) {
        const uint32_t padded = et_align_up(fill, s->write_unit);
        while (fill < padded) {
            buf[fill++] = 0xFFu;
        }
        if (s->write(s->ctx, offset, buf, padded) != 0) {
            return ET_ERR_STORAGE_IO;
        }
    }
    return ET_OK;
}

et_status et_storage_commit(const et_storage *s, uint32_t layout_tag,
                            const et_storage_segment *seg, int32_t n, et_storage_info *info)
{
    et_bank_state st[2];
    unsigned char h[ET_HDR];
    uint32_t len = 0u;
    uint32_t seq = 1u;
    uint32_t crc;
    uint32_t check;
    uint32_t base;
    uint32_t counts[2];
    int32_t newest;
    int32_t target;
    et_status e = et_storage_check(s);
    if (e != ET_OK) {
        return e;
    }
    e = et_segments_len(seg, n, &len);
    if (e != ET_OK) {
        return e;
    }
    if (et_storage_bank_bytes(s, len) > s->bank_size) {
        return ET_ERR_STORAGE_FULL;
    }
    e = et_scan_both(s, st);
    if (e != ET_OK) {
        return e;
    }
    /* Never touch the newest valid commit: it is what a power cut falls back to. With no valid
     * commit, prefer a bank that read back (known invalid) over one that could not be read (it
     * may hold a commit a later read succeeds on). */
    newest = et_newest(st);
    if (newest >= 0) {
        target = 1 - newest;
        seq = st[newest].sequence + 1u;
    } else {
        target = st[0].io_error ? 1 : 0;
    }
    base = (uint32_t)target * s->bank_size;
    et_erase_counts(st, counts);
    if (counts[target] < 0xFFFFFFFFu) {
        counts[target] += 1u;
    }

    /* 1. erase */
    if (s->erase(s->ctx, base, et_align_up(et_storage_bank_bytes(s, len), s->erase_size)) != 0) {
        return ET_ERR_STORAGE_IO;
    }
    /* 2. payload */
    e = et_write_payload(s, base + ET_HDR, seg, n);
    if (e != ET_OK) {
        return e;
    }
    /* 3. verify the payload as stored against the CRC of the source */
    et_header_encode(h, seq, len, layout_tag, counts);
    crc = et_crc32_update(0u, h, ET_HDR_CRC_OFFSET);
    {
        int32_t i;
        for (i = 0; i < n; ++i) {
            crc = et_crc32_update(crc, seg[i].data, seg[i].size);
        }
    }
    check = et_crc32_update(0u, h, ET_HDR_CRC_OFFSET);
    e = et_crc_flash(s, base + ET_HDR, len, &check);
    if (e != ET_OK) {
        return e;
    }
    if (check != crc) {
        return ET_ERR_STORAGE_VERIFY;
    }
    /* 4. header last; the CRC field is its last 4 bytes */
    et_put_u32(h + ET_HDR_CRC_OFFSET, crc);
    if (s->write(s->ctx, base, h, ET_HDR) != 0) {
        return ET_ERR_STORAGE_IO;
    }
    /* The bank must now scan as valid, or the header write went wrong. */
    et_bank_scan(s, target, &st[target]);
    if (st[target].io_error) {
        return ET_ERR_STORAGE_IO;
    }
    if (!st[target].valid || st[target].sequence != seq) {
        return ET_ERR_STORAGE_VERIFY;
    }
    if (info != 0) {
        info->sequence = seq;
        info->bank = target;
        info->valid_banks = newest >= 0 ? 2 : 1;
        info->erase_count_a = counts[0];
        info->erase_count_b = counts[1];
    }
    return ET_OK;
}

/* Copies one bank's payload into the segments, checking the CRC of what was copied. */
static et_status et_copy_bank(const et_storage *s, int32_t bank, const et_bank_state *st,
                              const et_storage_segment *seg, int32_t n)
{
    unsigned char h[ET_HDR];
    uint32_t offset = (uint32_t)bank * s->bank_size + ET_HDR;
    uint32_t crc;
    int32_t i;
    et_header_encode(h, st->sequence, st->payload_len, st->layout_tag, st->erase_count);
    crc = et_crc32_update(0u, h, ET_HDR_CRC_OFFSET);
    for (i = 0; i < n; ++i) {
        if (seg[i].size == 0u) {
            continue;
        }
        if (s->read(s->ctx, offset, seg[i].data, seg[i].size) != 0) {
            return ET_ERR_STORAGE_IO;
        }
        crc = et_crc32_update(crc, seg[i].data, seg[i].size);
        offset += seg[i].size;
    }
    return crc == st->crc ? ET_OK : ET_ERR_STORAGE_VERIFY;
}

et_status et_storage_load(const et_storage *s, uint32_t layout_tag,
                          const et_storage_segment *seg, int32_t n, et_storage_info *info)
{
    et_bank_state st[2];
    uint32_t len = 0u;
    int32_t newest;
    et_status e = et_storage_check(s);
    if (e != ET_OK) {
        return e;
    }
    e = et_segments_len(seg, n, &len);
    if (e != ET_OK) {
        return e;
    }
    e = et_scan_both(s, st);
    if (e != ET_OK) {
        return e;
    }
    newest = et_newest(st);
    if (newest < 0) {
        /* Nothing valid. If a bank could not be read, it may still hold a commit: say so rather
         * than "empty" (which lets firmware fall back to its compiled-in weights for good). */
        return st[0].io_error || st[1].io_error ? ET_ERR_STORAGE_IO : ET_ERR_STORAGE_EMPTY;
    }
    if (st[newest].layout_tag != layout_tag || st[newest].payload_len != len) {
        return ET_ERR_STORAGE_LAYOUT;
    }
    e = et_copy_bank(s, newest, &st[newest], seg, n);
    if (e == ET_ERR_STORAGE_VERIFY || e == ET_ERR_STORAGE_IO) {
        /* The flash read differently this time or failed: fall back to the other commit if it
         * fits (it overwrites whatever the failed copy left in the segments). */
        const int32_t other = 1 - newest;
        if (!st[other].valid || st[other].layout_tag != layout_tag || st[other].payload_len != len) {
            return e;
        }
        newest = other;
        e = et_copy_bank(s, newest, &st[newest], seg, n);
    }
    if (e != ET_OK) {
        return e;
    }
    if (info != 0) {
        uint32_t counts[2];
        et_erase_counts(st, counts);
        info->sequence = st[newest].sequence;
        info->bank = newest;
        info->valid_banks = (st[0].valid ? 1 : 0) + (st[1].valid ? 1 : 0);
        info->erase_count_a = counts[0];
        info->erase_count_b = counts[1];
    }
    return ET_OK;
}

/*
 * Sparse kernel test driver: runs every case of cases.bin through the reference kernel and the
 * fast per-format kernel and writes both outputs (plus status and instruction count) to
 * results.bin. Built with the emulation harness's I/O (stdio on the host, semihosting on QEMU), so
 * the same cases run on both; tests/test_sparse_kernels.py writes the cases and checks the results.
 *
 * cases.bin (little-endian): "ETS1", u32 count, then per case
 *   i32 hdr[20]: dtype (0 f32, 1 int8), format, batch, n_in, n_out, n_entries, idx0_bytes,
 *                idx1_bytes, block_rows, block_cols, len0, len1 (index array bytes), has_bias,
 *                f32: act_min, act_max (float bits); int8: act_min, act_max, input_offset,
 *                output_offset, per_channel, has_eff_bias, 0
 *   then each array padded to 4 bytes: x[batch * n_in], idx0[len0], idx1[len1], values[n_entries],
 *   bias[n_out] (if has_bias), int8: multipliers[n_out or 1], shifts[...], eff_bias[n_out] (if any)
 * results.bin: per case, for ref then fast: u32 status, u32 instructions, y[batch * n_out]
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "et_counter.h"
#include "et_hio.h"
#include "et_sparse.h"

#define POOL_BYTES (96u * 1024u)
#define HDR 20

static union {
    unsigned char bytes[POOL_BYTES];
    uint32_t align;
} pool;
static uint32_t used;

static void fail(int status, const char *what)
{
    et_hio_message("sparse driver: ");
    et_hio_message(what);
    et_hio_message("\n");
    et_hio_exit(status);
}

/* Reads `len` bytes (padded to 4 in the file) into the pool; NULL for len 0 (what the generator
 * emits for empty arrays). */
static void *take(et_hio_file f, uint32_t len)
{
    const uint32_t padded = (len + 3u) & ~3u;
    void *p;
    if (len == 0u) {
        return NULL;
    }
    if (used + padded > POOL_BYTES) {
        fail(3, "pool exhausted");
    }
    p = pool.bytes + used;
    if (et_hio_read(f, p, padded) != padded) {
        fail(4, "short read");
    }
    used += padded;
    return p;
}

static void *reserve(uint32_t len)
{
    const uint32_t padded = (len + 3u) & ~3u;
    void *p = pool.bytes + used;
    if (used + padded > POOL_BYTES) {
        fail(3, "pool exhausted");
    }
    used += padded;
    return p;
}

static void put(et_hio_file f, uint32_t st, uint32_t n, const void *y, uint32_t bytes)
{
    uint32_t head[2];
    head[0] = st;
    head[1] = n;
    if (et_hio_write(f, head, sizeof head) != 0 || et_hio_write(f, y, bytes) != 0) {
        fail(5, "write failed");
    }
}

static et_status fast_f32(const et_dense_f32_params *p, const et_sparse_weights *w, const float *x,
                          const float *bias, float *y, float *scratch)
{
    switch (w->format) {
    case ET_SPARSE_CSR:
        return et_sparse_f32_csr(p, w, x, bias, y);
    case ET_SPARSE_COO:
        return et_sparse_f32_coo(p, w, x, bias, y);
    case ET_SPARSE_BITMAP:
        return et_sparse_f32_bitmap(p, w, x, bias, y);
    case ET_SPARSE_MOTIF:
        return et_sparse_f32_motif(p, w, x, bias, y, scratch);
    case ET_SPARSE_CSC:
        return et_sparse_f32_csc(p, w, x, bias, y);
    case ET_SPARSE_GROUPED:
        return et_sparse_f32_grouped(p, w, x, bias, y);
    default:
        return et_sparse_f32_delta(p, w, x, bias, y);
    }
}

static et_status fast_s8(const et_dense_s8_params *p, const et_sparse_weights *w, const int8_t *x,
                         const int32_t *bias, int8_t *y, int32_t *scratch)
{
    switch (w->format) {
    case ET_SPARSE_CSR:
        return et_sparse_s8_csr(p, w, x, bias, y);
    case ET_SPARSE_COO:
        return et_sparse_s8_coo(p, w, x, bias, y);
    case ET_SPARSE_BITMAP:
        return et_sparse_s8_bitmap(p, w, x, bias, y);
    case ET_SPARSE_MOTIF:
        return et_sparse_s8_motif(p, w, x, bias, y, scratch);
    case ET_SPARSE_CSC:
        return et_sparse_s8_csc(p, w, x, bias, y, scratch);
    case ET_SPARSE_GROUPED:
        return et_sparse_s8_grouped(p, w, x, bias, y);
    default:
        return et_sparse_s8_delta(p, w, x, bias, y);
    }
}

int main(void)
{
    unsigned char magic[8];
    uint32_t count;
    uint32_t c;
    et_hio_file in = et_hio_open("cases.bin", 0);
    et_hio_file out;
    if (in < 0) {
        fail(2, "cannot open cases.bin");
    }
    out = et_hio_open("results.bin", 1);
    if (out < 0) {
        fail(2, "cannot open results.bin");
    }
    if (et_hio_read(in, magic, 8) != 8 || memcmp(magic, "ETS1", 4) != 0) {
        fail(4, "bad header");
    }
    memcpy(&count, magic + 4, 4);
    (void)et_counter_start();
    for (c = 0u; c < count; ++c) {
        int32_t h[HDR];
        et_sparse_weights w;
        uint32_t n_x;
        uint32_t n_y;
        uint32_t elem;
        const void *x;
        const void *bias;
        uint32_t t0;
        uint32_t t1;
        et_status st;
        used = 0u;
        if (et_hio_read(in, h, sizeof h) != sizeof h) {
            fail(4, "short case header");
        }
        elem = h[0] == 0 ? 4u : 1u;
        n_x = (uint32_t)(h[2] * h[3]);
        n_y = (uint32_t)(h[2] * h[4]);
        w.format = h[1];
        w.n_entries = h[5];
        w.idx0_bytes = h[6];
        w.idx1_bytes = h[7];
        w.block_rows = h[8];
        w.block_cols = h[9];
        x = take(in, n_x * elem);
        w.idx0 = take(in, (uint32_t)h[10]);
        w.idx1 = take(in, (uint32_t)h[11]);
        w.values = take(in, (uint32_t)h[5] * elem);
        bias = h[12] ? take(in, (uint32_t)h[4] * 4u) : NULL;
        if (h[0] == 0) {
            et_dense_f32_params p;
            float *y = (float *)reserve(n_y * 4u);
            float *scratch = (float *)reserve((uint32_t)(h[3] / (h[9] > 0 ? h[9] : 1) + h[4]) * 4u + 4u);
            p.batch = h[2];
            p.n_in = h[3];
            p.n_out = h[4];
            memcpy(&p.act_min, &h[13], 4);
            memcpy(&p.act_max, &h[14], 4);
            memset(y, 0xA5, n_y * 4u); /* poison: unwritten outputs fail the comparison */
            t0 = et_counter_read();
            st = et_sparse_f32_ref(&p, &w, (const float *)x, (const float *)bias, y);
            t1 = et_counter_read();
            put(out, (uint32_t)st, et_counter_elapsed(t0, t1), y, n_y * 4u);
            memset(y, 0xA5, n_y * 4u);
            t0 = et_counter_read();
            st = fast_f32(&p, &w, (const float *)x, (const float *)bias, y, scratch);
            t1 = et_counter_read();
            put(out, (uint32_t)st, et_counter_elapsed(t0, t1), y, n_y * 4u);
        } else {
            et_dense_s8_params p;
            const uint32_t n_q = h[17] ? (uint32_t)h[4] : 1u;
            int8_t *y;
            int32_t *scratch;
            p.batch = h[2];
            p.n_in = h[3];
            p.n_out = h[4];
            p.act_min = h[13];
            p.act_max = h[14];
            p.input_offset = h[15];
            p.output_offset = h[16];
            p.per_channel = h[17];
            p.multipliers = (const int32_t *)take(in, n_q * 4u);
            p.shifts = (const int32_t *)take(in, n_q * 4u);
            p.eff_bias = h[18] ? (const int32_t *)take(in, (uint32_t)h[4] * 4u) : NULL;
            y = (int8_t *)reserve(n_y);
            scratch = (int32_t *)reserve((uint32_t)(h[3] / (h[9] > 0 ? h[9] : 1) + h[4]) * 4u + 4u);
            memset(y, 0xA5, n_y);
            t0 = et_counter_read();
            st = et_sparse_s8_ref(&p, &w, (const int8_t *)x, (const int32_t *)bias, y);
            t1 = et_counter_read();
            put(out, (uint32_t)st, et_counter_elapsed(t0, t1), y, n_y);
            memset(y, 0xA5, n_y);
            t0 = et_counter_read();
            st = fast_s8(&p, &w, (const int8_t *)x, (const int32_t *)bias, y, scratch);
            t1 = et_counter_read();
            put(out, (uint32_t)st, et_counter_elapsed(t0, t1), y, n_y);
        }
    }
    et_hio_close(out);
    et_hio_close(in);
    et_hio_exit(0);
}

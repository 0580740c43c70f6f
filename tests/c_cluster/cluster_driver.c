/* Clustered dense kernels driver (tests/test_cluster_kernels.py): `cluster_driver OP IN OUT`.
 *
 * IN is little-endian int32 header fields, then the op's arrays, as the test packs them (each
 * array is copied into its own exactly-sized heap block, so ASan sees any overrun):
 *   s8   batch n_in n_out input_offset output_offset act_min act_max per_channel bits k has_bias
 *        | x[batch][n_in] int8, codebook[k] int8, words[n_out][row_words] uint32,
 *          w[n_out][n_in] int8 (the expanded matrix, from numpy), bias[n_out] int32 (has_bias),
 *          mults[n_ch] int32, shifts[n_ch] int32, eff_bias[n_out] int32, pairs[4^bits] uint32
 *        OUT: five [batch][n_out] int8 results: et_dense_s8_cluster with the pair table, without
 *        it, with the table and eff_bias, et_dense_s8_cluster_ref, et_dense_s8_ref on w.
 *   f32  batch n_in n_out bits k has_bias, float32 act_min act_max
 *        | x float32, codebook[k] float32, words, w[n_out][n_in] float32, bias (has_bias)
 *        OUT: three [batch][n_out] float32 results: et_dense_f32_cluster, et_dense_f32_cluster_ref,
 *        et_dense_f32_ref on w.
 *   pairs bits k | codebook[k] int8    OUT: et_cluster_s8_pairs' table (4^bits uint32), then the
 *        int32 status of et_cluster_s8_pairs_check on it and on it with one entry changed.
 *   check n_out n_in bits k n_words | words    OUT: int32 status of et_cluster_indices_check.
 *   units (no files): argument checks of every kernel; prints "units ok".
 * Exit status 1 when a kernel returns something other than ET_OK in s8 / f32.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DRIVER_NAME "cluster_driver"
#include "driver_io.h"

#include "et_cluster.h"

static void write_out(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
        die("cannot write output");
    }
}

static void ok(et_status st, const char *what)
{
    if (st != ET_OK) {
        fprintf(stderr, "%s: %s\n", what, et_status_str(st));
        exit(1);
    }
}

static int run_s8(const char *out_path)
{
    et_dense_s8_params p;
    et_cluster_indices idx;
    int32_t has_bias;
    int32_t n_ch;
    int32_t n_words;
    size_t ny;
    int8_t *x;
    int8_t *cb;
    uint32_t *words;
    int8_t *w;
    int32_t *bias = NULL;
    int32_t *mults;
    int32_t *shifts;
    int32_t *eff;
    uint32_t *pairs;
    int8_t *y;
    int v;
    p.batch = hdr();
    p.n_in = hdr();
    p.n_out = hdr();
    p.input_offset = hdr();
    p.output_offset = hdr();
    p.act_min = hdr();
    p.act_max = hdr();
    p.per_channel = hdr();
    idx.bits = hdr();
    idx.k = hdr();
    has_bias = hdr();
    if (p.batch < 1 || p.n_in < 1 || p.n_out < 1 || idx.bits < 1 || idx.bits > 4 || idx.k < 1) {
        die("bad header");
    }
    n_ch = p.per_channel ? p.n_out : 1;
    n_words = p.n_out * ET_CLUSTER_ROW_WORDS(p.n_in, idx.bits);
    x = (int8_t *)take((size_t)(p.batch * p.n_in));
    cb = (int8_t *)take((size_t)idx.k);
    words = (uint32_t *)take((size_t)n_words * 4);
    w = (int8_t *)take((size_t)(p.n_out * p.n_in));
    if (has_bias) {
        bias = (int32_t *)take((size_t)p.n_out * 4);
    }
    mults = (int32_t *)take((size_t)n_ch * 4);
    shifts = (int32_t *)take((size_t)n_ch * 4);
    eff = (int32_t *)take((size_t)p.n_out * 4);
    pairs = (uint32_t *)take((size_t)ET_CLUSTER_PAIR_COUNT(idx.bits) * 4);
    idx.words = words;
    p.multipliers = mults;
    p.shifts = shifts;
    ny = (size_t)(p.batch * p.n_out);
    y = (int8_t *)malloc(5 * ny);
    if (y == NULL) {
        die("out of memory");
    }
    ok(et_cluster_indices_check(&idx, p.n_out, p.n_in), "et_cluster_indices_check");
    for (v = 0; v < 5; ++v) {
        /* Each result in its own exactly-sized block (ASan), then gathered. */
        int8_t *out = (int8_t *)malloc(ny);
        if (out == NULL) {
            die("out of memory");
        }
        memset(out, 0x5A, ny);
        p.eff_bias = v == 2 ? eff : NULL;
        switch (v) {
        case 0:
            ok(et_dense_s8_cluster(&p, x, cb, &idx, pairs, bias, out), "et_dense_s8_cluster");
            break;
        case 1:
            ok(et_dense_s8_cluster(&p, x, cb, &idx, NULL, bias, out), "et_dense_s8_cluster NULL");
            break;
        case 2:
            /* bias NULL on purpose: with eff_bias the fast kernel must not read it. */
            ok(et_dense_s8_cluster(&p, x, cb, &idx, pairs, NULL, out), "et_dense_s8_cluster eff");
            break;
        case 3:
            /* The reference ignores eff_bias: give it a wrong one to prove it. */
            p.eff_bias = mults;
            ok(et_dense_s8_cluster_ref(&p, x, cb, &idx, pairs, bias, out), "et_dense_s8_cluster_ref");
            break;
        default:
            ok(et_dense_s8_ref(&p, x, w, bias, out), "et_dense_s8_ref");
            break;
        }
        memcpy(y + (size_t)v * ny, out, ny);
        free(out);
    }
    write_out(out_path, y, 5 * ny);
    free(x);
    free(cb);
    free(words);
    free(w);
    free(bias);
    free(mults);
    free(shifts);
    free(eff);
    free(pairs);
    free(y);
    return 0;
}

static int run_f32(const char *out_path)
{
    et_dense_f32_params p;
    et_cluster_indices idx;
    int32_t has_bias;
    int32_t n_words;
    size_t ny;
    float *x;
    float *cb;
    uint32_t *words;
    float *w;
    float *bias = NULL;
    float *y;
    int v;
    p.batch = hdr();
    p.n_in = hdr();
    p.n_out = hdr();
    idx.bits = hdr();
    idx.k = hdr();
    has_bias = hdr();
    p.act_min = hdr_f32();
    p.act_max = hdr_f32();
    if (p.batch < 1 || p.n_in < 1 || p.n_out < 1 || idx.bits < 1 || idx.bits > 4 || idx.k < 1) {
        die("bad header");
    }
    n_words = p.n_out * ET_CLUSTER_ROW_WORDS(p.n_in, idx.bits);
    x = (float *)take((size_t)(p.batch * p.n_in) * 4);
    cb = (float *)take((size_t)idx.k * 4);
    words = (uint32_t *)take((size_t)n_words * 4);
    w = (float *)take((size_t)(p.n_out * p.n_in) * 4);
    if (has_bias) {
        bias = (float *)take((size_t)p.n_out * 4);
    }
    idx.words = words;
    ny = (size_t)(p.batch * p.n_out);
    y = (float *)malloc(3 * ny * sizeof(float));
    if (y == NULL) {
        die("out of memory");
    }
    for (v = 0; v < 3; ++v) {
        float *out = (float *)malloc(ny * sizeof(float));
        if (out == NULL) {
            die("out of memory");
        }
        if (v == 0) {
            ok(et_dense_f32_cluster(&p, x, cb, &idx, bias, out), "et_dense_f32_cluster");
        } else if (v == 1) {
            ok(et_dense_f32_cluster_ref(&p, x, cb, &idx, bias, out), "et_dense_f32_cluster_ref");
        } else {
            ok(et_dense_f32_ref(&p, x, w, bias, out), "et_dense_f32_ref");
        }
        memcpy(y + (size_t)v * ny, out, ny * sizeof(float));
        free(out);
    }
    write_out(out_path, y, 3 * ny * sizeof(float));
    free(x);
    free(cb);
    free(words);
    free(w);
    free(bias);
    free(y);
    return 0;
}

static int run_pairs(const char *out_path)
{
    const int32_t bits = hdr();
    const int32_t k = hdr();
    const size_t n = (size_t)ET_CLUSTER_PAIR_COUNT(bits);
    int8_t *cb = (int8_t *)take((size_t)k);
    uint32_t *pairs = (uint32_t *)malloc(n * 4 + 8);
    int32_t st[2];
    if (pairs == NULL) {
        die("out of memory");
    }
    ok(et_cluster_s8_pairs(cb, k, bits, pairs), "et_cluster_s8_pairs");
    st[0] = (int32_t)et_cluster_s8_pairs_check(cb, k, bits, pairs);
    pairs[n - 1] ^= 1u;
    st[1] = (int32_t)et_cluster_s8_pairs_check(cb, k, bits, pairs);
    pairs[n - 1] ^= 1u;
    memcpy(pairs + n, st, 8);
    write_out(out_path, pairs, n * 4 + 8);
    free(cb);
    free(pairs);
    return 0;
}

static int run_check(const char *out_path)
{
    et_cluster_indices idx;
    const int32_t n_out = hdr();
    const int32_t n_in = hdr();
    int32_t n_words;
    int32_t st;
    uint32_t *words;
    idx.bits = hdr();
    idx.k = hdr();
    n_words = hdr();
    words = (uint32_t *)take((size_t)n_words * 4);
    idx.words = words;
    st = (int32_t)et_cluster_indices_check(&idx, n_out, n_in);
    write_out(out_path, &st, 4);
    free(words);
    return 0;
}

static int g_fail;

static void expect(et_status got, et_status want, const char *what)
{
    if (got != want) {
        fprintf(stderr, "%s: got %s, want %s\n", what, et_status_str(got), et_status_str(want));
        g_fail = 1;
    }
}

/* Every argument check of the four kernels and the helpers, on a valid 2x6 4-bit layer. */
static int run_units(void)
{
    typedef et_status (*s8_fn)(const et_dense_s8_params *, const int8_t *, const int8_t *,
                               const et_cluster_indices *, const uint32_t *, const int32_t *,
                               int8_t *);
    typedef et_status (*f32_fn)(const et_dense_f32_params *, const float *, const float *,
                                const et_cluster_indices *, const float *, float *);
    static const s8_fn S8[2] = {et_dense_s8_cluster, et_dense_s8_cluster_ref};
    static const f32_fn F32[2] = {et_dense_f32_cluster, et_dense_f32_cluster_ref};
    static const int8_t cb8[3] = {-5, 0, 7};
    static const float cbf[3] = {-0.5f, 0.0f, 0.75f};
    /* Rows of 6 inputs at 4 bits: 2 groups = 1 word; indices all 2 but the padding fields. */
    static const uint32_t words[2] = {0x02022222u, 0x02022222u};
    const int32_t mult = 1 << 30;
    const int32_t shift = -1;
    int8_t x8[6] = {1, 2, 3, 4, 5, 6};
    float xf[6] = {1, 2, 3, 4, 5, 6};
    int8_t y8[2];
    float yf[2];
    uint32_t pairs[256];
    et_cluster_indices idx = {words, 4, 3};
    et_cluster_indices bad;
    et_dense_s8_params p8;
    et_dense_s8_params q8;
    et_dense_f32_params pf = {1, 6, 2, -FLT_MAX, FLT_MAX};
    et_dense_f32_params qf;
    int v;
    memset(&p8, 0, sizeof p8);
    p8.batch = 1;
    p8.n_in = 6;
    p8.n_out = 2;
    p8.act_min = -128;
    p8.act_max = 127;
    p8.multipliers = &mult;
    p8.shifts = &shift;
    expect(et_cluster_s8_pairs(cb8, 3, 4, pairs), ET_OK, "pairs");
    for (v = 0; v < 2; ++v) {
        const s8_fn f8 = S8[v];
        const f32_fn ff = F32[v];
        expect(f8(&p8, x8, cb8, &idx, pairs, NULL, y8), ET_OK, "s8 ok");
        expect(f8(&p8, x8, cb8, &idx, NULL, NULL, y8), ET_OK, "s8 ok, no table");
        expect(f8(NULL, x8, cb8, &idx, pairs, NULL, y8), ET_ERR_NULL_ARG, "s8 params");
        expect(f8(&p8, NULL, cb8, &idx, pairs, NULL, y8), ET_ERR_NULL_ARG, "s8 input");
        expect(f8(&p8, x8, NULL, &idx, pairs, NULL, y8), ET_ERR_NULL_ARG, "s8 codebook");
        expect(f8(&p8, x8, cb8, NULL, pairs, NULL, y8), ET_ERR_NULL_ARG, "s8 idx");
        expect(f8(&p8, x8, cb8, &idx, pairs, NULL, NULL), ET_ERR_NULL_ARG, "s8 output");
        bad = idx;
        bad.words = NULL;
        expect(f8(&p8, x8, cb8, &bad, pairs, NULL, y8), ET_ERR_NULL_ARG, "s8 words");
        q8 = p8;
        q8.multipliers = NULL;
        expect(f8(&q8, x8, cb8, &idx, pairs, NULL, y8), ET_ERR_NULL_ARG, "s8 multipliers");
        q8 = p8;
        q8.shifts = NULL;
        expect(f8(&q8, x8, cb8, &idx, pairs, NULL, y8), ET_ERR_NULL_ARG, "s8 shifts");
        q8 = p8;
        q8.batch = 0;
        expect(f8(&q8, x8, cb8, &idx, pairs, NULL, y8), ET_ERR_BAD_SHAPE, "s8 batch");
        q8 = p8;
        q8.n_in = 0;
        expect(f8(&q8, x8, cb8, &idx, pairs, NULL, y8), ET_ERR_BAD_SHAPE, "s8 n_in");
        q8 = p8;
        q8.n_out = -1;
        expect(f8(&q8, x8, cb8, &idx, pairs, NULL, y8), ET_ERR_BAD_SHAPE, "s8 n_out");
        q8 = p8;
        q8.act_min = 5;
        q8.act_max = 4;
        expect(f8(&q8, x8, cb8, &idx, pairs, NULL, y8), ET_ERR_BAD_PARAM, "s8 act range");
        q8 = p8;
        q8.input_offset = 129;
        expect(f8(&q8, x8, cb8, &idx, pairs, NULL, y8), ET_ERR_BAD_PARAM, "s8 input offset");
        q8 = p8;
        q8.output_offset = -129;
        expect(f8(&q8, x8, cb8, &idx, pairs, NULL, y8), ET_ERR_BAD_PARAM, "s8 output offset");
        bad = idx;
        bad.bits = 0;
        expect(f8(&p8, x8, cb8, &bad, pairs, NULL, y8), ET_ERR_BAD_PARAM, "s8 bits 0");
        bad.bits = 5;
        expect(f8(&p8, x8, cb8, &bad, pairs, NULL, y8), ET_ERR_BAD_PARAM, "s8 bits 5");
        bad = idx;
        bad.k = 1;
        expect(f8(&p8, x8, cb8, &bad, pairs, NULL, y8), ET_ERR_BAD_PARAM, "s8 k 1");
        bad.k = 17;
        expect(f8(&p8, x8, cb8, &bad, pairs, NULL, y8), ET_ERR_BAD_PARAM, "s8 k 17");
        bad.bits = 2;
        bad.k = 5;
        expect(f8(&p8, x8, cb8, &bad, pairs, NULL, y8), ET_ERR_BAD_PARAM, "s8 k 5 at 2 bits");

        expect(ff(&pf, xf, cbf, &idx, NULL, yf), ET_OK, "f32 ok");
        expect(ff(NULL, xf, cbf, &idx, NULL, yf), ET_ERR_NULL_ARG, "f32 params");
        expect(ff(&pf, NULL, cbf, &idx, NULL, yf), ET_ERR_NULL_ARG, "f32 input");
        expect(ff(&pf, xf, NULL, &idx, NULL, yf), ET_ERR_NULL_ARG, "f32 codebook");
        expect(ff(&pf, xf, cbf, NULL, NULL, yf), ET_ERR_NULL_ARG, "f32 idx");
        expect(ff(&pf, xf, cbf, &idx, NULL, NULL), ET_ERR_NULL_ARG, "f32 output");
        bad = idx;
        bad.words = NULL;
        expect(ff(&pf, xf, cbf, &bad, NULL, yf), ET_ERR_NULL_ARG, "f32 words");
        qf = pf;
        qf.batch = 0;
        expect(ff(&qf, xf, cbf, &idx, NULL, yf), ET_ERR_BAD_SHAPE, "f32 batch");
        qf = pf;
        qf.n_in = -3;
        expect(ff(&qf, xf, cbf, &idx, NULL, yf), ET_ERR_BAD_SHAPE, "f32 n_in");
        qf = pf;
        qf.n_out = 0;
        expect(ff(&qf, xf, cbf, &idx, NULL, yf), ET_ERR_BAD_SHAPE, "f32 n_out");
        qf = pf;
        qf.act_min = 1.0f;
        qf.act_max = 0.0f;
        expect(ff(&qf, xf, cbf, &idx, NULL, yf), ET_ERR_BAD_PARAM, "f32 act range");
        qf = pf;
        qf.act_max = NAN;
        expect(ff(&qf, xf, cbf, &idx, NULL, yf), ET_ERR_BAD_PARAM, "f32 NaN bound");
        bad = idx;
        bad.bits = 0;
        expect(ff(&pf, xf, cbf, &bad, NULL, yf), ET_ERR_BAD_PARAM, "f32 bits 0");
        bad.bits = 5;
        expect(ff(&pf, xf, cbf, &bad, NULL, yf), ET_ERR_BAD_PARAM, "f32 bits 5");
        bad = idx;
        bad.k = 1;
        expect(ff(&pf, xf, cbf, &bad, NULL, yf), ET_ERR_BAD_PARAM, "f32 k 1");
        bad.k = 17;
        expect(ff(&pf, xf, cbf, &bad, NULL, yf), ET_ERR_BAD_PARAM, "f32 k 17");
    }
    /* The helpers. */
    expect(et_cluster_indices_check(&idx, 2, 6), ET_OK, "check ok");
    expect(et_cluster_indices_check(NULL, 2, 6), ET_ERR_NULL_ARG, "check NULL");
    bad = idx;
    bad.words = NULL;
    expect(et_cluster_indices_check(&bad, 2, 6), ET_ERR_NULL_ARG, "check words");
    expect(et_cluster_indices_check(&idx, 0, 6), ET_ERR_BAD_SHAPE, "check n_out");
    expect(et_cluster_indices_check(&idx, 2, 0), ET_ERR_BAD_SHAPE, "check n_in");
    bad = idx;
    bad.bits = 5;
    expect(et_cluster_indices_check(&bad, 2, 6), ET_ERR_BAD_PARAM, "check bits");
    bad = idx;
    bad.k = 2; /* index 2 is then out of range */
    expect(et_cluster_indices_check(&bad, 2, 6), ET_ERR_BAD_PARAM, "check index >= k");
    bad.k = 1;
    expect(et_cluster_indices_check(&bad, 2, 6), ET_ERR_BAD_PARAM, "check k 1");
    expect(et_cluster_s8_pairs(NULL, 3, 4, pairs), ET_ERR_NULL_ARG, "pairs codebook");
    expect(et_cluster_s8_pairs(cb8, 3, 4, NULL), ET_ERR_NULL_ARG, "pairs output");
    expect(et_cluster_s8_pairs(cb8, 3, 1, pairs), ET_ERR_BAD_PARAM, "pairs k > 2^bits");
    expect(et_cluster_s8_pairs(cb8, 3, 0, pairs), ET_ERR_BAD_PARAM, "pairs bits 0");
    expect(et_cluster_s8_pairs_check(cb8, 3, 4, pairs), ET_OK, "pairs check ok");
    expect(et_cluster_s8_pairs_check(cb8, 3, 4, NULL), ET_ERR_NULL_ARG, "pairs check NULL");
    expect(et_cluster_s8_pairs_check(cb8, 1, 4, pairs), ET_ERR_BAD_PARAM, "pairs check k 1");
    expect(et_cluster_s8_pairs_check(cb8, 3, 3, pairs), ET_ERR_BAD_PARAM, "pairs check other bits");
    if (g_fail) {
        return 1;
    }
    printf("units ok\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "units") == 0) {
        return run_units();
    }
    if (argc != 4) {
        fprintf(stderr, "usage: cluster_driver s8|f32|pairs|check IN OUT | units\n");
        return 2;
    }
    load_input(argv[2]);
    if (strcmp(argv[1], "s8") == 0) {
        return run_s8(argv[3]);
    }
    if (strcmp(argv[1], "f32") == 0) {
        return run_f32(argv[3]);
    }
    if (strcmp(argv[1], "pairs") == 0) {
        return run_pairs(argv[3]);
    }
    if (strcmp(argv[1], "check") == 0) {
        return run_check(argv[3]);
    }
    fprintf(stderr, "unknown op %s\n", argv[1]);
    return 2;
}

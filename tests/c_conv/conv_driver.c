/* Host test driver for the conv and pool kernels: `conv_driver OP IN.bin OUT.bin`.
 *
 * IN.bin (packed by tests/test_c_conv_kernels.py): little-endian int32 header fields (floats for
 * float clamps), then arrays, each as an int32 element count followed by the elements; a count
 * of -1 passes NULL. Every array is copied into its own exactly-sized heap block, the output and
 * the scratch too (scratch sized by the kernel's *_scratch_bytes), so AddressSanitizer flags any
 * out-of-bounds access. OUT.bin: int32 status, int32 scratch bytes the kernel asked for, then the
 * output when the status is ET_OK. Exit status 0 unless the driver itself failed (2).
 * Test scaffolding only: not part of the runtime.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DRIVER_NAME "conv_driver"
#include "driver_io.h"

#include "et_conv.h"
#include "et_pool.h"
#include "conv_geom_io.h"

/* An array: count, then count elements of `size` bytes; NULL for a count of -1. */
static void *arr(size_t size, int32_t *count)
{
    const int32_t n = hdr();
    if (count != NULL) {
        *count = n;
    }
    if (n < 0) {
        return NULL;
    }
    return take((size_t)n * size);
}

/* An exactly-sized output or scratch block of n elements (NULL for n < 0). */
static void *block(int32_t n, size_t size)
{
    void *p;
    if (n < 0) {
        return NULL;
    }
    p = malloc(n > 0 ? (size_t)n * size : 1);
    if (p == NULL) {
        die("out of memory");
    }
    return p;
}

static void write_result(const char *path, et_status st, int32_t scratch, const void *out,
                         size_t n)
{
    FILE *f = fopen(path, "wb");
    const int32_t head[2] = {(int32_t)st, scratch};
    if (f == NULL || fwrite(head, sizeof head[0], 2, f) != 2 ||
        (st == ET_OK && n > 0 && fwrite(out, 1, n, f) != n) || fclose(f) != 0) {
        die("cannot write output");
    }
}

/* Scratch of `bytes` (exact) unless null_scratch; NULL for 0 bytes (the kernels allow it). */
static void *scratch_block(int32_t bytes, int32_t null_scratch)
{
    if (null_scratch || bytes <= 0) {
        return NULL;
    }
    return block(bytes, 1);
}

static void run_conv_f32(const char *op, const char *out_path)
{
    et_conv_f32_params p;
    int32_t n_y;
    int32_t null_scratch;
    int32_t scratch_bytes;
    float *x;
    float *w;
    float *bias;
    float *y;
    void *scratch;
    et_status st;
    read_geom(&p.geom);
    p.groups = hdr();
    p.act_min = hdr_f32();
    p.act_max = hdr_f32();
    null_scratch = hdr();
    x = (float *)arr(4, NULL);
    w = (float *)arr(4, NULL);
    bias = (float *)arr(4, NULL);
    n_y = hdr();
    y = (float *)block(n_y, 4);
    /* The depthwise float kernels take no scratch. */
    scratch_bytes = strncmp(op, "conv_", 5) == 0 ? et_conv_f32_scratch_bytes(&p) : 0;
    scratch = scratch_block(strcmp(op, "conv_f32") == 0 ? scratch_bytes : 0, null_scratch);
    if (strcmp(op, "conv_f32_ref") == 0) {
        st = et_conv_f32_ref(&p, x, w, bias, y);
    } else if (strcmp(op, "conv_f32") == 0) {
        st = et_conv_f32(&p, x, w, bias, y, (float *)scratch);
    } else if (strcmp(op, "dw_f32_ref") == 0) {
        st = et_depthwise_conv_f32_ref(&p, x, w, bias, y);
    } else {
        st = et_depthwise_conv_f32(&p, x, w, bias, y);
    }
    write_result(out_path, st, scratch_bytes, y, n_y > 0 ? (size_t)n_y * 4 : 0);
    free(x);
    free(w);
    free(bias);
    free(y);
    free(scratch);
}

static void run_conv_s8(const char *op, const char *out_path)
{
    et_conv_s8_params p;
    int32_t n_y;
    int32_t null_scratch;
    int32_t scratch_bytes;
    int8_t *x;
    int8_t *w;
    int32_t *bias;
    int32_t *mults;
    int32_t *shifts;
    int32_t *eff;
    int8_t *y;
    void *scratch;
    const int dw = strncmp(op, "dw_", 3) == 0;
    const int fast = strcmp(op, "conv_s8") == 0 || strcmp(op, "dw_s8") == 0;
    et_status st;
    read_geom(&p.geom);
    p.groups = hdr();
    p.input_offset = hdr();
    p.output_offset = hdr();
    p.act_min = hdr();
    p.act_max = hdr();
    p.per_channel = hdr();
    null_scratch = hdr();
    x = (int8_t *)arr(1, NULL);
    w = (int8_t *)arr(1, NULL);
    bias = (int32_t *)arr(4, NULL);
    mults = (int32_t *)arr(4, NULL);
    shifts = (int32_t *)arr(4, NULL);
    eff = (int32_t *)arr(4, NULL);
    n_y = hdr();
    p.multipliers = mults;
    p.shifts = shifts;
    p.eff_bias = eff;
    y = (int8_t *)block(n_y, 1);
    /* The fast depthwise int8 kernel takes its padded band as scratch. */
    scratch_bytes = dw ? et_depthwise_conv_s8_scratch_bytes(&p) : et_conv_s8_scratch_bytes(&p);
    scratch = scratch_block(fast ? scratch_bytes : 0, null_scratch);
    if (strcmp(op, "conv_s8_ref") == 0) {
        st = et_conv_s8_ref(&p, x, w, bias, y);
    } else if (strcmp(op, "conv_s8") == 0) {
        st = et_conv_s8(&p, x, w, bias, y, (int8_t *)scratch);
    } else if (strcmp(op, "dw_s8_ref") == 0) {
        st = et_depthwise_conv_s8_ref(&p, x, w, bias, y);
    } else {
        st = et_depthwise_conv_s8(&p, x, w, bias, y, (int8_t *)scratch);
    }
    write_result(out_path, st, scratch_bytes, y, n_y > 0 ? (size_t)n_y : 0);
    free(x);
    free(w);
    free(bias);
    free(mults);
    free(shifts);
    free(eff);
    free(y);
    free(scratch);
}

static void run_pool_f32(const char *op, const char *out_path)
{
    et_pool_f32_params p;
    int32_t n_y;
    float *x;
    float *y;
    et_status st;
    read_geom(&p.geom);
    p.act_min = hdr_f32();
    p.act_max = hdr_f32();
    x = (float *)arr(4, NULL);
    n_y = hdr();
    y = (float *)block(n_y, 4);
    st = strcmp(op, "maxpool_f32") == 0 ? et_max_pool_f32(&p, x, y) : et_avg_pool_f32(&p, x, y);
    write_result(out_path, st, 0, y, n_y > 0 ? (size_t)n_y * 4 : 0);
    free(x);
    free(y);
}

static void run_pool_s8(const char *op, const char *out_path)
{
    et_pool_s8_params p;
    int32_t n_y;
    int8_t *x;
    int8_t *y;
    et_status st;
    read_geom(&p.geom);
    p.act_min = hdr();
    p.act_max = hdr();
    x = (int8_t *)arr(1, NULL);
    n_y = hdr();
    y = (int8_t *)block(n_y, 1);
    st = strcmp(op, "maxpool_s8") == 0 ? et_max_pool_s8(&p, x, y) : et_avg_pool_s8(&p, x, y);
    write_result(out_path, st, 0, y, n_y > 0 ? (size_t)n_y : 0);
    free(x);
    free(y);
}

static void run_gap_f32(const char *out_path)
{
    et_global_pool_f32_params p;
    int32_t n_y;
    float *x;
    float *y;
    et_status st;
    p.batch = hdr();
    p.in_h = hdr();
    p.in_w = hdr();
    p.channels = hdr();
    p.act_min = hdr_f32();
    p.act_max = hdr_f32();
    x = (float *)arr(4, NULL);
    n_y = hdr();
    y = (float *)block(n_y, 4);
    st = et_global_avg_pool_f32(&p, x, y);
    write_result(out_path, st, 0, y, n_y > 0 ? (size_t)n_y * 4 : 0);
    free(x);
    free(y);
}

static void run_gap_s8(const char *out_path)
{
    et_global_pool_s8_params p;
    int32_t n_y;
    int8_t *x;
    int8_t *y;
    et_status st;
    p.batch = hdr();
    p.in_h = hdr();
    p.in_w = hdr();
    p.channels = hdr();
    p.input_offset = hdr();
    p.output_offset = hdr();
    p.multiplier = hdr();
    p.shift = hdr();
    p.act_min = hdr();
    p.act_max = hdr();
    x = (int8_t *)arr(1, NULL);
    n_y = hdr();
    y = (int8_t *)block(n_y, 1);
    st = et_global_avg_pool_s8(&p, x, y);
    write_result(out_path, st, 0, y, n_y > 0 ? (size_t)n_y : 0);
    free(x);
    free(y);
}

int main(int argc, char **argv)
{
    const char *op;
    if (argc != 4) {
        die("usage: conv_driver OP IN.bin OUT.bin");
    }
    op = argv[1];
    load_input(argv[2]);
    if (strncmp(op, "conv_f32", 8) == 0 || strncmp(op, "dw_f32", 6) == 0) {
        run_conv_f32(op, argv[3]);
    } else if (strncmp(op, "conv_s8", 7) == 0 || strncmp(op, "dw_s8", 5) == 0) {
        run_conv_s8(op, argv[3]);
    } else if (strcmp(op, "maxpool_f32") == 0 || strcmp(op, "avgpool_f32") == 0) {
        run_pool_f32(op, argv[3]);
    } else if (strcmp(op, "maxpool_s8") == 0 || strcmp(op, "avgpool_s8") == 0) {
        run_pool_s8(op, argv[3]);
    } else if (strcmp(op, "gap_f32") == 0) {
        run_gap_f32(argv[3]);
    } else if (strcmp(op, "gap_s8") == 0) {
        run_gap_s8(argv[3]);
    } else {
        die("unknown op");
    }
    if (g_pos != g_len) {
        die("input file has trailing bytes");
    }
    free(g_in);
    return 0;
}

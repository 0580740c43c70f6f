/* Host test driver for the edgetrain C runtime: `kernel_driver OP IN.bin OUT.bin`.
 *
 * IN.bin is a stream of little-endian int32 header fields followed by the op's arrays, as packed by
 * tests/test_c_kernels.py; OUT.bin receives the op's raw output. Every array is copied into its own
 * exactly-sized heap block so AddressSanitizer flags any out-of-bounds read by a kernel. Process exit
 * status 0 means the kernel returned ET_OK. Test scaffolding only: not part of the runtime.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DRIVER_NAME "kernel_driver"
#include "driver_io.h"

#include "et_runtime.h"

static void write_out(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
        die("cannot write output");
    }
}

static et_status run_requant(const char *out_path)
{
    const int32_t n = hdr();
    int32_t *x = (int32_t *)take((size_t)n * 4);
    int32_t *m = (int32_t *)take((size_t)n * 4);
    int32_t *s = (int32_t *)take((size_t)n * 4);
    int32_t *out = (int32_t *)malloc((size_t)n * 8 + 1);
    int32_t i;
    for (i = 0; i < n; ++i) {
        out[i] = et_mbqm(x[i], m[i], s[i]);
        out[n + i] = et_srdhm(x[i], m[i]);
    }
    write_out(out_path, out, (size_t)n * 8);
    free(x);
    free(m);
    free(s);
    free(out);
    return ET_OK;
}

static et_status run_dense_s8(const char *out_path, int fast)
{
    et_dense_s8_params p;
    int32_t has_bias;
    int32_t has_eff;
    int32_t n_ch;
    int8_t *x;
    int8_t *w;
    int32_t *bias = NULL;
    int32_t *mults;
    int32_t *shifts;
    int32_t *eff = NULL;
    int8_t *y;
    et_status st;
    p.batch = hdr();
    p.n_in = hdr();
    p.n_out = hdr();
    p.input_offset = hdr();
    p.output_offset = hdr();
    p.act_min = hdr();
    p.act_max = hdr();
    p.per_channel = hdr();
    has_bias = hdr();
    has_eff = hdr();
    n_ch = p.per_channel ? p.n_out : 1;
    x = (int8_t *)take((size_t)(p.batch * p.n_in));
    w = (int8_t *)take((size_t)(p.n_out * p.n_in));
    if (has_bias) {
        bias = (int32_t *)take((size_t)p.n_out * 4);
    }
    mults = (int32_t *)take((size_t)n_ch * 4);
    shifts = (int32_t *)take((size_t)n_ch * 4);
    if (has_eff) {
        eff = (int32_t *)take((size_t)p.n_out * 4);
    }
    p.multipliers = mults;
    p.shifts = shifts;
    p.eff_bias = eff;
    y = (int8_t *)malloc((size_t)(p.batch * p.n_out));
    st = fast ? et_dense_s8(&p, x, w, bias, y) : et_dense_s8_ref(&p, x, w, bias, y);
    if (st == ET_OK) {
        write_out(out_path, y, (size_t)(p.batch * p.n_out));
    }
    free(x);
    free(w);
    free(bias);
    free(mults);
    free(shifts);
    free(eff);
    free(y);
    return st;
}

static et_status run_dense_f32(const char *out_path, int fast)
{
    et_dense_f32_params p;
    int32_t has_bias;
    float *x;
    float *w;
    float *bias = NULL;
    float *y;
    et_status st;
    p.batch = hdr();
    p.n_in = hdr();
    p.n_out = hdr();
    has_bias = hdr();
    p.act_min = hdr_f32();
    p.act_max = hdr_f32();
    x = (float *)take((size_t)(p.batch * p.n_in) * 4);
    w = (float *)take((size_t)(p.n_out * p.n_in) * 4);
    if (has_bias) {
        bias = (float *)take((size_t)p.n_out * 4);
    }
    y = (float *)malloc((size_t)(p.batch * p.n_out) * 4);
    st = fast ? et_dense_f32(&p, x, w, bias, y) : et_dense_f32_ref(&p, x, w, bias, y);
    if (st == ET_OK) {
        write_out(out_path, y, (size_t)(p.batch * p.n_out) * 4);
    }
    free(x);
    free(w);
    free(bias);
    free(y);
    return st;
}

static et_status run_add_s8(const char *out_path)
{
    et_add_s8_params p;
    const int32_t n = hdr();
    int8_t *a;
    int8_t *b;
    int8_t *y;
    et_status st;
    p.input1_offset = hdr();
    p.input2_offset = hdr();
    p.output_offset = hdr();
    p.left_shift = hdr();
    p.input1_multiplier = hdr();
    p.input1_shift = hdr();
    p.input2_multiplier = hdr();
    p.input2_shift = hdr();
    p.output_multiplier = hdr();
    p.output_shift = hdr();
    p.act_min = hdr();
    p.act_max = hdr();
    a = (int8_t *)take((size_t)n);
    b = (int8_t *)take((size_t)n);
    y = (int8_t *)malloc((size_t)n);
    st = et_add_s8(&p, a, b, y, n);
    if (st == ET_OK) {
        write_out(out_path, y, (size_t)n);
    }
    free(a);
    free(b);
    free(y);
    return st;
}

/* Elementwise float ops: n, then op-specific scalars, then the input(s). */
static et_status run_f32_vec(const char *op, const char *out_path)
{
    const int32_t n = hdr();
    float lo = 0.0f;
    float hi = 0.0f;
    float *a;
    float *b = NULL;
    float *y;
    int32_t idx = -1;
    et_status st;
    if (strcmp(op, "add_f32") == 0) {
        lo = hdr_f32();
        hi = hdr_f32();
    }
    a = (float *)take((size_t)n * 4);
    if (strcmp(op, "add_f32") == 0) {
        b = (float *)take((size_t)n * 4);
    }
    y = (float *)malloc((size_t)n * 4);
    if (strcmp(op, "relu_f32") == 0) {
        st = et_relu_f32(a, y, n);
    } else if (strcmp(op, "relu6_f32") == 0) {
        st = et_relu6_f32(a, y, n);
    } else if (strcmp(op, "add_f32") == 0) {
        st = et_add_f32(a, b, y, n, lo, hi);
    } else if (strcmp(op, "softmax_f32") == 0) {
        st = et_softmax_f32(a, y, n);
    } else if (strcmp(op, "argmax_f32") == 0) {
        st = et_argmax_f32(a, n, &idx);
    } else {
        die("unknown op");
        st = ET_ERR_BAD_PARAM;
    }
    if (st == ET_OK) {
        if (idx >= 0) {
            write_out(out_path, &idx, 4);
        } else {
            write_out(out_path, y, (size_t)n * 4);
        }
    }
    free(a);
    free(b);
    free(y);
    return st;
}

static et_status run_s8_vec(const char *op, const char *out_path)
{
    const int32_t n = hdr();
    const int32_t zp = hdr();
    const int32_t six = hdr();
    int8_t *a = (int8_t *)take((size_t)n);
    int8_t *y = (int8_t *)malloc((size_t)n);
    int32_t idx = -1;
    et_status st;
    if (strcmp(op, "relu_s8") == 0) {
        st = et_relu_s8(a, y, n, zp);
    } else if (strcmp(op, "relu6_s8") == 0) {
        st = et_relu6_s8(a, y, n, zp, six);
    } else {
        st = et_argmax_s8(a, n, &idx);
    }
    if (st == ET_OK) {
        if (idx >= 0) {
            write_out(out_path, &idx, 4);
        } else {
            write_out(out_path, y, (size_t)n);
        }
    }
    free(a);
    free(y);
    return st;
}

/* Error paths: writes one status name per line for a fixed list of invalid calls. */
static et_status run_errors(const char *out_path)
{
    char buf[1024];
    size_t used = 0;
    int8_t x8[4] = {0, 0, 0, 0};
    int8_t y8[4];
    float xf[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    float yf[4];
    int32_t one_m = 1 << 30;
    int32_t zero_s = 0;
    int32_t idx;
    et_dense_s8_params p8;
    et_dense_f32_params pf;
    et_status codes[10];
    int i;
    memset(&p8, 0, sizeof p8);
    p8.batch = 1;
    p8.n_in = 2;
    p8.n_out = 2;
    p8.act_min = -128;
    p8.act_max = 127;
    p8.multipliers = &one_m;
    p8.shifts = &zero_s;
    pf.batch = 1;
    pf.n_in = 2;
    pf.n_out = 2;
    pf.act_min = 0.0f;
    pf.act_max = 6.0f;
    codes[0] = et_dense_s8(&p8, x8, x8, NULL, y8);
    codes[1] = et_dense_s8_ref(&p8, NULL, x8, NULL, y8);
    p8.n_in = 0;
    codes[2] = et_dense_s8(&p8, x8, x8, NULL, y8);
    p8.n_in = 2;
    p8.act_min = 10;
    p8.act_max = 5;
    codes[3] = et_dense_s8_ref(&p8, x8, x8, NULL, y8);
    pf.act_min = 7.0f;
    codes[4] = et_dense_f32(&pf, xf, xf, NULL, yf);
    codes[5] = et_argmax_f32(xf, 0, &idx);
    codes[6] = et_relu6_s8(x8, y8, 4, 10, 5);
    codes[7] = et_softmax_f32(NULL, yf, 4);
    codes[8] = (et_status)ET_STATUS_COUNT;
    codes[9] = (et_status)-1;
    for (i = 0; i < 10; ++i) {
        int k = snprintf(buf + used, sizeof buf - used, "%s\n", et_status_str(codes[i]));
        used += (size_t)k;
    }
    write_out(out_path, buf, used);
    return ET_OK;
}

int main(int argc, char **argv)
{
    et_status st;
    const char *op;
    if (argc != 4) {
        die("usage: kernel_driver OP IN.bin OUT.bin");
    }
    op = argv[1];
    load_input(argv[2]);
    if (strcmp(op, "requant") == 0) {
        st = run_requant(argv[3]);
    } else if (strcmp(op, "dense_s8_ref") == 0 || strcmp(op, "dense_s8") == 0) {
        st = run_dense_s8(argv[3], strcmp(op, "dense_s8") == 0);
    } else if (strcmp(op, "dense_f32_ref") == 0 || strcmp(op, "dense_f32") == 0) {
        st = run_dense_f32(argv[3], strcmp(op, "dense_f32") == 0);
    } else if (strcmp(op, "add_s8") == 0) {
        st = run_add_s8(argv[3]);
    } else if (strncmp(op, "relu_s8", 7) == 0 || strcmp(op, "relu6_s8") == 0 ||
               strcmp(op, "argmax_s8") == 0) {
        st = run_s8_vec(op, argv[3]);
    } else if (strcmp(op, "errors") == 0) {
        st = run_errors(argv[3]);
    } else {
        st = run_f32_vec(op, argv[3]);
    }
    free(g_in);
    if (st != ET_OK) {
        fprintf(stderr, "kernel_driver: %s\n", et_status_str(st));
        return 1;
    }
    return 0;
}

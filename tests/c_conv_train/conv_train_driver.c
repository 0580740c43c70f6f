/* Host test driver for the conv and pool backward kernels (et_conv_train.h):
 * `conv_train_driver OP IN.bin OUT.bin`, OP one of conv, conv_ref, dw, dw_ref, max, avg, gap.
 *
 * IN.bin (packed by tests/test_c_conv_training.py): little-endian int32 header fields (float32
 * for float settings), then arrays, each an int32 element count and the elements; a count of -1
 * passes NULL. Convolutions: geometry (17 ints), groups, act_min, act_max, optimizer kind (0 SGD,
 * 1 Adam, -1 NULL), lr, momentum, weight_decay, beta1, beta2, eps, 1 - beta1, 1 - beta2,
 * weights trainable, bias trainable, want dx; arrays x, dy, weights, bias. Window pools:
 * geometry, act_min, act_max; arrays x, dy; int32 dx count (-1: NULL). Global pool: batch, in_h,
 * in_w, channels, act_min, act_max; array dy; dx count.
 * Every array, the optimizer slots (zeroed) and dx get their own exactly-sized heap block, so
 * AddressSanitizer flags any out-of-bounds access. OUT.bin: int32 status, then (status ET_OK)
 * dx when asked for, the weights and the bias after the update. Exit status 2 on driver failure.
 * Test scaffolding only: not part of the runtime.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DRIVER_NAME "conv_train_driver"
#include "driver_io.h"

#include "et_conv_train.h"
#include "conv_geom_io.h"

static void *arr(int32_t *count)
{
    const int32_t n = hdr();
    if (count != NULL) {
        *count = n;
    }
    if (n < 0) {
        return NULL;
    }
    return take((size_t)n * 4);
}

static float *zeros(int32_t n)
{
    float *p;
    if (n < 0) {
        return NULL;
    }
    p = (float *)calloc(n > 0 ? (size_t)n : 1, sizeof(float));
    if (p == NULL) {
        die("out of memory");
    }
    return p;
}

static FILE *out_open(const char *path, et_status st)
{
    FILE *f = fopen(path, "wb");
    const int32_t s = (int32_t)st;
    if (f == NULL || fwrite(&s, sizeof s, 1, f) != 1) {
        die("cannot write output");
    }
    return f;
}

static void out_floats(FILE *f, const float *p, int32_t n)
{
    if (p != NULL && n > 0 && fwrite(p, sizeof(float), (size_t)n, f) != (size_t)n) {
        die("cannot write output");
    }
}

static void run_conv(const char *op, const char *out_path)
{
    et_conv_f32_params p;
    et_optimizer opt;
    int32_t kind;
    int32_t want_dx;
    int32_t n_x;
    int32_t n_dy;
    int32_t n_w;
    int32_t n_b;
    int32_t n_dx;
    float *x;
    float *dy;
    float *dx;
    et_param_f32 w;
    et_param_f32 b;
    et_status st;
    FILE *f;
    read_geom(&p.geom);
    p.groups = hdr();
    p.act_min = hdr_f32();
    p.act_max = hdr_f32();
    kind = hdr();
    memset(&opt, 0, sizeof opt);
    opt.kind = kind == 1 ? ET_OPTIM_ADAM : ET_OPTIM_SGD;
    opt.sgd.lr = hdr_f32();
    opt.sgd.momentum = hdr_f32();
    opt.sgd.weight_decay = hdr_f32();
    opt.adam.lr = opt.sgd.lr;
    opt.adam.weight_decay = opt.sgd.weight_decay;
    opt.adam.beta1 = hdr_f32();
    opt.adam.beta2 = hdr_f32();
    opt.adam.eps = hdr_f32();
    opt.adam.one_minus_beta1 = hdr_f32();
    opt.adam.one_minus_beta2 = hdr_f32();
    w.trainable = hdr();
    b.trainable = hdr();
    want_dx = hdr();
    x = (float *)arr(&n_x);
    dy = (float *)arr(&n_dy);
    w.value = (float *)arr(&n_w);
    b.value = (float *)arr(&n_b);
    w.m = zeros(n_w);
    w.v = zeros(n_w);
    b.m = zeros(n_b);
    b.v = zeros(n_b);
    w.mask = NULL;
    b.mask = NULL;
    n_dx = want_dx ? p.geom.batch * p.geom.in_h * p.geom.in_w * p.geom.in_c : -1;
    dx = zeros(n_dx);
    if (et_adam_step_init(&opt.step) != ET_OK || (kind >= 0 && et_optimizer_begin_step(&opt) != ET_OK)) {
        die("optimizer setup");
    }
    if (strcmp(op, "conv") == 0) {
        st = et_conv_f32_backward_update(&p, kind < 0 ? NULL : &opt, x, dy, &w, n_b < 0 ? NULL : &b, dx);
    } else if (strcmp(op, "conv_ref") == 0) {
        st = et_conv_f32_backward_update_ref(&p, kind < 0 ? NULL : &opt, x, dy, &w, n_b < 0 ? NULL : &b, dx);
    } else if (strcmp(op, "dw") == 0) {
        st = et_depthwise_conv_f32_backward_update(&p, kind < 0 ? NULL : &opt, x, dy, &w,
                                                   n_b < 0 ? NULL : &b, dx);
    } else {
        st = et_depthwise_conv_f32_backward_update_ref(&p, kind < 0 ? NULL : &opt, x, dy, &w,
                                                       n_b < 0 ? NULL : &b, dx);
    }
    f = out_open(out_path, st);
    if (st == ET_OK) {
        out_floats(f, dx, n_dx);
        out_floats(f, w.value, n_w);
        out_floats(f, b.value, n_b);
    }
    if (fclose(f) != 0) {
        die("cannot write output");
    }
    (void)n_dy;
    free(x);
    free(dy);
    free(dx);
    free(w.value);
    free(w.m);
    free(w.v);
    free(b.value);
    free(b.m);
    free(b.v);
}

static void run_pool(const char *op, const char *out_path)
{
    et_status st;
    int32_t n_dx;
    float *x = NULL;
    float *dy;
    float *dx;
    FILE *f;
    if (strcmp(op, "gap") == 0) {
        et_global_pool_f32_params p;
        p.batch = hdr();
        p.in_h = hdr();
        p.in_w = hdr();
        p.channels = hdr();
        p.act_min = hdr_f32();
        p.act_max = hdr_f32();
        dy = (float *)arr(NULL);
        n_dx = hdr();
        dx = zeros(n_dx);
        st = et_global_avg_pool_f32_backward(&p, dy, dx);
    } else {
        et_pool_f32_params p;
        read_geom(&p.geom);
        p.act_min = hdr_f32();
        p.act_max = hdr_f32();
        x = (float *)arr(NULL);
        dy = (float *)arr(NULL);
        n_dx = hdr();
        dx = zeros(n_dx);
        st = strcmp(op, "max") == 0 ? et_max_pool_f32_backward(&p, x, dy, dx)
                                    : et_avg_pool_f32_backward(&p, dy, dx);
    }
    f = out_open(out_path, st);
    if (st == ET_OK) {
        out_floats(f, dx, n_dx);
    }
    if (fclose(f) != 0) {
        die("cannot write output");
    }
    free(x);
    free(dy);
    free(dx);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        die("usage: conv_train_driver OP IN.bin OUT.bin");
    }
    load_input(argv[2]);
    if (strncmp(argv[1], "conv", 4) == 0 || strncmp(argv[1], "dw", 2) == 0) {
        run_conv(argv[1], argv[3]);
    } else {
        run_pool(argv[1], argv[3]);
    }
    free(g_in);
    return 0;
}

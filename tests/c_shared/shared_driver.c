/* Shared-weight dense kernels driver (tests/test_shared_kernels.py).
 *
 * `shared_driver train DIR` trains one shared-weight dense layer for `steps` steps on given
 * inputs and output gradients, with the fast or the `_ref` kernels:
 *   config.bin  int32 batch, n_in, n_out, n_slots, steps, kind (0 SGD, 1 Adam), train_cb,
 *               has_bias, train_bias, want_dx, variant (0 fast, 1 ref), null_input (pass NULL as
 *               the backward's input; only for a frozen codebook);
 *               float32 lr, momentum, weight_decay, beta1, beta2, eps, 1 - beta1, 1 - beta2,
 *               act_min, act_max
 *   x.bin       float32 [steps][batch][n_in]     dy.bin  float32 [steps][batch][n_out]
 *   cb.bin      float32 [n_slots]                idx.bin uint16 [n_out][n_in] (C layout)
 *   bias.bin    float32 [n_out] (has_bias only)
 * Each step: forward (the codebook before the step), et_optimizer_begin_step, fused backward +
 * update. Writes y.bin [steps][batch][n_out], cb_hist.bin and bias_hist.bin (the values each step
 * started from), dx.bin [steps][batch][n_in] (want_dx), sg.bin [steps][n_slots] (train_cb),
 * out_cb.bin, out_bias.bin (has_bias). slot_grad and dx are filled with NaN before every call, so
 * a kernel that does not zero / overwrite them is caught; every buffer is its exact size, so ASan
 * sees any overrun.
 *
 * `shared_driver units` checks argument validation, status codes, et_copy_f32, the scratch size
 * and the index check for both variants; prints "units ok".
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "et_shared.h"
#include "et_train.h"
#include "io.h"

typedef et_status (*fwd_fn)(const et_dense_f32_params *, const float *, const float *,
                            const uint16_t *, const float *, float *);
typedef et_status (*bwd_fn)(const et_dense_f32_params *, const et_optimizer *, const float *,
                            const float *, et_param_f32 *, int32_t, const uint16_t *, float *,
                            et_param_f32 *, float *);

static const fwd_fn FWD[2] = {et_dense_f32_shared, et_dense_f32_shared_ref};
static const bwd_fn BWD[2] = {et_dense_f32_shared_backward_update,
                              et_dense_f32_shared_backward_update_ref};

static void check(et_status st, const char *what)
{
    if (st != ET_OK) {
        fprintf(stderr, "%s: %s\n", what, et_status_str(st));
        exit(1);
    }
}

static float *falloc(size_t n)
{
    float *p = (float *)calloc(n > 0 ? n : 1, sizeof(float));
    if (p == NULL) {
        io_die("out of memory");
    }
    return p;
}

static void fill_nan(float *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; ++i) {
        p[i] = NAN;
    }
}

static int train(const char *dir)
{
    int32_t ci[12];
    float cf[10];
    int32_t batch, n_in, n_out, k_slots, steps, kind, train_cb, has_bias, train_bias, want_dx;
    int32_t variant, null_input, s;
    size_t nx, ny, nw;
    float *x, *dy, *cb, *cbm, *cbv, *bias = NULL, *bm = NULL, *bv = NULL, *y, *dx = NULL;
    float *sg = NULL, *sg_out = NULL, *dx_out = NULL, *cb_hist, *bias_hist = NULL;
    uint16_t *idx;
    et_dense_f32_params p;
    et_optimizer opt;
    et_param_f32 pcb, pb;
    {
        unsigned char raw[sizeof ci + sizeof cf];
        io_read_into(dir, "config.bin", raw, sizeof raw);
        memcpy(ci, raw, sizeof ci);
        memcpy(cf, raw + sizeof ci, sizeof cf);
    }
    batch = ci[0];
    n_in = ci[1];
    n_out = ci[2];
    k_slots = ci[3];
    steps = ci[4];
    kind = ci[5];
    train_cb = ci[6];
    has_bias = ci[7];
    train_bias = ci[8];
    want_dx = ci[9];
    variant = ci[10];
    null_input = ci[11];
    if (variant < 0 || variant > 1 || batch < 1 || steps < 1 || k_slots < 1) {
        io_die("bad config");
    }
    nx = (size_t)(batch * n_in);
    ny = (size_t)(batch * n_out);
    nw = (size_t)(n_out * n_in);
    x = (float *)io_read(dir, "x.bin", (size_t)steps * nx * sizeof(float));
    dy = (float *)io_read(dir, "dy.bin", (size_t)steps * ny * sizeof(float));
    cb = (float *)io_read(dir, "cb.bin", (size_t)k_slots * sizeof(float));
    idx = (uint16_t *)io_read(dir, "idx.bin", nw * sizeof(uint16_t));
    cbm = falloc((size_t)k_slots);
    cbv = falloc((size_t)k_slots);
    cb_hist = falloc((size_t)steps * (size_t)k_slots);
    y = falloc((size_t)steps * ny);
    if (has_bias) {
        bias = (float *)io_read(dir, "bias.bin", (size_t)n_out * sizeof(float));
        bm = falloc((size_t)n_out);
        bv = falloc((size_t)n_out);
        bias_hist = falloc((size_t)steps * (size_t)n_out);
    }
    if (want_dx) {
        dx = falloc(nx);
        dx_out = falloc((size_t)steps * nx);
    }
    if (train_cb) {
        const int32_t bytes = et_dense_f32_shared_scratch_bytes(k_slots);
        if (bytes != k_slots * (int32_t)sizeof(float)) {
            io_die("scratch size");
        }
        sg = (float *)malloc((size_t)bytes);
        sg_out = falloc((size_t)steps * (size_t)k_slots);
        if (sg == NULL) {
            io_die("out of memory");
        }
    }
    p.batch = batch;
    p.n_in = n_in;
    p.n_out = n_out;
    p.act_min = cf[8];
    p.act_max = cf[9];
    memset(&opt, 0, sizeof opt);
    opt.kind = kind == 1 ? ET_OPTIM_ADAM : ET_OPTIM_SGD;
    opt.sgd.lr = cf[0];
    opt.sgd.momentum = cf[1];
    opt.sgd.weight_decay = cf[2];
    opt.adam.lr = cf[0];
    opt.adam.weight_decay = cf[2];
    opt.adam.beta1 = cf[3];
    opt.adam.beta2 = cf[4];
    opt.adam.eps = cf[5];
    opt.adam.one_minus_beta1 = cf[6];
    opt.adam.one_minus_beta2 = cf[7];
    check(et_adam_step_init(&opt.step), "adam_step_init");
    /* A frozen tensor gets no optimizer slots: the kernels must not need them. */
    pcb.value = cb;
    pcb.m = train_cb ? cbm : NULL;
    pcb.v = train_cb ? cbv : NULL;
    pcb.trainable = train_cb;
    pcb.mask = NULL;
    pb.value = bias;
    pb.m = train_bias ? bm : NULL;
    pb.v = train_bias ? bv : NULL;
    pb.trainable = train_bias;
    pb.mask = NULL;
    for (s = 0; s < steps; ++s) {
        const float *xs = x + (size_t)s * nx;
        const float *dys = dy + (size_t)s * ny;
        memcpy(cb_hist + (size_t)s * (size_t)k_slots, cb, (size_t)k_slots * sizeof(float));
        if (has_bias) {
            memcpy(bias_hist + (size_t)s * (size_t)n_out, bias, (size_t)n_out * sizeof(float));
        }
        check(FWD[variant](&p, xs, cb, idx, bias, y + (size_t)s * ny), "forward");
        if (train_cb || train_bias) {
            check(et_optimizer_begin_step(&opt), "begin_step");
        }
        if (dx != NULL) {
            fill_nan(dx, nx);
        }
        if (sg != NULL) {
            fill_nan(sg, (size_t)k_slots);
        }
        check(BWD[variant](&p, (train_cb || train_bias) ? &opt : NULL, null_input ? NULL : xs, dys,
                           &pcb, k_slots, idx, sg, has_bias ? &pb : NULL, dx),
              "backward_update");
        if (dx != NULL) {
            memcpy(dx_out + (size_t)s * nx, dx, nx * sizeof(float));
        }
        if (sg != NULL) {
            memcpy(sg_out + (size_t)s * (size_t)k_slots, sg, (size_t)k_slots * sizeof(float));
        }
    }
    io_write(dir, "y.bin", y, (size_t)steps * ny * sizeof(float));
    io_write(dir, "cb_hist.bin", cb_hist, (size_t)steps * (size_t)k_slots * sizeof(float));
    io_write(dir, "out_cb.bin", cb, (size_t)k_slots * sizeof(float));
    if (has_bias) {
        io_write(dir, "bias_hist.bin", bias_hist, (size_t)steps * (size_t)n_out * sizeof(float));
        io_write(dir, "out_bias.bin", bias, (size_t)n_out * sizeof(float));
    }
    if (want_dx) {
        io_write(dir, "dx.bin", dx_out, (size_t)steps * nx * sizeof(float));
    }
    if (train_cb) {
        io_write(dir, "sg.bin", sg_out, (size_t)steps * (size_t)k_slots * sizeof(float));
    }
    free(x);
    free(dy);
    free(cb);
    free(idx);
    free(cbm);
    free(cbv);
    free(cb_hist);
    free(y);
    free(bias);
    free(bm);
    free(bv);
    free(bias_hist);
    free(dx);
    free(dx_out);
    free(sg);
    free(sg_out);
    return 0;
}

/* ---------------------------------------------------------------- units */

static int failures = 0;

static void expect(et_status got, et_status want, const char *what, int variant)
{
    if (got != want) {
        fprintf(stderr, "%s (%s): got %s, want %s\n", what, variant ? "ref" : "fast",
                et_status_str(got), et_status_str(want));
        ++failures;
    }
}

static void expect_true(int ok, const char *what, int variant)
{
    if (!ok) {
        fprintf(stderr, "%s (%s): failed\n", what, variant ? "ref" : "fast");
        ++failures;
    }
}

#define UB 2
#define UI 3
#define UO 5
#define UK 4

static void units_variant(int v)
{
    /* W = [[c0 c1 -  c3] ...] with one masked entry per row. */
    static const uint16_t idx0[UO * UI] = {0, 1, ET_SHARED_NONE, 3, ET_SHARED_NONE, 2, 1, 1, 0,
                                           ET_SHARED_NONE, 3, 3, 2, 0, ET_SHARED_NONE};
    uint16_t idx[UO * UI];
    const float x[UB * UI] = {0.5f, -1.0f, 2.0f, 1.5f, 0.25f, -0.75f};
    const float dy[UB * UO] = {0.1f, -0.2f, 0.3f, 0.05f, -0.4f, 0.2f, 0.1f, -0.3f, 0.25f, 0.15f};
    float cb[UK] = {0.5f, -0.25f, 1.0f, 0.75f};
    float cbm[UK] = {0, 0, 0, 0};
    float cbv[UK] = {0, 0, 0, 0};
    float bias[UO] = {0.1f, 0.2f, -0.1f, 0.0f, 0.3f};
    float bm[UO] = {0, 0, 0, 0, 0};
    float bv[UO] = {0, 0, 0, 0, 0};
    float sg[UK];
    float dx[UB * UI];
    float y[UB * UO];
    float before[UK + 3 * UO + 2 * UK];
    const uint8_t slot_mask[1] = {0x0f};
    et_dense_f32_params p = {UB, UI, UO, -FLT_MAX, FLT_MAX};
    et_dense_f32_params bad = p;
    et_optimizer sgd, adam;
    et_param_f32 pcb = {cb, cbm, cbv, 1, NULL};
    et_param_f32 pb = {bias, bm, bv, 1, NULL};
    et_param_f32 t;
    const fwd_fn fwd = FWD[v];
    const bwd_fn bwd = BWD[v];
    int32_t i;
    memcpy(idx, idx0, sizeof idx);
    memset(&sgd, 0, sizeof sgd);
    sgd.kind = ET_OPTIM_SGD;
    sgd.sgd.lr = 0.1f;
    sgd.sgd.momentum = 0.9f;
    memset(&adam, 0, sizeof adam);
    adam.kind = ET_OPTIM_ADAM;
    check(et_adam_params_init(&adam.adam, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f), "adam init");
    check(et_adam_step_init(&adam.step), "adam step init");

    /* forward */
    expect(fwd(NULL, x, cb, idx, bias, y), ET_ERR_NULL_ARG, "fwd params NULL", v);
    expect(fwd(&p, NULL, cb, idx, bias, y), ET_ERR_NULL_ARG, "fwd input NULL", v);
    expect(fwd(&p, x, NULL, idx, bias, y), ET_ERR_NULL_ARG, "fwd codebook NULL", v);
    expect(fwd(&p, x, cb, NULL, bias, y), ET_ERR_NULL_ARG, "fwd indices NULL", v);
    expect(fwd(&p, x, cb, idx, bias, NULL), ET_ERR_NULL_ARG, "fwd output NULL", v);
    bad.batch = 0;
    expect(fwd(&bad, x, cb, idx, bias, y), ET_ERR_BAD_SHAPE, "fwd batch 0", v);
    bad = p;
    bad.n_in = 0;
    expect(fwd(&bad, x, cb, idx, bias, y), ET_ERR_BAD_SHAPE, "fwd n_in 0", v);
    bad = p;
    bad.act_min = 1.0f;
    bad.act_max = 0.0f;
    expect(fwd(&bad, x, cb, idx, bias, y), ET_ERR_BAD_PARAM, "fwd act_min > act_max", v);
    bad.act_min = NAN;
    bad.act_max = FLT_MAX;
    expect(fwd(&bad, x, cb, idx, bias, y), ET_ERR_BAD_PARAM, "fwd NaN bound", v);
    expect(fwd(&p, x, cb, idx, NULL, y), ET_OK, "fwd no bias", v);
    /* y[0][0] = 0.5 * c0 + (-1) * c1 (entry 2 masked) */
    expect_true(y[0] == 0.5f * 0.5f + (-1.0f) * (-0.25f), "fwd value", v);
    {
        /* A non-finite input at a masked column propagates nothing (skipped, not 0 * inf). */
        const uint16_t one[3] = {0, 1, ET_SHARED_NONE};
        const float xi[3] = {1.0f, 2.0f, INFINITY};
        const et_dense_f32_params p1 = {1, 3, 1, -FLT_MAX, FLT_MAX};
        float y1 = 0.0f;
        expect(fwd(&p1, xi, cb, one, NULL, &y1), ET_OK, "fwd inf masked", v);
        expect_true(y1 == 0.5f + 2.0f * (-0.25f), "fwd inf masked value", v);
    }

    /* backward: argument checks, in the order the fused dense kernel applies them */
    expect(bwd(NULL, &sgd, x, dy, &pcb, UK, idx, sg, &pb, dx), ET_ERR_NULL_ARG, "bwd params", v);
    bad = p;
    bad.n_out = 0;
    expect(bwd(&bad, &sgd, x, dy, &pcb, UK, idx, sg, &pb, dx), ET_ERR_BAD_SHAPE, "bwd n_out 0", v);
    expect(bwd(&p, &sgd, x, NULL, &pcb, UK, idx, sg, &pb, dx), ET_ERR_NULL_ARG, "bwd dy", v);
    expect(bwd(&p, &sgd, x, dy, NULL, UK, idx, sg, &pb, dx), ET_ERR_NULL_ARG, "bwd codebook", v);
    t = pcb;
    t.value = NULL;
    expect(bwd(&p, &sgd, x, dy, &t, UK, idx, sg, &pb, dx), ET_ERR_NULL_ARG, "bwd cb value", v);
    t = pb;
    t.value = NULL;
    expect(bwd(&p, &sgd, x, dy, &pcb, UK, idx, sg, &t, dx), ET_ERR_NULL_ARG, "bwd bias value", v);
    expect(bwd(&p, &sgd, NULL, dy, &pcb, UK, idx, sg, &pb, dx), ET_ERR_NULL_ARG, "bwd input", v);
    expect(bwd(&p, NULL, x, dy, &pcb, UK, idx, sg, &pb, dx), ET_ERR_NULL_ARG, "bwd opt", v);
    expect(bwd(&p, &adam, x, dy, &pcb, UK, idx, sg, &pb, dx), ET_ERR_BAD_PARAM,
           "bwd adam step not begun", v);
    t = pcb;
    t.m = NULL;
    expect(bwd(&p, &sgd, x, dy, &t, UK, idx, sg, &pb, dx), ET_ERR_NULL_ARG, "bwd cb velocity", v);
    t = pb;
    t.m = NULL;
    expect(bwd(&p, &sgd, x, dy, &pcb, UK, idx, sg, &t, dx), ET_ERR_NULL_ARG, "bwd bias velocity", v);
    check(et_optimizer_begin_step(&adam), "adam begin");
    t = pcb;
    t.v = NULL;
    expect(bwd(&p, &adam, x, dy, &t, UK, idx, sg, &pb, dx), ET_ERR_NULL_ARG, "bwd cb adam v", v);
    expect(bwd(&p, &sgd, x, dy, &pcb, UK, NULL, sg, &pb, dx), ET_ERR_NULL_ARG, "bwd indices", v);
    expect(bwd(&p, &sgd, x, dy, &pcb, UK, idx, NULL, &pb, dx), ET_ERR_NULL_ARG, "bwd slot_grad", v);
    expect(bwd(&p, &sgd, x, dy, &pcb, 0, idx, sg, &pb, dx), ET_ERR_BAD_SHAPE, "bwd n_slots 0", v);
    expect(bwd(&p, &sgd, x, dy, &pcb, -3, idx, sg, &pb, dx), ET_ERR_BAD_SHAPE, "bwd n_slots < 0", v);
    expect(bwd(&p, &sgd, x, dy, &pcb, ET_SHARED_MAX_SLOTS + 1, idx, sg, &pb, dx), ET_ERR_BAD_PARAM,
           "bwd n_slots > max", v);
    t = pcb;
    t.mask = slot_mask;
    expect(bwd(&p, &sgd, x, dy, &t, UK, idx, sg, &pb, dx), ET_ERR_BAD_PARAM, "bwd codebook mask", v);

    /* An index out of range: refused, with the codebook, the bias and all slots unchanged. */
    idx[UO * UI - 1] = (uint16_t)UK;
    cbm[1] = 0.125f;
    bm[2] = -0.5f;
    memcpy(before, cb, sizeof cb);
    memcpy(before + UK, bias, sizeof bias);
    memcpy(before + UK + UO, bm, sizeof bm);
    memcpy(before + UK + 2 * UO, bv, sizeof bv);
    memcpy(before + UK + 3 * UO, cbm, sizeof cbm);
    memcpy(before + UK + 3 * UO + UK, cbv, sizeof cbv);
    expect(bwd(&p, &sgd, x, dy, &pcb, UK, idx, sg, &pb, dx), ET_ERR_BAD_PARAM, "bwd index = K", v);
    expect(bwd(&p, &adam, x, dy, &pcb, UK, idx, sg, &pb, NULL), ET_ERR_BAD_PARAM,
           "bwd index = K, adam, no dx", v);
    idx[UO * UI - 1] = 60000;
    t = pcb;
    t.trainable = 0;
    expect(bwd(&p, &sgd, x, dy, &t, UK, idx, NULL, &pb, dx), ET_ERR_BAD_PARAM,
           "bwd index out of range, frozen codebook, dx only", v);
    {
        /* batch 1 takes the specialised loops */
        et_dense_f32_params p1 = p;
        p1.batch = 1;
        expect(bwd(&p1, &sgd, x, dy, &pcb, UK, idx, sg, &pb, dx), ET_ERR_BAD_PARAM,
               "bwd batch 1 index out of range", v);
        expect(bwd(&p1, &sgd, x, dy, &pcb, UK, idx, sg, &pb, NULL), ET_ERR_BAD_PARAM,
               "bwd batch 1 index out of range, no dx", v);
        expect(bwd(&p1, &sgd, x, dy, &t, UK, idx, sg, &pb, dx), ET_ERR_BAD_PARAM,
               "bwd batch 1 index out of range, dx only", v);
    }
    expect_true(memcmp(before, cb, sizeof cb) == 0 && memcmp(before + UK, bias, sizeof bias) == 0 &&
                    memcmp(before + UK + UO, bm, sizeof bm) == 0 &&
                    memcmp(before + UK + 2 * UO, bv, sizeof bv) == 0 &&
                    memcmp(before + UK + 3 * UO, cbm, sizeof cbm) == 0 &&
                    memcmp(before + UK + 3 * UO + UK, cbv, sizeof cbv) == 0,
                "nothing updated on a bad index", v);
    memcpy(idx, idx0, sizeof idx);

    /* Nothing trains: opt may be NULL; dx alone; a frozen codebook leaves slot_grad alone. */
    t = pcb;
    t.trainable = 0;
    t.m = NULL;
    t.v = NULL;
    for (i = 0; i < UK; ++i) {
        sg[i] = 7.0f;
    }
    expect(bwd(&p, NULL, NULL, dy, &t, UK, idx, sg, NULL, dx), ET_OK, "bwd frozen, dx only", v);
    /* dx[0][0] = dy[0][0] c0 + dy[0][1] c3 + dy[0][2] c1 + (row 3 masked) + dy[0][4] c2, in o order */
    expect_true(dx[0] == (((0.0f + 0.1f * 0.5f) + (-0.2f) * 0.75f) + 0.3f * (-0.25f)) + (-0.4f) * 1.0f,
                "bwd frozen dx value", v);
    for (i = 0; i < UK; ++i) {
        expect_true(sg[i] == 7.0f, "frozen codebook: slot_grad untouched", v);
    }
    expect(bwd(&p, NULL, NULL, dy, &t, UK, idx, NULL, NULL, NULL), ET_OK, "bwd nothing to do", v);
    expect_true(memcmp(before, cb, sizeof cb) == 0, "frozen codebook unchanged", v);

    /* The largest codebook: index 65534 is a slot, not a mask. */
    {
        static float big[ET_SHARED_MAX_SLOTS];
        static float bigm[ET_SHARED_MAX_SLOTS];
        static float bigsg[ET_SHARED_MAX_SLOTS];
        const uint16_t last[2] = {(uint16_t)(ET_SHARED_MAX_SLOTS - 1), ET_SHARED_NONE};
        const et_dense_f32_params p2 = {1, 2, 1, -FLT_MAX, FLT_MAX};
        const float x2[2] = {2.0f, 3.0f};
        const float dy2[1] = {0.5f};
        float dx2[2];
        float y2 = 0.0f;
        et_param_f32 pbig = {big, bigm, NULL, 1, NULL};
        memset(big, 0, sizeof big);
        memset(bigm, 0, sizeof bigm);
        big[ET_SHARED_MAX_SLOTS - 1] = 1.5f;
        expect(fwd(&p2, x2, big, last, NULL, &y2), ET_OK, "fwd K = 65535", v);
        expect_true(y2 == 3.0f, "fwd K = 65535 value", v);
        expect(bwd(&p2, &sgd, x2, dy2, &pbig, ET_SHARED_MAX_SLOTS, last, bigsg, NULL, dx2), ET_OK,
               "bwd K = 65535", v);
        expect_true(bigsg[ET_SHARED_MAX_SLOTS - 1] == 1.0f && bigsg[0] == 0.0f && dx2[0] == 0.75f &&
                        dx2[1] == 0.0f,
                    "bwd K = 65535 values", v);
        expect_true(big[ET_SHARED_MAX_SLOTS - 1] == 1.5f - 0.1f * 1.0f && big[0] == 0.0f,
                    "bwd K = 65535 update", v);
    }
}

static void units(void)
{
    static const uint16_t idx[4] = {0, ET_SHARED_NONE, 2, 1};
    const float src[3] = {1.0f, -2.0f, 3.5f};
    float dst[3] = {0.0f, 0.0f, 0.0f};
    float same[3] = {4.0f, 5.0f, 6.0f};
    units_variant(0);
    units_variant(1);

    expect(et_copy_f32(src, dst, 3), ET_OK, "copy", 0);
    expect_true(memcmp(src, dst, sizeof dst) == 0, "copy values", 0);
    expect(et_copy_f32(same, same, 3), ET_OK, "copy in place", 0);
    expect_true(same[0] == 4.0f && same[1] == 5.0f && same[2] == 6.0f, "copy in place values", 0);
    expect(et_copy_f32(NULL, dst, 3), ET_ERR_NULL_ARG, "copy src NULL", 0);
    expect(et_copy_f32(src, NULL, 3), ET_ERR_NULL_ARG, "copy dst NULL", 0);
    expect(et_copy_f32(src, dst, 0), ET_ERR_BAD_SHAPE, "copy n 0", 0);
    expect(et_copy_f32(src, dst, -1), ET_ERR_BAD_SHAPE, "copy n < 0", 0);

    expect_true(et_dense_f32_shared_scratch_bytes(1) == 4, "scratch 1", 0);
    expect_true(et_dense_f32_shared_scratch_bytes(16) == 64, "scratch 16", 0);
    expect_true(et_dense_f32_shared_scratch_bytes(ET_SHARED_MAX_SLOTS) == 4 * ET_SHARED_MAX_SLOTS,
                "scratch max", 0);
    expect_true(et_dense_f32_shared_scratch_bytes(0) == -1, "scratch 0", 0);
    expect_true(et_dense_f32_shared_scratch_bytes(-7) == -1, "scratch < 0", 0);
    expect_true(et_dense_f32_shared_scratch_bytes(ET_SHARED_MAX_SLOTS + 1) == -1, "scratch > max", 0);

    expect(et_shared_indices_check(idx, 4, 3), ET_OK, "indices ok", 0);
    expect(et_shared_indices_check(idx, 4, 2), ET_ERR_BAD_PARAM, "indices 2 >= K", 0);
    expect(et_shared_indices_check(idx, 1, 1), ET_OK, "indices prefix", 0);
    expect(et_shared_indices_check(NULL, 4, 3), ET_ERR_NULL_ARG, "indices NULL", 0);
    expect(et_shared_indices_check(idx, 0, 3), ET_ERR_BAD_SHAPE, "indices n 0", 0);
    expect(et_shared_indices_check(idx, 4, 0), ET_ERR_BAD_SHAPE, "indices K 0", 0);
    expect(et_shared_indices_check(idx, 4, ET_SHARED_MAX_SLOTS + 1), ET_ERR_BAD_PARAM,
           "indices K > max", 0);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "train") == 0) {
        return train(argv[2]);
    }
    if (argc == 2 && strcmp(argv[1], "units") == 0) {
        units();
        if (failures != 0) {
            fprintf(stderr, "%d unit check(s) failed\n", failures);
            return 1;
        }
        printf("units ok\n");
        return 0;
    }
    io_die("usage: shared_driver train DIR | shared_driver units");
    return 2;
}

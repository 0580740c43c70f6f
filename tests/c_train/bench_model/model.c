/* One call = one thing to count, chosen by the input's mode word:
 *   0 initialise weights (pseudo-random) and zero all optimizer state
 *   1 SGD+momentum step, batch 1     2 Adam step, batch 1
 *   3 SGD+momentum step, batch 8     4 Adam step, batch 8
 *   5 forward + loss only, batch 1   6 SGD+momentum step, batch 1, last layer only
 * A step is forward (et_dense_f32), softmax cross-entropy, fused backward + update of layer 2
 * (with dx), ReLU backward, fused backward + update of layer 1 - what generated code will do.
 * Training buffers (beyond parameters and optimizer slots): h, logits (dlogits in place), dh. */
#include <float.h>
#include <stdint.h>
#include <string.h>

#include "et_runtime.h"
#include "model.h"

#define NI 64
#define NH 32
#define NO 10
#define MAXB 8

static float w1[NH * NI], b1[NH], w2[NO * NH], b2[NO];
static float w1m[NH * NI], b1m[NH], w2m[NO * NH], b2m[NO];
static float w1v[NH * NI], b1v[NH], w2v[NO * NH], b2v[NO];
/* Training buffers: MAXB * (32 + 10 + 32) floats = 2368 B for batch 8, 296 B for batch 1. */
static float h[MAXB * NH], logits[MAXB * NO], dh[MAXB * NH];
static et_optimizer sgd, adam;

static void init(void)
{
    uint32_t s = 12345u;
    int i;
    for (i = 0; i < NH * NI; ++i) {
        s = s * 1664525u + 1013904223u;
        w1[i] = ((float)(s >> 8) / 16777216.0f - 0.5f) * 0.6f;
    }
    for (i = 0; i < NO * NH; ++i) {
        s = s * 1664525u + 1013904223u;
        w2[i] = ((float)(s >> 8) / 16777216.0f - 0.5f) * 0.8f;
    }
    memset(b1, 0, sizeof b1);
    memset(b2, 0, sizeof b2);
    memset(w1m, 0, sizeof w1m);
    memset(b1m, 0, sizeof b1m);
    memset(w2m, 0, sizeof w2m);
    memset(b2m, 0, sizeof b2m);
    memset(w1v, 0, sizeof w1v);
    memset(b1v, 0, sizeof b1v);
    memset(w2v, 0, sizeof w2v);
    memset(b2v, 0, sizeof b2v);
    sgd.kind = ET_OPTIM_SGD;
    sgd.sgd.lr = 0.01f;
    sgd.sgd.momentum = 0.9f;
    sgd.sgd.weight_decay = 0.0f;
    adam.kind = ET_OPTIM_ADAM;
    et_adam_params_init(&adam.adam, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f);
    et_adam_step_init(&adam.step);
}

static et_dense_f32_params layer(int32_t batch, int32_t n_in, int32_t n_out, float lo)
{
    et_dense_f32_params p;
    p.batch = batch;
    p.n_in = n_in;
    p.n_out = n_out;
    p.act_min = lo;
    p.act_max = FLT_MAX;
    return p;
}

static int step(et_optimizer *opt, int32_t batch, const float *x, const int32_t *y, int train1,
                float *loss)
{
    const et_dense_f32_params p1 = layer(batch, NI, NH, 0.0f);
    const et_dense_f32_params p2 = layer(batch, NH, NO, -FLT_MAX);
    et_param_f32 pw1 = {w1, w1m, w1v, 0, NULL}, pb1 = {b1, b1m, b1v, 0, NULL};
    et_param_f32 pw2 = {w2, w2m, w2v, 1, NULL}, pb2 = {b2, b2m, b2v, 1, NULL};
    et_status st;
    pw1.trainable = train1;
    pb1.trainable = train1;
    st = et_dense_f32(&p1, x, w1, b1, h);
    if (st == ET_OK) st = et_dense_f32(&p2, h, w2, b2, logits);
    if (st == ET_OK) st = et_softmax_xent_f32(logits, y, batch, NO, loss, opt != 0 ? logits : 0);
    if (st != ET_OK || opt == 0) return (int)st;
    st = et_optimizer_begin_step(opt);
    if (st == ET_OK) st = et_dense_f32_backward_update(&p2, opt, h, logits, &pw2, &pb2, train1 ? dh : 0);
    if (st == ET_OK && train1) st = et_relu_f32_backward(h, dh, batch * NH);
    if (st == ET_OK && train1) st = et_dense_f32_backward_update(&p1, opt, x, dh, &pw1, &pb1, 0);
    return (int)st;
}

int et_model_infer(const void *input, void *output)
{
    const unsigned char *in = (const unsigned char *)input;
    uint32_t mode;
    int32_t y[MAXB];
    float loss = 0.0f;
    int st = 0;
    const float *x = (const float *)(const void *)(in + 4 + 4 * MAXB);
    memcpy(&mode, in, 4);
    memcpy(y, in + 4, sizeof y);
    switch (mode) {
    case 0: init(); break;
    case 1: st = step(&sgd, 1, x, y, 1, &loss); break;
    case 2: st = step(&adam, 1, x, y, 1, &loss); break;
    case 3: st = step(&sgd, MAXB, x, y, 1, &loss); break;
    case 4: st = step(&adam, MAXB, x, y, 1, &loss); break;
    case 5: st = step(0, 1, x, y, 1, &loss); break;
    case 6: st = step(&sgd, 1, x, y, 0, &loss); break;
    default: st = 1; break;
    }
    memcpy(output, &loss, 4);
    return st;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the conv backward kernels (private to the runtime sources): argument checks, the
 * per-element optimizer dispatch, and the output range one kernel tap reaches. */
#ifndef ET_CONV_TRAIN_IMPL_H
#define ET_CONV_TRAIN_IMPL_H

#include "et_conv_train.h"
#include "et_dense_train_check.h"
#include "et_optim_impl.h"

/* The fused conv kernels' arguments (et_conv_train.h). */
static inline et_status et_conv_bwd_check(const et_conv_f32_params *p, int32_t depthwise,
                                          const et_optimizer *opt, const float *input,
                                          const float *dy, const et_param_f32 *w,
                                          const et_param_f32 *b)
{
    const et_status st = et_conv_f32_check(p, depthwise);
    if (st != ET_OK) {
        return st;
    }
    return et_param_update_check(opt, input, dy, w, b);
}

/* The optimizer as local constants, read once per kernel call (not per weight). */
typedef struct {
    int32_t mode; /* 0: SGD, 1: SGD with momentum, 2: Adam */
    float lr;
    float mom;
    float wd;
    et_adam_consts adam;
} et_upd_consts;

static inline et_upd_consts et_upd_consts_of(const et_optimizer *opt)
{
    et_upd_consts c;
    const et_adam_consts unused = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
    c.mode = 0;
    c.lr = 0.0f;
    c.mom = 0.0f;
    c.wd = 0.0f;
    c.adam = unused;
    if (opt == 0) {
        return c; /* nothing trains (the checks allow a NULL optimizer only then) */
    }
    if (opt->kind == ET_OPTIM_ADAM) {
        c.mode = 2;
        c.adam = et_adam_consts_of(&opt->adam, &opt->step);
    } else {
        c.mode = opt->sgd.momentum != 0.0f ? 1 : 0;
        c.lr = opt->sgd.lr;
        c.mom = opt->sgd.momentum;
        c.wd = opt->sgd.weight_decay;
    }
    return c;
}

/* Entry i of t with gradient g, by the rules of et_optim.h. */
static inline void et_upd_elem(const et_upd_consts *c, et_param_f32 *t, int32_t i, float g)
{
    const float w = t->value[i];
    if (c->mode == 2) {
        t->value[i] = et_adam_c(w, g, &t->m[i], &t->v[i], c->adam);
    } else if (c->mode == 1) {
        t->value[i] = et_sgd_momentum(w, g, &t->m[i], c->lr, c->mom, c->wd);
    } else {
        t->value[i] = et_sgd_plain(w, g, c->lr, c->wd);
    }
}

/* [*lo, *hi): the outputs o in [0, out) whose tap at input offset o * stride + off lies in
 * [0, n). Empty (lo == hi) when the tap reads only padding. */
static inline void et_tap_range(int32_t off, int32_t stride, int32_t n, int32_t out, int32_t *lo,
                                int32_t *hi)
{
    int32_t l = off >= 0 ? 0 : (-off + stride - 1) / stride;
    int32_t h = n - 1 - off < 0 ? 0 : (n - 1 - off) / stride + 1;
    if (h > out) {
        h = out;
    }
    if (l > h) {
        l = h;
    }
    *lo = l;
    *hi = h;
}

/* Bias gradients sum dy over every output position: channel o, then the update. */
static inline void et_conv_bias_update(const et_conv_geom *g, const et_upd_consts *c,
                                       const float *dy, et_param_f32 *bias)
{
    const int32_t n = g->batch * g->out_h * g->out_w;
    int32_t o;
    int32_t k;
    for (o = 0; o < g->out_c; ++o) {
        float acc = 0.0f;
        for (k = 0; k < n; ++k) {
            acc += dy[k * g->out_c + o];
        }
        et_upd_elem(c, bias, o, acc);
    }
}

#endif /* ET_CONV_TRAIN_IMPL_H */

/* SPDX-License-Identifier: Apache-2.0 */
/* Fast dense backward kernels: input gradient with four weight rows per pass, weight gradient
 * with unrolled rows, and the fused backward + optimizer update (one loop per optimizer, from
 * et_dense_f32_backward_body.h). Summation orders differ from the _ref kernels, so results agree
 * to rounding, not bit for bit. */
#include "et_dense_train_check.h"
#include "et_optim_impl.h"
#include "et_train.h"

et_status et_dense_f32_backward_input(const et_dense_f32_params *p, const float *dy,
                                      const float *weights, float *dx)
{
    int32_t b;
    const et_status st = et_dense_bwd_shape_check(p);
    if (st != ET_OK) {
        return st;
    }
    if (dy == 0 || weights == 0 || dx == 0) {
        return ET_ERR_NULL_ARG;
    }
    for (b = 0; b < p->batch; ++b) {
        const int32_t n_in = p->n_in;
        const float *g = dy + (int32_t)(b * p->n_out);
        float *d = dx + (int32_t)(b * n_in);
        int32_t o = 0;
        int32_t k;
        for (k = 0; k < n_in; ++k) {
            d[k] = 0.0f;
        }
        /* Four rows per pass: each dx[k] is loaded and stored once per four weight rows. */
        for (; o + 4 <= p->n_out; o += 4) {
            const float g0 = g[o];
            const float g1 = g[o + 1];
            const float g2 = g[o + 2];
            const float g3 = g[o + 3];
            const float *w0 = weights + (int32_t)(o * n_in);
            const float *w1 = w0 + n_in;
            const float *w2 = w1 + n_in;
            const float *w3 = w2 + n_in;
            for (k = 0; k < n_in; ++k) {
                d[k] += (g0 * w0[k] + g1 * w1[k]) + (g2 * w2[k] + g3 * w3[k]);
            }
        }
        for (; o < p->n_out; ++o) {
            const float g0 = g[o];
            const float *w0 = weights + (int32_t)(o * n_in);
            for (k = 0; k < n_in; ++k) {
                d[k] += g0 * w0[k];
            }
        }
    }
    return ET_OK;
}

et_status et_dense_f32_backward_params(const et_dense_f32_params *p, const float *input,
                                       const float *dy, float *dweights, float *dbias,
                                       int32_t accumulate)
{
    int32_t o;
    const et_status st = et_dense_bwd_shape_check(p);
    if (st != ET_OK) {
        return st;
    }
    if (input == 0 || dy == 0 || dweights == 0) {
        return ET_ERR_NULL_ARG;
    }
    for (o = 0; o < p->n_out; ++o) {
        const int32_t n_in = p->n_in;
        float *dw = dweights + (int32_t)(o * n_in);
        float gb = 0.0f;
        int32_t b;
        int32_t k;
        if (!accumulate) {
            for (k = 0; k < n_in; ++k) {
                dw[k] = 0.0f;
            }
        }
        /* Sample by sample: dW row += dy[b][o] * x[b], a contiguous axpy unrolled by 4. */
        for (b = 0; b < p->batch; ++b) {
            const float d = dy[(int32_t)(b * p->n_out) + o];
            const float *x = input + (int32_t)(b * n_in);
            gb += d;
            for (k = 0; k + 4 <= n_in; k += 4) {
                dw[k] += d * x[k];
                dw[k + 1] += d * x[k + 1];
                dw[k + 2] += d * x[k + 2];
                dw[k + 3] += d * x[k + 3];
            }
            for (; k < n_in; ++k) {
                dw[k] += d * x[k];
            }
        }
        if (dbias != 0) {
            dbias[o] = accumulate ? dbias[o] + gb : gb;
        }
    }
    return ET_OK;
}

/* Optimizer constants as one local block for the fused loops. */
typedef struct {
    float lr;
    float mom;
    float wd;
    et_adam_consts adam;
} et_fused_consts;

/* The update expressions plugged into the template (M, V: slot arrays; i: element index). */
#define ET_UPD_SGD(w, g, M, V, i) et_sgd_plain((w), (g), c.lr, c.wd)
#define ET_UPD_SGDM(w, g, M, V, i) et_sgd_momentum((w), (g), &(M)[i], c.lr, c.mom, c.wd)
#define ET_UPD_ADAM(w, g, M, V, i) et_adam_c((w), (g), &(M)[i], &(V)[i], c.adam)

#define ET_FUSED_NAME et_fused_sgd
#define ET_FUSED_UPD ET_UPD_SGD
#include "et_dense_f32_backward_body.h"

#define ET_FUSED_NAME et_fused_sgdm
#define ET_FUSED_UPD ET_UPD_SGDM
#include "et_dense_f32_backward_body.h"

#define ET_FUSED_NAME et_fused_adam
#define ET_FUSED_UPD ET_UPD_ADAM
#include "et_dense_f32_backward_body.h"

et_status et_dense_f32_backward_update(const et_dense_f32_params *p, const et_optimizer *opt,
                                       const float *input, const float *dy, et_param_f32 *weights,
                                       et_param_f32 *bias, float *dx)
{
    et_fused_consts c;
    const et_status st = et_dense_bwd_update_check(p, opt, input, dy, weights, bias);
    if (st != ET_OK) {
        return st;
    }
    if (opt == 0) {
        /* Allowed only when nothing trains (the check passed): dx alone, SGD loop unused. */
        if (dx != 0) {
            return et_dense_f32_backward_input(p, dy, weights->value, dx);
        }
        return ET_OK;
    }
    c.lr = opt->sgd.lr;
    c.mom = opt->sgd.momentum;
    c.wd = opt->sgd.weight_decay;
    if (opt->kind == ET_OPTIM_ADAM) {
        c.adam = et_adam_consts_of(&opt->adam, &opt->step);
        et_fused_adam(p, &c, input, dy, weights, bias, dx);
    } else {
        const et_adam_consts unused = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
        c.adam = unused;
        if (opt->sgd.momentum != 0.0f) {
            et_fused_sgdm(p, &c, input, dy, weights, bias, dx);
        } else {
            et_fused_sgd(p, &c, input, dy, weights, bias, dx);
        }
    }
    if (weights->trainable) {
        et_param_apply_mask(weights, p->n_out * p->n_in);
    }
    return ET_OK;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Reference dense backward kernels: plain loops in the order of the formulas (the contract the
 * fast kernels in et_dense_f32_backward.c are tested against). */
#include "et_dense_train_check.h"
#include "et_optim_impl.h"
#include "et_train.h"

et_status et_dense_f32_backward_input_ref(const et_dense_f32_params *p, const float *dy,
                                          const float *weights, float *dx)
{
    int32_t b;
    int32_t o;
    int32_t k;
    const et_status st = et_dense_bwd_shape_check(p);
    if (st != ET_OK) {
        return st;
    }
    if (dy == 0 || weights == 0 || dx == 0) {
        return ET_ERR_NULL_ARG;
    }
    for (b = 0; b < p->batch; ++b) {
        const float *g = dy + (int32_t)(b * p->n_out);
        float *d = dx + (int32_t)(b * p->n_in);
        for (k = 0; k < p->n_in; ++k) {
            float acc = 0.0f;
            for (o = 0; o < p->n_out; ++o) {
                acc += g[o] * weights[(int32_t)(o * p->n_in) + k];
            }
            d[k] = acc;
        }
    }
    return ET_OK;
}

et_status et_dense_f32_backward_params_ref(const et_dense_f32_params *p, const float *input,
                                           const float *dy, float *dweights, float *dbias,
                                           int32_t accumulate)
{
    int32_t b;
    int32_t o;
    int32_t k;
    const et_status st = et_dense_bwd_shape_check(p);
    if (st != ET_OK) {
        return st;
    }
    if (input == 0 || dy == 0 || dweights == 0) {
        return ET_ERR_NULL_ARG;
    }
    for (o = 0; o < p->n_out; ++o) {
        for (k = 0; k < p->n_in; ++k) {
            float acc = 0.0f;
            for (b = 0; b < p->batch; ++b) {
                acc += dy[(int32_t)(b * p->n_out) + o] * input[(int32_t)(b * p->n_in) + k];
            }
            float *dw = &dweights[(int32_t)(o * p->n_in) + k];
            *dw = accumulate ? *dw + acc : acc;
        }
        if (dbias != 0) {
            float acc = 0.0f;
            for (b = 0; b < p->batch; ++b) {
                acc += dy[(int32_t)(b * p->n_out) + o];
            }
            dbias[o] = accumulate ? dbias[o] + acc : acc;
        }
    }
    return ET_OK;
}

/* One element through the selected optimizer (the reference may branch per element). */
static float et_ref_update(const et_optimizer *opt, const et_param_f32 *t, int32_t i, float g)
{
    const float w = t->value[i];
    if (opt->kind == ET_OPTIM_ADAM) {
        return et_adam_elem(w, g, &t->m[i], &t->v[i], &opt->adam, &opt->step);
    }
    if (opt->sgd.momentum != 0.0f) {
        return et_sgd_momentum(w, g, &t->m[i], opt->sgd.lr, opt->sgd.momentum, opt->sgd.weight_decay);
    }
    return et_sgd_plain(w, g, opt->sgd.lr, opt->sgd.weight_decay);
}

et_status et_dense_f32_backward_update_ref(const et_dense_f32_params *p, const et_optimizer *opt,
                                           const float *input, const float *dy,
                                           et_param_f32 *weights, et_param_f32 *bias, float *dx)
{
    int32_t b;
    int32_t o;
    int32_t k;
    const et_status st = et_dense_bwd_update_check(p, opt, input, dy, weights, bias);
    if (st != ET_OK) {
        return st;
    }
    /* dx first, from the weights as they are before this step's update. */
    if (dx != 0) {
        const et_status sx = et_dense_f32_backward_input_ref(p, dy, weights->value, dx);
        if (sx != ET_OK) {
            return sx;
        }
    }
    for (o = 0; o < p->n_out; ++o) {
        if (weights->trainable) {
            for (k = 0; k < p->n_in; ++k) {
                float g = 0.0f;
                const int32_t i = (int32_t)(o * p->n_in) + k;
                for (b = 0; b < p->batch; ++b) {
                    g += dy[(int32_t)(b * p->n_out) + o] * input[(int32_t)(b * p->n_in) + k];
                }
                weights->value[i] = et_ref_update(opt, weights, i, g);
            }
        }
        if (bias != 0 && bias->trainable) {
            float g = 0.0f;
            for (b = 0; b < p->batch; ++b) {
                g += dy[(int32_t)(b * p->n_out) + o];
            }
            bias->value[o] = et_ref_update(opt, bias, o, g);
        }
    }
    if (weights->trainable) {
        et_param_apply_mask(weights, p->n_out * p->n_in);
    }
    return ET_OK;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Reference shared-weight dense kernels: plain loops in the summation orders of et_shared.h (the
 * contract the fast kernels in et_dense_f32_shared.c are tested against, bit for bit). */
#include "et_optim_impl.h"
#include "et_shared.h"
#include "et_shared_check.h"

et_status et_dense_f32_shared_ref(const et_dense_f32_params *p, const float *input,
                                  const float *codebook, const uint16_t *indices,
                                  const float *bias, float *output)
{
    int32_t b;
    int32_t o;
    int32_t k;
    const et_status st = et_shared_fwd_check(p, input, codebook, indices, output);
    if (st != ET_OK) {
        return st;
    }
    for (b = 0; b < p->batch; ++b) {
        const float *x = input + (int32_t)(b * p->n_in);
        float *y = output + (int32_t)(b * p->n_out);
        for (o = 0; o < p->n_out; ++o) {
            const uint16_t *idx = indices + (int32_t)(o * p->n_in);
            float acc = bias != 0 ? bias[o] : 0.0f;
            for (k = 0; k < p->n_in; ++k) {
                if (idx[k] != ET_SHARED_NONE) {
                    acc += x[k] * codebook[idx[k]];
                }
            }
            y[o] = acc < p->act_min ? p->act_min : (acc > p->act_max ? p->act_max : acc);
        }
    }
    return ET_OK;
}

/* One element through the selected optimizer (the reference may branch per element); the same
 * function as in et_dense_f32_backward_ref.c. */
static float et_shared_ref_update(const et_optimizer *opt, const et_param_f32 *t, int32_t i,
                                  float g)
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

et_status et_dense_f32_shared_backward_update_ref(const et_dense_f32_params *p,
                                                  const et_optimizer *opt, const float *input,
                                                  const float *dy, et_param_f32 *codebook,
                                                  int32_t n_slots, const uint16_t *indices,
                                                  float *slot_grad, et_param_f32 *bias, float *dx)
{
    int32_t b;
    int32_t o;
    int32_t k;
    int32_t s;
    const et_status st = et_shared_bwd_check(p, opt, input, dy, codebook, n_slots, indices,
                                             slot_grad, bias);
    int32_t train;
    if (st != ET_OK) {
        return st;
    }
    train = codebook->trainable;
    if (dx != 0) {
        for (k = 0; k < p->batch * p->n_in; ++k) {
            dx[k] = 0.0f;
        }
    }
    if (train) {
        for (s = 0; s < n_slots; ++s) {
            slot_grad[s] = 0.0f;
        }
    }
    /* One pass over the entries in row-major order: dx from the codebook as it is before this
     * step's update, and each entry's batch-summed gradient into its slot. Nothing is updated
     * before the pass has checked every index. */
    if (train || dx != 0) {
        for (o = 0; o < p->n_out; ++o) {
            for (k = 0; k < p->n_in; ++k) {
                const uint16_t idx = indices[(int32_t)(o * p->n_in) + k];
                float w;
                if (idx == ET_SHARED_NONE) {
                    continue;
                }
                if ((int32_t)idx >= n_slots) {
                    return ET_ERR_BAD_PARAM;
                }
                w = codebook->value[idx];
                if (dx != 0) {
                    for (b = 0; b < p->batch; ++b) {
                        dx[(int32_t)(b * p->n_in) + k] += dy[(int32_t)(b * p->n_out) + o] * w;
                    }
                }
                if (train) {
                    float g = 0.0f;
                    for (b = 0; b < p->batch; ++b) {
                        g += dy[(int32_t)(b * p->n_out) + o] * input[(int32_t)(b * p->n_in) + k];
                    }
                    slot_grad[idx] += g;
                }
            }
        }
    }
    if (bias != 0 && bias->trainable) {
        for (o = 0; o < p->n_out; ++o) {
            float g = 0.0f;
            for (b = 0; b < p->batch; ++b) {
                g += dy[(int32_t)(b * p->n_out) + o];
            }
            bias->value[o] = et_shared_ref_update(opt, bias, o, g);
        }
    }
    if (train) {
        for (s = 0; s < n_slots; ++s) {
            codebook->value[s] = et_shared_ref_update(opt, codebook, s, slot_grad[s]);
        }
    }
    return ET_OK;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Fast shared-weight dense kernels (et_shared.h): the forward with four output rows per pass
 * sharing each input load, the fused backward with loops specialised for batch 1 and for what is
 * computed, and one optimizer loop per kind with its constants in locals.
 *
 * They keep the summation orders of the contract exactly (each row's accumulator still walks k
 * upwards; the entries still reach slot_grad in row-major order), so without fused multiply-add
 * contraction they are bit-identical with the `_ref` kernels. Rows are not blocked in the backward:
 * two rows' entries of the same slot would reach slot_grad out of row-major order. */
#include "et_optim_impl.h"
#include "et_shared.h"
#include "et_shared_check.h"

et_status et_shared_indices_check(const uint16_t *indices, int32_t n, int32_t n_slots)
{
    int32_t i;
    if (indices == 0) {
        return ET_ERR_NULL_ARG;
    }
    if (n < 1 || n_slots < 1) {
        return ET_ERR_BAD_SHAPE;
    }
    if (n_slots > ET_SHARED_MAX_SLOTS) {
        return ET_ERR_BAD_PARAM;
    }
    for (i = 0; i < n; ++i) {
        if (indices[i] != ET_SHARED_NONE && (int32_t)indices[i] >= n_slots) {
            return ET_ERR_BAD_PARAM;
        }
    }
    return ET_OK;
}

int32_t et_dense_f32_shared_scratch_bytes(int32_t n_slots)
{
    if (n_slots < 1 || n_slots > ET_SHARED_MAX_SLOTS) {
        return -1;
    }
    return n_slots * (int32_t)sizeof(float);
}

static inline float et_shared_clampf(float v, float lo, float hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

et_status et_dense_f32_shared(const et_dense_f32_params *p, const float *input,
                              const float *codebook, const uint16_t *indices, const float *bias,
                              float *output)
{
    int32_t b;
    const et_status st = et_shared_fwd_check(p, input, codebook, indices, output);
    if (st != ET_OK) {
        return st;
    }
    for (b = 0; b < p->batch; ++b) {
        const int32_t n_in = p->n_in;
        const float lo = p->act_min;
        const float hi = p->act_max;
        const float *x = input + (int32_t)(b * n_in);
        float *y = output + (int32_t)(b * p->n_out);
        int32_t o = 0;
        int32_t k;
        /* Four rows per pass: each input is loaded once per four rows; every row keeps its own
         * accumulator, summed over k upwards as in the reference. */
        for (; o + 4 <= p->n_out; o += 4) {
            const uint16_t *i0 = indices + (int32_t)(o * n_in);
            const uint16_t *i1 = i0 + n_in;
            const uint16_t *i2 = i1 + n_in;
            const uint16_t *i3 = i2 + n_in;
            float a0 = bias != 0 ? bias[o] : 0.0f;
            float a1 = bias != 0 ? bias[o + 1] : 0.0f;
            float a2 = bias != 0 ? bias[o + 2] : 0.0f;
            float a3 = bias != 0 ? bias[o + 3] : 0.0f;
            for (k = 0; k < n_in; ++k) {
                const float xv = x[k];
                const uint32_t s0 = i0[k];
                const uint32_t s1 = i1[k];
                const uint32_t s2 = i2[k];
                const uint32_t s3 = i3[k];
                if (s0 != ET_SHARED_NONE) {
                    a0 += xv * codebook[s0];
                }
                if (s1 != ET_SHARED_NONE) {
                    a1 += xv * codebook[s1];
                }
                if (s2 != ET_SHARED_NONE) {
                    a2 += xv * codebook[s2];
                }
                if (s3 != ET_SHARED_NONE) {
                    a3 += xv * codebook[s3];
                }
            }
            y[o] = et_shared_clampf(a0, lo, hi);
            y[o + 1] = et_shared_clampf(a1, lo, hi);
            y[o + 2] = et_shared_clampf(a2, lo, hi);
            y[o + 3] = et_shared_clampf(a3, lo, hi);
        }
        for (; o < p->n_out; ++o) {
            const uint16_t *i0 = indices + (int32_t)(o * n_in);
            float a0 = bias != 0 ? bias[o] : 0.0f;
            for (k = 0; k < n_in; ++k) {
                const uint32_t s0 = i0[k];
                if (s0 != ET_SHARED_NONE) {
                    a0 += x[k] * codebook[s0];
                }
            }
            y[o] = et_shared_clampf(a0, lo, hi);
        }
    }
    return ET_OK;
}

/* The pass over the entries (row-major) for batch 1: dx[k] += dy[o] W[o][k] (old codebook) and
 * slot_grad[s] += dy[o] x[k]. The reference forms g = 0.0f + dy[o] x[k] first; dropping the
 * 0.0f + changes only a -0.0 product into +0.0, and adding either to slot_grad[s] gives the same
 * value (slot_grad starts at +0.0 and a round-to-nearest sum is -0.0 only when both terms are, so
 * it is never -0.0). A single compare screens both ET_SHARED_NONE and a bad index, because
 * ET_SHARED_NONE >= n_slots. */
static et_status et_shared_pass_b1(const et_dense_f32_params *p, const float *x, const float *dy,
                                   const float *cb, uint32_t n_slots, const uint16_t *indices,
                                   float *sg, float *dx)
{
    const int32_t n_in = p->n_in;
    int32_t o;
    int32_t k;
    for (o = 0; o < p->n_out; ++o) {
        const float d = dy[o];
        const uint16_t *ir = indices + (int32_t)(o * n_in);
        if (sg != 0 && dx != 0) {
            for (k = 0; k < n_in; ++k) {
                const uint32_t s = ir[k];
                if (s >= n_slots) {
                    if (s != ET_SHARED_NONE) {
                        return ET_ERR_BAD_PARAM;
                    }
                    continue;
                }
                dx[k] += d * cb[s];
                sg[s] += d * x[k];
            }
        } else if (sg != 0) {
            for (k = 0; k < n_in; ++k) {
                const uint32_t s = ir[k];
                if (s >= n_slots) {
                    if (s != ET_SHARED_NONE) {
                        return ET_ERR_BAD_PARAM;
                    }
                    continue;
                }
                sg[s] += d * x[k];
            }
        } else {
            for (k = 0; k < n_in; ++k) {
                const uint32_t s = ir[k];
                if (s >= n_slots) {
                    if (s != ET_SHARED_NONE) {
                        return ET_ERR_BAD_PARAM;
                    }
                    continue;
                }
                dx[k] += d * cb[s];
            }
        }
    }
    return ET_OK;
}

/* Any batch: per entry, dx[b][k] += dy[b][o] W[o][k] for every sample, and the batch sum of
 * dy[b][o] x[b][k] (from 0.0f, b upwards, as the reference) into its slot. sg or dx may be NULL. */
static et_status et_shared_pass(const et_dense_f32_params *p, const float *x, const float *dy,
                                const float *cb, uint32_t n_slots, const uint16_t *indices,
                                float *sg, float *dx)
{
    const int32_t n_in = p->n_in;
    const int32_t n_out = p->n_out;
    const int32_t batch = p->batch;
    int32_t o;
    int32_t k;
    int32_t b;
    for (o = 0; o < n_out; ++o) {
        const uint16_t *ir = indices + (int32_t)(o * n_in);
        for (k = 0; k < n_in; ++k) {
            const uint32_t s = ir[k];
            if (s >= n_slots) {
                if (s != ET_SHARED_NONE) {
                    return ET_ERR_BAD_PARAM;
                }
                continue;
            }
            if (dx != 0) {
                const float w = cb[s];
                for (b = 0; b < batch; ++b) {
                    dx[b * n_in + k] += dy[b * n_out + o] * w;
                }
            }
            if (sg != 0) {
                float g = 0.0f;
                for (b = 0; b < batch; ++b) {
                    g += dy[b * n_out + o] * x[b * n_in + k];
                }
                sg[s] += g;
            }
        }
    }
    return ET_OK;
}

/* w[i] updated with gradient g[i] for the n slot values, one straight loop per optimizer with the
 * element functions of et_optim_impl.h (the fused dense kernels' rules). */
static void et_shared_update_slots(const et_optimizer *opt, et_param_f32 *t, const float *g,
                                   int32_t n)
{
    float *const w = t->value;
    float *const m = t->m;
    float *const v = t->v;
    int32_t i;
    if (opt->kind == ET_OPTIM_ADAM) {
        const et_adam_consts c = et_adam_consts_of(&opt->adam, &opt->step);
        for (i = 0; i < n; ++i) {
            w[i] = et_adam_c(w[i], g[i], &m[i], &v[i], c);
        }
    } else if (opt->sgd.momentum != 0.0f) {
        const float lr = opt->sgd.lr;
        const float mom = opt->sgd.momentum;
        const float wd = opt->sgd.weight_decay;
        for (i = 0; i < n; ++i) {
            w[i] = et_sgd_momentum(w[i], g[i], &m[i], lr, mom, wd);
        }
    } else {
        const float lr = opt->sgd.lr;
        const float wd = opt->sgd.weight_decay;
        for (i = 0; i < n; ++i) {
            w[i] = et_sgd_plain(w[i], g[i], lr, wd);
        }
    }
}

/* The bias: gradient sum_b dy[b][o] (b upwards), then the update, per output. */
static void et_shared_update_bias(const et_dense_f32_params *p, const et_optimizer *opt,
                                  const float *dy, et_param_f32 *t)
{
    const int32_t n_out = p->n_out;
    const int32_t batch = p->batch;
    float *const w = t->value;
    float *const m = t->m;
    float *const v = t->v;
    int32_t o;
    int32_t b;
    for (o = 0; o < n_out; ++o) {
        float g = 0.0f;
        for (b = 0; b < batch; ++b) {
            g += dy[b * n_out + o];
        }
        if (opt->kind == ET_OPTIM_ADAM) {
            w[o] = et_adam_elem(w[o], g, &m[o], &v[o], &opt->adam, &opt->step);
        } else if (opt->sgd.momentum != 0.0f) {
            w[o] = et_sgd_momentum(w[o], g, &m[o], opt->sgd.lr, opt->sgd.momentum,
                                   opt->sgd.weight_decay);
        } else {
            w[o] = et_sgd_plain(w[o], g, opt->sgd.lr, opt->sgd.weight_decay);
        }
    }
}

et_status et_dense_f32_shared_backward_update(const et_dense_f32_params *p,
                                              const et_optimizer *opt, const float *input,
                                              const float *dy, et_param_f32 *codebook,
                                              int32_t n_slots, const uint16_t *indices,
                                              float *slot_grad, et_param_f32 *bias, float *dx)
{
    int32_t i;
    float *sg;
    const et_status st = et_shared_bwd_check(p, opt, input, dy, codebook, n_slots, indices,
                                             slot_grad, bias);
    if (st != ET_OK) {
        return st;
    }
    sg = codebook->trainable ? slot_grad : 0;
    if (dx != 0) {
        for (i = 0; i < p->batch * p->n_in; ++i) {
            dx[i] = 0.0f;
        }
    }
    if (sg != 0) {
        for (i = 0; i < n_slots; ++i) {
            sg[i] = 0.0f;
        }
    }
    /* Every index is checked before anything is updated. */
    if (sg != 0 || dx != 0) {
        const et_status sp =
            p->batch == 1
                ? et_shared_pass_b1(p, input, dy, codebook->value, (uint32_t)n_slots, indices, sg, dx)
                : et_shared_pass(p, input, dy, codebook->value, (uint32_t)n_slots, indices, sg, dx);
        if (sp != ET_OK) {
            return sp;
        }
    }
    if (bias != 0 && bias->trainable) {
        et_shared_update_bias(p, opt, dy, bias);
    }
    if (sg != 0) {
        et_shared_update_slots(opt, codebook, sg, n_slots);
    }
    return ET_OK;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Argument validation shared by the dense backward kernels (private to the runtime sources). */
#ifndef ET_DENSE_TRAIN_CHECK_H
#define ET_DENSE_TRAIN_CHECK_H

#include "et_train.h"

static inline et_status et_dense_bwd_shape_check(const et_dense_f32_params *p)
{
    if (p == 0) {
        return ET_ERR_NULL_ARG;
    }
    if (p->batch <= 0 || p->n_in <= 0 || p->n_out <= 0) {
        return ET_ERR_BAD_SHAPE;
    }
    return ET_OK;
}

/* The arguments every fused backward + update kernel (dense, conv) shares, shapes aside: what
 * must be present depends on what trains. */
static inline et_status et_param_update_check(const et_optimizer *opt, const float *input,
                                              const float *dy, const et_param_f32 *w,
                                              const et_param_f32 *b)
{
    const int32_t train_any = (w != 0 && w->trainable) || (b != 0 && b->trainable);
    if (dy == 0 || w == 0 || w->value == 0 || (b != 0 && b->value == 0)) {
        return ET_ERR_NULL_ARG;
    }
    if (w->trainable && input == 0) {
        return ET_ERR_NULL_ARG;
    }
    if (!train_any) {
        return ET_OK;
    }
    {
        const et_status ost = et_optimizer_check(opt);
        if (ost != ET_OK) {
            return ost;
        }
    }
    /* Slots every trainable tensor needs under this optimizer. */
    {
        const int32_t need_m = opt->kind == ET_OPTIM_ADAM || opt->sgd.momentum != 0.0f;
        const int32_t need_v = opt->kind == ET_OPTIM_ADAM;
        if (w->trainable && ((need_m && w->m == 0) || (need_v && w->v == 0))) {
            return ET_ERR_NULL_ARG;
        }
        if (b != 0 && b->trainable && ((need_m && b->m == 0) || (need_v && b->v == 0))) {
            return ET_ERR_NULL_ARG;
        }
    }
    return ET_OK;
}

/* The fused dense kernels' arguments. */
static inline et_status et_dense_bwd_update_check(const et_dense_f32_params *p,
                                                  const et_optimizer *opt, const float *input,
                                                  const float *dy, const et_param_f32 *w,
                                                  const et_param_f32 *b)
{
    const et_status st = et_dense_bwd_shape_check(p);
    if (st != ET_OK) {
        return st;
    }
    return et_param_update_check(opt, input, dy, w, b);
}

#endif /* ET_DENSE_TRAIN_CHECK_H */

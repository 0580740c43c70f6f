/* SPDX-License-Identifier: Apache-2.0 */
/* Argument validation shared by the dense kernels (private to the runtime sources). */
#ifndef ET_DENSE_CHECK_H
#define ET_DENSE_CHECK_H

#include "et_dense.h"

static inline et_status et_dense_f32_check(const et_dense_f32_params *p, const float *in,
                                           const float *w, const float *out)
{
    if (p == 0 || in == 0 || w == 0 || out == 0) {
        return ET_ERR_NULL_ARG;
    }
    if (p->batch <= 0 || p->n_in <= 0 || p->n_out <= 0) {
        return ET_ERR_BAD_SHAPE;
    }
    /* Written as a negation so that a NaN bound is rejected too. */
    if (!(p->act_min <= p->act_max)) {
        return ET_ERR_BAD_PARAM;
    }
    return ET_OK;
}

static inline et_status et_dense_s8_check(const et_dense_s8_params *p, const int8_t *in,
                                          const int8_t *w, const int8_t *out)
{
    if (p == 0 || in == 0 || w == 0 || out == 0 || p->multipliers == 0 || p->shifts == 0) {
        return ET_ERR_NULL_ARG;
    }
    if (p->batch <= 0 || p->n_in <= 0 || p->n_out <= 0) {
        return ET_ERR_BAD_SHAPE;
    }
    if (p->act_min < -128 || p->act_max > 127 || p->act_min > p->act_max ||
        p->input_offset < -127 || p->input_offset > 128 || p->output_offset < -128 ||
        p->output_offset > 127) {
        return ET_ERR_BAD_PARAM;
    }
    return ET_OK;
}

#endif /* ET_DENSE_CHECK_H */

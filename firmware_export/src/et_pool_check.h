/* SPDX-License-Identifier: Apache-2.0 */
/* Argument validation and window clipping shared by the float32 pool kernels, forward and
 * backward (private to the runtime sources). */
#ifndef ET_POOL_CHECK_H
#define ET_POOL_CHECK_H

#include "et_conv.h"
#include "et_pool.h"

/* The argument rules of et_pool.h: non-NULL buffers, a valid geometry, out_c == in_c,
 * dilation 1 and act_min <= act_max. */
static inline et_status et_pool_f32_check(const et_pool_f32_params *p, const float *a, const float *b)
{
    et_status st;
    if (p == 0 || a == 0 || b == 0) {
        return ET_ERR_NULL_ARG;
    }
    st = et_conv_geom_check(&p->geom);
    if (st != ET_OK) {
        return st;
    }
    if (p->geom.out_c != p->geom.in_c) {
        return ET_ERR_BAD_SHAPE;
    }
    if (p->geom.dilation_h != 1 || p->geom.dilation_w != 1 || !(p->act_min <= p->act_max)) {
        return ET_ERR_BAD_PARAM;
    }
    return ET_OK;
}

/* [lo, hi): the window positions start .. start + k - 1 clipped to [0, n). Non-empty under the
 * pad rule (every pad <= k - 1). */
static inline void et_pool_range(int32_t start, int32_t k, int32_t n, int32_t *lo, int32_t *hi)
{
    *lo = start < 0 ? 0 : start;
    *hi = start + k > n ? n : start + k;
}

/* The argument rules of et_pool.h's float32 global average pool. */
static inline et_status et_global_pool_f32_check(const et_global_pool_f32_params *p, const float *a,
                                                 const float *b)
{
    if (p == 0 || a == 0 || b == 0) {
        return ET_ERR_NULL_ARG;
    }
    if (p->batch < 1 || p->in_h < 1 || p->in_w < 1 || p->channels < 1 ||
        (int64_t)p->in_h * p->in_w > INT32_MAX / p->channels ||
        (int64_t)p->in_h * p->in_w * p->channels > INT32_MAX / p->batch) {
        return ET_ERR_BAD_SHAPE;
    }
    if (!(p->act_min <= p->act_max)) {
        return ET_ERR_BAD_PARAM;
    }
    return ET_OK;
}

#endif /* ET_POOL_CHECK_H */

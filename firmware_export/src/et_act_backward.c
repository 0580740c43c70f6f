/* SPDX-License-Identifier: Apache-2.0 */
/* Backward of the element-wise activations and of tensor joins (see et_train.h). */
#include "et_train.h"

et_status et_relu_f32_backward(const float *y, float *dy, int32_t n)
{
    int32_t i;
    if (y == 0 || dy == 0) {
        return ET_ERR_NULL_ARG;
    }
    if (n <= 0) {
        return ET_ERR_BAD_SHAPE;
    }
    /* The mask comes from the output: y > 0 exactly where the input was > 0. */
    for (i = 0; i < n; ++i) {
        dy[i] = y[i] > 0.0f ? dy[i] : 0.0f;
    }
    return ET_OK;
}

et_status et_relu6_f32_backward(const float *y, float *dy, int32_t n)
{
    int32_t i;
    if (y == 0 || dy == 0) {
        return ET_ERR_NULL_ARG;
    }
    if (n <= 0) {
        return ET_ERR_BAD_SHAPE;
    }
    /* Both clamped regions (y == 0 and y == 6) pass no gradient, as in the numpy engine. */
    for (i = 0; i < n; ++i) {
        dy[i] = (y[i] > 0.0f && y[i] < 6.0f) ? dy[i] : 0.0f;
    }
    return ET_OK;
}

et_status et_grad_accumulate_f32(float *acc, const float *g, int32_t n)
{
    int32_t i;
    if (acc == 0 || g == 0) {
        return ET_ERR_NULL_ARG;
    }
    if (n <= 0) {
        return ET_ERR_BAD_SHAPE;
    }
    for (i = 0; i < n; ++i) {
        acc[i] += g[i];
    }
    return ET_OK;
}

et_status et_copy_f32(const float *src, float *dst, int32_t n)
{
    int32_t i;
    if (src == 0 || dst == 0) {
        return ET_ERR_NULL_ARG;
    }
    if (n <= 0) {
        return ET_ERR_BAD_SHAPE;
    }
    for (i = 0; i < n; ++i) {
        dst[i] = src[i];
    }
    return ET_OK;
}

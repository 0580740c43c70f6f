/* SPDX-License-Identifier: Apache-2.0 */
/* Float32 backward of leaky_relu, sigmoid, tanh and hard_swish, in place on dy
 * (see et_activation.h for the rules; they are the numpy engine's). */
#include "et_activation.h"

static et_status et_check_backward(const float *saved, const float *dy, int32_t n)
{
    if (saved == 0 || dy == 0) {
        return ET_ERR_NULL_ARG;
    }
    if (n <= 0) {
        return ET_ERR_BAD_SHAPE;
    }
    return ET_OK;
}

et_status et_leaky_relu_f32_backward(const float *y, float *dy, int32_t n, float alpha)
{
    int32_t i;
    const et_status st = et_check_backward(y, dy, n);
    if (st != ET_OK) {
        return st;
    }
    if (!(alpha > 0.0f && alpha < 1.0f)) {
        return ET_ERR_BAD_PARAM;
    }
    for (i = 0; i < n; ++i) {
        dy[i] = y[i] > 0.0f ? dy[i] : dy[i] * alpha;
    }
    return ET_OK;
}

et_status et_sigmoid_f32_backward(const float *y, float *dy, int32_t n)
{
    int32_t i;
    const et_status st = et_check_backward(y, dy, n);
    if (st != ET_OK) {
        return st;
    }
    for (i = 0; i < n; ++i) {
        const float s = y[i];
        dy[i] = dy[i] * (s * (1.0f - s));
    }
    return ET_OK;
}

et_status et_tanh_f32_backward(const float *y, float *dy, int32_t n)
{
    int32_t i;
    const et_status st = et_check_backward(y, dy, n);
    if (st != ET_OK) {
        return st;
    }
    for (i = 0; i < n; ++i) {
        const float t = y[i];
        dy[i] = dy[i] * (1.0f - t * t);
    }
    return ET_OK;
}

et_status et_hard_swish_f32_backward(const float *x, float *dy, int32_t n)
{
    int32_t i;
    const et_status st = et_check_backward(x, dy, n);
    if (st != ET_OK) {
        return st;
    }
    for (i = 0; i < n; ++i) {
        const float v = x[i];
        /* Slope 0 below -3, 1 above 3, x / 3 + 0.5 on [-3, 3] (kinks take the middle formula). */
        float d = v / 3.0f + 0.5f;
        d = v < -3.0f ? 0.0f : d;
        d = v > 3.0f ? 1.0f : d;
        dy[i] = d * dy[i];
    }
    return ET_OK;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Float32 forward of leaky_relu, sigmoid, tanh and hard_swish (see et_activation.h). */
#include <math.h>

#include "et_activation.h"

static et_status et_check_unary(const float *input, const float *output, int32_t n)
{
    if (input == 0 || output == 0) {
        return ET_ERR_NULL_ARG;
    }
    if (n <= 0) {
        return ET_ERR_BAD_SHAPE;
    }
    return ET_OK;
}

et_status et_leaky_relu_f32(const float *input, float *output, int32_t n, float alpha)
{
    int32_t i;
    const et_status st = et_check_unary(input, output, n);
    if (st != ET_OK) {
        return st;
    }
    if (!(alpha > 0.0f && alpha < 1.0f)) {
        return ET_ERR_BAD_PARAM;
    }
    for (i = 0; i < n; ++i) {
        const float v = input[i];
        output[i] = v > 0.0f ? v : alpha * v;
    }
    return ET_OK;
}

et_status et_sigmoid_f32(const float *input, float *output, int32_t n)
{
    int32_t i;
    const et_status st = et_check_unary(input, output, n);
    if (st != ET_OK) {
        return st;
    }
    for (i = 0; i < n; ++i) {
        const float v = input[i];
        /* expf of a non-positive argument only: it cannot overflow. */
        if (v >= 0.0f) {
            output[i] = 1.0f / (1.0f + expf(-v));
        } else {
            const float e = expf(v);
            output[i] = e / (1.0f + e);
        }
    }
    return ET_OK;
}

et_status et_tanh_f32(const float *input, float *output, int32_t n)
{
    int32_t i;
    const et_status st = et_check_unary(input, output, n);
    if (st != ET_OK) {
        return st;
    }
    for (i = 0; i < n; ++i) {
        output[i] = tanhf(input[i]);
    }
    return ET_OK;
}

et_status et_hard_swish_f32(const float *input, float *output, int32_t n)
{
    int32_t i;
    const et_status st = et_check_unary(input, output, n);
    if (st != ET_OK) {
        return st;
    }
    for (i = 0; i < n; ++i) {
        const float v = input[i];
        float t = v + 3.0f;
        t = t > 0.0f ? t : 0.0f;
        t = t < 6.0f ? t : 6.0f;
        output[i] = (v * t) / 6.0f;
    }
    return ET_OK;
}

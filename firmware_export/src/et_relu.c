/* SPDX-License-Identifier: Apache-2.0 */
#include "et_elementwise.h"

et_status et_relu_f32(const float *input, float *output, int32_t n)
{
    int32_t i;
    if (input == 0 || output == 0) {
        return ET_ERR_NULL_ARG;
    }
    if (n <= 0) {
        return ET_ERR_BAD_SHAPE;
    }
    for (i = 0; i < n; ++i) {
        output[i] = input[i] > 0.0f ? input[i] : 0.0f;
    }
    return ET_OK;
}

et_status et_relu6_f32(const float *input, float *output, int32_t n)
{
    int32_t i;
    if (input == 0 || output == 0) {
        return ET_ERR_NULL_ARG;
    }
    if (n <= 0) {
        return ET_ERR_BAD_SHAPE;
    }
    for (i = 0; i < n; ++i) {
        const float v = input[i] > 0.0f ? input[i] : 0.0f;
        output[i] = v < 6.0f ? v : 6.0f;
    }
    return ET_OK;
}

static et_status et_clamp_s8(const int8_t *input, int8_t *output, int32_t n, int32_t lo, int32_t hi)
{
    int32_t i;
    if (input == 0 || output == 0) {
        return ET_ERR_NULL_ARG;
    }
    if (n <= 0) {
        return ET_ERR_BAD_SHAPE;
    }
    if (lo < -128 || lo > 127) {
        return ET_ERR_BAD_PARAM;
    }
    for (i = 0; i < n; ++i) {
        const int32_t v = input[i];
        output[i] = (int8_t)(v < lo ? lo : (v > hi ? hi : v));
    }
    return ET_OK;
}

et_status et_relu_s8(const int8_t *input, int8_t *output, int32_t n, int32_t zero_point)
{
    return et_clamp_s8(input, output, n, zero_point, 127);
}

et_status et_relu6_s8(const int8_t *input, int8_t *output, int32_t n, int32_t zero_point,
                      int32_t six_q)
{
    /* A quantized 6.0 above the int8 range means the upper clamp never bites. */
    const int32_t hi = six_q > 127 ? 127 : six_q;
    if (hi < zero_point) {
        return ET_ERR_BAD_PARAM;
    }
    return et_clamp_s8(input, output, n, zero_point, hi);
}

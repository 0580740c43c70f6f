/* SPDX-License-Identifier: Apache-2.0 */
#include "et_elementwise.h"
#include "et_requant.h"

et_status et_add_f32(const float *a, const float *b, float *output, int32_t n, float act_min,
                     float act_max)
{
    int32_t i;
    if (a == 0 || b == 0 || output == 0) {
        return ET_ERR_NULL_ARG;
    }
    if (n <= 0) {
        return ET_ERR_BAD_SHAPE;
    }
    if (!(act_min <= act_max)) {
        return ET_ERR_BAD_PARAM;
    }
    for (i = 0; i < n; ++i) {
        const float v = a[i] + b[i];
        output[i] = v < act_min ? act_min : (v > act_max ? act_max : v);
    }
    return ET_OK;
}

et_status et_add_s8(const et_add_s8_params *p, const int8_t *a, const int8_t *b, int8_t *output,
                    int32_t n)
{
    int32_t i;
    if (p == 0 || a == 0 || b == 0 || output == 0) {
        return ET_ERR_NULL_ARG;
    }
    if (n <= 0) {
        return ET_ERR_BAD_SHAPE;
    }
    if (p->left_shift < 0 || p->left_shift > 22 || p->act_min < -128 || p->act_max > 127 ||
        p->act_min > p->act_max) {
        return ET_ERR_BAD_PARAM;
    }
    for (i = 0; i < n; ++i) {
        /* (x + offset) fits 9 bits and left_shift <= 22, so the shift cannot overflow. */
        const int32_t a_shifted = (int32_t)(((int32_t)a[i] + p->input1_offset) * ((int32_t)1 << p->left_shift));
        const int32_t b_shifted = (int32_t)(((int32_t)b[i] + p->input2_offset) * ((int32_t)1 << p->left_shift));
        const int32_t a_scaled = et_mbqm(a_shifted, p->input1_multiplier, p->input1_shift);
        const int32_t b_scaled = et_mbqm(b_shifted, p->input2_multiplier, p->input2_shift);
        const int32_t sum = a_scaled + b_scaled;
        const int32_t out = et_mbqm(sum, p->output_multiplier, p->output_shift) + p->output_offset;
        output[i] = (int8_t)et_clamp_i32(out, p->act_min, p->act_max);
    }
    return ET_OK;
}

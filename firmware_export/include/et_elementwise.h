/* SPDX-License-Identifier: Apache-2.0 */
/* edgetrain runtime: standalone activations and residual add. All allow in-place use
 * (output == input). */
#ifndef ET_ELEMENTWISE_H
#define ET_ELEMENTWISE_H

#include <stdint.h>

#include "et_status.h"

#ifdef __cplusplus
extern "C" {
#endif

et_status et_relu_f32(const float *input, float *output, int32_t n);
et_status et_relu6_f32(const float *input, float *output, int32_t n);
/* int8 ReLU clamps below at the zero point; ReLU6 also clamps above at `six_q`, the quantized 6.0
 * (saturated to 127). */
et_status et_relu_s8(const int8_t *input, int8_t *output, int32_t n, int32_t zero_point);
et_status et_relu6_s8(const int8_t *input, int8_t *output, int32_t n, int32_t zero_point,
                      int32_t six_q);

/* out = clamp(a + b, act_min, act_max). */
et_status et_add_f32(const float *a, const float *b, float *output, int32_t n, float act_min,
                     float act_max);

/* int8 add with TFLite rescaling: both inputs are offset, shifted left by `left_shift` (20 in
 * TFLite), rescaled to a common scale by their multipliers, summed, rescaled to the output scale
 * and clamped. Offsets are minus the inputs' zero points and plus the output's zero point. */
typedef struct {
    int32_t input1_offset;
    int32_t input2_offset;
    int32_t output_offset;
    int32_t left_shift;   /* in [0, 22] so (x + offset) << left_shift fits int32 */
    int32_t input1_multiplier;
    int32_t input1_shift;
    int32_t input2_multiplier;
    int32_t input2_shift;
    int32_t output_multiplier;
    int32_t output_shift;
    int32_t act_min;
    int32_t act_max;
} et_add_s8_params;

et_status et_add_s8(const et_add_s8_params *params, const int8_t *a, const int8_t *b,
                    int8_t *output, int32_t n);

#ifdef __cplusplus
}
#endif

#endif /* ET_ELEMENTWISE_H */

/* SPDX-License-Identifier: Apache-2.0 */
/* edgetrain runtime: leaky_relu, sigmoid, tanh and hard_swish (float32 forward and backward) and
 * the int8 table lookup that implements every one of them on int8 tensors.
 *
 * The float formulas are those of edgetrain/ops/activations.py (the numpy engine), evaluated in
 * the same order so that float32 results agree to an ulp or two of expf/tanhf:
 *   leaky_relu  y = x > 0 ? x : alpha * x                        alpha in (0, 1)
 *   sigmoid     y = x >= 0 ? 1 / (1 + expf(-x)) : expf(x) / (1 + expf(x))   (never overflows)
 *   tanh        y = tanhf(x)
 *   hard_swish  y = (x * clamp(x + 3, 0, 6)) / 6
 * Forward kernels allow in-place use (output == input).
 *
 * Backward kernels work in place on the gradient dy (the gradient w.r.t. the output on entry,
 * w.r.t. the input on return), reading the value the numpy rule saves:
 *   leaky_relu  from the OUTPUT y:  dy *= (y > 0 ? 1 : alpha)    (alpha > 0: sign(y) = sign(x))
 *   sigmoid     from the OUTPUT y:  dy *= y * (1 - y)
 *   tanh        from the OUTPUT y:  dy *= 1 - y * y
 *   hard_swish  from the INPUT x:   dy *= x < -3 ? 0 : x > 3 ? 1 : x / 3 + 0.5
 *
 * int8: one 256-entry table per node maps every input code to its output code, indexed by
 * x + 128 (table[0] is the output for x = -128). The table is built off-line from the input and
 * output quantization (edgetrain.formats.quant.activation_lut_s8, as TFLite's LUTPopulate builds
 * its int8 LOGISTIC and TANH tables), so the kernel is exact by construction.
 *
 * Status: ET_ERR_NULL_ARG for a NULL pointer, ET_ERR_BAD_SHAPE for n <= 0, ET_ERR_BAD_PARAM for an
 * alpha outside (0, 1) (NaN included). */
#ifndef ET_ACTIVATION_H
#define ET_ACTIVATION_H

#include <stdint.h>

#include "et_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- float32 forward ---- */
et_status et_leaky_relu_f32(const float *input, float *output, int32_t n, float alpha);
et_status et_sigmoid_f32(const float *input, float *output, int32_t n);
et_status et_tanh_f32(const float *input, float *output, int32_t n);
et_status et_hard_swish_f32(const float *input, float *output, int32_t n);

/* ---- float32 backward, in place on dy (on-device training) ---- */
et_status et_leaky_relu_f32_backward(const float *y, float *dy, int32_t n, float alpha);
et_status et_sigmoid_f32_backward(const float *y, float *dy, int32_t n);
et_status et_tanh_f32_backward(const float *y, float *dy, int32_t n);
et_status et_hard_swish_f32_backward(const float *x, float *dy, int32_t n);

/* ---- int8: output[i] = table[input[i] + 128]; in place allowed ---- */
et_status et_lut_s8(const int8_t *input, int8_t *output, int32_t n, const int8_t table[256]);

#ifdef __cplusplus
}
#endif

#endif /* ET_ACTIVATION_H */

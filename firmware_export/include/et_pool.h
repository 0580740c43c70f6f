/* SPDX-License-Identifier: Apache-2.0 */
/* edgetrain runtime: pooling on channels-last activations, float32 and int8.
 *
 * Window pools (max, average) use the geometry of et_conv.h with out_c == in_c, the pool size as
 * kernel_h x kernel_w and dilation 1: input [batch][in_h][in_w][c], output
 * [batch][out_h][out_w][c] (no overlap). Padding never takes part, as in edgetrain/ops/pool.py
 * and TFLite: a max ignores it, an average divides by the number of in-bounds positions of the
 * window (>= 1 under the pad rule of et_conv.h). Results are clamped to [act_min, act_max] (a
 * fused ReLU / ReLU6).
 *
 * int8 window pools are TFLite's MAX_POOL_2D / AVERAGE_POOL_2D: input and output share scale and
 * zero point, so they work on the raw codes. The average is round-half-away-from-zero of
 * sum / count: (sum + count / 2) / count for sum > 0, (sum - count / 2) / count otherwise (C
 * division truncates toward zero), as TFLite's reference_integer_ops::AveragePool.
 *
 * Global average pool: [batch][in_h][in_w][c] to [batch][c], the mean over every position.
 * int8 is TFLite Micro's MEAN over (H, W) bit for bit (reference_ops::QuantizedMeanOrSum, which
 * allows different input and output quantization), with count = in_h * in_w:
 *   s   = min(floor(log2(count)), 31 + shift)      1 / count folded into the multiplier
 *   m'  = (multiplier << s) / count                 int64, truncating; shift' = shift - s
 *   acc = sum (x + input_offset)                    (int32)
 *   y   = clamp(et_mbqm(acc, m', shift') + output_offset, act_min, act_max)
 * multiplier/shift = quantize_multiplier(in_scale / out_scale). When input and output share their
 * quantization (output_offset == -input_offset, multiplier 2^30, shift 1: quantize_multiplier(1.0))
 * TFLite Micro takes its plain mean instead, y = clamp(sum(x) / count) on the raw codes with C's
 * truncating division, and so does this kernel.
 *
 * Checks: ET_ERR_NULL_ARG for NULL params or buffers; the geometry checks of et_conv.h;
 * ET_ERR_BAD_SHAPE for out_c != in_c; ET_ERR_BAD_PARAM for a dilation other than 1, a float
 * act_min > act_max (or NaN), an int8 clamp outside -128 <= act_min <= act_max <= 127.
 * Global: ET_ERR_BAD_SHAPE for a dimension < 1, a tensor of more than INT32_MAX elements or more
 * than ET_POOL_S8_MAX_COUNT positions (int8: the sum must fit int32); ET_ERR_BAD_PARAM for int8
 * offsets, clamp, multiplier < 0 or shift outside [-31, 30].
 * Sources: et_pool_f32.c / et_pool_s8.c with et_conv_geom.c. No kernel needs scratch.
 */
#ifndef ET_POOL_H
#define ET_POOL_H

#include <stdint.h>

#include "et_conv.h"
#include "et_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Positions an int8 global average may sum: count * 256 fits int32 (|x + input_offset| <= 255). */
#define ET_POOL_S8_MAX_COUNT 8388607

typedef struct {
    et_conv_geom geom;  /* out_c == in_c, dilation 1 */
    float act_min;
    float act_max;
} et_pool_f32_params;

typedef struct {
    et_conv_geom geom;  /* out_c == in_c, dilation 1 */
    int32_t act_min;    /* -128 <= act_min <= act_max <= 127 */
    int32_t act_max;
} et_pool_s8_params;

typedef struct {
    int32_t batch;     /* >= 1 */
    int32_t in_h;      /* >= 1 (1 for 1-D) */
    int32_t in_w;      /* >= 1 */
    int32_t channels;  /* >= 1 */
    float act_min;
    float act_max;
} et_global_pool_f32_params;

typedef struct {
    int32_t batch;
    int32_t in_h;
    int32_t in_w;
    int32_t channels;
    int32_t input_offset;   /* minus the input zero point, in [-127, 128] */
    int32_t output_offset;  /* the output zero point, in [-128, 127] */
    int32_t multiplier;     /* in_scale / out_scale as Q31 in [0, 2^31) (quantize_multiplier) */
    int32_t shift;          /* in [-31, 30] */
    int32_t act_min;
    int32_t act_max;
} et_global_pool_s8_params;

et_status et_max_pool_f32(const et_pool_f32_params *params, const float *input, float *output);
et_status et_avg_pool_f32(const et_pool_f32_params *params, const float *input, float *output);
et_status et_max_pool_s8(const et_pool_s8_params *params, const int8_t *input, int8_t *output);
et_status et_avg_pool_s8(const et_pool_s8_params *params, const int8_t *input, int8_t *output);

et_status et_global_avg_pool_f32(const et_global_pool_f32_params *params, const float *input,
                                 float *output);
et_status et_global_avg_pool_s8(const et_global_pool_s8_params *params, const int8_t *input,
                                int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* ET_POOL_H */

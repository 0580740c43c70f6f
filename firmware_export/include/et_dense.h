/* SPDX-License-Identifier: Apache-2.0 */
/* edgetrain runtime: fully connected (dense) layers.
 *
 * y[b][o] = act(sum_k x[b][k] * W[o][k] + bias[o])
 *
 * Weights are row-major [n_out][n_in]: each output's weights are contiguous. Input is
 * [batch][n_in], output [batch][n_out]; input and output must not overlap. The fused activation is a
 * clamp to [act_min, act_max]: ReLU is [0, +max], ReLU6 is [0, 6] (in the output's quantized domain
 * for int8).
 *
 * Every kernel has a portable reference (`*_ref`, always compiled, the numerical contract) and a
 * fast variant without the suffix, which uses the Cortex-M DSP / FPU paths where available and
 * portable C elsewhere. Both are always callable by name.
 */
#ifndef ET_DENSE_H
#define ET_DENSE_H

#include <stdint.h>

#include "et_status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int32_t batch;  /* samples processed in one call, >= 1 */
    int32_t n_in;   /* >= 1 */
    int32_t n_out;  /* >= 1 */
    float act_min;  /* -FLT_MAX for no lower clamp */
    float act_max;  /* FLT_MAX for no upper clamp */
} et_dense_f32_params;

/* bias may be NULL (treated as zeros). */
et_status et_dense_f32_ref(const et_dense_f32_params *params, const float *input,
                           const float *weights, const float *bias, float *output);
et_status et_dense_f32(const et_dense_f32_params *params, const float *input,
                       const float *weights, const float *bias, float *output);

/* int8 dense, TFLite/CMSIS-NN semantics:
 *   acc[o] = bias[o] + sum_k (x[k] + input_offset) * W[o][k]          (int32)
 *   y[o]   = clamp(et_mbqm(acc[o], multipliers[c], shifts[c]) + output_offset, act_min, act_max)
 * with c = o when per_channel, else 0. Weights are symmetric (zero point 0). */
typedef struct {
    int32_t batch;          /* >= 1 */
    int32_t n_in;           /* >= 1, and n_in * 255 * 128 must fit int32 (n_in < 65793) */
    int32_t n_out;          /* >= 1 */
    int32_t input_offset;   /* minus the input zero point, in [-127, 128] */
    int32_t output_offset;  /* the output zero point, in [-128, 127] */
    int32_t act_min;        /* clamp in the output domain, -128 <= act_min <= act_max <= 127 */
    int32_t act_max;
    int32_t per_channel;    /* 0: multipliers[0]/shifts[0] apply to all outputs; 1: one per output */
    const int32_t *multipliers;  /* Q31 in [0, 2^31) (quant.py: [2^30, 2^31) or 0), see et_requant.h;
                                  * the fast kernel relies on it (et_mbqm_q31), the reference does not */
    const int32_t *shifts;       /* TFLite convention, in [-31, 30] */
    /* Optional [n_out] precomputed bias[o] + input_offset * sum_k W[o][k] (see
     * quant.effective_bias). The fast kernel uses it instead of `bias` and skips the per-call
     * row sums; the reference kernel ignores it. NULL: the fast kernel derives it per call. */
    const int32_t *eff_bias;
} et_dense_s8_params;

/* bias may be NULL (treated as zeros). */
et_status et_dense_s8_ref(const et_dense_s8_params *params, const int8_t *input,
                          const int8_t *weights, const int32_t *bias, int8_t *output);
/* Four output rows per pass sharing input loads; SMLAD on packed int8 pairs when
 * __ARM_FEATURE_DSP is defined (ET_DENSE_S8_USES_DSP is then 1). Bit-exact with the reference.
 * Buffers may have any alignment: the DSP path uses unaligned word loads, which Cortex-M4/M7 allow
 * unless SCB->CCR.UNALIGN_TRP is set (it is clear after reset). */
et_status et_dense_s8(const et_dense_s8_params *params, const int8_t *input,
                      const int8_t *weights, const int32_t *bias, int8_t *output);

#if defined(__ARM_FEATURE_DSP)
#define ET_DENSE_S8_USES_DSP 1
#else
#define ET_DENSE_S8_USES_DSP 0
#endif

#ifdef __cplusplus
}
#endif

#endif /* ET_DENSE_H */

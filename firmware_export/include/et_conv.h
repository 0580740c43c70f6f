/* SPDX-License-Identifier: Apache-2.0 */
/* edgetrain runtime: 2-D convolutions (conv1d is conv2d with in_h = kernel_h = 1) on channels-last
 * activations, float32 and int8.
 *
 * Layouts (the exporter transposes the numpy weights (kh, kw, C_in/groups, C_out) into these):
 *   input   [batch][in_h][in_w][in_c]                  (NHWC)
 *   output  [batch][out_h][out_w][out_c]               (NHWC); must not overlap input or scratch
 *   conv weights       [out_c][kernel_h][kernel_w][in_c / groups]   (OHWI, as TFLite CONV_2D):
 *     each output channel's window is contiguous and in the order of an im2col column, so a
 *     window times the weights of a group is a dense layer (et_dense.h) with n_in = the window.
 *   depthwise weights  [kernel_h][kernel_w][out_c]      (HWO, as TFLite DEPTHWISE_CONV_2D's
 *     [1][kh][kw][C_out]): output channel c * multiplier + m reads input channel c, and one
 *     tap's weights for every channel are contiguous, like one input pixel's channels.
 *   bias    [out_c], optional (NULL: zeros).
 *
 * Geometry: output (oh, ow), tap (i, j) reads input row oh * stride_h - pad_top + i * dilation_h
 * and column ow * stride_w - pad_left + j * dilation_w; positions outside the input are padding
 * and contribute nothing (for int8 they hold the input zero point, so x + input_offset = 0 there,
 * as in TFLite). Pads are explicit per side; TensorFlow "same" (the extra row/column at the end)
 * is resolved by the exporter (edgetrain/ops/conv.py resolve_padding). Groups: input channel
 * g * in_c/groups + i and output channel g * out_c/groups + j belong to group g.
 *
 * Checks (every kernel, before touching any buffer):
 *   ET_ERR_NULL_ARG   params, input, weights or output NULL (int8: multipliers or shifts NULL;
 *                     fast kernels: scratch NULL when *_scratch_bytes is > 0).
 *   ET_ERR_BAD_SHAPE  a dimension < 1; the dilated window ((kernel - 1) * dilation + 1) larger
 *                     than the padded input; out_h / out_w other than
 *                     (in + pad_before + pad_after - window) / stride + 1; a tensor of more than
 *                     INT32_MAX elements; groups not dividing in_c and out_c (depthwise: out_c not
 *                     a multiple of in_c); int8: a window of more than ET_CONV_S8_MAX_WINDOW
 *                     values (the int32 accumulator bound of et_dense.h).
 *   ET_ERR_BAD_PARAM  stride, dilation or groups < 1; a pad < 0 or > (kernel - 1) * dilation (a
 *                     window would read only padding); depthwise with groups != in_c; float
 *                     act_min > act_max (or NaN); int8 offsets or clamp out of range (as
 *                     et_dense_s8), a multiplier < 0 or a shift outside [-31, 30].
 *
 * Every kernel has a portable reference (`*_ref`, the numerical contract, direct loops) and a fast
 * variant (portable C, with Cortex-M assembly loops in et_conv_s8.c; see each kernel). int8 fast
 * kernels are bit-exact with the references; the float ones agree to rounding (another
 * summation order).
 * Sources: et_conv_geom.c (checks) with every kernel; et_conv_f32.c needs et_dense_f32.c (its
 * windows run through the dense kernel), et_conv_s8.c et_dense_s8.c (wide pointwise convs).
 */
#ifndef ET_CONV_H
#define ET_CONV_H

#include <stdint.h>

#include "et_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest int8 window (kernel_h * kernel_w * in_c / groups): window * 255 * 128 fits int32, the
 * same bound as et_dense_s8's n_in. */
#define ET_CONV_S8_MAX_WINDOW 65792

/* Window geometry over NHWC tensors, shared by the convolutions and the pools (et_pool.h). */
typedef struct {
    int32_t batch;       /* samples, >= 1 */
    int32_t in_h;        /* >= 1 (1 for conv1d) */
    int32_t in_w;
    int32_t in_c;
    int32_t out_h;       /* (in_h + pad_top + pad_bottom - ((kernel_h - 1) * dilation_h + 1)) / stride_h + 1 */
    int32_t out_w;       /* likewise with in_w, pad_left, pad_right, kernel_w, dilation_w, stride_w */
    int32_t out_c;
    int32_t kernel_h;    /* >= 1 (1 for conv1d) */
    int32_t kernel_w;
    int32_t stride_h;    /* >= 1 */
    int32_t stride_w;
    int32_t dilation_h;  /* >= 1 */
    int32_t dilation_w;
    int32_t pad_top;     /* each pad in [0, (kernel - 1) * dilation] of its axis */
    int32_t pad_bottom;
    int32_t pad_left;
    int32_t pad_right;
} et_conv_geom;

typedef struct {
    et_conv_geom geom;
    int32_t groups;  /* >= 1, divides in_c and out_c; the depthwise kernels need groups == in_c */
    float act_min;   /* fused clamp: -FLT_MAX / FLT_MAX for none */
    float act_max;
} et_conv_f32_params;

/* int8, TFLite CONV_2D / DEPTHWISE_CONV_2D semantics (per-channel symmetric weights):
 *   acc[o] = bias[o] + sum_{taps in bounds, i} (x + input_offset) * w         (int32)
 *   y[o]   = clamp(et_mbqm(acc[o], multipliers[c], shifts[c]) + output_offset, act_min, act_max)
 * with c = o when per_channel, else 0. */
typedef struct {
    et_conv_geom geom;
    int32_t groups;         /* as et_conv_f32_params */
    int32_t input_offset;   /* minus the input zero point, in [-127, 128] */
    int32_t output_offset;  /* the output zero point, in [-128, 127] */
    int32_t act_min;        /* -128 <= act_min <= act_max <= 127 */
    int32_t act_max;
    int32_t per_channel;    /* 0: multipliers[0]/shifts[0] for every channel; 1: one per out_c */
    const int32_t *multipliers;  /* Q31 in [0, 2^31) (quantize_multiplier), see et_requant.h */
    const int32_t *shifts;       /* TFLite convention, in [-31, 30] */
    /* Optional [out_c] bias[o] + input_offset * (sum of output channel o's weights over the whole
     * window) (edgetrain.quantize.conv_reference.conv_effective_bias). The fast kernels use it
     * instead of `bias` and drop the offset from their inner loops (padded taps are corrected
     * for); the references ignore it. NULL: the fast kernels use bias and the offset. */
    const int32_t *eff_bias;
} et_conv_s8_params;

/* Checks of the geometry alone (the shape and parameter rules above that involve no channel
 * grouping); used by every conv and pool kernel. */
et_status et_conv_geom_check(const et_conv_geom *g);
/* The full argument checks of the kernels below, pointers aside (NULL params: ET_ERR_NULL_ARG). */
et_status et_conv_f32_check(const et_conv_f32_params *p, int32_t depthwise);
et_status et_conv_s8_check(const et_conv_s8_params *p, int32_t depthwise);

/* Grouped convolution (groups == 1: plain; any groups dividing the channels). */
et_status et_conv_f32_ref(const et_conv_f32_params *params, const float *input,
                          const float *weights, const float *bias, float *output);
/* Fast: every output pixel's window of each group (a 1x1 convolution with groups == 1 reads the
 * input pixel in place, no scratch; every other shape copies it into `scratch`, zeros where it is
 * padding: im2col) is summed four output channels at a time (VLDM/VFMA on Cortex-M4F). A 1x1
 * convolution with stride 1 and at least 64 input channels is one et_dense_f32 call over all
 * pixels. */
et_status et_conv_f32(const et_conv_f32_params *params, const float *input, const float *weights,
                      const float *bias, float *output, float *scratch);

/* Depthwise: groups == in_c, out_c = in_c * multiplier, depthwise weight layout. */
et_status et_depthwise_conv_f32_ref(const et_conv_f32_params *params, const float *input,
                                    const float *weights, const float *bias, float *output);
/* Fast: four output channels at a time with their accumulators in registers, over the pixel's
 * in-bounds taps (found once per pixel); no scratch. */
et_status et_depthwise_conv_f32(const et_conv_f32_params *params, const float *input,
                                const float *weights, const float *bias, float *output);

et_status et_conv_s8_ref(const et_conv_s8_params *params, const int8_t *input,
                         const int8_t *weights, const int32_t *bias, int8_t *output);
/* Fast: two output pixels at a time; both windows are gathered and widened to int16 in
 * `scratch` (a 1x1 conv with groups 1 widens the input pixels on the stack, or with more than 64
 * input channels runs each pixel through et_dense_s8), then each pair of output channels is
 * summed over the two windows at once (SMLAD on Cortex-M4). Uses about 1.3 KiB of stack (sums and
 * requantization constants of up to 32 channels). Padded window slots hold the input zero point,
 * which keeps both the offset and the eff_bias form exact. Bit-exact with et_conv_s8_ref. */
et_status et_conv_s8(const et_conv_s8_params *params, const int8_t *input, const int8_t *weights,
                     const int32_t *bias, int8_t *output, int8_t *scratch);

et_status et_depthwise_conv_s8_ref(const et_conv_s8_params *params, const int8_t *input,
                                   const int8_t *weights, const int32_t *bias, int8_t *output);
/* Fast: depth multiplier 1 (kernels of up to 49 taps, at least 4 channels) in blocks of four
 * channels over a padded band in `scratch` (et_depthwise_conv_s8_scratch_bytes): each input row
 * of the block copied once into it with the zero point around it, so that every output pixel runs
 * the same check-free tap loop (3x3 with dilation 1 on Cortex-M4: the band as int16 pairs of
 * neighbouring pixels, along the longer output axis, for SMLAD), each tap's weights widened
 * once per block into a stack buffer (about 0.6 KiB of stack in all), started from bias
 * (recovered from eff_bias when only that is given); other multipliers and the last out_c % 4
 * channels one channel at a time over the in-bounds taps. Bit-exact with
 * et_depthwise_conv_s8_ref. */
et_status et_depthwise_conv_s8(const et_conv_s8_params *params, const int8_t *input,
                               const int8_t *weights, const int32_t *bias, int8_t *output,
                               int8_t *scratch);

/* Scratch bytes et_conv_f32 / et_conv_s8 need for these arguments (as CMSIS-NN's
 * arm_*_get_buffer_size): the caller passes at least this much, aligned for the element type
 * (float / int8_t). 0: no scratch (NULL may be passed). Independent of the batch. -1 when the
 * kernel would reject the arguments (any ET_ERR_* of its checks but NULL buffers). The depthwise
 * kernels have their own (et_depthwise_conv_s8_scratch_bytes below). 0 for a 1x1 kernel with groups 1; else float32 one window of one
 * group (kernel_h * kernel_w * in_c / groups floats), int8 5 * window + 3 bytes (two int16
 * windows, one int8 window, slack to word-align them). */
int32_t et_conv_f32_scratch_bytes(const et_conv_f32_params *params);
int32_t et_conv_s8_scratch_bytes(const et_conv_s8_params *params);
/* Scratch bytes et_depthwise_conv_s8 needs (int8_t, any alignment; NULL may be passed for 0),
 * independent of the batch: 0 unless the depth multiplier is 1, out_c >= 4 and the kernel has at
 * most 49 taps; then the padded band, N + 3 bytes (3: slack to word-align it) with
 * N = (2 * span - 1) * band_w * 4, span = (kernel_h - 1) * dilation_h + 1 and
 * band_w = (out_w - 1) * stride_w + (kernel_w - 1) * dilation_w + 1 (2 * span - 1 rows of band_w
 * pixels of four int8 channels); for a 3x3 kernel with dilation 1, N is at least 5 * 16 * L with
 * L = (out_h - 1) * stride_h + 3 when out_h > out_w, else band_w (the Cortex-M4 int16 pair layout
 * along the longer output axis; every build reserves it); -1 when the kernel would reject the arguments (as et_conv_s8_scratch_bytes,
 * and a band beyond INT32_MAX bytes). The float depthwise kernels need no scratch. */
int32_t et_depthwise_conv_s8_scratch_bytes(const et_conv_s8_params *params);

#ifdef __cplusplus
}
#endif

#endif /* ET_CONV_H */

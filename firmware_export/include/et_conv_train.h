/* SPDX-License-Identifier: Apache-2.0 */
/* edgetrain runtime: backward kernels of the convolutions and pools for on-device training
 * (float32), the conv ones fused with the optimizer update like et_dense_f32_backward_update.
 *
 * Layouts, geometry and argument structs are those of the forward kernels (et_conv.h, et_pool.h):
 * NHWC activations, OHWI grouped-conv weights, HWO depthwise weights. The gradient rules are
 * those of edgetrain/ops/conv.py and ops/pool.py (the numpy engine):
 *   conv     y[b,oh,ow,o] = bias[o] + sum_{i,j,c in bounds} x[b,ih,iw,c0(o)+c] W[o,i,j,c]
 *            dW[o,i,j,c] = sum_{b,oh,ow in bounds} dy[b,oh,ow,o] x[b,ih,iw,c0(o)+c]
 *            db[o]       = sum_{b,oh,ow} dy[b,oh,ow,o]
 *            dx[b,ih,iw,c0(o)+c] += dy[b,oh,ow,o] W[o,i,j,c]   (every tap of every output)
 *   depthwise: the same with one input channel per output channel (o / multiplier).
 *   max pool: each window's dy goes to the FIRST largest in-bounds input of the window, taps in
 *            row-major order (numpy's argmax); avg pool: dy / count to every in-bounds input of
 *            the window; global average pool: dy / (in_h * in_w) to every position.
 * A fused activation (params->act_min / act_max) is ignored here: its backward is a separate
 * node (et_relu_f32_backward on dy, in place, before these kernels), as for dense.
 *
 * Fused backward + update (the on-device training path):
 *   opt:     the optimizer, its step begun (et_optimizer_begin_step); may be NULL when nothing
 *            trains (frozen weights and no bias or a frozen one: only dx).
 *   input:   the layer's forward input [batch][in_h][in_w][in_c]; may be NULL when the weights
 *            are frozen (a bias gradient needs only dy).
 *   dy:      gradient w.r.t. the layer's output [batch][out_h][out_w][out_c].
 *   weights: value (+ slots); trainable == 0 freezes it (it is only read).
 *   bias:    [out_c] (+ slots), or NULL when the layer has none.
 *   dx:      [batch][in_h][in_w][in_c], overwritten with the input gradient computed from the
 *            weights as they were before this update; NULL skips that work (the first trainable
 *            layer, or only frozen layers before it).
 * Each weight's gradient is complete after one pass over the outputs its tap reaches; it is
 * applied to that weight at once, so no weight-gradient buffer exists and no kernel here needs
 * scratch. dx and dy must not overlap each other, input or the parameters.
 *
 * Checks (before any buffer is touched): those of et_conv_f32_check / the pool kernels
 * (ET_ERR_BAD_SHAPE for inconsistent dims, ET_ERR_BAD_PARAM for bad strides, pads, groups),
 * ET_ERR_NULL_ARG for NULL params, dy or weights, NULL input under trainable weights, NULL
 * optimizer or missing optimizer slots when something trains; the optimizer's own checks.
 *
 * The conv kernels have a `_ref` reference (direct loops, the contract; dx in a first pass, then
 * one bounds-checked pass over every output per weight) and a fast variant (per weight, the
 * output range each tap reaches is computed once, dx and the gradient in the same pass; summed
 * in another order, so they agree to rounding). The pools have one implementation each.
 * Sources: et_conv_f32_backward.c, et_conv_f32_backward_ref.c, et_pool_f32_backward.c, with
 * et_conv_geom.c and et_optim.c.
 */
#ifndef ET_CONV_TRAIN_H
#define ET_CONV_TRAIN_H

#include <stdint.h>

#include "et_conv.h"
#include "et_optim.h"
#include "et_pool.h"
#include "et_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Grouped convolution (groups == 1: plain), OHWI weights [out_c][kh][kw][in_c / groups]. */
et_status et_conv_f32_backward_update_ref(const et_conv_f32_params *params,
                                          const et_optimizer *opt, const float *input,
                                          const float *dy, et_param_f32 *weights,
                                          et_param_f32 *bias, float *dx);
et_status et_conv_f32_backward_update(const et_conv_f32_params *params, const et_optimizer *opt,
                                      const float *input, const float *dy, et_param_f32 *weights,
                                      et_param_f32 *bias, float *dx);

/* Depthwise (groups == in_c, out_c = in_c * multiplier), HWO weights [kh][kw][out_c]. */
et_status et_depthwise_conv_f32_backward_update_ref(const et_conv_f32_params *params,
                                                    const et_optimizer *opt, const float *input,
                                                    const float *dy, et_param_f32 *weights,
                                                    et_param_f32 *bias, float *dx);
et_status et_depthwise_conv_f32_backward_update(const et_conv_f32_params *params,
                                                const et_optimizer *opt, const float *input,
                                                const float *dy, et_param_f32 *weights,
                                                et_param_f32 *bias, float *dx);

/* Pools: dx [batch][in_h][in_w][c] is overwritten. The max pool needs its forward input (to find
 * each window's maximum again); the average pools need only dy. */
et_status et_max_pool_f32_backward(const et_pool_f32_params *params, const float *input,
                                   const float *dy, float *dx);
et_status et_avg_pool_f32_backward(const et_pool_f32_params *params, const float *dy, float *dx);
et_status et_global_avg_pool_f32_backward(const et_global_pool_f32_params *params,
                                          const float *dy, float *dx);

#ifdef __cplusplus
}
#endif

/* Reference-or-fast selection for generated training code, as et_kernels.h does for the forward
 * kernels (both sides take the same arguments; include after anything defining ET_FORCE_REF). */
#if defined(ET_FORCE_REF)
#define ET_CONV_BWD et_conv_f32_backward_update_ref
#define ET_DEPTHWISE_CONV_BWD et_depthwise_conv_f32_backward_update_ref
#else
#define ET_CONV_BWD et_conv_f32_backward_update
#define ET_DEPTHWISE_CONV_BWD et_depthwise_conv_f32_backward_update
#endif

#endif /* ET_CONV_TRAIN_H */

/* SPDX-License-Identifier: Apache-2.0 */
/* edgetrain runtime: backward kernels for on-device training (float32).
 *
 * Gradient rules are those of edgetrain/ops (the numpy engine), with the C weight layout
 * W[n_out][n_in] (numpy stores the transpose, [n_in][n_out]):
 *   dense  y = x W^T + b:  dx[b][k] = sum_o dy[b][o] W[o][k]
 *                          dW[o][k] = sum_b dy[b][o] x[b][k]      db[o] = sum_b dy[b][o]
 *   relu   dx = dy * (y > 0)            relu6  dx = dy * (0 < y < 6)      (masks from the OUTPUT y)
 *   add    y = a + b: da = dy, db = dy. Nothing to compute: both branches read the same dy. Where a
 *          tensor feeds two consumers (the skip input of a residual block), its gradient is the sum
 *          of the consumers' gradients: et_grad_accumulate_f32. Where both branches' backwards
 *          work on dy in place, et_copy_f32 gives the second branch its own copy.
 * Losses return the MEAN loss and its gradient, already divided by the batch (cross-entropy) or
 * by the element count (MSE), so dW sums over the batch exactly as numpy's x^T @ dy does.
 *
 * Memory: the fused kernels (et_dense_f32_backward_update*) compute one row of dW at a time and
 * apply the optimizer to it at once, so no weight-gradient buffer exists; the only training
 * buffers are the saved activations and the dy/dx vectors. They compute dx from the weights BEFORE
 * updating them, in the same pass over each weight row.
 *
 * Like the forward kernels, every kernel has a `_ref` reference (plain loops, the contract) and a
 * fast variant (rows blocked by 4, inner loops unrolled, optimizer inlined).
 */
#ifndef ET_TRAIN_H
#define ET_TRAIN_H

#include <stdint.h>

#include "et_dense.h"
#include "et_optim.h"
#include "et_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- dense: plain gradient outputs (testing, gradient accumulation over micro-batches) ---- */

/* dx[batch][n_in] = dy[batch][n_out] . W. dx must not overlap dy or weights. params->act_* are
 * ignored (the activation is a separate node with its own backward). */
et_status et_dense_f32_backward_input_ref(const et_dense_f32_params *params, const float *dy,
                                          const float *weights, float *dx);
et_status et_dense_f32_backward_input(const et_dense_f32_params *params, const float *dy,
                                      const float *weights, float *dx);

/* dweights[n_out][n_in] and dbias[n_out] (dbias may be NULL). accumulate != 0 adds to the
 * existing contents instead of overwriting them. */
et_status et_dense_f32_backward_params_ref(const et_dense_f32_params *params, const float *input,
                                           const float *dy, float *dweights, float *dbias,
                                           int32_t accumulate);
et_status et_dense_f32_backward_params(const et_dense_f32_params *params, const float *input,
                                       const float *dy, float *dweights, float *dbias,
                                       int32_t accumulate);

/* ---- dense: fused backward + optimizer update (the on-device training path) ----
 *
 * opt:     the optimizer, its step begun (et_optimizer_begin_step) for this training step.
 * input:   the layer's forward input [batch][n_in]; may be NULL when weights are frozen.
 * dy:      gradient w.r.t. the layer's output [batch][n_out] (after the activation's backward).
 * weights: value [n_out][n_in] (+ slots of the same size); trainable == 0 freezes it.
 * bias:    value [n_out] (+ slots); NULL when the layer has no bias.
 * dx:      [batch][n_in], overwritten with the input gradient computed from the weights as they
 *          were before this update; NULL when no earlier layer needs it (first layer, or only
 *          frozen layers before it), which skips that work.
 * Neither dx nor dy may overlap anything else. */
et_status et_dense_f32_backward_update_ref(const et_dense_f32_params *params,
                                           const et_optimizer *opt, const float *input,
                                           const float *dy, et_param_f32 *weights,
                                           et_param_f32 *bias, float *dx);
et_status et_dense_f32_backward_update(const et_dense_f32_params *params, const et_optimizer *opt,
                                       const float *input, const float *dy, et_param_f32 *weights,
                                       et_param_f32 *bias, float *dx);

/* ---- activations and joins (in place on the gradient) ---- */

/* dy[i] = 0 where the forward OUTPUT y[i] <= 0 (relu) or outside (0, 6) (relu6). */
et_status et_relu_f32_backward(const float *y, float *dy, int32_t n);
et_status et_relu6_f32_backward(const float *y, float *dy, int32_t n);
/* acc[i] += g[i]: the gradient of a tensor that feeds several consumers (residual skip). */
et_status et_grad_accumulate_f32(float *acc, const float *g, int32_t n);
/* dst[i] = src[i], i < n (src == dst is allowed; other overlaps are not). Gives each gradient
 * buffer a single owner when one gradient feeds two branches (y = a + b: da = db = dy): one branch
 * gets a copy, so both backwards may work on their buffer in place. */
et_status et_copy_f32(const float *src, float *dst, int32_t n);

/* ---- boundary between a frozen int8 body and a trainable float head ---- */

/* out[i] = (float)(q[i] - zero_point) * scale: the int8 body's output as the float head's input
 * (bit-identical to numpy's float32 arithmetic). */
et_status et_dequantize_s8_f32(const int8_t *q, float *out, int32_t n, int32_t zero_point,
                               float scale);

/* ---- losses ---- */

/* Softmax cross-entropy from logits [batch][n_classes] and integer labels in [0, n_classes):
 *   loss = -mean_b log softmax(z_b)[label_b];  dlogits = (softmax(z) - onehot(label)) / batch.
 * dlogits may be NULL (loss only) or equal to logits (in place). Returns ET_ERR_BAD_PARAM for a
 * label out of range. A non-finite logit gives a non-finite loss (for the divergence guard), not
 * an error. */
et_status et_softmax_xent_f32(const float *logits, const int32_t *labels, int32_t batch,
                              int32_t n_classes, float *loss, float *dlogits);

/* Mean squared error over all n elements: loss = mean((pred - target)^2), grad = 2 (pred -
 * target) / n. grad may be NULL or equal to pred. */
et_status et_mse_f32(const float *pred, const float *target, int32_t n, float *loss, float *grad);
/* MSE against one-hot integer labels (as the numpy engine does for MSE with labels). */
et_status et_mse_labels_f32(const float *pred, const int32_t *labels, int32_t batch,
                            int32_t n_classes, float *loss, float *grad);

#ifdef __cplusplus
}
#endif

#endif /* ET_TRAIN_H */

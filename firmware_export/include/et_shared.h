/* SPDX-License-Identifier: Apache-2.0 */
/* edgetrain runtime: dense layers whose weight is SHARED (weight clustering, motif layers), float32.
 *
 * A shared weight is K float values, the codebook ("slots"), and one uint16_t index per weight
 * entry, C layout [n_out][n_in] (numpy's Param.indices is the transpose, [n_in][n_out]):
 *   W[o][k] = indices[o][k] == ET_SHARED_NONE ? 0 : codebook[indices[o][k]]
 * ET_SHARED_NONE marks a masked-out (pruned) entry, so a pruned shared weight needs no separate
 * mask array (numpy: Param.mask folded into the indices). Valid indices are 0 .. n_slots - 1 with
 * 1 <= n_slots <= ET_SHARED_MAX_SLOTS, so no valid index equals ET_SHARED_NONE.
 *
 * Training (the rule of Param.grad_to_storage in edgetrain/graph.py): the gradient of slot s is
 * the sum of the entry gradients dW[o][k] = sum_b dy[b][o] x[b][k] over the unmasked entries with
 * indices[o][k] == s; the optimizer (et_optim.h rules, applied exactly as the fused dense kernels
 * apply them to weights) updates the K slot values only. On the device only the K slot values,
 * their optimizer slots (K floats each) and, during the backward call, the K-float slot_grad
 * scratch live in RAM; the indices are constant (flash) and no [n_out][n_in] float array exists.
 *
 * Summation orders (the contract; the fast kernels follow them too, so fast and `_ref` results
 * are bit-identical when the compiler does not contract a * b + c into a fused multiply-add:
 * -ffp-contract=off, GCC's default under -std=c99; with VFMA contraction they agree to rounding):
 *   forward   acc = bias[o] (0.0f without bias); acc += x[b][k] * W[o][k] for k = 0, 1, ...,
 *             n_in - 1, masked entries skipped; y[b][o] = clamp(acc, act_min, act_max). This is
 *             et_dense_f32_ref's order: for finite inputs the result equals et_dense_f32_ref on
 *             the expanded weight matrix (masked entries 0) bit for bit, up to the sign of a zero.
 *             (Skipped, not multiplied by 0: a non-finite input at a masked entry propagates
 *             nothing.)
 *   dx        dx[b][k] = 0.0f, then += dy[b][o] * W[o][k] for o = 0, 1, ..., n_out - 1, masked
 *             entries skipped (et_dense_f32_backward_input_ref's order).
 *   slot grad per entry first the batch sum g = sum_b dy[b][o] * x[b][k] (b ascending, from 0.0f),
 *             then slot_grad[s] (from 0.0f) += g over the unmasked entries in row-major order:
 *             o ascending, and within a row k ascending.
 *   bias grad sum_b dy[b][o], b ascending (as et_dense_f32_backward_update_ref).
 * numpy's np.bincount sums the slot gradient in float64, so agreement with the numpy engine is to
 * rounding of the float32 sums above, not bit for bit.
 *
 * Every kernel has a `_ref` reference (plain loops, the contract) and a fast variant: four rows
 * per pass sharing each input load (forward), loops specialised for batch 1 and for what is being
 * computed (backward), optimizer inlined. The slot-gradient order forbids row blocking there.
 */
#ifndef ET_SHARED_H
#define ET_SHARED_H

#include <stdint.h>

#include "et_dense.h"
#include "et_optim.h"
#include "et_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Index of a masked-out entry: contributes 0 to the forward and to dx, nothing to any slot. */
#define ET_SHARED_NONE 0xFFFFu
/* Largest codebook: every index of a codebook this size (0 .. 65534) is distinct from
 * ET_SHARED_NONE. */
#define ET_SHARED_MAX_SLOTS 65535

/* ET_OK when each of the n indices is ET_SHARED_NONE or below n_slots; ET_ERR_BAD_PARAM when one
 * is not or n_slots > ET_SHARED_MAX_SLOTS; ET_ERR_BAD_SHAPE for n or n_slots below 1. The forward
 * kernels are not given n_slots and cannot check: validate constant indices once (at start-up),
 * or trust the generator. The backward kernels check every index they read. */
et_status et_shared_indices_check(const uint16_t *indices, int32_t n, int32_t n_slots);

/* ---- forward ----
 * y[batch][n_out] = clamp(x W^T + bias) with W expanded from codebook/indices as above.
 * indices [n_out][n_in]; codebook: at least max(index) + 1 floats (not checked, see above);
 * bias [n_out] or NULL (zeros). output must not overlap input. ET_ERR_BAD_PARAM for
 * act_min > act_max or a NaN bound (as et_dense_f32). */
et_status et_dense_f32_shared_ref(const et_dense_f32_params *params, const float *input,
                                  const float *codebook, const uint16_t *indices,
                                  const float *bias, float *output);
et_status et_dense_f32_shared(const et_dense_f32_params *params, const float *input,
                              const float *codebook, const uint16_t *indices, const float *bias,
                              float *output);

/* ---- fused backward + optimizer update (the on-device training path) ----
 *
 * opt:       the optimizer, its step begun (et_optimizer_begin_step) for this training step; may
 *            be NULL only when nothing trains.
 * input:     the layer's forward input [batch][n_in]; may be NULL only when the codebook is frozen
 *            (codebook->trainable == 0).
 * dy:        gradient w.r.t. the layer's output [batch][n_out] (after the activation's backward).
 * codebook:  value [n_slots] (+ optimizer slots m, v of n_slots floats as et_optim.h requires);
 *            trainable == 0 freezes it. codebook->mask must be NULL (ET_ERR_BAD_PARAM otherwise):
 *            the mask of a shared weight lives in the indices (ET_SHARED_NONE).
 * n_slots:   K, 1 <= K <= ET_SHARED_MAX_SLOTS (ET_ERR_BAD_SHAPE below 1, ET_ERR_BAD_PARAM above).
 * indices:   [n_out][n_in], each ET_SHARED_NONE or < n_slots; an index out of range gives
 *            ET_ERR_BAD_PARAM.
 * slot_grad: caller-owned scratch of et_dense_f32_shared_scratch_bytes(n_slots) bytes, zeroed by
 *            the kernel and left holding this step's slot gradients (summation order above); may
 *            be NULL when the codebook is frozen (then it is not touched).
 * bias:      value [n_out] (+ slots); NULL when the layer has no bias. Its gradient and update are
 *            those of et_dense_f32_backward_update (bias->mask is ignored, as there).
 * dx:        [batch][n_in], overwritten with the input gradient computed from the codebook values
 *            as they were BEFORE this update; NULL when no earlier layer needs it.
 * Neither dx, dy nor slot_grad may overlap anything else.
 * On any status other than ET_OK the codebook, the bias and their optimizer slots are unchanged;
 * dx and slot_grad may hold partial results. */
et_status et_dense_f32_shared_backward_update_ref(const et_dense_f32_params *params,
                                                  const et_optimizer *opt, const float *input,
                                                  const float *dy, et_param_f32 *codebook,
                                                  int32_t n_slots, const uint16_t *indices,
                                                  float *slot_grad, et_param_f32 *bias,
                                                  float *dx);
et_status et_dense_f32_shared_backward_update(const et_dense_f32_params *params,
                                              const et_optimizer *opt, const float *input,
                                              const float *dy, et_param_f32 *codebook,
                                              int32_t n_slots, const uint16_t *indices,
                                              float *slot_grad, et_param_f32 *bias, float *dx);

/* Bytes of the slot_grad scratch the backward kernels need (as CMSIS-NN's
 * arm_*_get_buffer_size): n_slots floats, aligned for float; independent of the batch and the
 * layer shape. -1 when n_slots is outside [1, ET_SHARED_MAX_SLOTS]. */
int32_t et_dense_f32_shared_scratch_bytes(int32_t n_slots);

#ifdef __cplusplus
}
#endif

#endif /* ET_SHARED_H */

/* SPDX-License-Identifier: Apache-2.0 */
/* edgetrain runtime: divergence guard for on-device training.
 *
 * The guard keeps a running average of the accepted training losses. A loss is "diverged" when it
 * is not finite, or when it exceeds both min_loss (so a near-zero reference cannot make every small
 * wiggle a divergence) and max_ratio times a reference:
 *   - during the warm-up (the first `warmup` accepted losses) the reference is the initial loss,
 *     the first accepted one: an absolute bound, so a run of growing losses cannot raise its own
 *     bar while the average is still forming;
 *   - after the warm-up it is the running average.
 * The first loss only has to be finite (there is nothing to compare it with yet).
 *
 * Policy (et_guard_step): check the loss after the forward pass, BEFORE any update of this step.
 *   - accepted: the caller runs backward + the fused updates as usual;
 *   - diverged: nothing of this step is applied, and the weights are reloaded from the last
 *     committed storage bank. Reloading (not just skipping) is needed because a bad loss usually
 *     reveals weights already damaged by earlier steps (too large a learning rate shows up one
 *     step late); a bad batch (a NaN sample) costs at most the steps since the last commit.
 *     The caller should then zero the optimizer slots (et_zero_f32) and restart Adam's step
 *     counter, unless it commits them as storage segments too, and may lower its learning rate.
 * The average is updated only with accepted losses, so a divergence does not raise the bar.
 *
 * The last step before a commit: its update has not been seen by any loss yet (a too-large step
 * shows up one forward pass late). A caller must therefore check the weights it is about to
 * commit, and commit them only if both checks accept (on a rejection: restore the last commit with
 * et_storage_load, and commit that or nothing):
 *   - the loss: one more forward pass and et_guard_check with that loss;
 *   - the parameters (et_guard_check_params): a loss alone can miss a blown-up step - the batch
 *     just trained on may score perfectly on weights that are wrong everywhere else - so the RMS
 *     of the parameters must stay finite and at most max_ratio * max(RMS at the last commit,
 *     ET_GUARD_PARAM_RMS_FLOOR). The floor keeps near-zero starting parameters (zero biases)
 *     free to grow to ordinary magnitudes.
 */
#ifndef ET_GUARD_H
#define ET_GUARD_H

#include <stdint.h>

#include "et_status.h"
#include "et_storage.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Parameters of the models trained here (standardised inputs) have RMS of order 1. */
#define ET_GUARD_PARAM_RMS_FLOOR 1.0f

typedef enum {
    ET_GUARD_ACCEPT = 0,    /* loss fine: apply this step's updates */
    ET_GUARD_DIVERGED = 1   /* loss non-finite or too large: discard the step, roll back */
} et_guard_verdict;

typedef struct {
    float max_ratio;   /* > 1: diverged when loss > max_ratio * average (and > min_loss) */
    float min_loss;    /* >= 0: losses at or below this never count as diverged */
    float decay;       /* in [0, 1): average = decay * average + (1 - decay) * loss after warmup */
    int32_t warmup;    /* >= 1: the first `warmup` accepted losses form a plain mean and are
                          checked against max_ratio * initial (and min_loss) */
    float initial;     /* the first accepted loss (0 until then) */
    float average;     /* running average of accepted losses */
    int32_t accepted;  /* accepted steps so far */
    int32_t diverged;  /* diverged steps so far */
} et_guard;

et_status et_guard_init(et_guard *guard, float max_ratio, float min_loss, float decay,
                        int32_t warmup);

/* Classifies one loss and, when accepted, folds it into the average (the first accepted loss
 * also becomes `initial`). */
et_status et_guard_check(et_guard *guard, float loss, et_guard_verdict *verdict);

/* The policy in one call: et_guard_check, then on divergence et_storage_load of the last commit
 * into `segments` (the trainable parameters). Returns the load's status if that fails (e.g.
 * ET_ERR_STORAGE_EMPTY when nothing was ever committed: the caller then restores its compiled-in
 * weights). */
et_status et_guard_step(et_guard *guard, float loss, const et_storage *storage,
                        uint32_t layout_tag, const et_storage_segment *segments,
                        int32_t n_segments, et_guard_verdict *verdict);

/* Root mean square of the floats in the segments (each size a multiple of 4 bytes; a trailing
 * partial float is ignored): +inf when one is not finite or the sum overflows, 0 for none. */
float et_guard_params_rms(const et_storage_segment *segments, int32_t n_segments);

/* The parameter check before a commit: diverged when `rms` (et_guard_params_rms of the
 * parameters to commit) is not finite or exceeds
 * max_ratio * max(start_rms, ET_GUARD_PARAM_RMS_FLOOR), where start_rms is their RMS at the last
 * commit (or the compiled-in weights). Counts a divergence; does not touch the average. */
et_status et_guard_check_params(et_guard *guard, float start_rms, float rms,
                                et_guard_verdict *verdict);

#ifdef __cplusplus
}
#endif

#endif /* ET_GUARD_H */

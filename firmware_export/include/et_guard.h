/* edgetrain runtime: divergence guard for on-device training.
 *
 * The guard keeps a running average of the accepted training losses. A step's loss is
 * "diverged" when it is not finite, or when (after `warmup` accepted steps) it exceeds
 * max_ratio * average and also min_loss (so a near-zero average cannot make every small wiggle a
 * divergence).
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
 */
#ifndef ET_GUARD_H
#define ET_GUARD_H

#include <stdint.h>

#include "et_status.h"
#include "et_storage.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    ET_GUARD_ACCEPT = 0,    /* loss fine: apply this step's updates */
    ET_GUARD_DIVERGED = 1   /* loss non-finite or too large: discard the step, roll back */
} et_guard_verdict;

typedef struct {
    float max_ratio;   /* > 1: diverged when loss > max_ratio * average (and > min_loss) */
    float min_loss;    /* >= 0: losses at or below this never count as diverged */
    float decay;       /* in [0, 1): average = decay * average + (1 - decay) * loss after warmup */
    int32_t warmup;    /* >= 1: the first `warmup` accepted losses form a plain mean, unchecked
                          against the ratio (only finiteness) */
    float average;     /* running average of accepted losses */
    int32_t accepted;  /* accepted steps so far */
    int32_t diverged;  /* diverged steps so far */
} et_guard;

et_status et_guard_init(et_guard *guard, float max_ratio, float min_loss, float decay,
                        int32_t warmup);

/* Classifies one loss and, when accepted, folds it into the average. */
et_status et_guard_check(et_guard *guard, float loss, et_guard_verdict *verdict);

/* The policy in one call: et_guard_check, then on divergence et_storage_load of the last commit
 * into `segments` (the trainable parameters). Returns the load's status if that fails (e.g.
 * ET_ERR_STORAGE_EMPTY when nothing was ever committed: the caller then restores its compiled-in
 * weights). */
et_status et_guard_step(et_guard *guard, float loss, const et_storage *storage,
                        uint32_t layout_tag, const et_storage_segment *segments,
                        int32_t n_segments, et_guard_verdict *verdict);

#ifdef __cplusplus
}
#endif

#endif /* ET_GUARD_H */

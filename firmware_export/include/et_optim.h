/* SPDX-License-Identifier: Apache-2.0 */
/* edgetrain runtime: optimizers updating float32 parameters in place.
 *
 * The update rules are the contract of edgetrain/engine/optim.py (numpy engine), reproduced here:
 *   SGD:  g' = g + wd * w;  v = momentum * v + g';  w -= lr * v      (no v when momentum == 0:
 *         w -= lr * g')
 *   Adam: g' = g + wd * w;  m = b1 m + (1 - b1) g';  v = b2 v + (1 - b2) g'^2;
 *         w -= (lr / (1 - b1^t)) * m / (sqrt(v / (1 - b2^t)) + eps),   t = 1, 2, ...
 * Weight decay is L2 added to the gradient (not decoupled AdamW), as in the numpy engine.
 *
 * Optimizer state lives in caller-owned arrays ("slots") beside each parameter: SGD uses one
 * (velocity, only when momentum != 0), Adam two (m, v), all zero-initialised. Adam's step counter
 * is one `et_adam_step` shared by every parameter of the network: call et_adam_step_begin() once
 * per training step, before the first parameter update of that step.
 *
 * Everything is single precision (the FPU of a Cortex-M4F has no double); the square root is the
 * single-instruction VSQRT.F32 where the FPU has it.
 *
 * Masked (pruned) parameters are not handled here: sparse on-device training is a separate
 * feature. A pruned weight updated by these functions would generally become non-zero.
 */
#ifndef ET_OPTIM_H
#define ET_OPTIM_H

#include <stdint.h>

#include "et_status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    ET_OPTIM_SGD = 0,
    ET_OPTIM_ADAM = 1
} et_optim_kind;

typedef struct {
    float lr;            /* > 0 */
    float momentum;      /* in [0, 1); 0 means plain SGD and no velocity slot */
    float weight_decay;  /* >= 0, L2 added to the gradient */
} et_sgd_params;

typedef struct {
    float lr;               /* > 0 */
    float beta1;            /* in [0, 1) */
    float beta2;            /* in [0, 1) */
    float eps;              /* > 0, added outside the square root */
    float weight_decay;     /* >= 0, L2 added to the gradient */
    /* 1 - beta1 and 1 - beta2, stored separately because the float value of beta2 = 0.999 loses
     * most of the digits of 1 - beta2 (1 - 0.999f is off by 1.3e-5 relative). A generator writes
     * them rounded from double, as numpy does; et_adam_params_init derives them in float. */
    float one_minus_beta1;
    float one_minus_beta2;
} et_adam_params;

/* Adam's step counter and the per-step scalars derived from it (once per step, not per weight). */
typedef struct {
    int32_t t;         /* steps begun so far; 0 after et_adam_step_init */
    float bc1;         /* 1 - beta1^t, by the recurrence c_t = (1 - b1) + b1 c_{t-1}: no cancellation */
    float bc2;         /* 1 - beta2^t */
    float step_size;   /* lr / bc1 */
    float inv_bc2;     /* 1 / bc2 */
} et_adam_step;

/* One optimizer for a whole network (what the fused dense kernels take). */
typedef struct {
    et_optim_kind kind;
    et_sgd_params sgd;    /* used when kind == ET_OPTIM_SGD */
    et_adam_params adam;  /* used when kind == ET_OPTIM_ADAM */
    et_adam_step step;    /* Adam only */
} et_optimizer;

/* A trainable float32 tensor and its optimizer slots. */
typedef struct {
    float *value;       /* [n], updated in place */
    float *m;           /* SGD: velocity [n] (may be NULL when momentum == 0); Adam: first moment */
    float *v;           /* Adam: second moment [n]; unused by SGD */
    int32_t trainable;  /* 0: frozen, value is only read and the slots are ignored */
    /* Optional sparsity pattern of a pruned/SET layer: bitmap of ceil(n/8) bytes, bit (i & 7) of
     * mask[i >> 3] set = entry i exists. Entries outside the pattern are forced back to 0 after
     * every update (the numpy engine's Param.apply_constraints), so fine-tuning on the device
     * updates only the non-zeros and keeps the pattern. NULL: dense. */
    const uint8_t *mask;
} et_param_f32;

et_status et_adam_params_init(et_adam_params *params, float lr, float beta1, float beta2, float eps,
                              float weight_decay);
et_status et_adam_step_init(et_adam_step *step);
/* t += 1 and recompute bc1, bc2, step_size, inv_bc2. */
et_status et_adam_step_begin(const et_adam_params *params, et_adam_step *step);

et_status et_sgd_check(const et_sgd_params *params);
et_status et_adam_check(const et_adam_params *params);
/* Validates the parameters of the selected kind (and that Adam's step has begun). */
et_status et_optimizer_check(const et_optimizer *opt);
/* Starts a training step: advances Adam's counter; a no-op for SGD. */
et_status et_optimizer_begin_step(et_optimizer *opt);

/* w[i] updated with gradient g[i], i < n. velocity may be NULL only when momentum == 0. */
et_status et_sgd_update(const et_sgd_params *params, float *w, const float *g, float *velocity,
                        int32_t n);
et_status et_adam_update(const et_adam_params *params, const et_adam_step *step, float *w,
                         const float *g, float *m, float *v, int32_t n);
/* Dispatches on opt->kind; a frozen param is left untouched. */
et_status et_optimizer_update(const et_optimizer *opt, et_param_f32 *param, const float *g,
                              int32_t n);

/* Zeroes the entries of param->value outside param->mask (no-op without a mask). */
void et_param_apply_mask(et_param_f32 *param, int32_t n);

/* Sets n floats to zero: optimizer slots at start and after a rollback. */
et_status et_zero_f32(float *x, int32_t n);

#ifdef __cplusplus
}
#endif

#endif /* ET_OPTIM_H */

/* Test scaffolding: a 2-layer MLP (dense+relu, dense) trained with the runtime's kernels, the way
 * generated training code will chain them. Not part of the runtime. */
#ifndef MLP_H
#define MLP_H

#include <stdint.h>

#include "et_runtime.h"

typedef enum {
    MLP_FUSED = 0,      /* et_dense_f32_backward_update (fast) */
    MLP_FUSED_REF = 1,  /* et_dense_f32_backward_update_ref */
    MLP_PLAIN = 2,      /* gradient buffers + et_optimizer_update (fast gradient kernels) */
    MLP_PLAIN_REF = 3   /* gradient buffers + et_optimizer_update (_ref gradient kernels) */
} mlp_mode;

typedef struct {
    int32_t n_in, n_hidden, n_out, batch;
    et_param_f32 w1, b1, w2, b2;  /* C layout W[n_out][n_in] */
    float *h, *logits, *dh;       /* activations and gradients, [batch][...] */
    float *gw, *gb;               /* plain modes only: gradient buffers of the largest layer */
} mlp;

/* Allocates every array with its own exact-size heap block (so ASan sees overruns); slots are
 * zeroed, weights left for the caller to fill. Exits on allocation failure. */
void mlp_alloc(mlp *m, int32_t n_in, int32_t n_hidden, int32_t n_out, int32_t batch, int frozen1);
void mlp_free(mlp *m);
/* Zeroes every optimizer slot (after a rollback). */
void mlp_zero_slots(mlp *m);

/* Forward only: loss of the batch. */
et_status mlp_loss(mlp *m, const float *x, const int32_t *y, float *loss);
/* Backward with updates, after mlp_loss (which left dlogits in m->logits). */
et_status mlp_backward_update(mlp *m, et_optimizer *opt, mlp_mode mode, const float *x);
/* One training step: forward, loss, backward with the updates applied layer by layer (last first).
 * `opt` must have had et_optimizer_begin_step. */
et_status mlp_train_step(mlp *m, et_optimizer *opt, mlp_mode mode, const float *x, const int32_t *y,
                         float *loss);

#endif

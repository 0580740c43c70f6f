/* SPDX-License-Identifier: Apache-2.0 */
/* Argument validation shared by the shared-weight dense kernels (private to the runtime sources). */
#ifndef ET_SHARED_CHECK_H
#define ET_SHARED_CHECK_H

#include "et_dense_check.h"
#include "et_dense_train_check.h"
#include "et_shared.h"

static inline et_status et_shared_fwd_check(const et_dense_f32_params *p, const float *in,
                                            const float *codebook, const uint16_t *indices,
                                            const float *out)
{
    if (indices == 0) {
        return ET_ERR_NULL_ARG;
    }
    return et_dense_f32_check(p, in, codebook, out);
}

/* The fused dense kernel's checks (what must be present depends on what trains), then those of a
 * shared weight: indices, K, the slot-gradient scratch, no slot mask. */
static inline et_status et_shared_bwd_check(const et_dense_f32_params *p, const et_optimizer *opt,
                                            const float *input, const float *dy,
                                            const et_param_f32 *codebook, int32_t n_slots,
                                            const uint16_t *indices, const float *slot_grad,
                                            const et_param_f32 *bias)
{
    const et_status st = et_dense_bwd_update_check(p, opt, input, dy, codebook, bias);
    if (st != ET_OK) {
        return st;
    }
    if (indices == 0 || (codebook->trainable && slot_grad == 0)) {
        return ET_ERR_NULL_ARG;
    }
    if (n_slots < 1) {
        return ET_ERR_BAD_SHAPE;
    }
    if (n_slots > ET_SHARED_MAX_SLOTS || codebook->mask != 0) {
        return ET_ERR_BAD_PARAM;
    }
    return ET_OK;
}

#endif /* ET_SHARED_CHECK_H */

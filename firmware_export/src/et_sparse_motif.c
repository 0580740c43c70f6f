/* SPDX-License-Identifier: Apache-2.0 */
/* Motif (block-shared) sparse kernels: each block_rows x block_cols block of W is zero or holds one
 * shared value (motif-based SET).
 *
 * 1. scratch[g] = sum of the block_cols inputs of group g, once per sample;
 * 2. per block row r: t = sum over its active blocks (r, g) of scratch[g] * v, one multiply per
 *    block (the block grid is stored as CSR);
 * 3. each of the block_rows outputs of block row r is bias[o] + t (then clamp / requantize).
 * int8 is exact integer arithmetic, so it equals the dense int8 kernel on the expanded matrix;
 * float sums are regrouped (group sums first), agreeing to rounding.
 */
#include "et_sparse.h"
#include "et_sparse_check.h"

#define ET_BLOCK_DOT(CT, COLS, S, V, FROM, TO, ACC, ACC_T)    \
    do {                                                      \
        const CT *c_ = (const CT *)(COLS);                    \
        int32_t k_;                                           \
        for (k_ = (FROM); k_ < (TO); ++k_) {                  \
            (ACC) += (S)[c_[k_]] * (ACC_T)(V)[k_];            \
        }                                                     \
    } while (0)

et_status et_sparse_f32_motif(const et_dense_f32_params *p, const et_sparse_weights *w,
                              const float *input, const float *bias, float *output, float *scratch)
{
    int32_t b;
    const et_status st = et_sp_check_f32(p, w, ET_SPARSE_MOTIF, input, output);
    if (st != ET_OK) {
        return st;
    }
    if (scratch == 0) {
        return ET_ERR_NULL_ARG;
    }
    for (b = 0; b < p->batch; ++b) {
        const float *x = input + (int32_t)(b * p->n_in);
        float *y = output + (int32_t)(b * p->n_out);
        const float *v = (const float *)w->values;
        const int32_t bc = w->block_cols;
        const int32_t br = w->block_rows;
        const int32_t n_groups = p->n_in / bc;
        int32_t from = 0;
        int32_t g;
        int32_t r;
        for (g = 0; g < n_groups; ++g) {
            float s = 0.0f;
            int32_t i;
            for (i = 0; i < bc; ++i) {
                s += x[g * bc + i];
            }
            scratch[g] = s;
        }
        for (r = 0; r < p->n_out / br; ++r) {
            const int32_t to = et_sp_idx(w->idx0, w->idx0_bytes, r + 1);
            float t = 0.0f;
            int32_t j;
            if (w->idx1_bytes == 1) {
                ET_BLOCK_DOT(uint8_t, w->idx1, scratch, v, from, to, t, float);
            } else if (w->idx1_bytes == 2) {
                ET_BLOCK_DOT(uint16_t, w->idx1, scratch, v, from, to, t, float);
            } else {
                ET_BLOCK_DOT(uint32_t, w->idx1, scratch, v, from, to, t, float);
            }
            for (j = 0; j < br; ++j) {
                const int32_t o = r * br + j;
                y[o] = et_sp_clampf((bias != 0 ? bias[o] : 0.0f) + t, p->act_min, p->act_max);
            }
            from = to;
        }
    }
    return ET_OK;
}

et_status et_sparse_s8_motif(const et_dense_s8_params *p, const et_sparse_weights *w,
                             const int8_t *input, const int32_t *bias, int8_t *output,
                             int32_t *scratch)
{
    int32_t b;
    int32_t off;
    const et_status st = et_sp_check_s8(p, w, ET_SPARSE_MOTIF, input, output);
    if (st != ET_OK) {
        return st;
    }
    if (scratch == 0) {
        return ET_ERR_NULL_ARG;
    }
    off = p->eff_bias == 0 ? p->input_offset : 0; /* eff_bias folds the offset in */
    for (b = 0; b < p->batch; ++b) {
        const int8_t *x = input + (int32_t)(b * p->n_in);
        int8_t *y = output + (int32_t)(b * p->n_out);
        const int8_t *v = (const int8_t *)w->values;
        const int32_t bc = w->block_cols;
        const int32_t br = w->block_rows;
        const int32_t n_groups = p->n_in / bc;
        int32_t from = 0;
        int32_t g;
        int32_t r;
        for (g = 0; g < n_groups; ++g) {
            int32_t s = bc * off;
            int32_t i;
            for (i = 0; i < bc; ++i) {
                s += (int32_t)x[g * bc + i];
            }
            scratch[g] = s;
        }
        for (r = 0; r < p->n_out / br; ++r) {
            const int32_t to = et_sp_idx(w->idx0, w->idx0_bytes, r + 1);
            int32_t t = 0;
            int32_t j;
            if (w->idx1_bytes == 1) {
                ET_BLOCK_DOT(uint8_t, w->idx1, scratch, v, from, to, t, int32_t);
            } else if (w->idx1_bytes == 2) {
                ET_BLOCK_DOT(uint16_t, w->idx1, scratch, v, from, to, t, int32_t);
            } else {
                ET_BLOCK_DOT(uint32_t, w->idx1, scratch, v, from, to, t, int32_t);
            }
            for (j = 0; j < br; ++j) {
                const int32_t o = r * br + j;
                const int32_t init = p->eff_bias != 0 ? p->eff_bias[o] : (bias != 0 ? bias[o] : 0);
                y[o] = et_sp_requant_q31(p, init + t, o);
            }
            from = to;
        }
    }
    return ET_OK;
}

/* The group sums: n_in / block_cols elements of `elem` bytes, under the shape checks of
 * et_sp_check_weights and et_sp_check_f32 / et_sp_check_s8. */
static int32_t et_motif_scratch_bytes(int32_t batch, int32_t n_in, int32_t n_out,
                                      const et_sparse_weights *w, int32_t elem)
{
    int32_t groups;
    if (w == 0 || batch < 1 || n_in < 1 || n_out < 1 || w->block_rows < 1 || w->block_cols < 1 ||
        n_in % w->block_cols != 0 || n_out % w->block_rows != 0) {
        return -1;
    }
    groups = n_in / w->block_cols;
    return groups > INT32_MAX / elem ? -1 : groups * elem;
}

int32_t et_sparse_f32_motif_scratch_bytes(const et_dense_f32_params *params,
                                          const et_sparse_weights *w)
{
    if (params == 0) {
        return -1;
    }
    return et_motif_scratch_bytes(params->batch, params->n_in, params->n_out, w,
                                  (int32_t)sizeof(float));
}

int32_t et_sparse_s8_motif_scratch_bytes(const et_dense_s8_params *params,
                                         const et_sparse_weights *w)
{
    if (params == 0) {
        return -1;
    }
    return et_motif_scratch_bytes(params->batch, params->n_in, params->n_out, w,
                                  (int32_t)sizeof(int32_t));
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Fast delta-offset stream kernels (8- and 4-bit gaps; float32 and int8).
 *
 * The stream is walked once per sample with a column cursor relative to the current row: entry k
 * lands at column c + 1 + gap_k; a column past the row's end means the entry belongs to a later
 * row, so the row is finished and the cursor is rebased by n_in. Fillers (gap = max, value 0) are
 * ordinary entries: they multiply an input by zero, which costs one MAC but no branch.
 */
#include "et_sparse.h"
#include "et_sparse_check.h"

/* Consume row entries of a delta stream: GAP(k) yields entry k's gap, BODY uses column nc_. */
#define ET_DELTA_ROW(GAP, N_IN, N, K, C, BODY)  \
    for (; (K) < (N); ++(K)) {                 \
        const int32_t nc_ = (C) + 1 + (GAP);   \
        if (nc_ >= (N_IN)) {                   \
            break;                             \
        }                                      \
        BODY;                                  \
        (C) = nc_;                             \
    }

#define ET_GAP8(G, K) ((int32_t)(G)[K])
#define ET_GAP4(G, K) ((int32_t)(((G)[(K) >> 1] >> (((K) & 1) << 2)) & 0x0Fu))

et_status et_sparse_f32_delta(const et_dense_f32_params *p, const et_sparse_weights *w,
                              const float *input, const float *bias, float *output)
{
    int32_t b;
    const et_status st = et_sp_check_f32(p, w, ET_SPARSE_DELTA8, input, output);
    if (st != ET_OK) {
        return st;
    }
    for (b = 0; b < p->batch; ++b) {
        const float *x = input + (int32_t)(b * p->n_in);
        float *y = output + (int32_t)(b * p->n_out);
        const uint8_t *g = (const uint8_t *)w->idx0;
        const float *v = (const float *)w->values;
        const int32_t n_in = p->n_in;
        const int32_t n = w->n_entries;
        int32_t k = 0;
        int32_t c = -1; /* column of the last entry, relative to the current row */
        int32_t o;
        for (o = 0; o < p->n_out; ++o) {
            float acc = bias != 0 ? bias[o] : 0.0f;
            if (w->format == ET_SPARSE_DELTA8) {
                ET_DELTA_ROW(ET_GAP8(g, k), n_in, n, k, c, acc += x[nc_] * v[k])
            } else {
                ET_DELTA_ROW(ET_GAP4(g, k), n_in, n, k, c, acc += x[nc_] * v[k])
            }
            y[o] = et_sp_clampf(acc, p->act_min, p->act_max);
            c -= n_in;
        }
    }
    return ET_OK;
}

et_status et_sparse_s8_delta(const et_dense_s8_params *p, const et_sparse_weights *w,
                             const int8_t *input, const int32_t *bias, int8_t *output)
{
    int32_t b;
    int32_t off;
    const et_status st = et_sp_check_s8(p, w, ET_SPARSE_DELTA8, input, output);
    if (st != ET_OK) {
        return st;
    }
    off = p->eff_bias == 0 ? p->input_offset : 0; /* eff_bias folds the offset in */
    for (b = 0; b < p->batch; ++b) {
        const int8_t *x = input + (int32_t)(b * p->n_in);
        int8_t *y = output + (int32_t)(b * p->n_out);
        const uint8_t *g = (const uint8_t *)w->idx0;
        const int8_t *v = (const int8_t *)w->values;
        const int32_t n_in = p->n_in;
        const int32_t n = w->n_entries;
        int32_t k = 0;
        int32_t c = -1;
        int32_t o;
        for (o = 0; o < p->n_out; ++o) {
            int32_t acc = p->eff_bias != 0 ? p->eff_bias[o] : (bias != 0 ? bias[o] : 0);
            if (w->format == ET_SPARSE_DELTA8) {
                ET_DELTA_ROW(ET_GAP8(g, k), n_in, n, k, c,
                             acc += ((int32_t)x[nc_] + off) * (int32_t)v[k])
            } else {
                ET_DELTA_ROW(ET_GAP4(g, k), n_in, n, k, c,
                             acc += ((int32_t)x[nc_] + off) * (int32_t)v[k])
            }
            y[o] = et_sp_requant_q31(p, acc, o);
            c -= n_in;
        }
    }
    return ET_OK;
}

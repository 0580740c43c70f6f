/* SPDX-License-Identifier: Apache-2.0 */
/* Fast bitmap kernels (float32 and int8).
 *
 * Row o covers bits [o * n_in, (o + 1) * n_in) of the continuous bitmap. The row is scanned a byte
 * at a time (bits outside the row masked off); each set bit is found with count-trailing-zeros and
 * cleared, so the work is one step per byte plus one per stored weight, not one per position.
 */
#include "et_sparse.h"
#include "et_sparse_check.h"

static inline int32_t et_ctz8(uint32_t v)
{
#if defined(__GNUC__) || defined(__clang__)
    return (int32_t)__builtin_ctz(v);
#else
    int32_t n = 0;
    while ((v & 1u) == 0u) {
        v >>= 1;
        ++n;
    }
    return n;
#endif
}

/* For each stored position of row `o`, run BODY with its column col_ and advance K. */
#define ET_BITMAP_ROW(BITS, O, N_IN, K, BODY)                                         \
    do {                                                                              \
        const int32_t base_ = (O) * (N_IN);                                           \
        const int32_t end_ = base_ + (N_IN);                                          \
        int32_t q_ = base_;                                                           \
        while (q_ < end_) {                                                           \
            const int32_t sh_ = q_ & 7;                                               \
            const int32_t span_ = (8 - sh_) < (end_ - q_) ? (8 - sh_) : (end_ - q_);  \
            uint32_t m_ = ((uint32_t)(BITS)[q_ >> 3] >> sh_) & ((1u << span_) - 1u);  \
            while (m_ != 0u) {                                                        \
                const int32_t col_ = q_ - base_ + et_ctz8(m_);                        \
                BODY;                                                                 \
                ++(K);                                                                \
                m_ &= m_ - 1u;                                                        \
            }                                                                         \
            q_ += span_;                                                              \
        }                                                                             \
    } while (0)

et_status et_sparse_f32_bitmap(const et_dense_f32_params *p, const et_sparse_weights *w,
                               const float *input, const float *bias, float *output)
{
    int32_t b;
    const et_status st = et_sp_check_f32(p, w, ET_SPARSE_BITMAP, input, output);
    if (st != ET_OK) {
        return st;
    }
    for (b = 0; b < p->batch; ++b) {
        const float *x = input + (int32_t)(b * p->n_in);
        float *y = output + (int32_t)(b * p->n_out);
        const uint8_t *bits = (const uint8_t *)w->idx0;
        const float *v = (const float *)w->values;
        int32_t k = 0;
        int32_t o;
        for (o = 0; o < p->n_out; ++o) {
            float acc = bias != 0 ? bias[o] : 0.0f;
            ET_BITMAP_ROW(bits, o, p->n_in, k, acc += x[col_] * v[k]);
            y[o] = et_sp_clampf(acc, p->act_min, p->act_max);
        }
    }
    return ET_OK;
}

et_status et_sparse_s8_bitmap(const et_dense_s8_params *p, const et_sparse_weights *w,
                              const int8_t *input, const int32_t *bias, int8_t *output)
{
    int32_t b;
    int32_t off;
    const et_status st = et_sp_check_s8(p, w, ET_SPARSE_BITMAP, input, output);
    if (st != ET_OK) {
        return st;
    }
    off = p->eff_bias == 0 ? p->input_offset : 0; /* eff_bias folds the offset in */
    for (b = 0; b < p->batch; ++b) {
        const int8_t *x = input + (int32_t)(b * p->n_in);
        int8_t *y = output + (int32_t)(b * p->n_out);
        const uint8_t *bits = (const uint8_t *)w->idx0;
        const int8_t *v = (const int8_t *)w->values;
        int32_t k = 0;
        int32_t o;
        for (o = 0; o < p->n_out; ++o) {
            int32_t acc = p->eff_bias != 0 ? p->eff_bias[o] : (bias != 0 ? bias[o] : 0);
            ET_BITMAP_ROW(bits, o, p->n_in, k, acc += ((int32_t)x[col_] + off) * (int32_t)v[k]);
            y[o] = et_sp_requant_q31(p, acc, o);
        }
    }
    return ET_OK;
}

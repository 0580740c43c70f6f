/* SPDX-License-Identifier: Apache-2.0 */
/* Fast CSR and COO sparse kernels (float32 and int8).
 *
 * Each output row is one gather loop over its stored entries: load the column index, load the
 * input it names, multiply-accumulate. The loops are specialised per column index width so the
 * index load is a single LDRB/LDRH; the row bounds (one read per row) use the generic accessor.
 * Sums run in stored order from the bias, like et_sparse_*_ref, so float results agree with the
 * reference to rounding of fused multiply-adds only and int8 is bit-exact.
 */
#include "et_sparse.h"
#include "et_sparse_check.h"

/* acc + sum_{k in [from, to)} x[cols[k]] * v[k], for one column index type. */
#define ET_GATHER_F32(CT, COLS, X, V, FROM, TO, ACC)                       \
    do {                                                                   \
        const CT *c_ = (const CT *)(COLS);                                 \
        int32_t k_;                                                        \
        for (k_ = (FROM); k_ < (TO); ++k_) {                               \
            (ACC) += (X)[c_[k_]] * (V)[k_];                                \
        }                                                                  \
    } while (0)

#define ET_GATHER_S8(CT, COLS, X, OFF, V, FROM, TO, ACC)                   \
    do {                                                                   \
        const CT *c_ = (const CT *)(COLS);                                 \
        int32_t k_;                                                        \
        for (k_ = (FROM); k_ < (TO); ++k_) {                               \
            (ACC) += ((int32_t)(X)[c_[k_]] + (OFF)) * (int32_t)(V)[k_];    \
        }                                                                  \
    } while (0)

#if defined(__GNUC__) && defined(__thumb2__) && defined(__ARM_FP) && ((__ARM_FP & 4) != 0) && \
    defined(__ARM_PCS_VFP)
/* Cortex-M4F/M7: four entries per step. gcc's loop needs 7 instructions per entry (index load,
 * address add, VLDR of x, VLDM of the weight, VFMA, compare, branch); here x is loaded into core
 * registers with a scaled register offset (VLDR has none), moved to the FPU two at a time with one
 * VMOV, and the four weights come in one VLDM: 17 instructions per 4 entries. Same summation order
 * as the reference, with fused multiply-adds. */
#define ET_CSR_F32_ASM(NAME, CT, LD, STEP)                                                          \
    static float NAME(const float *x, const CT *c, const float *v, int32_t n, float acc)          \
    {                                                                                             \
        int32_t n4 = n >> 2;                                                                      \
        int32_t k;                                                                                \
        if (n4 > 0) {                                                                             \
            __asm__ volatile("1:\n\t"                                                              \
                             LD " r0, [%[c]], #" STEP "\n\t"                                       \
                             LD " r1, [%[c]], #" STEP "\n\t"                                       \
                             LD " r2, [%[c]], #" STEP "\n\t"                                       \
                             LD " r3, [%[c]], #" STEP "\n\t"                                       \
                             "ldr r0, [%[x], r0, lsl #2]\n\t"                                      \
                             "ldr r1, [%[x], r1, lsl #2]\n\t"                                      \
                             "ldr r2, [%[x], r2, lsl #2]\n\t"                                      \
                             "ldr r3, [%[x], r3, lsl #2]\n\t"                                      \
                             "vmov s0, s1, r0, r1\n\t"                                             \
                             "vmov s2, s3, r2, r3\n\t"                                             \
                             "vldmia %[v]!, {s4-s7}\n\t"                                           \
                             "vfma.f32 %[acc], s0, s4\n\t"                                         \
                             "vfma.f32 %[acc], s1, s5\n\t"                                         \
                             "vfma.f32 %[acc], s2, s6\n\t"                                         \
                             "vfma.f32 %[acc], s3, s7\n\t"                                         \
                             "subs %[n4], %[n4], #1\n\t"                                           \
                             "bne 1b\n\t"                                                          \
                             : [c] "+r"(c), [v] "+r"(v), [n4] "+r"(n4), [acc] "+t"(acc)          \
                             : [x] "r"(x)                                                         \
                             : "cc", "memory", "r0", "r1", "r2", "r3", "s0", "s1", "s2", "s3",    \
                               "s4", "s5", "s6", "s7");                                           \
        }                                                                                         \
        for (k = 0; k < (n & 3); ++k) {                                                           \
            acc += x[c[k]] * v[k];                                                                \
        }                                                                                         \
        return acc;                                                                               \
    }
ET_CSR_F32_ASM(et_csr_f32_u8, uint8_t, "ldrb", "1")
ET_CSR_F32_ASM(et_csr_f32_u16, uint16_t, "ldrh", "2")
#define ET_CSR_F32_HAVE_ASM 1
#else
#define ET_CSR_F32_HAVE_ASM 0
#endif

static inline float et_csr_dot_f32(const et_sparse_weights *w, const float *x, int32_t from,
                                   int32_t to, float acc)
{
    const float *v = (const float *)w->values;
#if ET_CSR_F32_HAVE_ASM
    if (from == to) {
        return acc; /* also keeps NULL arrays of an empty layer out of pointer arithmetic */
    }
    if (w->idx1_bytes == 1) {
        return et_csr_f32_u8(x, (const uint8_t *)w->idx1 + from, v + from, to - from, acc);
    }
    if (w->idx1_bytes == 2) {
        return et_csr_f32_u16(x, (const uint16_t *)w->idx1 + from, v + from, to - from, acc);
    }
#endif
    if (w->idx1_bytes == 1) {
        ET_GATHER_F32(uint8_t, w->idx1, x, v, from, to, acc);
    } else if (w->idx1_bytes == 2) {
        ET_GATHER_F32(uint16_t, w->idx1, x, v, from, to, acc);
    } else {
        ET_GATHER_F32(uint32_t, w->idx1, x, v, from, to, acc);
    }
    return acc;
}

static inline int32_t et_csr_dot_s8(const et_sparse_weights *w, const int8_t *x, int32_t off,
                                    int32_t from, int32_t to, int32_t acc)
{
    const int8_t *v = (const int8_t *)w->values;
    if (w->idx1_bytes == 1) {
        ET_GATHER_S8(uint8_t, w->idx1, x, off, v, from, to, acc);
    } else if (w->idx1_bytes == 2) {
        ET_GATHER_S8(uint16_t, w->idx1, x, off, v, from, to, acc);
    } else {
        ET_GATHER_S8(uint32_t, w->idx1, x, off, v, from, to, acc);
    }
    return acc;
}

et_status et_sparse_f32_csr(const et_dense_f32_params *p, const et_sparse_weights *w,
                            const float *input, const float *bias, float *output)
{
    int32_t b;
    const et_status st = et_sp_check_f32(p, w, ET_SPARSE_CSR, input, output);
    if (st != ET_OK) {
        return st;
    }
    for (b = 0; b < p->batch; ++b) {
        const float *x = input + (int32_t)(b * p->n_in);
        float *y = output + (int32_t)(b * p->n_out);
        int32_t from = 0;
        int32_t o;
        for (o = 0; o < p->n_out; ++o) {
            const int32_t to = et_sp_idx(w->idx0, w->idx0_bytes, o + 1);
            const float acc = et_csr_dot_f32(w, x, from, to, bias != 0 ? bias[o] : 0.0f);
            y[o] = et_sp_clampf(acc, p->act_min, p->act_max);
            from = to;
        }
    }
    return ET_OK;
}

et_status et_sparse_s8_csr(const et_dense_s8_params *p, const et_sparse_weights *w,
                           const int8_t *input, const int32_t *bias, int8_t *output)
{
    int32_t b;
    const et_status st = et_sp_check_s8(p, w, ET_SPARSE_CSR, input, output);
    int32_t off;
    if (st != ET_OK) {
        return st;
    }
    /* With eff_bias the input offset is already folded into the per-row start value. */
    off = p->eff_bias == 0 ? p->input_offset : 0;
    for (b = 0; b < p->batch; ++b) {
        const int8_t *x = input + (int32_t)(b * p->n_in);
        int8_t *y = output + (int32_t)(b * p->n_out);
        int32_t from = 0;
        int32_t o;
        for (o = 0; o < p->n_out; ++o) {
            const int32_t to = et_sp_idx(w->idx0, w->idx0_bytes, o + 1);
            const int32_t init = p->eff_bias != 0 ? p->eff_bias[o] : (bias != 0 ? bias[o] : 0);
            y[o] = et_sp_requant_q31(p, et_csr_dot_s8(w, x, off, from, to, init), o);
            from = to;
        }
    }
    return ET_OK;
}

/* COO: entries are sorted row-major, so row o's entries are the run of rows[k] == o. The run end
 * is found with the generic row accessor, then the same gather loop as CSR runs over it. */
static int32_t et_coo_run_end(const et_sparse_weights *w, int32_t k, int32_t o)
{
    while (k < w->n_entries && et_sp_idx(w->idx0, w->idx0_bytes, k) == o) {
        ++k;
    }
    return k;
}

et_status et_sparse_f32_coo(const et_dense_f32_params *p, const et_sparse_weights *w,
                            const float *input, const float *bias, float *output)
{
    int32_t b;
    const et_status st = et_sp_check_f32(p, w, ET_SPARSE_COO, input, output);
    if (st != ET_OK) {
        return st;
    }
    for (b = 0; b < p->batch; ++b) {
        const float *x = input + (int32_t)(b * p->n_in);
        float *y = output + (int32_t)(b * p->n_out);
        int32_t from = 0;
        int32_t o;
        for (o = 0; o < p->n_out; ++o) {
            const int32_t to = et_coo_run_end(w, from, o);
            const float acc = et_csr_dot_f32(w, x, from, to, bias != 0 ? bias[o] : 0.0f);
            y[o] = et_sp_clampf(acc, p->act_min, p->act_max);
            from = to;
        }
    }
    return ET_OK;
}

et_status et_sparse_s8_coo(const et_dense_s8_params *p, const et_sparse_weights *w,
                           const int8_t *input, const int32_t *bias, int8_t *output)
{
    int32_t b;
    const et_status st = et_sp_check_s8(p, w, ET_SPARSE_COO, input, output);
    int32_t off;
    if (st != ET_OK) {
        return st;
    }
    off = p->eff_bias == 0 ? p->input_offset : 0;
    for (b = 0; b < p->batch; ++b) {
        const int8_t *x = input + (int32_t)(b * p->n_in);
        int8_t *y = output + (int32_t)(b * p->n_out);
        int32_t from = 0;
        int32_t o;
        for (o = 0; o < p->n_out; ++o) {
            const int32_t to = et_coo_run_end(w, from, o);
            const int32_t init = p->eff_bias != 0 ? p->eff_bias[o] : (bias != 0 ? bias[o] : 0);
            y[o] = et_sp_requant_q31(p, et_csr_dot_s8(w, x, off, from, to, init), o);
            from = to;
        }
    }
    return ET_OK;
}

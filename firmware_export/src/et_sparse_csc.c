/* SPDX-License-Identifier: Apache-2.0 */
/* Input-driven (column-major, CSC) sparse kernels (float32 and int8).
 *
 * Outputs start at the bias; then, column by column, an input that is not zero is multiplied into
 * the outputs its column stores (scatter: load the row index, load the output, multiply-add,
 * store). A zero input skips its whole column, so after a ReLU (about half the activations exactly
 * zero) only about half the stored weights are touched. Every output still receives its terms in
 * increasing column order starting from the bias, the order of et_sparse_*_ref, so float results
 * agree with the reference up to fused multiply-adds and skipped 0 * w terms; int8 is exact.
 */
#include "et_sparse.h"
#include "et_sparse_check.h"

#include <float.h>

/* y[rows[k] / 4] += xk * v[k] for k in [0, n), one row offset type: rows hold byte offsets, added
 * to the address directly (a register-offset load/store, no shift). */
#define ET_SCATTER_F32(CT, ROWS, Y, V, N, XK)                              \
    do {                                                                   \
        const CT *r_ = (const CT *)(ROWS);                                 \
        int32_t k_;                                                        \
        for (k_ = 0; k_ < (N); ++k_) {                                     \
            *(float *)((char *)(Y) + r_[k_]) += (XK) * (V)[k_];            \
        }                                                                  \
    } while (0)

#define ET_SCATTER_S8(CT, ROWS, ACC, V, N, XK)                             \
    do {                                                                   \
        const CT *r_ = (const CT *)(ROWS);                                 \
        int32_t k_;                                                        \
        for (k_ = 0; k_ < (N); ++k_) {                                     \
            *(int32_t *)((char *)(ACC) + r_[k_]) += (XK) * (int32_t)(V)[k_]; \
        }                                                                  \
    } while (0)

#if defined(__GNUC__) && defined(__thumb2__) && defined(__ARM_FP) && ((__ARM_FP & 4) != 0) && \
    defined(__ARM_PCS_VFP)
/* Cortex-M4F/M7: four entries per step, 23 instructions (4 offset loads, 4 address adds, one VLDM
 * of the four weights, 4 VLDR of the outputs, 4 VFMA, 4 VSTR, count, branch); then 0-3 single
 * entries at 8 instructions. The rows of one column are distinct, so the four outputs of a step
 * never alias. */
#define ET_CSC_F32_ASM(NAME, CT, LD, STEP)                                                          \
    static void NAME(float *y, const CT *r, const float *v, int32_t n, float xk)                  \
    {                                                                                             \
        int32_t n4 = n >> 2;                                                                      \
        int32_t n1 = n & 3;                                                                       \
        if (n4 > 0) {                                                                             \
            __asm__ volatile("1:\n\t"                                                              \
                             LD " r0, [%[r]], #" STEP "\n\t"                                       \
                             LD " r1, [%[r]], #" STEP "\n\t"                                       \
                             LD " r2, [%[r]], #" STEP "\n\t"                                       \
                             LD " r3, [%[r]], #" STEP "\n\t"                                       \
                             "add r0, %[y], r0\n\t"                                                \
                             "add r1, %[y], r1\n\t"                                                \
                             "add r2, %[y], r2\n\t"                                                \
                             "add r3, %[y], r3\n\t"                                                \
                             "vldmia %[v]!, {s4-s7}\n\t"                                           \
                             "vldr s0, [r0]\n\t"                                                   \
                             "vldr s1, [r1]\n\t"                                                   \
                             "vldr s2, [r2]\n\t"                                                   \
                             "vldr s3, [r3]\n\t"                                                   \
                             "vfma.f32 s0, %[xk], s4\n\t"                                          \
                             "vfma.f32 s1, %[xk], s5\n\t"                                          \
                             "vfma.f32 s2, %[xk], s6\n\t"                                          \
                             "vfma.f32 s3, %[xk], s7\n\t"                                          \
                             "vstr s0, [r0]\n\t"                                                   \
                             "vstr s1, [r1]\n\t"                                                   \
                             "vstr s2, [r2]\n\t"                                                   \
                             "vstr s3, [r3]\n\t"                                                   \
                             "subs %[n4], %[n4], #1\n\t"                                           \
                             "bne 1b\n\t"                                                          \
                             : [r] "+r"(r), [v] "+r"(v), [n4] "+r"(n4)                            \
                             : [y] "r"(y), [xk] "t"(xk)                                           \
                             : "cc", "memory", "r0", "r1", "r2", "r3", "s0", "s1", "s2", "s3",    \
                               "s4", "s5", "s6", "s7");                                           \
        }                                                                                         \
        if (n1 > 0) {                                                                             \
            __asm__ volatile("2:\n\t"                                                              \
                             LD " r0, [%[r]], #" STEP "\n\t"                                       \
                             "add r0, %[y], r0\n\t"                                                \
                             "vldmia %[v]!, {s4}\n\t"                                              \
                             "vldr s0, [r0]\n\t"                                                   \
                             "vfma.f32 s0, %[xk], s4\n\t"                                          \
                             "vstr s0, [r0]\n\t"                                                   \
                             "subs %[n1], %[n1], #1\n\t"                                           \
                             "bne 2b\n\t"                                                          \
                             : [r] "+r"(r), [v] "+r"(v), [n1] "+r"(n1)                            \
                             : [y] "r"(y), [xk] "t"(xk)                                           \
                             : "cc", "memory", "r0", "s0", "s4");                                 \
        }                                                                                         \
    }
ET_CSC_F32_ASM(et_csc_f32_u8, uint8_t, "ldrb", "1")
ET_CSC_F32_ASM(et_csc_f32_u16, uint16_t, "ldrh", "2")
#define ET_CSC_F32_HAVE_ASM 1
#else
#define ET_CSC_F32_HAVE_ASM 0
#endif

/* Scatter column entries [from, to) (from < to) times xk into y. */
static inline void et_csc_col_f32(const et_sparse_weights *w, float *y, int32_t from, int32_t to,
                                  float xk)
{
    const float *v = (const float *)w->values + from;
    const int32_t n = to - from;
#if ET_CSC_F32_HAVE_ASM
    if (w->idx1_bytes == 1) {
        et_csc_f32_u8(y, (const uint8_t *)w->idx1 + from, v, n, xk);
        return;
    }
    if (w->idx1_bytes == 2) {
        et_csc_f32_u16(y, (const uint16_t *)w->idx1 + from, v, n, xk);
        return;
    }
#endif
    if (w->idx1_bytes == 1) {
        ET_SCATTER_F32(uint8_t, (const uint8_t *)w->idx1 + from, y, v, n, xk);
    } else if (w->idx1_bytes == 2) {
        ET_SCATTER_F32(uint16_t, (const uint16_t *)w->idx1 + from, y, v, n, xk);
    } else {
        ET_SCATTER_F32(uint32_t, (const uint32_t *)w->idx1 + from, y, v, n, xk);
    }
}

/* The column loop for one col_ptr type: visit the non-empty columns of the non-zero inputs. */
#define ET_CSC_COLUMNS_F32(PT, W, X, Y, N_IN)                              \
    do {                                                                   \
        const PT *cp_ = (const PT *)(W)->idx0;                             \
        int32_t k_;                                                        \
        for (k_ = 0; k_ < (N_IN); ++k_) {                                  \
            const float xk_ = (X)[k_];                                     \
            if (xk_ != 0.0f) {                                             \
                const int32_t from_ = (int32_t)cp_[k_];                    \
                const int32_t to_ = (int32_t)cp_[k_ + 1];                  \
                if (to_ > from_) {                                         \
                    et_csc_col_f32((W), (Y), from_, to_, xk_);             \
                }                                                          \
            }                                                              \
        }                                                                  \
    } while (0)

#if ET_CSC_F32_HAVE_ASM
/* The whole column loop in Thumb-2/VFP for uint16 col_ptr (the common case: 256 <= nnz < 65536)
 * and uint8 or uint16 rows. A zero input (+0 or -0: the bits shifted left once are 0) costs 6
 * instructions; a non-zero column 15 plus its entries (uint16 offsets: 21 per 4, uint8: 20; then 8
 * per leftover entry). The row offsets are byte offsets, so the packed loads (unaligned LDR, which
 * the M4 allows for normal memory) need no shift.
 * void f(const float *x, const uint16_t *col_ptr, int32_t n_in (> 0), float *y,
 *        const uintN_t *rows, const float *values) */
#define ET_CSC_COLS_ASM(NAME, LD, STEP, SCALE, ADDR4)                                                      \
    __asm__(".text\n\t.syntax unified\n\t.thumb\n\t.align 2\n\t.global " NAME "\n\t"                \
            ".type " NAME ", %function\n\t.thumb_func\n" NAME ":\n\t"                               \
            "push {r4-r11, lr}\n\t"                                                                 \
            "ldr r4, [sp, #36]\n\t"                                                                 \
            "ldr r5, [sp, #40]\n"                                                                   \
            "1:\n\t"                                                                                \
            "ldr r6, [r0], #4\n\t"                                                                  \
            "lsls r7, r6, #1\n\t"                                                                   \
            "beq 9f\n\t"                                                                            \
            "ldrh r7, [r1]\n\t"                                                                     \
            "ldrh r8, [r1, #2]\n\t"                                                                 \
            "sub r8, r8, r7\n\t"                                                                    \
            "vmov s8, r6\n\t"                                                                       \
            "add r9, r4, r7" SCALE "\n\t"                                                           \
            "add r10, r5, r7, lsl #2\n\t"                                                           \
            "lsrs r11, r8, #2\n\t"                                                                  \
            "beq 3f\n"                                                                              \
            "2:\n\t"                                                                                \
            ADDR4                                                                                   \
            "vldmia r10!, {s4-s7}\n\t"                                                              \
            "vldr s0, [r12]\n\t"                                                                    \
            "vldr s1, [lr]\n\t"                                                                     \
            "vldr s2, [r6]\n\t"                                                                     \
            "vldr s3, [r7]\n\t"                                                                     \
            "vfma.f32 s0, s8, s4\n\t"                                                               \
            "vfma.f32 s1, s8, s5\n\t"                                                               \
            "vfma.f32 s2, s8, s6\n\t"                                                               \
            "vfma.f32 s3, s8, s7\n\t"                                                               \
            "vstr s0, [r12]\n\t"                                                                    \
            "vstr s1, [lr]\n\t"                                                                     \
            "vstr s2, [r6]\n\t"                                                                     \
            "vstr s3, [r7]\n\t"                                                                     \
            "subs r11, r11, #1\n\t"                                                                 \
            "bne 2b\n"                                                                              \
            "3:\n\t"                                                                                \
            "ands r8, r8, #3\n\t"                                                                   \
            "beq 9f\n"                                                                              \
            "4:\n\t"                                                                                \
            LD " r6, [r9], #" STEP "\n\t"                                                           \
            "add r6, r3, r6\n\t"                                                                    \
            "vldmia r10!, {s4}\n\t"                                                                 \
            "vldr s0, [r6]\n\t"                                                                     \
            "vfma.f32 s0, s8, s4\n\t"                                                               \
            "vstr s0, [r6]\n\t"                                                                     \
            "subs r8, r8, #1\n\t"                                                                   \
            "bne 4b\n"                                                                              \
            "9:\n\t"                                                                                \
            "adds r1, r1, #2\n\t"                                                                   \
            "subs r2, r2, #1\n\t"                                                                   \
            "bne 1b\n\t"                                                                            \
            "pop {r4-r11, pc}\n\t"                                                                  \
            ".size " NAME ", .-" NAME "\n");
/* Four output addresses from packed byte offsets: one unaligned word load and one UXTAB/UXTAH (or
 * ADD with a shifted operand) per address; entries k..k+3 go to r12, lr, r6, r7. */
#define ET_CSC_ADDR4_U8                                                    \
    "ldr r7, [r9], #4\n\t"                                                  \
    "uxtab r12, r3, r7\n\t"                                                 \
    "uxtab lr, r3, r7, ror #8\n\t"                                          \
    "uxtab r6, r3, r7, ror #16\n\t"                                         \
    "add r7, r3, r7, lsr #24\n\t"
#define ET_CSC_ADDR4_U16                                                   \
    "ldr r6, [r9], #4\n\t"                                                  \
    "ldr r7, [r9], #4\n\t"                                                  \
    "uxtah r12, r3, r6\n\t"                                                 \
    "add lr, r3, r6, lsr #16\n\t"                                           \
    "uxtah r6, r3, r7\n\t"                                                  \
    "add r7, r3, r7, lsr #16\n\t"
ET_CSC_COLS_ASM("et_csc_f32_cols_u8", "ldrb", "1", "", ET_CSC_ADDR4_U8)
ET_CSC_COLS_ASM("et_csc_f32_cols_u16", "ldrh", "2", ", lsl #1", ET_CSC_ADDR4_U16)
void et_csc_f32_cols_u8(const float *x, const uint16_t *col_ptr, int32_t n_in, float *y,
                        const uint8_t *rows, const float *values);
void et_csc_f32_cols_u16(const float *x, const uint16_t *col_ptr, int32_t n_in, float *y,
                         const uint16_t *rows, const float *values);
#endif

#if ET_CSC_F32_HAVE_ASM
/* Four outputs per step with one LDM and one STM (the bias copy: 4 instructions per 4 outputs;
 * ReLU: 8). Returns how many leading elements were done (a multiple of 4). */
static int32_t et_csc_copy4(float *y, const float *b, int32_t n)
{
    int32_t n4 = n >> 2;
    if (n4 > 0) {
        __asm__ volatile("1:\n\t"
                         "ldmia %[b]!, {r0-r3}\n\t"
                         "stmia %[y]!, {r0-r3}\n\t"
                         "subs %[n4], %[n4], #1\n\t"
                         "bne 1b\n\t"
                         : [b] "+r"(b), [y] "+r"(y), [n4] "+r"(n4)
                         :
                         : "cc", "memory", "r0", "r1", "r2", "r3");
    }
    return n & ~3;
}

static int32_t et_csc_relu4(float *y, int32_t n)
{
    int32_t n4 = n >> 2;
    if (n4 > 0) {
        __asm__ volatile("1:\n\t"
                         "ldmia %[y], {r0-r3}\n\t"
                         "bic r0, r0, r0, asr #31\n\t"
                         "bic r1, r1, r1, asr #31\n\t"
                         "bic r2, r2, r2, asr #31\n\t"
                         "bic r3, r3, r3, asr #31\n\t"
                         "stmia %[y]!, {r0-r3}\n\t"
                         "subs %[n4], %[n4], #1\n\t"
                         "bne 1b\n\t"
                         : [y] "+r"(y), [n4] "+r"(n4)
                         :
                         : "cc", "memory", "r0", "r1", "r2", "r3");
    }
    return n & ~3;
}
#endif

/* y = bias (or 0). */
static void et_csc_init_f32(float *y, const float *bias, int32_t n)
{
    int32_t o = 0;
    if (bias == 0) {
        for (o = 0; o < n; ++o) {
            y[o] = 0.0f;
        }
        return;
    }
#if ET_CSC_F32_HAVE_ASM
    o = et_csc_copy4(y, bias, n);
#endif
    for (; o < n; ++o) {
        y[o] = bias[o];
    }
}

/* y = clamp(y). ReLU (lo 0, hi FLT_MAX) works on the bits, one AND-NOT per output: negative values
 * and -0 become +0 (so does -NaN; +inf stays +inf where et_sp_clampf gives FLT_MAX). */
static void et_csc_clamp_f32(float *y, int32_t n, float lo, float hi)
{
    int32_t o = 0;
    if (lo == 0.0f && hi == FLT_MAX) {
#if ET_CSC_F32_HAVE_ASM
        o = et_csc_relu4(y, n);
#endif
        for (; o < n; ++o) {
            union {
                float f;
                uint32_t u;
            } v;
            v.f = y[o];
            v.u &= ~(uint32_t)((int32_t)v.u >> 31);
            y[o] = v.f;
        }
        return;
    }
    for (o = 0; o < n; ++o) {
        y[o] = et_sp_clampf(y[o], lo, hi);
    }
}

et_status et_sparse_f32_csc(const et_dense_f32_params *p, const et_sparse_weights *w,
                            const float *input, const float *bias, float *output)
{
    int32_t b;
    const et_status st = et_sp_check_f32(p, w, ET_SPARSE_CSC, input, output);
    if (st != ET_OK) {
        return st;
    }
    for (b = 0; b < p->batch; ++b) {
        const float *x = input + (int32_t)(b * p->n_in);
        float *y = output + (int32_t)(b * p->n_out);
        const float lo = p->act_min;
        const float hi = p->act_max;
        et_csc_init_f32(y, bias, p->n_out);
#if ET_CSC_F32_HAVE_ASM
        if (w->idx0_bytes == 2 && w->idx1_bytes <= 2) {
            if (w->idx1_bytes == 1) {
                et_csc_f32_cols_u8(x, (const uint16_t *)w->idx0, p->n_in, y, (const uint8_t *)w->idx1,
                                   (const float *)w->values);
            } else {
                et_csc_f32_cols_u16(x, (const uint16_t *)w->idx0, p->n_in, y,
                                    (const uint16_t *)w->idx1, (const float *)w->values);
            }
        } else
#endif
        if (w->idx0_bytes == 1) {
            ET_CSC_COLUMNS_F32(uint8_t, w, x, y, p->n_in);
        } else if (w->idx0_bytes == 2) {
            ET_CSC_COLUMNS_F32(uint16_t, w, x, y, p->n_in);
        } else {
            ET_CSC_COLUMNS_F32(uint32_t, w, x, y, p->n_in);
        }
        et_csc_clamp_f32(y, p->n_out, lo, hi);
    }
    return ET_OK;
}

/* int8: acc[o] = bias[o] + sum over columns with x[k] + off != 0 of (x[k] + off) * W[o][k]. */
static void et_csc_col_s8(const et_sparse_weights *w, int32_t *acc, int32_t from, int32_t to,
                          int32_t xk)
{
    const int8_t *v = (const int8_t *)w->values + from;
    const int32_t n = to - from;
    if (w->idx1_bytes == 1) {
        ET_SCATTER_S8(uint8_t, (const uint8_t *)w->idx1 + from, acc, v, n, xk);
    } else if (w->idx1_bytes == 2) {
        ET_SCATTER_S8(uint16_t, (const uint16_t *)w->idx1 + from, acc, v, n, xk);
    } else {
        ET_SCATTER_S8(uint32_t, (const uint32_t *)w->idx1 + from, acc, v, n, xk);
    }
}

et_status et_sparse_s8_csc(const et_dense_s8_params *p, const et_sparse_weights *w,
                           const int8_t *input, const int32_t *bias, int8_t *output,
                           int32_t *scratch)
{
    int32_t b;
    const et_status st = et_sp_check_s8(p, w, ET_SPARSE_CSC, input, output);
    if (st != ET_OK) {
        return st;
    }
    if (scratch == 0) {
        return ET_ERR_NULL_ARG;
    }
    for (b = 0; b < p->batch; ++b) {
        const int8_t *x = input + (int32_t)(b * p->n_in);
        int8_t *y = output + (int32_t)(b * p->n_out);
        int32_t o;
        int32_t k;
        for (o = 0; o < p->n_out; ++o) {
            scratch[o] = bias != 0 ? bias[o] : 0;
        }
        for (k = 0; k < p->n_in; ++k) {
            const int32_t xk = (int32_t)x[k] + p->input_offset;
            if (xk != 0) {
                const int32_t from = et_sp_idx(w->idx0, w->idx0_bytes, k);
                const int32_t to = et_sp_idx(w->idx0, w->idx0_bytes, k + 1);
                if (to > from) {
                    et_csc_col_s8(w, scratch, from, to, xk);
                }
            }
        }
        for (o = 0; o < p->n_out; ++o) {
            y[o] = et_sp_requant_q31(p, scratch[o], o);
        }
    }
    return ET_OK;
}

/* The n_out int32 accumulators, under the shape checks of et_sp_check_s8 (CSC has 1 x 1 blocks). */
int32_t et_sparse_s8_csc_scratch_bytes(const et_dense_s8_params *params,
                                       const et_sparse_weights *w)
{
    if (params == 0 || w == 0 || params->batch < 1 || params->n_in < 1 || params->n_out < 1 ||
        w->block_rows != 1 || w->block_cols != 1) {
        return -1;
    }
    return params->n_out > INT32_MAX / (int32_t)sizeof(int32_t)
               ? -1
               : params->n_out * (int32_t)sizeof(int32_t);
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Fast int8 dense kernel, bit-exact with et_dense_s8_ref.
 *
 * Four output rows are computed per pass so every input word is loaded and sign-extended once for
 * four rows. On cores with the DSP extension, 4 int8 values are widened to two int16 pairs with
 * SXTB16/SXTAB16 (even lanes, then odd lanes after a rotate by 8) and multiplied-accumulated two at
 * a time with SMLAD. Even/odd lane order is the same for input and weights, so no reordering of the
 * stored weights is needed. All sums are exact int32 arithmetic, hence identical to the reference.
 */
#include <string.h>

#include "et_dense.h"
#include "et_dense_check.h"
#include "et_requant.h"

#if defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>
#endif

/* Per-call constants, gathered once so the per-output code keeps them in registers. */
typedef struct {
    int32_t n_in;
    int32_t n_vec;       /* inputs handled by the vector loop (multiple of 4 on DSP cores) */
    int32_t off;         /* input offset applied in the loop (0 when eff_bias is used) */
    int32_t out_offset;
    int32_t act_min;
    int32_t act_max;
    int32_t ch_step;     /* 1 per channel, 0 per tensor */
    const int8_t *weights;
    const int32_t *init; /* eff_bias, else bias, else NULL (zeros) */
    const int32_t *mult;
    const int32_t *shift;
#if defined(__ARM_FEATURE_DSP)
    uint32_t lo4;        /* act_min in each byte, for the packed SSUB8/SEL clamp */
    uint32_t hi4;        /* act_max in each byte */
#endif
} et_s8_ctx;

#if defined(__ARM_FEATURE_DSP)
/* The inner loops are inline assembly: gcc 12 neither folds the rotate into SXTB16 nor keeps the
 * 14 live values of the 4-row loop in registers, which costs ~40% more instructions per MAC.
 * Operands: x/w0/w2 advance; rows 1 and 3 are read at [w0 + n] and [w2 + n]. LDR with byte-aligned
 * addresses is fine: Cortex-M4/M7 allow unaligned word loads (rows start anywhere when n_in % 4). */

/* One 4-input step of one row: acc += sum (x_i + off) * w_i, given xe/xo = widened input pairs. */
#define ET_ROW_STEP(LOAD, ACC)                  \
    LOAD "\n\t"                                 \
    "sxtb16  %[u], %[t]\n\t"                    \
    "sxtb16  %[t], %[t], ror #8\n\t"            \
    "smlad   " ACC ", %[u], %[xe], " ACC "\n\t" \
    "smlad   " ACC ", %[t], %[xo], " ACC "\n\t"

#define ET_IN_STEP                              \
    "ldr     %[t], [%[x]], #4\n\t"              \
    "sxtab16 %[xe], %[off], %[t]\n\t"           \
    "sxtab16 %[xo], %[off], %[t], ror #8\n\t"

#define ET_4ROW_STEP                                      \
    ET_IN_STEP                                            \
    ET_ROW_STEP("ldr     %[t], [%[w0], %[n]]", "%[a1]")   \
    ET_ROW_STEP("ldr     %[t], [%[w0]], #4", "%[a0]")     \
    ET_ROW_STEP("ldr     %[t], [%[w2], %[n]]", "%[a3]")   \
    ET_ROW_STEP("ldr     %[t], [%[w2]], #4", "%[a2]")

/* a[r] += sum_{k < n4} (x[k] + off) * w_r[k], rows w_r = w0 + r * n; n4 is a multiple of 4. */
#define ET_DOT4(X, W0, N, N4, OFF, A0, A1, A2, A3)                                                 \
    do {                                                                                          \
        const int32_t off2_ = (int32_t)(((uint32_t)(uint16_t)(OFF) << 16) | (uint16_t)(OFF));     \
        const int8_t *w2_ = (W0) + 2 * (N);                                                       \
        const int8_t *const end32_ = (X) + ((N4) & ~(int32_t)31);                                 \
        int32_t xe_;                                                                              \
        int32_t xo_;                                                                              \
        int32_t t_;                                                                               \
        int32_t u_;                                                                               \
        /* 32 inputs per iteration keep the loop branch near 1% of the instructions. */          \
        if ((X) != end32_) {                                                                      \
            __asm__ volatile("1:\n\t" ET_4ROW_STEP ET_4ROW_STEP ET_4ROW_STEP ET_4ROW_STEP         \
                             ET_4ROW_STEP ET_4ROW_STEP ET_4ROW_STEP ET_4ROW_STEP                  \
                             "cmp     %[x], %[end]\n\t"                                           \
                             "bne     1b\n\t"                                                     \
                             : [x] "+r"(X), [w0] "+r"(W0), [w2] "+r"(w2_), [a0] "+r"(A0),         \
                               [a1] "+r"(A1), [a2] "+r"(A2), [a3] "+r"(A3), [xe] "=&r"(xe_),      \
                               [xo] "=&r"(xo_), [t] "=&r"(t_), [u] "=&r"(u_)                      \
                             : [n] "r"(N), [end] "r"(end32_), [off] "r"(off2_)                    \
                             : "cc", "memory");                                                   \
        }                                                                                         \
        if ((N4) & 28) { /* one test in the common n_in % 32 == 0 case */                          \
            if ((N4) & 16) {                                                                       \
                __asm__ volatile(ET_4ROW_STEP ET_4ROW_STEP ET_4ROW_STEP ET_4ROW_STEP               \
                                 : [x] "+r"(X), [w0] "+r"(W0), [w2] "+r"(w2_), [a0] "+r"(A0),      \
                                   [a1] "+r"(A1), [a2] "+r"(A2), [a3] "+r"(A3), [xe] "=&r"(xe_),   \
                                   [xo] "=&r"(xo_), [t] "=&r"(t_), [u] "=&r"(u_)                   \
                                 : [n] "r"(N), [off] "r"(off2_)                                    \
                                 : "memory");                                                      \
            }                                                                                      \
            if ((N4) & 8) {                                                                        \
                __asm__ volatile(ET_4ROW_STEP ET_4ROW_STEP                                         \
                                 : [x] "+r"(X), [w0] "+r"(W0), [w2] "+r"(w2_), [a0] "+r"(A0),      \
                                   [a1] "+r"(A1), [a2] "+r"(A2), [a3] "+r"(A3), [xe] "=&r"(xe_),   \
                                   [xo] "=&r"(xo_), [t] "=&r"(t_), [u] "=&r"(u_)                   \
                                 : [n] "r"(N), [off] "r"(off2_)                                    \
                                 : "memory");                                                      \
            }                                                                                      \
            if ((N4) & 4) {                                                                        \
                __asm__ volatile(ET_4ROW_STEP                                                      \
                                 : [x] "+r"(X), [w0] "+r"(W0), [w2] "+r"(w2_), [a0] "+r"(A0),      \
                                   [a1] "+r"(A1), [a2] "+r"(A2), [a3] "+r"(A3), [xe] "=&r"(xe_),   \
                                   [xo] "=&r"(xo_), [t] "=&r"(t_), [u] "=&r"(u_)                   \
                                 : [n] "r"(N), [off] "r"(off2_)                                    \
                                 : "memory");                                                      \
            }                                                                                      \
        }                                                                                          \
    } while (0)

#define ET_2ROW_STEP                                      \
    ET_IN_STEP                                            \
    ET_ROW_STEP("ldr     %[t], [%[w0], %[n]]", "%[a1]")   \
    ET_ROW_STEP("ldr     %[t], [%[w0]], #4", "%[a0]")

/* a[r] += sum_{k < n4} (x[k] + off) * w_r[k] for rows w_0 = W0, w_1 = W0 + N; n4 a multiple of 4.
 * 16 inputs per iteration, then 4 at a time. */
#define ET_DOT2(X, W0, N, N4, OFF, A0, A1)                                                         \
    do {                                                                                          \
        const int32_t off2_ = (int32_t)(((uint32_t)(uint16_t)(OFF) << 16) | (uint16_t)(OFF));     \
        const int8_t *const end16_ = (X) + ((N4) & ~(int32_t)15);                                 \
        const int8_t *const end4_ = (X) + (N4);                                                   \
        int32_t xe_;                                                                              \
        int32_t xo_;                                                                              \
        int32_t t_;                                                                               \
        int32_t u_;                                                                               \
        if ((X) != end16_) {                                                                      \
            __asm__ volatile("1:\n\t" ET_2ROW_STEP ET_2ROW_STEP ET_2ROW_STEP ET_2ROW_STEP         \
                             "cmp     %[x], %[end]\n\t"                                           \
                             "bne     1b\n\t"                                                     \
                             : [x] "+r"(X), [w0] "+r"(W0), [a0] "+r"(A0), [a1] "+r"(A1),          \
                               [xe] "=&r"(xe_), [xo] "=&r"(xo_), [t] "=&r"(t_), [u] "=&r"(u_)     \
                             : [n] "r"(N), [end] "r"(end16_), [off] "r"(off2_)                    \
                             : "cc", "memory");                                                   \
        }                                                                                         \
        if ((X) != end4_) {                                                                       \
            __asm__ volatile("1:\n\t" ET_2ROW_STEP                                                \
                             "cmp     %[x], %[end]\n\t"                                           \
                             "bne     1b\n\t"                                                     \
                             : [x] "+r"(X), [w0] "+r"(W0), [a0] "+r"(A0), [a1] "+r"(A1),          \
                               [xe] "=&r"(xe_), [xo] "=&r"(xo_), [t] "=&r"(t_), [u] "=&r"(u_)     \
                             : [n] "r"(N), [end] "r"(end4_), [off] "r"(off2_)                     \
                             : "cc", "memory");                                                   \
        }                                                                                         \
    } while (0)

static int32_t et_dot_1row(const int8_t *x, const int8_t *w, int32_t n4, int32_t off, int32_t acc)
{
    const int32_t off2 = (int32_t)(((uint32_t)(uint16_t)off << 16) | (uint16_t)off);
    const int8_t *const end = x + n4;
    int32_t xe;
    int32_t xo;
    int32_t t;
    int32_t u;
    if (n4 > 0) {
        __asm__ volatile("1:\n\t" ET_IN_STEP ET_ROW_STEP("ldr     %[t], [%[w]], #4", "%[acc]")
                         "cmp     %[x], %[end]\n\t"
                         "bne     1b\n\t"
                         : [x] "+r"(x), [w] "+r"(w), [acc] "+r"(acc), [xe] "=&r"(xe),
                           [xo] "=&r"(xo), [t] "=&r"(t), [u] "=&r"(u)
                         : [end] "r"(end), [off] "r"(off2)
                         : "cc", "memory");
    }
    return acc;
}
#define ET_VEC_LEN(n) ((n) & ~(int32_t)3)
#else
#define ET_DOT4(x, w0, n, n4, off, a0, a1, a2, a3)                                                 \
    do {                                                                                          \
        int32_t k_;                                                                               \
        for (k_ = 0; k_ < (n4); ++k_) {                                                           \
            const int32_t xv_ = (int32_t)(x)[k_] + (off);                                         \
            (a0) += xv_ * (int32_t)(w0)[k_];                                                      \
            (a1) += xv_ * (int32_t)(w0)[(n) + k_];                                                \
            (a2) += xv_ * (int32_t)(w0)[2 * (n) + k_];                                            \
            (a3) += xv_ * (int32_t)(w0)[3 * (n) + k_];                                            \
        }                                                                                         \
    } while (0)

#define ET_DOT2(x, w0, n, n4, off, a0, a1)                                                         \
    do {                                                                                          \
        int32_t k_;                                                                               \
        for (k_ = 0; k_ < (n4); ++k_) {                                                           \
            const int32_t xv_ = (int32_t)(x)[k_] + (off);                                         \
            (a0) += xv_ * (int32_t)(w0)[k_];                                                      \
            (a1) += xv_ * (int32_t)(w0)[(n) + k_];                                                \
        }                                                                                         \
    } while (0)

static int32_t et_dot_1row(const int8_t *x, const int8_t *w, int32_t n, int32_t off, int32_t acc)
{
    int32_t k;
    for (k = 0; k < n; ++k) {
        acc += ((int32_t)x[k] + off) * (int32_t)w[k];
    }
    return acc;
}
#define ET_VEC_LEN(n) (n)
#endif

/* Scalar tail for the last n_in % 4 inputs of the vector paths. */
static int32_t et_dot_tail(const int8_t *x, const int8_t *w, int32_t from, int32_t n, int32_t off,
                           int32_t acc)
{
    int32_t k;
    for (k = from; k < n; ++k) {
        acc += ((int32_t)x[k] + off) * (int32_t)w[k];
    }
    return acc;
}

/* Multipliers from quant.py are in [0, 2^31) (et_dense_s8_params), so the one-multiply form of
 * et_requant.h applies; the reference kernel keeps the general et_mbqm. */
static inline int32_t et_requant_s8(int32_t acc, int32_t multiplier, int32_t shift,
                                    const et_s8_ctx *c)
{
    return et_clamp_i32(et_mbqm_q31(acc, multiplier, shift) + c->out_offset, c->act_min,
                        c->act_max);
}

#if defined(__ARM_FEATURE_DSP)
/* Four requantized outputs stored as one word: SSAT to int8 (exact, since the activation range is
 * inside [-128, 127]), pack, then clamp all four bytes at once with SSUB8/SEL (signed per-byte
 * max/min) and one unaligned STR: 4 SSAT + 3 BFI + 4 + STR instead of 4 x (clamp + STRB) ~= 28. */
static inline void et_store4(int8_t *y, int32_t r0, int32_t r1, int32_t r2, int32_t r3,
                             const et_s8_ctx *c)
{
    uint32_t v = (uint32_t)__ssat(r0, 8);
    uint32_t t;
    __asm__("bfi     %[v], %[b1], #8, #8\n\t" /* v = bytes r0 r1 r2 r3 (low to high) */
            "bfi     %[v], %[b2], #16, #8\n\t"
            "bfi     %[v], %[b3], #24, #8\n\t"
            "ssub8   %[t], %[v], %[lo]\n\t"
            "sel     %[v], %[v], %[lo]\n\t" /* GE set where v >= lo: max(v, lo) */
            "ssub8   %[t], %[v], %[hi]\n\t"
            "sel     %[v], %[hi], %[v]\n\t" /* GE set where v >= hi: min(v, hi) */
            : [v] "+r"(v), [t] "=&r"(t)
            : [b1] "r"(__ssat(r1, 8)), [b2] "r"(__ssat(r2, 8)), [b3] "r"(__ssat(r3, 8)),
              [lo] "r"(c->lo4), [hi] "r"(c->hi4)
            : "cc");
    (void)t;
    memcpy(y, &v, 4); /* one STR: Cortex-M4/M7 allow unaligned word stores */
}
#else
static inline void et_store4(int8_t *y, int32_t r0, int32_t r1, int32_t r2, int32_t r3,
                             const et_s8_ctx *c)
{
    y[0] = (int8_t)et_clamp_i32(r0, c->act_min, c->act_max);
    y[1] = (int8_t)et_clamp_i32(r1, c->act_min, c->act_max);
    y[2] = (int8_t)et_clamp_i32(r2, c->act_min, c->act_max);
    y[3] = (int8_t)et_clamp_i32(r3, c->act_min, c->act_max);
}
#endif

/* Four outputs y[0..3] from rows o..o+3. A function of its own (not inlined) so the 14 registers
 * of the inner loop are free and the requantization does not spill. (Looping over all blocks
 * inside it would save the per-block set-up, but gcc 12 then cannot allocate the 14 asm operands.)
 */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static void et_block4(const et_s8_ctx *c, const int8_t *x, int32_t o, int8_t *y)
{
    const int32_t n_in = c->n_in;
    const int8_t *const w = c->weights + o * n_in;
    const int32_t *const init = c->init != 0 ? c->init + o : 0;
    const int32_t step = c->ch_step;
    const int32_t *const mult = c->mult + o * step;
    const int32_t *const shift = c->shift + o * step;
    const int32_t n_vec = c->n_vec;
    const int32_t off = c->off;
    const int32_t out_offset = c->out_offset;
    const int8_t *xp = x;
    const int8_t *wp = w;
    int32_t a0 = 0;
    int32_t a1 = 0;
    int32_t a2 = 0;
    int32_t a3 = 0;
    if (init != 0) {
        a0 = init[0];
        a1 = init[1];
        a2 = init[2];
        a3 = init[3];
    }
    ET_DOT4(xp, wp, n_in, n_vec, off, a0, a1, a2, a3);
    if (n_vec < n_in) {
        a0 = et_dot_tail(x, w, n_vec, n_in, off, a0);
        a1 = et_dot_tail(x, w + n_in, n_vec, n_in, off, a1);
        a2 = et_dot_tail(x, w + 2 * n_in, n_vec, n_in, off, a2);
        a3 = et_dot_tail(x, w + 3 * n_in, n_vec, n_in, off, a3);
    }
    et_store4(y, et_mbqm_q31(a0, mult[0], shift[0]) + out_offset,
              et_mbqm_q31(a1, mult[step], shift[step]) + out_offset,
              et_mbqm_q31(a2, mult[2 * step], shift[2 * step]) + out_offset,
              et_mbqm_q31(a3, mult[3 * step], shift[3 * step]) + out_offset, c);
}

/* The last n_out % 4 outputs: two rows at a time, then one (a 10-output layer spends ~2.5
 * instructions per MAC on two single rows, ~1.7 on one pair). */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static void et_rest(const et_s8_ctx *c, const int8_t *x, int32_t o, int8_t *y, int32_t rows)
{
    const int32_t n_in = c->n_in;
    const int32_t n_vec = c->n_vec;
    const int32_t off = c->off;
    const int32_t step = c->ch_step;
    const int8_t *w = c->weights + o * n_in;
    const int32_t *init = c->init != 0 ? c->init + o : 0;
    const int32_t *mult = c->mult + o * step;
    const int32_t *shift = c->shift + o * step;
    if (rows >= 2) {
        const int8_t *xp = x;
        const int8_t *wp = w;
        int32_t a0 = init != 0 ? init[0] : 0;
        int32_t a1 = init != 0 ? init[1] : 0;
        ET_DOT2(xp, wp, n_in, n_vec, off, a0, a1);
        a0 = et_dot_tail(x, w, n_vec, n_in, off, a0);
        a1 = et_dot_tail(x, w + n_in, n_vec, n_in, off, a1);
        y[0] = (int8_t)et_requant_s8(a0, mult[0], shift[0], c);
        y[1] = (int8_t)et_requant_s8(a1, mult[step], shift[step], c);
        w += 2 * n_in;
        mult += 2 * step;
        shift += 2 * step;
        init = init != 0 ? init + 2 : 0;
        y += 2;
        rows -= 2;
    }
    if (rows > 0) {
        int32_t acc = init != 0 ? init[0] : 0;
        acc = et_dot_1row(x, w, n_vec, off, acc);
        acc = et_dot_tail(x, w, n_vec, n_in, off, acc);
        y[0] = (int8_t)et_requant_s8(acc, mult[0], shift[0], c);
    }
}

et_status et_dense_s8(const et_dense_s8_params *p, const int8_t *input, const int8_t *weights,
                      const int32_t *bias, int8_t *output)
{
    int32_t b;
    et_s8_ctx c;
    int32_t n_out4;
    const et_status st = et_dense_s8_check(p, input, weights, output);
    if (st != ET_OK) {
        return st;
    }
    c.n_in = p->n_in;
    c.n_vec = ET_VEC_LEN(p->n_in);
    /* With an effective bias the input offset is already folded in, so the loops skip it. */
    c.off = p->eff_bias != 0 ? 0 : p->input_offset;
    c.out_offset = p->output_offset;
    c.act_min = p->act_min;
    c.act_max = p->act_max;
    c.ch_step = p->per_channel ? 1 : 0;
    c.weights = weights;
    c.init = p->eff_bias != 0 ? p->eff_bias : bias;
    c.mult = p->multipliers;
    c.shift = p->shifts;
#if defined(__ARM_FEATURE_DSP)
    c.lo4 = (uint32_t)(uint8_t)p->act_min * 0x01010101u;
    c.hi4 = (uint32_t)(uint8_t)p->act_max * 0x01010101u;
#endif
    n_out4 = p->n_out & ~(int32_t)3;
    for (b = 0; b < p->batch; ++b) {
        const int8_t *x = input + (int32_t)(b * c.n_in);
        int8_t *y = output + (int32_t)(b * p->n_out);
        int32_t o;
        for (o = 0; o < n_out4; o += 4) {
            et_block4(&c, x, o, y + o);
        }
        if (n_out4 < p->n_out) {
            et_rest(&c, x, n_out4, y + n_out4, p->n_out - n_out4);
        }
    }
    return ET_OK;
}

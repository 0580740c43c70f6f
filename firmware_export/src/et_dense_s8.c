/* Fast int8 dense kernel, bit-exact with et_dense_s8_ref.
 *
 * Four output rows are computed per pass so every input word is loaded and sign-extended once for
 * four rows. On cores with the DSP extension, 4 int8 values are widened to two int16 pairs with
 * SXTB16/SXTAB16 (even lanes, then odd lanes after a rotate by 8) and multiplied-accumulated two at
 * a time with SMLAD. Even/odd lane order is the same for input and weights, so no reordering of the
 * stored weights is needed. All sums are exact int32 arithmetic, hence identical to the reference.
 */
#include "et_dense.h"
#include "et_dense_check.h"
#include "et_requant.h"

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

/* acc[r] += sum_{k < n4} (x[k] + off) * w_r[k], rows w_r = w0 + r * n; n4 is a multiple of 4. */
/* noinline: the loop needs 14 registers, which only a fresh frame can give it. */
__attribute__((noinline)) static void et_dot_4rows(const int8_t *x, const int8_t *w0, int32_t n,
                                                   int32_t n4, int32_t off,
                         int32_t acc[4])
{
    const int32_t off2 = (int32_t)(((uint32_t)(uint16_t)off << 16) | (uint16_t)off);
    const int8_t *w2 = w0 + 2 * n;
    const int8_t *const end8 = x + (n4 & ~(int32_t)7);
    int32_t a0 = acc[0];
    int32_t a1 = acc[1];
    int32_t a2 = acc[2];
    int32_t a3 = acc[3];
    int32_t xe;
    int32_t xo;
    int32_t t;
    int32_t u;
    if (x != end8) {
        __asm__ volatile("1:\n\t" ET_4ROW_STEP ET_4ROW_STEP
                         "cmp     %[x], %[end]\n\t"
                         "bne     1b\n\t"
                         : [x] "+r"(x), [w0] "+r"(w0), [w2] "+r"(w2), [a0] "+r"(a0),
                           [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [xe] "=&r"(xe),
                           [xo] "=&r"(xo), [t] "=&r"(t), [u] "=&r"(u)
                         : [n] "r"(n), [end] "r"(end8), [off] "r"(off2)
                         : "cc", "memory");
    }
    if (n4 & 4) {
        __asm__ volatile(ET_4ROW_STEP
                         : [x] "+r"(x), [w0] "+r"(w0), [w2] "+r"(w2), [a0] "+r"(a0),
                           [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [xe] "=&r"(xe),
                           [xo] "=&r"(xo), [t] "=&r"(t), [u] "=&r"(u)
                         : [n] "r"(n), [off] "r"(off2)
                         : "memory");
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

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
static void et_dot_4rows(const int8_t *x, const int8_t *w0, int32_t n_in, int32_t n,
                         int32_t off, int32_t acc[4])
{
    const int8_t *w1 = w0 + n_in;
    const int8_t *w2 = w1 + n_in;
    const int8_t *w3 = w2 + n_in;
    int32_t k;
    int32_t a0 = acc[0];
    int32_t a1 = acc[1];
    int32_t a2 = acc[2];
    int32_t a3 = acc[3];
    for (k = 0; k < n; ++k) {
        const int32_t xv = (int32_t)x[k] + off;
        a0 += xv * (int32_t)w0[k];
        a1 += xv * (int32_t)w1[k];
        a2 += xv * (int32_t)w2[k];
        a3 += xv * (int32_t)w3[k];
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

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

static inline int8_t et_requant_out(const et_dense_s8_params *p, int32_t o, int32_t acc)
{
    const int32_t c = p->per_channel ? o : 0;
    const int32_t v = et_mbqm(acc, p->multipliers[c], p->shifts[c]) + p->output_offset;
    return (int8_t)et_clamp_i32(v, p->act_min, p->act_max);
}

et_status et_dense_s8(const et_dense_s8_params *p, const int8_t *input, const int8_t *weights,
                      const int32_t *bias, int8_t *output)
{
    int32_t b;
    const et_status st = et_dense_s8_check(p, input, weights, output);
    const int32_t n_in = p->n_in;
    const int32_t n_vec = ET_VEC_LEN(p->n_in);
    /* With an effective bias the input offset is already folded into it. */
    const int32_t off = p->eff_bias != 0 ? 0 : p->input_offset;
    if (st != ET_OK) {
        return st;
    }
    for (b = 0; b < p->batch; ++b) {
        const int8_t *x = input + (int32_t)(b * n_in);
        int8_t *y = output + (int32_t)(b * p->n_out);
        int32_t o = 0;
        for (; o + 4 <= p->n_out; o += 4) {
            const int8_t *w = weights + (int32_t)(o * n_in);
            int32_t acc[4];
            int32_t r;
            for (r = 0; r < 4; ++r) {
                acc[r] = p->eff_bias != 0 ? p->eff_bias[o + r] : (bias != 0 ? bias[o + r] : 0);
            }
            et_dot_4rows(x, w, n_in, n_vec, off, acc);
            for (r = 0; r < 4; ++r) {
                acc[r] = et_dot_tail(x, w + r * n_in, n_vec, n_in, off, acc[r]);
                y[o + r] = et_requant_out(p, o + r, acc[r]);
            }
        }
        for (; o < p->n_out; ++o) {
            const int8_t *w = weights + (int32_t)(o * n_in);
            int32_t acc = p->eff_bias != 0 ? p->eff_bias[o] : (bias != 0 ? bias[o] : 0);
            acc = et_dot_1row(x, w, n_vec, off, acc);
            acc = et_dot_tail(x, w, n_vec, n_in, off, acc);
            y[o] = et_requant_out(p, o, acc);
        }
    }
    return ET_OK;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Fast float32 dense kernel.
 *
 * Four output rows per pass share each input load (then two, then one for the leftover rows). On
 * Cortex-M4F/M7 (hard-float Thumb-2 with a single-precision FPU) the 8-input inner step is inline
 * assembly: one VLDM brings 8 inputs, one VLDM per row brings 8 weights, and VFMA accumulates: 1.37
 * instructions per MAC on 256x256 where C (one VLDR per operand) needs over 2. Elsewhere a portable
 * C loop with the same row blocking runs.
 * Summation order differs from et_dense_f32_ref (chunks of 8 per accumulator, fused multiply-add),
 * so results agree to rounding, not bit for bit.
 */
#include "et_dense.h"
#include "et_dense_check.h"

#include "et_f32_dot.h"

#define ET_DENSE_F32_ASM ET_F32_DOT_ASM

#if ET_DENSE_F32_ASM

static void et_f32_dot_2rows(const float *x, const float *w, int32_t n_in, int32_t n8, float acc[2])
{
    const float *w0 = w;
    const float *w1 = w0 + n_in;
    const float *const end = x + n8;
    __asm__ volatile("vldmia  %[acc], {s16-s17}\n\t"
                     "1:\n\t"
                     "vldmia  %[x]!, {s0-s7}\n\t"
                     ET_F32_ROW("w0", "s16") ET_F32_ROW("w1", "s17")
                     "cmp     %[x], %[end]\n\t"
                     "bne     1b\n\t"
                     "vstmia  %[acc], {s16-s17}\n\t"
                     : [x] "+r"(x), [w0] "+r"(w0), [w1] "+r"(w1)
                     : [end] "r"(end), [acc] "r"(acc)
                     : "cc", "memory", "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9",
                       "s10", "s11", "s12", "s13", "s14", "s15", "s16", "s17");
}

static void et_f32_dot_rows(const float *x, const float *w, int32_t n_in, int32_t n8, float *acc,
                            int32_t rows)
{
    const float *w0 = w;
    const float *const end = x + n8;
    if (rows == 4) {
        et_f32_dot_4rows(x, w, n_in, n8, acc);
        return;
    }
    if (rows == 2) {
        et_f32_dot_2rows(x, w, n_in, n8, acc);
        return;
    }
    __asm__ volatile("vldr    s16, [%[acc]]\n\t"
                     "1:\n\t"
                     "vldmia  %[x]!, {s0-s7}\n\t"
                     ET_F32_ROW("w0", "s16")
                     "cmp     %[x], %[end]\n\t"
                     "bne     1b\n\t"
                     "vstr    s16, [%[acc]]\n\t"
                     : [x] "+r"(x), [w0] "+r"(w0)
                     : [end] "r"(end), [acc] "r"(acc)
                     : "cc", "memory", "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9",
                       "s10", "s11", "s12", "s13", "s14", "s15", "s16");
}
#define ET_F32_VEC_LEN(n) ((n) & ~(int32_t)7)
#else
static void et_f32_dot_rows(const float *x, const float *w, int32_t n_in, int32_t n, float *acc,
                            int32_t rows)
{
    int32_t r;
    int32_t k;
    if (rows == 4) {
        const float *w1 = w + n_in;
        const float *w2 = w1 + n_in;
        const float *w3 = w2 + n_in;
        float a0 = acc[0];
        float a1 = acc[1];
        float a2 = acc[2];
        float a3 = acc[3];
        for (k = 0; k < n; ++k) {
            const float xv = x[k];
            a0 += xv * w[k];
            a1 += xv * w1[k];
            a2 += xv * w2[k];
            a3 += xv * w3[k];
        }
        acc[0] = a0;
        acc[1] = a1;
        acc[2] = a2;
        acc[3] = a3;
        return;
    }
    for (r = 0; r < rows; ++r) {
        const float *wr = w + r * n_in;
        float a = acc[r];
        for (k = 0; k < n; ++k) {
            a += x[k] * wr[k];
        }
        acc[r] = a;
    }
}
#define ET_F32_VEC_LEN(n) (n)
#endif

/* One row, four independent accumulators so the FPU pipeline is not serialised on one sum. */
static float et_f32_dot_1row(const float *x, const float *w, int32_t from, int32_t n)
{
    float s0 = 0.0f;
    float s1 = 0.0f;
    float s2 = 0.0f;
    float s3 = 0.0f;
    int32_t k = from;
    for (; k + 4 <= n; k += 4) {
        s0 += x[k] * w[k];
        s1 += x[k + 1] * w[k + 1];
        s2 += x[k + 2] * w[k + 2];
        s3 += x[k + 3] * w[k + 3];
    }
    for (; k < n; ++k) {
        s0 += x[k] * w[k];
    }
    return (s0 + s1) + (s2 + s3);
}

static inline float et_clampf(float v, float lo, float hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

et_status et_dense_f32(const et_dense_f32_params *p, const float *input, const float *weights,
                       const float *bias, float *output)
{
    int32_t b;
    const et_status st = et_dense_f32_check(p, input, weights, output);
    if (st != ET_OK) {
        return st;
    }
    for (b = 0; b < p->batch; ++b) {
        const int32_t n_in = p->n_in;
        const int32_t n_vec = ET_F32_VEC_LEN(n_in);
        const float *x = input + (int32_t)(b * n_in);
        float *y = output + (int32_t)(b * p->n_out);
        int32_t o = 0;
        while (o < p->n_out) {
            const int32_t rows = p->n_out - o >= 4 ? 4 : p->n_out - o >= 2 ? 2 : 1;
            const float *w = weights + (int32_t)(o * n_in);
            float acc[4];
            int32_t r;
            for (r = 0; r < rows; ++r) {
                acc[r] = bias != 0 ? bias[o + r] : 0.0f;
            }
            if (n_vec > 0) {
                et_f32_dot_rows(x, w, n_in, n_vec, acc, rows);
            }
            for (r = 0; r < rows; ++r) {
                const float tail = n_vec < n_in ? et_f32_dot_1row(x, w + r * n_in, n_vec, n_in) : 0.0f;
                y[o + r] = et_clampf(acc[r] + tail, p->act_min, p->act_max);
            }
            o += rows;
        }
    }
    return ET_OK;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Row-grouped CSR kernels (ET_SPARSE_GROUPED, float32 and int8).
 *
 * The rows come as runs of equal length (idx0: (length, count) pairs), so a whole run is one loop
 * whose body is fixed at compile time. On Cortex-M4F/M7 with a ReLU, a run of length 0..24 jumps
 * (one TBH per run) into a straight-line assembly loop made for that length, two rows per pass:
 *
 *   per 2 rows:      one VLDM of both biases, the entries of row A, then of row B, one VMOV of
 *                    both sums, two BIC (ReLU on the bit pattern), one STM, SUBS + BNE: 3.5 a row
 *   per 6 entries:   LDM of six 32-bit column indices into r0-r3, r12, lr; six LDR of x with a
 *                    scaled register offset (VLDR has none); three VMOV of two core registers
 *                    into two FPU registers; one VLDM of the six weights; six VMLA
 *
 * i.e. 17 instructions per 6 entries; the 1-5 leftover entries of a row use the same pattern with
 * shorter register lists. The first row of an odd run, and rows longer than 24, take a compact
 * generic loop (five entries per step, then one at a time). The 25 pair loops take about 7.5 KB of
 * flash. VMLA is the unfused multiply-accumulate, so in -ffp-contract=off builds the result equals
 * the C loop (and et_sparse_f32_ref) bit for bit.
 *
 * Other clamps (an unclamped output layer is usually dense, or has long rows), other CPUs,
 * unoptimised builds and the int8 kernel run the plain C loop below, which sums in the same order.
 * Runs are few and long because the C exporter sorts hidden units by their number of stored
 * weights (edgetrain/export/c/reorder.py); a matrix in any row order is still valid, with more,
 * shorter runs.
 */
#include "et_sparse.h"
#include "et_sparse_check.h"

#include <float.h>

/* y = clamp(bias + sum x[cols[k]] * v[k]) for `count` rows of `len` entries; advances c and v. */
static void et_grp_rows_f32(const float *x, const uint32_t **c, const float **v, const float *bias,
                            float *y, int32_t len, int32_t count, float lo, float hi)
{
    const uint32_t *cc = *c;
    const float *vv = *v;
    int32_t r;
    int32_t k;
    for (r = 0; r < count; ++r) {
        float acc = bias != 0 ? bias[r] : 0.0f;
        for (k = 0; k < len; ++k) {
            acc += x[cc[k]] * vv[k];
        }
        y[r] = et_sp_clampf(acc, lo, hi);
        cc += len;
        vv += len;
    }
    *c = cc;
    *v = vv;
}

#if defined(__GNUC__) && defined(__OPTIMIZE__) && defined(__thumb2__) && defined(__ARM_FP) && \
    ((__ARM_FP & 4) != 0) && defined(__ARM_PCS_VFP)
#define ET_GRP_HAVE_ASM 1
#define ET_GRP_UNROLLED 24

/* Entries into the accumulator A (a string naming an FPU register): six, then 1-5 leftovers. */
#define ET_G6(A)                                                                                   \
    "ldmia %[c]!, {r0-r3, r12, lr}\n\t"                                                            \
    "ldr r0, [%[x], r0, lsl #2]\n\t"                                                               \
    "ldr r1, [%[x], r1, lsl #2]\n\t"                                                               \
    "ldr r2, [%[x], r2, lsl #2]\n\t"                                                               \
    "ldr r3, [%[x], r3, lsl #2]\n\t"                                                               \
    "ldr r12, [%[x], r12, lsl #2]\n\t"                                                             \
    "ldr lr, [%[x], lr, lsl #2]\n\t"                                                               \
    "vmov s0, s1, r0, r1\n\t"                                                                      \
    "vmov s2, s3, r2, r3\n\t"                                                                      \
    "vmov s4, s5, r12, lr\n\t"                                                                     \
    "vldmia %[v]!, {s6-s11}\n\t"                                                                   \
    "vmla.f32 " A ", s0, s6\n\t"                                                                   \
    "vmla.f32 " A ", s1, s7\n\t"                                                                   \
    "vmla.f32 " A ", s2, s8\n\t"                                                                   \
    "vmla.f32 " A ", s3, s9\n\t"                                                                   \
    "vmla.f32 " A ", s4, s10\n\t"                                                                  \
    "vmla.f32 " A ", s5, s11\n\t"
#define ET_G1(A)                                                                                   \
    "ldr r0, [%[c]], #4\n\t"                                                                       \
    "ldr r0, [%[x], r0, lsl #2]\n\t"                                                               \
    "vmov s0, r0\n\t"                                                                              \
    "vldmia %[v]!, {s6}\n\t"                                                                       \
    "vmla.f32 " A ", s0, s6\n\t"
#define ET_G2(A)                                                                                   \
    "ldmia %[c]!, {r0-r1}\n\t"                                                                     \
    "ldr r0, [%[x], r0, lsl #2]\n\t"                                                               \
    "ldr r1, [%[x], r1, lsl #2]\n\t"                                                               \
    "vmov s0, s1, r0, r1\n\t"                                                                      \
    "vldmia %[v]!, {s6-s7}\n\t"                                                                    \
    "vmla.f32 " A ", s0, s6\n\t"                                                                   \
    "vmla.f32 " A ", s1, s7\n\t"
#define ET_G3(A)                                                                                   \
    "ldmia %[c]!, {r0-r2}\n\t"                                                                     \
    "ldr r0, [%[x], r0, lsl #2]\n\t"                                                               \
    "ldr r1, [%[x], r1, lsl #2]\n\t"                                                               \
    "ldr r2, [%[x], r2, lsl #2]\n\t"                                                               \
    "vmov s0, s1, r0, r1\n\t"                                                                      \
    "vmov s2, r2\n\t"                                                                              \
    "vldmia %[v]!, {s6-s8}\n\t"                                                                    \
    "vmla.f32 " A ", s0, s6\n\t"                                                                   \
    "vmla.f32 " A ", s1, s7\n\t"                                                                   \
    "vmla.f32 " A ", s2, s8\n\t"
#define ET_G4(A)                                                                                   \
    "ldmia %[c]!, {r0-r3}\n\t"                                                                     \
    "ldr r0, [%[x], r0, lsl #2]\n\t"                                                               \
    "ldr r1, [%[x], r1, lsl #2]\n\t"                                                               \
    "ldr r2, [%[x], r2, lsl #2]\n\t"                                                               \
    "ldr r3, [%[x], r3, lsl #2]\n\t"                                                               \
    "vmov s0, s1, r0, r1\n\t"                                                                      \
    "vmov s2, s3, r2, r3\n\t"                                                                      \
    "vldmia %[v]!, {s6-s9}\n\t"                                                                    \
    "vmla.f32 " A ", s0, s6\n\t"                                                                   \
    "vmla.f32 " A ", s1, s7\n\t"                                                                   \
    "vmla.f32 " A ", s2, s8\n\t"                                                                   \
    "vmla.f32 " A ", s3, s9\n\t"
#define ET_G5(A)                                                                                   \
    "ldmia %[c]!, {r0-r3, r12}\n\t"                                                                \
    "ldr r0, [%[x], r0, lsl #2]\n\t"                                                               \
    "ldr r1, [%[x], r1, lsl #2]\n\t"                                                               \
    "ldr r2, [%[x], r2, lsl #2]\n\t"                                                               \
    "ldr r3, [%[x], r3, lsl #2]\n\t"                                                               \
    "ldr r12, [%[x], r12, lsl #2]\n\t"                                                             \
    "vmov s0, s1, r0, r1\n\t"                                                                      \
    "vmov s2, s3, r2, r3\n\t"                                                                      \
    "vmov s4, r12\n\t"                                                                             \
    "vldmia %[v]!, {s6-s10}\n\t"                                                                   \
    "vmla.f32 " A ", s0, s6\n\t"                                                                   \
    "vmla.f32 " A ", s1, s7\n\t"                                                                   \
    "vmla.f32 " A ", s2, s8\n\t"                                                                   \
    "vmla.f32 " A ", s3, s9\n\t"                                                                   \
    "vmla.f32 " A ", s4, s10\n\t"
/* The entries of one row of length L into accumulator A. */
#define ET_E0(A) ""
#define ET_E1(A) ET_G1(A)
#define ET_E2(A) ET_G2(A)
#define ET_E3(A) ET_G3(A)
#define ET_E4(A) ET_G4(A)
#define ET_E5(A) ET_G5(A)
#define ET_E6(A) ET_G6(A)
#define ET_E7(A) ET_G6(A) ET_G1(A)
#define ET_E8(A) ET_G6(A) ET_G2(A)
#define ET_E9(A) ET_G6(A) ET_G3(A)
#define ET_E10(A) ET_G6(A) ET_G4(A)
#define ET_E11(A) ET_G6(A) ET_G5(A)
#define ET_E12(A) ET_G6(A) ET_G6(A)
#define ET_E13(A) ET_G6(A) ET_G6(A) ET_G1(A)
#define ET_E14(A) ET_G6(A) ET_G6(A) ET_G2(A)
#define ET_E15(A) ET_G6(A) ET_G6(A) ET_G3(A)
#define ET_E16(A) ET_G6(A) ET_G6(A) ET_G4(A)
#define ET_E17(A) ET_G6(A) ET_G6(A) ET_G5(A)
#define ET_E18(A) ET_G6(A) ET_G6(A) ET_G6(A)
#define ET_E19(A) ET_G6(A) ET_G6(A) ET_G6(A) ET_G1(A)
#define ET_E20(A) ET_G6(A) ET_G6(A) ET_G6(A) ET_G2(A)
#define ET_E21(A) ET_G6(A) ET_G6(A) ET_G6(A) ET_G3(A)
#define ET_E22(A) ET_G6(A) ET_G6(A) ET_G6(A) ET_G4(A)
#define ET_E23(A) ET_G6(A) ET_G6(A) ET_G6(A) ET_G5(A)
#define ET_E24(A) ET_G6(A) ET_G6(A) ET_G6(A) ET_G6(A)

/* Two rows per pass: both biases in one VLDM, both results in one VMOV and one STM, one loop
 * test: 3.5 instructions per row instead of 6. */
#define ET_PB(L)                                                                                   \
    ".Lg" #L "_%=:\n\t"                                                                            \
    "vldmia %[b]!, {s14-s15}\n\t" ET_E##L("s14") ET_E##L("s15")                                    \
    "vmov r0, r1, s14, s15\n\t"                                                                    \
    "bic r0, r0, r0, asr #31\n\t"                                                                  \
    "bic r1, r1, r1, asr #31\n\t"                                                                  \
    "stmia %[y]!, {r0, r1}\n\t"                                                                    \
    "subs %[n], %[n], #2\n\t"                                                                      \
    "bne .Lg" #L "_%=\n\t"                                                                         \
    "b .Lgend_%=\n\t"
#define ET_GT(L) ".hword (.Lg" #L "_%= - .Lgtab_%=) / 2\n\t"

/* An even number `n` >= 2 of ReLU rows of length `len` <= ET_GRP_UNROLLED: a TBH jump into the
 * pair loop for that length. Advances c, v, b and y. LEN_ must be a register variable bound to r0
 * (the loops use r0 as scratch once the jump is taken). */
#define ET_GRP_RELU_PAIRS(X_, C_, V_, B_, Y_, LEN_, N_)                                            \
    __asm__ volatile(                                                                              \
        "tbh [pc, %[len], lsl #1]\n\t"                                                             \
        ".Lgtab_%=:\n\t"                                                                           \
        ET_GT(0) ET_GT(1) ET_GT(2) ET_GT(3) ET_GT(4) ET_GT(5) ET_GT(6) ET_GT(7) ET_GT(8) ET_GT(9)  \
        ET_GT(10) ET_GT(11) ET_GT(12) ET_GT(13) ET_GT(14) ET_GT(15) ET_GT(16) ET_GT(17)            \
        ET_GT(18) ET_GT(19) ET_GT(20) ET_GT(21) ET_GT(22) ET_GT(23) ET_GT(24)                      \
        ET_PB(0) ET_PB(1) ET_PB(2) ET_PB(3) ET_PB(4) ET_PB(5) ET_PB(6) ET_PB(7) ET_PB(8)           \
        ET_PB(9) ET_PB(10) ET_PB(11) ET_PB(12) ET_PB(13) ET_PB(14) ET_PB(15) ET_PB(16)             \
        ET_PB(17) ET_PB(18) ET_PB(19) ET_PB(20) ET_PB(21) ET_PB(22) ET_PB(23) ET_PB(24)            \
        ".Lgend_%=:\n\t"                                                                           \
        : [c] "+r"(C_), [v] "+r"(V_), [b] "+r"(B_), [y] "+r"(Y_), [n] "+r"(N_), [len] "+r"(LEN_)  \
        : [x] "r"(X_)                                                                              \
        : "cc", "memory", "r1", "r2", "r3", "r12", "lr", "s0", "s1", "s2", "s3", "s4", "s5", "s6", \
          "s7", "s8", "s9", "s10", "s11", "s14", "s15")

/* `n` >= 1 ReLU rows of any length `len` with one compact loop: five entries per step (r0 counts,
 * reloaded per row from s13), then single entries. For the odd first row of a run, and for rows
 * longer than ET_GRP_UNROLLED. Same registers as ET_GRP_RELU_PAIRS. */
#define ET_GRP_RELU_ROWS(X_, C_, V_, B_, Y_, LEN_, N_)                                             \
    __asm__ volatile(                                                                              \
        "vmov s13, %[len]\n\t"                                                                     \
        "1:\n\t"                                                                                   \
        "vldmia %[b]!, {s15}\n\t"                                                                  \
        "vmov r0, s13\n\t"                                                                         \
        "subs r0, r0, #5\n\t"                                                                      \
        "blt 3f\n\t"                                                                               \
        "2:\n\t"                                                                                   \
        "ldmia %[c]!, {r1-r3, r12, lr}\n\t"                                                        \
        "ldr r1, [%[x], r1, lsl #2]\n\t"                                                           \
        "ldr r2, [%[x], r2, lsl #2]\n\t"                                                           \
        "ldr r3, [%[x], r3, lsl #2]\n\t"                                                           \
        "ldr r12, [%[x], r12, lsl #2]\n\t"                                                         \
        "ldr lr, [%[x], lr, lsl #2]\n\t"                                                           \
        "vmov s0, s1, r1, r2\n\t"                                                                  \
        "vmov s2, s3, r3, r12\n\t"                                                                 \
        "vmov s4, lr\n\t"                                                                          \
        "vldmia %[v]!, {s6-s10}\n\t"                                                               \
        "vmla.f32 s15, s0, s6\n\t"                                                                 \
        "vmla.f32 s15, s1, s7\n\t"                                                                 \
        "vmla.f32 s15, s2, s8\n\t"                                                                 \
        "vmla.f32 s15, s3, s9\n\t"                                                                 \
        "vmla.f32 s15, s4, s10\n\t"                                                                \
        "subs r0, r0, #5\n\t"                                                                      \
        "bge 2b\n\t"                                                                               \
        "3:\n\t"                                                                                   \
        "adds r0, r0, #5\n\t"                                                                      \
        "beq 5f\n\t"                                                                               \
        "4:\n\t"                                                                                   \
        "ldr r1, [%[c]], #4\n\t"                                                                   \
        "ldr r1, [%[x], r1, lsl #2]\n\t"                                                           \
        "vmov s0, r1\n\t"                                                                          \
        "vldmia %[v]!, {s6}\n\t"                                                                   \
        "vmla.f32 s15, s0, s6\n\t"                                                                 \
        "subs r0, r0, #1\n\t"                                                                      \
        "bne 4b\n\t"                                                                               \
        "5:\n\t"                                                                                   \
        "vmov r1, s15\n\t"                                                                         \
        "bic r1, r1, r1, asr #31\n\t"                                                              \
        "str r1, [%[y]], #4\n\t"                                                                   \
        "subs %[n], %[n], #1\n\t"                                                                  \
        "bne 1b\n\t"                                                                               \
        : [c] "+r"(C_), [v] "+r"(V_), [b] "+r"(B_), [y] "+r"(Y_), [n] "+r"(N_), [len] "+r"(LEN_)  \
        : [x] "r"(X_)                                                                              \
        : "cc", "memory", "r1", "r2", "r3", "r12", "lr", "s0", "s1", "s2", "s3", "s4", "s6",       \
          "s7", "s8", "s9", "s10", "s13", "s15")
#else
#define ET_GRP_HAVE_ASM 0
#endif

et_status et_sparse_f32_grouped(const et_dense_f32_params *p, const et_sparse_weights *w,
                                const float *input, const float *bias, float *output)
{
    int32_t b;
    const et_status st = et_sp_check_f32(p, w, ET_SPARSE_GROUPED, input, output);
#if ET_GRP_HAVE_ASM
    /* The assembly row end implements exactly this clamp. */
    const int relu = bias != 0 && p->act_min == 0.0f && p->act_max >= FLT_MAX;
#endif
    if (st != ET_OK) {
        return st;
    }
    for (b = 0; b < p->batch; ++b) {
        const float *x = input + (int32_t)(b * p->n_in);
        float *y = output + (int32_t)(b * p->n_out);
        const uint32_t *c = (const uint32_t *)w->idx1;
        const float *v = (const float *)w->values;
        int32_t o = 0;
        int32_t i;
        for (i = 0; o < p->n_out; ++i) {
            const int32_t len = et_sp_idx(w->idx0, w->idx0_bytes, 2 * i);
            const int32_t count = et_sp_idx(w->idx0, w->idx0_bytes, 2 * i + 1);
#if ET_GRP_HAVE_ASM
            if (relu) {
                /* Pairs of rows take the loop made for their length; an odd first row and rows
                 * longer than ET_GRP_UNROLLED take the generic loop. */
                const int32_t paired = len <= ET_GRP_UNROLLED ? count & ~(int32_t)1 : 0;
                /* Fixed registers: whatever the optimisation level or frame pointer, the operands
                 * fit around the loops' scratch registers (r1-r3, r12, lr; r0 once running). */
                register int32_t len_r0 __asm__("r0") = len;
                register const uint32_t *c_r4 __asm__("r4") = c;
                register const float *v_r5 __asm__("r5") = v;
                register const float *b_r6 __asm__("r6") = bias + o;
                register float *y_r8 __asm__("r8") = y + o;
                register int32_t n_r10 __asm__("r10") = count - paired;
                register const float *x_r11 __asm__("r11") = x;
                if (n_r10 != 0) {
                    ET_GRP_RELU_ROWS(x_r11, c_r4, v_r5, b_r6, y_r8, len_r0, n_r10);
                    len_r0 = len;
                }
                n_r10 = paired;
                if (n_r10 != 0) {
                    ET_GRP_RELU_PAIRS(x_r11, c_r4, v_r5, b_r6, y_r8, len_r0, n_r10);
                }
                c = c_r4;
                v = v_r5;
                o += count;
                continue;
            }
#endif
            et_grp_rows_f32(x, &c, &v, bias != 0 ? bias + o : 0, y + o, len, count, p->act_min,
                            p->act_max);
            o += count;
        }
    }
    return ET_OK;
}

et_status et_sparse_s8_grouped(const et_dense_s8_params *p, const et_sparse_weights *w,
                               const int8_t *input, const int32_t *bias, int8_t *output)
{
    int32_t b;
    const et_status st = et_sp_check_s8(p, w, ET_SPARSE_GROUPED, input, output);
    int32_t off;
    if (st != ET_OK) {
        return st;
    }
    /* With eff_bias the input offset is already folded into the per-row start value. */
    off = p->eff_bias == 0 ? p->input_offset : 0;
    for (b = 0; b < p->batch; ++b) {
        const int8_t *x = input + (int32_t)(b * p->n_in);
        int8_t *y = output + (int32_t)(b * p->n_out);
        const uint32_t *c = (const uint32_t *)w->idx1;
        const int8_t *v = (const int8_t *)w->values;
        int32_t o = 0;
        int32_t i;
        for (i = 0; o < p->n_out; ++i) {
            const int32_t len = et_sp_idx(w->idx0, w->idx0_bytes, 2 * i);
            const int32_t end = o + et_sp_idx(w->idx0, w->idx0_bytes, 2 * i + 1);
            for (; o < end; ++o) {
                int32_t acc = p->eff_bias != 0 ? p->eff_bias[o] : (bias != 0 ? bias[o] : 0);
                int32_t k;
                for (k = 0; k < len; ++k) {
                    acc += ((int32_t)x[c[k]] + off) * (int32_t)v[k];
                }
                y[o] = et_sp_requant_q31(p, acc, o);
                c += len;
                v += len;
            }
        }
    }
    return ET_OK;
}

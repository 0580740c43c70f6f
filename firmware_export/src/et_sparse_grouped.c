/* Row-grouped CSR kernels (ET_SPARSE_GROUPED, float32 and int8).
 *
 * The rows come as runs of equal length (idx0: (length, count) pairs), so a whole run is one loop
 * whose body is fixed at compile time. On Cortex-M4F/M7 with a ReLU, a run of length 0..24 jumps
 * (one TBH per run) into a straight-line assembly loop made for that length:
 *
 *   per row:         VLDM bias -> acc, the entries, VMOV + BIC (ReLU) + STR, SUBS + BNE: 6
 *   per 6 entries:   LDM of six 32-bit column indices into r0-r3, r12, lr; six LDR of x with a scaled
 *                    register offset (VLDR has none); three VMOV of two core registers into two
 *                    FPU registers; one VLDM of the six weights; six VMLA
 *
 * i.e. 17 instructions per 6 entries; the 1-5 leftover entries of a row use the same pattern with
 * shorter register lists. The 25 loops take about 3.4 KB of flash. VMLA is the unfused
 * multiply-accumulate, so in -ffp-contract=off builds the result equals the C loop (and
 * et_sparse_f32_ref) bit for bit.
 *
 * Longer rows, other clamps (an unclamped output layer is usually dense, or has rows far longer
 * than 24), other CPUs, unoptimised builds (the loops need seven free registers) and the int8
 * kernel run the plain C loop below, which sums in the same order. Runs are few and long because
 * the C exporter sorts hidden units by their number of stored weights
 * (edgetrain/export/c/reorder.py); a matrix in any row order is still valid, with more, shorter
 * runs.
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

/* Six entries; the accumulator is s15. */
#define ET_G6                                                                                      \
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
    "vmla.f32 s15, s0, s6\n\t"                                                                     \
    "vmla.f32 s15, s1, s7\n\t"                                                                     \
    "vmla.f32 s15, s2, s8\n\t"                                                                     \
    "vmla.f32 s15, s3, s9\n\t"                                                                     \
    "vmla.f32 s15, s4, s10\n\t"                                                                    \
    "vmla.f32 s15, s5, s11\n\t"
/* Leftovers: 1 to 5 entries. */
#define ET_G1                                                                                      \
    "ldr r0, [%[c]], #4\n\t"                                                                       \
    "ldr r0, [%[x], r0, lsl #2]\n\t"                                                               \
    "vmov s0, r0\n\t"                                                                              \
    "vldmia %[v]!, {s6}\n\t"                                                                       \
    "vmla.f32 s15, s0, s6\n\t"
#define ET_G2                                                                                      \
    "ldmia %[c]!, {r0-r1}\n\t"                                                                     \
    "ldr r0, [%[x], r0, lsl #2]\n\t"                                                               \
    "ldr r1, [%[x], r1, lsl #2]\n\t"                                                               \
    "vmov s0, s1, r0, r1\n\t"                                                                      \
    "vldmia %[v]!, {s6-s7}\n\t"                                                                    \
    "vmla.f32 s15, s0, s6\n\t"                                                                     \
    "vmla.f32 s15, s1, s7\n\t"
#define ET_G3                                                                                      \
    "ldmia %[c]!, {r0-r2}\n\t"                                                                     \
    "ldr r0, [%[x], r0, lsl #2]\n\t"                                                               \
    "ldr r1, [%[x], r1, lsl #2]\n\t"                                                               \
    "ldr r2, [%[x], r2, lsl #2]\n\t"                                                               \
    "vmov s0, s1, r0, r1\n\t"                                                                      \
    "vmov s2, r2\n\t"                                                                              \
    "vldmia %[v]!, {s6-s8}\n\t"                                                                    \
    "vmla.f32 s15, s0, s6\n\t"                                                                     \
    "vmla.f32 s15, s1, s7\n\t"                                                                     \
    "vmla.f32 s15, s2, s8\n\t"
#define ET_G4                                                                                      \
    "ldmia %[c]!, {r0-r3}\n\t"                                                                     \
    "ldr r0, [%[x], r0, lsl #2]\n\t"                                                               \
    "ldr r1, [%[x], r1, lsl #2]\n\t"                                                               \
    "ldr r2, [%[x], r2, lsl #2]\n\t"                                                               \
    "ldr r3, [%[x], r3, lsl #2]\n\t"                                                               \
    "vmov s0, s1, r0, r1\n\t"                                                                      \
    "vmov s2, s3, r2, r3\n\t"                                                                      \
    "vldmia %[v]!, {s6-s9}\n\t"                                                                    \
    "vmla.f32 s15, s0, s6\n\t"                                                                     \
    "vmla.f32 s15, s1, s7\n\t"                                                                     \
    "vmla.f32 s15, s2, s8\n\t"                                                                     \
    "vmla.f32 s15, s3, s9\n\t"
#define ET_G5                                                                                      \
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
    "vmla.f32 s15, s0, s6\n\t"                                                                     \
    "vmla.f32 s15, s1, s7\n\t"                                                                     \
    "vmla.f32 s15, s2, s8\n\t"                                                                     \
    "vmla.f32 s15, s3, s9\n\t"                                                                     \
    "vmla.f32 s15, s4, s10\n\t"

/* One row length: bias into s15, the entries, ReLU on the bit pattern (a set sign bit clears the
 * word: -x -> +0) and store; repeated for the run's rows, then out of the block. */
#define ET_GB(L, ENTRIES)                                                                          \
    ".Lg" #L "_%=:\n\t"                                                                            \
    "vldmia %[b]!, {s15}\n\t" ENTRIES                                                             \
    "vmov r0, s15\n\t"                                                                             \
    "bic r0, r0, r0, asr #31\n\t"                                                                  \
    "str r0, [%[y]], #4\n\t"                                                                       \
    "subs %[n], %[n], #1\n\t"                                                                      \
    "bne .Lg" #L "_%=\n\t"                                                                         \
    "b .Lgend_%=\n\t"
#define ET_GT(L) ".hword (.Lg" #L "_%= - .Lgtab_%=) / 2\n\t"
#define ET_G12 ET_G6 ET_G6
#define ET_G18 ET_G12 ET_G6

/* A run of `n` >= 1 ReLU rows of length `len` <= ET_GRP_UNROLLED: a TBH jump into the loop for
 * that length. Advances c, v, b and y. LEN_ must be a register variable bound to r0 (the loops use
 * r0 as scratch once the jump is taken). */
#define ET_GRP_RELU_RUN(X_, C_, V_, B_, Y_, LEN_, N_)                                                     \
    __asm__ volatile(                                                                              \
        "tbh [pc, %[len], lsl #1]\n\t"                                                             \
        ".Lgtab_%=:\n\t"                                                                           \
        ET_GT(0) ET_GT(1) ET_GT(2) ET_GT(3) ET_GT(4) ET_GT(5) ET_GT(6) ET_GT(7) ET_GT(8) ET_GT(9)  \
        ET_GT(10) ET_GT(11) ET_GT(12) ET_GT(13) ET_GT(14) ET_GT(15) ET_GT(16) ET_GT(17) ET_GT(18)  \
        ET_GT(19) ET_GT(20) ET_GT(21) ET_GT(22) ET_GT(23) ET_GT(24)                                \
        ET_GB(0, "") ET_GB(1, ET_G1) ET_GB(2, ET_G2) ET_GB(3, ET_G3) ET_GB(4, ET_G4)                \
        ET_GB(5, ET_G5) ET_GB(6, ET_G6) ET_GB(7, ET_G6 ET_G1) ET_GB(8, ET_G6 ET_G2)                \
        ET_GB(9, ET_G6 ET_G3) ET_GB(10, ET_G6 ET_G4) ET_GB(11, ET_G6 ET_G5) ET_GB(12, ET_G12)      \
        ET_GB(13, ET_G12 ET_G1) ET_GB(14, ET_G12 ET_G2) ET_GB(15, ET_G12 ET_G3)                    \
        ET_GB(16, ET_G12 ET_G4) ET_GB(17, ET_G12 ET_G5) ET_GB(18, ET_G18)                          \
        ET_GB(19, ET_G18 ET_G1) ET_GB(20, ET_G18 ET_G2) ET_GB(21, ET_G18 ET_G3)                    \
        ET_GB(22, ET_G18 ET_G4) ET_GB(23, ET_G18 ET_G5) ET_GB(24, ET_G18 ET_G6)                    \
        ".Lgend_%=:\n\t"                                                                           \
        : [c] "+r"(C_), [v] "+r"(V_), [b] "+r"(B_), [y] "+r"(Y_), [n] "+r"(N_), [len] "+r"(LEN_)  \
        : [x] "r"(X_)                                                                              \
        : "cc", "memory", "r1", "r2", "r3", "r12", "lr", "s0", "s1", "s2", "s3", "s4", "s5",  \
          "s6", "s7", "s8", "s9", "s10", "s11", "s15")
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
            int32_t count = et_sp_idx(w->idx0, w->idx0_bytes, 2 * i + 1);
#if ET_GRP_HAVE_ASM
            if (relu && len <= ET_GRP_UNROLLED) {
                /* Fixed registers: whatever the optimisation level or frame pointer, the operands
                 * fit around the loops' scratch registers (r1-r3, r12, lr; r0 after the jump). */
                register int32_t len_r0 __asm__("r0") = len;
                register const uint32_t *c_r4 __asm__("r4") = c;
                register const float *v_r5 __asm__("r5") = v;
                register const float *b_r6 __asm__("r6") = bias + o;
                register float *y_r8 __asm__("r8") = y + o;
                register int32_t n_r10 __asm__("r10") = count;
                register const float *x_r11 __asm__("r11") = x;
                ET_GRP_RELU_RUN(x_r11, c_r4, v_r5, b_r6, y_r8, len_r0, n_r10);
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

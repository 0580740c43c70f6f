/* SPDX-License-Identifier: Apache-2.0 */
/* The Cortex-M4F float32 dot-product loop shared by et_dense_f32.c and et_conv_f32.c (private to
 * the runtime sources): with the single-precision FPU and the hard-float ABI, ET_F32_DOT_ASM is 1
 * and et_f32_dot_4rows runs four rows per pass over shared VLDM loads of the input. */
#ifndef ET_F32_DOT_H
#define ET_F32_DOT_H

#include <stdint.h>

#if defined(__GNUC__) && defined(__thumb2__) && defined(__ARM_FP) && ((__ARM_FP & 4) != 0) && \
    defined(__ARM_PCS_VFP)
#define ET_F32_DOT_ASM 1
#else
#define ET_F32_DOT_ASM 0
#endif

#if ET_F32_DOT_ASM
#define ET_F32_ROW(PTR, ACC)                          \
    "vldmia  %[" PTR "]!, {s8-s15}\n\t"              \
    "vfma.f32 " ACC ", s0, s8\n\t"                    \
    "vfma.f32 " ACC ", s1, s9\n\t"                    \
    "vfma.f32 " ACC ", s2, s10\n\t"                   \
    "vfma.f32 " ACC ", s3, s11\n\t"                   \
    "vfma.f32 " ACC ", s4, s12\n\t"                   \
    "vfma.f32 " ACC ", s5, s13\n\t"                   \
    "vfma.f32 " ACC ", s6, s14\n\t"                   \
    "vfma.f32 " ACC ", s7, s15\n\t"

/* acc[r] += sum_{k < n8} x[k] * w_r[k] for rows w_r = w + r * n_in; n8 > 0, a multiple of 8.
 * Four, two or one rows per pass: the 4-row loop shares each input VLDM between four rows; the
 * leftover rows of an n_out that is not a multiple of 4 (10 logits, say) keep VLDM too. */
static inline void et_f32_dot_4rows(const float *x, const float *w, int32_t n_in, int32_t n8, float acc[4])
{
    const float *w0 = w;
    const float *w1 = w0 + n_in;
    const float *w2 = w1 + n_in;
    const float *w3 = w2 + n_in;
    const float *const end = x + n8;
    __asm__ volatile("vldmia  %[acc], {s16-s19}\n\t"
                     "1:\n\t"
                     "vldmia  %[x]!, {s0-s7}\n\t"
                     ET_F32_ROW("w0", "s16") ET_F32_ROW("w1", "s17")
                     ET_F32_ROW("w2", "s18") ET_F32_ROW("w3", "s19")
                     "cmp     %[x], %[end]\n\t"
                     "bne     1b\n\t"
                     "vstmia  %[acc], {s16-s19}\n\t"
                     : [x] "+r"(x), [w0] "+r"(w0), [w1] "+r"(w1), [w2] "+r"(w2), [w3] "+r"(w3)
                     : [end] "r"(end), [acc] "r"(acc)
                     : "cc", "memory", "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9",
                       "s10", "s11", "s12", "s13", "s14", "s15", "s16", "s17", "s18", "s19");
}
#endif

#endif /* ET_F32_DOT_H */

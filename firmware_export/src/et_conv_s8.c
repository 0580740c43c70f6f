/* SPDX-License-Identifier: Apache-2.0 */
/* Fast int8 convolutions, bit-exact with et_conv_s8_ref / et_depthwise_conv_s8_ref.
 *
 * et_conv_s8 works on two output pixels at a time (CMSIS-NN's arm_convolve_s8 scheme): both
 * windows are gathered (im2col; a 1x1 conv reads the input pixel in place) and widened to int16
 * in `scratch`, so that each weight word loaded and widened once serves two pixels, and each
 * widened input pair serves two output channels: per four window values 16 MACs in 16
 * instructions on Cortex-M4 (et_conv_s8_mac2x2, SMLAD). The sums of up to ET_CHUNK channels then
 * go through one requantization loop whose per-channel constants are formed once per call.
 * Padded window slots hold the input zero point -input_offset before widening: with the offset
 * added while widening they become (zp + offset) = 0, and with eff_bias (offset folded over the
 * whole window, values left raw) they add zp * w = -offset * w, which cancels that tap's share of
 * the folded term. Both are exact int32 sums, hence equal to the reference.
 * Cortex-M4/M7 (__ARM_FEATURE_DSP) run the multiply-accumulate and requantization loops in
 * assembly; other Thumb-2 cores (Cortex-M3) the requantization loop only; elsewhere portable C
 * with the same data layout.
 * et_depthwise_conv_s8 with depth multiplier 1 runs blocks of four channels (et_dw_s8_blocks)
 * over a padded band in its scratch, so that border pixels run the interior loop: weights widened
 * once per block, SXTAB16 / SMLAxy per tap, the conv's requantization loop; a 3x3 kernel with
 * dilation 1 on Cortex-M4 keeps the band as int16 pairs of neighbouring pixels for SMLAD
 * (et_dw_s8_pair_block, et_dw_s8_3x3p_rq); other multipliers and leftover channels run one
 * channel at a time over the pixel's in-bounds taps, where with eff_bias the taps skip the offset
 * and a border pixel subtracts offset * w for its padded taps.
 */
#include <string.h>

#include "et_conv.h"
#include "et_dense.h"
#include "et_requant.h"

#if defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>
#endif

/* The conv window of two output pixels, widened to int16 in `scratch` (et_conv_s8_scratch_bytes):
 * window values k = (i * kernel_w + j) * cig + c, as x + add (add = input_offset, or 0 with
 * eff_bias), padded slots as the zero point + add. Values come in groups of four, k = 4g .. 4g + 3,
 * stored as 8 halfwords per group: pixel 0's (x[4g], x[4g+2], x[4g+1], x[4g+3]), then pixel 1's.
 * That is the lane order SXTB16 gives the weights (even bytes, then odd bytes), so a word of four
 * weights meets two words of this buffer in two SMLADs without any reordering. The last win % 4
 * values follow, interleaved: value k of pixel 0, of pixel 1, value k + 1 of pixel 0, ...
 * After the two int16 windows, one window of int8 holds the gathered (unwidened) window. */
#define ET_COL_GROUP 8 /* halfwords per group of four values, both pixels */

/* A 1x1 conv with groups 1 and at most this many input channels widens its two input pixels into
 * a stack buffer (4 * ET_PW_STACK_C bytes) and needs no scratch; wider ones run each pixel
 * through et_dense_s8, which reads it in place. */
#define ET_PW_STACK_C 64

static int et_conv_s8_pointwise(const et_conv_s8_params *p)
{
    return p->geom.kernel_h == 1 && p->geom.kernel_w == 1 && p->groups == 1;
}

int32_t et_conv_s8_scratch_bytes(const et_conv_s8_params *params)
{
    if (et_conv_s8_check(params, 0) != ET_OK) {
        return -1;
    }
    if (et_conv_s8_pointwise(params)) {
        return 0;
    }
    /* Two windows of int16 and one of int8 (the window is at most ET_CONV_S8_MAX_WINDOW values,
     * checked), plus up to 3 bytes to align the int16 part to a word for LDRD. */
    return 5 * params->geom.kernel_h * params->geom.kernel_w * (params->geom.in_c / params->groups) + 3;
}

/* The first and one-past-last tap index along one axis whose input position start + t * dil is
 * inside [0, n). */
static void et_tap_range(int32_t start, int32_t dil, int32_t k, int32_t n, int32_t *lo, int32_t *hi)
{
    int32_t a = 0;
    int32_t b = k;
    if (start < 0) {
        a = (-start + dil - 1) / dil;
    }
    while (b > a && start + (b - 1) * dil >= n) {
        --b;
    }
    *lo = a < b ? a : b;
    *hi = b;
}

/* Per-call constants of et_conv_s8. */
typedef struct {
    const et_conv_geom *g;
    int32_t cig;    /* input channels per group */
    int32_t win;    /* window values */
    int32_t n4;     /* win / 4: groups of four */
    int32_t add;    /* added to every input value: input_offset, or 0 with eff_bias */
    /* Output rows [oh_a, oh_b) and columns [ow_a, ow_b) have windows without padding; with
     * `contiguous` (dilation_w 1, one group) a window row is row_len consecutive input bytes,
     * window rows row_step bytes apart. */
    int32_t oh_a;
    int32_t oh_b;
    int32_t ow_a;
    int32_t ow_b;
    int32_t contiguous;
    int32_t row_len;
    int32_t row_step;
} et_col_ctx;

#if defined(__ARM_FEATURE_DSP)
/* (b[1] + lo16(a), b[3] + hi16(a)): SXTAB16 of the odd bytes, which gcc 12 has no intrinsic for. */
static inline int16x2_t et_sxtab16_odd(int16x2_t a, int8x4_t b)
{
    int16x2_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
#endif

/* Copies n bytes; the runs of a window are short (a first layer's are kernel_w bytes), where a
 * library memcpy call costs more than the copy. */
static inline void et_copy_s8(int8_t *dst, const int8_t *src, int32_t n)
{
    int32_t k = 0;
    for (; k + 4 <= n; k += 4) {
        uint32_t t;
        memcpy(&t, src + k, 4);
        memcpy(dst + k, &t, 4);
    }
    if (n & 2) {
        uint16_t t;
        memcpy(&t, src + k, 2);
        memcpy(dst + k, &t, 2);
        k += 2;
    }
    if (n & 1) {
        dst[k] = src[k];
    }
}

static inline void et_fill_s8(int8_t *dst, int8_t v, int32_t n)
{
    const uint32_t v4 = (uint32_t)(uint8_t)v * 0x01010101u;
    int32_t k = 0;
    for (; k + 4 <= n; k += 4) {
        memcpy(dst + k, &v4, 4);
    }
    for (; k < n; ++k) {
        dst[k] = v;
    }
}

/* The window of output pixel (oh, ow) of the sample at x, input channels [c0, c0 + cig), as int8
 * in natural order into w8, the zero point where the window is outside the input. */
static void et_im2col_s8(const et_col_ctx *c, const int8_t *x, int32_t oh, int32_t ow, int32_t c0,
                         int8_t zp, int8_t *w8)
{
    const et_conv_geom *g = c->g;
    const int32_t cig = c->cig;
    const int32_t h0 = oh * g->stride_h - g->pad_top;
    const int32_t w0 = ow * g->stride_w - g->pad_left;
    const int32_t row_len = g->kernel_w * cig;
    int32_t jlo;
    int32_t jhi;
    int32_t i;
    int32_t j;
    if (h0 >= 0 && w0 >= 0 && h0 + (g->kernel_h - 1) * g->dilation_h < g->in_h &&
        w0 + (g->kernel_w - 1) * g->dilation_w < g->in_w && g->dilation_w == 1 && cig == g->in_c) {
        /* No padding and contiguous rows (the bulk of the pixels): one copy per row. */
        const int8_t *src = x + (h0 * g->in_w + w0) * g->in_c + c0;
        const int32_t row_step = g->dilation_h * g->in_w * g->in_c;
        for (i = 0; i < g->kernel_h; ++i, w8 += row_len, src += row_step) {
            et_copy_s8(w8, src, row_len);
        }
        return;
    }
    et_tap_range(w0, g->dilation_w, g->kernel_w, g->in_w, &jlo, &jhi);
    for (i = 0; i < g->kernel_h; ++i, w8 += row_len) {
        const int32_t ih = h0 + i * g->dilation_h;
        if (ih < 0 || ih >= g->in_h || jlo == jhi) {
            et_fill_s8(w8, zp, row_len);
            continue;
        }
        et_fill_s8(w8, zp, jlo * cig);
        {
            const int8_t *src = x + (ih * g->in_w + w0 + jlo * g->dilation_w) * g->in_c + c0;
            if (g->dilation_w == 1 && cig == g->in_c) {
                /* Consecutive taps of one row are consecutive input pixels: one run. */
                et_copy_s8(w8 + jlo * cig, src, (jhi - jlo) * cig);
            } else {
                for (j = jlo; j < jhi; ++j) {
                    et_copy_s8(w8 + j * cig, src, cig);
                    src += g->dilation_w * g->in_c;
                }
            }
        }
        et_fill_s8(w8 + jhi * cig, zp, row_len - jhi * cig);
    }
}

/* et_im2col_s8 with the interior pixels (the bulk) inline: one short copy per window row. */
static inline void et_gather_s8(const et_col_ctx *c, const int8_t *x, int32_t oh, int32_t ow, int32_t c0,
                                int8_t zp, int8_t *w8)
{
    if (c->contiguous && oh >= c->oh_a && oh < c->oh_b && ow >= c->ow_a && ow < c->ow_b) {
        const et_conv_geom *g = c->g;
        const int8_t *src = x + ((oh * g->stride_h - g->pad_top) * g->in_w + ow * g->stride_w - g->pad_left) * g->in_c;
        int32_t i;
        for (i = 0; i < g->kernel_h; ++i, w8 += c->row_len, src += c->row_step) {
            et_copy_s8(w8, src, c->row_len);
        }
        return;
    }
    et_im2col_s8(c, x, oh, ow, c0, zp, w8);
}

/* The int8 window w8 (natural order) into slot `slot` of col, + add: whole groups of four in
 * lanes 0, 2, 1, 3, then the tail. */
#if defined(__GNUC__)
__attribute__((always_inline))
#endif
static inline void et_widen(const et_col_ctx *c, const int8_t *w8, int16_t *col, int32_t slot)
{
    const int32_t add = c->add;
    const int32_t n4 = c->n4;
    const int32_t tail = c->win - 4 * n4;
    int16_t *dst = col + slot * 4;
    int16_t *t = col + n4 * ET_COL_GROUP + slot;
    int32_t gi;
    int32_t k;
#if defined(__ARM_FEATURE_DSP)
    const int16x2_t add2 = (int16x2_t)(((uint32_t)(uint16_t)add << 16) | (uint16_t)add);
    for (gi = 0; gi < n4; ++gi, w8 += 4, dst += ET_COL_GROUP) {
        int8x4_t v;
        int16x2_t e;
        int16x2_t o;
        memcpy(&v, w8, 4);           /* one LDR (unaligned allowed) */
        e = __sxtab16(add2, v);      /* x[4g] + add, x[4g+2] + add: lanes 0, 1 */
        o = et_sxtab16_odd(add2, v); /* x[4g+1] + add, x[4g+3] + add: lanes 2, 3 */
        memcpy(dst, &e, 4);
        memcpy(dst + 2, &o, 4);
    }
#else
    for (gi = 0; gi < n4; ++gi, w8 += 4, dst += ET_COL_GROUP) {
        dst[0] = (int16_t)(w8[0] + add);
        dst[1] = (int16_t)(w8[2] + add);
        dst[2] = (int16_t)(w8[1] + add);
        dst[3] = (int16_t)(w8[3] + add);
    }
#endif
    for (k = 0; k < tail; ++k) {
        t[2 * k] = (int16_t)(w8[k] + add);
    }
}

/* Output channels per pass over the pixels: their sums (2 per channel) and requantization
 * constants (16 bytes per channel) live on the stack, 768 bytes in all. */
#define ET_CHUNK 32

/* Requantization constants of one output channel whose shift is < 0: et_mbqm_rshift(x, m, shift)
 * is ((hi:lo = x * m + k + (x < 0 ? -2^31 : 0)) >> 32) >> e1 with e1 = -shift - 1 and the
 * channel's part of the 64-bit addend k = 2^30 + 2^(31 + e1) formed once (klo, khi: its words). */
typedef struct {
    int32_t m;
    uint32_t klo;
    int32_t khi;
    int32_t e1;
} et_rq_entry;

#if defined(__ARM_FEATURE_DSP) && defined(__thumb2__) && defined(__GNUC__)
/* For each of `pairs` (>= 1) consecutive weight-row pairs (rows w + 2 j * win and the next),
 * out[4j .. 4j + 3] = the sums over the first 4 * n4 window values of row 0 x pixel 0, row 0 x
 * pixel 1, row 1 x pixel 0, row 1 x pixel 1 (the two columns of col), each started from the
 * row's init value (init[2 j], init[2 j + 1]; zeros for a NULL init). Per group of four values:
 * two LDRD bring both pixels' halfword pairs, each row's weight word is widened by two SXTB16,
 * eight SMLADs: 16 instructions for 16 MACs. The group loop needs 14 live registers (4 sums,
 * 4 input pairs, 2 weight pairs, 4 pointers), more than gcc gives one asm statement, so this is
 * a function of its own in assembly (AAPCS: r0 out, r1 col, r2 w, r3 win; n4, pairs and init on
 * the stack); the loop over pairs keeps its state in the stack frame. col must be word-aligned
 * (LDRD); weight rows may start anywhere (Cortex-M4/M7 LDR allows unaligned addresses). */
void et_conv_s8_mac2x2(int32_t *out, const int16_t *col, const int8_t *w, int32_t win, int32_t n4,
                       int32_t pairs, const int32_t *init, int32_t tail);
#define ET_MAC2X2_GROUP                 \
    "ldrd    r8, r9, [r1], #8\n\t"      \
    "ldrd    r10, r11, [r1], #8\n\t"    \
    "ldr     r12, [r2], #4\n\t"         \
    "sxtb16  lr, r12\n\t"               \
    "sxtb16  r12, r12, ror #8\n\t"      \
    "smlad   r4, lr, r8, r4\n\t"        \
    "smlad   r4, r12, r9, r4\n\t"       \
    "smlad   r5, lr, r10, r5\n\t"       \
    "smlad   r5, r12, r11, r5\n\t"      \
    "ldr     r12, [r3], #4\n\t"         \
    "sxtb16  lr, r12\n\t"               \
    "sxtb16  r12, r12, ror #8\n\t"      \
    "smlad   r6, lr, r8, r6\n\t"        \
    "smlad   r6, r12, r9, r6\n\t"       \
    "smlad   r7, lr, r10, r7\n\t"       \
    "smlad   r7, r12, r11, r7\n\t"
/* Frame after the push and the 16-byte local area: [sp] out, [sp, #4] col, [sp, #8] the next
 * pair's first row, [sp, #12] win, [sp, #52] n4, [sp, #56] pairs left, [sp, #60] init,
 * [sp, #64] tail. */
__asm__(".pushsection .text.et_conv_s8_mac2x2, \"ax\", %progbits\n\t"
        ".syntax unified\n\t"
        ".thumb\n\t"
        ".balign 4\n\t"
        ".global et_conv_s8_mac2x2\n\t"
        ".hidden et_conv_s8_mac2x2\n\t"
        ".type   et_conv_s8_mac2x2, %function\n\t"
        ".thumb_func\n"
        "et_conv_s8_mac2x2:\n\t"
        "push    {r4-r11, lr}\n\t"
        "sub     sp, sp, #16\n\t"
        "strd    r0, r1, [sp]\n\t"
        "strd    r2, r3, [sp, #8]\n"
        "5:\n\t"
        "ldr     r12, [sp, #60]\n\t"
        "cmp     r12, #0\n\t"
        "beq     6f\n\t"             /* no init: out of line, below */
        "ldrd    r4, r6, [r12], #8\n\t"
        "str     r12, [sp, #60]\n\t"
        "mov     r5, r4\n\t"
        "mov     r7, r6\n"
        "7:\n\t"
        "ldrd    r1, r2, [sp, #4]\n\t"
        "ldr     r12, [sp, #12]\n\t"
        "add     r3, r2, r12\n\t"         /* row 1 */
        "add     r12, r3, r12\n\t"
        "str     r12, [sp, #8]\n\t"       /* the next pair's row 0 */
        "ldr     r12, [sp, #52]\n\t"
        "add     r0, r1, r12, lsl #4\n\t" /* r0: end of the groups */
        "tst     r12, #1\n\t"
        "beq     1f\n\t"
        ET_MAC2X2_GROUP
        "ldr     r12, [sp, #52]\n"       /* the group clobbers r12 */
        "1:\n\t"
        "tst     r12, #2\n\t"
        "beq     2f\n\t"
        ET_MAC2X2_GROUP ET_MAC2X2_GROUP
        "2:\n\t"
        "cmp     r1, r0\n\t"
        "beq     4f\n"
        "3:\n\t"
        ET_MAC2X2_GROUP ET_MAC2X2_GROUP ET_MAC2X2_GROUP ET_MAC2X2_GROUP
        "cmp     r1, r0\n\t"
        "bne     3b\n"
        "4:\n\t"
        "ldr     r12, [sp, #64]\n\t"  /* the tail: per value, both pixels' halfwords */
        "cmp     r12, #0\n\t"
        "beq     9f\n"
        "8:\n\t"
        "ldrsh   r8, [r1], #2\n\t"
        "ldrsh   r9, [r1], #2\n\t"
        "ldrsb   r10, [r2], #1\n\t"
        "ldrsb   r11, [r3], #1\n\t"
        "mla     r4, r8, r10, r4\n\t"
        "mla     r5, r9, r10, r5\n\t"
        "mla     r6, r8, r11, r6\n\t"
        "mla     r7, r9, r11, r7\n\t"
        "subs    r12, r12, #1\n\t"
        "bne     8b\n"
        "9:\n\t"
        "ldr     r12, [sp]\n\t"
        "stmia   r12!, {r4-r7}\n\t"
        "str     r12, [sp]\n\t"
        "ldr     r12, [sp, #56]\n\t"
        "subs    r12, r12, #1\n\t"
        "str     r12, [sp, #56]\n\t"
        "bne     5b\n\t"
        "add     sp, sp, #16\n\t"
        "pop     {r4-r11, pc}\n"
        "6:\n\t"
        "movs    r4, #0\n\t"
        "movs    r5, #0\n\t"
        "movs    r6, #0\n\t"
        "movs    r7, #0\n\t"
        "b       7b\n\t"
        ".size   et_conv_s8_mac2x2, . - et_conv_s8_mac2x2\n\t"
        ".popsection\n\t");
#define ET_MAC2X2(out, col, w, win, n4, pairs, init, tail) \
    et_conv_s8_mac2x2(out, col, w, win, n4, pairs, init, tail)
#else
/* Portable form of the same sums (each group's halfwords in lanes 0, 2, 1, 3). */
static void et_mac2x2_c(int32_t *out, const int16_t *col, const int8_t *w, int32_t win, int32_t n4,
                        int32_t pairs, const int32_t *init, int32_t tail)
{
    int32_t j;
    for (j = 0; j < pairs; ++j, out += 4, w += 2 * win) {
        const int16_t *cp = col;
        const int8_t *w0 = w;
        const int8_t *w1 = w + win;
        int32_t a0 = init != 0 ? init[2 * j] : 0;
        int32_t a2 = init != 0 ? init[2 * j + 1] : 0;
        int32_t a1 = a0;
        int32_t a3 = a2;
        int32_t gi;
        for (gi = 0; gi < n4; ++gi, cp += ET_COL_GROUP, w0 += 4, w1 += 4) {
            const int32_t u0 = w0[0], u1 = w0[1], u2 = w0[2], u3 = w0[3];
            const int32_t v0 = w1[0], v1 = w1[1], v2 = w1[2], v3 = w1[3];
            a0 += cp[0] * u0 + cp[1] * u2 + cp[2] * u1 + cp[3] * u3;
            a1 += cp[4] * u0 + cp[5] * u2 + cp[6] * u1 + cp[7] * u3;
            a2 += cp[0] * v0 + cp[1] * v2 + cp[2] * v1 + cp[3] * v3;
            a3 += cp[4] * v0 + cp[5] * v2 + cp[6] * v1 + cp[7] * v3;
        }
        for (gi = 0; gi < tail; ++gi, cp += 2, ++w0, ++w1) {
            a0 += cp[0] * w0[0];
            a1 += cp[1] * w0[0];
            a2 += cp[0] * w1[0];
            a3 += cp[1] * w1[0];
        }
        out[0] = a0;
        out[1] = a1;
        out[2] = a2;
        out[3] = a3;
    }
}
#define ET_MAC2X2(out, col, w, win, n4, pairs, init, tail) \
    et_mac2x2_c(out, col, w, win, n4, pairs, init, tail)
#endif

#if defined(__thumb2__) && defined(__GNUC__)
/* y[c] = clamp(et_mbqm_rshift(acc[2 c]) + oc[0], oc[1], oc[2]) for c < n (>= 1), the constants of
 * channel c in tab[c] (one LDM). With the DSP extension four outputs at a time are saturated to
 * int8 (SSAT, exact: the clamp range is inside [-128, 127]), packed into a word (BFI), clamped
 * together with SSUB8/SEL against oc[3] / oc[4] (act_min / act_max in every byte) and stored with
 * one STR; the last n % 4, and every output without DSP, take the scalar clamp. In assembly for
 * the same reason as et_conv_s8_mac2x2 (gcc spills this loop's 13 live values). AAPCS: r0 y,
 * r1 acc, r2 tab, r3 n, oc on the stack. */
void et_conv_s8_requant_run(int8_t *y, const int32_t *acc, const et_rq_entry *tab, int32_t n,
                            const int32_t *oc);
/* One output into r12: r11 = acc[2c], r4-r7 = m, klo, khi, e1 of its channel. */
#define ET_RQ_ONE                           \
    "ldmia   r2!, {r4-r7}\n\t"              \
    "ldr     r11, [r1], #8\n\t"             \
    "asr     r12, r11, #31\n\t"             \
    "adds    lr, r5, r12, lsl #31\n\t"      \
    "adc     r12, r6, r12\n\t"              \
    "smlal   lr, r12, r11, r4\n\t"          \
    "asr     r12, r12, r7\n\t"              \
    "add     r12, r12, r8\n\t"
#if defined(__ARM_FEATURE_DSP)
#define ET_RQ_QUAD                                  \
    "cmp     r3, #4\n\t"                            \
    "blt     2f\n"                                  \
    "3:\n\t"                                        \
    ET_RQ_ONE "ssat    r9, #8, r12\n\t"             \
    ET_RQ_ONE "ssat    r12, #8, r12\n\t"            \
    "bfi     r9, r12, #8, #8\n\t"                   \
    ET_RQ_ONE "ssat    r12, #8, r12\n\t"            \
    "bfi     r9, r12, #16, #8\n\t"                  \
    ET_RQ_ONE "ssat    r12, #8, r12\n\t"            \
    "bfi     r9, r12, #24, #8\n\t"                  \
    "ldr     r12, [sp, #36]\n\t"                    \
    "ldrd    r10, r11, [r12, #12]\n\t"              \
    "ssub8   lr, r9, r10\n\t"                       \
    "sel     r9, r9, r10\n\t"     /* max(v, lo) */  \
    "ssub8   lr, r9, r11\n\t"                       \
    "sel     r9, r11, r9\n\t"     /* min(v, hi) */  \
    "str     r9, [r0], #4\n\t"                      \
    "subs    r3, r3, #4\n\t"                        \
    "cmp     r3, #4\n\t"                            \
    "bge     3b\n"                                  \
    "2:\n\t"                                        \
    "cmp     r3, #0\n\t"                            \
    "beq     4f\n\t"
#else
#define ET_RQ_QUAD
#endif
__asm__(".pushsection .text.et_conv_s8_requant_run, \"ax\", %progbits\n\t"
        ".syntax unified\n\t"
        ".thumb\n\t"
        ".balign 4\n\t"
        ".global et_conv_s8_requant_run\n\t"
        ".hidden et_conv_s8_requant_run\n\t"
        ".type   et_conv_s8_requant_run, %function\n\t"
        ".thumb_func\n"
        "et_conv_s8_requant_run:\n\t"
        "push    {r4-r11, lr}\n\t"
        "ldr     r12, [sp, #36]\n\t"
        "ldr     r8, [r12]\n\t"            /* output offset */
        ET_RQ_QUAD
        "ldr     r12, [sp, #36]\n\t"
        "ldrd    r9, r10, [r12, #4]\n"     /* act_min, act_max */
        "1:\n\t"
        ET_RQ_ONE
        "cmp     r12, r9\n\t"
        "it      lt\n\t"
        "movlt   r12, r9\n\t"
        "cmp     r12, r10\n\t"
        "it      gt\n\t"
        "movgt   r12, r10\n\t"
        "strb    r12, [r0], #1\n\t"
        "subs    r3, r3, #1\n\t"
        "bne     1b\n"
        "4:\n\t"
        "pop     {r4-r11, pc}\n\t"
        ".size   et_conv_s8_requant_run, . - et_conv_s8_requant_run\n\t"
        ".popsection\n\t");
#else
static void et_conv_s8_requant_run(int8_t *y, const int32_t *acc, const et_rq_entry *tab, int32_t n,
                                   const int32_t *oc)
{
    int32_t c;
    for (c = 0; c < n; ++c, acc += 2, ++tab) {
        const int64_t k = (int64_t)(((uint64_t)(uint32_t)tab->khi << 32) | tab->klo);
        const int64_t t = (int64_t)acc[0] * tab->m + k + (int64_t)(acc[0] >> 31) * ((int64_t)1 << 31);
        y[c] = (int8_t)et_clamp_i32(((int32_t)(t >> 32) >> tab->e1) + oc[0], oc[1], oc[2]);
    }
}
#endif

/* Fills tab for output channels o .. o + n - 1; 0 when one of them has a shift >= 0 (then the
 * general et_mbqm is used for the chunk). */
static int et_rq_table(const et_conv_s8_params *p, int32_t o, int32_t n, et_rq_entry *tab)
{
    const int32_t step = p->per_channel ? 1 : 0;
    int32_t c;
    for (c = 0; c < n; ++c) {
        const int32_t sh = p->shifts[(o + c) * step];
        int32_t e1;
        if (sh >= 0) {
            return 0;
        }
        e1 = -sh - 1;
        tab[c].m = p->multipliers[(o + c) * step];
        tab[c].e1 = e1;
        /* k = 2^30 + 2^(31 + e1): low word 2^30 (+ 2^31 when e1 = 0), high word 2^(e1 - 1). */
        tab[c].klo = e1 == 0 ? 0xC0000000u : 0x40000000u;
        tab[c].khi = e1 == 0 ? 0 : (int32_t)((uint32_t)1 << (e1 - 1));
    }
    return 1;
}

/* The general requantization of y[c] from acc[2 c], c < n, for output channels o ... */
static void et_conv_s8_requant_any(const et_conv_s8_params *p, int8_t *y, const int32_t *acc, int32_t o,
                                   int32_t n)
{
    const int32_t step = p->per_channel ? 1 : 0;
    int32_t c;
    for (c = 0; c < n; ++c) {
        const int32_t k = (o + c) * step;
        const int32_t v = et_mbqm_q31(acc[2 * c], p->multipliers[k], p->shifts[k]) + p->output_offset;
        y[c] = (int8_t)et_clamp_i32(v, p->act_min, p->act_max);
    }
}

/* A 1x1 conv with groups 1 as a dense layer over pixels (et_dense_s8 reads each in place): one
 * call for the whole tensor at stride 1, one per pixel otherwise. */
static et_status et_conv_s8_dense(const et_conv_s8_params *p, const int8_t *input, const int8_t *weights,
                                  const int32_t *bias, int8_t *output)
{
    const et_conv_geom *g = &p->geom;
    et_dense_s8_params d;
    int32_t b;
    int32_t oh;
    int32_t ow;
    d.n_in = g->in_c;
    d.n_out = g->out_c;
    d.input_offset = p->input_offset;
    d.output_offset = p->output_offset;
    d.act_min = p->act_min;
    d.act_max = p->act_max;
    d.per_channel = p->per_channel;
    d.multipliers = p->multipliers;
    d.shifts = p->shifts;
    d.eff_bias = p->eff_bias;
    if (g->stride_h == 1 && g->stride_w == 1) {
        d.batch = g->batch * g->in_h * g->in_w; /* out_h == in_h, out_w == in_w */
        return et_dense_s8(&d, input, weights, bias, output);
    }
    d.batch = 1;
    for (b = 0; b < g->batch; ++b) {
        for (oh = 0; oh < g->out_h; ++oh) {
            for (ow = 0; ow < g->out_w; ++ow) {
                const int8_t *x = input + ((b * g->in_h + oh * g->stride_h) * g->in_w + ow * g->stride_w) * g->in_c;
                const et_status st = et_dense_s8(&d, x, weights, bias,
                                                 output + ((b * g->out_h + oh) * g->out_w + ow) * g->out_c);
                if (st != ET_OK) {
                    return st;
                }
            }
        }
    }
    return ET_OK;
}

et_status et_conv_s8(const et_conv_s8_params *p, const int8_t *input, const int8_t *weights,
                     const int32_t *bias, int8_t *output, int8_t *scratch)
{
    const et_conv_geom *g;
    et_col_ctx c;
    int16_t *col;
    int8_t *w8;
    int8_t zp;
    const int32_t *init;
    int32_t cog;
    int32_t per_sample;
    int32_t in_sample;
    int32_t n_pix;
    int32_t tail;
    int32_t oc[5];
    int32_t grp;
    int pointwise;
    et_rq_entry tab[ET_CHUNK];
    int32_t acc[2 * ET_CHUNK];
    int32_t pw_col[ET_PW_STACK_C]; /* two int16 windows of a narrow pointwise conv */
    et_status st = et_conv_s8_check(p, 0);
    if (st != ET_OK) {
        return st;
    }
    pointwise = et_conv_s8_pointwise(p); /* then every pad is 0 */
    if (input == 0 || weights == 0 || output == 0 || (scratch == 0 && !pointwise)) {
        return ET_ERR_NULL_ARG;
    }
    g = &p->geom;
    if (pointwise && g->in_c > ET_PW_STACK_C) {
        return et_conv_s8_dense(p, input, weights, bias, output);
    }
    c.g = g;
    c.cig = g->in_c / p->groups;
    c.win = g->kernel_h * g->kernel_w * c.cig;
    c.n4 = c.win >> 2;
    tail = c.win - 4 * c.n4;
    /* With eff_bias the offset is already in the sums' initial values: the values stay raw and
     * a padded slot holds the zero point, whose product cancels that tap's share of the folded
     * offset. Without, every value gets the offset and a padded slot is zp + offset = 0. */
    c.add = p->eff_bias != 0 ? 0 : p->input_offset;
    c.oh_a = (g->pad_top + g->stride_h - 1) / g->stride_h;
    c.oh_b = (g->in_h - 1 - (g->kernel_h - 1) * g->dilation_h + g->pad_top) / g->stride_h + 1;
    c.ow_a = (g->pad_left + g->stride_w - 1) / g->stride_w;
    c.ow_b = (g->in_w - 1 - (g->kernel_w - 1) * g->dilation_w + g->pad_left) / g->stride_w + 1;
    c.contiguous = g->dilation_w == 1 && p->groups == 1;
    c.row_len = g->kernel_w * c.cig;
    c.row_step = g->dilation_h * g->in_w * g->in_c;
    init = p->eff_bias != 0 ? p->eff_bias : bias;
    oc[0] = p->output_offset;
    oc[1] = p->act_min;
    oc[2] = p->act_max;
    oc[3] = (int32_t)((uint32_t)(uint8_t)p->act_min * 0x01010101u);
    oc[4] = (int32_t)((uint32_t)(uint8_t)p->act_max * 0x01010101u);
    cog = g->out_c / p->groups;
    /* Word-aligned int16 view of the scratch (3 bytes of slack are in its size), then the int8
     * window; a narrow pointwise conv uses the stack instead (no int8 window). */
    if (pointwise) {
        col = (int16_t *)(void *)pw_col;
        w8 = 0;
    } else {
        col = (int16_t *)(void *)(scratch + ((4u - ((uintptr_t)scratch & 3u)) & 3u));
        w8 = (int8_t *)(col + 2 * c.win);
    }
    zp = (int8_t)(-p->input_offset); /* input_offset in [-127, 128]: the zero point fits int8 */
    per_sample = g->out_h * g->out_w;
    n_pix = g->batch * per_sample;
    in_sample = g->in_h * g->in_w * g->in_c;
    for (grp = 0; grp < p->groups; ++grp) {
        int32_t o0;
        for (o0 = grp * cog; o0 < (grp + 1) * cog; o0 += ET_CHUNK) {
            const int32_t nch = (grp + 1) * cog - o0 < ET_CHUNK ? (grp + 1) * cog - o0 : ET_CHUNK;
            const int32_t pairs = nch >> 1;
            const int fast = et_rq_table(p, o0, nch, tab);
            int32_t q;
            /* Output pixels two at a time in (batch, oh, ow) order (a pair may straddle rows or
             * samples); an odd last pixel fills both window slots. */
            for (q = 0; q < n_pix; q += 2) {
                const int32_t q1 = q + 1 < n_pix ? q + 1 : q;
                const int32_t b0 = q / per_sample;
                const int32_t b1 = q1 / per_sample;
                const int32_t r0 = q - b0 * per_sample;
                const int32_t r1 = q1 - b1 * per_sample;
                int8_t *y0 = output + q * g->out_c + o0;
                int8_t *y1 = output + q1 * g->out_c + o0;
                if (pointwise) { /* the window is the input pixel itself */
                    et_widen(&c, input + ((b0 * g->in_h + (r0 / g->out_w) * g->stride_h) * g->in_w +
                                          (r0 % g->out_w) * g->stride_w) * g->in_c, col, 0);
                    et_widen(&c, input + ((b1 * g->in_h + (r1 / g->out_w) * g->stride_h) * g->in_w +
                                          (r1 % g->out_w) * g->stride_w) * g->in_c, col, 1);
                } else {
                    et_gather_s8(&c, input + b0 * in_sample, r0 / g->out_w, r0 % g->out_w, grp * c.cig, zp, w8);
                    et_widen(&c, w8, col, 0);
                    et_gather_s8(&c, input + b1 * in_sample, r1 / g->out_w, r1 % g->out_w, grp * c.cig, zp, w8);
                    et_widen(&c, w8, col, 1);
                }
                if (pairs > 0) {
                    ET_MAC2X2(acc, col, weights + o0 * c.win, c.win, c.n4, pairs, init != 0 ? init + o0 : 0,
                              tail);
                }
                if (nch & 1) { /* the last channel alone: both rows are it */
                    const int32_t ol = o0 + nch - 1;
                    int32_t t[4];
                    ET_MAC2X2(t, col, weights + ol * c.win, 0, c.n4, 1, 0, tail);
                    acc[2 * nch - 2] = t[0] + (init != 0 ? init[ol] : 0);
                    acc[2 * nch - 1] = t[1] + (init != 0 ? init[ol] : 0);
                }
                if (fast) {
                    et_conv_s8_requant_run(y0, acc, tab, nch, oc);
                    if (q1 != q) {
                        et_conv_s8_requant_run(y1, acc + 1, tab, nch, oc);
                    }
                } else {
                    et_conv_s8_requant_any(p, y0, acc, o0, nch);
                    et_conv_s8_requant_any(p, y1, acc + 1, o0, nch);
                }
            }
        }
    }
    return ET_OK;
}

/* Per-call constants of the depthwise kernel, gathered once. */
typedef struct {
    const et_conv_geom *g;
    const int8_t *weights;
    const int32_t *init;  /* eff_bias, else bias, else NULL (zeros) */
    const int32_t *mult;
    const int32_t *shift;
    int32_t off;          /* the offset added in the tap loop: 0 with eff_bias */
    int32_t fold;         /* input_offset folded into init (eff_bias), else 0 */
    int32_t ch_step;      /* 1 per channel, 0 per tensor */
    int32_t depth_mult;   /* out_c / in_c */
} et_dw_s8_ctx;

/* One output pixel's window: the in-bounds taps [ilo, ihi) x [jlo, jhi), the input index of
 * tap (0, 0) (rows and columns may be outside the input), and whether any tap is padding. */
typedef struct {
    int32_t ilo;
    int32_t ihi;
    int32_t jlo;
    int32_t jhi;
    int32_t h0;
    int32_t w0;
    int32_t border;
} et_dw_window;

static inline int8_t et_dw_requant(const et_conv_s8_params *p, const et_dw_s8_ctx *c, int32_t acc,
                                   int32_t o)
{
    const int32_t k = o * c->ch_step;
    const int32_t v = et_mbqm_q31(acc, c->mult[k], c->shift[k]) + p->output_offset;
    return (int8_t)et_clamp_i32(v, p->act_min, p->act_max);
}

/* sum over the padded taps of the window of w[tap][o]: what eff_bias folded in with the offset
 * for taps that hold the zero point (x + input_offset = 0), to be taken back. */
static int32_t et_dw_padded_weight_sum(const et_dw_s8_ctx *c, const et_dw_window *win, int32_t o)
{
    const et_conv_geom *g = c->g;
    int32_t sum = 0;
    int32_t i;
    int32_t j;
    for (i = 0; i < g->kernel_h; ++i) {
        const int8_t *wt = c->weights + i * g->kernel_w * g->out_c + o;
        for (j = 0; j < g->kernel_w; ++j) {
            if (i < win->ilo || i >= win->ihi || j < win->jlo || j >= win->jhi) {
                sum += (int32_t)wt[j * g->out_c];
            }
        }
    }
    return sum;
}

/* One output channel o (any depth multiplier): input channel o / multiplier. */
static void et_dw_s8_one(const et_conv_s8_params *p, const et_dw_s8_ctx *c, const et_dw_window *win,
                         const int8_t *x, int32_t o, int8_t *y)
{
    const et_conv_geom *g = c->g;
    const int32_t ch = o / c->depth_mult;
    const int32_t x_step = g->dilation_w * g->in_c;
    int32_t acc = c->init != 0 ? c->init[o] : 0;
    int32_t i;
    for (i = win->ilo; win->jlo < win->jhi && i < win->ihi; ++i) { /* rows with an in-bounds tap */
        const int8_t *xt =
            x + ((win->h0 + i * g->dilation_h) * g->in_w + win->w0 + win->jlo * g->dilation_w) * g->in_c + ch;
        const int8_t *wt = c->weights + (i * g->kernel_w + win->jlo) * g->out_c + o;
        int32_t j;
        for (j = win->jlo; j < win->jhi; ++j) {
            acc += ((int32_t)*xt + c->off) * (int32_t)*wt;
            xt += x_step;
            wt += g->out_c;
        }
    }
    if (c->fold != 0 && win->border) {
        acc -= c->fold * et_dw_padded_weight_sum(c, win, o);
    }
    y[o] = et_dw_requant(p, c, acc, o);
}

/* Taps of the depthwise channel-block path (et_dw_s8_blocks): 7x7 and below. */
#define ET_DW_TAPS 49

/* The padded band of the depthwise channel-block path (et_dw_s8_blocks): slots of band_w
 * columns of four channels, 2 * span - 1 of them. */
static int32_t et_dw_band_w(const et_conv_geom *g)
{
    return (g->out_w - 1) * g->stride_w + (g->kernel_w - 1) * g->dilation_w + 1;
}

static int32_t et_dw_band_span(const et_conv_geom *g)
{
    return (g->kernel_h - 1) * g->dilation_h + 1;
}

/* 3x3 with dilation 1: the band has room for the int16 pair layout of et_dw_s8_3x3p_rq (16 bytes
 * per column, in every build; the Cortex-M4 assembly uses it, the other builds a quarter). */
static int et_dw_pairs(const et_conv_geom *g)
{
    return g->kernel_h == 3 && g->kernel_w == 3 && g->dilation_h == 1 && g->dilation_w == 1;
}

/* The pair layout's slots run along the height when the output is taller than wide. */
static int et_dw_transposed(const et_conv_geom *g)
{
    return g->out_h > g->out_w;
}

/* Bytes of the band (without the alignment slack): 5 slots of 16 bytes per column along the pair
 * layout's axis, at least 5 slots of 4 bytes per column along the width (the int8 layout). */
static int64_t et_dw_band_bytes(const et_conv_geom *g)
{
    const int64_t n8 = (int64_t)(2 * et_dw_band_span(g) - 1) * et_dw_band_w(g) * 4;
    int64_t n16;
    if (!et_dw_pairs(g)) {
        return n8;
    }
    n16 = 5 * 16 * (int64_t)(et_dw_transposed(g) ? (g->out_h - 1) * g->stride_h + 3 : et_dw_band_w(g));
    return n16 > n8 ? n16 : n8;
}

/* Whether et_depthwise_conv_s8 runs channel blocks (and so needs the band): depth multiplier 1,
 * at least four channels, at most ET_DW_TAPS taps. */
static int et_dw_uses_blocks(const et_conv_geom *g)
{
    return g->out_c == g->in_c && g->out_c >= 4 && g->kernel_h * g->kernel_w <= ET_DW_TAPS;
}

int32_t et_depthwise_conv_s8_scratch_bytes(const et_conv_s8_params *params)
{
    int64_t n;
    if (et_conv_s8_check(params, 1) != ET_OK) {
        return -1;
    }
    if (!et_dw_uses_blocks(&params->geom)) {
        return 0;
    }
    /* The band, plus up to 3 bytes to align it to a word. */
    n = et_dw_band_bytes(&params->geom) + 3;
    return n > INT32_MAX ? -1 : (int32_t)n;
}

/* One tap of four channels: the input word xw (channels o .. o + 3) plus add2's lanes, times the
 * tap's weights widened as (w0, w2) in we and (w1, w3) in wo, into a0 .. a3 (channels o .. o + 3).
 * With DSP: two SXTAB16 and four SMLAxy (bottom x bottom, top x top halfwords). */
#if defined(__ARM_FEATURE_DSP)
#define ET_DW_TAP(a0, a1, a2, a3, xw, add2, we, wo)          \
    do {                                                    \
        const int16x2_t xe_ = __sxtab16((add2), (xw));      \
        const int16x2_t xo_ = et_sxtab16_odd((add2), (xw)); \
        (a0) = __smlabb(xe_, (we), (a0));                   \
        (a2) = __smlatt(xe_, (we), (a2));                   \
        (a1) = __smlabb(xo_, (wo), (a1));                   \
        (a3) = __smlatt(xo_, (wo), (a3));                   \
    } while (0)
#else
#define ET_DW_TAP(a0, a1, a2, a3, xw, add2, we, wo)                                               \
    do {                                                                                          \
        const int32_t ad_ = (int16_t)(uint16_t)(add2);                                            \
        (a0) += ((int8_t)(uint8_t)(xw) + ad_) * (int16_t)(uint16_t)(we);                          \
        (a1) += ((int8_t)(uint8_t)((xw) >> 8) + ad_) * (int16_t)(uint16_t)(wo);                   \
        (a2) += ((int8_t)(uint8_t)((xw) >> 16) + ad_) * (int16_t)(uint16_t)((uint32_t)(we) >> 16); \
        (a3) += ((int8_t)(uint8_t)((xw) >> 24) + ad_) * (int16_t)(uint16_t)((uint32_t)(wo) >> 16); \
    } while (0)
#endif

#if defined(__ARM_FEATURE_DSP) && defined(__thumb2__) && defined(__GNUC__)
/* One tap of the 3x3 assembly below: the tap (i, j) word at p + i * row + j * cin, its widened
 * weights at wv[2 t], wv[2 t + 1] (t = 3 i + j), lr the offset in both halfwords. Per tap: LDR,
 * two SXTAB16, one LDRD, four SMLAxy. */
#define ET_DW_ASM_TAP(LOAD)                 \
    LOAD "\n\t"                             \
    "sxtab16 r9, lr, r8\n\t"                \
    "sxtab16 r10, lr, r8, ror #8\n\t"       \
    "ldrd    r8, r11, [r12], #8\n\t"        \
    "smlabb  r4, r9, r8, r4\n\t"            \
    "smlatt  r6, r9, r8, r6\n\t"            \
    "smlabb  r5, r10, r11, r5\n\t"          \
    "smlatt  r7, r10, r11, r7\n\t"
#define ET_DW_ASM_ROW                               \
    ET_DW_ASM_TAP("ldr     r8, [r1]")               \
    ET_DW_ASM_TAP("ldr     r8, [r1, r2]")           \
    ET_DW_ASM_TAP("ldr     r8, [r1, r2, lsl #1]")
/* The same nine taps, then requantized and stored: y[0..3] = the int8 outputs of channels
 * o .. o + 3, every shift of the four < 0 (et_rq_table gave 1). c: the block's constants (see
 * et_dw3x3_ctx); one call per pixel, the sums never leave registers. The requantization
 * is et_conv_s8_requant_run's (SMLAL form, SSAT, BFI, SSUB8/SEL, one STR). AAPCS: r0 c, r1 p,
 * r2 cin, r3 row; y on the stack. */
typedef struct {
    const uint32_t *wv;       /* the assembly reads the fields at fixed offsets: keep the order */
    uint32_t add2;
    const et_rq_entry *tab;   /* four channels */
    const int32_t *oc;        /* output offset, act_min, act_max, act_min x4, act_max x4 */
    int32_t init[4];
} et_dw3x3_ctx;
void et_dw_s8_3x3_rq(const et_dw3x3_ctx *c, const int8_t *p, int32_t cin, int32_t row, int8_t *y);
/* Requantize the sum in SUM into DST (int8 in the low byte, sign-extended): r1 = the next
 * channel's constants, r3 = the output offset; r8-r12, lr scratch. */
#define ET_DW_RQ(SUM, DST)                          \
    "ldmia   r1!, {r8-r11}\n\t"                     \
    "asr     r12, " SUM ", #31\n\t"                 \
    "adds    lr, r9, r12, lsl #31\n\t"              \
    "adc     r12, r10, r12\n\t"                     \
    "smlal   lr, r12, " SUM ", r8\n\t"              \
    "asr     r12, r12, r11\n\t"                     \
    "add     r12, r12, r3\n\t"                      \
    "ssat    " DST ", #8, r12\n\t"
__asm__(".pushsection .text.et_dw_s8_3x3_rq, \"ax\", %progbits\n\t"
        ".syntax unified\n\t"
        ".thumb\n\t"
        ".balign 4\n\t"
        ".global et_dw_s8_3x3_rq\n\t"
        ".hidden et_dw_s8_3x3_rq\n\t"
        ".type   et_dw_s8_3x3_rq, %function\n\t"
        ".thumb_func\n"
        "et_dw_s8_3x3_rq:\n\t"
        "push    {r4-r11, lr}\n\t"
        "ldrd    r12, lr, [r0]\n\t"   /* wv, add2 */
        "add     r8, r0, #16\n\t"
        "ldm     r8, {r4-r7}\n\t"     /* init */
        ET_DW_ASM_ROW
        "add     r1, r1, r3\n\t"
        ET_DW_ASM_ROW
        "add     r1, r1, r3\n\t"
        ET_DW_ASM_ROW
        "ldrd    r1, r2, [r0, #8]\n\t" /* tab, oc */
        "ldr     r3, [r2]\n\t"
        ET_DW_RQ("r4", "r4")
        ET_DW_RQ("r5", "r5")
        "bfi     r4, r5, #8, #8\n\t"
        ET_DW_RQ("r6", "r6")
        "bfi     r4, r6, #16, #8\n\t"
        ET_DW_RQ("r7", "r7")
        "bfi     r4, r7, #24, #8\n\t"
        "ldrd    r8, r9, [r2, #12]\n\t"
        "ssub8   lr, r4, r8\n\t"
        "sel     r4, r4, r8\n\t"     /* max(v, lo) */
        "ssub8   lr, r4, r9\n\t"
        "sel     r4, r9, r4\n\t"     /* min(v, hi) */
        "ldr     r12, [sp, #36]\n\t"
        "str     r4, [r12]\n\t"       /* Cortex-M4/M7 allow an unaligned STR */
        "pop     {r4-r11, pc}\n\t"
        ".size   et_dw_s8_3x3_rq, . - et_dw_s8_3x3_rq\n\t"
        ".popsection\n\t");
/* The same pixel over the band's int16 pair layout (et_dw_s8_blocks, 3x3 with dilation 1): word k
 * (channel o + k) of column w of a slot holds (x[w] + offset) in its low halfword and
 * (x[w + 1] + offset) in its high one, so that taps (i, 0) and (i, 1) of channel k are one SMLAD
 * against the weight pair (w[i][0], w[i][1]), and tap (i, 2) one SMLABB / SMLABT on column w + 2's
 * low halfword; per row of taps: one LDM and one LDRD pair of the band, three LDM of the weights
 * (c->wv: per row the four pairs, then (w[i][2] of channel 0, of channel 1), (of 2, of 3)), four
 * SMLAD, four SMLAxB/T. p: the pixel's column in the top slot; row: bytes per slot. */
void et_dw_s8_3x3p_rq(const et_dw3x3_ctx *c, const int8_t *p, int32_t unused, int32_t row, int8_t *y);
#define ET_DW_PAIR_ROW(NEXT)                  \
    "ldm     r1, {r8-r11}\n\t"                \
    "ldmia   r12!, {r2, lr}\n\t"              \
    "smlad   r4, r8, r2, r4\n\t"              \
    "smlad   r5, r9, lr, r5\n\t"              \
    "ldmia   r12!, {r2, lr}\n\t"              \
    "smlad   r6, r10, r2, r6\n\t"             \
    "smlad   r7, r11, lr, r7\n\t"             \
    "ldrd    r8, r9, [r1, #32]\n\t"           \
    "ldrd    r10, r11, [r1, #40]\n\t"         \
    "ldmia   r12!, {r2, lr}\n\t"              \
    "smlabb  r4, r8, r2, r4\n\t"              \
    "smlabt  r5, r9, r2, r5\n\t"              \
    "smlabb  r6, r10, lr, r6\n\t"             \
    "smlabt  r7, r11, lr, r7\n\t"             \
    NEXT
__asm__(".pushsection .text.et_dw_s8_3x3p_rq, \"ax\", %progbits\n\t"
        ".syntax unified\n\t"
        ".thumb\n\t"
        ".balign 4\n\t"
        ".global et_dw_s8_3x3p_rq\n\t"
        ".hidden et_dw_s8_3x3p_rq\n\t"
        ".type   et_dw_s8_3x3p_rq, %function\n\t"
        ".thumb_func\n"
        "et_dw_s8_3x3p_rq:\n\t"
        "push    {r4-r11, lr}\n\t"
        "ldr     r12, [r0]\n\t"     /* wv */
        "add     r8, r0, #16\n\t"
        "ldm     r8, {r4-r7}\n\t"   /* init */
        ET_DW_PAIR_ROW("add     r1, r1, r3\n\t")
        ET_DW_PAIR_ROW("add     r1, r1, r3\n\t")
        ET_DW_PAIR_ROW("")
        "ldrd    r1, r2, [r0, #8]\n\t" /* tab, oc */
        "ldr     r3, [r2]\n\t"
        ET_DW_RQ("r4", "r4")
        ET_DW_RQ("r5", "r5")
        "bfi     r4, r5, #8, #8\n\t"
        ET_DW_RQ("r6", "r6")
        "bfi     r4, r6, #16, #8\n\t"
        ET_DW_RQ("r7", "r7")
        "bfi     r4, r7, #24, #8\n\t"
        "ldrd    r8, r9, [r2, #12]\n\t"
        "ssub8   lr, r4, r8\n\t"
        "sel     r4, r4, r8\n\t"
        "ssub8   lr, r4, r9\n\t"
        "sel     r4, r9, r4\n\t"
        "ldr     r12, [sp, #36]\n\t"
        "str     r4, [r12]\n\t"
        "pop     {r4-r11, pc}\n\t"
        ".size   et_dw_s8_3x3p_rq, . - et_dw_s8_3x3p_rq\n\t"
        ".popsection\n\t");
#define ET_DW_3X3_ASM 1
#else
#define ET_DW_3X3_ASM 0
#endif

#if ET_DW_3X3_ASM
/* One input row into a slot of the int16 pair layout (et_dw_s8_3x3p_rq), in assembly: for each of
 * the n input words at src, src + cin, ... (four channels, widened with the offset: ce = channels
 * (0, 2), co = (1, 3)) the group of four words of the column before it, (prev, cur) per channel,
 * at d0 and d0 + delta bytes (the slot's two copies; delta may be 0), d0 stepping by 16; then the
 * last column's group (last, 0). pe, po: the widened column before the first (0 for padding). */
typedef struct {
    uint32_t *d0; /* the assembly reads the fields at fixed offsets: keep the order */
    int32_t delta;
    const int8_t *src;
    int32_t n;
    int32_t cin;
    uint32_t add2;
    uint32_t pe;
    uint32_t po;
} et_dw_pair_job;
void et_dw_pair_row(const et_dw_pair_job *j);
__asm__(".pushsection .text.et_dw_pair_row, \"ax\", %progbits\n\t"
        ".syntax unified\n\t"
        ".thumb\n\t"
        ".balign 4\n\t"
        ".global et_dw_pair_row\n\t"
        ".hidden et_dw_pair_row\n\t"
        ".type   et_dw_pair_row, %function\n\t"
        ".thumb_func\n"
        "et_dw_pair_row:\n\t"
        "push    {r4-r11, lr}\n\t"
        "ldm     r0, {r1-r8}\n\t"   /* d0, delta, src, n, cin, add2, pe, po */
        "cmp     r4, #0\n\t"
        "beq     2f\n"
        "1:\n\t"
        "ldr     r9, [r3]\n\t"
        "add     r3, r3, r5\n\t"
        "sxtab16 r10, r6, r9\n\t"
        "sxtab16 r11, r6, r9, ror #8\n\t"
        "pkhbt   r9, r7, r10, lsl #16\n\t"
        "pkhbt   r12, r8, r11, lsl #16\n\t"
        "pkhtb   r7, r10, r7, asr #16\n\t"
        "pkhtb   r8, r11, r8, asr #16\n\t"
        "add     lr, r1, r2\n\t"
        "strd    r9, r12, [lr]\n\t"
        "strd    r7, r8, [lr, #8]\n\t"
        "strd    r7, r8, [r1, #8]\n\t"
        "strd    r9, r12, [r1], #16\n\t"
        "mov     r7, r10\n\t"
        "mov     r8, r11\n\t"
        "subs    r4, r4, #1\n\t"
        "bne     1b\n"
        "2:\n\t"
        "uxth    r9, r7\n\t"
        "uxth    r12, r8\n\t"
        "lsrs    r7, r7, #16\n\t"
        "lsrs    r8, r8, #16\n\t"
        "add     lr, r1, r2\n\t"
        "strd    r9, r12, [lr]\n\t"
        "strd    r7, r8, [lr, #8]\n\t"
        "strd    r9, r12, [r1]\n\t"
        "strd    r7, r8, [r1, #8]\n\t"
        "pop     {r4-r11, pc}\n\t"
        ".size   et_dw_pair_row, . - et_dw_pair_row\n\t"
        ".popsection\n\t");
#endif

#if ET_DW_3X3_ASM
/* One axis of the pair path: input and output sizes, stride, leading pad, input bytes, output
 * bytes and weight bytes per step. */
typedef struct {
    int32_t n_in;
    int32_t n_out;
    int32_t stride;
    int32_t pad;
    int32_t xstep;
    int32_t ystep;
    int32_t wstep;
} et_dw_axis;

static int32_t et_dw_pair_w(const et_dw_axis *a)
{
    return (a->n_out - 1) * a->stride + 3;
}

/* One block of four channels of a 3x3 (dilation 1) depthwise conv over the int16 pair band:
 * slots run along axis `al` (the width, or the height when the output is taller than wide, so
 * that the per-slot work is spread over the longer axis), one slot per input line across it
 * (axis `ac`), ring of 5 slots as in et_dw_s8_blocks; c: the block's widened weights (in the
 * matching orientation), requantization and init. x, y: the block's first channel of batch 0. */
static void et_dw_s8_pair_block(et_dw3x3_ctx *c, const et_dw_axis *al, const et_dw_axis *ac,
                                const int8_t *x, int8_t *y, int8_t *band, int32_t x_batch, int32_t y_batch,
                                int32_t batch)
{
    const int32_t bw = et_dw_pair_w(al);
    const int32_t slot = 16 * bw; /* bytes */
    const int32_t c_lo = al->pad;
    const int32_t c_hi = al->pad + al->n_in < bw ? al->pad + al->n_in : bw;
    const int32_t n_in = ac->n_in;
    const int32_t n_out = ac->n_out;
    const int32_t n_px = al->n_out;
    const int32_t pad = ac->pad;
    const int32_t stride = ac->stride;
    const int32_t xs = ac->xstep;
    const int32_t ys = ac->ystep;
    const int32_t pstep = 16 * al->stride;
    const int32_t ystep = al->ystep;
    et_dw_pair_job j;
    int32_t b;
    j.cin = al->xstep;
    j.add2 = c->add2;
    for (b = 0; b < batch; ++b, x += x_batch, y += y_batch) {
        int32_t next = -pad; /* the next input line to copy (padded lines included) */
        int32_t oh;
        for (oh = 0; oh < n_out; ++oh) {
            const int32_t h0 = oh * stride - pad;
            const int8_t *q0 = band + ((h0 + pad) % 3) * slot;
            int8_t *yp = y + oh * ys;
            int32_t ow;
            if (next < h0) {
                next = h0;
            }
            for (; next < h0 + 3; ++next) {
                const int32_t s = (next + pad) % 3;
                uint32_t *d0 = (uint32_t *)(void *)(band + s * slot);
                j.delta = s < 2 ? 3 * slot : 0;
                if (next >= 0 && next < n_in) {
                    j.src = x + next * xs;
                    j.n = c_hi - c_lo;
                    if (c_lo > 0) { /* the padding column before the first: (0, x[0]) */
                        j.d0 = d0 + 4 * (c_lo - 1);
                        j.pe = 0;
                        j.po = 0;
                    } else { /* column 0 is the input's: its group comes with column 1 */
                        uint32_t v;
                        memcpy(&v, j.src, 4);
                        j.d0 = d0;
                        j.pe = (uint32_t)__sxtab16((int16x2_t)j.add2, (int8x4_t)v);
                        j.po = (uint32_t)et_sxtab16_odd((int16x2_t)j.add2, (int8x4_t)v);
                        j.src += j.cin;
                        j.n -= 1;
                    }
                    et_dw_pair_row(&j);
                } else {
                    memset(d0, 0, (size_t)slot);
                    memset((int8_t *)d0 + j.delta, 0, (size_t)slot);
                }
            }
            for (ow = 0; ow < n_px; ++ow, q0 += pstep, yp += ystep) {
                et_dw_s8_3x3p_rq(c, q0, 0, slot, yp);
            }
        }
    }
}
#endif

/* Depth multiplier 1, channels [0, out_c & ~3) four at a time, kernel of at most ET_DW_TAPS taps,
 * over a padded band in `band` (word-aligned, et_dw_band_bytes): for each block of four channels
 * the input rows are copied once each, as words of four channels, into slots of
 * band_w = (out_w - 1) * stride_w + (kernel_w - 1) * dilation_w + 1 columns (column c holds input
 * column c - pad_left, or the zero point when that is outside the input), every row r (padded
 * rows included, as zero points) at slot (r + pad_top) % span and again at slot + span when that
 * is below 2 * span - 1 (span = (kernel_h - 1) * dilation_h + 1): the span rows an output row
 * reads are then consecutive slots, and every output pixel reads all its taps at fixed offsets
 * from its first, with no range checks. A padded tap reads the zero point in every byte: with the
 * offset added while widening it gives zp + offset = 0, as the reference's skipped tap. Per block,
 * every tap's weights are widened once into a stack buffer and the requantization constants
 * formed once; the four accumulators stay in registers over the pixel's taps (the 3x3 kernel with
 * dilation 1 in one assembly call per pixel on Cortex-M4). */
static void et_dw_s8_blocks(const et_conv_s8_params *p, const int8_t *input, const int8_t *weights,
                            const int32_t *bias, int8_t *output, int8_t *band)
{
    const et_conv_geom *g = &p->geom;
    const int32_t taps = g->kernel_h * g->kernel_w;
    const int32_t add = p->input_offset;
    const uint32_t add2 = ((uint32_t)(uint16_t)add << 16) | (uint16_t)add;
    const uint32_t zp4 = (uint32_t)(uint8_t)(int8_t)(-add) * 0x01010101u;
    const int32_t out_c4 = g->out_c & ~(int32_t)3;
    const int32_t cin = g->in_c;
    const int32_t bw = et_dw_band_w(g);
    const int32_t span = et_dw_band_span(g);
    const int32_t brow = 4 * bw; /* bytes per band slot, int8 layout */
    const int32_t c_lo = g->pad_left;
    const int32_t c_hi = g->pad_left + g->in_w < bw ? g->pad_left + g->in_w : bw;
    const int32_t xstep = 4 * g->stride_w;
    /* The geometry in locals: the band's stores could alias *g for the compiler. */
    const int32_t batch = g->batch;
    const int32_t in_h = g->in_h;
    const int32_t in_w = g->in_w;
    const int32_t out_h = g->out_h;
    const int32_t out_w = g->out_w;
    const int32_t out_c = g->out_c;
    const int32_t stride_h = g->stride_h;
    const int32_t pad_top = g->pad_top;
#if ET_DW_3X3_ASM
    const int k3 = et_dw_pairs(g);
    const int tr = et_dw_transposed(g);
    int layout = -1; /* the band's: 0 int8 words, 1 int16 pairs (et_dw_s8_3x3p_rq), -1 not yet */
    et_dw_axis ax[2]; /* [0] the width, [1] the height; slots run along ax[tr] */
    ax[0].n_in = in_w;
    ax[0].n_out = out_w;
    ax[0].stride = g->stride_w;
    ax[0].pad = g->pad_left;
    ax[0].xstep = cin;
    ax[0].ystep = out_c;
    ax[0].wstep = out_c;
    ax[1].n_in = in_h;
    ax[1].n_out = out_h;
    ax[1].stride = stride_h;
    ax[1].pad = pad_top;
    ax[1].xstep = in_w * cin;
    ax[1].ystep = out_w * out_c;
    ax[1].wstep = 3 * out_c;
#endif
    int32_t toff[ET_DW_TAPS];
    uint32_t wv[2 * ET_DW_TAPS];
    et_rq_entry tab[4];
    int32_t oc[5];
    int32_t o;
    int32_t t;
#if ET_DW_3X3_ASM
    et_dw3x3_ctx dc;
    dc.wv = wv;
    dc.add2 = add2;
    dc.tab = tab;
    dc.oc = oc;
#endif
    oc[0] = p->output_offset;
    oc[1] = p->act_min;
    oc[2] = p->act_max;
    oc[3] = (int32_t)((uint32_t)(uint8_t)p->act_min * 0x01010101u);
    oc[4] = (int32_t)((uint32_t)(uint8_t)p->act_max * 0x01010101u);
    for (t = 0; t < taps; ++t) {
        toff[t] = (t / g->kernel_w) * g->dilation_h * brow + (t % g->kernel_w) * g->dilation_w * 4;
    }
    for (o = 0; o < out_c4; o += 4) {
        const int fast = et_rq_table(p, o, 4, tab);
#if ET_DW_3X3_ASM
        const int pairs = k3 && fast;
        if (pairs) {
            /* per row of taps across the slots: 4 pairs (taps 0, 1 along them), 2 words of tap 2 */
            const int32_t wa = ax[tr].wstep;
            for (t = 0; t < 3; ++t) {
                const int8_t *w = weights + t * ax[1 - tr].wstep + o;
                int32_t k;
                for (k = 0; k < 4; ++k) {
                    wv[6 * t + k] = (uint32_t)(uint16_t)w[k] | ((uint32_t)(uint16_t)w[wa + k] << 16);
                }
                wv[6 * t + 4] = (uint32_t)(uint16_t)w[2 * wa] | ((uint32_t)(uint16_t)w[2 * wa + 1] << 16);
                wv[6 * t + 5] = (uint32_t)(uint16_t)w[2 * wa + 2] | ((uint32_t)(uint16_t)w[2 * wa + 3] << 16);
            }
        }
        if (pairs != layout) {
            /* Padding holds the zero point for good (in the pair layout, zp + offset = 0); the row
             * copies write the input's columns only. */
            memset(band, pairs ? 0 : (int)(zp4 & 0xFFu), (size_t)(pairs ? 5 * 16 * et_dw_pair_w(&ax[tr]) : (2 * span - 1) * brow));
            layout = pairs;
        }
#else
        if (o == 0) {
            /* Padding columns hold the zero point for good; the row copies write [c_lo, c_hi). */
            memset(band, (int)(zp4 & 0xFFu), (size_t)((2 * span - 1) * brow));
        }
#endif
        int32_t sw[4] = {0, 0, 0, 0};
        int32_t i0;
        int32_t i1;
        int32_t i2;
        int32_t i3;
        int32_t b;
        for (t = 0; t < taps; ++t) {
            const int8_t *w = weights + t * g->out_c + o;
#if ET_DW_3X3_ASM
            if (!pairs)
#endif
            {
                wv[2 * t] = (uint32_t)(uint16_t)w[0] | ((uint32_t)(uint16_t)w[2] << 16);
                wv[2 * t + 1] = (uint32_t)(uint16_t)w[1] | ((uint32_t)(uint16_t)w[3] << 16);
            }
            sw[0] += w[0];
            sw[1] += w[1];
            sw[2] += w[2];
            sw[3] += w[3];
        }
        /* The sums start from bias; eff_bias = bias + input_offset * (sum of the channel's
         * weights) gives it back exactly. */
        if (p->eff_bias != 0) {
            i0 = p->eff_bias[o] - add * sw[0];
            i1 = p->eff_bias[o + 1] - add * sw[1];
            i2 = p->eff_bias[o + 2] - add * sw[2];
            i3 = p->eff_bias[o + 3] - add * sw[3];
        } else {
            i0 = bias != 0 ? bias[o] : 0;
            i1 = bias != 0 ? bias[o + 1] : 0;
            i2 = bias != 0 ? bias[o + 2] : 0;
            i3 = bias != 0 ? bias[o + 3] : 0;
        }
#if ET_DW_3X3_ASM
        dc.init[0] = i0;
        dc.init[1] = i1;
        dc.init[2] = i2;
        dc.init[3] = i3;
#endif
#if ET_DW_3X3_ASM
        if (pairs) {
            et_dw_s8_pair_block(&dc, &ax[tr], &ax[1 - tr], input + o, output + o, band, in_h * in_w * cin,
                                out_h * out_w * out_c, batch);
            continue;
        }
#endif
        for (b = 0; b < batch; ++b) {
            const int8_t *x = input + b * in_h * in_w * cin + o;
            int32_t next = -pad_top; /* the next input row to copy (padded rows included) */
            int32_t oh;
            for (oh = 0; oh < out_h; ++oh) {
                const int32_t h0 = oh * stride_h - pad_top;
                const int8_t *r0 = band + ((h0 + pad_top) % span) * brow;
                int8_t *y = output + (b * out_h + oh) * out_w * out_c + o;
                int32_t ow;
                if (next < h0) {
                    next = h0;
                }
                for (; next < h0 + span; ++next) {
                    const int32_t s = (next + pad_top) % span;
                    uint32_t *d0 = (uint32_t *)(void *)(band + s * brow) + c_lo;
                    uint32_t *d1 = s < span - 1 ? d0 + span * bw : d0;
                    uint32_t *const end = d0 + (c_hi - c_lo);
                    if (next >= 0 && next < in_h) {
                        const int8_t *src = x + next * in_w * cin;
                        while (d0 < end) {
                            uint32_t v;
                            memcpy(&v, src, 4); /* one LDR (unaligned allowed) */
                            src += cin;
                            *d0++ = v;
                            *d1++ = v;
                        }
                    } else {
                        while (d0 < end) {
                            *d0++ = zp4;
                            *d1++ = zp4;
                        }
                    }
                }
                for (ow = 0; ow < out_w; ++ow, r0 += xstep, y += out_c) {
                    const uint32_t *wp = wv;
                    int32_t a[8];
                    int32_t a0 = i0;
                    int32_t a1 = i1;
                    int32_t a2 = i2;
                    int32_t a3 = i3;
                    for (t = 0; t < taps; ++t, wp += 2) {
                        uint32_t xw;
                        memcpy(&xw, r0 + toff[t], 4); /* word-aligned */
                        ET_DW_TAP(a0, a1, a2, a3, xw, add2, wp[0], wp[1]);
                    }
                    a[0] = a0; /* the stride 2 of et_conv_s8_requant_run */
                    a[2] = a1;
                    a[4] = a2;
                    a[6] = a3;
                    if (fast) {
                        et_conv_s8_requant_run(y, a, tab, 4, oc);
                    } else {
                        et_conv_s8_requant_any(p, y, a, o, 4);
                    }
                }
            }
        }
    }
}

et_status et_depthwise_conv_s8(const et_conv_s8_params *p, const int8_t *input,
                               const int8_t *weights, const int32_t *bias, int8_t *output,
                               int8_t *scratch)
{
    const et_conv_geom *g;
    et_dw_s8_ctx c;
    int32_t out_c4;
    int blocks;
    int32_t b;
    int32_t oh;
    int32_t ow;
    et_status st = et_conv_s8_check(p, 1);
    if (st != ET_OK) {
        return st;
    }
    if (input == 0 || weights == 0 || output == 0) {
        return ET_ERR_NULL_ARG;
    }
    g = &p->geom;
    c.g = g;
    c.weights = weights;
    c.init = p->eff_bias != 0 ? p->eff_bias : bias;
    c.mult = p->multipliers;
    c.shift = p->shifts;
    c.off = p->eff_bias != 0 ? 0 : p->input_offset;
    c.fold = p->eff_bias != 0 ? p->input_offset : 0;
    c.ch_step = p->per_channel ? 1 : 0;
    c.depth_mult = g->out_c / g->in_c;
    out_c4 = g->out_c & ~(int32_t)3;
    blocks = et_dw_uses_blocks(g);
    if (blocks) {
        if (et_dw_band_bytes(g) + 3 > INT32_MAX) {
            return ET_ERR_BAD_SHAPE; /* a band beyond int32 bytes */
        }
        if (scratch == 0) {
            return ET_ERR_NULL_ARG;
        }
        et_dw_s8_blocks(p, input, weights, bias, output, scratch + ((4u - ((uintptr_t)scratch & 3u)) & 3u));
        if (out_c4 == g->out_c) {
            return ET_OK;
        }
    }
    for (b = 0; b < g->batch; ++b) {
        const int8_t *x = input + b * g->in_h * g->in_w * g->in_c;
        for (oh = 0; oh < g->out_h; ++oh) {
            et_dw_window win;
            win.h0 = oh * g->stride_h - g->pad_top;
            et_tap_range(win.h0, g->dilation_h, g->kernel_h, g->in_h, &win.ilo, &win.ihi);
            for (ow = 0; ow < g->out_w; ++ow) {
                int8_t *y = output + ((b * g->out_h + oh) * g->out_w + ow) * g->out_c;
                int32_t o;
                win.w0 = ow * g->stride_w - g->pad_left;
                et_tap_range(win.w0, g->dilation_w, g->kernel_w, g->in_w, &win.jlo, &win.jhi);
                win.border = win.ilo > 0 || win.ihi < g->kernel_h || win.jlo > 0 ||
                             win.jhi < g->kernel_w;
                o = blocks ? out_c4 : 0; /* et_dw_s8_blocks did those */
                for (; o < g->out_c; ++o) {
                    et_dw_s8_one(p, &c, &win, x, o, y);
                }
            }
        }
    }
    return ET_OK;
}

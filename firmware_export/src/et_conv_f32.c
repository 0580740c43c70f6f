/* SPDX-License-Identifier: Apache-2.0 */
/* Fast float32 convolutions (portable C, with a Cortex-M4F assembly loop).
 *
 * et_conv_f32 sums every output pixel's window (et_conv_f32_pixel) four output channels at a time
 * so that each input load is shared by four rows: on Cortex-M4F one VLDM of 8 inputs and, per row,
 * one VLDM of 8 weights and 8 VFMA (et_dense_f32's loop, without its per-call checks, which a
 * per-pixel call would pay every time). A 1x1 window with groups == 1 reads the input pixel in
 * place (the weights [out_c][in_c] are exactly a dense layer's; from 64 input channels at stride 1
 * the whole tensor is one et_dense_f32 call); every other window is first gathered into `scratch`
 * in the weights' (i, j, channel) order with zeros for padding (im2col of one pixel and one group;
 * interior pixels by short row copies without range checks).
 * et_depthwise_conv_f32 keeps four output channels' accumulators in registers over the pixel's
 * in-bounds taps only; it sums in the reference's order, so with -ffp-contract=off it equals
 * et_depthwise_conv_f32_ref exactly. The conv results differ from the references by summation
 * order only.
 */
#include <string.h>

#include "et_conv.h"
#include "et_dense.h"
#include "et_f32_dot.h"

static int et_conv_pointwise(const et_conv_f32_params *p)
{
    return p->geom.kernel_h == 1 && p->geom.kernel_w == 1 && p->groups == 1;
}

int32_t et_conv_f32_scratch_bytes(const et_conv_f32_params *params)
{
    if (et_conv_f32_check(params, 0) != ET_OK) {
        return -1;
    }
    if (et_conv_pointwise(params)) {
        return 0;
    }
    /* The window fits int32 elements (et_conv_geom_check bounds out_c * window); as bytes: */
    {
        const int64_t n = (int64_t)params->geom.kernel_h * params->geom.kernel_w *
                          (params->geom.in_c / params->groups) * (int64_t)sizeof(float);
        return n > INT32_MAX ? -1 : (int32_t)n;
    }
}

/* The first and one-past-last tap index j (or i) whose input position is inside [0, n) for an
 * output whose first tap reads position `start`. */
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

/* n floats; window runs are short (a first layer's are kernel_w values), where a library memcpy
 * call costs more than the copy. */
static inline void et_copy_f32(float *dst, const float *src, int32_t n)
{
    int32_t k;
    for (k = 0; k < n; ++k) {
        dst[k] = src[k];
    }
}

/* Gathers the window of output (oh, ow) over input channels [c0, c0 + cig) into col, laid out
 * [kernel_h][kernel_w][cig], zeros where the window is outside the input. */
static void et_im2col_f32(const et_conv_geom *g, const float *x, int32_t oh, int32_t ow, int32_t c0,
                          int32_t cig, float *col)
{
    const int32_t h0 = oh * g->stride_h - g->pad_top;
    const int32_t w0 = ow * g->stride_w - g->pad_left;
    int32_t jlo;
    int32_t jhi;
    int32_t i;
    int32_t j;
    et_tap_range(w0, g->dilation_w, g->kernel_w, g->in_w, &jlo, &jhi);
    for (i = 0; i < g->kernel_h; ++i) {
        const int32_t ih = h0 + i * g->dilation_h;
        float *row = col + i * g->kernel_w * cig;
        int32_t c;
        if (ih < 0 || ih >= g->in_h || jlo == jhi) {
            for (c = 0; c < g->kernel_w * cig; ++c) {
                row[c] = 0.0f;
            }
            continue;
        }
        for (c = 0; c < jlo * cig; ++c) {
            row[c] = 0.0f;
        }
        {
            const float *src = x + (ih * g->in_w + w0 + jlo * g->dilation_w) * g->in_c + c0;
            if (g->dilation_w == 1 && cig == g->in_c) {
                /* Consecutive taps of one row are consecutive input pixels: one copy. */
                et_copy_f32(row + jlo * cig, src, (jhi - jlo) * cig);
            } else {
                for (j = jlo; j < jhi; ++j) {
                    et_copy_f32(row + j * cig, src, cig);
                    src += g->dilation_w * g->in_c;
                }
            }
        }
        for (c = jhi * cig; c < g->kernel_w * cig; ++c) {
            row[c] = 0.0f;
        }
    }
}

#define ET_CONV_F32_ASM ET_F32_DOT_ASM

static inline float et_conv_clampf(float v, float lo, float hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* Output channels o0 .. n_out - 1 (fewer than 4) of et_conv_f32_pixel, one at a time. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static void et_conv_f32_rest(const float *x, const float *w, int32_t n_in, int32_t o0, int32_t n_out,
                             const float *bias, float lo, float hi, float *y)
{
    int32_t o;
    for (o = o0; o < n_out; ++o) {
        const float *wr = w + o * n_in;
        float a0 = bias != 0 ? bias[o] : 0.0f;
        float a1 = 0.0f;
        int32_t k = 0;
        for (; k + 2 <= n_in; k += 2) {
            a0 += x[k] * wr[k];
            a1 += x[k + 1] * wr[k + 1];
        }
        for (; k < n_in; ++k) {
            a0 += x[k] * wr[k];
        }
        y[o] = et_conv_clampf(a0 + a1, lo, hi);
    }
}

/* One output pixel: y[o] = clamp(bias[o] + window . w_o) for o < n_out, the window x (n_in
 * values) and rows w_o = w + o * n_in. Four rows at a time share each input load (the vector loop
 * over the first n_in & ~7 values on Cortex-M4F, C for the rest and elsewhere); the last
 * n_out % 4 rows one at a time. */
static void et_conv_f32_pixel(const float *x, const float *w, int32_t n_in, int32_t n_out, const float *bias,
                              float lo, float hi, float *y)
{
#if ET_CONV_F32_ASM
    const int32_t n8 = n_in & ~(int32_t)7;
#else
    const int32_t n8 = 0;
#endif
    const int32_t n_out4 = n_out & ~(int32_t)3;
    const float *wb = w;
    int32_t o;
    for (o = 0; o < n_out4; o += 4, wb += 4 * n_in) {
        float acc[4];
        int32_t k;
        if (bias != 0) {
            acc[0] = bias[o];
            acc[1] = bias[o + 1];
            acc[2] = bias[o + 2];
            acc[3] = bias[o + 3];
        } else {
            acc[0] = acc[1] = acc[2] = acc[3] = 0.0f;
        }
#if ET_CONV_F32_ASM
        if (n8 > 0) {
            et_f32_dot_4rows(x, wb, n_in, n8, acc);
        }
#endif
        {
            float a0 = acc[0];
            float a1 = acc[1];
            float a2 = acc[2];
            float a3 = acc[3];
            for (k = n8; k < n_in; ++k) {
                const float xv = x[k];
                const float *wk = wb + k;
                a0 += xv * wk[0];
                a1 += xv * wk[n_in];
                a2 += xv * wk[2 * n_in];
                a3 += xv * wk[3 * n_in];
            }
            y[o] = et_conv_clampf(a0, lo, hi);
            y[o + 1] = et_conv_clampf(a1, lo, hi);
            y[o + 2] = et_conv_clampf(a2, lo, hi);
            y[o + 3] = et_conv_clampf(a3, lo, hi);
        }
    }
    if (n_out4 < n_out) {
        et_conv_f32_rest(x, w, n_in, n_out4, n_out, bias, lo, hi, y);
    }
}

et_status et_conv_f32(const et_conv_f32_params *p, const float *input, const float *weights,
                      const float *bias, float *output, float *scratch)
{
    const et_conv_geom *g;
    et_dense_f32_params d;
    int32_t cig;
    int32_t cog;
    int32_t win;
    int32_t b;
    int32_t oh;
    int32_t ow;
    et_status st = et_conv_f32_check(p, 0);
    if (st != ET_OK) {
        return st;
    }
    if (input == 0 || weights == 0 || output == 0 || (scratch == 0 && !et_conv_pointwise(p))) {
        return ET_ERR_NULL_ARG;
    }
    g = &p->geom;
    cig = g->in_c / p->groups;
    cog = g->out_c / p->groups;
    win = g->kernel_h * g->kernel_w * cig;
    d.act_min = p->act_min;
    d.act_max = p->act_max;
    if (et_conv_pointwise(p)) {
        if (g->stride_h == 1 && g->stride_w == 1 && g->in_c >= 64) {
            /* out_h == in_h and out_w == in_w: the whole tensor is one dense batch of pixels (its
             * per-call overhead is paid once; wide rows amortize it in any case). */
            d.n_in = g->in_c;
            d.n_out = g->out_c;
            d.batch = g->batch * g->in_h * g->in_w;
            return et_dense_f32(&d, input, weights, bias, output);
        }
        for (b = 0; b < g->batch; ++b) {
            for (oh = 0; oh < g->out_h; ++oh) {
                for (ow = 0; ow < g->out_w; ++ow) {
                    const float *x = input + ((b * g->in_h + oh * g->stride_h) * g->in_w +
                                              ow * g->stride_w) * g->in_c;
                    float *y = output + ((b * g->out_h + oh) * g->out_w + ow) * g->out_c;
                    et_conv_f32_pixel(x, weights, g->in_c, g->out_c, bias, p->act_min, p->act_max, y);
                }
            }
        }
        return ET_OK;
    }
    /* Output columns and rows whose window has no padding: [ow_a, ow_b) x [oh_a, oh_b). */
    {
        const int32_t ow_a = (g->pad_left + g->stride_w - 1) / g->stride_w;
        const int32_t ow_b = (g->in_w - 1 - (g->kernel_w - 1) * g->dilation_w + g->pad_left) / g->stride_w + 1;
        const int32_t oh_a = (g->pad_top + g->stride_h - 1) / g->stride_h;
        const int32_t oh_b = (g->in_h - 1 - (g->kernel_h - 1) * g->dilation_h + g->pad_top) / g->stride_h + 1;
        const int32_t row_len = g->kernel_w * cig;
        const int32_t row_step = g->dilation_h * g->in_w * g->in_c;
        const int contiguous = g->dilation_w == 1 && p->groups == 1;
        for (b = 0; b < g->batch; ++b) {
            const float *x = input + b * g->in_h * g->in_w * g->in_c;
            for (oh = 0; oh < g->out_h; ++oh) {
                const int row_inside = oh >= oh_a && oh < oh_b && contiguous && ow_a < ow_b;
                if (row_inside) {
                    /* The row's interior run: no padding, contiguous window rows, one copy per
                     * window row; the pointers step by the stride. */
                    const float *src0 = x + ((oh * g->stride_h - g->pad_top) * g->in_w + ow_a * g->stride_w -
                                             g->pad_left) * g->in_c;
                    float *y = output + ((b * g->out_h + oh) * g->out_w + ow_a) * g->out_c;
                    for (ow = ow_a; ow < ow_b; ++ow, src0 += g->stride_w * g->in_c, y += g->out_c) {
                        const float *src = src0;
                        float *dst = scratch;
                        int32_t i;
                        for (i = 0; i < g->kernel_h; ++i, dst += row_len, src += row_step) {
                            et_copy_f32(dst, src, row_len);
                        }
                        et_conv_f32_pixel(scratch, weights, win, cog, bias, p->act_min, p->act_max, y);
                    }
                }
                for (ow = 0; ow < g->out_w; ++ow) {
                    float *y = output + ((b * g->out_h + oh) * g->out_w + ow) * g->out_c;
                    int32_t grp;
                    if (row_inside && ow == ow_a) {
                        ow = ow_b - 1; /* done above */
                        continue;
                    }
                    for (grp = 0; grp < p->groups; ++grp) {
                        et_im2col_f32(g, x, oh, ow, grp * cig, cig, scratch);
                        et_conv_f32_pixel(scratch, weights + grp * cog * win, win, cog,
                                          bias != 0 ? bias + grp * cog : 0, p->act_min, p->act_max, y + grp * cog);
                    }
                }
            }
        }
    }
    return ET_OK;
}

static inline float et_dw_clampf(float v, float lo, float hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* Output channels o .. o + n - 1 (n is 4 or 1) of the output pixel whose tap (0, 0) reads input
 * row h0, column w0, over its in-bounds taps [ilo, ihi) x [jlo, jhi): the accumulators stay in
 * registers, the four weights of a tap are contiguous (HWO). Each sum runs bias, then the taps
 * in (i, j) order, as in the reference. */
static inline void et_dw_f32_block(const et_conv_f32_params *p, const float *x, const float *weights,
                                   const float *bias, int32_t h0, int32_t w0, const int32_t r[4],
                                   int32_t o, int32_t n, float *y)
{
    const et_conv_geom *g = &p->geom;
    const int32_t dm = g->out_c / g->in_c;
    const int32_t c0 = o / dm;
    const int32_t c1 = n > 1 ? (o + 1) / dm : c0;
    const int32_t c2 = n > 2 ? (o + 2) / dm : c0;
    const int32_t c3 = n > 3 ? (o + 3) / dm : c0;
    float a0 = 0.0f;
    float a1 = 0.0f;
    float a2 = 0.0f;
    float a3 = 0.0f;
    int32_t i;
    int32_t j;
    if (bias != 0) {
        a0 = bias[o];
        a1 = n > 1 ? bias[o + 1] : 0.0f;
        a2 = n > 2 ? bias[o + 2] : 0.0f;
        a3 = n > 3 ? bias[o + 3] : 0.0f;
    }
    for (i = r[0]; i < r[1]; ++i) {
        const int32_t row = (h0 + i * g->dilation_h) * g->in_w;
        for (j = r[2]; j < r[3]; ++j) {
            /* The index first: w0 may be negative, a pointer below x may not exist. */
            const float *xt = x + (row + w0 + j * g->dilation_w) * g->in_c;
            const float *wt = weights + (i * g->kernel_w + j) * g->out_c + o;
            a0 += xt[c0] * wt[0];
            if (n == 4) {
                a1 += xt[c1] * wt[1];
                a2 += xt[c2] * wt[2];
                a3 += xt[c3] * wt[3];
            }
        }
    }
    y[o] = et_dw_clampf(a0, p->act_min, p->act_max);
    if (n == 4) {
        y[o + 1] = et_dw_clampf(a1, p->act_min, p->act_max);
        y[o + 2] = et_dw_clampf(a2, p->act_min, p->act_max);
        y[o + 3] = et_dw_clampf(a3, p->act_min, p->act_max);
    }
}

et_status et_depthwise_conv_f32(const et_conv_f32_params *p, const float *input,
                                const float *weights, const float *bias, float *output)
{
    const et_conv_geom *g;
    int32_t out_c4;
    int32_t b;
    int32_t oh;
    int32_t ow;
    et_status st = et_conv_f32_check(p, 1);
    if (st != ET_OK) {
        return st;
    }
    if (input == 0 || weights == 0 || output == 0) {
        return ET_ERR_NULL_ARG;
    }
    g = &p->geom;
    out_c4 = g->out_c & ~(int32_t)3;
    for (b = 0; b < g->batch; ++b) {
        const float *x = input + b * g->in_h * g->in_w * g->in_c;
        for (oh = 0; oh < g->out_h; ++oh) {
            const int32_t h0 = oh * g->stride_h - g->pad_top;
            int32_t r[4]; /* ilo, ihi, jlo, jhi */
            et_tap_range(h0, g->dilation_h, g->kernel_h, g->in_h, &r[0], &r[1]);
            for (ow = 0; ow < g->out_w; ++ow) {
                const int32_t w0 = ow * g->stride_w - g->pad_left;
                float *y = output + ((b * g->out_h + oh) * g->out_w + ow) * g->out_c;
                int32_t o;
                et_tap_range(w0, g->dilation_w, g->kernel_w, g->in_w, &r[2], &r[3]);
                for (o = 0; o < out_c4; o += 4) {
                    et_dw_f32_block(p, x, weights, bias, h0, w0, r, o, 4, y);
                }
                for (; o < g->out_c; ++o) {
                    et_dw_f32_block(p, x, weights, bias, h0, w0, r, o, 1, y);
                }
            }
        }
    }
    return ET_OK;
}

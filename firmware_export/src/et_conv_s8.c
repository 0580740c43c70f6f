/* Fast int8 convolutions (portable C), bit-exact with et_conv_s8_ref / et_depthwise_conv_s8_ref.
 *
 * et_conv_s8 runs every output pixel's window through et_dense_s8 (4 output channels per pass
 * sharing each input load; SMLAD on Cortex-M4): a 1x1 window with groups == 1 reads the input
 * pixel in place, every other window is first gathered into `scratch` in the weights' (i, j,
 * channel) order. Padded slots of the gathered window hold the input zero point -input_offset:
 * with the offset in the loop they add (zp + offset) * w = 0, and with eff_bias (offset folded
 * over the whole window) they add -offset * w, which cancels that tap's share of the folded term.
 * Both are exact int32 sums, hence equal to the reference.
 * et_depthwise_conv_s8 keeps one int32 accumulator per output channel in `scratch` and adds the
 * in-bounds taps over contiguous channels; with eff_bias the taps skip the offset and a border
 * pixel's padded taps subtract offset * w (interior pixels, the bulk, have none).
 */
#include <string.h>

#include "et_conv.h"
#include "et_dense.h"
#include "et_requant.h"

static int et_conv_s8_pointwise(const et_conv_s8_params *p)
{
    return p->geom.kernel_h == 1 && p->geom.kernel_w == 1 && p->groups == 1;
}

int32_t et_conv_s8_scratch_bytes(const et_conv_s8_params *params)
{
    if (et_conv_s8_check(params, 0) != ET_OK) {
        return -1;
    }
    /* The window is at most ET_CONV_S8_MAX_WINDOW bytes (checked). */
    return et_conv_s8_pointwise(params)
               ? 0
               : params->geom.kernel_h * params->geom.kernel_w * (params->geom.in_c / params->groups);
}

int32_t et_depthwise_conv_s8_scratch_bytes(const et_conv_s8_params *params)
{
    if (et_conv_s8_check(params, 1) != ET_OK || params->geom.out_c > INT32_MAX / 4) {
        return -1;
    }
    return params->geom.out_c * (int32_t)sizeof(int32_t);
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

/* Gathers the window of output (oh, ow) over input channels [c0, c0 + cig) into col, laid out
 * [kernel_h][kernel_w][cig], `pad` where the window is outside the input. */
static void et_im2col_s8(const et_conv_geom *g, const int8_t *x, int32_t oh, int32_t ow, int32_t c0,
                         int32_t cig, int8_t pad, int8_t *col)
{
    const int32_t h0 = oh * g->stride_h - g->pad_top;
    const int32_t w0 = ow * g->stride_w - g->pad_left;
    const int32_t row_len = g->kernel_w * cig;
    int32_t jlo;
    int32_t jhi;
    int32_t i;
    int32_t j;
    et_tap_range(w0, g->dilation_w, g->kernel_w, g->in_w, &jlo, &jhi);
    for (i = 0; i < g->kernel_h; ++i) {
        const int32_t ih = h0 + i * g->dilation_h;
        int8_t *row = col + i * row_len;
        if (ih < 0 || ih >= g->in_h || jlo == jhi) {
            memset(row, pad, (size_t)row_len);
            continue;
        }
        memset(row, pad, (size_t)(jlo * cig));
        {
            const int8_t *src = x + (ih * g->in_w + w0 + jlo * g->dilation_w) * g->in_c + c0;
            if (g->dilation_w == 1 && cig == g->in_c) {
                /* Consecutive taps of one row are consecutive input pixels: one copy. */
                memcpy(row + jlo * cig, src, (size_t)((jhi - jlo) * cig));
            } else {
                for (j = jlo; j < jhi; ++j) {
                    memcpy(row + j * cig, src, (size_t)cig);
                    src += g->dilation_w * g->in_c;
                }
            }
        }
        memset(row + jhi * cig, pad, (size_t)(row_len - jhi * cig));
    }
}

et_status et_conv_s8(const et_conv_s8_params *p, const int8_t *input, const int8_t *weights,
                     const int32_t *bias, int8_t *output, int8_t *scratch)
{
    const et_conv_geom *g;
    et_dense_s8_params d;
    int32_t cig;
    int32_t cog;
    int32_t win;
    int32_t ch_step;
    int8_t zp;
    int32_t b;
    int32_t oh;
    int32_t ow;
    et_status st = et_conv_s8_check(p, 0);
    if (st != ET_OK) {
        return st;
    }
    if (input == 0 || weights == 0 || output == 0 || (scratch == 0 && !et_conv_s8_pointwise(p))) {
        return ET_ERR_NULL_ARG;
    }
    g = &p->geom;
    cig = g->in_c / p->groups;
    cog = g->out_c / p->groups;
    win = g->kernel_h * g->kernel_w * cig;
    ch_step = p->per_channel ? 1 : 0;
    zp = (int8_t)(-p->input_offset); /* input_offset in [-127, 128]: the zero point fits int8 */
    d.input_offset = p->input_offset;
    d.output_offset = p->output_offset;
    d.act_min = p->act_min;
    d.act_max = p->act_max;
    d.per_channel = p->per_channel;
    d.multipliers = p->multipliers;
    d.shifts = p->shifts;
    d.eff_bias = p->eff_bias;
    if (et_conv_s8_pointwise(p)) {
        d.n_in = g->in_c;
        d.n_out = g->out_c;
        if (g->stride_h == 1 && g->stride_w == 1) {
            /* out_h == in_h and out_w == in_w: the whole tensor is one dense batch of pixels. */
            d.batch = g->batch * g->in_h * g->in_w;
            return et_dense_s8(&d, input, weights, bias, output);
        }
        d.batch = 1;
        for (b = 0; b < g->batch; ++b) {
            for (oh = 0; oh < g->out_h; ++oh) {
                for (ow = 0; ow < g->out_w; ++ow) {
                    const int8_t *x = input + ((b * g->in_h + oh * g->stride_h) * g->in_w +
                                               ow * g->stride_w) * g->in_c;
                    int8_t *y = output + ((b * g->out_h + oh) * g->out_w + ow) * g->out_c;
                    st = et_dense_s8(&d, x, weights, bias, y);
                    if (st != ET_OK) {
                        return st;
                    }
                }
            }
        }
        return ET_OK;
    }
    d.batch = 1;
    d.n_in = win;
    d.n_out = cog;
    for (b = 0; b < g->batch; ++b) {
        const int8_t *x = input + b * g->in_h * g->in_w * g->in_c;
        for (oh = 0; oh < g->out_h; ++oh) {
            for (ow = 0; ow < g->out_w; ++ow) {
                int8_t *y = output + ((b * g->out_h + oh) * g->out_w + ow) * g->out_c;
                int32_t grp;
                for (grp = 0; grp < p->groups; ++grp) {
                    const int32_t o0 = grp * cog;
                    et_im2col_s8(g, x, oh, ow, grp * cig, cig, zp, scratch);
                    d.multipliers = p->multipliers + o0 * ch_step;
                    d.shifts = p->shifts + o0 * ch_step;
                    d.eff_bias = p->eff_bias != 0 ? p->eff_bias + o0 : 0;
                    st = et_dense_s8(&d, scratch, weights + o0 * win, bias != 0 ? bias + o0 : 0,
                                     y + o0);
                    if (st != ET_OK) {
                        return st;
                    }
                }
            }
        }
    }
    return ET_OK;
}

et_status et_depthwise_conv_s8(const et_conv_s8_params *p, const int8_t *input,
                               const int8_t *weights, const int32_t *bias, int8_t *output,
                               int32_t *scratch)
{
    const et_conv_geom *g;
    int32_t mult;
    int32_t off;
    int32_t ch_step;
    int32_t b;
    int32_t oh;
    int32_t ow;
    et_status st = et_conv_s8_check(p, 1);
    if (st != ET_OK) {
        return st;
    }
    if (input == 0 || weights == 0 || output == 0 || scratch == 0) {
        return ET_ERR_NULL_ARG;
    }
    g = &p->geom;
    mult = g->out_c / g->in_c;
    off = p->eff_bias != 0 ? 0 : p->input_offset; /* the offset applied in the tap loop */
    ch_step = p->per_channel ? 1 : 0;
    for (b = 0; b < g->batch; ++b) {
        const int8_t *x = input + b * g->in_h * g->in_w * g->in_c;
        for (oh = 0; oh < g->out_h; ++oh) {
            const int32_t h0 = oh * g->stride_h - g->pad_top;
            int32_t ilo;
            int32_t ihi;
            et_tap_range(h0, g->dilation_h, g->kernel_h, g->in_h, &ilo, &ihi);
            for (ow = 0; ow < g->out_w; ++ow) {
                const int32_t w0 = ow * g->stride_w - g->pad_left;
                int8_t *y = output + ((b * g->out_h + oh) * g->out_w + ow) * g->out_c;
                int32_t *acc = scratch;
                int32_t jlo;
                int32_t jhi;
                int32_t i;
                int32_t j;
                int32_t o;
                et_tap_range(w0, g->dilation_w, g->kernel_w, g->in_w, &jlo, &jhi);
                if (p->eff_bias != 0) {
                    memcpy(acc, p->eff_bias, (size_t)g->out_c * sizeof(int32_t));
                } else if (bias != 0) {
                    memcpy(acc, bias, (size_t)g->out_c * sizeof(int32_t));
                } else {
                    memset(acc, 0, (size_t)g->out_c * sizeof(int32_t));
                }
                for (i = ilo; i < ihi; ++i) {
                    const int32_t row = (h0 + i * g->dilation_h) * g->in_w;
                    const int8_t *wrow = weights + i * g->kernel_w * g->out_c;
                    for (j = jlo; j < jhi; ++j) {
                        /* The index first: w0 may be negative, a pointer below x may not exist. */
                        const int8_t *xt = x + (row + w0 + j * g->dilation_w) * g->in_c;
                        const int8_t *wt = wrow + j * g->out_c;
                        int32_t c;
                        if (mult == 1) {
                            for (c = 0; c < g->in_c; ++c) {
                                acc[c] += ((int32_t)xt[c] + off) * (int32_t)wt[c];
                            }
                        } else {
                            for (c = 0; c < g->in_c; ++c) {
                                const int32_t xv = (int32_t)xt[c] + off;
                                int32_t m;
                                for (m = 0; m < mult; ++m) {
                                    acc[c * mult + m] += xv * (int32_t)wt[c * mult + m];
                                }
                            }
                        }
                    }
                }
                if (p->eff_bias != 0 &&
                    (ilo > 0 || ihi < g->kernel_h || jlo > 0 || jhi < g->kernel_w)) {
                    /* A border pixel: remove the folded offset of every padded tap. */
                    const int32_t in_off = p->input_offset;
                    for (i = 0; i < g->kernel_h; ++i) {
                        for (j = 0; j < g->kernel_w; ++j) {
                            const int8_t *wt = weights + (i * g->kernel_w + j) * g->out_c;
                            if (i >= ilo && i < ihi && j >= jlo && j < jhi) {
                                continue;
                            }
                            for (o = 0; o < g->out_c; ++o) {
                                acc[o] -= in_off * (int32_t)wt[o];
                            }
                        }
                    }
                }
                for (o = 0; o < g->out_c; ++o) {
                    const int32_t c = o * ch_step;
                    const int32_t v =
                        et_mbqm_q31(acc[o], p->multipliers[c], p->shifts[c]) + p->output_offset;
                    y[o] = (int8_t)et_clamp_i32(v, p->act_min, p->act_max);
                }
            }
        }
    }
    return ET_OK;
}

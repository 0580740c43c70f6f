/* Fast int8 convolutions (portable C), bit-exact with et_conv_s8_ref / et_depthwise_conv_s8_ref.
 *
 * et_conv_s8 runs every output pixel's window through et_dense_s8 (4 output channels per pass
 * sharing each input load; SMLAD on Cortex-M4): a 1x1 window with groups == 1 reads the input
 * pixel in place, every other window is first gathered into `scratch` in the weights' (i, j,
 * channel) order. Padded slots of the gathered window hold the input zero point -input_offset:
 * with the offset in the loop they add (zp + offset) * w = 0, and with eff_bias (offset folded
 * over the whole window) they add -offset * w, which cancels that tap's share of the folded term.
 * Both are exact int32 sums, hence equal to the reference.
 * et_depthwise_conv_s8 keeps the accumulators of four output channels in registers (depth
 * multiplier 1; one channel at a time otherwise) and runs them over the pixel's in-bounds taps,
 * no scratch; with eff_bias the taps skip the offset and a border pixel subtracts offset * w for
 * its padded taps (interior pixels, the bulk, have none).
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

/* Depth multiplier 1: output channels o .. o + 3 read input channels o .. o + 3. The four
 * accumulators stay in registers over the in-bounds taps; per tap, four contiguous input bytes
 * and four contiguous weight bytes (HWO). */
static void et_dw_s8_block4(const et_conv_s8_params *p, const et_dw_s8_ctx *c, const et_dw_window *win,
                            const int8_t *x, int32_t o, int8_t *y)
{
    const et_conv_geom *g = c->g;
    const int32_t off = c->off;
    const int32_t x_step = g->dilation_w * g->in_c;
    const int32_t n_j = win->jhi - win->jlo;
    int32_t a0 = 0;
    int32_t a1 = 0;
    int32_t a2 = 0;
    int32_t a3 = 0;
    int32_t i;
    if (c->init != 0) {
        a0 = c->init[o];
        a1 = c->init[o + 1];
        a2 = c->init[o + 2];
        a3 = c->init[o + 3];
    }
    /* Only rows with an in-bounds tap (n_j > 0): the first tap's index is then inside the input,
     * so no pointer outside it is formed. */
    for (i = win->ilo; n_j > 0 && i < win->ihi; ++i) {
        const int8_t *xt =
            x + ((win->h0 + i * g->dilation_h) * g->in_w + win->w0 + win->jlo * g->dilation_w) * g->in_c + o;
        const int8_t *wt = c->weights + (i * g->kernel_w + win->jlo) * g->out_c + o;
        int32_t j;
        if (off == 0) { /* eff_bias (or a zero offset): no add per product */
            for (j = 0; j < n_j; ++j) {
                a0 += (int32_t)xt[0] * (int32_t)wt[0];
                a1 += (int32_t)xt[1] * (int32_t)wt[1];
                a2 += (int32_t)xt[2] * (int32_t)wt[2];
                a3 += (int32_t)xt[3] * (int32_t)wt[3];
                xt += x_step;
                wt += g->out_c;
            }
        } else {
            for (j = 0; j < n_j; ++j) {
                a0 += ((int32_t)xt[0] + off) * (int32_t)wt[0];
                a1 += ((int32_t)xt[1] + off) * (int32_t)wt[1];
                a2 += ((int32_t)xt[2] + off) * (int32_t)wt[2];
                a3 += ((int32_t)xt[3] + off) * (int32_t)wt[3];
                xt += x_step;
                wt += g->out_c;
            }
        }
    }
    if (c->fold != 0 && win->border) {
        /* Padded rows entirely, then the padded columns of the in-bounds rows. */
        const int32_t fold = c->fold;
        for (i = 0; i < g->kernel_h; ++i) {
            const int8_t *wt = c->weights + i * g->kernel_w * g->out_c + o;
            const int32_t inside = i >= win->ilo && i < win->ihi && n_j > 0;
            int32_t j;
            for (j = 0; j < g->kernel_w; ++j, wt += g->out_c) {
                if (inside && j == win->jlo) {
                    j = win->jhi - 1; /* skip the in-bounds columns */
                    wt += (n_j - 1) * g->out_c;
                    continue;
                }
                a0 -= fold * (int32_t)wt[0];
                a1 -= fold * (int32_t)wt[1];
                a2 -= fold * (int32_t)wt[2];
                a3 -= fold * (int32_t)wt[3];
            }
        }
    }
    y[o] = et_dw_requant(p, c, a0, o);
    y[o + 1] = et_dw_requant(p, c, a1, o + 1);
    y[o + 2] = et_dw_requant(p, c, a2, o + 2);
    y[o + 3] = et_dw_requant(p, c, a3, o + 3);
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
    for (i = win->ilo; win->jlo < win->jhi && i < win->ihi; ++i) { /* as in et_dw_s8_block4 */
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

et_status et_depthwise_conv_s8(const et_conv_s8_params *p, const int8_t *input,
                               const int8_t *weights, const int32_t *bias, int8_t *output)
{
    const et_conv_geom *g;
    et_dw_s8_ctx c;
    int32_t out_c4;
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
                o = 0;
                if (c.depth_mult == 1) {
                    for (; o < out_c4; o += 4) {
                        et_dw_s8_block4(p, &c, &win, x, o, y);
                    }
                }
                for (; o < g->out_c; ++o) {
                    et_dw_s8_one(p, &c, &win, x, o, y);
                }
            }
        }
    }
    return ET_OK;
}

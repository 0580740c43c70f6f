/* Fast float32 convolutions (portable C).
 *
 * et_conv_f32 runs every output pixel's window through et_dense_f32, whose 4-row blocking shares
 * each input load between output channels (and which has the Cortex-M4F VFMA path): a 1x1 window
 * with groups == 1 reads the input pixel in place (the weights [out_c][in_c] are exactly a dense
 * layer's), every other window is first gathered into `scratch` in the weights' (i, j, channel)
 * order with zeros for padding (im2col of one pixel and one group).
 * et_depthwise_conv_f32 accumulates into each output pixel's channel row tap by tap, the channel
 * loop contiguous in input, weights and output, over the in-bounds taps only.
 * The float results differ from the references by summation order only.
 */
#include <string.h>

#include "et_conv.h"
#include "et_dense.h"

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
                memcpy(row + jlo * cig, src, (size_t)((jhi - jlo) * cig) * sizeof(float));
            } else {
                for (j = jlo; j < jhi; ++j) {
                    memcpy(row + j * cig, src, (size_t)cig * sizeof(float));
                    src += g->dilation_w * g->in_c;
                }
            }
        }
        for (c = jhi * cig; c < g->kernel_w * cig; ++c) {
            row[c] = 0.0f;
        }
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
        d.n_in = g->in_c;
        d.n_out = g->out_c;
        if (g->stride_h == 1 && g->stride_w == 1) {
            /* out_h == in_h and out_w == in_w: the whole tensor is one dense batch of pixels. */
            d.batch = g->batch * g->in_h * g->in_w;
            return et_dense_f32(&d, input, weights, bias, output);
        }
        d.batch = 1;
        for (b = 0; b < g->batch; ++b) {
            for (oh = 0; oh < g->out_h; ++oh) {
                for (ow = 0; ow < g->out_w; ++ow) {
                    const float *x = input + ((b * g->in_h + oh * g->stride_h) * g->in_w +
                                              ow * g->stride_w) * g->in_c;
                    float *y = output + ((b * g->out_h + oh) * g->out_w + ow) * g->out_c;
                    st = et_dense_f32(&d, x, weights, bias, y);
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
        const float *x = input + b * g->in_h * g->in_w * g->in_c;
        for (oh = 0; oh < g->out_h; ++oh) {
            for (ow = 0; ow < g->out_w; ++ow) {
                float *y = output + ((b * g->out_h + oh) * g->out_w + ow) * g->out_c;
                int32_t grp;
                for (grp = 0; grp < p->groups; ++grp) {
                    et_im2col_f32(g, x, oh, ow, grp * cig, cig, scratch);
                    st = et_dense_f32(&d, scratch, weights + grp * cog * win,
                                      bias != 0 ? bias + grp * cog : 0, y + grp * cog);
                    if (st != ET_OK) {
                        return st;
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

et_status et_depthwise_conv_f32(const et_conv_f32_params *p, const float *input,
                                const float *weights, const float *bias, float *output)
{
    const et_conv_geom *g;
    int32_t mult;
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
    mult = g->out_c / g->in_c;
    for (b = 0; b < g->batch; ++b) {
        const float *x = input + b * g->in_h * g->in_w * g->in_c;
        for (oh = 0; oh < g->out_h; ++oh) {
            const int32_t h0 = oh * g->stride_h - g->pad_top;
            int32_t ilo;
            int32_t ihi;
            et_tap_range(h0, g->dilation_h, g->kernel_h, g->in_h, &ilo, &ihi);
            for (ow = 0; ow < g->out_w; ++ow) {
                const int32_t w0 = ow * g->stride_w - g->pad_left;
                float *y = output + ((b * g->out_h + oh) * g->out_w + ow) * g->out_c;
                int32_t jlo;
                int32_t jhi;
                int32_t i;
                int32_t o;
                et_tap_range(w0, g->dilation_w, g->kernel_w, g->in_w, &jlo, &jhi);
                for (o = 0; o < g->out_c; ++o) {
                    y[o] = bias != 0 ? bias[o] : 0.0f;
                }
                for (i = ilo; i < ihi; ++i) {
                    const int32_t row = (h0 + i * g->dilation_h) * g->in_w;
                    const float *wrow = weights + i * g->kernel_w * g->out_c;
                    int32_t j;
                    for (j = jlo; j < jhi; ++j) {
                        /* The index first: w0 may be negative, a pointer below x may not exist. */
                        const float *xt = x + (row + w0 + j * g->dilation_w) * g->in_c;
                        const float *wt = wrow + j * g->out_c;
                        int32_t c;
                        if (mult == 1) {
                            for (c = 0; c < g->in_c; ++c) {
                                y[c] += xt[c] * wt[c];
                            }
                        } else {
                            for (c = 0; c < g->in_c; ++c) {
                                const float xv = xt[c];
                                int32_t m;
                                for (m = 0; m < mult; ++m) {
                                    y[c * mult + m] += xv * wt[c * mult + m];
                                }
                            }
                        }
                    }
                }
                for (o = 0; o < g->out_c; ++o) {
                    y[o] = et_dw_clampf(y[o], p->act_min, p->act_max);
                }
            }
        }
    }
    return ET_OK;
}

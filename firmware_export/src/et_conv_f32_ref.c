/* SPDX-License-Identifier: Apache-2.0 */
/* Reference float32 convolutions: direct loops, the numerical contract of et_conv_f32 and
 * et_depthwise_conv_f32. Each output is bias + the sum over its in-bounds taps in (i, j, input
 * channel) order, then clamped. */
#include "et_conv.h"

static inline float et_conv_clampf(float v, float lo, float hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

et_status et_conv_f32_ref(const et_conv_f32_params *p, const float *input, const float *weights,
                          const float *bias, float *output)
{
    const et_conv_geom *g;
    int32_t cig;
    int32_t cog;
    int32_t b;
    int32_t oh;
    int32_t ow;
    int32_t o;
    et_status st = et_conv_f32_check(p, 0);
    if (st != ET_OK) {
        return st;
    }
    if (input == 0 || weights == 0 || output == 0) {
        return ET_ERR_NULL_ARG;
    }
    g = &p->geom;
    cig = g->in_c / p->groups;
    cog = g->out_c / p->groups;
    for (b = 0; b < g->batch; ++b) {
        const float *x = input + b * g->in_h * g->in_w * g->in_c;
        for (oh = 0; oh < g->out_h; ++oh) {
            for (ow = 0; ow < g->out_w; ++ow) {
                float *y = output + ((b * g->out_h + oh) * g->out_w + ow) * g->out_c;
                for (o = 0; o < g->out_c; ++o) {
                    const int32_t c0 = (o / cog) * cig; /* first input channel of o's group */
                    const float *w = weights + o * g->kernel_h * g->kernel_w * cig;
                    float acc = bias != 0 ? bias[o] : 0.0f;
                    int32_t i;
                    int32_t j;
                    int32_t c;
                    for (i = 0; i < g->kernel_h; ++i) {
                        const int32_t ih = oh * g->stride_h - g->pad_top + i * g->dilation_h;
                        for (j = 0; j < g->kernel_w; ++j) {
                            const int32_t iw = ow * g->stride_w - g->pad_left + j * g->dilation_w;
                            const float *wt = w + (i * g->kernel_w + j) * cig;
                            const float *xt;
                            if (ih < 0 || ih >= g->in_h || iw < 0 || iw >= g->in_w) {
                                continue;
                            }
                            xt = x + (ih * g->in_w + iw) * g->in_c + c0;
                            for (c = 0; c < cig; ++c) {
                                acc += xt[c] * wt[c];
                            }
                        }
                    }
                    y[o] = et_conv_clampf(acc, p->act_min, p->act_max);
                }
            }
        }
    }
    return ET_OK;
}

et_status et_depthwise_conv_f32_ref(const et_conv_f32_params *p, const float *input,
                                    const float *weights, const float *bias, float *output)
{
    const et_conv_geom *g;
    int32_t mult;
    int32_t b;
    int32_t oh;
    int32_t ow;
    int32_t o;
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
            for (ow = 0; ow < g->out_w; ++ow) {
                float *y = output + ((b * g->out_h + oh) * g->out_w + ow) * g->out_c;
                for (o = 0; o < g->out_c; ++o) {
                    const int32_t c = o / mult;
                    float acc = bias != 0 ? bias[o] : 0.0f;
                    int32_t i;
                    int32_t j;
                    for (i = 0; i < g->kernel_h; ++i) {
                        const int32_t ih = oh * g->stride_h - g->pad_top + i * g->dilation_h;
                        for (j = 0; j < g->kernel_w; ++j) {
                            const int32_t iw = ow * g->stride_w - g->pad_left + j * g->dilation_w;
                            if (ih < 0 || ih >= g->in_h || iw < 0 || iw >= g->in_w) {
                                continue;
                            }
                            acc += x[(ih * g->in_w + iw) * g->in_c + c] *
                                   weights[(i * g->kernel_w + j) * g->out_c + o];
                        }
                    }
                    y[o] = et_conv_clampf(acc, p->act_min, p->act_max);
                }
            }
        }
    }
    return ET_OK;
}

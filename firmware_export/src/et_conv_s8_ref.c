/* SPDX-License-Identifier: Apache-2.0 */
/* Reference int8 convolutions (TFLite CONV_2D / DEPTHWISE_CONV_2D reference semantics): direct
 * loops over the in-bounds taps, the bit-exact contract of et_conv_s8 and et_depthwise_conv_s8
 * and of edgetrain/quantize/conv_reference.py. Padded taps are skipped, which equals reading the
 * input zero point there (x + input_offset = 0). eff_bias is ignored. */
#include "et_conv.h"
#include "et_requant.h"

static inline int8_t et_conv_requant(const et_conv_s8_params *p, int32_t acc, int32_t o)
{
    const int32_t c = p->per_channel ? o : 0;
    const int32_t v = et_mbqm(acc, p->multipliers[c], p->shifts[c]) + p->output_offset;
    return (int8_t)et_clamp_i32(v, p->act_min, p->act_max);
}

et_status et_conv_s8_ref(const et_conv_s8_params *p, const int8_t *input, const int8_t *weights,
                         const int32_t *bias, int8_t *output)
{
    const et_conv_geom *g;
    int32_t cig;
    int32_t cog;
    int32_t b;
    int32_t oh;
    int32_t ow;
    int32_t o;
    et_status st = et_conv_s8_check(p, 0);
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
        const int8_t *x = input + b * g->in_h * g->in_w * g->in_c;
        for (oh = 0; oh < g->out_h; ++oh) {
            for (ow = 0; ow < g->out_w; ++ow) {
                int8_t *y = output + ((b * g->out_h + oh) * g->out_w + ow) * g->out_c;
                for (o = 0; o < g->out_c; ++o) {
                    const int32_t c0 = (o / cog) * cig;
                    const int8_t *w = weights + o * g->kernel_h * g->kernel_w * cig;
                    int32_t acc = bias != 0 ? bias[o] : 0;
                    int32_t i;
                    int32_t j;
                    int32_t c;
                    for (i = 0; i < g->kernel_h; ++i) {
                        const int32_t ih = oh * g->stride_h - g->pad_top + i * g->dilation_h;
                        for (j = 0; j < g->kernel_w; ++j) {
                            const int32_t iw = ow * g->stride_w - g->pad_left + j * g->dilation_w;
                            const int8_t *wt = w + (i * g->kernel_w + j) * cig;
                            const int8_t *xt;
                            if (ih < 0 || ih >= g->in_h || iw < 0 || iw >= g->in_w) {
                                continue;
                            }
                            xt = x + (ih * g->in_w + iw) * g->in_c + c0;
                            for (c = 0; c < cig; ++c) {
                                acc += ((int32_t)xt[c] + p->input_offset) * (int32_t)wt[c];
                            }
                        }
                    }
                    y[o] = et_conv_requant(p, acc, o);
                }
            }
        }
    }
    return ET_OK;
}

et_status et_depthwise_conv_s8_ref(const et_conv_s8_params *p, const int8_t *input,
                                   const int8_t *weights, const int32_t *bias, int8_t *output)
{
    const et_conv_geom *g;
    int32_t mult;
    int32_t b;
    int32_t oh;
    int32_t ow;
    int32_t o;
    et_status st = et_conv_s8_check(p, 1);
    if (st != ET_OK) {
        return st;
    }
    if (input == 0 || weights == 0 || output == 0) {
        return ET_ERR_NULL_ARG;
    }
    g = &p->geom;
    mult = g->out_c / g->in_c;
    for (b = 0; b < g->batch; ++b) {
        const int8_t *x = input + b * g->in_h * g->in_w * g->in_c;
        for (oh = 0; oh < g->out_h; ++oh) {
            for (ow = 0; ow < g->out_w; ++ow) {
                int8_t *y = output + ((b * g->out_h + oh) * g->out_w + ow) * g->out_c;
                for (o = 0; o < g->out_c; ++o) {
                    const int32_t c = o / mult;
                    int32_t acc = bias != 0 ? bias[o] : 0;
                    int32_t i;
                    int32_t j;
                    for (i = 0; i < g->kernel_h; ++i) {
                        const int32_t ih = oh * g->stride_h - g->pad_top + i * g->dilation_h;
                        for (j = 0; j < g->kernel_w; ++j) {
                            const int32_t iw = ow * g->stride_w - g->pad_left + j * g->dilation_w;
                            if (ih < 0 || ih >= g->in_h || iw < 0 || iw >= g->in_w) {
                                continue;
                            }
                            acc += ((int32_t)x[(ih * g->in_w + iw) * g->in_c + c] + p->input_offset) *
                                   (int32_t)weights[(i * g->kernel_w + j) * g->out_c + o];
                        }
                    }
                    y[o] = et_conv_requant(p, acc, o);
                }
            }
        }
    }
    return ET_OK;
}

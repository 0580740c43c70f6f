/* SPDX-License-Identifier: Apache-2.0 */
/* Reference conv backward + update kernels: direct loops in the order of the formulas of
 * et_conv_train.h (the contract the fast kernels in et_conv_f32_backward.c are tested against).
 * dx first, from the weights as they are before the update; then each weight's gradient by one
 * bounds-checked pass over every output, applied at once; then the biases. */
#include "et_conv_train_impl.h"

/* The input position tap (i, j) of output (oh, ow) reads, or -1 when it is padding. */
static int32_t et_ref_tap(const et_conv_geom *g, int32_t oh, int32_t ow, int32_t i, int32_t j)
{
    const int32_t ih = oh * g->stride_h - g->pad_top + i * g->dilation_h;
    const int32_t iw = ow * g->stride_w - g->pad_left + j * g->dilation_w;
    if (ih < 0 || ih >= g->in_h || iw < 0 || iw >= g->in_w) {
        return -1;
    }
    return ih * g->in_w + iw;
}

/* depthwise != 0: HWO weights, output o reads channel o / multiplier; else OHWI, grouped. */
static et_status et_conv_bwd_ref(const et_conv_f32_params *p, int32_t depthwise,
                                 const et_optimizer *opt, const float *input, const float *dy,
                                 et_param_f32 *W, et_param_f32 *B, float *dx)
{
    const et_conv_geom *g = &p->geom;
    et_upd_consts c;
    int32_t cig;
    int32_t cog;
    int32_t k_win;
    int32_t b;
    int32_t oh;
    int32_t ow;
    int32_t o;
    int32_t i;
    int32_t j;
    int32_t ch;
    const et_status st = et_conv_bwd_check(p, depthwise, opt, input, dy, W, B);
    if (st != ET_OK) {
        return st;
    }
    c = et_upd_consts_of(opt);
    cig = depthwise ? 1 : g->in_c / p->groups;
    cog = g->out_c / p->groups;
    k_win = g->kernel_h * g->kernel_w * cig;
    /* Weight index of (o, i, j, ch) and the input channel it reads. */
#define ET_W_INDEX(o, i, j, ch)                                                                  \
    (depthwise ? ((i) * g->kernel_w + (j)) * g->out_c + (o)                                      \
               : (o) * k_win + ((i) * g->kernel_w + (j)) * cig + (ch))
#define ET_X_CHANNEL(o, ch) (depthwise ? (o) / cog : ((o) / cog) * cig + (ch))
    if (dx != 0) {
        const int32_t n = g->batch * g->in_h * g->in_w * g->in_c;
        for (b = 0; b < n; ++b) {
            dx[b] = 0.0f;
        }
        for (b = 0; b < g->batch; ++b) {
            for (oh = 0; oh < g->out_h; ++oh) {
                for (ow = 0; ow < g->out_w; ++ow) {
                    const float *gy = dy + ((b * g->out_h + oh) * g->out_w + ow) * g->out_c;
                    for (o = 0; o < g->out_c; ++o) {
                        for (i = 0; i < g->kernel_h; ++i) {
                            for (j = 0; j < g->kernel_w; ++j) {
                                const int32_t pos = et_ref_tap(g, oh, ow, i, j);
                                if (pos < 0) {
                                    continue;
                                }
                                for (ch = 0; ch < cig; ++ch) {
                                    dx[(b * g->in_h * g->in_w + pos) * g->in_c + ET_X_CHANNEL(o, ch)] +=
                                        gy[o] * W->value[ET_W_INDEX(o, i, j, ch)];
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    if (W->trainable) {
        for (o = 0; o < g->out_c; ++o) {
            for (i = 0; i < g->kernel_h; ++i) {
                for (j = 0; j < g->kernel_w; ++j) {
                    for (ch = 0; ch < cig; ++ch) {
                        float acc = 0.0f;
                        for (b = 0; b < g->batch; ++b) {
                            for (oh = 0; oh < g->out_h; ++oh) {
                                for (ow = 0; ow < g->out_w; ++ow) {
                                    const int32_t pos = et_ref_tap(g, oh, ow, i, j);
                                    if (pos < 0) {
                                        continue;
                                    }
                                    acc += dy[((b * g->out_h + oh) * g->out_w + ow) * g->out_c + o] *
                                           input[(b * g->in_h * g->in_w + pos) * g->in_c +
                                                 ET_X_CHANNEL(o, ch)];
                                }
                            }
                        }
                        et_upd_elem(&c, W, ET_W_INDEX(o, i, j, ch), acc);
                    }
                }
            }
        }
        et_param_apply_mask(W, g->out_c * k_win);
    }
#undef ET_W_INDEX
#undef ET_X_CHANNEL
    if (B != 0 && B->trainable) {
        et_conv_bias_update(g, &c, dy, B);
    }
    return ET_OK;
}

et_status et_conv_f32_backward_update_ref(const et_conv_f32_params *params,
                                          const et_optimizer *opt, const float *input,
                                          const float *dy, et_param_f32 *weights,
                                          et_param_f32 *bias, float *dx)
{
    return et_conv_bwd_ref(params, 0, opt, input, dy, weights, bias, dx);
}

et_status et_depthwise_conv_f32_backward_update_ref(const et_conv_f32_params *params,
                                                    const et_optimizer *opt, const float *input,
                                                    const float *dy, et_param_f32 *weights,
                                                    et_param_f32 *bias, float *dx)
{
    return et_conv_bwd_ref(params, 1, opt, input, dy, weights, bias, dx);
}

/* SPDX-License-Identifier: Apache-2.0 */
/* float32 pooling (et_pool.h): max and average over windows, global average. Each output
 * pixel's channel row is the accumulator, so the channel loop is contiguous in input and output;
 * the in-bounds taps are found once per output pixel. */
#include "et_pool.h"
#include "et_pool_check.h"

static inline float et_pool_clampf(float v, float lo, float hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* avg != 0: average (sum, then / count), else max. */
static et_status et_pool_f32(const et_pool_f32_params *p, const float *input, float *output, int avg)
{
    const et_conv_geom *g = &p->geom;
    const int32_t ch = g->in_c;
    int32_t b;
    int32_t oh;
    int32_t ow;
    const et_status st = et_pool_f32_check(p, input, output);
    if (st != ET_OK) {
        return st;
    }
    for (b = 0; b < g->batch; ++b) {
        const float *x = input + b * g->in_h * g->in_w * ch;
        for (oh = 0; oh < g->out_h; ++oh) {
            int32_t h_lo;
            int32_t h_hi;
            et_pool_range(oh * g->stride_h - g->pad_top, g->kernel_h, g->in_h, &h_lo, &h_hi);
            for (ow = 0; ow < g->out_w; ++ow) {
                float *y = output + ((b * g->out_h + oh) * g->out_w + ow) * ch;
                int32_t w_lo;
                int32_t w_hi;
                int32_t ih;
                int32_t iw;
                int32_t c;
                int first = 1;
                et_pool_range(ow * g->stride_w - g->pad_left, g->kernel_w, g->in_w, &w_lo, &w_hi);
                for (ih = h_lo; ih < h_hi; ++ih) {
                    for (iw = w_lo; iw < w_hi; ++iw) {
                        const float *xt = x + (ih * g->in_w + iw) * ch;
                        if (first) {
                            for (c = 0; c < ch; ++c) {
                                y[c] = xt[c];
                            }
                            first = 0;
                        } else if (avg) {
                            for (c = 0; c < ch; ++c) {
                                y[c] += xt[c];
                            }
                        } else {
                            for (c = 0; c < ch; ++c) {
                                /* Finite inputs give numpy's max; a NaN is kept only from
                                 * the window's first position (numpy keeps every NaN): NaN
                                 * inputs are for et_check_finite_f32 to catch. */
                                y[c] = xt[c] > y[c] ? xt[c] : y[c];
                            }
                        }
                    }
                }
                if (avg) {
                    const float count = (float)((h_hi - h_lo) * (w_hi - w_lo));
                    for (c = 0; c < ch; ++c) {
                        y[c] = et_pool_clampf(y[c] / count, p->act_min, p->act_max);
                    }
                } else {
                    for (c = 0; c < ch; ++c) {
                        y[c] = et_pool_clampf(y[c], p->act_min, p->act_max);
                    }
                }
            }
        }
    }
    return ET_OK;
}

et_status et_max_pool_f32(const et_pool_f32_params *params, const float *input, float *output)
{
    return et_pool_f32(params, input, output, 0);
}

et_status et_avg_pool_f32(const et_pool_f32_params *params, const float *input, float *output)
{
    return et_pool_f32(params, input, output, 1);
}

et_status et_global_avg_pool_f32(const et_global_pool_f32_params *p, const float *input,
                                 float *output)
{
    int32_t b;
    int32_t n;
    int32_t c;
    int32_t count;
    const et_status st = et_global_pool_f32_check(p, input, output);
    if (st != ET_OK) {
        return st;
    }
    count = p->in_h * p->in_w;
    for (b = 0; b < p->batch; ++b) {
        const float *x = input + b * count * p->channels;
        float *y = output + b * p->channels;
        for (c = 0; c < p->channels; ++c) {
            y[c] = x[c];
        }
        for (n = 1; n < count; ++n) {
            const float *xt = x + n * p->channels;
            for (c = 0; c < p->channels; ++c) {
                y[c] += xt[c];
            }
        }
        for (c = 0; c < p->channels; ++c) {
            y[c] = et_pool_clampf(y[c] / (float)count, p->act_min, p->act_max);
        }
    }
    return ET_OK;
}

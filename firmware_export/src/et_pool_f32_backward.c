/* SPDX-License-Identifier: Apache-2.0 */
/* float32 pool backward kernels (et_conv_train.h): dx is zeroed, then each window's gradient is
 * added onto the inputs it read. Windows are clipped to the input as in the forward kernels
 * (padding never takes part). */
#include "et_conv_train.h"
#include "et_pool_check.h"

static void et_zero(float *x, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        x[i] = 0.0f;
    }
}

/* avg != 0: average pool (x unused), else max pool. */
static et_status et_pool_bwd(const et_pool_f32_params *p, const float *x, const float *dy,
                             float *dx, int avg)
{
    const et_conv_geom *g = &p->geom;
    const int32_t ch = g->in_c;
    int32_t b;
    int32_t oh;
    int32_t ow;
    et_zero(dx, g->batch * g->in_h * g->in_w * ch);
    for (b = 0; b < g->batch; ++b) {
        const int32_t base = b * g->in_h * g->in_w;
        for (oh = 0; oh < g->out_h; ++oh) {
            int32_t h_lo;
            int32_t h_hi;
            et_pool_range(oh * g->stride_h - g->pad_top, g->kernel_h, g->in_h, &h_lo, &h_hi);
            for (ow = 0; ow < g->out_w; ++ow) {
                const float *gy = dy + ((b * g->out_h + oh) * g->out_w + ow) * ch;
                int32_t w_lo;
                int32_t w_hi;
                int32_t ih;
                int32_t iw;
                int32_t c;
                et_pool_range(ow * g->stride_w - g->pad_left, g->kernel_w, g->in_w, &w_lo, &w_hi);
                if (avg) {
                    const float count = (float)((h_hi - h_lo) * (w_hi - w_lo));
                    for (ih = h_lo; ih < h_hi; ++ih) {
                        for (iw = w_lo; iw < w_hi; ++iw) {
                            float *d = dx + (base + ih * g->in_w + iw) * ch;
                            for (c = 0; c < ch; ++c) {
                                d[c] += gy[c] / count;
                            }
                        }
                    }
                    continue;
                }
                for (c = 0; c < ch; ++c) {
                    /* The first largest value in row-major window order (numpy's argmax); a
                     * later equal value does not replace it. */
                    int32_t best = (base + h_lo * g->in_w + w_lo) * ch + c;
                    for (ih = h_lo; ih < h_hi; ++ih) {
                        for (iw = w_lo; iw < w_hi; ++iw) {
                            const int32_t at = (base + ih * g->in_w + iw) * ch + c;
                            if (x[at] > x[best]) {
                                best = at;
                            }
                        }
                    }
                    dx[best] += gy[c];
                }
            }
        }
    }
    return ET_OK;
}

et_status et_max_pool_f32_backward(const et_pool_f32_params *params, const float *input,
                                   const float *dy, float *dx)
{
    et_status st = et_pool_f32_check(params, dy, dx);
    if (st == ET_OK && input == 0) {
        st = ET_ERR_NULL_ARG;
    }
    return st != ET_OK ? st : et_pool_bwd(params, input, dy, dx, 0);
}

et_status et_avg_pool_f32_backward(const et_pool_f32_params *params, const float *dy, float *dx)
{
    const et_status st = et_pool_f32_check(params, dy, dx);
    return st != ET_OK ? st : et_pool_bwd(params, 0, dy, dx, 1);
}

et_status et_global_avg_pool_f32_backward(const et_global_pool_f32_params *p, const float *dy,
                                          float *dx)
{
    int32_t b;
    int32_t n;
    int32_t c;
    int32_t count;
    const et_status st = et_global_pool_f32_check(p, dy, dx);
    if (st != ET_OK) {
        return st;
    }
    count = p->in_h * p->in_w;
    for (b = 0; b < p->batch; ++b) {
        const float *gy = dy + b * p->channels;
        float *d = dx + b * count * p->channels;
        for (n = 0; n < count; ++n) {
            for (c = 0; c < p->channels; ++c) {
                d[n * p->channels + c] = gy[c] / (float)count;
            }
        }
    }
    return ET_OK;
}

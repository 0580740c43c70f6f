/* int8 pooling (et_pool.h): TFLite MAX_POOL_2D / AVERAGE_POOL_2D on raw codes (input and output
 * share quantization) and TFLite MEAN over (H, W) for the global average. Integer math only. */
#include "et_pool.h"
#include "et_requant.h"

static et_status et_pool_s8_check(const et_pool_s8_params *p, const int8_t *in, const int8_t *out)
{
    et_status st;
    if (p == 0 || in == 0 || out == 0) {
        return ET_ERR_NULL_ARG;
    }
    st = et_conv_geom_check(&p->geom);
    if (st != ET_OK) {
        return st;
    }
    if (p->geom.out_c != p->geom.in_c) {
        return ET_ERR_BAD_SHAPE;
    }
    if (p->geom.dilation_h != 1 || p->geom.dilation_w != 1 || p->act_min < -128 ||
        p->act_max > 127 || p->act_min > p->act_max) {
        return ET_ERR_BAD_PARAM;
    }
    return ET_OK;
}

static void et_pool_range(int32_t start, int32_t k, int32_t n, int32_t *lo, int32_t *hi)
{
    *lo = start < 0 ? 0 : start;
    *hi = start + k > n ? n : start + k;
}

/* round(sum / count), ties away from zero, as TFLite: C division truncates toward zero. In int64
 * so that a requantized sum near INT32_MAX cannot overflow; the quotient fits int32. */
static inline int32_t et_round_div(int32_t sum, int32_t count)
{
    const int64_t s = sum;
    return (int32_t)(s > 0 ? (s + count / 2) / count : (s - count / 2) / count);
}

et_status et_max_pool_s8(const et_pool_s8_params *p, const int8_t *input, int8_t *output)
{
    const et_conv_geom *g;
    int32_t b;
    int32_t oh;
    int32_t ow;
    const et_status st = et_pool_s8_check(p, input, output);
    if (st != ET_OK) {
        return st;
    }
    g = &p->geom;
    for (b = 0; b < g->batch; ++b) {
        const int8_t *x = input + b * g->in_h * g->in_w * g->in_c;
        for (oh = 0; oh < g->out_h; ++oh) {
            int32_t h_lo;
            int32_t h_hi;
            et_pool_range(oh * g->stride_h - g->pad_top, g->kernel_h, g->in_h, &h_lo, &h_hi);
            for (ow = 0; ow < g->out_w; ++ow) {
                int8_t *y = output + ((b * g->out_h + oh) * g->out_w + ow) * g->in_c;
                int32_t w_lo;
                int32_t w_hi;
                int32_t ih;
                int32_t iw;
                int32_t c;
                et_pool_range(ow * g->stride_w - g->pad_left, g->kernel_w, g->in_w, &w_lo, &w_hi);
                /* The output row is the running maximum: it starts at the clamp's lower end,
                 * which the clamp would lift any smaller maximum to anyway. */
                for (c = 0; c < g->in_c; ++c) {
                    y[c] = (int8_t)p->act_min;
                }
                for (ih = h_lo; ih < h_hi; ++ih) {
                    for (iw = w_lo; iw < w_hi; ++iw) {
                        const int8_t *xt = x + (ih * g->in_w + iw) * g->in_c;
                        for (c = 0; c < g->in_c; ++c) {
                            y[c] = xt[c] > y[c] ? xt[c] : y[c];
                        }
                    }
                }
                for (c = 0; c < g->in_c; ++c) {
                    y[c] = y[c] > p->act_max ? (int8_t)p->act_max : y[c];
                }
            }
        }
    }
    return ET_OK;
}

et_status et_avg_pool_s8(const et_pool_s8_params *p, const int8_t *input, int8_t *output)
{
    const et_conv_geom *g;
    int32_t b;
    int32_t oh;
    int32_t ow;
    const et_status st = et_pool_s8_check(p, input, output);
    if (st != ET_OK) {
        return st;
    }
    g = &p->geom;
    for (b = 0; b < g->batch; ++b) {
        const int8_t *x = input + b * g->in_h * g->in_w * g->in_c;
        for (oh = 0; oh < g->out_h; ++oh) {
            int32_t h_lo;
            int32_t h_hi;
            et_pool_range(oh * g->stride_h - g->pad_top, g->kernel_h, g->in_h, &h_lo, &h_hi);
            for (ow = 0; ow < g->out_w; ++ow) {
                int8_t *y = output + ((b * g->out_h + oh) * g->out_w + ow) * g->in_c;
                int32_t w_lo;
                int32_t w_hi;
                int32_t count;
                int32_t c;
                et_pool_range(ow * g->stride_w - g->pad_left, g->kernel_w, g->in_w, &w_lo, &w_hi);
                count = (h_hi - h_lo) * (w_hi - w_lo);
                /* One channel at a time keeps the sum in a register (no scratch); the window
                 * holds at most out_c * kernel elements (checked to fit int32), so the sum fits. */
                for (c = 0; c < g->in_c; ++c) {
                    int32_t sum = 0;
                    int32_t ih;
                    int32_t iw;
                    for (ih = h_lo; ih < h_hi; ++ih) {
                        const int8_t *xr = x + ih * g->in_w * g->in_c + c;
                        for (iw = w_lo; iw < w_hi; ++iw) {
                            sum += xr[iw * g->in_c];
                        }
                    }
                    y[c] = (int8_t)et_clamp_i32(et_round_div(sum, count), p->act_min, p->act_max);
                }
            }
        }
    }
    return ET_OK;
}

et_status et_global_avg_pool_s8(const et_global_pool_s8_params *p, const int8_t *input,
                                int8_t *output)
{
    int32_t b;
    int32_t c;
    int32_t count;
    if (p == 0 || input == 0 || output == 0) {
        return ET_ERR_NULL_ARG;
    }
    if (p->batch < 1 || p->in_h < 1 || p->in_w < 1 || p->channels < 1 ||
        (int64_t)p->in_h * p->in_w > ET_POOL_S8_MAX_COUNT ||
        (int64_t)p->in_h * p->in_w * p->channels > INT32_MAX / p->batch) {
        return ET_ERR_BAD_SHAPE;
    }
    if (p->act_min < -128 || p->act_max > 127 || p->act_min > p->act_max ||
        p->input_offset < -127 || p->input_offset > 128 || p->output_offset < -128 ||
        p->output_offset > 127 || p->multiplier < 0 || p->shift < -31 || p->shift > 30) {
        return ET_ERR_BAD_PARAM;
    }
    count = p->in_h * p->in_w;
    for (b = 0; b < p->batch; ++b) {
        const int8_t *x = input + b * count * p->channels;
        int8_t *y = output + b * p->channels;
        for (c = 0; c < p->channels; ++c) {
            int32_t acc = 0;
            int32_t n;
            for (n = 0; n < count; ++n) {
                acc += (int32_t)x[n * p->channels + c] + p->input_offset;
            }
            acc = et_round_div(et_mbqm(acc, p->multiplier, p->shift), count) + p->output_offset;
            y[c] = (int8_t)et_clamp_i32(acc, p->act_min, p->act_max);
        }
    }
    return ET_OK;
}

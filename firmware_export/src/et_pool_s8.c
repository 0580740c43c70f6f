/* SPDX-License-Identifier: Apache-2.0 */
/* int8 pooling (et_pool.h): TFLite MAX_POOL_2D / AVERAGE_POOL_2D on raw codes (input and output
 * share quantization) and TFLite MEAN over (H, W) for the global average. Integer math only.
 *
 * The global average sums four channels at a time (one word per position). With the DSP
 * extension the raw codes go into two int16 lanes per word with SXTAB16 (channels c, c + 2 and
 * c + 1, c + 3): exact for up to 256 positions (|sum| <= 256 * 128 = 32768, and the lowest,
 * -32768, still fits), after which the lanes are added into int32 totals and restarted. The
 * offset is added once, count * input_offset, which is the same integer sum. */
#include <string.h>

#include "et_pool.h"
#include "et_requant.h"

#if defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>
#endif

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
 * only when sum +- count / 2 could overflow int32 (a requantized sum near the int32 ends); the
 * quotient fits int32 either way. */
static inline int32_t et_round_div(int32_t sum, int32_t count)
{
    const int32_t half = count / 2;
    if (sum > INT32_MAX - half || sum < INT32_MIN + half) {
        const int64_t s = sum;
        return (int32_t)(s > 0 ? (s + half) / count : (s - half) / count);
    }
    return sum > 0 ? (sum + half) / count : (sum - half) / count;
}

/* sums[0..3] = sum over n positions of the raw codes of channels c .. c + 3, x pointing at
 * channel c of the first position, positions `stride` bytes apart. */
static void et_gap_sum4(const int8_t *x, int32_t n, int32_t stride, int32_t *sums)
{
#if defined(__ARM_FEATURE_DSP)
    int32_t s0 = 0;
    int32_t s1 = 0;
    int32_t s2 = 0;
    int32_t s3 = 0;
    while (n > 0) {
        const int32_t m = n < 256 ? n : 256; /* the int16 lanes hold 256 positions exactly */
        int16x2_t e = 0;                   /* channels c, c + 2 */
        int16x2_t o = 0;                   /* channels c + 1, c + 3 */
        int32_t k = 0;
        for (; k + 2 <= m; k += 2, x += 2 * stride) {
            int8x4_t v0;
            int8x4_t v1;
            memcpy(&v0, x, 4); /* LDR: Cortex-M4/M7 allow unaligned words */
            memcpy(&v1, x + stride, 4);
            e = __sxtab16(e, v0);
            __asm__("sxtab16 %0, %0, %1, ror #8" : "+r"(o) : "r"(v0));
            e = __sxtab16(e, v1);
            __asm__("sxtab16 %0, %0, %1, ror #8" : "+r"(o) : "r"(v1));
        }
        if (k < m) {
            int8x4_t v0;
            memcpy(&v0, x, 4);
            e = __sxtab16(e, v0);
            __asm__("sxtab16 %0, %0, %1, ror #8" : "+r"(o) : "r"(v0));
            x += stride;
        }
        s0 += (int16_t)(uint16_t)((uint32_t)e & 0xFFFFu);
        s2 += (int16_t)(uint16_t)((uint32_t)e >> 16);
        s1 += (int16_t)(uint16_t)((uint32_t)o & 0xFFFFu);
        s3 += (int16_t)(uint16_t)((uint32_t)o >> 16);
        n -= m;
    }
    sums[0] = s0;
    sums[1] = s1;
    sums[2] = s2;
    sums[3] = s3;
#else
    int32_t s0 = 0;
    int32_t s1 = 0;
    int32_t s2 = 0;
    int32_t s3 = 0;
    int32_t k;
    for (k = 0; k < n; ++k, x += stride) {
        s0 += x[0];
        s1 += x[1];
        s2 += x[2];
        s3 += x[3];
    }
    sums[0] = s0;
    sums[1] = s1;
    sums[2] = s2;
    sums[3] = s3;
#endif
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

/* TFLite's QuantizedMeanOrSum folds 1 / count into the requantization (et_pool.h): s =
 * floor(log2(count)), at most 31 + shift (so shift - s >= -31); count <= 2^23 keeps s <= 23 and
 * multiplier << s within int64. */
static void et_mean_multiplier(int32_t multiplier, int32_t shift, int32_t count, int32_t *mult,
                               int32_t *out_shift)
{
    int32_t s = 0;
    while ((count >> (s + 1)) > 0) {
        ++s;
    }
    if (s > 31 + shift) {
        s = 31 + shift;
    }
    *mult = (int32_t)(((int64_t)multiplier << s) / count);
    *out_shift = shift - s;
}

et_status et_global_avg_pool_s8(const et_global_pool_s8_params *p, const int8_t *input,
                                int8_t *output)
{
    int32_t b;
    int32_t c;
    int32_t count;
    int32_t mult;
    int32_t shift;
    int same_quant;
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
    same_quant = p->output_offset == -p->input_offset && p->multiplier == (1 << 30) && p->shift == 1;
    et_mean_multiplier(p->multiplier, p->shift, count, &mult, &shift);
    for (b = 0; b < p->batch; ++b) {
        const int8_t *x = input + b * count * p->channels;
        int8_t *y = output + b * p->channels;
        /* The offset over every position: count * input_offset, |.| <= 2^23 * 128 fits int32. */
        const int32_t off_sum = count * p->input_offset;
        for (c = 0; c < p->channels; c += 4) {
            int32_t sums[4];
            int32_t n = p->channels - c < 4 ? p->channels - c : 4;
            int32_t k;
            if (n == 4) {
                et_gap_sum4(x + c, count, p->channels, sums);
            } else {
                for (k = 0; k < n; ++k) {
                    int32_t acc = 0;
                    int32_t i;
                    for (i = 0; i < count; ++i) {
                        acc += x[i * p->channels + c + k];
                    }
                    sums[k] = acc;
                }
            }
            for (k = 0; k < n; ++k) {
                /* The sum fits int32 (ET_POOL_S8_MAX_COUNT positions of |x + offset| <= 255). */
                const int32_t acc = same_quant ? sums[k] / count
                                               : et_mbqm(sums[k] + off_sum, mult, shift) + p->output_offset;
                y[c + k] = (int8_t)et_clamp_i32(acc, p->act_min, p->act_max);
            }
        }
    }
    return ET_OK;
}

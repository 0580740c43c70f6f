/* SPDX-License-Identifier: Apache-2.0 */
/* Fast conv backward + update kernels (et_conv_train.h). Per kernel tap, the output range it
 * reaches is found once (et_tap_range), so the pass over those outputs has no bounds tests; the
 * same pass accumulates the weights' gradients and adds their share of dx from the old values,
 * then the update is applied. Four weights share a pass where their inputs are four neighbouring
 * channels (a grouped conv's window channels, a depthwise conv's channels at multiplier 1): their
 * gradients stay in registers and every output's dy is read once. Grouped and depthwise
 * convolutions differ only in which input channel a weight reads and where it is stored. */
#include "et_conv_train_impl.h"

/* The outputs one tap reaches: rows [oh0, oh0 + nh), columns [ow0, ow0 + nw), and the strides
 * between them in the input (x) and in dy. */
typedef struct {
    int32_t nh;
    int32_t nw;
    int32_t x_first; /* input index (channel 0) read by output (oh0, ow0) of sample 0 */
    int32_t y_first; /* dy index (channel 0) of output (oh0, ow0) of sample 0 */
    int32_t x_row;
    int32_t x_col;
    int32_t y_row;
    int32_t y_col;
    int32_t x_batch;
    int32_t y_batch;
} et_tap_walk;

static et_tap_walk et_tap_walk_of(const et_conv_geom *g, int32_t i, int32_t j)
{
    et_tap_walk t;
    int32_t oh0;
    int32_t oh1;
    int32_t ow0;
    int32_t ow1;
    const int32_t off_h = i * g->dilation_h - g->pad_top;
    const int32_t off_w = j * g->dilation_w - g->pad_left;
    et_tap_range(off_h, g->stride_h, g->in_h, g->out_h, &oh0, &oh1);
    et_tap_range(off_w, g->stride_w, g->in_w, g->out_w, &ow0, &ow1);
    t.nh = oh1 - oh0;
    t.nw = ow1 - ow0;
    t.x_first = ((oh0 * g->stride_h + off_h) * g->in_w + (ow0 * g->stride_w + off_w)) * g->in_c;
    t.y_first = (oh0 * g->out_w + ow0) * g->out_c;
    t.x_row = g->stride_h * g->in_w * g->in_c;
    t.x_col = g->stride_w * g->in_c;
    t.y_row = g->out_w * g->out_c;
    t.y_col = g->out_c;
    t.x_batch = g->in_h * g->in_w * g->in_c;
    t.y_batch = g->out_h * g->out_w * g->out_c;
    return t;
}

/* One weight w0 over the outputs of its tap: returns sum dy * x (x may be NULL: 0), and adds
 * dy * w0 to dx (when dx is not NULL). x, dx point at the weight's input channel, dy at its
 * output channel. */
static float et_tap_pass(const et_tap_walk *t, int32_t batch, const float *x, const float *dy,
                         float *dx, float w0)
{
    float acc0 = 0.0f;
    float acc1 = 0.0f;
    int32_t b;
    int32_t r;
    int32_t k;
    if (t->nh == 0 || t->nw == 0) {
        return 0.0f;
    }
    for (b = 0; b < batch; ++b) {
        for (r = 0; r < t->nh; ++r) {
            const int32_t xo = b * t->x_batch + t->x_first + r * t->x_row;
            const float *yp = dy + b * t->y_batch + t->y_first + r * t->y_row;
            const int32_t xs = t->x_col;
            const int32_t ys = t->y_col;
            const int32_t n = t->nw;
            if (x != 0 && dx != 0) {
                const float *xp = x + xo;
                float *dp = dx + xo;
                for (k = 0; k < n; ++k) {
                    const float d = yp[k * ys];
                    acc0 += d * xp[k * xs];
                    dp[k * xs] += d * w0;
                }
            } else if (x != 0) {
                const float *xp = x + xo;
                /* Two accumulators: the adds of neighbouring outputs do not wait on each other. */
                for (k = 0; k + 2 <= n; k += 2) {
                    acc0 += yp[k * ys] * xp[k * xs];
                    acc1 += yp[(k + 1) * ys] * xp[(k + 1) * xs];
                }
                if (k < n) {
                    acc0 += yp[k * ys] * xp[k * xs];
                }
            } else {
                float *dp = dx + xo;
                for (k = 0; k < n; ++k) {
                    dp[k * xs] += yp[k * ys] * w0;
                }
            }
        }
    }
    return acc0 + acc1;
}

/* The loop of et_tap_pass4 for one combination: D loads the four lanes' dy (D1: one output
 * channel for all, D4: four neighbouring ones), GX accumulates the gradients, DX adds to dx. */
#define ET_D1 const float d0 = yk[0]; const float d1 = d0; const float d2 = d0; const float d3 = d0;
#define ET_D4 const float d0 = yk[0]; const float d1 = yk[1]; const float d2 = yk[2]; const float d3 = yk[3];
#define ET_GX a0 += d0 * x[xi]; a1 += d1 * x[xi + 1]; a2 += d2 * x[xi + 2]; a3 += d3 * x[xi + 3];
#define ET_DX dx[xi] += d0 * w0; dx[xi + 1] += d1 * w1; dx[xi + 2] += d2 * w2; dx[xi + 3] += d3 * w3;
#define ET_PASS4(D, BODY)                                                                        \
    for (b = 0; b < batch; ++b) {                                                                \
        for (r = 0; r < t->nh; ++r) {                                                            \
            const int32_t xo = b * t->x_batch + t->x_first + r * t->x_row;                       \
            const float *yp = dy + b * t->y_batch + t->y_first + r * t->y_row;                   \
            for (k = 0; k < t->nw; ++k) {                                                        \
                const float *yk = yp + k * t->y_col;                                             \
                const int32_t xi = xo + k * t->x_col;                                            \
                D BODY                                                                           \
            }                                                                                    \
        }                                                                                        \
    }

/* et_tap_pass for four weights w[0..3] reading channels x[0..3] (dx likewise) and dy[0] (four4
 * == 0) or dy[0..3] (four4 != 0); their gradients into g[0..3]. x or dx may be NULL (not both). */
static void et_tap_pass4(const et_tap_walk *t, int32_t batch, const float *x, const float *dy,
                         int32_t four4, float *dx, const float *w, float *g)
{
    const float w0 = w[0];
    const float w1 = w[1];
    const float w2 = w[2];
    const float w3 = w[3];
    float a0 = 0.0f;
    float a1 = 0.0f;
    float a2 = 0.0f;
    float a3 = 0.0f;
    int32_t b;
    int32_t r;
    int32_t k;
    /* Indices, not pointers, into x and dx: the loop for a NULL one never forms an address in it. */
    if (x != 0 && dx != 0) {
#define ET_BOTH ET_GX ET_DX
        if (four4) {
            ET_PASS4(ET_D4, ET_BOTH)
        } else {
            ET_PASS4(ET_D1, ET_BOTH)
        }
#undef ET_BOTH
    } else if (x != 0) {
        if (four4) {
            ET_PASS4(ET_D4, ET_GX)
        } else {
            ET_PASS4(ET_D1, ET_GX)
        }
    } else {
        if (four4) {
            ET_PASS4(ET_D4, ET_DX)
        } else {
            ET_PASS4(ET_D1, ET_DX)
        }
    }
    (void)w0;
    (void)w1;
    (void)w2;
    (void)w3;
    g[0] = a0;
    g[1] = a1;
    g[2] = a2;
    g[3] = a3;
}

#undef ET_PASS4
#undef ET_D1
#undef ET_D4
#undef ET_GX
#undef ET_DX

static et_status et_conv_bwd_fast(const et_conv_f32_params *p, int32_t depthwise,
                                  const et_optimizer *opt, const float *input, const float *dy,
                                  et_param_f32 *W, et_param_f32 *B, float *dx)
{
    const et_conv_geom *g = &p->geom;
    et_upd_consts c;
    int32_t cig;
    int32_t cog;
    int32_t k_win;
    int32_t o;
    int32_t i;
    int32_t j;
    int32_t ch;
    const float *x;
    const et_status st = et_conv_bwd_check(p, depthwise, opt, input, dy, W, B);
    if (st != ET_OK) {
        return st;
    }
    c = et_upd_consts_of(opt);
    cig = depthwise ? 1 : g->in_c / p->groups;
    cog = g->out_c / p->groups;
    k_win = g->kernel_h * g->kernel_w * cig;
    x = W->trainable ? input : 0;
    if (dx != 0) {
        const int32_t n = g->batch * g->in_h * g->in_w * g->in_c;
        for (o = 0; o < n; ++o) {
            dx[o] = 0.0f;
        }
    }
    if (W->trainable || dx != 0) {
        for (i = 0; i < g->kernel_h; ++i) {
            for (j = 0; j < g->kernel_w; ++j) {
                const et_tap_walk t = et_tap_walk_of(g, i, j);
                /* Depthwise at multiplier 1: four neighbouring channels per pass. */
                o = 0;
                if (depthwise && cog == 1) {
                    for (; o + 4 <= g->out_c; o += 4) {
                        const int32_t wi = (i * g->kernel_w + j) * g->out_c + o;
                        float g4[4];
                        et_tap_pass4(&t, g->batch, x != 0 ? x + o : 0, dy + o, 1, dx != 0 ? dx + o : 0,
                                     W->value + wi, g4);
                        if (W->trainable) {
                            for (ch = 0; ch < 4; ++ch) {
                                et_upd_elem(&c, W, wi + ch, g4[ch]);
                            }
                        }
                    }
                }
                for (; o < g->out_c; ++o) {
                    const int32_t c0 = depthwise ? o / cog : (o / cog) * cig;
                    ch = 0;
                    /* A grouped conv's window: four neighbouring input channels per pass. */
                    for (; !depthwise && ch + 4 <= cig; ch += 4) {
                        const int32_t wi = o * k_win + (i * g->kernel_w + j) * cig + ch;
                        float g4[4];
                        int32_t l;
                        et_tap_pass4(&t, g->batch, x != 0 ? x + c0 + ch : 0, dy + o, 0,
                                     dx != 0 ? dx + c0 + ch : 0, W->value + wi, g4);
                        if (W->trainable) {
                            for (l = 0; l < 4; ++l) {
                                et_upd_elem(&c, W, wi + l, g4[l]);
                            }
                        }
                    }
                    for (; ch < cig; ++ch) {
                        const int32_t wi = depthwise ? (i * g->kernel_w + j) * g->out_c + o
                                                     : o * k_win + (i * g->kernel_w + j) * cig + ch;
                        const float gw = et_tap_pass(&t, g->batch, x != 0 ? x + c0 + ch : 0, dy + o,
                                                     dx != 0 ? dx + c0 + ch : 0, W->value[wi]);
                        if (W->trainable) {
                            et_upd_elem(&c, W, wi, gw);
                        }
                    }
                }
            }
        }
    }
    if (W->trainable) {
        et_param_apply_mask(W, g->out_c * k_win);
    }
    if (B != 0 && B->trainable) {
        et_conv_bias_update(g, &c, dy, B);
    }
    return ET_OK;
}

et_status et_conv_f32_backward_update(const et_conv_f32_params *params, const et_optimizer *opt,
                                      const float *input, const float *dy, et_param_f32 *weights,
                                      et_param_f32 *bias, float *dx)
{
    return et_conv_bwd_fast(params, 0, opt, input, dy, weights, bias, dx);
}

et_status et_depthwise_conv_f32_backward_update(const et_conv_f32_params *params,
                                                const et_optimizer *opt, const float *input,
                                                const float *dy, et_param_f32 *weights,
                                                et_param_f32 *bias, float *dx)
{
    return et_conv_bwd_fast(params, 1, opt, input, dy, weights, bias, dx);
}

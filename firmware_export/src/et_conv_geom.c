/* SPDX-License-Identifier: Apache-2.0 */
/* Argument checks shared by the convolution and pooling kernels (et_conv.h, et_pool.h). */
#include "et_conv.h"

/* One spatial axis: sizes >= 1, pads within the dilated window less one, the window inside the
 * padded input, and the output size the formula gives. Sizes are int32 but every sum is done in
 * int64, so extreme values cannot overflow. */
static et_status et_axis_check(int32_t in, int32_t out, int32_t k, int32_t stride, int32_t dil,
                               int32_t before, int32_t after)
{
    int64_t span;
    int64_t padded;
    if (in < 1 || out < 1 || k < 1) {
        return ET_ERR_BAD_SHAPE;
    }
    if (stride < 1 || dil < 1) {
        return ET_ERR_BAD_PARAM;
    }
    span = (int64_t)(k - 1) * dil + 1;
    if (before < 0 || after < 0 || before > span - 1 || after > span - 1) {
        return ET_ERR_BAD_PARAM;
    }
    padded = (int64_t)in + before + after;
    if (span > padded || (padded - span) / stride + 1 != out) {
        return ET_ERR_BAD_SHAPE;
    }
    return ET_OK;
}

static int et_fits_i32(int64_t a, int64_t b, int64_t c, int64_t d)
{
    /* a, b, c, d >= 1 and each < 2^31: test step by step so no product overflows int64. */
    int64_t v = a * b;
    if (v > INT32_MAX) {
        return 0;
    }
    v *= c;
    if (v > INT32_MAX) {
        return 0;
    }
    v *= d;
    return v <= INT32_MAX;
}

et_status et_conv_geom_check(const et_conv_geom *g)
{
    et_status st;
    if (g == 0) {
        return ET_ERR_NULL_ARG;
    }
    if (g->batch < 1 || g->in_c < 1 || g->out_c < 1) {
        return ET_ERR_BAD_SHAPE;
    }
    st = et_axis_check(g->in_h, g->out_h, g->kernel_h, g->stride_h, g->dilation_h, g->pad_top,
                       g->pad_bottom);
    if (st == ET_OK) {
        st = et_axis_check(g->in_w, g->out_w, g->kernel_w, g->stride_w, g->dilation_w,
                           g->pad_left, g->pad_right);
    }
    if (st != ET_OK) {
        return st;
    }
    if (!et_fits_i32(g->batch, g->in_h, g->in_w, g->in_c) ||
        !et_fits_i32(g->batch, g->out_h, g->out_w, g->out_c) ||
        !et_fits_i32(g->out_c, g->kernel_h, g->kernel_w, g->in_c)) {
        return ET_ERR_BAD_SHAPE;
    }
    return ET_OK;
}

/* Channel grouping: conv needs groups | in_c and groups | out_c; depthwise needs groups == in_c
 * and out_c a multiple of in_c. */
static et_status et_groups_check(const et_conv_geom *g, int32_t groups, int32_t depthwise)
{
    if (groups < 1) {
        return ET_ERR_BAD_PARAM;
    }
    if (depthwise && groups != g->in_c) {
        return ET_ERR_BAD_PARAM;
    }
    if (g->in_c % groups != 0 || g->out_c % groups != 0) {
        return ET_ERR_BAD_SHAPE;
    }
    return ET_OK;
}

et_status et_conv_f32_check(const et_conv_f32_params *p, int32_t depthwise)
{
    et_status st;
    if (p == 0) {
        return ET_ERR_NULL_ARG;
    }
    st = et_conv_geom_check(&p->geom);
    if (st == ET_OK) {
        st = et_groups_check(&p->geom, p->groups, depthwise);
    }
    if (st != ET_OK) {
        return st;
    }
    /* Written as a negation so that a NaN bound is rejected too. */
    if (!(p->act_min <= p->act_max)) {
        return ET_ERR_BAD_PARAM;
    }
    return ET_OK;
}

et_status et_conv_s8_check(const et_conv_s8_params *p, int32_t depthwise)
{
    et_status st;
    int32_t n_ch;
    int32_t c;
    if (p == 0 || p->multipliers == 0 || p->shifts == 0) {
        return ET_ERR_NULL_ARG;
    }
    st = et_conv_geom_check(&p->geom);
    if (st == ET_OK) {
        st = et_groups_check(&p->geom, p->groups, depthwise);
    }
    if (st != ET_OK) {
        return st;
    }
    if ((int64_t)p->geom.kernel_h * p->geom.kernel_w * (p->geom.in_c / p->groups) >
        ET_CONV_S8_MAX_WINDOW) {
        return ET_ERR_BAD_SHAPE;
    }
    if (p->act_min < -128 || p->act_max > 127 || p->act_min > p->act_max ||
        p->input_offset < -127 || p->input_offset > 128 || p->output_offset < -128 ||
        p->output_offset > 127) {
        return ET_ERR_BAD_PARAM;
    }
    /* The requantization shifts by these amounts: out-of-range values would be undefined
     * behaviour in et_mbqm, so they are refused (out_c reads per call, small beside the MACs). */
    n_ch = p->per_channel ? p->geom.out_c : 1;
    for (c = 0; c < n_ch; ++c) {
        if (p->multipliers[c] < 0 || p->shifts[c] < -31 || p->shifts[c] > 30) {
            return ET_ERR_BAD_PARAM;
        }
    }
    return ET_OK;
}

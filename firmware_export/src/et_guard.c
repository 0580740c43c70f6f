/* SPDX-License-Identifier: Apache-2.0 */
/* Divergence guard (policy and rationale in et_guard.h). */
#include "et_guard.h"

/* Finite without <math.h>'s isfinite (a macro whose double/float dispatch varies by libc):
 * NaN fails every comparison and +-inf fails the bound. */
static int et_is_finite(float x)
{
    return x == x && x <= 3.40282347e+38f && x >= -3.40282347e+38f;
}

/* +inf without <math.h> (the product overflows; IEEE 754 round-to-nearest gives +inf). */
static float et_infinity(void)
{
    volatile float big = 3.40282347e+38f;
    return big * 2.0f;
}

et_status et_guard_init(et_guard *g, float max_ratio, float min_loss, float decay, int32_t warmup)
{
    if (g == 0) {
        return ET_ERR_NULL_ARG;
    }
    if (!(max_ratio > 1.0f) || !et_is_finite(max_ratio) || !(min_loss >= 0.0f) ||
        !(decay >= 0.0f && decay < 1.0f) || warmup < 1) {
        return ET_ERR_BAD_PARAM;
    }
    g->max_ratio = max_ratio;
    g->min_loss = min_loss;
    g->decay = decay;
    g->warmup = warmup;
    g->initial = 0.0f;
    g->average = 0.0f;
    g->accepted = 0;
    g->diverged = 0;
    return ET_OK;
}

et_status et_guard_check(et_guard *g, float loss, et_guard_verdict *verdict)
{
    int32_t bad;
    if (g == 0 || verdict == 0) {
        return ET_ERR_NULL_ARG;
    }
    bad = !et_is_finite(loss);
    if (!bad && g->accepted > 0) {
        const float reference = g->accepted < g->warmup ? g->initial : g->average;
        bad = loss > g->max_ratio * reference && loss > g->min_loss;
    }
    if (bad) {
        g->diverged += 1;
        *verdict = ET_GUARD_DIVERGED;
        return ET_OK;
    }
    if (g->accepted == 0) {
        g->initial = loss;
    }
    if (g->accepted < g->warmup) {
        /* Plain mean while warming up: an EMA started from 0 would understate the level. */
        g->average += (loss - g->average) / (float)(g->accepted + 1);
    } else {
        g->average = g->decay * g->average + (1.0f - g->decay) * loss;
    }
    if (g->accepted < INT32_MAX) {
        g->accepted += 1;
    }
    *verdict = ET_GUARD_ACCEPT;
    return ET_OK;
}

et_status et_guard_step(et_guard *g, float loss, const et_storage *storage, uint32_t layout_tag,
                        const et_storage_segment *segments, int32_t n_segments,
                        et_guard_verdict *verdict)
{
    const et_status st = et_guard_check(g, loss, verdict);
    if (st != ET_OK || *verdict == ET_GUARD_ACCEPT) {
        return st;
    }
    return et_storage_load(storage, layout_tag, segments, n_segments, 0);
}

float et_guard_params_rms(const et_storage_segment *seg, int32_t n)
{
    float sum = 0.0f;
    uint32_t count = 0u;
    int32_t i;
    if (seg == 0) {
        return 0.0f;
    }
    for (i = 0; i < n; ++i) {
        const float *p = (const float *)seg[i].data;
        const uint32_t m = seg[i].size / (uint32_t)sizeof(float);
        uint32_t k;
        if (p == 0) {
            continue;
        }
        for (k = 0u; k < m; ++k) {
            if (!et_is_finite(p[k])) {
                return et_infinity();
            }
            sum += p[k] * p[k];
        }
        count += m;
    }
    if (count == 0u) {
        return 0.0f;
    }
    if (!et_is_finite(sum)) {
        return sum;
    }
    /* sqrt by Newton's method on the mean (no libm), from above: from at most 2^128 it halves
     * about 64 times, then converges quadratically; it stops when r no longer decreases. */
    {
        const float mean = sum / (float)count;
        float r = mean > 1.0f ? mean : 1.0f;
        int32_t it;
        if (mean == 0.0f) {
            return 0.0f;
        }
        for (it = 0; it < 100; ++it) {
            const float next = 0.5f * (r + mean / r);
            if (!(next < r)) {
                break;
            }
            r = next;
        }
        return r;
    }
}

et_status et_guard_check_params(et_guard *g, float start_rms, float rms, et_guard_verdict *verdict)
{
    float ref;
    if (g == 0 || verdict == 0) {
        return ET_ERR_NULL_ARG;
    }
    ref = start_rms > ET_GUARD_PARAM_RMS_FLOOR ? start_rms : ET_GUARD_PARAM_RMS_FLOOR;
    if (!et_is_finite(rms) || !et_is_finite(start_rms) || rms > g->max_ratio * ref) {
        g->diverged += 1;
        *verdict = ET_GUARD_DIVERGED;
    } else {
        *verdict = ET_GUARD_ACCEPT;
    }
    return ET_OK;
}

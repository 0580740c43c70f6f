/* Divergence guard (policy and rationale in et_guard.h). */
#include "et_guard.h"

/* Finite without <math.h>'s isfinite (a macro whose double/float dispatch varies by libc):
 * NaN fails every comparison and +-inf fails the bound. */
static int et_is_finite(float x)
{
    return x == x && x <= 3.40282347e+38f && x >= -3.40282347e+38f;
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
    if (!bad && g->accepted >= g->warmup) {
        bad = loss > g->max_ratio * g->average && loss > g->min_loss;
    }
    if (bad) {
        g->diverged += 1;
        *verdict = ET_GUARD_DIVERGED;
        return ET_OK;
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

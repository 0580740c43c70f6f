/* SPDX-License-Identifier: Apache-2.0 */
/* Per-element optimizer updates shared by et_optim.c and the fused dense backward kernels
 * (private to the runtime sources). Inline so the fused loops carry no per-element call. */
#ifndef ET_OPTIM_IMPL_H
#define ET_OPTIM_IMPL_H

#include <math.h>

#include "et_optim.h"

/* Single-precision square root. With a single-precision FPU, VSQRT.F32 inline: sqrtf() without
 * -fno-math-errno compiles to VSQRT plus a NaN test and an errno call path; the argument here is
 * a second moment (>= 0), so that path is dead weight in the hottest loop of Adam. Elsewhere
 * (soft float, host) sqrtf, never the double sqrt. */
static inline float et_sqrtf(float x)
{
#if defined(__GNUC__) && defined(__ARM_FP) && ((__ARM_FP & 4) != 0) && !defined(__aarch64__)
    float r;
    __asm__("vsqrt.f32 %0, %1" : "=t"(r) : "t"(x));
    return r;
#else
    return sqrtf(x);
#endif
}

/* SGD without momentum: w -= lr * (g + wd w). */
static inline float et_sgd_plain(float w, float g, float lr, float wd)
{
    return w - lr * (g + wd * w);
}

/* SGD with momentum; *vel is the velocity slot. */
static inline float et_sgd_momentum(float w, float g, float *vel, float lr, float mom, float wd)
{
    const float v = mom * *vel + (g + wd * w);
    *vel = v;
    return w - lr * v;
}

/* Adam constants copied into locals by the fused kernels: a float member read through a pointer
 * could alias the float arrays being written, so the compiler would reload it per element. */
typedef struct {
    float b1, omb1, b2, omb2, eps, wd, step_size, inv_bc2;
} et_adam_consts;

static inline et_adam_consts et_adam_consts_of(const et_adam_params *p, const et_adam_step *s)
{
    et_adam_consts c;
    c.b1 = p->beta1;
    c.omb1 = p->one_minus_beta1;
    c.b2 = p->beta2;
    c.omb2 = p->one_minus_beta2;
    c.eps = p->eps;
    c.wd = p->weight_decay;
    c.step_size = s->step_size;
    c.inv_bc2 = s->inv_bc2;
    return c;
}

/* Adam; *m, *v are the moment slots. mhat = m / bc1 and vhat = v / bc2 are folded into
 * step_size = lr / bc1 and inv_bc2 = 1 / bc2 (one division and one root per weight). */
static inline float et_adam_c(float w, float g, float *m, float *v, et_adam_consts c)
{
    const float gd = g + c.wd * w;
    const float mn = c.b1 * *m + c.omb1 * gd;
    const float vn = c.b2 * *v + c.omb2 * (gd * gd);
    *m = mn;
    *v = vn;
    return w - (c.step_size * mn) / (et_sqrtf(vn * c.inv_bc2) + c.eps);
}

static inline float et_adam_elem(float w, float g, float *m, float *v, const et_adam_params *p,
                                 const et_adam_step *s)
{
    return et_adam_c(w, g, m, v, et_adam_consts_of(p, s));
}

#endif /* ET_OPTIM_IMPL_H */

/* SPDX-License-Identifier: Apache-2.0 */
/* Optimizers over whole arrays (see et_optim.h for the rules). */
#include "et_optim.h"
#include "et_optim_impl.h"

et_status et_adam_params_init(et_adam_params *p, float lr, float beta1, float beta2, float eps,
                              float weight_decay)
{
    if (p == 0) {
        return ET_ERR_NULL_ARG;
    }
    p->lr = lr;
    p->beta1 = beta1;
    p->beta2 = beta2;
    p->eps = eps;
    p->weight_decay = weight_decay;
    p->one_minus_beta1 = 1.0f - beta1;
    p->one_minus_beta2 = 1.0f - beta2;
    return et_adam_check(p);
}

et_status et_adam_step_init(et_adam_step *s)
{
    if (s == 0) {
        return ET_ERR_NULL_ARG;
    }
    s->t = 0;
    s->bc1 = 0.0f;
    s->bc2 = 0.0f;
    s->step_size = 0.0f;
    s->inv_bc2 = 0.0f;
    return ET_OK;
}

et_status et_adam_step_begin(const et_adam_params *p, et_adam_step *s)
{
    const et_status st = et_adam_check(p);
    if (st != ET_OK) {
        return st;
    }
    if (s == 0) {
        return ET_ERR_NULL_ARG;
    }
    if (s->t < 0 || s->t == INT32_MAX) {
        return ET_ERR_BAD_PARAM;
    }
    /* 1 - b^t = (1 - b) + b (1 - b^(t-1)): every term is positive, so unlike 1 - powf(b, t) in
     * float (1 - 0.999f^1 loses 4 digits) the error stays a few ulp of the result. */
    s->t += 1;
    s->bc1 = p->one_minus_beta1 + p->beta1 * s->bc1;
    s->bc2 = p->one_minus_beta2 + p->beta2 * s->bc2;
    s->step_size = p->lr / s->bc1;
    s->inv_bc2 = 1.0f / s->bc2;
    return ET_OK;
}

/* Negated comparisons so that NaN parameters are rejected. */
et_status et_sgd_check(const et_sgd_params *p)
{
    if (p == 0) {
        return ET_ERR_NULL_ARG;
    }
    if (!(p->lr > 0.0f) || !(p->momentum >= 0.0f && p->momentum < 1.0f) ||
        !(p->weight_decay >= 0.0f)) {
        return ET_ERR_BAD_PARAM;
    }
    return ET_OK;
}

et_status et_adam_check(const et_adam_params *p)
{
    if (p == 0) {
        return ET_ERR_NULL_ARG;
    }
    if (!(p->lr > 0.0f) || !(p->beta1 >= 0.0f && p->beta1 < 1.0f) ||
        !(p->beta2 >= 0.0f && p->beta2 < 1.0f) || !(p->eps > 0.0f) || !(p->weight_decay >= 0.0f) ||
        !(p->one_minus_beta1 > 0.0f && p->one_minus_beta1 <= 1.0f) ||
        !(p->one_minus_beta2 > 0.0f && p->one_minus_beta2 <= 1.0f)) {
        return ET_ERR_BAD_PARAM;
    }
    return ET_OK;
}

et_status et_optimizer_check(const et_optimizer *opt)
{
    if (opt == 0) {
        return ET_ERR_NULL_ARG;
    }
    if (opt->kind == ET_OPTIM_SGD) {
        return et_sgd_check(&opt->sgd);
    }
    if (opt->kind == ET_OPTIM_ADAM) {
        const et_status st = et_adam_check(&opt->adam);
        if (st != ET_OK) {
            return st;
        }
        /* An update before et_optimizer_begin_step would divide by bc1 = 0. */
        return opt->step.t >= 1 ? ET_OK : ET_ERR_BAD_PARAM;
    }
    return ET_ERR_BAD_PARAM;
}

et_status et_optimizer_begin_step(et_optimizer *opt)
{
    if (opt == 0) {
        return ET_ERR_NULL_ARG;
    }
    if (opt->kind == ET_OPTIM_ADAM) {
        return et_adam_step_begin(&opt->adam, &opt->step);
    }
    return opt->kind == ET_OPTIM_SGD ? et_sgd_check(&opt->sgd) : ET_ERR_BAD_PARAM;
}

et_status et_sgd_update(const et_sgd_params *p, float *w, const float *g, float *velocity, int32_t n)
{
    int32_t i;
    const et_status st = et_sgd_check(p);
    if (st != ET_OK) {
        return st;
    }
    if (w == 0 || g == 0 || (p->momentum != 0.0f && velocity == 0)) {
        return ET_ERR_NULL_ARG;
    }
    if (n <= 0) {
        return ET_ERR_BAD_SHAPE;
    }
    if (p->momentum == 0.0f) {
        for (i = 0; i < n; ++i) {
            w[i] = et_sgd_plain(w[i], g[i], p->lr, p->weight_decay);
        }
    } else {
        for (i = 0; i < n; ++i) {
            w[i] = et_sgd_momentum(w[i], g[i], &velocity[i], p->lr, p->momentum, p->weight_decay);
        }
    }
    return ET_OK;
}

et_status et_adam_update(const et_adam_params *p, const et_adam_step *s, float *w, const float *g,
                         float *m, float *v, int32_t n)
{
    int32_t i;
    const et_status st = et_adam_check(p);
    if (st != ET_OK) {
        return st;
    }
    if (s == 0 || w == 0 || g == 0 || m == 0 || v == 0) {
        return ET_ERR_NULL_ARG;
    }
    if (s->t < 1) {
        return ET_ERR_BAD_PARAM;
    }
    if (n <= 0) {
        return ET_ERR_BAD_SHAPE;
    }
    for (i = 0; i < n; ++i) {
        w[i] = et_adam_elem(w[i], g[i], &m[i], &v[i], p, s);
    }
    return ET_OK;
}

et_status et_optimizer_update(const et_optimizer *opt, et_param_f32 *param, const float *g,
                              int32_t n)
{
    if (opt == 0 || param == 0) {
        return ET_ERR_NULL_ARG;
    }
    if (!param->trainable) {
        return ET_OK;
    }
    if (opt->kind == ET_OPTIM_SGD || opt->kind == ET_OPTIM_ADAM) {
        const et_status st = opt->kind == ET_OPTIM_SGD
                                 ? et_sgd_update(&opt->sgd, param->value, g, param->m, n)
                                 : et_adam_update(&opt->adam, &opt->step, param->value, g, param->m,
                                                  param->v, n);
        if (st == ET_OK) {
            et_param_apply_mask(param, n);
        }
        return st;
    }
    return ET_ERR_BAD_PARAM;
}

void et_param_apply_mask(et_param_f32 *param, int32_t n)
{
    int32_t i;
    if (param == 0 || param->mask == 0 || param->value == 0) {
        return;
    }
    for (i = 0; i < n; ++i) {
        if (((param->mask[i >> 3] >> (i & 7)) & 1u) == 0u) {
            param->value[i] = 0.0f;
        }
    }
}

et_status et_zero_f32(float *x, int32_t n)
{
    int32_t i;
    if (x == 0) {
        return ET_ERR_NULL_ARG;
    }
    if (n <= 0) {
        return ET_ERR_BAD_SHAPE;
    }
    for (i = 0; i < n; ++i) {
        x[i] = 0.0f;
    }
    return ET_OK;
}

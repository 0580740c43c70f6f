/* Test scaffolding: see mlp.h. */
#include "mlp.h"

#include <float.h>
#include <stdio.h>
#include <stdlib.h>

static float *alloc_f32(int32_t n)
{
    float *p = (float *)calloc((size_t)n, sizeof(float));
    if (p == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

static void param_alloc(et_param_f32 *p, int32_t n, int trainable)
{
    p->value = alloc_f32(n);
    p->m = trainable ? alloc_f32(n) : NULL;
    p->v = trainable ? alloc_f32(n) : NULL;
    p->trainable = trainable;
    p->mask = NULL;
}

static void param_free(et_param_f32 *p)
{
    free(p->value);
    free(p->m);
    free(p->v);
}

void mlp_alloc(mlp *m, int32_t n_in, int32_t n_hidden, int32_t n_out, int32_t batch, int frozen1)
{
    m->n_in = n_in;
    m->n_hidden = n_hidden;
    m->n_out = n_out;
    m->batch = batch;
    param_alloc(&m->w1, n_hidden * n_in, !frozen1);
    param_alloc(&m->b1, n_hidden, !frozen1);
    param_alloc(&m->w2, n_out * n_hidden, 1);
    param_alloc(&m->b2, n_out, 1);
    m->h = alloc_f32(batch * n_hidden);
    m->logits = alloc_f32(batch * n_out);
    m->dh = alloc_f32(batch * n_hidden);
    m->gw = alloc_f32(n_hidden * n_in > n_out * n_hidden ? n_hidden * n_in : n_out * n_hidden);
    m->gb = alloc_f32(n_hidden > n_out ? n_hidden : n_out);
}

void mlp_free(mlp *m)
{
    param_free(&m->w1);
    param_free(&m->b1);
    param_free(&m->w2);
    param_free(&m->b2);
    free(m->h);
    free(m->logits);
    free(m->dh);
    free(m->gw);
    free(m->gb);
}

static void zero_param(et_param_f32 *p, int32_t n)
{
    if (p->m != NULL) {
        et_zero_f32(p->m, n);
    }
    if (p->v != NULL) {
        et_zero_f32(p->v, n);
    }
}

void mlp_zero_slots(mlp *m)
{
    zero_param(&m->w1, m->n_hidden * m->n_in);
    zero_param(&m->b1, m->n_hidden);
    zero_param(&m->w2, m->n_out * m->n_hidden);
    zero_param(&m->b2, m->n_out);
}

static et_dense_f32_params layer(int32_t batch, int32_t n_in, int32_t n_out, float lo)
{
    et_dense_f32_params p;
    p.batch = batch;
    p.n_in = n_in;
    p.n_out = n_out;
    p.act_min = lo;
    p.act_max = FLT_MAX;
    return p;
}

et_status mlp_loss(mlp *m, const float *x, const int32_t *y, float *loss)
{
    const et_dense_f32_params p1 = layer(m->batch, m->n_in, m->n_hidden, 0.0f); /* fused ReLU */
    const et_dense_f32_params p2 = layer(m->batch, m->n_hidden, m->n_out, -FLT_MAX);
    et_status st = et_dense_f32(&p1, x, m->w1.value, m->b1.value, m->h);
    if (st == ET_OK) {
        st = et_dense_f32(&p2, m->h, m->w2.value, m->b2.value, m->logits);
    }
    if (st == ET_OK) {
        st = et_softmax_xent_f32(m->logits, y, m->batch, m->n_out, loss, m->logits);
    }
    return st;
}

/* Plain path for one layer: gradient buffers, dx, then the optimizer over whole tensors. */
static et_status plain_layer(const et_dense_f32_params *p, const et_optimizer *opt, int ref,
                             const float *in, const float *dy, et_param_f32 *w, et_param_f32 *b,
                             float *gw, float *gb, float *dx)
{
    et_status st = ET_OK;
    if (dx != NULL) {
        st = ref ? et_dense_f32_backward_input_ref(p, dy, w->value, dx)
                 : et_dense_f32_backward_input(p, dy, w->value, dx);
    }
    if (st == ET_OK && w->trainable) {
        st = ref ? et_dense_f32_backward_params_ref(p, in, dy, gw, gb, 0)
                 : et_dense_f32_backward_params(p, in, dy, gw, gb, 0);
        if (st == ET_OK) {
            st = et_optimizer_update(opt, w, gw, p->n_out * p->n_in);
        }
        if (st == ET_OK) {
            st = et_optimizer_update(opt, b, gb, p->n_out);
        }
    }
    return st;
}

et_status mlp_train_step(mlp *m, et_optimizer *opt, mlp_mode mode, const float *x, const int32_t *y,
                         float *loss)
{
    const et_status st = mlp_loss(m, x, y, loss); /* leaves dlogits in m->logits */
    return st != ET_OK ? st : mlp_backward_update(m, opt, mode, x);
}

et_status mlp_backward_update(mlp *m, et_optimizer *opt, mlp_mode mode, const float *x)
{
    const et_dense_f32_params p1 = layer(m->batch, m->n_in, m->n_hidden, 0.0f);
    const et_dense_f32_params p2 = layer(m->batch, m->n_hidden, m->n_out, -FLT_MAX);
    /* The hidden gradient is needed only when layer 1 trains (the schedule's pruning). */
    float *dh = m->w1.trainable ? m->dh : NULL;
    et_status st;
    switch (mode) {
    case MLP_FUSED:
        st = et_dense_f32_backward_update(&p2, opt, m->h, m->logits, &m->w2, &m->b2, dh);
        break;
    case MLP_FUSED_REF:
        st = et_dense_f32_backward_update_ref(&p2, opt, m->h, m->logits, &m->w2, &m->b2, dh);
        break;
    default:
        st = plain_layer(&p2, opt, mode == MLP_PLAIN_REF, m->h, m->logits, &m->w2, &m->b2, m->gw,
                         m->gb, dh);
        break;
    }
    if (st != ET_OK || dh == NULL) {
        return st;
    }
    st = et_relu_f32_backward(m->h, dh, m->batch * m->n_hidden);
    if (st != ET_OK) {
        return st;
    }
    switch (mode) {
    case MLP_FUSED:
        return et_dense_f32_backward_update(&p1, opt, x, dh, &m->w1, &m->b1, NULL);
    case MLP_FUSED_REF:
        return et_dense_f32_backward_update_ref(&p1, opt, x, dh, &m->w1, &m->b1, NULL);
    default:
        return plain_layer(&p1, opt, mode == MLP_PLAIN_REF, x, dh, &m->w1, &m->b1, m->gw, m->gb,
                           NULL);
    }
}

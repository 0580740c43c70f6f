/* SPDX-License-Identifier: Apache-2.0 */
/* Template for the fused dense backward + update loops, included once per optimizer by
 * et_dense_f32_backward.c with
 *   ET_FUSED_NAME            the function to define
 *   ET_FUSED_UPD(w, g, M, V, i)  new value of weight w with gradient g, slots M[i], V[i]
 * A template rather than a switch inside the loop: each optimizer gets its own straight loop with
 * the update inlined (no per-element call or branch). Not a public header. */
#if !defined(ET_FUSED_NAME) || !defined(ET_FUSED_UPD)
#error "define ET_FUSED_NAME and ET_FUSED_UPD before including this file"
#endif

static void ET_FUSED_NAME(const et_dense_f32_params *p, const et_fused_consts *cp,
                          const float *x, const float *dy, et_param_f32 *W, et_param_f32 *B,
                          float *dx)
{
    /* A local copy: stores through the float arrays below cannot alias it, so the constants
     * stay in registers. */
    const et_fused_consts c = *cp;
    const int32_t n_in = p->n_in;
    const int32_t n_out = p->n_out;
    const int32_t batch = p->batch;
    const int32_t train_w = W->trainable;
    float *const w = W->value;
    float *const wm = W->m;
    float *const wv = W->v;
    int32_t o;
    int32_t k;
    int32_t b;
    (void)c;
    (void)wm;
    (void)wv;
    if (dx != 0) {
        for (k = 0; k < batch * n_in; ++k) {
            dx[k] = 0.0f;
        }
    }
    for (o = 0; o < n_out; ++o) {
        const int32_t ro = o * n_in;
        float *const wr = w + ro;
        if (batch == 1 && train_w && dx != 0) {
            /* The common single-sample step: dx from the old weight, then the update, one pass. */
            const float d = dy[o];
            for (k = 0; k + 4 <= n_in; k += 4) {
                const float w0 = wr[k];
                const float w1 = wr[k + 1];
                const float w2 = wr[k + 2];
                const float w3 = wr[k + 3];
                dx[k] += d * w0;
                dx[k + 1] += d * w1;
                dx[k + 2] += d * w2;
                dx[k + 3] += d * w3;
                wr[k] = ET_FUSED_UPD(w0, d * x[k], wm, wv, ro + k);
                wr[k + 1] = ET_FUSED_UPD(w1, d * x[k + 1], wm, wv, ro + k + 1);
                wr[k + 2] = ET_FUSED_UPD(w2, d * x[k + 2], wm, wv, ro + k + 2);
                wr[k + 3] = ET_FUSED_UPD(w3, d * x[k + 3], wm, wv, ro + k + 3);
            }
            for (; k < n_in; ++k) {
                const float w0 = wr[k];
                dx[k] += d * w0;
                wr[k] = ET_FUSED_UPD(w0, d * x[k], wm, wv, ro + k);
            }
        } else if (batch == 1 && train_w) {
            const float d = dy[o];
            for (k = 0; k + 4 <= n_in; k += 4) {
                wr[k] = ET_FUSED_UPD(wr[k], d * x[k], wm, wv, ro + k);
                wr[k + 1] = ET_FUSED_UPD(wr[k + 1], d * x[k + 1], wm, wv, ro + k + 1);
                wr[k + 2] = ET_FUSED_UPD(wr[k + 2], d * x[k + 2], wm, wv, ro + k + 2);
                wr[k + 3] = ET_FUSED_UPD(wr[k + 3], d * x[k + 3], wm, wv, ro + k + 3);
            }
            for (; k < n_in; ++k) {
                wr[k] = ET_FUSED_UPD(wr[k], d * x[k], wm, wv, ro + k);
            }
        } else if (train_w || dx != 0) {
            /* Any batch: the gradient of each weight sums over the samples; dx[b] gets the old
             * weight times each sample's dy. */
            for (k = 0; k < n_in; ++k) {
                const float w0 = wr[k];
                float g = 0.0f;
                for (b = 0; b < batch; ++b) {
                    const float d = dy[b * n_out + o];
                    g += d * (train_w ? x[b * n_in + k] : 0.0f);
                    if (dx != 0) {
                        dx[b * n_in + k] += d * w0;
                    }
                }
                if (train_w) {
                    wr[k] = ET_FUSED_UPD(w0, g, wm, wv, ro + k);
                }
            }
        }
        if (B != 0 && B->trainable) {
            float g = 0.0f;
            for (b = 0; b < batch; ++b) {
                g += dy[b * n_out + o];
            }
            B->value[o] = ET_FUSED_UPD(B->value[o], g, B->m, B->v, o);
        }
    }
}

#undef ET_FUSED_NAME
#undef ET_FUSED_UPD

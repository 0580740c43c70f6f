/* SPDX-License-Identifier: Apache-2.0 */
#include "et_dense.h"
#include "et_dense_check.h"

et_status et_dense_f32_ref(const et_dense_f32_params *p, const float *input,
                           const float *weights, const float *bias, float *output)
{
    int32_t b;
    int32_t o;
    int32_t k;
    const et_status st = et_dense_f32_check(p, input, weights, output);
    if (st != ET_OK) {
        return st;
    }
    for (b = 0; b < p->batch; ++b) {
        const float *x = input + (int32_t)(b * p->n_in);
        float *y = output + (int32_t)(b * p->n_out);
        for (o = 0; o < p->n_out; ++o) {
            const float *w = weights + (int32_t)(o * p->n_in);
            float acc = bias != 0 ? bias[o] : 0.0f;
            for (k = 0; k < p->n_in; ++k) {
                acc += x[k] * w[k];
            }
            y[o] = acc < p->act_min ? p->act_min : (acc > p->act_max ? p->act_max : acc);
        }
    }
    return ET_OK;
}

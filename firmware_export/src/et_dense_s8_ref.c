/* SPDX-License-Identifier: Apache-2.0 */
#include "et_dense.h"
#include "et_dense_check.h"
#include "et_requant.h"

et_status et_dense_s8_ref(const et_dense_s8_params *p, const int8_t *input,
                          const int8_t *weights, const int32_t *bias, int8_t *output)
{
    int32_t b;
    int32_t o;
    int32_t k;
    const et_status st = et_dense_s8_check(p, input, weights, output);
    if (st != ET_OK) {
        return st;
    }
    for (b = 0; b < p->batch; ++b) {
        const int8_t *x = input + (int32_t)(b * p->n_in);
        int8_t *y = output + (int32_t)(b * p->n_out);
        for (o = 0; o < p->n_out; ++o) {
            const int8_t *w = weights + (int32_t)(o * p->n_in);
            const int32_t c = p->per_channel ? o : 0;
            int32_t acc = bias != 0 ? bias[o] : 0;
            for (k = 0; k < p->n_in; ++k) {
                acc += ((int32_t)x[k] + p->input_offset) * (int32_t)w[k];
            }
            acc = et_mbqm(acc, p->multipliers[c], p->shifts[c]) + p->output_offset;
            y[o] = (int8_t)et_clamp_i32(acc, p->act_min, p->act_max);
        }
    }
    return ET_OK;
}

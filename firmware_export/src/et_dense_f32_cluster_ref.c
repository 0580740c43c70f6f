/* SPDX-License-Identifier: Apache-2.0 */
/* Reference float32 clustered dense kernel (et_cluster.h): plain loops, one index read per weight,
 * in et_dense_f32_ref's summation order. Also the start-up check of packed indices. */
#include "et_cluster.h"
#include "et_cluster_check.h"

et_status et_cluster_indices_check(const et_cluster_indices *idx, int32_t n_out, int32_t n_in)
{
    int32_t o;
    int32_t i;
    int32_t row_words;
    uint32_t used;
    if (idx == 0 || idx->words == 0) {
        return ET_ERR_NULL_ARG;
    }
    if (n_out < 1 || n_in < 1) {
        return ET_ERR_BAD_SHAPE;
    }
    if (!et_cl_code_ok(idx->bits, idx->k)) {
        return ET_ERR_BAD_PARAM;
    }
    row_words = ET_CLUSTER_ROW_WORDS(n_in, idx->bits);
    used = (uint32_t)row_words * 32u;
    for (o = 0; o < n_out; ++o) {
        const uint32_t *row = idx->words + (int32_t)(o * row_words);
        uint32_t pos;
        for (i = 0; i < n_in; ++i) {
            if ((int32_t)et_cl_index(row, i, idx->bits) >= idx->k) {
                return ET_ERR_BAD_PARAM;
            }
        }
        /* Padding: the fields of absent inputs in the last group, then the rest of the row. */
        for (i = n_in; (i & 3) != 0; ++i) {
            if (et_cl_index(row, i, idx->bits) != 0u) {
                return ET_ERR_BAD_PARAM;
            }
        }
        for (pos = (uint32_t)((n_in + 3) / 4) * 4u * (uint32_t)idx->bits; pos < used; ++pos) {
            if (((row[pos >> 5] >> (pos & 31u)) & 1u) != 0u) {
                return ET_ERR_BAD_PARAM;
            }
        }
    }
    return ET_OK;
}

et_status et_dense_f32_cluster_ref(const et_dense_f32_params *p, const float *input,
                                   const float *codebook, const et_cluster_indices *idx,
                                   const float *bias, float *output)
{
    int32_t b;
    int32_t o;
    int32_t k;
    int32_t row_words;
    const et_status st = et_cl_f32_check(p, input, codebook, idx, output);
    if (st != ET_OK) {
        return st;
    }
    row_words = ET_CLUSTER_ROW_WORDS(p->n_in, idx->bits);
    for (b = 0; b < p->batch; ++b) {
        const float *x = input + (int32_t)(b * p->n_in);
        float *y = output + (int32_t)(b * p->n_out);
        for (o = 0; o < p->n_out; ++o) {
            const uint32_t *row = idx->words + (int32_t)(o * row_words);
            float acc = bias != 0 ? bias[o] : 0.0f;
            for (k = 0; k < p->n_in; ++k) {
                acc += x[k] * codebook[et_cl_index(row, k, idx->bits)];
            }
            y[o] = acc < p->act_min ? p->act_min : (acc > p->act_max ? p->act_max : acc);
        }
    }
    return ET_OK;
}

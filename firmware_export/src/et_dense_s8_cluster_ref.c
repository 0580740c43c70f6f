/* SPDX-License-Identifier: Apache-2.0 */
/* Reference int8 clustered dense kernel (et_cluster.h): plain loops, one index read per weight,
 * et_dense_s8_ref's arithmetic. Also the int8 pair-table functions. */
#include "et_cluster.h"
#include "et_cluster_check.h"
#include "et_requant.h"

et_status et_cluster_s8_pairs(const int8_t *codebook, int32_t k, int32_t bits, uint32_t *pairs)
{
    if (codebook == 0 || pairs == 0) {
        return ET_ERR_NULL_ARG;
    }
    if (!et_cl_code_ok(bits, k)) {
        return ET_ERR_BAD_PARAM;
    }
    et_cl_fill_pairs(codebook, k, bits, pairs);
    return ET_OK;
}

et_status et_cluster_s8_pairs_check(const int8_t *codebook, int32_t k, int32_t bits,
                                    const uint32_t *pairs)
{
    int32_t lo;
    int32_t hi;
    if (codebook == 0 || pairs == 0) {
        return ET_ERR_NULL_ARG;
    }
    if (!et_cl_code_ok(bits, k)) {
        return ET_ERR_BAD_PARAM;
    }
    for (hi = 0; hi < ((int32_t)1 << bits); ++hi) {
        const uint32_t h = hi < k ? (uint32_t)(uint16_t)(int16_t)codebook[hi] << 16 : 0u;
        for (lo = 0; lo < ((int32_t)1 << bits); ++lo) {
            const uint32_t l = lo < k ? (uint32_t)(uint16_t)(int16_t)codebook[lo] : 0u;
            if (pairs[lo | (hi << bits)] != (l | h)) {
                return ET_ERR_BAD_PARAM;
            }
        }
    }
    return ET_OK;
}

et_status et_dense_s8_cluster_ref(const et_dense_s8_params *p, const int8_t *input,
                                  const int8_t *codebook, const et_cluster_indices *idx,
                                  const uint32_t *pairs, const int32_t *bias, int8_t *output)
{
    int32_t b;
    int32_t o;
    int32_t k;
    int32_t row_words;
    const et_status st = et_cl_s8_check(p, input, codebook, idx, output);
    (void)pairs; /* a speed-up of the fast kernel only */
    if (st != ET_OK) {
        return st;
    }
    row_words = ET_CLUSTER_ROW_WORDS(p->n_in, idx->bits);
    for (b = 0; b < p->batch; ++b) {
        const int8_t *x = input + (int32_t)(b * p->n_in);
        int8_t *y = output + (int32_t)(b * p->n_out);
        for (o = 0; o < p->n_out; ++o) {
            const uint32_t *row = idx->words + (int32_t)(o * row_words);
            const int32_t c = p->per_channel ? o : 0;
            int32_t acc = bias != 0 ? bias[o] : 0;
            for (k = 0; k < p->n_in; ++k) {
                const int32_t w = (int32_t)codebook[et_cl_index(row, k, idx->bits)];
                acc += ((int32_t)x[k] + p->input_offset) * w;
            }
            acc = et_mbqm(acc, p->multipliers[c], p->shifts[c]) + p->output_offset;
            y[o] = (int8_t)et_clamp_i32(acc, p->act_min, p->act_max);
        }
    }
    return ET_OK;
}

/* SPDX-License-Identifier: Apache-2.0 */
#include "et_reduce.h"

et_status et_argmax_f32(const float *input, int32_t n, int32_t *index)
{
    int32_t i;
    int32_t best = 0;
    if (input == 0 || index == 0) {
        return ET_ERR_NULL_ARG;
    }
    if (n <= 0) {
        return ET_ERR_BAD_SHAPE;
    }
    for (i = 1; i < n; ++i) {
        if (input[i] > input[best]) {
            best = i;
        }
    }
    *index = best;
    return ET_OK;
}

et_status et_argmax_s8(const int8_t *input, int32_t n, int32_t *index)
{
    int32_t i;
    int32_t best = 0;
    if (input == 0 || index == 0) {
        return ET_ERR_NULL_ARG;
    }
    if (n <= 0) {
        return ET_ERR_BAD_SHAPE;
    }
    for (i = 1; i < n; ++i) {
        if (input[i] > input[best]) {
            best = i;
        }
    }
    *index = best;
    return ET_OK;
}

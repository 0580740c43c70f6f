/* SPDX-License-Identifier: Apache-2.0 */
#include <math.h>

#include "et_reduce.h"

et_status et_softmax_f32(const float *input, float *output, int32_t n)
{
    int32_t i;
    float max_v;
    float sum = 0.0f;
    float inv;
    if (input == 0 || output == 0) {
        return ET_ERR_NULL_ARG;
    }
    if (n <= 0) {
        return ET_ERR_BAD_SHAPE;
    }
    max_v = input[0];
    for (i = 1; i < n; ++i) {
        max_v = input[i] > max_v ? input[i] : max_v;
    }
    /* Subtracting the max keeps every exponent <= 0: no overflow, and the largest term is 1. */
    for (i = 0; i < n; ++i) {
        const float e = expf(input[i] - max_v);
        output[i] = e;
        sum += e;
    }
    inv = 1.0f / sum;
    for (i = 0; i < n; ++i) {
        output[i] *= inv;
    }
    return ET_OK;
}

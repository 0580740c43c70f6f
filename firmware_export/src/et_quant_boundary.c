/* SPDX-License-Identifier: Apache-2.0 */
/* Dequantization at the boundary between a frozen int8 body and a trainable float32 head
 * (see et_train.h). */
#include "et_train.h"

et_status et_dequantize_s8_f32(const int8_t *q, float *out, int32_t n, int32_t zero_point,
                               float scale)
{
    int32_t i;
    if (q == 0 || out == 0) {
        return ET_ERR_NULL_ARG;
    }
    if (n <= 0) {
        return ET_ERR_BAD_SHAPE;
    }
    /* q - zero_point lies in [-255, 255], exact in float: one rounding, in the multiply, exactly
     * as numpy's float32(q - zp) * float32(scale). */
    for (i = 0; i < n; ++i) {
        out[i] = (float)((int32_t)q[i] - zero_point) * scale;
    }
    return ET_OK;
}

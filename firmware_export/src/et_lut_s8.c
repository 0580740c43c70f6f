/* SPDX-License-Identifier: Apache-2.0 */
/* int8 activation by table lookup (see et_activation.h). */
#include "et_activation.h"

et_status et_lut_s8(const int8_t *input, int8_t *output, int32_t n, const int8_t table[256])
{
    int32_t i;
    if (input == 0 || output == 0 || table == 0) {
        return ET_ERR_NULL_ARG;
    }
    if (n <= 0) {
        return ET_ERR_BAD_SHAPE;
    }
    for (i = 0; i < n; ++i) {
        output[i] = table[(int32_t)input[i] + 128];
    }
    return ET_OK;
}

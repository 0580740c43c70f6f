/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "et_status.h"

/* Designated initializers keep each string next to its code even if the enum is reordered. */
static const char *const et_status_names[ET_STATUS_COUNT] = {
    [ET_OK] = "ET_OK",
    [ET_ERR_NULL_ARG] = "ET_ERR_NULL_ARG",
    [ET_ERR_BAD_SHAPE] = "ET_ERR_BAD_SHAPE",
    [ET_ERR_BAD_PARAM] = "ET_ERR_BAD_PARAM",
    [ET_ERR_STORAGE_IO] = "ET_ERR_STORAGE_IO",
    [ET_ERR_STORAGE_EMPTY] = "ET_ERR_STORAGE_EMPTY",
    [ET_ERR_STORAGE_LAYOUT] = "ET_ERR_STORAGE_LAYOUT",
    [ET_ERR_STORAGE_FULL] = "ET_ERR_STORAGE_FULL",
    [ET_ERR_STORAGE_VERIFY] = "ET_ERR_STORAGE_VERIFY",
    [ET_ERR_NON_FINITE] = "ET_ERR_NON_FINITE",
};

const char *et_status_str(et_status status)
{
    const int idx = (int)status;
    if (idx < 0 || idx >= (int)ET_STATUS_COUNT || et_status_names[idx] == 0) {
        return "ET_UNKNOWN";
    }
    return et_status_names[idx];
}

/* 1 when the exponent field of the float with bit pattern b is all ones (an infinity or a NaN):
 * exponent + 1 reaches 256 only then. Branch-free, so a loop of these is a few ALU operations per
 * element (a bit-field extract, an add, an OR with a shift on Cortex-M). */
#define ET_NON_FINITE_BIT(b) ((((b) >> 23) & 0xFFu) + 1u) >> 8

et_status et_check_finite_f32(const float *x, int32_t n)
{
    int32_t i = 0;
    uint32_t bad = 0u;
    if (x == 0 || n <= 0) {
        return n > 0 ? ET_ERR_NULL_ARG : ET_OK;
    }
    for (; i + 4 <= n; i += 4) { /* four per pass: the loop overhead shared */
        uint32_t b0, b1, b2, b3; /* scalars, not an array: an array is copied through the stack */
        memcpy(&b0, &x[i], sizeof b0);
        memcpy(&b1, &x[i + 1], sizeof b1);
        memcpy(&b2, &x[i + 2], sizeof b2);
        memcpy(&b3, &x[i + 3], sizeof b3);
        bad |= ET_NON_FINITE_BIT(b0) | ET_NON_FINITE_BIT(b1) | ET_NON_FINITE_BIT(b2) | ET_NON_FINITE_BIT(b3);
    }
    for (; i < n; ++i) {
        uint32_t bits;
        memcpy(&bits, &x[i], sizeof bits);
        bad |= ET_NON_FINITE_BIT(bits);
    }
    return bad != 0u ? ET_ERR_NON_FINITE : ET_OK;
}

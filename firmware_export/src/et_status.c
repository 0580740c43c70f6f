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

et_status et_check_finite_f32(const float *x, int32_t n)
{
    int32_t i;
    uint32_t bad = 0u;
    if (x == 0 || n <= 0) {
        return n > 0 ? ET_ERR_NULL_ARG : ET_OK;
    }
    for (i = 0; i < n; ++i) {
        uint32_t bits;
        memcpy(&bits, &x[i], sizeof bits);
        /* All exponent bits set: an infinity or a NaN. */
        bad |= (uint32_t)((bits & 0x7F800000u) == 0x7F800000u);
    }
    return bad != 0u ? ET_ERR_NON_FINITE : ET_OK;
}

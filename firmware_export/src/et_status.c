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
};

const char *et_status_str(et_status status)
{
    const int idx = (int)status;
    if (idx < 0 || idx >= (int)ET_STATUS_COUNT || et_status_names[idx] == 0) {
        return "ET_UNKNOWN";
    }
    return et_status_names[idx];
}

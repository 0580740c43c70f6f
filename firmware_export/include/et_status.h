/* SPDX-License-Identifier: Apache-2.0 */
/* edgetrain runtime: status codes returned by every kernel. */
#ifndef ET_STATUS_H
#define ET_STATUS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    ET_OK = 0,
    ET_ERR_NULL_ARG,   /* a required pointer was NULL */
    ET_ERR_BAD_SHAPE,  /* a dimension was <= 0 */
    ET_ERR_BAD_PARAM,  /* a parameter is out of its valid range (e.g. act_min > act_max) */
    ET_ERR_STORAGE_IO,      /* a storage callback (read/erase/write) reported failure */
    ET_ERR_STORAGE_EMPTY,   /* no storage bank holds a valid (CRC-checked) commit */
    ET_ERR_STORAGE_LAYOUT,  /* the stored payload does not match the requested parameter layout */
    ET_ERR_STORAGE_FULL,    /* the payload does not fit in one storage bank */
    ET_ERR_STORAGE_VERIFY,  /* read-back after writing a bank did not match what was written */
    ET_ERR_NON_FINITE,      /* a float input holds NaN or +-inf: no output was computed */
    ET_STATUS_COUNT    /* number of codes; not a status */
} et_status;

/* Human-readable name of a status; never NULL (unknown codes give "ET_UNKNOWN"). */
const char *et_status_str(et_status status);

/* ET_ERR_NON_FINITE if any of the n floats at x is NaN or +-inf, else ET_OK (n <= 0: ET_OK).
 * Classifies the bit patterns (no floating-point arithmetic, so no FPU or libm is needed, and
 * -ffast-math cannot remove the check). */
et_status et_check_finite_f32(const float *x, int32_t n);

#ifdef __cplusplus
}
#endif

#endif /* ET_STATUS_H */

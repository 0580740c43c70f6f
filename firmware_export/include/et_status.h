/* edgetrain runtime: status codes returned by every kernel. */
#ifndef ET_STATUS_H
#define ET_STATUS_H

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
    ET_STATUS_COUNT    /* number of codes; not a status */
} et_status;

/* Human-readable name of a status; never NULL (unknown codes give "ET_UNKNOWN"). */
const char *et_status_str(et_status status);

#ifdef __cplusplus
}
#endif

#endif /* ET_STATUS_H */

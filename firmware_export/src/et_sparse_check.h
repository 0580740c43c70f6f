/* SPDX-License-Identifier: Apache-2.0 */
/* Argument validation and index access shared by the sparse kernels (private to the runtime). */
#ifndef ET_SPARSE_CHECK_H
#define ET_SPARSE_CHECK_H

#include "et_requant.h"
#include "et_sparse.h"

/* Element i of an index array of 1, 2 or 4 byte unsigned elements. Used where the cost is per row
 * or where the reference wants plain code; the fast inner loops are specialised per width. */
static inline int32_t et_sp_idx(const void *a, int32_t bytes, int32_t i)
{
    if (bytes == 1) {
        return (int32_t)((const uint8_t *)a)[i];
    }
    if (bytes == 2) {
        return (int32_t)((const uint16_t *)a)[i];
    }
    return (int32_t)((const uint32_t *)a)[i];
}

/* Gap of delta entry i (8- or 4-bit stream). */
static inline int32_t et_sp_gap(const uint8_t *gaps, int32_t format, int32_t i)
{
    if (format == ET_SPARSE_DELTA8) {
        return (int32_t)gaps[i];
    }
    return (int32_t)((gaps[i >> 1] >> ((i & 1) << 2)) & 0x0Fu);
}

static inline int et_sp_width_ok(int32_t bytes)
{
    return bytes == 1 || bytes == 2 || bytes == 4;
}

/* Grouped: the runs cover exactly n_out rows and n_entries entries, each row at most n_in long.
 * The walk stops once n_out rows are covered, so it reads no further than a valid table. */
static inline et_status et_sp_check_runs(const et_sparse_weights *w, int32_t n_in, int32_t n_out)
{
    int32_t rows = 0;
    int32_t entries = 0;
    int32_t i;
    if (w->idx1_bytes != 4) {
        return ET_ERR_BAD_PARAM; /* the kernels load 32-bit column indices */
    }
    for (i = 0; rows < n_out; ++i) {
        const int32_t len = et_sp_idx(w->idx0, w->idx0_bytes, 2 * i);
        const int32_t count = et_sp_idx(w->idx0, w->idx0_bytes, 2 * i + 1);
        if (count < 1 || len > n_in || count > n_out - rows || len * count > w->n_entries - entries) {
            return ET_ERR_BAD_PARAM;
        }
        rows += count;
        entries += len * count;
    }
    return entries == w->n_entries ? ET_OK : ET_ERR_BAD_PARAM;
}

/* Structural checks of the weights against the [n_out][n_in] shape. `format` is the format the
 * kernel implements, or 0 for the reference kernels, which take any. */
static inline et_status et_sp_check_weights(const et_sparse_weights *w, int32_t format,
                                            int32_t n_in, int32_t n_out)
{
    const int32_t f = w->format;
    const int two_arrays = f == ET_SPARSE_CSR || f == ET_SPARSE_COO || f == ET_SPARSE_MOTIF ||
                           f == ET_SPARSE_CSC || f == ET_SPARSE_GROUPED;
    if ((format != 0 && f != format && !(format == ET_SPARSE_DELTA8 && f == ET_SPARSE_DELTA4)) ||
        f < ET_SPARSE_CSR || f > ET_SPARSE_GROUPED || w->n_entries < 0) {
        return ET_ERR_BAD_PARAM;
    }
    if (!et_sp_width_ok(w->idx0_bytes) || (two_arrays && !et_sp_width_ok(w->idx1_bytes))) {
        return ET_ERR_BAD_PARAM;
    }
    if (w->block_rows < 1 || w->block_cols < 1 ||
        (f != ET_SPARSE_MOTIF && (w->block_rows != 1 || w->block_cols != 1)) ||
        n_out % w->block_rows != 0 || n_in % w->block_cols != 0) {
        return ET_ERR_BAD_PARAM;
    }
    /* CSR's row_ptr, CSC's col_ptr, the grouped runs and the bitmap always have elements; the
     * rest only when entries exist. */
    if (((f == ET_SPARSE_CSR || f == ET_SPARSE_MOTIF || f == ET_SPARSE_BITMAP ||
          f == ET_SPARSE_CSC || f == ET_SPARSE_GROUPED) && w->idx0 == 0) ||
        (w->n_entries > 0 && (w->idx0 == 0 || w->values == 0 || (two_arrays && w->idx1 == 0)))) {
        return ET_ERR_NULL_ARG;
    }
    if ((f == ET_SPARSE_CSR || f == ET_SPARSE_MOTIF) &&
        et_sp_idx(w->idx0, w->idx0_bytes, n_out / w->block_rows) != w->n_entries) {
        return ET_ERR_BAD_PARAM;  /* row_ptr[n_rows] must be nnz */
    }
    if (f == ET_SPARSE_CSC && et_sp_idx(w->idx0, w->idx0_bytes, n_in) != w->n_entries) {
        return ET_ERR_BAD_PARAM;  /* col_ptr[n_cols] must be nnz */
    }
    if (f == ET_SPARSE_GROUPED) {
        return et_sp_check_runs(w, n_in, n_out);
    }
    return ET_OK;
}

static inline et_status et_sp_check_f32(const et_dense_f32_params *p, const et_sparse_weights *w,
                                        int32_t format, const float *in, const float *out)
{
    if (p == 0 || w == 0 || in == 0 || out == 0) {
        return ET_ERR_NULL_ARG;
    }
    if (p->batch <= 0 || p->n_in <= 0 || p->n_out <= 0) {
        return ET_ERR_BAD_SHAPE;
    }
    if (!(p->act_min <= p->act_max)) { /* negated so that a NaN bound is rejected too */
        return ET_ERR_BAD_PARAM;
    }
    return et_sp_check_weights(w, format, p->n_in, p->n_out);
}

static inline et_status et_sp_check_s8(const et_dense_s8_params *p, const et_sparse_weights *w,
                                       int32_t format, const int8_t *in, const int8_t *out)
{
    if (p == 0 || w == 0 || in == 0 || out == 0 || p->multipliers == 0 || p->shifts == 0) {
        return ET_ERR_NULL_ARG;
    }
    if (p->batch <= 0 || p->n_in <= 0 || p->n_out <= 0) {
        return ET_ERR_BAD_SHAPE;
    }
    if (p->act_min < -128 || p->act_max > 127 || p->act_min > p->act_max ||
        p->input_offset < -127 || p->input_offset > 128 || p->output_offset < -128 ||
        p->output_offset > 127) {
        return ET_ERR_BAD_PARAM;
    }
    return et_sp_check_weights(w, format, p->n_in, p->n_out);
}

static inline float et_sp_clampf(float v, float lo, float hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* The dense int8 output stage (et_dense_s8_ref): requantize, add the output offset, clamp. */
static inline int8_t et_sp_requant(const et_dense_s8_params *p, int32_t acc, int32_t o)
{
    const int32_t c = p->per_channel ? o : 0;
    const int32_t v = et_mbqm(acc, p->multipliers[c], p->shifts[c]) + p->output_offset;
    return (int8_t)et_clamp_i32(v, p->act_min, p->act_max);
}

/* Same result for multipliers in [0, 2^31) (documented in et_dense.h), in fewer instructions. */
static inline int8_t et_sp_requant_q31(const et_dense_s8_params *p, int32_t acc, int32_t o)
{
    const int32_t c = p->per_channel ? o : 0;
    const int32_t v = et_mbqm_q31(acc, p->multipliers[c], p->shifts[c]) + p->output_offset;
    return (int8_t)et_clamp_i32(v, p->act_min, p->act_max);
}

#endif /* ET_SPARSE_CHECK_H */

/* SPDX-License-Identifier: Apache-2.0 */
/* edgetrain runtime: sparse (masked) fully connected layers.
 *
 * Same maths as et_dense.h, computed only over the stored weights of a compact sparse matrix:
 *   float: y[o] = clamp(bias[o] + sum_{stored (o,k)} x[k] * W[o][k], act_min, act_max)
 *   int8:  acc[o] = bias[o] + sum_{stored (o,k)} (x[k] + input_offset) * W[o][k]
 *          y[o] = clamp(et_mbqm(acc[o], mult[c], shift[c]) + output_offset, act_min, act_max)
 * Unstored weights are zero and contribute nothing, so the int8 results equal the dense int8
 * kernel on the decoded matrix bit for bit.
 *
 * The matrix is in C layout, one row per output: [n_out][n_in]. Formats (the arrays are exactly
 * what edgetrain/formats/sparse.py emits; index arrays are uint8, uint16 or uint32 as recorded in
 * idx0_bytes / idx1_bytes):
 *   ET_SPARSE_CSR     idx0 = row_ptr[n_out + 1], idx1 = cols[nnz], values[nnz]
 *   ET_SPARSE_COO     idx0 = rows[nnz], idx1 = cols[nnz], values[nnz], sorted row-major
 *   ET_SPARSE_DELTA8  idx0 = gaps[n_entries] (uint8): entry i sits at flat row-major position
 *                     p_i = p_{i-1} + 1 + gap_i, p_{-1} = -1; fillers are ordinary entries of value 0
 *   ET_SPARSE_DELTA4  idx0 = gaps[ceil(n_entries / 2)], entry 2j in the low nibble of gaps[j],
 *                     entry 2j+1 in the high nibble; otherwise as DELTA8
 *   ET_SPARSE_BITMAP  idx0 = bits[ceil(n_out * n_in / 8)]: position p is bit (p & 7) of bits[p >> 3]
 *                     (rows are not byte-padded), values[nnz] in position order
 *   ET_SPARSE_CSC     idx0 = col_ptr[n_in + 1], idx1 = row_offsets[nnz], values[nnz]:
 *                     column-major (column by column, rows ascending within a column); a row
 *                     is stored as its byte offset 4 * row (index width from 4 * (n_out - 1))
 *   ET_SPARSE_GROUPED idx0 = runs[2 * n_runs]: (length, count) pairs, the next `count` rows each
 *                     store `length` entries (rows in natural order); idx1 = cols[nnz] (always
 *                     uint32), values[nnz]: CSR's entries with the row pointer replaced by runs
 *   ET_SPARSE_MOTIF   a block-shared layer: every block_rows x block_cols block of W is all zero or
 *                     holds one value. idx0/idx1/values are the CSR of the block grid
 *                     [n_out / block_rows][n_in / block_cols] (one value per active block).
 * A matrix with no stored weight (n_entries == 0) may pass NULL for every array except CSR's
 * row_ptr and the bitmap (which always have elements).
 *
 * Kernels. `et_sparse_f32_ref` / `et_sparse_s8_ref` take any format and are the plain reference
 * (entry by entry, in stored order). The per-format kernels are the fast variants; all are always
 * callable by name. The motif kernels sum each group of block_cols inputs once into `scratch`
 * (n_in / block_cols floats or int32), then do one multiply per active block and add the product to
 * the block_rows outputs of its block row.
 *
 * The grouped kernels run each run of equal-length rows as one loop; on Cortex-M4F/M7 the float
 * kernel has a two-row assembly loop per length 0..24 for ReLU layers (17 instructions per 6
 * stored weights plus 3.5 per row, see et_sparse_grouped.c). Rows sorted by length give few runs;
 * the exporter reorders hidden units to get them.
 *
 * The CSC kernels are input-driven: outputs start at the bias, then every column k whose input
 * is non-zero adds x[k] * W[o][k] into its stored rows o (scatter); zero inputs (half the
 * activations after a ReLU) cost one test. Each output still sums its terms in increasing column
 * order from the bias, the reference's order, so only skipped 0 * w terms differ (weights must be
 * finite; a skipped +0 can only change the sign of a zero sum). The float kernel accumulates in
 * `output` (it must not overlap `input`); the int8 kernel accumulates in `scratch` (n_out int32,
 * caller-owned) and needs `bias` (it ignores eff_bias: the input offset is what makes an input
 * zero, so it is added per visited column).
 *
 * int8: the other fast kernels use params->eff_bias when given (bias[o] + input_offset * sum_k W[o][k],
 * quant.effective_bias), so their inner loops do not add the input offset; the references ignore
 * eff_bias. Multipliers must be in [0, 2^31) as in et_dense.h.
 */
#ifndef ET_SPARSE_H
#define ET_SPARSE_H

#include <stdint.h>

#include "et_dense.h"
#include "et_status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    ET_SPARSE_CSR = 1,
    ET_SPARSE_COO = 2,
    ET_SPARSE_DELTA8 = 3,
    ET_SPARSE_DELTA4 = 4,
    ET_SPARSE_BITMAP = 5,
    ET_SPARSE_MOTIF = 6,
    ET_SPARSE_CSC = 7,
    ET_SPARSE_GROUPED = 8
} et_sparse_format;

/* Longest row (stored weights) et_sparse_f32_grouped runs in its Cortex-M4F/M7 assembly loops; its
 * jump tables are written for lengths 0..ET_GROUPED_ASM_MAX_ROW. Longer rows take the C loop. */
#define ET_GROUPED_ASM_MAX_ROW 24

typedef struct {
    int32_t format;      /* et_sparse_format */
    int32_t n_entries;   /* elements of values (delta: fillers included; motif: active blocks) */
    int32_t idx0_bytes;  /* element size of idx0: 1, 2 or 4 (delta, bitmap: 1) */
    int32_t idx1_bytes;  /* element size of idx1: 1, 2 or 4; 0 when the format has no idx1 */
    int32_t block_rows;  /* motif block height (outputs per block); 1 for other formats */
    int32_t block_cols;  /* motif block width (inputs per block); 1 for other formats */
    const void *idx0;
    const void *idx1;
    const void *values;  /* float for the f32 kernels, int8_t for the s8 kernels */
} et_sparse_weights;

/* float32. bias may be NULL (zeros). Shapes and the clamp come from the dense params struct. */
et_status et_sparse_f32_ref(const et_dense_f32_params *params, const et_sparse_weights *w,
                            const float *input, const float *bias, float *output);
et_status et_sparse_f32_csr(const et_dense_f32_params *params, const et_sparse_weights *w,
                            const float *input, const float *bias, float *output);
et_status et_sparse_f32_coo(const et_dense_f32_params *params, const et_sparse_weights *w,
                            const float *input, const float *bias, float *output);
et_status et_sparse_f32_delta(const et_dense_f32_params *params, const et_sparse_weights *w,
                              const float *input, const float *bias, float *output);
et_status et_sparse_f32_bitmap(const et_dense_f32_params *params, const et_sparse_weights *w,
                               const float *input, const float *bias, float *output);
et_status et_sparse_f32_csc(const et_dense_f32_params *params, const et_sparse_weights *w,
                            const float *input, const float *bias, float *output);
et_status et_sparse_f32_grouped(const et_dense_f32_params *params, const et_sparse_weights *w,
                                const float *input, const float *bias, float *output);
/* scratch: n_in / block_cols floats, caller-owned, must not overlap input or output. */
et_status et_sparse_f32_motif(const et_dense_f32_params *params, const et_sparse_weights *w,
                              const float *input, const float *bias, float *output, float *scratch);

/* int8 (per-channel or per-tensor, as et_dense_s8). bias may be NULL (zeros). */
et_status et_sparse_s8_ref(const et_dense_s8_params *params, const et_sparse_weights *w,
                           const int8_t *input, const int32_t *bias, int8_t *output);
et_status et_sparse_s8_csr(const et_dense_s8_params *params, const et_sparse_weights *w,
                           const int8_t *input, const int32_t *bias, int8_t *output);
et_status et_sparse_s8_coo(const et_dense_s8_params *params, const et_sparse_weights *w,
                           const int8_t *input, const int32_t *bias, int8_t *output);
et_status et_sparse_s8_delta(const et_dense_s8_params *params, const et_sparse_weights *w,
                             const int8_t *input, const int32_t *bias, int8_t *output);
et_status et_sparse_s8_bitmap(const et_dense_s8_params *params, const et_sparse_weights *w,
                              const int8_t *input, const int32_t *bias, int8_t *output);
et_status et_sparse_s8_grouped(const et_dense_s8_params *params, const et_sparse_weights *w,
                               const int8_t *input, const int32_t *bias, int8_t *output);
/* scratch: n_out int32 accumulators, caller-owned. */
et_status et_sparse_s8_csc(const et_dense_s8_params *params, const et_sparse_weights *w,
                           const int8_t *input, const int32_t *bias, int8_t *output,
                           int32_t *scratch);
/* scratch: n_in / block_cols int32 values, caller-owned. */
et_status et_sparse_s8_motif(const et_dense_s8_params *params, const et_sparse_weights *w,
                             const int8_t *input, const int32_t *bias, int8_t *output,
                             int32_t *scratch);

/* Scratch bytes the kernels above that take `scratch` need for these arguments (as CMSIS-NN's
 * arm_*_get_buffer_size): the caller provides at least this much, aligned for float / int32_t.
 * The size does not depend on the batch (the kernels reuse the scratch for every sample).
 * -1 when the kernel would reject the arguments' shape: a NULL pointer, a dimension or block size
 * below 1, n_in not a multiple of block_cols (motif), or a size beyond int32_t.
 * edgetrain/export/c/abi.py (scratch_bytes) computes the same numbers for the memory plan. */
int32_t et_sparse_f32_motif_scratch_bytes(const et_dense_f32_params *params,
                                          const et_sparse_weights *w);
int32_t et_sparse_s8_motif_scratch_bytes(const et_dense_s8_params *params,
                                         const et_sparse_weights *w);
int32_t et_sparse_s8_csc_scratch_bytes(const et_dense_s8_params *params,
                                       const et_sparse_weights *w);

#ifdef __cplusplus
}
#endif

#endif /* ET_SPARSE_H */

/* SPDX-License-Identifier: Apache-2.0 */
/* edgetrain runtime: dense layers whose weight is CLUSTERED, with bit-packed indices.
 *
 * A clustered weight is a codebook of k values (float32 or int8) and one index per weight entry,
 * stored packed at `bits` = 1, 2, 3 or 4 bits per entry, 2 <= k <= 2^bits:
 *   W[o][i] = codebook[index[o][i]]        (C layout [n_out][n_in], as et_dense.h)
 * The kernels read the packed indices inside the multiply-accumulate loop: no decoded weight
 * matrix exists in RAM at any time (TensorFlow Lite Micro decodes clustered weights into a RAM
 * buffer before each layer; here the flash saving comes without that RAM cost).
 *
 * ---- packed layout (edgetrain/formats/packed.py: pack_indices / unpack_indices) ----
 * Every row o has its own ET_CLUSTER_ROW_WORDS(n_in, bits) uint32_t words, rows one after the
 * other (so every row starts on a word boundary): words[o * row_words ...]. A row is a bit stream,
 * least significant bit first: stream bit s is bit s % 32 of the row's word s / 32. The inputs
 * are taken in groups of four, group g = i / 4 holding inputs 4g .. 4g + 3 in 4 * bits stream bits
 * starting at bit 4 * bits * g; inside a group the four fields (bits wide each, lowest first) hold
 * the indices of inputs
 *   4g + 0, 4g + 2, 4g + 1, 4g + 3
 * i.e. index[o][i] sits at stream bit 4 * bits * (i / 4) + bits * P[i % 4] with P = {0, 2, 1, 3}.
 * A group is thus two "pair keys" of 2 * bits bits: the low one, index(4g) | index(4g+2) << bits,
 * goes with the even bytes of the input word (SXTB16), the high one, index(4g+1) |
 * index(4g+3) << bits, with the odd bytes. Fields of inputs past n_in (a partial last group) and
 * the stream bits after the last group are 0 (et_cluster_indices_check rejects anything else).
 * Groups of 1, 2 and 4 bits never straddle a word; 3-bit groups (12 bits) may, and 3-bit indices
 * fill the words completely (32 indices in 3 words).
 * Size: ceil(ceil(n_in / 4) * bits / 8) words per row, at most ceil(n_in * bits / 32) + 1 words:
 * e.g. n_in = 256 takes 32, 24, 16 and 8 words per row at 4, 3, 2 and 1 bits.
 *
 * ---- int8 pair table (optional, edgetrain/formats/packed.py: pair_table) ----
 * ET_CLUSTER_PAIR_COUNT(bits) = 2^(2 bits) uint32_t words, one per pair key q = a | b << bits:
 *   pairs[q] = (uint16_t)c(a) | (uint32_t)(uint16_t)c(b) << 16,  c(j) = codebook[j] for j < k, else 0
 * two sign-extended int16 weights, the operand SMLAD multiplies with one SXTB16 lane pair of the
 * input. 4 bits: 256 words (1 KiB), 3 bits: 64 (256 bytes), 2 bits: 16, 1 bit: 4. The exporter
 * stores it in flash beside the indices (et_cluster_s8_pairs builds it at run time). It is only a
 * speed-up: with pairs == NULL the kernels work from the codebook alone and give the same result
 * (at 1 and 2 bits the fast kernel then builds the <= 16-word table on its stack per call; at 3
 * and 4 bits it takes a slower path, see the kernels below). The forward kernels trust it: check a
 * constant table once with et_cluster_s8_pairs_check.
 *
 * ---- numerical contract ----
 * float32: acc = bias[o] (0.0f without bias), then acc += x[b][i] * W[o][i] for i = 0 .. n_in - 1,
 *   y = clamp(acc, act_min, act_max): et_dense_f32_ref's order, so both kernels equal
 *   et_dense_f32_ref on the expanded matrix bit for bit when the compiler does not contract
 *   a * b + c (-ffp-contract=off, GCC's default under -std=c99); with contraction to fused
 *   multiply-add they agree to rounding.
 * int8: et_dense_s8_ref's arithmetic (et_dense.h) on the expanded int8 matrix, exact: per-tensor
 *   or per-channel requantization, the input and output offsets, the clamp. As et_dense_s8, the
 *   fast kernel starts from params->eff_bias when it is not NULL (bias + input_offset *
 *   sum_i W[o][i] over the EXPANDED weights, quant.effective_bias) and then ignores `bias`; the
 *   reference ignores eff_bias. Both equal et_dense_s8_ref on the expanded matrix bit for bit.
 *
 * Every kernel checks its arguments as et_dense_s8 / et_dense_f32 do (ET_ERR_NULL_ARG,
 * ET_ERR_BAD_SHAPE for a dimension below 1, ET_ERR_BAD_PARAM for bad clamp bounds or offsets), and
 * the clustering parameters: idx or idx->words NULL gives ET_ERR_NULL_ARG; bits outside 1..4 or k
 * outside 2..2^bits gives ET_ERR_BAD_PARAM. They do NOT read every index to check it is below k
 * (that would cost a pass over the weights per call): indices built or received at run time are
 * validated once with et_cluster_indices_check (edgetrain's exporter checks the constant arrays it
 * writes before writing them). No malloc; the fast kernels use at most a 16-word table and a few
 * locals of stack.
 *
 * Sources: et_dense_f32_cluster_ref.c (the float reference and et_cluster_indices_check),
 * et_dense_f32_cluster.c, et_dense_s8_cluster_ref.c (the int8 reference and the pair-table
 * functions), et_dense_s8_cluster.c.
 */
#ifndef ET_CLUSTER_H
#define ET_CLUSTER_H

#include <stdint.h>

#include "et_dense.h"
#include "et_status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ET_CLUSTER_MIN_BITS 1
#define ET_CLUSTER_MAX_BITS 4

/* uint32_t words of one packed row of n_in indices at `bits` bits (n_in >= 1, bits 1..4). */
#define ET_CLUSTER_ROW_WORDS(n_in, bits) (((((n_in) + 3) / 4) * (bits) + 7) / 8)
/* uint32_t words of the int8 pair table at `bits` bits. */
#define ET_CLUSTER_PAIR_COUNT(bits) (1 << (2 * (bits)))

typedef struct {
    const uint32_t *words; /* n_out * ET_CLUSTER_ROW_WORDS(n_in, bits) words, layout above */
    int32_t bits;          /* 1, 2, 3 or 4 */
    int32_t k;             /* codebook entries, 2 <= k <= 2^bits; every index is below k */
} et_cluster_indices;

/* ET_OK when idx describes a valid [n_out][n_in] clustered weight: bits and k in range, every
 * index below k, every padding bit 0. ET_ERR_NULL_ARG for a NULL idx or idx->words,
 * ET_ERR_BAD_SHAPE for n_out or n_in below 1, ET_ERR_BAD_PARAM otherwise. Reads every word once;
 * meant for start-up, since the forward kernels do not check the indices. */
et_status et_cluster_indices_check(const et_cluster_indices *idx, int32_t n_out, int32_t n_in);

/* Fill pairs[0 .. ET_CLUSTER_PAIR_COUNT(bits) - 1] with the int8 pair table of codebook[0 .. k-1]
 * (layout above). ET_ERR_NULL_ARG / ET_ERR_BAD_PARAM (bits outside 1..4, k outside 2..2^bits). */
et_status et_cluster_s8_pairs(const int8_t *codebook, int32_t k, int32_t bits, uint32_t *pairs);
/* ET_OK when pairs is exactly the table et_cluster_s8_pairs builds, else ET_ERR_BAD_PARAM (or the
 * status et_cluster_s8_pairs gives for the arguments). */
et_status et_cluster_s8_pairs_check(const int8_t *codebook, int32_t k, int32_t bits,
                                    const uint32_t *pairs);

/* ---- float32 ----
 * y[batch][n_out] = clamp(x W^T + bias), W expanded from codebook[k] and idx (contract above).
 * bias [n_out] or NULL (zeros); output must not overlap input.
 * The fast kernel computes four rows per pass sharing each input load, each row's accumulator
 * still summed over i upwards. */
et_status et_dense_f32_cluster_ref(const et_dense_f32_params *params, const float *input,
                                   const float *codebook, const et_cluster_indices *idx,
                                   const float *bias, float *output);
et_status et_dense_f32_cluster(const et_dense_f32_params *params, const float *input,
                               const float *codebook, const et_cluster_indices *idx,
                               const float *bias, float *output);

/* ---- int8 ----
 * y = et_dense_s8_ref(params, input, W, bias) with W expanded from codebook[k] (int8, symmetric)
 * and idx. pairs: NULL, or the pair table of this codebook (ET_CLUSTER_PAIR_COUNT(idx->bits)
 * words; the reference ignores it). bias [n_out] or NULL; the fast kernel uses params->eff_bias
 * instead when it is set (et_dense.h). output must not overlap input.
 * Fast kernel, cores with the DSP extension (Cortex-M4/M7; ET_DENSE_S8_USES_DSP): four rows per
 * pass share each input word, widened once to two SXTB16 lane pairs; the weights of two inputs
 * come from one pair-table load and go into one SMLAD. At 4 bits with the table the inner loop is
 * inline assembly (one LDRB per pair key, ~1.7 instructions per MAC); at 1 and 2 bits the table
 * is built on the stack when not given. At 3 and 4 bits without a table, and on cores without the
 * DSP extension, four rows per pass look each weight up in the codebook. */
et_status et_dense_s8_cluster_ref(const et_dense_s8_params *params, const int8_t *input,
                                  const int8_t *codebook, const et_cluster_indices *idx,
                                  const uint32_t *pairs, const int32_t *bias, int8_t *output);
et_status et_dense_s8_cluster(const et_dense_s8_params *params, const int8_t *input,
                              const int8_t *codebook, const et_cluster_indices *idx,
                              const uint32_t *pairs, const int32_t *bias, int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* ET_CLUSTER_H */

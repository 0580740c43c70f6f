/* SPDX-License-Identifier: Apache-2.0 */
/* Argument validation and packed-index access shared by the clustered dense kernels (private to
 * the runtime sources). The layout is the one et_cluster.h documents. */
#ifndef ET_CLUSTER_CHECK_H
#define ET_CLUSTER_CHECK_H

#include "et_cluster.h"
#include "et_dense_check.h"

/* bits in 1..4 and 2 <= k <= 2^bits. */
static inline int et_cl_code_ok(int32_t bits, int32_t k)
{
    return bits >= ET_CLUSTER_MIN_BITS && bits <= ET_CLUSTER_MAX_BITS && k >= 2 &&
           k <= ((int32_t)1 << bits);
}

/* The dense kernel's checks (the codebook standing for the weights), then the indices'. */
static inline et_status et_cl_f32_check(const et_dense_f32_params *p, const float *in,
                                        const float *codebook, const et_cluster_indices *idx,
                                        const float *out)
{
    const et_status st = et_dense_f32_check(p, in, codebook, out);
    if (st != ET_OK) {
        return st;
    }
    if (idx == 0 || idx->words == 0) {
        return ET_ERR_NULL_ARG;
    }
    return et_cl_code_ok(idx->bits, idx->k) ? ET_OK : ET_ERR_BAD_PARAM;
}

static inline et_status et_cl_s8_check(const et_dense_s8_params *p, const int8_t *in,
                                       const int8_t *codebook, const et_cluster_indices *idx,
                                       const int8_t *out)
{
    const et_status st = et_dense_s8_check(p, in, codebook, out);
    if (st != ET_OK) {
        return st;
    }
    if (idx == 0 || idx->words == 0) {
        return ET_ERR_NULL_ARG;
    }
    return et_cl_code_ok(idx->bits, idx->k) ? ET_OK : ET_ERR_BAD_PARAM;
}

/* Stream bit offset of the index of input i: group i / 4, field P[i % 4] with P = {0, 2, 1, 3}. */
static inline uint32_t et_cl_pos(int32_t i, int32_t bits)
{
    const uint32_t j = (uint32_t)i & 3u;
    const uint32_t field = ((j & 1u) << 1) | (j >> 1);
    return ((uint32_t)i >> 2) * 4u * (uint32_t)bits + field * (uint32_t)bits;
}

/* `n` (<= 32) stream bits of a row from bit `pos`, in the low bits; the higher bits of the result
 * are whatever follows in the stream (callers mask). Reads the next word only when the bits
 * straddle one, so it never reads past the row. */
static inline uint32_t et_cl_bits_at(const uint32_t *row, uint32_t pos, uint32_t n)
{
    const uint32_t s = pos & 31u;
    const uint32_t *w = row + (pos >> 5);
    uint32_t v = w[0] >> s;
    if (s + n > 32u) {
        v |= w[1] << (32u - s);
    }
    return v;
}

/* index[o][i] of the row starting at `row`. */
static inline uint32_t et_cl_index(const uint32_t *row, int32_t i, int32_t bits)
{
    return et_cl_bits_at(row, et_cl_pos(i, bits), (uint32_t)bits) & ((1u << bits) - 1u);
}

/* The 4 * bits bits of group g (fields 0..3 lowest first; higher bits unspecified). */
static inline uint32_t et_cl_group(const uint32_t *row, int32_t g, int32_t bits)
{
    return et_cl_bits_at(row, (uint32_t)g * 4u * (uint32_t)bits, 4u * (uint32_t)bits);
}

#if defined(__GNUC__)
#define ET_CL_ALWAYS_INLINE static inline __attribute__((always_inline))
#else
#define ET_CL_ALWAYS_INLINE static inline
#endif

/* et_cl_group for the fast kernels' loops specialised per width (`bits` a constant there): one
 * load, and a second only for a 3-bit group that straddles two words. */
ET_CL_ALWAYS_INLINE uint32_t et_cl_group_fixed(const uint32_t *row, int32_t g, const int32_t bits)
{
    const uint32_t pos = (uint32_t)g * 4u * (uint32_t)bits;
    const uint32_t s = pos & 31u;
    uint32_t v = row[pos >> 5] >> s;
    if (bits == 3 && s > 20u) {
        v |= row[(pos >> 5) + 1u] << (32u - s);
    }
    return v;
}

/* The int8 pair table (et_cluster.h) of codebook[0 .. k-1]; arguments already checked. */
static inline void et_cl_fill_pairs(const int8_t *codebook, int32_t k, int32_t bits,
                                    uint32_t *pairs)
{
    const int32_t n = (int32_t)1 << bits;
    int32_t a;
    int32_t b;
    for (b = 0; b < n; ++b) {
        const uint32_t hi = b < k ? (uint32_t)(uint16_t)(int16_t)codebook[b] << 16 : 0u;
        for (a = 0; a < n; ++a) {
            const uint32_t lo = a < k ? (uint32_t)(uint16_t)(int16_t)codebook[a] : 0u;
            pairs[a | (b << bits)] = lo | hi;
        }
    }
}

#endif /* ET_CLUSTER_CHECK_H */

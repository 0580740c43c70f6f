/* SPDX-License-Identifier: Apache-2.0 */
/* Fast float32 clustered dense kernel (et_cluster.h).
 *
 * Four output rows per pass share each group of four inputs (then one row at a time for the
 * leftover rows); the index bits of a group are fetched with one word load per row and the four
 * weights looked up in the codebook. Every row keeps its own accumulator, summed over the inputs
 * upwards as in et_dense_f32_ref, so without fused multiply-add contraction the result is that of
 * the reference bit for bit. The loops are specialised per index width (constant shifts).
 */
#include "et_cluster.h"
#include "et_cluster_check.h"

#if defined(__GNUC__)
#define ET_CLF_INLINE static inline __attribute__((always_inline))
#else
#define ET_CLF_INLINE static inline
#endif

/* acc[r] += sum_i x[i] W[o+r][i] for the four rows from `row`, i ascending per row. */
ET_CLF_INLINE void et_clf_rows4(const float *x, const uint32_t *row, int32_t rw, int32_t n_in,
                                const float *cb, float *acc, const int32_t bits)
{
    const uint32_t m = (1u << bits) - 1u;
    const uint32_t *r1 = row + rw;
    const uint32_t *r2 = r1 + rw;
    const uint32_t *r3 = r2 + rw;
    const int32_t n_grp = n_in >> 2;
    float a0 = acc[0];
    float a1 = acc[1];
    float a2 = acc[2];
    float a3 = acc[3];
    int32_t g;
    int32_t i;
    for (g = 0; g < n_grp; ++g) {
        const float x0 = x[4 * g];
        const float x1 = x[4 * g + 1];
        const float x2 = x[4 * g + 2];
        const float x3 = x[4 * g + 3];
        const uint32_t v0 = et_cl_group_fixed(row, g, bits);
        const uint32_t v1 = et_cl_group_fixed(r1, g, bits);
        const uint32_t v2 = et_cl_group_fixed(r2, g, bits);
        const uint32_t v3 = et_cl_group_fixed(r3, g, bits);
        /* Fields 0, 2, 1, 3 of a group are inputs 0, 1, 2, 3 (et_cluster.h). */
        a0 += x0 * cb[v0 & m];
        a1 += x0 * cb[v1 & m];
        a2 += x0 * cb[v2 & m];
        a3 += x0 * cb[v3 & m];
        a0 += x1 * cb[(v0 >> (2 * bits)) & m];
        a1 += x1 * cb[(v1 >> (2 * bits)) & m];
        a2 += x1 * cb[(v2 >> (2 * bits)) & m];
        a3 += x1 * cb[(v3 >> (2 * bits)) & m];
        a0 += x2 * cb[(v0 >> bits) & m];
        a1 += x2 * cb[(v1 >> bits) & m];
        a2 += x2 * cb[(v2 >> bits) & m];
        a3 += x2 * cb[(v3 >> bits) & m];
        a0 += x3 * cb[(v0 >> (3 * bits)) & m];
        a1 += x3 * cb[(v1 >> (3 * bits)) & m];
        a2 += x3 * cb[(v2 >> (3 * bits)) & m];
        a3 += x3 * cb[(v3 >> (3 * bits)) & m];
    }
    for (i = 4 * n_grp; i < n_in; ++i) {
        a0 += x[i] * cb[et_cl_index(row, i, bits)];
        a1 += x[i] * cb[et_cl_index(r1, i, bits)];
        a2 += x[i] * cb[et_cl_index(r2, i, bits)];
        a3 += x[i] * cb[et_cl_index(r3, i, bits)];
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* One row: the same order. */
ET_CLF_INLINE float et_clf_row1(const float *x, const uint32_t *row, int32_t n_in,
                                const float *cb, float a, const int32_t bits)
{
    const uint32_t m = (1u << bits) - 1u;
    const int32_t n_grp = n_in >> 2;
    int32_t g;
    int32_t i;
    for (g = 0; g < n_grp; ++g) {
        const uint32_t v = et_cl_group_fixed(row, g, bits);
        a += x[4 * g] * cb[v & m];
        a += x[4 * g + 1] * cb[(v >> (2 * bits)) & m];
        a += x[4 * g + 2] * cb[(v >> bits) & m];
        a += x[4 * g + 3] * cb[(v >> (3 * bits)) & m];
    }
    for (i = 4 * n_grp; i < n_in; ++i) {
        a += x[i] * cb[et_cl_index(row, i, bits)];
    }
    return a;
}

static inline float et_clf_clamp(float v, float lo, float hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* The whole layer at a constant width. */
ET_CLF_INLINE void et_clf_layer(const et_dense_f32_params *p, const float *input,
                                const float *cb, const uint32_t *words, const float *bias,
                                float *output, const int32_t bits)
{
    const int32_t n_in = p->n_in;
    const int32_t n_out = p->n_out;
    const int32_t rw = ET_CLUSTER_ROW_WORDS(n_in, bits);
    const float lo = p->act_min;
    const float hi = p->act_max;
    int32_t b;
    for (b = 0; b < p->batch; ++b) {
        const float *x = input + (int32_t)(b * n_in);
        float *y = output + (int32_t)(b * n_out);
        int32_t o = 0;
        for (; o + 4 <= n_out; o += 4) {
            float acc[4];
            int32_t r;
            for (r = 0; r < 4; ++r) {
                acc[r] = bias != 0 ? bias[o + r] : 0.0f;
            }
            et_clf_rows4(x, words + (int32_t)(o * rw), rw, n_in, cb, acc, bits);
            for (r = 0; r < 4; ++r) {
                y[o + r] = et_clf_clamp(acc[r], lo, hi);
            }
        }
        for (; o < n_out; ++o) {
            const float a = et_clf_row1(x, words + (int32_t)(o * rw), n_in, cb,
                                        bias != 0 ? bias[o] : 0.0f, bits);
            y[o] = et_clf_clamp(a, lo, hi);
        }
    }
}

/* One out-of-line instance per width. */
#if defined(__GNUC__)
#define ET_CLF_NOINLINE __attribute__((noinline))
#else
#define ET_CLF_NOINLINE
#endif
#define ET_CLF_INSTANCE(BITS)                                                                      \
    static ET_CLF_NOINLINE void et_clf_layer##BITS(const et_dense_f32_params *p, const float *in, \
                                                   const float *cb, const uint32_t *words,       \
                                                   const float *bias, float *out)                \
    {                                                                                            \
        et_clf_layer(p, in, cb, words, bias, out, BITS);                                         \
    }
ET_CLF_INSTANCE(1)
ET_CLF_INSTANCE(2)
ET_CLF_INSTANCE(3)
ET_CLF_INSTANCE(4)

et_status et_dense_f32_cluster(const et_dense_f32_params *p, const float *input,
                               const float *codebook, const et_cluster_indices *idx,
                               const float *bias, float *output)
{
    const et_status st = et_cl_f32_check(p, input, codebook, idx, output);
    if (st != ET_OK) {
        return st;
    }
    switch (idx->bits) {
    case 1:
        et_clf_layer1(p, input, codebook, idx->words, bias, output);
        break;
    case 2:
        et_clf_layer2(p, input, codebook, idx->words, bias, output);
        break;
    case 3:
        et_clf_layer3(p, input, codebook, idx->words, bias, output);
        break;
    default:
        et_clf_layer4(p, input, codebook, idx->words, bias, output);
        break;
    }
    return ET_OK;
}

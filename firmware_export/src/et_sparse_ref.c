/* SPDX-License-Identifier: Apache-2.0 */
/* Reference sparse kernels: every format, entry by entry in stored (row-major) order.
 *
 * A cursor walks the stored entries once per sample; each output row consumes the entries whose
 * flat position lies in that row. This is the numerical contract of the fast per-format kernels:
 * float sums run in the same order as numpy's stored-entry order, int8 is exact integer arithmetic.
 */
#include "et_sparse.h"
#include "et_sparse_check.h"

/* Walks the entries of any non-motif format in row-major order. */
typedef struct {
    const et_sparse_weights *w;
    int32_t n_in;
    int32_t k;      /* next entry */
    int32_t pos;    /* flat position of the last consumed entry (delta, bitmap), -1 at start */
    int32_t row;    /* current row (CSR) */
} et_sp_cursor;

/* Flat position of entry k (the cursor's next entry); only called while k < n_entries. */
static int32_t et_sp_next_pos(const et_sp_cursor *c)
{
    const et_sparse_weights *w = c->w;
    int32_t p;
    switch (w->format) {
    case ET_SPARSE_COO:
        return et_sp_idx(w->idx0, w->idx0_bytes, c->k) * c->n_in + et_sp_idx(w->idx1, w->idx1_bytes, c->k);
    case ET_SPARSE_CSR: {
        int32_t r = c->row;
        while (et_sp_idx(w->idx0, w->idx0_bytes, r + 1) <= c->k) {
            ++r; /* rows before entry k are exhausted */
        }
        return r * c->n_in + et_sp_idx(w->idx1, w->idx1_bytes, c->k);
    }
    case ET_SPARSE_BITMAP:
        p = c->pos + 1;
        while (((((const uint8_t *)w->idx0)[p >> 3] >> (p & 7)) & 1u) == 0u) {
            ++p;
        }
        return p;
    default: /* delta 8 / 4 */
        return c->pos + 1 + et_sp_gap((const uint8_t *)w->idx0, w->format, c->k);
    }
}

/* Grouped: the length of row o, from the run that covers it (a walk of the run table: plain, not
 * fast). The runs were validated to cover every row. */
static int32_t et_sp_grouped_len(const et_sparse_weights *w, int32_t o)
{
    int32_t i = 0;
    for (;;) {
        const int32_t count = et_sp_idx(w->idx0, w->idx0_bytes, 2 * i + 1);
        if (o < count) {
            return et_sp_idx(w->idx0, w->idx0_bytes, 2 * i);
        }
        o -= count;
        ++i;
    }
}

/* Sum of row `row` for float: consumes that row's entries. */
static float et_sp_row_f32(et_sp_cursor *c, int32_t row, const float *x, float acc)
{
    const float *v = (const float *)c->w->values;
    const int32_t end = (row + 1) * c->n_in;
    if (c->w->format == ET_SPARSE_GROUPED) {
        const int32_t stop = c->k + et_sp_grouped_len(c->w, row);
        for (; c->k < stop; ++c->k) {
            acc += x[((const uint32_t *)c->w->idx1)[c->k]] * v[c->k];
        }
        return acc;
    }
    while (c->k < c->w->n_entries) {
        const int32_t p = et_sp_next_pos(c);
        if (p >= end) {
            break;
        }
        acc += x[p - row * c->n_in] * v[c->k];
        c->pos = p;
        c->row = row;
        ++c->k;
    }
    return acc;
}

static int32_t et_sp_row_s8(et_sp_cursor *c, int32_t row, const int8_t *x, int32_t off, int32_t acc)
{
    const int8_t *v = (const int8_t *)c->w->values;
    const int32_t end = (row + 1) * c->n_in;
    if (c->w->format == ET_SPARSE_GROUPED) {
        const int32_t stop = c->k + et_sp_grouped_len(c->w, row);
        for (; c->k < stop; ++c->k) {
            acc += ((int32_t)x[((const uint32_t *)c->w->idx1)[c->k]] + off) * (int32_t)v[c->k];
        }
        return acc;
    }
    while (c->k < c->w->n_entries) {
        const int32_t p = et_sp_next_pos(c);
        if (p >= end) {
            break;
        }
        acc += ((int32_t)x[p - row * c->n_in] + off) * (int32_t)v[c->k];
        c->pos = p;
        c->row = row;
        ++c->k;
    }
    return acc;
}

/* Motif: row o is block row o / block_rows; each active block (r, g) with value v contributes
 * v * x[k] for every input k of group g. Expanded here entry by entry, as the dense matrix reads. */
static float et_sp_motif_row_f32(const et_sparse_weights *w, int32_t o, const float *x, float acc)
{
    const int32_t r = o / w->block_rows;
    const int32_t end = et_sp_idx(w->idx0, w->idx0_bytes, r + 1);
    const float *v = (const float *)w->values;
    int32_t k;
    int32_t i;
    for (k = et_sp_idx(w->idx0, w->idx0_bytes, r); k < end; ++k) {
        const int32_t g = et_sp_idx(w->idx1, w->idx1_bytes, k) * w->block_cols;
        for (i = 0; i < w->block_cols; ++i) {
            acc += x[g + i] * v[k];
        }
    }
    return acc;
}

static int32_t et_sp_motif_row_s8(const et_sparse_weights *w, int32_t o, const int8_t *x, int32_t off,
                                  int32_t acc)
{
    const int32_t r = o / w->block_rows;
    const int32_t end = et_sp_idx(w->idx0, w->idx0_bytes, r + 1);
    const int8_t *v = (const int8_t *)w->values;
    int32_t k;
    int32_t i;
    for (k = et_sp_idx(w->idx0, w->idx0_bytes, r); k < end; ++k) {
        const int32_t g = et_sp_idx(w->idx1, w->idx1_bytes, k) * w->block_cols;
        for (i = 0; i < w->block_cols; ++i) {
            acc += ((int32_t)x[g + i] + off) * (int32_t)v[k];
        }
    }
    return acc;
}

/* CSC: entry (o, k) is found in column k's run of rows (ascending); the row sums its columns in
 * increasing order, like every other format. Quadratic, but plain. */
static int32_t et_sp_csc_find(const et_sparse_weights *w, int32_t o, int32_t k)
{
    int32_t e;
    const int32_t end = et_sp_idx(w->idx0, w->idx0_bytes, k + 1);
    for (e = et_sp_idx(w->idx0, w->idx0_bytes, k); e < end; ++e) {
        if (et_sp_idx(w->idx1, w->idx1_bytes, e) == 4 * o) { /* byte offsets */
            return e;
        }
    }
    return -1;
}

static float et_sp_csc_row_f32(const et_sparse_weights *w, int32_t o, int32_t n_in, const float *x,
                               float acc)
{
    int32_t k;
    for (k = 0; k < n_in; ++k) {
        const int32_t e = et_sp_csc_find(w, o, k);
        if (e >= 0) {
            acc += x[k] * ((const float *)w->values)[e];
        }
    }
    return acc;
}

static int32_t et_sp_csc_row_s8(const et_sparse_weights *w, int32_t o, int32_t n_in, const int8_t *x,
                                int32_t off, int32_t acc)
{
    int32_t k;
    for (k = 0; k < n_in; ++k) {
        const int32_t e = et_sp_csc_find(w, o, k);
        if (e >= 0) {
            acc += ((int32_t)x[k] + off) * (int32_t)((const int8_t *)w->values)[e];
        }
    }
    return acc;
}

et_status et_sparse_f32_ref(const et_dense_f32_params *p, const et_sparse_weights *w,
                            const float *input, const float *bias, float *output)
{
    int32_t b;
    int32_t o;
    const et_status st = et_sp_check_f32(p, w, 0, input, output);
    if (st != ET_OK) {
        return st;
    }
    for (b = 0; b < p->batch; ++b) {
        const float *x = input + (int32_t)(b * p->n_in);
        float *y = output + (int32_t)(b * p->n_out);
        et_sp_cursor c;
        c.w = w;
        c.n_in = p->n_in;
        c.k = 0;
        c.pos = -1;
        c.row = 0;
        for (o = 0; o < p->n_out; ++o) {
            const float init = bias != 0 ? bias[o] : 0.0f;
            const float acc = w->format == ET_SPARSE_MOTIF ? et_sp_motif_row_f32(w, o, x, init)
                              : w->format == ET_SPARSE_CSC ? et_sp_csc_row_f32(w, o, p->n_in, x, init)
                                                           : et_sp_row_f32(&c, o, x, init);
            y[o] = et_sp_clampf(acc, p->act_min, p->act_max);
        }
    }
    return ET_OK;
}

et_status et_sparse_s8_ref(const et_dense_s8_params *p, const et_sparse_weights *w,
                           const int8_t *input, const int32_t *bias, int8_t *output)
{
    int32_t b;
    int32_t o;
    const et_status st = et_sp_check_s8(p, w, 0, input, output);
    if (st != ET_OK) {
        return st;
    }
    for (b = 0; b < p->batch; ++b) {
        const int8_t *x = input + (int32_t)(b * p->n_in);
        int8_t *y = output + (int32_t)(b * p->n_out);
        et_sp_cursor c;
        c.w = w;
        c.n_in = p->n_in;
        c.k = 0;
        c.pos = -1;
        c.row = 0;
        for (o = 0; o < p->n_out; ++o) {
            const int32_t init = bias != 0 ? bias[o] : 0;
            const int32_t acc =
                w->format == ET_SPARSE_MOTIF ? et_sp_motif_row_s8(w, o, x, p->input_offset, init)
                : w->format == ET_SPARSE_CSC ? et_sp_csc_row_s8(w, o, p->n_in, x, p->input_offset, init)
                                             : et_sp_row_s8(&c, o, x, p->input_offset, init);
            y[o] = et_sp_requant(p, acc, o);
        }
    }
    return ET_OK;
}

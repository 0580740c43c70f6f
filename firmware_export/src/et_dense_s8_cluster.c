/* SPDX-License-Identifier: Apache-2.0 */
/* Fast int8 clustered dense kernel (et_cluster.h), bit-exact with et_dense_s8_cluster_ref and so
 * with et_dense_s8_ref on the expanded weights: all sums are exact int32 arithmetic.
 *
 * Four output rows per pass share each group of four inputs (then two, then one for the leftover
 * rows). On cores with the DSP extension an input word is widened once into its even and odd
 * SXTB16 lane pairs, the input offset added (SXTAB16); the packed layout puts the indices of the
 * two weights that multiply one lane pair side by side (a "pair key"), so one load from the pair
 * table gives both weights as int16 halves and one SMLAD does two MACs:
 *   4 bits  one byte = one pair key: LDRB, LDR [table, key, lsl #2], SMLAD per two MACs, inline
 *           assembly (gcc 12 does not keep the 14 live values of the 4-row loop in registers);
 *   2 bits  one byte = the two keys of a group (a 16-word table, built on the stack if not given);
 *   1 bit   one byte = two groups (a 4-word table, likewise);
 *   3 bits  one unaligned halfword holds a 12-bit group (a 64-word table, from flash).
 * Without the table at 3 or 4 bits, and on cores without the DSP extension, every weight is
 * looked up in the codebook (four rows per pass, loops specialised per index width).
 */
#include <string.h>

#include "et_cluster.h"
#include "et_cluster_check.h"
#include "et_requant.h"

#if defined(__ARM_FEATURE_DSP) && !defined(__ARM_BIG_ENDIAN)
#define ET_CL8_DSP 1
#include <arm_acle.h>
#else
#define ET_CL8_DSP 0
#endif

#if defined(__GNUC__)
#define ET_CL8_INLINE static inline __attribute__((always_inline))
#define ET_CL8_NOINLINE __attribute__((noinline))
#else
#define ET_CL8_INLINE static inline
#define ET_CL8_NOINLINE
#endif

/* Per-call constants, gathered once. */
typedef struct et_cl8_ctx et_cl8_ctx;
struct et_cl8_ctx {
    int32_t n_in;
    int32_t n_grp;        /* full groups of four inputs: n_in / 4 */
    int32_t off;          /* input offset applied in the loops (0 when eff_bias is used) */
    int32_t out_offset;
    int32_t act_min;
    int32_t act_max;
    int32_t ch_step;      /* 1 per channel, 0 per tensor */
    int32_t bits;
    int32_t rw;           /* words per packed row */
    const uint32_t *words;
    const int8_t *cb;
    const uint32_t *pairs; /* the pair table, or NULL */
    const int32_t *init;  /* eff_bias, else bias, else NULL (zeros) */
    const int32_t *mult;
    const int32_t *shift;
#if ET_CL8_DSP
    uint32_t off2;        /* the input offset in both halves, for SXTAB16 */
    uint32_t lo4;         /* act_min in each byte, for the packed SSUB8/SEL clamp */
    uint32_t hi4;         /* act_max in each byte */
    /* The pair-table loops of this width: four rows; two or one. */
    void (*rows4)(const et_cl8_ctx *c, const int8_t *x, const uint8_t *w0, int32_t *acc);
    void (*rows2)(const et_cl8_ctx *c, const int8_t *x, const uint8_t *w0, int32_t rows,
                  int32_t *acc);
#endif
    /* The codebook-lookup loop of this width (rows 1..4). */
    void (*lookup)(const et_cl8_ctx *c, const int8_t *x, const uint32_t *row, int32_t rows,
                   int32_t *acc);
};

/* ---------------------------------------------------------------- codebook lookups (any core) */

#define ET_CL8_LOOKUP_ROW(A, V)                                                                  \
    (A) += x0 * (int32_t)cb[(V) & m] + x1 * (int32_t)cb[((V) >> (2 * bits)) & m] +             \
           x2 * (int32_t)cb[((V) >> bits) & m] + x3 * (int32_t)cb[((V) >> (3 * bits)) & m]

/* acc[0..rows-1] += sum over the full groups, rows = 4 or 1, weights from the codebook. */
ET_CL8_INLINE void et_cl8_lookup(const et_cl8_ctx *c, const int8_t *x, const uint32_t *row,
                                 int32_t rows, int32_t *acc, const int32_t bits)
{
    const uint32_t m = (1u << bits) - 1u;
    const int8_t *const cb = c->cb;
    const int32_t off = c->off;
    const int32_t n_grp = c->n_grp;
    int32_t g;
    if (rows == 4) {
        const int32_t rw = c->rw;
        const uint32_t *r1 = row + rw;
        const uint32_t *r2 = r1 + rw;
        const uint32_t *r3 = r2 + rw;
        int32_t a0 = acc[0];
        int32_t a1 = acc[1];
        int32_t a2 = acc[2];
        int32_t a3 = acc[3];
        for (g = 0; g < n_grp; ++g) {
            const int32_t x0 = (int32_t)x[4 * g] + off;
            const int32_t x1 = (int32_t)x[4 * g + 1] + off;
            const int32_t x2 = (int32_t)x[4 * g + 2] + off;
            const int32_t x3 = (int32_t)x[4 * g + 3] + off;
            const uint32_t v0 = et_cl_group_fixed(row, g, bits);
            const uint32_t v1 = et_cl_group_fixed(r1, g, bits);
            const uint32_t v2 = et_cl_group_fixed(r2, g, bits);
            const uint32_t v3 = et_cl_group_fixed(r3, g, bits);
            ET_CL8_LOOKUP_ROW(a0, v0);
            ET_CL8_LOOKUP_ROW(a1, v1);
            ET_CL8_LOOKUP_ROW(a2, v2);
            ET_CL8_LOOKUP_ROW(a3, v3);
        }
        acc[0] = a0;
        acc[1] = a1;
        acc[2] = a2;
        acc[3] = a3;
    } else {
        int32_t r;
        for (r = 0; r < rows; ++r) {
            const uint32_t *rr = row + r * c->rw;
            int32_t a = acc[r];
            for (g = 0; g < n_grp; ++g) {
                const int32_t x0 = (int32_t)x[4 * g] + off;
                const int32_t x1 = (int32_t)x[4 * g + 1] + off;
                const int32_t x2 = (int32_t)x[4 * g + 2] + off;
                const int32_t x3 = (int32_t)x[4 * g + 3] + off;
                const uint32_t v = et_cl_group_fixed(rr, g, bits);
                ET_CL8_LOOKUP_ROW(a, v);
            }
            acc[r] = a;
        }
    }
}

#define ET_CL8_LOOKUP_INSTANCE(BITS)                                                             \
    static ET_CL8_NOINLINE void et_cl8_lookup##BITS(const et_cl8_ctx *c, const int8_t *x,       \
                                                    const uint32_t *row, int32_t rows,          \
                                                    int32_t *acc)                               \
    {                                                                                           \
        et_cl8_lookup(c, x, row, rows, acc, BITS);                                              \
    }
ET_CL8_LOOKUP_INSTANCE(1)
ET_CL8_LOOKUP_INSTANCE(2)
ET_CL8_LOOKUP_INSTANCE(3)
ET_CL8_LOOKUP_INSTANCE(4)

/* ---------------------------------------------------------------- pair-table paths (DSP cores) */
#if ET_CL8_DSP


/* ---- 4 bits: inline assembly ----
 * Operands: x, w0 and w2 advance (w0/w2 are the index bytes of rows 0 and 2; rows 1 and 3 are
 * read at [w0 + n] and [w2 + n], n the row stride in bytes); tab is the pair table. */
#define ET_C4_IN                                \
    "ldr     %[t], [%[x]], #4\n\t"              \
    "sxtab16 %[xe], %[off], %[t]\n\t"           \
    "sxtab16 %[xo], %[off], %[t], ror #8\n\t"

#define ET_C4_PAIR(LOAD, ACC, XV)               \
    LOAD "\n\t"                                 \
    "ldr     %[t], [%[tab], %[t], lsl #2]\n\t"  \
    "smlad   " ACC ", %[t], " XV ", " ACC "\n\t"

#define ET_C4_4ROWS(XV)                                           \
    ET_C4_PAIR("ldrb    %[t], [%[w0], %[n]]", "%[a1]", XV)        \
    ET_C4_PAIR("ldrb    %[t], [%[w0]], #1", "%[a0]", XV)          \
    ET_C4_PAIR("ldrb    %[t], [%[w2], %[n]]", "%[a3]", XV)        \
    ET_C4_PAIR("ldrb    %[t], [%[w2]], #1", "%[a2]", XV)

#define ET_C4_STEP4 ET_C4_IN ET_C4_4ROWS("%[xe]") ET_C4_4ROWS("%[xo]")

#define ET_C4_OPS4                                                                               \
    : [x] "+r"(xp), [w0] "+r"(w0), [w2] "+r"(w2), [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2),  \
      [a3] "+r"(a3), [xe] "=&r"(xe), [xo] "=&r"(xo), [t] "=&r"(t)

/* acc[0..3] += the full groups of rows o..o+3: 8 groups per iteration, then 4, 2, 1. */
static ET_CL8_NOINLINE void et_c4_rows4(const et_cl8_ctx *c, const int8_t *x, const uint8_t *w0,
                                        int32_t *acc)
{
    const int32_t n = c->rw * 4;
    const int32_t n_grp = c->n_grp;
    const uint32_t off2 = c->off2;
    const uint32_t *const tab = c->pairs;
    const uint8_t *w2 = w0 + 2 * n;
    const int8_t *xp = x;
    const int8_t *const end = x + 4 * (n_grp & ~(int32_t)7);
    int32_t a0 = acc[0];
    int32_t a1 = acc[1];
    int32_t a2 = acc[2];
    int32_t a3 = acc[3];
    int32_t xe;
    int32_t xo;
    int32_t t;
    if (xp != end) {
        __asm__ volatile("1:\n\t" ET_C4_STEP4 ET_C4_STEP4 ET_C4_STEP4 ET_C4_STEP4 ET_C4_STEP4
                         ET_C4_STEP4 ET_C4_STEP4 ET_C4_STEP4
                         "cmp     %[x], %[end]\n\t"
                         "bne     1b\n\t" ET_C4_OPS4
                         : [n] "r"(n), [end] "r"(end), [off] "r"(off2), [tab] "r"(tab)
                         : "cc", "memory");
    }
    if (n_grp & 4) {
        __asm__ volatile(ET_C4_STEP4 ET_C4_STEP4 ET_C4_STEP4 ET_C4_STEP4 ET_C4_OPS4
                         : [n] "r"(n), [off] "r"(off2), [tab] "r"(tab)
                         : "memory");
    }
    if (n_grp & 2) {
        __asm__ volatile(ET_C4_STEP4 ET_C4_STEP4 ET_C4_OPS4
                         : [n] "r"(n), [off] "r"(off2), [tab] "r"(tab)
                         : "memory");
    }
    if (n_grp & 1) {
        __asm__ volatile(ET_C4_STEP4 ET_C4_OPS4
                         : [n] "r"(n), [off] "r"(off2), [tab] "r"(tab)
                         : "memory");
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

#define ET_C4_STEP2                                               \
    ET_C4_IN                                                      \
    ET_C4_PAIR("ldrb    %[t], [%[w0], %[n]]", "%[a1]", "%[xe]")   \
    ET_C4_PAIR("ldrb    %[t], [%[w0]], #1", "%[a0]", "%[xe]")     \
    ET_C4_PAIR("ldrb    %[t], [%[w0], %[n]]", "%[a1]", "%[xo]")   \
    ET_C4_PAIR("ldrb    %[t], [%[w0]], #1", "%[a0]", "%[xo]")

#define ET_C4_STEP1                                               \
    ET_C4_IN                                                      \
    ET_C4_PAIR("ldrb    %[t], [%[w0]], #1", "%[a0]", "%[xe]")     \
    ET_C4_PAIR("ldrb    %[t], [%[w0]], #1", "%[a0]", "%[xo]")

/* Two rows (o, o+1) or one: 4 groups per iteration, then one at a time. */
static ET_CL8_NOINLINE void et_c4_rows2(const et_cl8_ctx *c, const int8_t *x, const uint8_t *w0,
                                        int32_t rows, int32_t *acc)
{
    const int32_t n = c->rw * 4;
    const int32_t n_grp = c->n_grp;
    const uint32_t off2 = c->off2;
    const uint32_t *const tab = c->pairs;
    const int8_t *xp = x;
    const int8_t *const end4 = x + 4 * (n_grp & ~(int32_t)3);
    const int8_t *const end1 = x + 4 * n_grp;
    int32_t a0 = acc[0];
    int32_t a1 = rows > 1 ? acc[1] : 0;
    int32_t xe;
    int32_t xo;
    int32_t t;
    if (rows > 1) {
        if (xp != end4) {
            __asm__ volatile("1:\n\t" ET_C4_STEP2 ET_C4_STEP2 ET_C4_STEP2 ET_C4_STEP2
                             "cmp     %[x], %[end]\n\t"
                             "bne     1b\n\t"
                             : [x] "+r"(xp), [w0] "+r"(w0), [a0] "+r"(a0), [a1] "+r"(a1),
                               [xe] "=&r"(xe), [xo] "=&r"(xo), [t] "=&r"(t)
                             : [n] "r"(n), [end] "r"(end4), [off] "r"(off2), [tab] "r"(tab)
                             : "cc", "memory");
        }
        if (xp != end1) {
            __asm__ volatile("1:\n\t" ET_C4_STEP2
                             "cmp     %[x], %[end]\n\t"
                             "bne     1b\n\t"
                             : [x] "+r"(xp), [w0] "+r"(w0), [a0] "+r"(a0), [a1] "+r"(a1),
                               [xe] "=&r"(xe), [xo] "=&r"(xo), [t] "=&r"(t)
                             : [n] "r"(n), [end] "r"(end1), [off] "r"(off2), [tab] "r"(tab)
                             : "cc", "memory");
        }
        acc[1] = a1;
    } else {
        if (xp != end4) {
            __asm__ volatile("1:\n\t" ET_C4_STEP1 ET_C4_STEP1 ET_C4_STEP1 ET_C4_STEP1
                             "cmp     %[x], %[end]\n\t"
                             "bne     1b\n\t"
                             : [x] "+r"(xp), [w0] "+r"(w0), [a0] "+r"(a0), [xe] "=&r"(xe),
                               [xo] "=&r"(xo), [t] "=&r"(t)
                             : [end] "r"(end4), [off] "r"(off2), [tab] "r"(tab)
                             : "cc", "memory");
        }
        if (xp != end1) {
            __asm__ volatile("1:\n\t" ET_C4_STEP1
                             "cmp     %[x], %[end]\n\t"
                             "bne     1b\n\t"
                             : [x] "+r"(xp), [w0] "+r"(w0), [a0] "+r"(a0), [xe] "=&r"(xe),
                               [xo] "=&r"(xo), [t] "=&r"(t)
                             : [end] "r"(end1), [off] "r"(off2), [tab] "r"(tab)
                             : "cc", "memory");
        }
    }
    acc[0] = a0;
}

/* ---- 1, 2 and 3 bits: inline assembly too ----
 * A group's two pair keys come from one LDRB (1 and 2 bits) or LDRH (3 bits) per row, then
 * AND/UBFX/LSR to extract each key: 7 instructions per row and group of four MACs. Rows as at 4
 * bits (w0/w2 post-incremented, rows 1 and 3 at [w0 + n], [w2 + n], row 1 read before row 0
 * advances); the 4-row loop needs a second temporary, so its end pointer is a memory operand.
 * Group pairs at 1 and 3 bits: the even group's loads do not advance w0 past the odd group's
 * bits (1 bit: one byte holds both nibbles; 3 bits: the odd group's halfword is at byte + 1). */
#define ET_CP_ROW(LOAD, KE, KO, ACC)              \
    LOAD "\n\t" KE "\n\t"                         \
    "ldr     %[u], [%[tab], %[u], lsl #2]\n\t"    \
    "smlad   " ACC ", %[u], %[xe], " ACC "\n\t" KO "\n\t" \
    "ldr     %[t], [%[tab], %[t], lsl #2]\n\t"    \
    "smlad   " ACC ", %[t], %[xo], " ACC "\n\t"

#define ET_CP_4ROWS(OP, INC, KE, KO)                                  \
    ET_C4_IN                                                          \
    ET_CP_ROW(OP "    %[t], [%[w0], %[n]]", KE, KO, "%[a1]")          \
    ET_CP_ROW(OP "    %[t], [%[w0]]" INC, KE, KO, "%[a0]")            \
    ET_CP_ROW(OP "    %[t], [%[w2], %[n]]", KE, KO, "%[a3]")          \
    ET_CP_ROW(OP "    %[t], [%[w2]]" INC, KE, KO, "%[a2]")

#define ET_CP_2ROWS(OP, INC, KE, KO)                                  \
    ET_C4_IN                                                          \
    ET_CP_ROW(OP "    %[t], [%[w0], %[n]]", KE, KO, "%[a1]")          \
    ET_CP_ROW(OP "    %[t], [%[w0]]" INC, KE, KO, "%[a0]")

#define ET_CP_1ROW(OP, INC, KE, KO)                                   \
    ET_C4_IN                                                          \
    ET_CP_ROW(OP "    %[t], [%[w0]]" INC, KE, KO, "%[a0]")

/* Groups per width: S(load op, its post-increment, low-key extraction into u, high key into t). */
#define ET_B1_EVEN(S) S("ldrb", "", "and     %[u], %[t], #3", "ubfx    %[t], %[t], #2, #2")
#define ET_B1_ODD(S) S("ldrb", ", #1", "ubfx    %[u], %[t], #4, #2", "lsr     %[t], %[t], #6")
#define ET_B2_GROUP(S) S("ldrb", ", #1", "and     %[u], %[t], #15", "lsr     %[t], %[t], #4")
#define ET_B3_EVEN(S) S("ldrh", ", #1", "and     %[u], %[t], #63", "ubfx    %[t], %[t], #6, #6")
#define ET_B3_ODD(S) S("ldrh", ", #2", "ubfx    %[u], %[t], #4, #6", "lsr     %[t], %[t], #10")
/* Two groups, and the single last group of an odd count. */
#define ET_B1_PAIR(S) ET_B1_EVEN(S) ET_B1_ODD(S)
#define ET_B1_SINGLE(S) ET_B1_EVEN(S)
#define ET_B2_PAIR(S) ET_B2_GROUP(S) ET_B2_GROUP(S)
#define ET_B2_SINGLE(S) ET_B2_GROUP(S)
#define ET_B3_PAIR(S) ET_B3_EVEN(S) ET_B3_ODD(S)
#define ET_B3_SINGLE(S) ET_B3_EVEN(S)

#define ET_CP_OPS4                                                                               \
    : [x] "+r"(xp), [w0] "+r"(w0), [w2] "+r"(w2), [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2),  \
      [a3] "+r"(a3), [xe] "=&r"(xe), [xo] "=&r"(xo), [t] "=&r"(t), [u] "=&r"(u)
#define ET_CP_OPS2                                                                               \
    : [x] "+r"(xp), [w0] "+r"(w0), [a0] "+r"(a0), [a1] "+r"(a1), [xe] "=&r"(xe), [xo] "=&r"(xo), \
      [t] "=&r"(t), [u] "=&r"(u)
#define ET_CP_OPS1                                                                               \
    : [x] "+r"(xp), [w0] "+r"(w0), [a0] "+r"(a0), [xe] "=&r"(xe), [xo] "=&r"(xo), [t] "=&r"(t), \
      [u] "=&r"(u)

/* et_cpB_rows4 / et_cpB_rows2 (rows = 2 or 1): acc += the full groups, 4 groups per iteration,
 * then 2, then 1, at width B. */
#define ET_CP_DEFINE(BITS, PAIR, SINGLE)                                                         \
    static ET_CL8_NOINLINE void et_cp##BITS##_rows4(const et_cl8_ctx *c, const int8_t *x,       \
                                                    const uint8_t *w0, int32_t *acc)            \
    {                                                                                           \
        const int32_t n = c->rw * 4;                                                            \
        const int32_t n_grp = c->n_grp;                                                         \
        const uint32_t off2 = c->off2;                                                          \
        const uint32_t *const tab = c->pairs;                                                   \
        const uint8_t *w2 = w0 + 2 * n;                                                         \
        const int8_t *xp = x;                                                                   \
        const int8_t *const end = x + 4 * (n_grp & ~(int32_t)3);                                \
        int32_t a0 = acc[0];                                                                    \
        int32_t a1 = acc[1];                                                                    \
        int32_t a2 = acc[2];                                                                    \
        int32_t a3 = acc[3];                                                                    \
        int32_t xe;                                                                             \
        int32_t xo;                                                                             \
        int32_t t;                                                                              \
        int32_t u;                                                                              \
        if (xp != end) {                                                                        \
            __asm__ volatile("1:\n\t" PAIR(ET_CP_4ROWS) PAIR(ET_CP_4ROWS)                       \
                             "ldr     %[t], %[endm]\n\t"                                        \
                             "cmp     %[x], %[t]\n\t"                                           \
                             "bne     1b\n\t" ET_CP_OPS4                                        \
                             : [n] "r"(n), [off] "r"(off2), [tab] "r"(tab), [endm] "m"(end)     \
                             : "cc", "memory");                                                 \
        }                                                                                       \
        if (n_grp & 2) {                                                                        \
            __asm__ volatile(PAIR(ET_CP_4ROWS) ET_CP_OPS4                                       \
                             : [n] "r"(n), [off] "r"(off2), [tab] "r"(tab)                      \
                             : "memory");                                                       \
        }                                                                                       \
        if (n_grp & 1) {                                                                        \
            __asm__ volatile(SINGLE(ET_CP_4ROWS) ET_CP_OPS4                                     \
                             : [n] "r"(n), [off] "r"(off2), [tab] "r"(tab)                      \
                             : "memory");                                                       \
        }                                                                                       \
        acc[0] = a0;                                                                            \
        acc[1] = a1;                                                                            \
        acc[2] = a2;                                                                            \
        acc[3] = a3;                                                                            \
    }                                                                                           \
    static ET_CL8_NOINLINE void et_cp##BITS##_rows2(const et_cl8_ctx *c, const int8_t *x,       \
                                                    const uint8_t *w0, int32_t rows,            \
                                                    int32_t *acc)                               \
    {                                                                                           \
        const int32_t n = c->rw * 4;                                                            \
        const int32_t n_grp = c->n_grp;                                                         \
        const uint32_t off2 = c->off2;                                                          \
        const uint32_t *const tab = c->pairs;                                                   \
        const int8_t *xp = x;                                                                   \
        const int8_t *const end = x + 4 * (n_grp & ~(int32_t)3);                                \
        int32_t a0 = acc[0];                                                                    \
        int32_t a1 = rows > 1 ? acc[1] : 0;                                                     \
        int32_t xe;                                                                             \
        int32_t xo;                                                                             \
        int32_t t;                                                                              \
        int32_t u;                                                                              \
        if (rows > 1) {                                                                         \
            if (xp != end) {                                                                    \
                __asm__ volatile("1:\n\t" PAIR(ET_CP_2ROWS) PAIR(ET_CP_2ROWS)                   \
                                 "cmp     %[x], %[end]\n\t"                                     \
                                 "bne     1b\n\t" ET_CP_OPS2                                    \
                                 : [n] "r"(n), [off] "r"(off2), [tab] "r"(tab), [end] "r"(end)  \
                                 : "cc", "memory");                                             \
            }                                                                                   \
            if (n_grp & 2) {                                                                    \
                __asm__ volatile(PAIR(ET_CP_2ROWS) ET_CP_OPS2                                   \
                                 : [n] "r"(n), [off] "r"(off2), [tab] "r"(tab)                  \
                                 : "memory");                                                   \
            }                                                                                   \
            if (n_grp & 1) {                                                                    \
                __asm__ volatile(SINGLE(ET_CP_2ROWS) ET_CP_OPS2                                 \
                                 : [n] "r"(n), [off] "r"(off2), [tab] "r"(tab)                  \
                                 : "memory");                                                   \
            }                                                                                   \
            acc[1] = a1;                                                                        \
        } else {                                                                                \
            if (xp != end) {                                                                    \
                __asm__ volatile("1:\n\t" PAIR(ET_CP_1ROW) PAIR(ET_CP_1ROW)                     \
                                 "cmp     %[x], %[end]\n\t"                                     \
                                 "bne     1b\n\t" ET_CP_OPS1                                    \
                                 : [off] "r"(off2), [tab] "r"(tab), [end] "r"(end)              \
                                 : "cc", "memory");                                             \
            }                                                                                   \
            if (n_grp & 2) {                                                                    \
                __asm__ volatile(PAIR(ET_CP_1ROW) ET_CP_OPS1                                    \
                                 : [off] "r"(off2), [tab] "r"(tab)                              \
                                 : "memory");                                                   \
            }                                                                                   \
            if (n_grp & 1) {                                                                    \
                __asm__ volatile(SINGLE(ET_CP_1ROW) ET_CP_OPS1                                  \
                                 : [off] "r"(off2), [tab] "r"(tab)                              \
                                 : "memory");                                                   \
            }                                                                                   \
        }                                                                                       \
        acc[0] = a0;                                                                            \
    }
ET_CP_DEFINE(1, ET_B1_PAIR, ET_B1_SINGLE)
ET_CP_DEFINE(2, ET_B2_PAIR, ET_B2_SINGLE)
ET_CP_DEFINE(3, ET_B3_PAIR, ET_B3_SINGLE)
#endif /* ET_CL8_DSP */

/* ---------------------------------------------------------------- blocks and output */

/* The last n_in % 4 inputs of `rows` rows from o. */
static ET_CL8_NOINLINE void et_cl8_tail(const et_cl8_ctx *c, const int8_t *x, int32_t o,
                                        int32_t rows, int32_t *acc)
{
    const uint32_t *const row = c->words + (int32_t)(o * c->rw);
    int32_t r;
    int32_t i;
    for (i = 4 * c->n_grp; i < c->n_in; ++i) {
        const int32_t xv = (int32_t)x[i] + c->off;
        for (r = 0; r < rows; ++r) {
            acc[r] += xv * (int32_t)c->cb[et_cl_index(row + r * c->rw, i, c->bits)];
        }
    }
}

/* acc[0..rows-1] += sum_i (x[i] + off) * W[o+r][i] over all inputs, rows 1..4. */
static inline void et_cl8_dot(const et_cl8_ctx *c, const int8_t *x, int32_t o, int32_t rows,
                              int32_t *acc)
{
    const uint32_t *const row = c->words + (int32_t)(o * c->rw);
#if ET_CL8_DSP
    if (c->pairs != 0) {
        const uint8_t *w0 = (const uint8_t *)row;
        if (rows == 4) {
            c->rows4(c, x, w0, acc);
        } else {
            int32_t done = 0;
            if (rows >= 2) {
                c->rows2(c, x, w0, 2, acc);
                done = 2;
            }
            if (done < rows) {
                c->rows2(c, x, w0 + done * c->rw * 4, 1, acc + done);
            }
        }
    } else
#endif
    {
        c->lookup(c, x, row, rows, acc);
    }
    if (4 * c->n_grp < c->n_in) {
        et_cl8_tail(c, x, o, rows, acc);
    }
}

#if ET_CL8_DSP
/* Four requantized outputs stored as one word (as et_dense_s8.c): SSAT to int8, pack, clamp all
 * four bytes at once with SSUB8/SEL, one unaligned STR. */
static inline void et_cl8_store4(int8_t *y, int32_t r0, int32_t r1, int32_t r2, int32_t r3,
                                 const et_cl8_ctx *c)
{
    uint32_t v = (uint32_t)__ssat(r0, 8);
    uint32_t t;
    __asm__("bfi     %[v], %[b1], #8, #8\n\t"
            "bfi     %[v], %[b2], #16, #8\n\t"
            "bfi     %[v], %[b3], #24, #8\n\t"
            "ssub8   %[t], %[v], %[lo]\n\t"
            "sel     %[v], %[v], %[lo]\n\t"
            "ssub8   %[t], %[v], %[hi]\n\t"
            "sel     %[v], %[hi], %[v]\n\t"
            : [v] "+r"(v), [t] "=&r"(t)
            : [b1] "r"(__ssat(r1, 8)), [b2] "r"(__ssat(r2, 8)), [b3] "r"(__ssat(r3, 8)),
              [lo] "r"(c->lo4), [hi] "r"(c->hi4)
            : "cc");
    (void)t;
    memcpy(y, &v, 4);
}
#else
static inline void et_cl8_store4(int8_t *y, int32_t r0, int32_t r1, int32_t r2, int32_t r3,
                                 const et_cl8_ctx *c)
{
    y[0] = (int8_t)et_clamp_i32(r0, c->act_min, c->act_max);
    y[1] = (int8_t)et_clamp_i32(r1, c->act_min, c->act_max);
    y[2] = (int8_t)et_clamp_i32(r2, c->act_min, c->act_max);
    y[3] = (int8_t)et_clamp_i32(r3, c->act_min, c->act_max);
}
#endif

/* Outputs o .. o+3 of one sample. Not inlined, so the requantization has the registers. */
static ET_CL8_NOINLINE void et_cl8_block4(const et_cl8_ctx *c, const int8_t *x, int32_t o,
                                          int8_t *y)
{
    const int32_t step = c->ch_step;
    const int32_t *const mult = c->mult + o * step;
    const int32_t *const shift = c->shift + o * step;
    const int32_t out_offset = c->out_offset;
    int32_t acc[4] = {0, 0, 0, 0};
    if (c->init != 0) {
        acc[0] = c->init[o];
        acc[1] = c->init[o + 1];
        acc[2] = c->init[o + 2];
        acc[3] = c->init[o + 3];
    }
    et_cl8_dot(c, x, o, 4, acc);
    et_cl8_store4(y, et_mbqm_q31(acc[0], mult[0], shift[0]) + out_offset,
                  et_mbqm_q31(acc[1], mult[step], shift[step]) + out_offset,
                  et_mbqm_q31(acc[2], mult[2 * step], shift[2 * step]) + out_offset,
                  et_mbqm_q31(acc[3], mult[3 * step], shift[3 * step]) + out_offset, c);
}

/* The last 1..3 outputs o .. o+rows-1 of one sample. */
static ET_CL8_NOINLINE void et_cl8_rest(const et_cl8_ctx *c, const int8_t *x, int32_t o,
                                        int32_t rows, int8_t *y)
{
    int32_t acc[4];
    int32_t r;
    for (r = 0; r < rows; ++r) {
        acc[r] = c->init != 0 ? c->init[o + r] : 0;
    }
    et_cl8_dot(c, x, o, rows, acc);
    for (r = 0; r < rows; ++r) {
        const int32_t ch = (o + r) * c->ch_step;
        const int32_t v = et_mbqm_q31(acc[r], c->mult[ch], c->shift[ch]) + c->out_offset;
        y[r] = (int8_t)et_clamp_i32(v, c->act_min, c->act_max);
    }
}

et_status et_dense_s8_cluster(const et_dense_s8_params *p, const int8_t *input,
                              const int8_t *codebook, const et_cluster_indices *idx,
                              const uint32_t *pairs, const int32_t *bias, int8_t *output)
{
    et_cl8_ctx c;
    int32_t b;
#if ET_CL8_DSP
    uint32_t local[ET_CLUSTER_PAIR_COUNT(2)]; /* the table at 1 and 2 bits when not given */
#endif
    const et_status st = et_cl_s8_check(p, input, codebook, idx, output);
    if (st != ET_OK) {
        return st;
    }
    c.n_in = p->n_in;
    c.n_grp = p->n_in >> 2;
    c.off = p->eff_bias != 0 ? 0 : p->input_offset;
    c.out_offset = p->output_offset;
    c.act_min = p->act_min;
    c.act_max = p->act_max;
    c.ch_step = p->per_channel ? 1 : 0;
    c.bits = idx->bits;
    c.rw = ET_CLUSTER_ROW_WORDS(p->n_in, idx->bits);
    c.words = idx->words;
    c.cb = codebook;
    c.pairs = pairs;
    c.init = p->eff_bias != 0 ? p->eff_bias : bias;
    c.mult = p->multipliers;
    c.shift = p->shifts;
#if ET_CL8_DSP
    c.off2 = ((uint32_t)(uint16_t)c.off << 16) | (uint16_t)c.off;
    c.lo4 = (uint32_t)(uint8_t)p->act_min * 0x01010101u;
    c.hi4 = (uint32_t)(uint8_t)p->act_max * 0x01010101u;
    if (pairs == 0 && c.bits <= 2) {
        et_cl_fill_pairs(codebook, idx->k, c.bits, local);
        c.pairs = local;
    }
    c.rows4 = c.bits == 4 ? et_c4_rows4 : c.bits == 3 ? et_cp3_rows4 : c.bits == 2 ? et_cp2_rows4 : et_cp1_rows4;
    c.rows2 = c.bits == 4 ? et_c4_rows2 : c.bits == 3 ? et_cp3_rows2 : c.bits == 2 ? et_cp2_rows2 : et_cp1_rows2;
#endif
    c.lookup = c.bits == 4 ? et_cl8_lookup4 : c.bits == 3 ? et_cl8_lookup3 : c.bits == 2 ? et_cl8_lookup2 : et_cl8_lookup1;
    for (b = 0; b < p->batch; ++b) {
        const int8_t *x = input + (int32_t)(b * c.n_in);
        int8_t *y = output + (int32_t)(b * p->n_out);
        int32_t o = 0;
        for (; o + 4 <= p->n_out; o += 4) {
            et_cl8_block4(&c, x, o, y + o);
        }
        if (o < p->n_out) {
            et_cl8_rest(&c, x, o, p->n_out - o, y + o);
        }
    }
    return ET_OK;
}

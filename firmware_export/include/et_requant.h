/* SPDX-License-Identifier: Apache-2.0 */
/* edgetrain runtime: gemmlowp/TFLite fixed-point requantization primitives.
 *
 * These are the bit-exact contract shared with edgetrain/formats/quant.py. A real multiplier M is
 * stored as a Q31 `multiplier` in [2^30, 2^31) (or 0) and a `shift` (TFLite convention: > 0 is a
 * left shift, < 0 a right shift) so that M ~= multiplier * 2^(shift - 31).
 *
 * Assumes `>>` on negative int32 is arithmetic, which gcc, clang and arm-none-eabi-gcc guarantee.
 */
#ifndef ET_REQUANT_H
#define ET_REQUANT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* gemmlowp SaturatingRoundingDoublingHighMul: round(a * b / 2^31), ties toward +infinity; the only
 * overflowing pair (INT32_MIN, INT32_MIN) saturates to INT32_MAX. gemmlowp writes this as
 * (ab + nudge) / 2^31 with a sign-dependent nudge and truncating division; floor((ab + 2^30) / 2^31)
 * is the same integer for every ab and compiles to SMLAL + shifts. */
static inline int32_t et_srdhm(int32_t a, int32_t b)
{
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    return (int32_t)(((int64_t)a * (int64_t)b + ((int64_t)1 << 30)) >> 31);
}

/* x / 2^exponent rounded to nearest, ties away from zero; exponent in [0, 31]. */
static inline int32_t et_rdbpot(int32_t x, int32_t exponent)
{
    const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* x * 2^left with int32 saturation: TFLite leaves overflow undefined, we pin it down. */
static inline int32_t et_sat_left_shift(int32_t x, int32_t left)
{
    const int64_t v = (int64_t)x * ((int64_t)1 << left);
    if (v > INT32_MAX) {
        return INT32_MAX;
    }
    if (v < INT32_MIN) {
        return INT32_MIN;
    }
    return (int32_t)v;
}

/* TFLite MultiplyByQuantizedMultiplier: round(x * multiplier * 2^(shift - 31)).
 * shift in [-31, 30]. */
static inline int32_t et_mbqm(int32_t x, int32_t multiplier, int32_t shift)
{
    if (shift > 0) {
        return et_srdhm(et_sat_left_shift(x, shift), multiplier);
    }
    return et_rdbpot(et_srdhm(x, multiplier), -shift);
}

/* et_mbqm for a right shift (shift in [-31, -1]) and a multiplier in [0, 2^31), in one 64-bit
 * multiply-accumulate and one shift. Bit-exact with et_mbqm for those arguments; the multipliers
 * quant.py produces are in [2^30, 2^31) or 0, and shifts < 0 are the common case (M < 0.5).
 *
 * Why it is exact. Let P = x * m, S = P + 2^30 and e = -shift >= 1.
 *  1. m != INT32_MIN, so et_srdhm(x, m) never saturates: h = floor(S / 2^31).
 *  2. et_rdbpot(h, e) = floor(h / 2^e) + [rem > 2^(e-1) - 1 + [h<0]] with rem = h mod 2^e, which is
 *     floor((h + 2^(e-1) - [h<0]) / 2^e) (round half away from zero).
 *  3. For integer c and n > 0, floor((floor(q) + c) / n) = floor((q + c) / n), so with
 *     k = 2^(e-1) - [h<0]: result = floor((S + k * 2^31) / 2^(31+e)).
 *  4. [h<0] = [S<0] may be replaced by [x<0] (m >= 0): they differ only when S is in [0, 2^30]
 *     (P in [-2^30, 0) or P = 0 with x < 0), and there both S + 2^(30+e) and S + 2^(30+e) - 2^31
 *     lie in [0, 2^(31+e)), so the result is 0 either way (e >= 1).
 *  5. floor(T / 2^(31+e)) = floor(floor(T / 2^32) / 2^(e-1)), and floor(T / 2^32) fits int32
 *     (|T| < 2^62 + 2^61).
 * So with T = P + 2^30 + (2^(e-1) + (x >> 31)) * 2^31 the result is (T >> 32) >> (e-1): SMLAL plus
 * a few single-cycle ops on Cortex-M, against ~30 instructions for the two-step gemmlowp form.
 * The rounding is still gemmlowp's double rounding: CMSIS-NN's single-rounding
 * arm_nn_requantize (round(x * m / 2^(31+e)) once) differs, e.g. x = 1, m = 2^30, shift = -1
 * gives 1 here and 0 there, so it cannot replace this contract. */
static inline int32_t et_mbqm_rshift(int32_t x, int32_t multiplier, int32_t shift)
{
    const int32_t e1 = -shift - 1;                                  /* e - 1, in [0, 30] */
    const uint32_t k = ((uint32_t)1 << e1) + (uint32_t)(x >> 31);   /* in [0, 2^30] */
    /* 2^30 + k * 2^31 as a 64-bit constant: low word (k << 31) | 2^30, high word k >> 1. */
    const int64_t c = (int64_t)(((uint64_t)k << 31) | ((uint64_t)1 << 30));
    const int64_t t = (int64_t)x * multiplier + c;
    return (int32_t)(t >> 32) >> e1;
}

/* et_mbqm for multipliers in [0, 2^31) (every multiplier quant.py emits): the fast form for
 * right shifts, the general one otherwise (only multipliers >= 0.5 have shift >= 0). */
static inline int32_t et_mbqm_q31(int32_t x, int32_t multiplier, int32_t shift)
{
#if defined(__GNUC__)
    if (__builtin_expect(shift < 0, 1)) {
#else
    if (shift < 0) {
#endif
        return et_mbqm_rshift(x, multiplier, shift);
    }
    return et_mbqm(x, multiplier, shift);
}

static inline int32_t et_clamp_i32(int32_t x, int32_t lo, int32_t hi)
{
    return x < lo ? lo : (x > hi ? hi : x);
}

#ifdef __cplusplus
}
#endif

#endif /* ET_REQUANT_H */

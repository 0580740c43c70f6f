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

static inline int32_t et_clamp_i32(int32_t x, int32_t lo, int32_t hi)
{
    return x < lo ? lo : (x > hi ? hi : x);
}

#ifdef __cplusplus
}
#endif

#endif /* ET_REQUANT_H */

"""Quantization math in edgetrain.quantize.int8 against a pure-Python big-integer reference.

The reference below follows gemmlowp/TFLite literally with Python ints (no overflow, no numpy), so
a vectorisation or int64 mistake in quant.py shows up as a mismatch.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from edgetrain.quantize import int8 as quant

I32_MIN, I32_MAX = -(2**31), 2**31 - 1
int32s = st.integers(I32_MIN, I32_MAX)


# --- big-integer reference -----------------------------------------------------------------------


def trunc_div(a: int, b: int) -> int:
    """C integer division (toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def ref_srdhm(a: int, b: int) -> int:
    if a == I32_MIN and b == I32_MIN:
        return I32_MAX
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    return trunc_div(ab + nudge, 1 << 31)


def ref_rdbpot(x: int, exponent: int) -> int:
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def ref_mbqm(x: int, m: int, shift: int) -> int:
    left = max(shift, 0)
    right = max(-shift, 0)
    shifted = min(max(x * (1 << left), I32_MIN), I32_MAX)
    return ref_rdbpot(ref_srdhm(shifted, m), right)


def ref_round_away(v: float) -> int:
    return int(math.copysign(math.floor(abs(v) + 0.5), v))


# --- requantization primitives -------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(int32s, int32s)
@example(I32_MIN, I32_MIN)
@example(I32_MIN, I32_MAX)
@example(I32_MAX, I32_MAX)
@example(-(1 << 30), 1)
@example(3 << 29, -1)
def test_srdhm_matches_bigint(a: int, b: int) -> None:
    assert int(quant.saturating_rounding_doubling_high_mul(a, b)) == ref_srdhm(a, b)


def test_srdhm_saturates_only_for_int32_min_squared() -> None:
    assert int(quant.saturating_rounding_doubling_high_mul(I32_MIN, I32_MIN)) == I32_MAX
    assert int(quant.saturating_rounding_doubling_high_mul(I32_MIN, I32_MAX)) == -I32_MAX


@settings(max_examples=400, deadline=None)
@given(int32s, st.integers(0, 31))
@example(-1, 1)
@example(1, 1)
@example(-3, 1)
@example(I32_MIN, 31)
@example(I32_MAX, 31)
def test_rdbpot_matches_bigint(x: int, e: int) -> None:
    assert int(quant.rounding_divide_by_pot(x, e)) == ref_rdbpot(x, e)


def test_rdbpot_rounds_ties_away_from_zero() -> None:
    got = quant.rounding_divide_by_pot([-3, -1, 1, 3, 5, -5], 1)
    assert got.tolist() == [-2, -1, 1, 2, 3, -3]


multipliers = st.one_of(
    st.integers(0, I32_MAX),
    st.integers(1 << 30, I32_MAX),  # the normalised range quantize_multiplier produces
    st.integers(I32_MAX - 1000, I32_MAX),  # near 1.0
    st.integers(0, 1000),  # near 0
    st.integers(-I32_MAX, -(1 << 30)),  # negative multipliers
)


@settings(max_examples=600, deadline=None)
@given(int32s, multipliers, st.integers(-31, 30))
@example(I32_MIN, I32_MAX, 0)
@example(I32_MAX, I32_MAX, 30)  # left shift saturates
@example(I32_MIN, I32_MAX, 30)
@example(1, 1 << 30, -31)
@example(-1, 1 << 30, -31)
def test_mbqm_matches_bigint(x: int, m: int, shift: int) -> None:
    assert int(quant.multiply_by_quantized_multiplier(x, m, shift)) == ref_mbqm(x, m, shift)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(int32s, multipliers, st.integers(-31, 30)), min_size=1, max_size=64)
)
def test_mbqm_vectorised_equals_scalar(rows: list[tuple[int, int, int]]) -> None:
    xs, ms, ss = (np.array(c, dtype=np.int64) for c in zip(*rows))
    got = quant.multiply_by_quantized_multiplier(xs, ms, ss)
    assert got.tolist() == [ref_mbqm(x, m, s) for x, m, s in rows]


def test_mbqm_rejects_out_of_range_shift() -> None:
    with pytest.raises(ValueError):
        quant.multiply_by_quantized_multiplier(1, 1 << 30, 31)
    with pytest.raises(ValueError):
        quant.multiply_by_quantized_multiplier(1, 1 << 30, -32)


# --- quantize_multiplier -------------------------------------------------------------------------


def ref_quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite QuantizeMultiplier with exact rational arithmetic."""
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = ref_round_away(q * (1 << 31))
    if abs(q_fixed) == 1 << 31:
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return q_fixed, shift


reals = st.one_of(
    st.floats(1e-12, 1.0, exclude_max=True),
    st.floats(1.0 - 1e-9, 1.0),  # rounds up to 2^31 and renormalises
    st.floats(2**-40, 2**-28),  # tiny: shift below -31 collapses to 0
    st.floats(1.0, 2.0**20),
    st.floats(-1.0, -1e-9),
)


@settings(max_examples=500, deadline=None)
@given(reals)
@example(1.0)
@example(0.5)
@example(1.0 - 2**-40)
@example(2.0**-31)
@example(2.0**-32)
def test_quantize_multiplier_matches_tflite(real: float) -> None:
    m, s = quant.quantize_multiplier(real)
    assert (m, s) == ref_quantize_multiplier(real)
    assert -(2**31) < m < 2**31
    if m != 0:
        assert (1 << 30) <= abs(m) < (1 << 31)
        assert -31 <= s <= 30
        # The representation is within half a Q31 step of the real value.
        assert abs(m * 2.0 ** (s - 31) - real) <= 2.0 ** (s - 32) * 1.0000001


def test_quantize_multiplier_zero_and_invalid() -> None:
    assert quant.quantize_multiplier(0.0) == (0, 0)
    with pytest.raises(ValueError):
        quant.quantize_multiplier(float("nan"))
    with pytest.raises(ValueError):
        quant.quantize_multiplier(2.0**40)


@settings(max_examples=300, deadline=None)
@given(st.floats(1e-6, 0.999), st.integers(-20000, 20000))
def test_requant_approximates_real_product(real: float, x: int) -> None:
    m, s = quant.quantize_multiplier(real)
    got = int(quant.multiply_by_quantized_multiplier(x, m, s))
    # Two roundings (high-mul, then shift) each cost at most half a unit.
    assert abs(got - x * real) <= 1.0 + abs(x) * 2.0**-30


# --- choosing quantization parameters ------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.floats(-1e4, 1e4), st.floats(-1e4, 1e4))
def test_qparams_asymmetric_range_contains_zero_exactly(a: float, b: float) -> None:
    lo, hi = min(a, b), max(a, b)
    scale, zp = quant.choose_qparams_asymmetric(lo, hi)
    assert scale > 0 and -128 <= zp <= 127
    assert quant.quantize(0.0, scale, zp) == zp  # 0.0 is representable exactly
    # Both ends of the widened range (it always includes 0) are representable within one step.
    for end in (min(lo, 0.0), max(hi, 0.0)):
        back = float(quant.dequantize(quant.quantize(end, scale, zp), scale, zp))
        assert abs(back - end) <= scale * 1.0001


def test_qparams_edge_zero_points() -> None:
    assert quant.choose_qparams_asymmetric(0.0, 10.0)[1] == -128  # all non-negative: zp at bottom
    assert quant.choose_qparams_asymmetric(-10.0, 0.0)[1] == 127  # all non-positive: zp at top
    assert quant.choose_qparams_asymmetric(0.0, 0.0) == (1.0, 0)
    with pytest.raises(ValueError):
        quant.choose_qparams_asymmetric(1.0, -1.0)


def test_quantize_weights_per_tensor_and_per_channel() -> None:
    rng = np.random.default_rng(1)
    w = rng.standard_normal((6, 5)) * np.array([[0.01], [0.1], [1.0], [10.0], [0.0], [3.0]])
    q_t, s_t = quant.quantize_weights(w, per_channel=False)
    assert s_t.shape == (1,) and q_t.dtype == np.int8
    assert np.abs(q_t).max() == 127 and q_t.min() >= -127
    q_c, s_c = quant.quantize_weights(w, per_channel=True, axis=0)
    assert s_c.shape == (6,) and s_c[4] == 1.0 and not q_c[4].any()
    for row in (0, 1, 2, 3, 5):
        assert np.abs(q_c[row]).max() == 127
    # Per-channel error is bounded by half a step of each row's own scale.
    assert np.all(np.abs(q_c * s_c[:, None] - w) <= s_c[:, None] / 2 + 1e-12)
    # Small rows keep resolution per channel that per-tensor scaling loses.
    err_t = np.abs(q_t * s_t[0] - w)[0].max()
    err_c = np.abs(q_c * s_c[:, None] - w)[0].max()
    assert err_c < err_t
    q_ax1, s_ax1 = quant.quantize_weights(w, per_channel=True, axis=1)
    assert s_ax1.shape == (5,) and np.all(np.abs(q_ax1).max(axis=0) == 127)


def test_quantize_bias_scale_is_input_times_weight() -> None:
    b = np.array([0.5, -0.25, 1e-9])
    q = quant.quantize_bias(b, 0.1, np.array([0.01, 0.02, 0.03]))
    assert q.dtype == np.int32
    assert q.tolist() == [500, -125, 0]
    assert quant.quantize_bias([1e12], 1e-3, [1e-3]).tolist() == [I32_MAX]


def test_activation_range() -> None:
    assert quant.activation_range(None, 0.1, -5) == (-128, 127)
    assert quant.activation_range("relu", 0.1, -5) == (-5, 127)
    assert quant.activation_range("relu6", 0.1, -128) == (-128, -68)
    assert quant.activation_range("relu6", 0.01, 0) == (0, 127)
    with pytest.raises(ValueError):
        quant.activation_range("gelu", 0.1, 0)  # type: ignore[arg-type]


def test_range_observer_minmax_and_percentile() -> None:
    obs = quant.RangeObserver()
    obs.update(np.array([-1.0, 2.0]))
    obs.update(np.array([[0.5, 3.5]]))
    assert obs.range() == (-1.0, 3.5)
    pct = quant.RangeObserver("percentile", percentile=99.0)
    data = np.concatenate([np.linspace(-1, 1, 10_000), [1000.0]])
    pct.update(data[:5000])
    pct.update(data[5000:])
    lo, hi = pct.range()
    assert -1.0 <= lo < -0.95 and 0.95 < hi <= 1.0  # the outlier is ignored
    scale, zp = pct.qparams()
    assert scale < 0.01 and abs(zp) <= 1
    with pytest.raises(ValueError):
        quant.RangeObserver().range()


def test_effective_bias_folds_input_offset() -> None:
    rng = np.random.default_rng(2)
    w = rng.integers(-127, 128, (7, 9)).astype(np.int8)
    b = rng.integers(-1000, 1000, 7).astype(np.int32)
    eff = quant.effective_bias(b, w, in_zp=-17)
    assert eff.tolist() == [int(b[o]) + 17 * int(w[o].astype(int).sum()) for o in range(7)]


# --- kernel references ---------------------------------------------------------------------------


def ref_dense(x, w, bias, in_zp, out_zp, mults, shifts, lo, hi):  # type: ignore[no-untyped-def]
    out = []
    for o in range(len(w)):
        acc = (int(bias[o]) if bias is not None else 0) + sum(
            (int(xk) - in_zp) * int(wk) for xk, wk in zip(x, w[o])
        )
        c = o if len(mults) > 1 else 0
        v = ref_mbqm(acc, int(mults[c]), int(shifts[c])) + out_zp
        out.append(min(max(v, lo), hi))
    return out


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 9),
    st.integers(1, 7),
    st.booleans(),
    st.integers(-128, 127),
    st.integers(-128, 127),
    st.integers(0, 2**32 - 1),
)
def test_dense_reference_matches_bigint(n_in, n_out, per_channel, in_zp, out_zp, seed) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, n_in).astype(np.int8)
    w = rng.integers(-127, 128, (n_out, n_in)).astype(np.int8)
    bias = rng.integers(-50000, 50000, n_out).astype(np.int32)
    mults, shifts = quant.quantize_multipliers(rng.uniform(1e-4, 1.5, n_out if per_channel else 1))
    lo, hi = sorted(rng.integers(-128, 128, 2).tolist())
    got = quant.dense_s8_reference(x, w, bias, in_zp, out_zp, mults, shifts, lo, hi)
    assert got.dtype == np.int8
    assert got.tolist() == ref_dense(x, w, bias, in_zp, out_zp, mults, shifts, lo, hi)
    batched = quant.dense_s8_reference(np.stack([x, x]), w, bias, in_zp, out_zp, mults, shifts, lo, hi)
    assert batched.shape == (2, n_out) and (batched[1] == got).all()


def test_dense_reference_saturates_at_both_ends() -> None:
    x = np.array([127, -128], np.int8)
    w = np.array([[127, -127], [-127, 127]], np.int8)
    m, s = quant.quantize_multiplier(0.9)
    y = quant.dense_s8_reference(x, w, None, -128, 0, [m], [s])
    assert y.tolist() == [127, -128]


def test_dense_quantized_approximates_float() -> None:
    rng = np.random.default_rng(3)
    xf = rng.uniform(-1, 2, (50, 16))
    wf = rng.standard_normal((8, 16)) * 0.3
    bf = rng.standard_normal(8) * 0.1
    s_in, zp_in = quant.choose_qparams_asymmetric(xf.min(), xf.max())
    yf = xf @ wf.T + bf
    s_out, zp_out = quant.choose_qparams_asymmetric(yf.min(), yf.max())
    wq, ws = quant.quantize_weights(wf, per_channel=True)
    bq = quant.quantize_bias(bf, s_in, ws)
    mults, shifts = quant.dense_requant_params(s_in, ws, s_out)
    yq = quant.dense_s8_reference(quant.quantize(xf, s_in, zp_in), wq, bq, zp_in, zp_out, mults, shifts)
    assert np.abs(quant.dequantize(yq, s_out, zp_out) - yf).max() < 4 * s_out


def ref_add(a, b, p):  # type: ignore[no-untyped-def]
    out = []
    for av, bv in zip(a.tolist(), b.tolist()):
        sa = ref_mbqm((av + p.input1_offset) << p.left_shift, p.input1_multiplier, p.input1_shift)
        sb = ref_mbqm((bv + p.input2_offset) << p.left_shift, p.input2_multiplier, p.input2_shift)
        v = ref_mbqm(sa + sb, p.output_multiplier, p.output_shift) + p.output_offset
        out.append(min(max(v, p.act_min), p.act_max))
    return out


@settings(max_examples=80, deadline=None)
@given(
    st.floats(1e-3, 1.0),
    st.integers(-128, 127),
    st.floats(1e-3, 1.0),
    st.integers(-128, 127),
    st.floats(1e-3, 2.0),
    st.integers(-128, 127),
    st.integers(0, 2**32 - 1),
)
def test_add_reference_matches_bigint_and_float(s1, z1, s2, z2, so, zo, seed) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, 64).astype(np.int8)
    b = rng.integers(-128, 128, 64).astype(np.int8)
    p = quant.add_s8_params(s1, z1, s2, z2, so, zo)
    got = quant.add_s8_reference(a, b, p)
    assert got.tolist() == ref_add(a, b, p)
    real = (a.astype(float) - z1) * s1 + (b.astype(float) - z2) * s2
    expect = np.clip(np.round(real / so) + zo, -128, 127)
    assert np.abs(got - expect).max() <= 1

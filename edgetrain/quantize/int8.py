"""int8 quantization math: the bit-exact contract between numpy and the C runtime.

Conventions (TFLite / CMSIS-NN):

* A real value ``r`` is stored as ``q = round(r / scale) + zero_point`` in int8.
* Activations are asymmetric (any zero point in [-128, 127]); weights are symmetric (zero point 0,
  values in [-127, 127]), per tensor or per output channel; biases are int32 with
  ``scale = input_scale * weight_scale``. Every scale is a float32 value (held in a Python float),
  as a .tflite stores it, so the C export and the .tflite describe the same integer model.
* A real rescale factor ``M`` is a Q31 ``multiplier`` in [2^30, 2^31) (or 0) and a ``shift``
  (> 0 left, < 0 right) with ``M ~= multiplier * 2**(shift - 31)``; :func:`quantize_multiplier`.
* :func:`multiply_by_quantized_multiplier` equals ``et_mbqm`` in ``firmware_export/include/
  et_requant.h`` for every int32 input; :func:`dense_s8_reference` and :func:`add_s8_reference`
  equal ``et_dense_s8_ref``/``et_dense_s8`` and ``et_add_s8`` bit for bit.
* int8 leaky_relu, sigmoid, tanh and hard_swish are 256-entry tables (:func:`activation_lut_s8`,
  TFLite's ``LUTPopulate`` with half-away-from-zero rounding); :func:`lut_s8_reference` equals
  ``et_lut_s8`` (``firmware_export/include/et_activation.h``).

The integer helpers accept scalars or arrays and return int64 numpy arrays holding int32 values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
#: TFLite's fixed left shift applied to both int8 add inputs before rescaling.
ADD_LEFT_SHIFT = 20
#: Smallest activation scale choose_qparams_asymmetric returns (narrower ranges are widened).
MIN_SCALE = 1e-9

Int64Array = NDArray[np.int64]


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite ``QuantizeMultiplier``: ``real ~= multiplier * 2**(shift - 31)``.

    ``multiplier`` is in [2^30, 2^31) (negative for a negative ``real``), or 0 for 0 and for
    magnitudes below 2^-32 (which would need a right shift beyond 31).
    """
    real = float(real)
    if not math.isfinite(real):
        raise ValueError(f"multiplier must be finite, got {real}")
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)  # real = q * 2**shift, 0.5 <= |q| < 1
    # TfLiteRound is std::round: half away from zero (Python's round() is half to even).
    q_fixed = int(math.copysign(math.floor(abs(q) * (1 << 31) + 0.5), q))
    if abs(q_fixed) == 1 << 31:
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if shift > 30:
        raise ValueError(f"multiplier {real} needs a left shift of {shift} (> 30)")
    return q_fixed, shift


def quantize_multipliers(reals: ArrayLike) -> tuple[NDArray[np.int32], NDArray[np.int32]]:
    """Element-wise :func:`quantize_multiplier` (e.g. one per output channel)."""
    flat = np.asarray(reals, dtype=np.float64).reshape(-1)
    pairs = [quantize_multiplier(r) for r in flat]
    mults = np.array([m for m, _ in pairs], dtype=np.int32)
    shifts = np.array([s for _, s in pairs], dtype=np.int32)
    return mults, shifts


def _as_i64(x: ArrayLike) -> Int64Array:
    return np.asarray(x, dtype=np.int64)


def _check_int32(x: Int64Array, name: str) -> None:
    if x.size and (x.min() < INT32_MIN or x.max() > INT32_MAX):
        raise ValueError(f"{name} must hold int32 values")


def saturating_rounding_doubling_high_mul(a: ArrayLike, b: ArrayLike) -> Int64Array:
    """gemmlowp ``SaturatingRoundingDoublingHighMul`` on int32 values (vectorised).

    ``(a*b + nudge) / 2**31`` with C truncating division; INT32_MIN * INT32_MIN saturates.
    """
    a64, b64 = _as_i64(a), _as_i64(b)
    _check_int32(a64, "a")
    _check_int32(b64, "b")
    ab = a64 * b64  # |ab| <= 2^62: exact in int64
    nudge = np.where(ab >= 0, np.int64(1 << 30), np.int64(1 - (1 << 30)))
    v = ab + nudge  # <= 2^62 + 2^30 < 2^63
    truncated = np.where(v >= 0, v >> 31, -((-v) >> 31))
    overflow = (a64 == INT32_MIN) & (b64 == INT32_MIN)
    return np.where(overflow, np.int64(INT32_MAX), truncated)


def rounding_divide_by_pot(x: ArrayLike, exponent: ArrayLike) -> Int64Array:
    """gemmlowp ``RoundingDivideByPOT``: ``x / 2**exponent``, ties away from zero; exponent 0..31."""
    x64, e64 = _as_i64(x), _as_i64(exponent)
    _check_int32(x64, "x")
    if e64.size and (e64.min() < 0 or e64.max() > 31):
        raise ValueError("exponent must be in [0, 31]")
    mask = (np.int64(1) << e64) - 1
    remainder = x64 & mask
    threshold = (mask >> 1) + (x64 < 0).astype(np.int64)
    return (x64 >> e64) + (remainder > threshold).astype(np.int64)


def multiply_by_quantized_multiplier(x: ArrayLike, multiplier: ArrayLike, shift: ArrayLike) -> Int64Array:
    """TFLite ``MultiplyByQuantizedMultiplier``: ``round(x * multiplier * 2**(shift - 31))``.

    A positive shift is applied first as a left shift saturated to int32 (TFLite leaves that
    overflow undefined; ``et_mbqm`` saturates the same way). ``shift`` in [-31, 30].
    """
    x64, m64, s64 = np.broadcast_arrays(_as_i64(x), _as_i64(multiplier), _as_i64(shift))
    _check_int32(x64, "x")
    if s64.size and (s64.min() < -31 or s64.max() > 30):
        raise ValueError("shift must be in [-31, 30]")
    left = np.maximum(s64, 0)
    right = np.maximum(-s64, 0)
    shifted = np.clip(x64 << left, INT32_MIN, INT32_MAX)  # |x| < 2^31, left <= 30: fits int64
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, m64), right)


# --- choosing scales and zero points -------------------------------------------------------------


def qrange(bits: int = 8) -> tuple[int, int]:
    """Signed integer range of ``bits`` bits, e.g. (-128, 127)."""
    if not 2 <= bits <= 16:
        raise ValueError(f"bits must be in [2, 16], got {bits}")
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def choose_qparams_asymmetric(rmin: float, rmax: float, bits: int = 8) -> tuple[float, int]:
    """(scale, zero_point) for an activation observed in [rmin, rmax].

    The range is widened to include 0 so that 0.0 (padding, ReLU output) is exact, and the zero
    point is nudged to the nearest integer inside the quantized range.
    """
    if not (math.isfinite(rmin) and math.isfinite(rmax)) or rmin > rmax:
        raise ValueError(f"invalid range [{rmin}, {rmax}]")
    qmin, qmax = qrange(bits)
    lo, hi = min(float(rmin), 0.0), max(float(rmax), 0.0)
    if hi == lo:  # all zeros: any scale represents it; 1.0 keeps later divisions finite
        return 1.0, 0
    # Floor the scale so it stays a normal float32 and requantization multipliers stay in range.
    # Scales are float32 values (as a .tflite stores them), so every exporter of the model
    # describes the same integer model.
    scale = float(np.float32(max((hi - lo) / (qmax - qmin), MIN_SCALE)))
    zero_point = int(np.clip(round(qmin - lo / scale), qmin, qmax))
    return scale, zero_point


def quantize(x: ArrayLike, scale: float, zero_point: int, bits: int = 8) -> NDArray[np.int8]:
    """``clip(round_half_even(x / scale) + zero_point)`` as int8 (bits <= 8) or int16."""
    qmin, qmax = qrange(bits)
    q = np.rint(np.asarray(x, dtype=np.float64) / scale) + zero_point
    return np.clip(q, qmin, qmax).astype(np.int8 if bits <= 8 else np.int16)


def dequantize(q: ArrayLike, scale: ArrayLike, zero_point: ArrayLike = 0) -> NDArray[np.float32]:
    """``(q - zero_point) * scale`` in float32."""
    qi = np.asarray(q, dtype=np.float64)
    return ((qi - np.asarray(zero_point, np.float64)) * np.asarray(scale, np.float64)).astype(np.float32)


def quantize_weights(
    w: ArrayLike, per_channel: bool, axis: int = 0, bits: int = 8
) -> tuple[NDArray[np.int8], NDArray[np.float64]]:
    """Symmetric weight quantization: (q, scales) with values in [-(2^(bits-1)-1), 2^(bits-1)-1].

    Per channel, one scale per index along ``axis`` (axis 0 = output rows of a [n_out][n_in]
    matrix); otherwise ``scales`` has one element. An all-zero channel gets scale 1.0. Scales are
    float32 values held in float64.
    """
    wf = np.asarray(w, dtype=np.float64)
    qmax = qrange(bits)[1]
    if per_channel:
        axis = axis % wf.ndim
        reduce_axes = tuple(i for i in range(wf.ndim) if i != axis)
        absmax = np.max(np.abs(wf), axis=reduce_axes) if reduce_axes else np.abs(wf)
    else:
        absmax = np.array([np.max(np.abs(wf))]) if wf.size else np.array([0.0])
    # float32 values (as a .tflite stores them; see choose_qparams_asymmetric)
    scales = np.where(absmax > 0, absmax / qmax, 1.0).astype(np.float32).astype(np.float64)
    bshape = [1] * wf.ndim
    if per_channel:
        bshape[axis] = -1
    q = np.clip(np.rint(wf / scales.reshape(bshape if per_channel else [1] * wf.ndim)), -qmax, qmax)
    return q.astype(np.int8), scales


def quantize_bias(bias: ArrayLike, input_scale: float, weight_scales: ArrayLike) -> NDArray[np.int32]:
    """int32 bias with scale ``input_scale * weight_scale`` (per channel when several scales)."""
    scale = float(input_scale) * np.asarray(weight_scales, dtype=np.float64)
    q = np.rint(np.asarray(bias, dtype=np.float64) / scale)
    return np.clip(q, INT32_MIN, INT32_MAX).astype(np.int32)


def dense_requant_params(
    input_scale: float, weight_scales: ArrayLike, output_scale: float
) -> tuple[NDArray[np.int32], NDArray[np.int32]]:
    """Quantized multipliers/shifts for ``input_scale * weight_scale / output_scale``."""
    reals = float(input_scale) * np.asarray(weight_scales, np.float64) / float(output_scale)
    return quantize_multipliers(reals)


def activation_range(
    activation: Literal["none", "relu", "relu6"] | None, scale: float, zero_point: int
) -> tuple[int, int]:
    """Output clamp (act_min, act_max) in the int8 domain for a fused activation."""
    if activation in (None, "none"):
        return -128, 127
    if activation == "relu":
        return max(zero_point, -128), 127
    if activation == "relu6":
        six = zero_point + int(round(6.0 / scale))
        return max(zero_point, -128), min(six, 127)
    raise ValueError(f"unknown fused activation {activation!r}")


def effective_bias(bias_q: ArrayLike | None, w_q: ArrayLike, in_zp: int) -> NDArray[np.int32]:
    """``bias + input_offset * sum_k W[o][k]`` (input_offset = -zero point) for ``eff_bias``.

    Lets the fast C kernel skip the input offset in its inner loop.
    """
    w = np.asarray(w_q, dtype=np.int64)
    b = np.zeros(w.shape[0], np.int64) if bias_q is None else np.asarray(bias_q, np.int64)
    eff = b - int(in_zp) * w.sum(axis=1)
    _check_int32(eff, "effective bias")
    return eff.astype(np.int32)


# --- calibration ---------------------------------------------------------------------------------


class RangeObserver:
    """Collects an activation's range over calibration batches.

    ``method="minmax"`` keeps the running min and max. ``method="percentile"`` keeps a sample of
    the values (every value until ``max_values``; the batch that would overflow is strided to fit,
    later batches only move the min and max) and reports the ``percentile`` / ``100 - percentile``
    quantiles, which ignores rare outliers.
    """

    def __init__(
        self,
        method: Literal["minmax", "percentile"] = "minmax",
        percentile: float = 99.99,
        max_values: int = 1_000_000,
    ) -> None:
        if method not in ("minmax", "percentile"):
            raise ValueError(f"unknown calibration method {method!r}")
        if not 50.0 < percentile <= 100.0:
            raise ValueError("percentile must be in (50, 100]")
        self.method = method
        self.percentile = percentile
        self.max_values = max_values
        self._min = math.inf
        self._max = -math.inf
        self._samples: list[NDArray[np.float32]] = []
        self._kept = 0

    def update(self, x: ArrayLike) -> None:
        """Fold one batch into the running min/max; with ``method="percentile"`` also keep its values
        as samples until ``max_values`` are kept (a batch that would overflow is strided, later ones ignored)."""
        v: NDArray[np.float32] = np.asarray(x, dtype=np.float32).reshape(-1)
        if v.size == 0:
            return
        self._min = min(self._min, float(v.min()))
        self._max = max(self._max, float(v.max()))
        if self.method == "percentile":
            room = self.max_values - self._kept
            if room <= 0:
                return
            if v.size > room:
                v = v[:: int(math.ceil(v.size / room))]
            self._samples.append(v.copy())
            self._kept += v.size

    def range(self) -> tuple[float, float]:
        """(min, max) to quantize with; raises if nothing was observed."""
        if self._min > self._max:
            raise ValueError("no values observed")
        if self.method == "minmax":
            return self._min, self._max
        allv = np.concatenate(self._samples)
        lo, hi = np.percentile(allv, [100.0 - self.percentile, self.percentile])
        return float(lo), float(hi)

    def qparams(self, bits: int = 8) -> tuple[float, int]:
        """(scale, zero_point) for the observed range."""
        return choose_qparams_asymmetric(*self.range(), bits=bits)


# --- int8 kernel references ----------------------------------------------------------------------


def dense_s8_reference(
    x_q: ArrayLike,
    w_q: ArrayLike,
    bias_q: ArrayLike | None,
    in_zp: int,
    out_zp: int,
    mults: ArrayLike,
    shifts: ArrayLike,
    act_min: int = -128,
    act_max: int = 127,
) -> NDArray[np.int8]:
    """int8 dense layer exactly as ``et_dense_s8_ref``.

    ``x_q``: [n_in] or [batch][n_in] int8; ``w_q``: [n_out][n_in] int8 (symmetric); ``bias_q``:
    [n_out] int32 or None; ``mults``/``shifts``: one element (per tensor) or n_out (per channel).
    """
    x = np.asarray(x_q, dtype=np.int64)
    w = np.asarray(w_q, dtype=np.int64)
    single = x.ndim == 1
    x2 = x.reshape(1, -1) if single else x
    n_out, n_in = w.shape
    if x2.shape[1] != n_in:
        raise ValueError(f"input has {x2.shape[1]} features, weights expect {n_in}")
    m = np.asarray(mults, dtype=np.int64).reshape(-1)
    s = np.asarray(shifts, dtype=np.int64).reshape(-1)
    if m.size not in (1, n_out) or s.size != m.size:
        raise ValueError("mults/shifts must have 1 or n_out elements")
    acc = (x2 - int(in_zp)) @ w.T
    if bias_q is not None:
        acc = acc + np.asarray(bias_q, dtype=np.int64)
    _check_int32(acc, "accumulator")
    out = multiply_by_quantized_multiplier(acc, m, s) + int(out_zp)
    q = np.clip(out, act_min, act_max).astype(np.int8)
    return q[0] if single else q


@dataclass(frozen=True)
class AddS8Params:
    """Fields of ``et_add_s8_params`` (offsets are minus the input zero points, plus the output's)."""

    input1_offset: int
    input2_offset: int
    output_offset: int
    left_shift: int
    input1_multiplier: int
    input1_shift: int
    input2_multiplier: int
    input2_shift: int
    output_multiplier: int
    output_shift: int
    act_min: int = -128
    act_max: int = 127


def add_s8_params(
    scale1: float,
    zp1: int,
    scale2: float,
    zp2: int,
    out_scale: float,
    out_zp: int,
    act_min: int = -128,
    act_max: int = 127,
    left_shift: int = ADD_LEFT_SHIFT,
) -> AddS8Params:
    """TFLite's int8 ADD preparation: rescale both inputs to 2*max(scale1, scale2)."""
    twice_max = 2.0 * max(scale1, scale2)
    m1, s1 = quantize_multiplier(scale1 / twice_max)
    m2, s2 = quantize_multiplier(scale2 / twice_max)
    mo, so = quantize_multiplier(twice_max / ((1 << left_shift) * out_scale))
    return AddS8Params(-zp1, -zp2, out_zp, left_shift, m1, s1, m2, s2, mo, so, act_min, act_max)


def add_s8_reference(a_q: ArrayLike, b_q: ArrayLike, p: AddS8Params) -> NDArray[np.int8]:
    """int8 residual add exactly as ``et_add_s8``."""
    a = (np.asarray(a_q, np.int64) + p.input1_offset) << p.left_shift
    b = (np.asarray(b_q, np.int64) + p.input2_offset) << p.left_shift
    sa = multiply_by_quantized_multiplier(a, p.input1_multiplier, p.input1_shift)
    sb = multiply_by_quantized_multiplier(b, p.input2_multiplier, p.input2_shift)
    total = sa + sb
    _check_int32(total, "add sum")
    out = multiply_by_quantized_multiplier(total, p.output_multiplier, p.output_shift)
    return np.clip(out + p.output_offset, p.act_min, p.act_max).astype(np.int8)


# --- int8 activations by table lookup ------------------------------------------------------------
#
# leaky_relu, sigmoid, tanh and hard_swish run on int8 tensors as one 256-entry table per node
# (``et_lut_s8``), built the way TFLite builds its int8 LOGISTIC and TANH tables (``LUTPopulate``):
# every input code is dequantized, passed through the float function and quantized again, all in
# float32. Two choices are spelled out here:
#
# * Rounding: TFLite's ``TfLiteRound`` is ``std::round``, half AWAY from zero — unlike
#   :func:`quantize` above (``np.rint``, half to even). The tables use half away from zero, so a
#   table equals TFLite's for the same scales and float function. The rounding is done on the
#   exact float32 product (in float64, where adding 0.5 to it is exact), not with float32
#   ``floor(x + 0.5)``, which rounds 0.49999997 up.
# * Indexing: TFLite indexes its table by ``(uint8_t)x`` (codes 0..127 first, then -128..-1);
#   ``et_lut_s8`` indexes by ``x + 128``, so ``table[0]`` is the output for x = -128 and the table
#   reads in code order. The same 256 values, rotated by 128.
#
# The float functions are those of the numpy engine (`edgetrain.ops.activations`), in float32.
# They may differ from TFLite's by an ulp (its logistic is 1 / (1 + exp(-x)) for every x), which
# can move a code only where the scaled value sits on a rounding boundary.

#: Activation kinds that have an int8 lookup table.
LUT_KINDS = ("leaky_relu", "sigmoid", "tanh", "hard_swish")

#: Output quantization TFLite fixes for int8 LOGISTIC and TANH: [0, 1) and [-1, 1) on 256 codes.
FIXED_OUTPUT_QPARAMS = {"sigmoid": (1.0 / 256.0, -128), "tanh": (1.0 / 128.0, 0)}


def fixed_output_qparams(kind: str) -> tuple[float, int] | None:
    """(scale, zero_point) an int8 ``kind`` output always has, or None when it is calibrated.

    sigmoid: 1/256 and -128 (codes cover [0, 255/256]); tanh: 1/128 and 0 ([-1, 127/128]), as
    TFLite requires. leaky_relu and hard_swish outputs are unbounded and get observed ranges.
    """
    if kind not in LUT_KINDS:
        raise ValueError(f"no int8 table for activation {kind!r}; known: {', '.join(LUT_KINDS)}")
    return FIXED_OUTPUT_QPARAMS.get(kind)


_F32_TINY, _F32_MAX = float(np.finfo(np.float32).tiny), float(np.finfo(np.float32).max)


def _round_half_away_f32(v: NDArray[np.float32]) -> NDArray[np.float64]:
    """``std::round`` of float32 values (exact: float32 + 0.5 is exact in float64)."""
    a = np.abs(v.astype(np.float64))
    return np.copysign(np.floor(a + 0.5), v)


def activation_lut_s8(
    kind: str,
    input_scale: float,
    input_zero_point: int,
    output_scale: float,
    output_zero_point: int,
    alpha: float | None = None,
) -> NDArray[np.int8]:
    """The 256-entry int8 table of activation ``kind``, indexed by ``x + 128`` (``et_lut_s8``).

    Entry ``i`` is, in float32 as in TFLite's ``LUTPopulate``::

        r = input_scale * ((i - 128) - input_zero_point)
        q = clamp(round_half_away(f(r) * (1 / output_scale)) + output_zero_point, -128, 127)

    ``alpha`` is leaky_relu's slope (default 0.01, in (0, 1)); the other kinds take none. Any
    output quantization works; sigmoid and tanh normally use :func:`fixed_output_qparams`.
    """
    from ..errors import InvalidModelError
    from ..ops import activations as act

    if kind not in LUT_KINDS:
        raise ValueError(f"no int8 table for activation {kind!r}; known: {', '.join(LUT_KINDS)}")
    if kind == "leaky_relu":
        try:
            alpha = act.check_alpha(act.LEAKY_RELU_ALPHA if alpha is None else alpha, "activation_lut_s8")
        except InvalidModelError as e:
            raise ValueError(e.message) from None
    elif alpha is not None:
        raise ValueError(f"{kind} takes no alpha")
    for name, s in (("input_scale", input_scale), ("output_scale", output_scale)):
        # TFLite keeps scales as float32: the value must survive that rounding as a normal number.
        if not (math.isfinite(s) and _F32_TINY <= s <= _F32_MAX):
            raise ValueError(f"{name} must be a positive, normal float32, got {s}")
    for name, z in (("input_zero_point", input_zero_point), ("output_zero_point", output_zero_point)):
        if not -128 <= int(z) <= 127 or int(z) != z:
            raise ValueError(f"{name} must be an integer in [-128, 127], got {z}")
    codes = np.arange(-128, 128, dtype=np.int32)
    with np.errstate(over="ignore", invalid="ignore"):  # reported below as one error
        real = np.float32(input_scale) * (codes - np.int32(input_zero_point)).astype(np.float32)
        if kind == "leaky_relu":
            f = act.leaky_relu(real, cast(float, alpha))  # checked (and defaulted) above
        else:
            f = {"sigmoid": act.sigmoid, "tanh": act.tanh, "hard_swish": act.hard_swish}[kind](real)
        scaled = f * (np.float32(1) / np.float32(output_scale))  # float32, as TFLite's inverse_scale
    if not np.all(np.isfinite(scaled)):
        raise ValueError(f"{kind} table overflows float32 for scales {input_scale} -> {output_scale}")
    q = _round_half_away_f32(scaled) + int(output_zero_point)
    return np.clip(q, -128, 127).astype(np.int8)


def lut_s8_reference(x_q: ArrayLike, table: ArrayLike) -> NDArray[np.int8]:
    """``et_lut_s8``: ``table[x + 128]`` for every element of the int8 array ``x_q``."""
    t = np.asarray(table)
    if t.shape != (256,) or t.dtype != np.int8:
        raise ValueError(f"table must be 256 int8 values, got {t.dtype} {t.shape}")
    x = np.asarray(x_q)
    if x.dtype != np.int8:
        raise ValueError(f"input must be int8, got {x.dtype}")
    return t[x.astype(np.int16) + 128]

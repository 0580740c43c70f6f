"""int8 convolution and pooling in numpy, integer math only: the bit-exact contract of the C
kernels in ``firmware_export/include/et_conv.h`` and ``et_pool.h``.

The semantics are TFLite's int8 CONV_2D / DEPTHWISE_CONV_2D (per-channel symmetric weights),
AVERAGE_POOL_2D / MAX_POOL_2D and MEAN over (H, W):

* conv: ``acc = bias + sum over in-bounds taps (x - in_zp) * w`` in int32 (a padded position
  holds the input zero point, so it adds nothing), then per output channel
  ``clamp(multiply_by_quantized_multiplier(acc, mult, shift) + out_zp, act_min, act_max)``;
* avg pool: round half away from zero of ``sum / count`` over the in-bounds positions of the
  window, on the raw codes (input and output share their quantization);
* max pool: the largest in-bounds code, clamped;
* global average pool: TFLite Micro's MEAN (`global_avg_pool_s8_reference`): ``sum (x - in_zp)``
  requantized by ``in_scale / out_scale`` with ``1 / count`` folded into the multiplier, plus
  ``out_zp``, clamped.

Tensors and weights use the numpy layouts of `edgetrain.ops.conv` (activations ``(N, H, W, C)``,
weights ``(kh, kw, C_in / groups, C_out)``; a 1-D tensor is one with ``H = 1``), and the window
geometry is an `edgetrain.ops.conv.Geometry` (:func:`conv_geometry` builds one from node
attributes). :func:`to_c_conv_weights` and :func:`to_c_depthwise_weights` give the C layouts.
The requantization is `edgetrain.quantize.int8`'s, which equals ``et_mbqm``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..ops.conv import Geometry, geometry, pad, windows
from .int8 import INT32_MAX, INT32_MIN, multiply_by_quantized_multiplier, quantize_multiplier


def _int32_or_raise(x: NDArray[np.int64], what: str) -> None:
    if x.size and (x.min() < INT32_MIN or x.max() > INT32_MAX):
        raise ValueError(f"{what} overflows int32")


def conv_geometry(
    in_hw: Sequence[int], kernel_hw: Sequence[int], stride: Any = 1, dilation: Any = 1, padding: Any = "valid"
) -> Geometry:
    """The 2-D geometry of a conv or pool over an ``in_hw`` input (``padding``: ``"valid"``,
    ``"same"`` or ``[[top, bottom], [left, right]]``), by the rules of `edgetrain.ops.conv`."""
    return geometry(
        tuple(in_hw), tuple(kernel_hw), {"stride": stride, "dilation": dilation, "padding": padding}, "conv_reference"
    )


def to_c_conv_weights(w: ArrayLike) -> NDArray[Any]:
    """(kh, kw, C_in/groups, C_out) to the C conv layout OHWI [C_out][kh][kw][C_in/groups]."""
    return np.ascontiguousarray(np.asarray(w).transpose(3, 0, 1, 2))


def to_c_depthwise_weights(w: ArrayLike) -> NDArray[Any]:
    """(kh, kw, 1, C_out) of a depthwise conv to the C depthwise layout HWO [kh][kw][C_out]."""
    a = np.asarray(w)
    if a.ndim != 4 or a.shape[2] != 1:
        raise ValueError(f"depthwise weights must be (kh, kw, 1, C_out), got {a.shape}")
    return np.ascontiguousarray(a.reshape(a.shape[0], a.shape[1], a.shape[3]))


def conv_effective_bias(bias_q: ArrayLike | None, w_q: ArrayLike, in_zp: int) -> NDArray[np.int32]:
    """``eff_bias`` of ``et_conv_s8_params``: ``bias - in_zp * (sum of each output channel's
    weights over the whole window)``, from weights (kh, kw, C_in/groups, C_out)."""
    w = np.asarray(w_q, dtype=np.int64)
    sums = w.sum(axis=(0, 1, 2))
    b = np.zeros(w.shape[3], np.int64) if bias_q is None else np.asarray(bias_q, np.int64)
    eff = b - int(in_zp) * sums
    _int32_or_raise(eff, "effective bias")
    return eff.astype(np.int32)


def _requantize(
    acc: NDArray[np.int64], mults: ArrayLike, shifts: ArrayLike, out_zp: int, act_min: int, act_max: int
) -> NDArray[np.int8]:
    """Per channel (the last axis) or per tensor (one multiplier) requantization and clamp."""
    m = np.asarray(mults, dtype=np.int64).reshape(-1)
    s = np.asarray(shifts, dtype=np.int64).reshape(-1)
    if m.size not in (1, acc.shape[-1]) or s.size != m.size:
        raise ValueError(f"mults/shifts must have 1 or {acc.shape[-1]} elements")
    _int32_or_raise(acc, "accumulator")
    out = multiply_by_quantized_multiplier(acc, m, s) + int(out_zp)
    return np.clip(out, act_min, act_max).astype(np.int8)


def conv2d_s8_reference(
    x_q: ArrayLike,
    w_q: ArrayLike,
    bias_q: ArrayLike | None,
    geo: Geometry,
    groups: int,
    in_zp: int,
    out_zp: int,
    mults: ArrayLike,
    shifts: ArrayLike,
    act_min: int = -128,
    act_max: int = 127,
) -> NDArray[np.int8]:
    """int8 conv2d exactly as ``et_conv_s8_ref`` (any ``groups``) and, with ``groups == C_in``,
    ``et_depthwise_conv_s8_ref``.

    ``x_q``: (N, H, W, C_in) int8; ``w_q``: (kh, kw, C_in/groups, C_out) int8 (symmetric);
    ``bias_q``: (C_out,) int32 or None; ``mults``/``shifts``: 1 (per tensor) or C_out values.
    Returns (N, Ho, Wo, C_out) int8.
    """
    x = np.asarray(x_q, dtype=np.int64)
    w = np.asarray(w_q, dtype=np.int64)
    kh, kw, cig, cout = w.shape
    n, _, _, cin = x.shape
    if cig * groups != cin or cout % groups:
        raise ValueError(f"weights {w.shape} and groups={groups} do not fit {cin} input channels")
    if (kh, kw) != tuple(geo.kernel):
        raise ValueError(f"weights {w.shape} do not match the geometry's kernel {geo.kernel}")
    cog = cout // groups
    # x - zp, padded with 0: a padded tap holds the zero point, i.e. adds nothing.
    cols = windows(pad(x - int(in_zp), geo), geo)  # (N, Ho, Wo, kh, kw, C_in)
    m = n * geo.out_hw[0] * geo.out_hw[1]
    acc = np.empty((m, cout), np.int64)
    for g in range(groups):
        cg = cols[..., g * cig : (g + 1) * cig].reshape(m, kh * kw * cig)
        wg = w[:, :, :, g * cog : (g + 1) * cog].reshape(kh * kw * cig, cog)
        acc[:, g * cog : (g + 1) * cog] = cg @ wg
    if bias_q is not None:
        acc += np.asarray(bias_q, dtype=np.int64)
    return _requantize(acc, mults, shifts, out_zp, act_min, act_max).reshape(n, *geo.out_hw, cout)


def _window_counts(geo: Geometry) -> NDArray[np.int64]:
    """In-bounds positions of every window, (Ho, Wo, 1)."""
    ones = pad(np.ones((1, *geo.in_hw, 1), np.int64), geo)
    return windows(ones, geo).sum(axis=(3, 4))[0]


def _round_div_away(num: NDArray[np.int64], den: ArrayLike) -> NDArray[np.int64]:
    """``num / den`` rounded half away from zero (den > 0): TFLite's (num +- den/2) / den with
    C division, which truncates toward zero."""
    d = np.asarray(den, dtype=np.int64)
    half = d // 2
    return np.where(num > 0, (num + half) // d, -((-num + half) // d))


def _check_pool_geometry(geo: Geometry) -> None:
    if geo.dilation != (1, 1):
        raise ValueError("pools have no dilation")


def max_pool_s8_reference(x_q: ArrayLike, geo: Geometry, act_min: int = -128, act_max: int = 127) -> NDArray[np.int8]:
    """int8 max pool exactly as ``et_max_pool_s8``: (N, H, W, C) to (N, Ho, Wo, C)."""
    _check_pool_geometry(geo)
    x = np.asarray(x_q, dtype=np.int64)
    y = windows(pad(x, geo, value=-(1 << 40)), geo).max(axis=(3, 4))  # padding never wins
    return np.clip(y, act_min, act_max).astype(np.int8)


def avg_pool_s8_reference(x_q: ArrayLike, geo: Geometry, act_min: int = -128, act_max: int = 127) -> NDArray[np.int8]:
    """int8 average pool exactly as ``et_avg_pool_s8`` (TFLite AVERAGE_POOL_2D): the sum of the
    in-bounds codes divided by their count, rounded half away from zero."""
    _check_pool_geometry(geo)
    x = np.asarray(x_q, dtype=np.int64)
    sums = windows(pad(x, geo), geo).sum(axis=(3, 4))
    y = _round_div_away(sums, _window_counts(geo))
    return np.clip(y, act_min, act_max).astype(np.int8)


def global_avg_pool_s8_params(in_scale: float, out_scale: float) -> tuple[int, int]:
    """(multiplier, shift) of ``et_global_pool_s8_params`` for ``in_scale / out_scale``
    (TFLite MEAN's preparation); (2^30, 1) for equal scales."""
    return quantize_multiplier(float(in_scale) / float(out_scale))


def mean_multiplier(multiplier: int, shift: int, count: int) -> tuple[int, int]:
    """TFLite's QuantizedMeanOrSum folding of ``1 / count`` into a requantization: ``s =
    min(floor(log2(count)), 32, 31 + shift)``, ``multiplier' = (multiplier << s) // count``,
    ``shift' = shift - s``."""
    s = min(int(count).bit_length() - 1, 32, 31 + int(shift))
    return (int(multiplier) << s) // int(count), int(shift) - s


def global_avg_pool_s8_reference(
    x_q: ArrayLike, in_zp: int, out_zp: int, multiplier: int, shift: int, act_min: int = -128, act_max: int = 127
) -> NDArray[np.int8]:
    """int8 global average pool exactly as ``et_global_avg_pool_s8`` and TFLite Micro's MEAN over
    (H, W): (N, H, W, C) or (N, L, C) to (N, C).

    Different input and output quantization (TFLite's QuantizedMeanOrSum):
    ``mbqm(sum(x - in_zp), mean_multiplier(...)) + out_zp``; the same quantization (``in_zp ==
    out_zp`` and the multiplier of 1.0, (2^30, 1)): the raw codes' ``sum / count`` truncated
    toward zero (TFLite's plain Mean). Then the clamp."""
    x = np.asarray(x_q, dtype=np.int64)
    axes = tuple(range(1, x.ndim - 1))
    count = int(np.prod([x.shape[a] for a in axes]))
    if int(in_zp) == int(out_zp) and (int(multiplier), int(shift)) == (1 << 30, 1):
        total = x.sum(axis=axes)
        y = np.where(total < 0, -((-total) // count), total // count)
    else:
        m, s = mean_multiplier(multiplier, shift, count)
        y = multiply_by_quantized_multiplier((x - int(in_zp)).sum(axis=axes), m, s) + int(out_zp)
    return np.clip(y, act_min, act_max).astype(np.int8)

"""Convolutions on batch-first, channels-last activations: conv2d (NHWC) and conv1d (NLC).

Layouts (the contract every backend's conv rule follows):

* activations: ``(N, H, W, C)`` for 2-D, ``(N, L, C)`` for 1-D; a 1-D tensor is run as a 2-D one
  with ``H = 1``, so both op kinds share one core;
* weights: ``(kh, kw, C_in / groups, C_out)`` for conv2d, ``(k, C_in / groups, C_out)`` for
  conv1d; ``bias``: ``(C_out,)``;
* groups: input channel ``g * C_in/groups + i`` and output channel ``g * C_out/groups + j``
  belong to group ``g``; ``groups == C_in`` is a depthwise convolution (``C_out = C_in *
  depth_multiplier``: output channel ``c * multiplier + m`` reads input channel ``c``).

Node attributes: ``stride``, ``dilation`` (an int or one per spatial axis), ``padding``
(``"valid"``, ``"same"`` or explicit amounts: ``[[top, bottom], [left, right]]`` for conv2d,
``[left, right]`` for conv1d; each at most ``(kernel - 1) * dilation``), ``groups`` (default 1).
``"same"`` pads like TensorFlow: the output has ``ceil(size / stride)`` positions and an odd total pad
puts the extra row/column at the end.
An activation is a separate node after the convolution (as after dense); kernel backends fuse it.

The rules are im2col: a strided view of the padded input holds every window, one BLAS matmul per
forward and per gradient does the arithmetic, and the input gradient is scattered back one kernel
tap at a time (a loop over the taps, never over pixels). A depthwise convolution (groups == C_in)
has nothing for a matmul to share between channels: its rules are one elementwise multiply-add
per kernel tap over the whole batch (`depthwise_forward` / `depthwise_backward`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..errors import InvalidModelError
from .base import IN0, NO_BUFFERS, Op

PADDING_MODES = ("valid", "same")


# -- geometry ------------------------------------------------------------------------------------


def spatial_ints(value: Any, rank: int, what: str, where: str, minimum: int) -> tuple[int, ...]:
    """``value`` (an int or ``rank`` ints) as ``rank`` ints, each >= ``minimum``; else an
    InvalidModelError naming ``where``."""
    items = [value] * rank if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else value
    try:
        vals = tuple(items)
    except TypeError:
        vals = ()
    if len(vals) != rank or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in vals):
        raise InvalidModelError(f"{where}: {what} must be an integer or {rank} integers, got {value!r}")
    if any(v < minimum for v in vals):
        raise InvalidModelError(f"{where}: {what} must be >= {minimum}, got {value!r}")
    return tuple(int(v) for v in vals)


def resolve_padding(
    padding: Any,
    sizes: Sequence[int],
    kernel: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
    where: str,
) -> tuple[tuple[int, int], ...]:
    """Explicit ``(before, after)`` amounts per spatial axis for a padding attribute."""
    rank = len(sizes)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * rank
        if padding == "same":
            same: list[tuple[int, int]] = []
            for n, k, s, d in zip(sizes, kernel, stride, dilation):
                total = max((math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n, 0)
                same.append((total // 2, total - total // 2))
            return tuple(same)
        raise InvalidModelError(f"{where}: padding must be 'valid', 'same' or explicit amounts, got {padding!r}")
    try:
        pairs = [padding] if rank == 1 and len(padding) == 2 and not hasattr(padding[0], "__len__") else padding
        pads = tuple((p[0], p[1]) for p in pairs if len(p) == 2)
    except TypeError:
        pads = ()
    if len(pads) != rank or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for p in pads for v in p):
        shape = "[left, right]" if rank == 1 else "[[top, bottom], [left, right]]"
        raise InvalidModelError(f"{where}: explicit padding must be {shape} integers, got {padding!r}")
    if any(v < 0 for p in pads for v in p):
        raise InvalidModelError(f"{where}: padding must not be negative, got {padding!r}")
    # A window that reads only padding computes nothing from the input (and keeps padded copies
    # of the input bounded by the kernel): each amount stays below the window's span.
    for (a, b), k, d in zip(pads, kernel, dilation):
        if max(a, b) > (k - 1) * d:
            raise InvalidModelError(
                f"{where}: padding {padding!r} is not smaller than the window ({(k - 1) * d + 1} positions)",
                hint="pad each side by at most (kernel - 1) * dilation",
            )
    return tuple((int(a), int(b)) for a, b in pads)


def output_sizes(
    sizes: Sequence[int],
    kernel: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
    pads: Sequence[tuple[int, int]],
    where: str,
) -> tuple[int, ...]:
    """Output positions per spatial axis; an InvalidModelError if a window does not fit."""
    out = []
    for n, k, s, d, (a, b) in zip(sizes, kernel, stride, dilation, pads):
        span = (k - 1) * d + 1
        if span > n + a + b:
            raise InvalidModelError(
                f"{where}: a window of {span} (kernel {k}, dilation {d}) is larger than the padded input "
                f"({n} + {a + b} padding)",
                hint="use a smaller kernel or pool, padding='same', or a larger input",
            )
        out.append((n + a + b - span) // s + 1)
    return tuple(out)


@dataclass(frozen=True)
class Geometry:
    """Window geometry over a 2-D (NHWC) tensor; a 1-D tensor is one with H = 1."""

    in_hw: tuple[int, int]
    kernel: tuple[int, int]
    stride: tuple[int, int]
    dilation: tuple[int, int]
    pads: tuple[tuple[int, int], tuple[int, int]]
    out_hw: tuple[int, int]

    @property
    def taps(self) -> int:
        """The number of kernel positions (kernel height times width)."""
        return self.kernel[0] * self.kernel[1]


# Geometries already checked, keyed by the repr of their arguments: the training step asks for a
# node's geometry on every forward and backward, and the checks cost more than a small conv's
# arithmetic. repr keeps the types the checks tell apart (True is not 1, "same" is not ["same"]).
# Only successes are kept (a failure is re-checked, so its message names the node asking).
_GEOMETRIES: dict[str, Geometry] = {}
_GEOMETRY_CACHE_SIZE = 4096


def geometry(
    in_spatial: Sequence[int], kernel: Sequence[int], attrs: dict[str, Any], where: str, padding_default: str = "valid"
) -> Geometry:
    """The geometry a node's attributes give over an input of spatial size ``in_spatial``
    (1 or 2 axes); raises an InvalidModelError naming ``where`` for bad attributes."""
    key = repr(
        (
            tuple(in_spatial),
            tuple(kernel),
            attrs.get("stride", 1),
            attrs.get("dilation", 1),
            attrs.get("padding", padding_default),
        )
    )
    hit = _GEOMETRIES.get(key)
    if hit is not None:
        return hit
    geo = _check_geometry(in_spatial, kernel, attrs, where, padding_default)
    if len(_GEOMETRIES) < _GEOMETRY_CACHE_SIZE:
        _GEOMETRIES[key] = geo
    return geo


def _check_geometry(
    in_spatial: Sequence[int], kernel: Sequence[int], attrs: dict[str, Any], where: str, padding_default: str
) -> Geometry:
    rank = len(in_spatial)
    kernel = spatial_ints(tuple(kernel), rank, "kernel", where, 1)
    stride = spatial_ints(attrs.get("stride", 1), rank, "stride", where, 1)
    dilation = spatial_ints(attrs.get("dilation", 1), rank, "dilation", where, 1)
    pads = resolve_padding(attrs.get("padding", padding_default), in_spatial, kernel, stride, dilation, where)
    out = output_sizes(in_spatial, kernel, stride, dilation, pads, where)
    if rank == 1:
        return Geometry(
            (1, in_spatial[0]), (1, kernel[0]), (1, stride[0]), (1, dilation[0]), ((0, 0), pads[0]), (1, out[0])
        )
    return Geometry(tuple(in_spatial), kernel, stride, dilation, pads, out)  # type: ignore[arg-type]


def pad(x: np.ndarray, g: Geometry, value: float = 0.0) -> np.ndarray:
    """``x`` (N, H, W, C) padded by ``g.pads`` (itself when there is no padding)."""
    (t, b), (l, r) = g.pads  # noqa: E741 (the pads: top, bottom, left, right)
    if not (t or b or l or r):
        return x
    # A filled array and one slice copy: the same values as np.pad, without its per-call overhead.
    n, h, w, c = x.shape
    xp = (
        np.zeros((n, h + t + b, w + l + r, c), x.dtype)
        if value == 0
        else np.full((n, h + t + b, w + l + r, c), value, x.dtype)
    )
    xp[:, t : t + h, l : l + w, :] = x
    return xp


def windows(xp: np.ndarray, g: Geometry) -> np.ndarray:
    """A read-only view (N, Ho, Wo, kh, kw, C) of every window of the padded input ``xp``."""
    n, _, _, c = xp.shape
    sn, sh, sw, sc = xp.strides
    return as_strided(
        xp,
        (n, *g.out_hw, *g.kernel, c),
        (sn, sh * g.stride[0], sw * g.stride[1], sh * g.dilation[0], sw * g.dilation[1], sc),
        writeable=False,
    )


def tap_slices(g: Geometry, a: int, b: int) -> tuple[slice, slice, slice, slice]:
    """The positions of the padded input that kernel tap (a, b) reads, over all outputs."""
    h0, w0 = a * g.dilation[0], b * g.dilation[1]
    return (
        slice(None),
        slice(h0, h0 + g.stride[0] * (g.out_hw[0] - 1) + 1, g.stride[0]),
        slice(w0, w0 + g.stride[1] * (g.out_hw[1] - 1) + 1, g.stride[1]),
        slice(None),
    )


def scatter_taps(
    dcols: np.ndarray, g: Geometry, n: int, c: int, dtype: np.dtype, out: np.ndarray | None = None
) -> np.ndarray:
    """The input gradient (N, H, W, C) from per-window gradients ``dcols`` (N, Ho, Wo, kh, kw, C):
    each tap's gradients summed onto the positions it read, the padding cropped."""
    (t, b), (l, r) = g.pads  # noqa: E741 (the pads: top, bottom, left, right)
    h, w = g.in_hw
    dxp = np.zeros((n, h + t + b, w + l + r, c), dtype)
    for i in range(g.kernel[0]):
        for j in range(g.kernel[1]):
            dxp[tap_slices(g, i, j)] += dcols[:, :, :, i, j, :]
    dx = dxp[:, t : t + h, l : l + w, :]
    if out is not None:
        np.copyto(out, dx)
        return out
    return dx if (t or b or l or r) else dxp


# -- the shared convolution core --------------------------------------------------------------------


def is_depthwise(w: np.ndarray, groups: int) -> bool:
    """One input channel per group (groups == C_in > 1): the depthwise rules below apply."""
    return groups > 1 and w.shape[2] == 1


# -- depthwise: one multiply-add per kernel tap ------------------------------------------------------
# A depthwise convolution has taps * C multiplies per output pixel and nothing to share between
# channels, so im2col + a matmul per group (G matmuls with one output column) is mostly copying.
# These rules loop over the kernel taps instead: each tap is one elementwise multiply-add over the
# whole batch, with the tap's weights laid out as a contiguous (Wo, C) row, so numpy's inner loop
# runs over Wo * C values (not C) wherever the tap's view is contiguous (stride 1). A depth
# multiplier m > 1 first repeats each input channel m times: output c * m + j reads channel c.


def _tap_rows(w: np.ndarray, g: Geometry) -> np.ndarray:
    """Depthwise weights (kh, kw, 1, C) as (taps, Wo, C): each tap's weights repeated per column."""
    return np.ascontiguousarray(np.broadcast_to(w.reshape(g.taps, 1, w.shape[3]), (g.taps, g.out_hw[1], w.shape[3])))


def _taps(g: Geometry) -> list[tuple[int, tuple[slice, slice, slice, slice]]]:
    return [(i * g.kernel[1] + j, tap_slices(g, i, j)) for i in range(g.kernel[0]) for j in range(g.kernel[1])]


def _repeat_channels(xp: np.ndarray, mult: int) -> np.ndarray:
    return xp if mult == 1 else np.repeat(xp, mult, axis=3)


def depthwise_forward(
    x: np.ndarray, w: np.ndarray, bias: np.ndarray | None, g: Geometry, out: np.ndarray | None = None
) -> np.ndarray:
    """`conv_forward` for a depthwise weight (kh, kw, 1, C_in * m)."""
    n, cout = x.shape[0], w.shape[3]
    xp = _repeat_channels(pad(x, g), cout // x.shape[3])
    rows = _tap_rows(w, g)
    y = np.empty((n, *g.out_hw, cout), x.dtype) if out is None else out
    tmp = np.empty_like(y)
    for t, sl in _taps(g):
        if t == 0:
            np.multiply(xp[sl], rows[t], out=y)
        else:
            np.multiply(xp[sl], rows[t], out=tmp)
            y += tmp
    if bias is not None:
        y += bias
    return y


def depthwise_backward(
    x: np.ndarray | None,
    w: np.ndarray,
    dy: np.ndarray,
    g: Geometry,
    groups: int,
    need_dx: bool,
    need_dw: bool,
    need_db: bool,
    out: Any = NO_BUFFERS,
    dx_key: str = IN0,
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """`conv_backward` for a depthwise weight: per tap, dw[t] = sum(x_t * dy) over batch and
    pixels (one BLAS product with a row of ones) and dx_t += dy * w[t]."""
    n, cout = dy.shape[0], w.shape[3]
    (t0, b0), (l0, r0) = g.pads
    h, wd = g.in_hw
    mult = cout // groups  # groups == C_in
    dw = db = dx = None
    m = n * g.out_hw[0] * g.out_hw[1]
    taps = _taps(g)
    if need_dw:
        xp = _repeat_channels(pad(x, g), mult)  # type: ignore[arg-type]
        prods = np.empty((g.taps, n, *g.out_hw, cout), dy.dtype)
        for t, sl in taps:
            np.multiply(xp[sl], dy, out=prods[t])
        dw = np.matmul(np.ones(m, dy.dtype), prods.reshape(g.taps, m, cout), out=_as(out.get("weight"), (g.taps, cout)))
        dw = out["weight"] if out.get("weight") is not None else dw.reshape(w.shape)
    if need_db:
        db = column_sums(dy.reshape(m, cout), out.get("bias"))
    if need_dx:
        rows = _tap_rows(w, g)
        dxp = np.zeros((n, h + t0 + b0, wd + l0 + r0, cout), dy.dtype)
        tmp = np.empty_like(dy)
        for t, sl in taps:
            np.multiply(dy, rows[t], out=tmp)
            dxp[sl] += tmp
        d = dxp[:, t0 : t0 + h, l0 : l0 + wd, :]
        if mult > 1:  # the m copies of each input channel sum back onto it
            d = d.reshape(n, h, wd, cout // mult, mult).sum(axis=4)
        buf = out.get(dx_key)
        if buf is not None:
            np.copyto(buf, d)
            dx = buf
        else:
            dx = d if (t0 or b0 or l0 or r0 or mult > 1) else dxp
    return dx, dw, db


def conv_forward(
    x: np.ndarray, w: np.ndarray, bias: np.ndarray | None, g: Geometry, groups: int, out: np.ndarray | None = None
) -> np.ndarray:
    """y (N, Ho, Wo, C_out) = conv(x (N, H, W, C_in), w (kh, kw, C_in/groups, C_out)) + bias."""
    if is_depthwise(w, groups):
        return depthwise_forward(x, w, bias, g, out)
    n = x.shape[0]
    cig, cout = w.shape[2], w.shape[3]
    cog = cout // groups
    m, k = n * g.out_hw[0] * g.out_hw[1], g.taps * cig
    cols = windows(pad(x, g), g)
    if groups == 1:
        y = np.matmul(
            cols.reshape(m, k), w.reshape(k, cout), out=None if out is None else out.reshape(m, cout)
        ).reshape(n, *g.out_hw, cout)
    else:
        # (G, M, K) @ (G, K, C_out/G), then back to channels-last with the groups outermost.
        cg = cols.reshape(m, g.taps, groups, cig).transpose(2, 0, 1, 3).reshape(groups, m, k)
        wg = w.reshape(g.taps, cig, groups, cog).transpose(2, 0, 1, 3).reshape(groups, k, cog)
        yg = np.matmul(cg, wg).transpose(1, 0, 2).reshape(n, *g.out_hw, cout)
        if out is None:
            y = yg
        else:
            np.copyto(out, yg)
            y = out
    if bias is not None:
        y += bias
    return y


def conv_backward(
    x: np.ndarray | None,
    w: np.ndarray,
    dy: np.ndarray,
    g: Geometry,
    groups: int,
    need_dx: bool,
    need_dw: bool,
    need_db: bool,
    out: Any = NO_BUFFERS,
    dx_key: str = IN0,
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """(dx, dw, db) of :func:`conv_forward`, each only when asked for (``x`` is needed for dw)."""
    if is_depthwise(w, groups):
        return depthwise_backward(x, w, dy, g, groups, need_dx, need_dw, need_db, out, dx_key)
    n = dy.shape[0]
    cig, cout = w.shape[2], w.shape[3]
    cog = cout // groups
    m, k = n * g.out_hw[0] * g.out_hw[1], g.taps * cig
    dy2 = dy.reshape(m, cout)
    dw = db = dx = None
    if need_dw:
        cols = windows(pad(x, g), g)  # type: ignore[arg-type]
        if groups == 1:
            dw = np.matmul(cols.reshape(m, k).T, dy2, out=_as(out.get("weight"), (k, cout))).reshape(w.shape)
        else:
            cg = cols.reshape(m, g.taps, groups, cig).transpose(2, 1, 3, 0).reshape(groups, k, m)
            dyg = dy2.reshape(m, groups, cog).transpose(1, 0, 2)
            dwg = np.matmul(cg, dyg).reshape(groups, g.taps, cig, cog).transpose(1, 2, 0, 3).reshape(w.shape)
            dw = dwg
            if out.get("weight") is not None:
                np.copyto(out["weight"], dwg)
                dw = out["weight"]
    if need_db:
        db = column_sums(dy2, out.get("bias"))
    if need_dx:
        if groups == 1:
            dcols = np.matmul(dy2, w.reshape(k, cout).T)
        else:
            dyg = dy2.reshape(m, groups, cog).transpose(1, 0, 2)
            wg = w.reshape(g.taps, cig, groups, cog).transpose(2, 3, 0, 1).reshape(groups, cog, k)
            dcols = np.matmul(dyg, wg).reshape(groups, m, g.taps, cig).transpose(1, 2, 0, 3)
        dcols = dcols.reshape(n, *g.out_hw, *g.kernel, groups * cig)
        dx = scatter_taps(dcols, g, n, groups * cig, dy.dtype, out=out.get(dx_key))
    return dx, dw, db


def column_sums(a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """The sum of each column of a 2-D array as one BLAS product with a row of ones: numpy's
    add.reduce over axis 0 runs an inner loop of only C values per row (C_out is small)."""
    return np.matmul(np.ones(a.shape[0], a.dtype), a, out=out)


def _as(buf: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray | None:
    return None if buf is None else buf.reshape(shape)


# -- the op kinds ------------------------------------------------------------------------------------


class Conv2DOp(Op):
    """2-D convolution on NHWC; weight (kh, kw, C_in/groups, C_out). See the module docstring."""

    kind = "conv2d"
    rank = 2
    param_roles = ("weight", "bias")
    required_roles = ("weight",)
    uses_out = True

    def check(self, node, in_shapes, params) -> tuple[Geometry, int]:
        """Validate the node; record its input shape (the backward needs it) and return its geometry."""
        self.check_arity(node, in_shapes, params)
        where = f"{self.kind} {node.name!r}"
        (x,) = in_shapes
        w = params["weight"].shape
        if len(x) != self.rank + 1:
            layout = "(H, W, C)" if self.rank == 2 else "(L, C)"
            raise InvalidModelError(
                f"{where} needs an input of shape {layout}, got {x}",
                hint="add a reshape layer before it" if len(x) == 1 else None,
            )
        if len(w) != self.rank + 2:
            raise InvalidModelError(
                f"{where}: weight must have {self.rank + 2} axes "
                f"({'kh, kw' if self.rank == 2 else 'k'}, C_in/groups, C_out), got {w}"
            )
        groups = node.attrs.get("groups", 1)
        if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
            raise InvalidModelError(f"{where}: groups must be an integer >= 1, got {groups!r}")
        cin, cig, cout = x[-1], w[-2], w[-1]
        if cin % groups or cout % groups:
            raise InvalidModelError(
                f"{where}: groups={groups} must divide the input channels ({cin}) and the output channels ({cout})"
            )
        if cig * groups != cin:
            raise InvalidModelError(
                f"{where}: the input has {cin} channels but the weight {w} expects "
                f"{cig * groups} ({cig} per group, {groups} group(s))"
            )
        if "bias" in params and params["bias"].shape != (cout,):
            raise InvalidModelError(f"{where}: bias shape {params['bias'].shape} != ({cout},)")
        geo = geometry(x[:-1], w[:-2], node.attrs, where)
        node.attrs["in_shape"] = list(x)
        return geo, int(groups)

    def infer_shape(self, node, in_shapes, params):
        """The output shape from the checked geometry and the weight's output channels ((H, W, C)
        or, for 1-D, (L, C))."""
        geo, _ = self.check(node, in_shapes, params)
        cout = params["weight"].shape[-1]
        return (*geo.out_hw, cout) if self.rank == 2 else (geo.out_hw[1], cout)

    def macs(self, node, in_shapes, out_shape, params):
        """Output elements times the weight's taps and input channels per group."""
        w = params["weight"].shape
        return math.prod(out_shape) * math.prod(w[:-1])

    # The 1-D op views its tensors as 2-D ones with H = 1; these are identities here.
    def as_2d(self, a: np.ndarray) -> np.ndarray:
        """A tensor as the 2-D kernels see it (itself here; 1-D adds H = 1)."""
        return a

    def weight_2d(self, w: np.ndarray) -> np.ndarray:
        """A weight as the 2-D kernels see it (itself here; 1-D adds a kernel height of 1)."""
        return w

    def _geo(self, node, x_shape: tuple[int, ...], w: np.ndarray) -> tuple[Geometry, int]:
        kernel = w.shape[:-2]
        geo = geometry(tuple(x_shape[1:-1]), kernel, node.attrs, f"{self.kind} {node.name!r}")
        return geo, int(node.attrs.get("groups", 1))

    def forward(self, node, xs, ws, out=None):
        """The (grouped, strided, dilated, padded) convolution of x with the weight, plus the
        bias."""
        x, w = xs[0], ws["weight"]
        geo, groups = self._geo(node, x.shape, w)
        y = conv_forward(
            self.as_2d(x), self.weight_2d(w), ws.get("bias"), geo, groups, out=None if out is None else self.as_2d(out)
        )
        if out is not None:
            return out
        return y if self.rank == 2 else y.reshape(x.shape[0], *y.shape[2:])

    def saves(self, need_dx, need_dparams):
        """The input, when the weight's gradient is needed."""
        return {IN0} if "weight" in need_dparams else set()

    def backward(self, node, dy, saved, ws, need_dx, need_dparams, out=NO_BUFFERS):
        """The gradients of the input, weight and bias that are needed."""
        w = ws["weight"]
        shape = (dy.shape[0], *node.attrs["in_shape"])
        geo, groups = self._geo(node, shape, w)
        x = saved.get(IN0)
        bufs = {k: (self.as_2d(v) if k == IN0 else (self.weight_2d(v) if k == "weight" else v)) for k, v in out.items()}
        dx, dw, db = conv_backward(
            None if x is None else self.as_2d(x),
            self.weight_2d(w),
            self.as_2d(dy),
            geo,
            groups,
            need_dx[0],
            "weight" in need_dparams,
            "bias" in need_dparams,
            bufs,
        )
        # Where a buffer was given the gradient is in it: hand on the buffer itself, not a view.
        grads: dict[str, np.ndarray] = {}
        if dw is not None:
            grads["weight"] = out["weight"] if "weight" in out else dw.reshape(w.shape)
        if db is not None:
            grads["bias"] = db
        if dx is not None:
            dx = out[IN0] if IN0 in out else dx.reshape(shape)
        return [dx], grads


class Conv1DOp(Conv2DOp):
    """1-D convolution on NLC; weight (k, C_in/groups, C_out). Runs as conv2d with H = 1."""

    kind = "conv1d"
    rank = 1

    def as_2d(self, a: np.ndarray) -> np.ndarray:
        """``a`` with an H axis of 1 inserted after the batch axis."""
        return a.reshape(a.shape[0], 1, *a.shape[1:])

    def weight_2d(self, w: np.ndarray) -> np.ndarray:
        """``w`` with a kernel height of 1 prepended."""
        return w.reshape(1, *w.shape)


class ReshapeOp(Op):
    """A static reshape of each sample (the batch axis is kept): attribute ``shape``, the target
    without the batch axis; one entry may be -1 (inferred). A view, as flatten is: e.g. flat
    features into the (H, W, C) layout a conv2d reads."""

    kind = "reshape"
    is_view = True

    def infer_shape(self, node, in_shapes, params):
        """The target shape (one -1 inferred); InvalidModelError when the shape is malformed or has
        another element count. Records the input and output shapes on the node."""
        self.check_arity(node, in_shapes, params)
        where = f"reshape {node.name!r}"
        shape = node.attrs.get("shape")
        try:
            target = [int(d) for d in shape if not isinstance(d, bool)] if shape is not None else []
        except (TypeError, ValueError):
            target = []
        if not target or len(target) != len(shape) or any(d == 0 or d < -1 for d in target) or target.count(-1) > 1:
            raise InvalidModelError(f"{where}: shape must be a list of positive sizes (one may be -1), got {shape!r}")
        size = math.prod(in_shapes[0])
        known = math.prod(d for d in target if d != -1)
        if -1 in target:
            if size % known:
                raise InvalidModelError(f"{where}: cannot reshape {in_shapes[0]} ({size} values) to {shape}")
            target[target.index(-1)] = size // known
        if math.prod(target) != size:
            raise InvalidModelError(f"{where}: cannot reshape {in_shapes[0]} ({size} values) to {tuple(target)}")
        node.attrs["in_shape"] = list(in_shapes[0])
        node.attrs["out_shape"] = target
        return tuple(target)

    def forward(self, node, xs, ws, out=None):
        """x reshaped to the recorded output shape."""
        return xs[0].reshape(xs[0].shape[0], *node.attrs["out_shape"])

    def backward(self, node, dy, saved, ws, need_dx, need_dparams, out=NO_BUFFERS):
        """dy reshaped back to the input shape."""
        return [dy.reshape((dy.shape[0], *node.attrs["in_shape"]))], {}

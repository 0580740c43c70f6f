"""Pooling and normalisation on channels-last activations: max_pool, avg_pool, global_avg_pool,
batch_norm.

Pooling works on (H, W, C) samples (2-D) and (L, C) samples (1-D, run as 2-D with H = 1); the rank
comes from the input. Attributes: ``pool`` (an int or one per spatial axis), ``stride`` (default:
the pool size), ``padding`` (``"valid"`` or ``"same"``, default ``"valid"``; ``"same"`` pads as
conv2d does). Padding never takes part: a max ignores it, an average divides by the number of
input values in the window. ``global_avg_pool`` averages every spatial position: (N, H, W, C) and
(N, L, C) become (N, C).

``batch_norm`` normalises over the last (channel) axis of any input: see `BatchNormOp`.
"""

from __future__ import annotations

import math

import numpy as np

from ..engine.mode import forward_mode
from ..errors import InvalidModelError
from .base import IN0, NO_BUFFERS, Op
from .conv import Geometry, geometry, pad, scatter_taps, spatial_ints, tap_slices, windows


def _as_2d(a: np.ndarray) -> np.ndarray:
    """A (N, L, C) batch as (N, 1, L, C); a (N, H, W, C) batch as it is."""
    return a.reshape(a.shape[0], 1, *a.shape[1:]) if a.ndim == 3 else a


class _Pool(Op):
    uses_out = True
    pad_value = 0.0

    def pool_geometry(self, node, spatial: tuple[int, ...]) -> Geometry:
        where = f"{self.kind} {node.name!r}"
        size = spatial_ints(node.attrs.get("pool", 2), len(spatial), "pool", where, 1)
        attrs = {"stride": node.attrs.get("stride") or size, "padding": node.attrs.get("padding", "valid")}
        if attrs["padding"] not in ("valid", "same"):
            raise InvalidModelError(f"{where}: padding must be 'valid' or 'same', got {attrs['padding']!r}")
        return geometry(spatial, size, attrs, where)

    def infer_shape(self, node, in_shapes, params):
        self.check_arity(node, in_shapes, params)
        (x,) = in_shapes
        if len(x) not in (2, 3):
            raise InvalidModelError(
                f"{self.kind} {node.name!r} needs an input of shape (H, W, C) or (L, C), got {x}",
                hint="add a reshape layer before it" if len(x) == 1 else None,
            )
        geo = self.pool_geometry(node, x[:-1])
        node.attrs["in_shape"] = list(x)
        return (*geo.out_hw, x[-1]) if len(x) == 3 else (geo.out_hw[1], x[-1])

    def macs(self, node, in_shapes, out_shape, params):
        geo = self.pool_geometry(node, in_shapes[0][:-1])
        return math.prod(out_shape) * geo.taps

    def geo_of(self, node, x_shape: tuple[int, ...]) -> Geometry:
        return self.pool_geometry(node, tuple(x_shape[1:-1]))

    def out_shape(self, x: np.ndarray, geo: Geometry) -> tuple[int, ...]:
        """The output shape of one sample of the batch ``x``."""
        return (*geo.out_hw, x.shape[-1]) if x.ndim == 4 else (geo.out_hw[1], x.shape[-1])

    def write(self, y: np.ndarray, n: int, out_shape: tuple[int, ...], out: np.ndarray | None) -> np.ndarray:
        y = y.reshape(n, *out_shape)
        if out is None:
            return y
        np.copyto(out, y)
        return out


class MaxPoolOp(_Pool):
    """The largest value of each window. Its gradient goes to the first largest value of the
    window (row-major over the window), as the C kernel will pick it."""

    kind = "max_pool"

    def forward(self, node, xs, ws, out=None):
        """The maximum of each window (padding never wins)."""
        x = xs[0]
        geo = self.geo_of(node, x.shape)
        win = windows(pad(_as_2d(x), geo, -np.inf), geo)
        return self.write(win.max(axis=(3, 4)), x.shape[0], self.out_shape(x, geo), out)

    def saves(self, need_dx, need_dparams):
        """The input, when its gradient is needed."""
        return {IN0} if need_dx[0] else set()

    def backward(self, node, dy, saved, ws, need_dx, need_dparams, out=NO_BUFFERS):
        """dy routed to each window's maximum."""
        x = saved[IN0]
        geo = self.geo_of(node, x.shape)
        x2, dy2 = _as_2d(x), _as_2d(dy)
        n, c = x2.shape[0], x2.shape[-1]
        win = windows(pad(x2, geo, -np.inf), geo)
        first = win.reshape(n, *geo.out_hw, geo.taps, c).argmax(axis=3)  # (N, Ho, Wo, C)
        dcols = np.zeros((n, *geo.out_hw, geo.taps, c), dy.dtype)
        np.put_along_axis(dcols, first[:, :, :, None, :], dy2[:, :, :, None, :], axis=3)
        dcols = dcols.reshape(n, *geo.out_hw, *geo.kernel, c)
        dx = scatter_taps(dcols, geo, n, c, dy.dtype)
        return [self.write(dx, n, x.shape[1:], out.get(IN0))], {}


class AvgPoolOp(_Pool):
    """The mean of the input values in each window (padding excluded from the count)."""

    kind = "avg_pool"

    def counts(self, geo: Geometry, dtype: np.dtype) -> np.ndarray | None:
        """Input values per window (Ho, Wo, 1), or None when every window is full (no padding)."""
        if not any(a or b for a, b in geo.pads):
            return None
        ones = pad(np.ones((1, *geo.in_hw, 1), dtype), geo)
        return windows(ones, geo).sum(axis=(3, 4))[0]

    def forward(self, node, xs, ws, out=None):
        """The mean of each window (padding excluded from the count)."""
        x = xs[0]
        geo = self.geo_of(node, x.shape)
        y = windows(pad(_as_2d(x), geo), geo).sum(axis=(3, 4))
        cnt = self.counts(geo, x.dtype)
        y = np.divide(y, geo.taps if cnt is None else cnt, out=y)
        return self.write(y, x.shape[0], self.out_shape(x, geo), out)

    def backward(self, node, dy, saved, ws, need_dx, need_dparams, out=NO_BUFFERS):
        """dy shared equally over the input values of each window."""
        shape = (dy.shape[0], *node.attrs["in_shape"])
        geo = self.geo_of(node, shape)
        dy2 = _as_2d(dy)
        n, c = dy2.shape[0], dy2.shape[-1]
        cnt = self.counts(geo, dy.dtype)
        share = dy2 / (geo.taps if cnt is None else cnt)
        dxp = np.zeros((n, geo.in_hw[0] + sum(geo.pads[0]), geo.in_hw[1] + sum(geo.pads[1]), c), dy.dtype)
        for i in range(geo.kernel[0]):
            for j in range(geo.kernel[1]):
                dxp[tap_slices(geo, i, j)] += share
        (t, _), (l, _) = geo.pads  # noqa: E741 (the pads: top, left)
        dx = dxp[:, t : t + geo.in_hw[0], l : l + geo.in_hw[1], :]
        return [self.write(dx, n, shape[1:], out.get(IN0))], {}


class GlobalAvgPoolOp(Op):
    """The mean over every spatial position: (H, W, C) or (L, C) to (C,)."""

    kind = "global_avg_pool"
    uses_out = True

    def infer_shape(self, node, in_shapes, params):
        """(C,) of an (H, W, C) or (L, C) input; InvalidModelError for any other rank. Records the
        input shape on the node."""
        self.check_arity(node, in_shapes, params)
        (x,) = in_shapes
        if len(x) not in (2, 3):
            raise InvalidModelError(
                f"global_avg_pool {node.name!r} needs an input of shape (H, W, C) or (L, C), got {x}"
            )
        node.attrs["in_shape"] = list(x)
        return (x[-1],)

    def macs(self, node, in_shapes, out_shape, params):
        """One accumulate per input element."""
        return math.prod(in_shapes[0])

    def forward(self, node, xs, ws, out=None):
        """The mean over the spatial axes, per channel."""
        x = xs[0]
        # The spatial sums as one BLAS product (a row of ones times (N, H*W, C)), then the mean:
        # np.mean over the middle axes runs an inner loop of only C values.
        n, c = x.shape[0], x.shape[-1]
        count = x.size // (n * c)
        y = np.matmul(np.ones(count, x.dtype), x.reshape(n, count, c), out=out)
        y /= count
        return y

    def backward(self, node, dy, saved, ws, need_dx, need_dparams, out=NO_BUFFERS):
        """dy / count broadcast over the spatial axes."""
        shape = node.attrs["in_shape"]
        count = math.prod(shape[:-1])
        share = (dy / count).reshape(dy.shape[0], *([1] * (len(shape) - 1)), shape[-1])
        dx = out.get(IN0)
        if dx is None:
            return [np.broadcast_to(share, (dy.shape[0], *shape)).copy()], {}
        np.copyto(dx, share)
        return [dx], {}


#: Defaults of batch_norm's attributes: running = momentum * running + (1 - momentum) * batch.
BN_MOMENTUM, BN_EPS = 0.9, 1e-5


class BatchNormOp(Op):
    """y = scale * (x - mean) / sqrt(var + eps) + bias per channel (the last axis).

    Parameters: ``scale`` and ``bias`` (trainable), ``mean`` and ``var`` (the running statistics:
    state, never trained; `state_roles`). Attributes ``momentum`` in [0, 1) and ``eps`` > 0.

    In a training forward (`engine.mode`) in which ``scale`` or ``bias`` trains, the statistics
    are the batch's, over every axis but the channel axis (the biased variance), the gradient
    flows through them, and the running statistics are updated: ``running = momentum * running +
    (1 - momentum) * batch``. Otherwise (inference, or both frozen: a frozen layer of a
    fine-tuned body) the running statistics are used, which makes the op an affine map per
    channel that `transforms.fold_batch_norm` folds into the layer before it. The backward rule
    follows the same choice: the training rule when a scale or bias gradient is asked for.
    """

    kind = "batch_norm"
    param_roles = ("scale", "bias", "mean", "var")
    required_roles = ("scale", "bias", "mean", "var")
    state_roles = ("mean", "var")
    uses_out = True

    def infer_shape(self, node, in_shapes, params):
        """The input's shape; InvalidModelError when a parameter is not one value per channel or an
        attribute is invalid."""
        self.check_arity(node, in_shapes, params)
        (x,) = in_shapes
        where = f"batch_norm {node.name!r}"
        for role in self.param_roles:
            if params[role].shape != (x[-1],):
                raise InvalidModelError(
                    f"{where}: {role} has shape {params[role].shape}, the input has {x[-1]} channels (shape {x})"
                )
        m, eps = node.attrs.get("momentum", BN_MOMENTUM), node.attrs.get("eps", BN_EPS)
        if isinstance(m, bool) or not isinstance(m, (int, float)) or not 0.0 <= m < 1.0:
            raise InvalidModelError(f"{where}: momentum must be a number in [0, 1), got {m!r}")
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0 or not math.isfinite(eps):
            raise InvalidModelError(f"{where}: eps must be a positive number, got {eps!r}")
        return x

    def macs(self, node, in_shapes, out_shape, params):
        """One multiply-add per input element."""
        return math.prod(in_shapes[0])

    def inference_affine(self, node, ws: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(a, b) with y = a * x + b per channel under the running statistics."""
        a = ws["scale"] / np.sqrt(ws["var"] + node.attrs.get("eps", BN_EPS))
        return a, ws["bias"] - ws["mean"] * a

    def forward(self, node, xs, ws, out=None):
        """The affine map of the running statistics, or, while training its parameters,
        normalisation with the batch's statistics (updating the running ones)."""
        x = xs[0]
        mode = forward_mode()
        if not mode.trains(node.params["scale"], node.params["bias"]):
            a, b = self.inference_affine(node, ws)
            y = np.multiply(x, a, out=out)
            y += b
            return y
        axes = tuple(range(x.ndim - 1))
        mean = x.mean(axis=axes)
        var = x.var(axis=axes)
        m = node.attrs.get("momentum", BN_MOMENTUM)
        mode.update(node.params["mean"], m * ws["mean"] + (1 - m) * mean)
        mode.update(node.params["var"], m * ws["var"] + (1 - m) * var)
        inv = 1.0 / np.sqrt(var + node.attrs.get("eps", BN_EPS))
        y = np.subtract(x, mean, out=out)
        y *= inv * ws["scale"]
        y += ws["bias"]
        return y

    def saves(self, need_dx, need_dparams):
        """The input, when the backward uses batch statistics."""
        return {IN0} if self.batch_statistics(need_dparams) else set()

    def batch_statistics(self, need_dparams) -> bool:
        """Whether the training forward normalised with batch statistics: scale or bias trains."""
        return "scale" in need_dparams or "bias" in need_dparams

    def backward(self, node, dy, saved, ws, need_dx, need_dparams, out=NO_BUFFERS):
        """The gradients of the input, scale and bias: through the running-statistics affine map
        when frozen, through the batch statistics when training."""
        if not self.batch_statistics(need_dparams):  # frozen: the affine map of the running statistics
            a, _ = self.inference_affine(node, ws)
            return [np.multiply(dy, a, out=out.get(IN0)) if need_dx[0] else None], {}
        # The training rule: the forward normalised with batch statistics.
        x = saved[IN0]
        axes = tuple(range(x.ndim - 1))
        count = math.prod(x.shape[:-1])
        mean = x.mean(axis=axes)
        inv = 1.0 / np.sqrt(x.var(axis=axes) + node.attrs.get("eps", BN_EPS))
        xhat = (x - mean) * inv
        grads: dict[str, np.ndarray] = {}
        if "scale" in need_dparams:
            grads["scale"] = np.add.reduce((dy * xhat).reshape(-1, x.shape[-1]), axis=0, out=out.get("scale"))
        if "bias" in need_dparams:
            grads["bias"] = np.add.reduce(dy.reshape(-1, x.shape[-1]), axis=0, out=out.get("bias"))
        dx = None
        if need_dx[0]:
            g = dy * ws["scale"]
            g_sum = g.reshape(-1, x.shape[-1]).sum(axis=0)
            gx_sum = (g * xhat).reshape(-1, x.shape[-1]).sum(axis=0)
            dx = np.multiply(g, count, out=out.get(IN0))
            dx -= g_sum
            dx -= xhat * gx_sum
            dx *= inv / count
        return [dx], grads

"""Element-wise activations and softmax."""

from __future__ import annotations

import numpy as np

from ..deprecation import renamed
from ..errors import InvalidModelError
from .base import IN0, NO_BUFFERS, OUT, Op


class _Pointwise(Op):
    uses_out = True

    def infer_shape(self, node, in_shapes, params):
        self.check_arity(node, in_shapes, params)
        return in_shapes[0]

    def saves(self, need_dx, need_dparams):
        return {OUT} if need_dx[0] else set()


class ReLUOp(_Pointwise):
    """y = max(x, 0); a clamp to [0, inf), so kernel backends may fuse it into the op before it."""

    kind = "relu"
    clamp = (0.0, None)

    def forward(self, node, xs, ws, out=None):
        """max(x, 0)."""
        return np.maximum(xs[0], 0, out=out)

    def backward(self, node, dy, saved, ws, need_dx, need_dparams, out=NO_BUFFERS):
        """dy where the output is positive, else 0."""
        return [np.multiply(dy, saved[OUT] > 0, out=out.get(IN0))], {}


class ReLU6Op(_Pointwise):
    """y = min(max(x, 0), 6); a clamp to [0, 6], so kernel backends may fuse it into the op before it."""

    kind = "relu6"
    clamp = (0.0, 6.0)

    def forward(self, node, xs, ws, out=None):
        """x clipped to [0, 6]."""
        return np.clip(xs[0], 0, 6, out=out)

    def backward(self, node, dy, saved, ws, need_dx, need_dparams, out=NO_BUFFERS):
        """dy where the output is strictly between 0 and 6, else 0."""
        y = saved[OUT]
        return [np.multiply(dy, (y > 0) & (y < 6), out=out.get(IN0))], {}


class SoftmaxOp(_Pointwise):
    """Softmax over the last axis."""

    kind = "softmax"

    def infer_shape(self, node, in_shapes, params):
        """The input's shape; InvalidModelError unless the input is flat."""
        shape = super().infer_shape(node, in_shapes, params)
        if len(shape) != 1:
            raise InvalidModelError(f"softmax {node.name!r} needs a flat input, got {shape}")
        return shape

    def forward(self, node, xs, ws, out=None):
        """Softmax over the last axis (max-shifted)."""
        z = xs[0] - xs[0].max(axis=-1, keepdims=True)
        e = np.exp(z)
        return np.divide(e, e.sum(axis=-1, keepdims=True), out=out)

    def backward(self, node, dy, saved, ws, need_dx, need_dparams, out=NO_BUFFERS):
        """The softmax Jacobian applied to dy: y * (dy - sum(dy * y))."""
        y = saved[OUT]
        return [np.multiply(y, dy - (dy * y).sum(axis=-1, keepdims=True), out=out.get(IN0))], {}


# -- smooth and leaky activations ---------------------------------------------------------------
#
# The float formulas below are the contract the C kernels in firmware_export/src/et_activation_f32.c
# and et_activation_backward.c mirror operation for operation (same branches, same evaluation
# order), so numpy float32 and C float agree to an ulp or two of expf/tanhf. They are also the
# float functions the int8 lookup tables sample (edgetrain.quantize.int8.activation_lut_s8).

#: Default negative slope of leaky_relu (the ONNX LeakyRelu default as well).
LEAKY_RELU_ALPHA = 0.01


def check_alpha(alpha: object, where: str) -> float:
    """`alpha` as a float in (0, 1), or an InvalidModelError naming `where`.

    The range is what makes the backward rule work from the output: with 0 < alpha, y > 0 exactly
    where x > 0; alpha < 1 keeps it an activation (alpha >= 1 would no longer shrink negatives).
    """
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.integer, np.floating)):
        raise InvalidModelError(f"{where}: alpha must be a number, got {alpha!r}")
    a = float(alpha)
    if not 0.0 < a < 1.0:  # also rejects nan
        raise InvalidModelError(f"{where}: alpha must be in (0, 1), got {a}")
    return a


def sigmoid(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """1 / (1 + exp(-x)) for x >= 0 and exp(x) / (1 + exp(x)) otherwise: exp never overflows."""
    e = np.exp(-np.abs(x))  # exp(-x) where x >= 0, exp(x) where x < 0
    num = np.where(x >= 0, x.dtype.type(1), e)
    return np.divide(num, np.add(e, 1, out=e), out=out)


def tanh(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``tanh(x)``, into ``out`` when given."""
    return np.tanh(x, out=out)


def leaky_relu(x: np.ndarray, alpha: float, out: np.ndarray | None = None) -> np.ndarray:
    """x where x > 0, alpha * x elsewhere; for 0 < alpha < 1 that is max(x, alpha * x)."""
    y = np.multiply(x, alpha, out=out)  # alpha rounds to the array's dtype first, like C's float alpha
    return np.maximum(x, y, out=y)


def hard_swish(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """x * relu6(x + 3) / 6, evaluated as ((x * clamp(x + 3, 0, 6)) / 6)."""
    t = np.add(x, 3)
    np.clip(t, 0, 6, out=t)
    y = np.multiply(x, t, out=out)
    return np.divide(y, 6, out=y)


class LeakyReLUOp(_Pointwise):
    """y = x for x > 0, alpha * x otherwise; attribute ``alpha`` in (0, 1), default 0.01.

    Saves the output: alpha > 0 keeps the sign, so y > 0 marks the slope-1 region (x = 0 takes
    the slope alpha, as relu takes 0 there).
    """

    kind = "leaky_relu"

    def infer_shape(self, node, in_shapes, params):
        """The input's shape; checks the node's ``alpha`` (InvalidModelError when invalid) and
        records its default."""
        shape = super().infer_shape(node, in_shapes, params)
        node.attrs["alpha"] = check_alpha(node.attrs.get("alpha", LEAKY_RELU_ALPHA), f"leaky_relu {node.name!r}")
        return shape

    def forward(self, node, xs, ws, out=None):
        """x where positive, alpha * x elsewhere."""
        return leaky_relu(xs[0], node.attrs.get("alpha", LEAKY_RELU_ALPHA), out=out)

    def backward(self, node, dy, saved, ws, need_dx, need_dparams, out=NO_BUFFERS):
        """dy where the output is positive, alpha * dy elsewhere."""
        dx = np.multiply(dy, node.attrs.get("alpha", LEAKY_RELU_ALPHA), out=out.get(IN0))
        np.copyto(dx, dy, where=saved[OUT] > 0)
        return [dx], {}


class SigmoidOp(_Pointwise):
    """y = 1 / (1 + exp(-x)); dx = dy * (y * (1 - y)) from the saved output."""

    kind = "sigmoid"

    def forward(self, node, xs, ws, out=None):
        """The logistic sigmoid of x."""
        return sigmoid(xs[0], out=out)

    def backward(self, node, dy, saved, ws, need_dx, need_dparams, out=NO_BUFFERS):
        """dy * y * (1 - y)."""
        y = saved[OUT]
        return [np.multiply(dy, y * (1 - y), out=out.get(IN0))], {}


class TanhOp(_Pointwise):
    """y = tanh(x); dx = dy * (1 - y * y) from the saved output."""

    kind = "tanh"

    def forward(self, node, xs, ws, out=None):
        """tanh(x)."""
        return tanh(xs[0], out=out)

    def backward(self, node, dy, saved, ws, need_dx, need_dparams, out=NO_BUFFERS):
        """dy * (1 - y^2)."""
        y = saved[OUT]
        return [np.multiply(dy, 1 - y * y, out=out.get(IN0))], {}


class HardSwishOp(_Pointwise):
    """y = x * relu6(x + 3) / 6 (MobileNetV3). Saves the INPUT (y does not determine x).

    dx = dy * d with d = 0 for x < -3, 1 for x > 3 and x / 3 + 0.5 in between (at the kinks
    x = -3 and x = 3 the middle formula applies, as in PyTorch's hardswish_backward).
    """

    kind = "hard_swish"

    def saves(self, need_dx, need_dparams):
        """The input, when its gradient is needed."""
        return {IN0} if need_dx[0] else set()

    def forward(self, node, xs, ws, out=None):
        """x * relu6(x + 3) / 6."""
        return hard_swish(xs[0], out=out)

    def backward(self, node, dy, saved, ws, need_dx, need_dparams, out=NO_BUFFERS):
        """dy times the derivative: 0 below -3, 1 above 3, x / 3 + 0.5 between."""
        x = saved[IN0]
        d = np.divide(x, 3, out=out.get(IN0))
        np.add(d, 0.5, out=d)
        np.copyto(d, 0, where=x < -3)
        np.copyto(d, 1, where=x > 3)
        return [np.multiply(d, dy, out=d)], {}


# The layer specs of `edgetrain.layers` own the plain names; the op classes had them too once.
__getattr__ = renamed(
    __name__,
    {
        "ReLU": "ReLUOp",
        "ReLU6": "ReLU6Op",
        "Softmax": "SoftmaxOp",
        "LeakyReLU": "LeakyReLUOp",
        "Sigmoid": "SigmoidOp",
        "Tanh": "TanhOp",
        "HardSwish": "HardSwishOp",
    },
)

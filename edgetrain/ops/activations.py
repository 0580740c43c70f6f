"""Element-wise activations and softmax."""
from __future__ import annotations

import numpy as np

from ..errors import InvalidModelError
from .base import IN0, NO_BUFFERS, OUT, Op


class _Pointwise(Op):
    uses_out = True

    def infer_shape(self, node, in_shapes, params):
        self.check_arity(node, in_shapes, params)
        return in_shapes[0]

    def saves(self, need_dx, need_dparams):
        return {OUT} if need_dx[0] else set()


class ReLU(_Pointwise):
    kind = "relu"

    def forward(self, node, xs, ws, out=None):
        return np.maximum(xs[0], 0, out=out)

    def backward(self, node, dy, saved, ws, need_dx, need_dparams, out=NO_BUFFERS):
        return [np.multiply(dy, saved[OUT] > 0, out=out.get(IN0))], {}


class ReLU6(_Pointwise):
    kind = "relu6"

    def forward(self, node, xs, ws, out=None):
        return np.clip(xs[0], 0, 6, out=out)

    def backward(self, node, dy, saved, ws, need_dx, need_dparams, out=NO_BUFFERS):
        y = saved[OUT]
        return [np.multiply(dy, (y > 0) & (y < 6), out=out.get(IN0))], {}


class Softmax(_Pointwise):
    """Softmax over the last axis."""

    kind = "softmax"

    def infer_shape(self, node, in_shapes, params):
        shape = super().infer_shape(node, in_shapes, params)
        if len(shape) != 1:
            raise InvalidModelError(f"softmax {node.name!r} needs a flat input, got {shape}")
        return shape

    def forward(self, node, xs, ws, out=None):
        z = xs[0] - xs[0].max(axis=-1, keepdims=True)
        e = np.exp(z)
        return np.divide(e, e.sum(axis=-1, keepdims=True), out=out)

    def backward(self, node, dy, saved, ws, need_dx, need_dparams, out=NO_BUFFERS):
        y = saved[OUT]
        return [np.multiply(y, dy - (dy * y).sum(axis=-1, keepdims=True), out=out.get(IN0))], {}

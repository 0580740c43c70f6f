"""Ops that move or combine tensors without parameters: flatten, identity, residual add."""

from __future__ import annotations

import math

import numpy as np

from ..deprecation import renamed
from ..errors import InvalidModelError
from .base import NO_BUFFERS, Op


class FlattenOp(Op):
    """Each sample reshaped to one axis; a view, so kernel backends alias its output to its input."""

    kind = "flatten"
    is_view = True

    def infer_shape(self, node, in_shapes, params):
        """(the input's element count,); records the input shape on the node."""
        self.check_arity(node, in_shapes, params)
        node.attrs["in_shape"] = list(in_shapes[0])
        return (math.prod(in_shapes[0]),)

    def forward(self, node, xs, ws, out=None):
        """x flattened per sample."""
        return xs[0].reshape(xs[0].shape[0], -1)

    def backward(self, node, dy, saved, ws, need_dx, need_dparams, out=NO_BUFFERS):
        """dy reshaped to the recorded input shape."""
        # The input shape is static; the node records it when the graph is built or validated.
        return [dy.reshape((dy.shape[0], *node.attrs["in_shape"]))], {}


class IdentityOp(Op):
    """y = x; a view, so kernel backends alias its output to its input."""

    kind = "identity"
    is_view = True

    def infer_shape(self, node, in_shapes, params):
        """The input's shape."""
        self.check_arity(node, in_shapes, params)
        return in_shapes[0]

    def forward(self, node, xs, ws, out=None):
        """x itself."""
        return xs[0]

    def backward(self, node, dy, saved, ws, need_dx, need_dparams, out=NO_BUFFERS):
        """dy itself."""
        return [dy], {}


class AddOp(Op):
    """Element-wise sum of two same-shaped tensors (residual connections)."""

    kind = "add"
    n_inputs = 2
    uses_out = True  # the forward writes into `out`; the backward hands dy on to both inputs

    def infer_shape(self, node, in_shapes, params):
        """The inputs' common shape; InvalidModelError when they differ."""
        self.check_arity(node, in_shapes, params)
        a, b = in_shapes
        if a != b:
            raise InvalidModelError(f"add {node.name!r}: input shapes differ, {a} vs {b}")
        return a

    def macs(self, node, in_shapes, out_shape, params):
        """No multiply-accumulates."""
        return 0

    def forward(self, node, xs, ws, out=None):
        """a + b."""
        return np.add(xs[0], xs[1], out=out)

    def backward(self, node, dy, saved, ws, need_dx, need_dparams, out=NO_BUFFERS):
        """dy to each input whose gradient is needed."""
        return [dy if need_dx[0] else None, dy if need_dx[1] else None], {}


# The layer specs of `edgetrain.layers` own the plain names; the op classes had them too once.
__getattr__ = renamed(
    __name__,
    {
        "Flatten": "FlattenOp",
        "Identity": "IdentityOp",
        "Add": "AddOp",
    },
)

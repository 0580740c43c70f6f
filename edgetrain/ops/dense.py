"""Dense (fully connected) layer: y = x @ W + b with W stored as [n_in, n_out]."""

from __future__ import annotations

import numpy as np

from ..deprecation import renamed
from ..errors import InvalidModelError
from .base import IN0, NO_BUFFERS, Op


class DenseOp(Op):
    """y = x @ weight + bias on flat samples; weight (n_in, n_out), bias optional (n_out,)."""

    kind = "dense"
    param_roles = ("weight", "bias")
    required_roles = ("weight",)
    uses_out = True

    def infer_shape(self, node, in_shapes, params):
        """(units,) from the weight; InvalidModelError for an input that is not flat or does not
        match the weight (or bias)."""
        self.check_arity(node, in_shapes, params)
        (x,) = in_shapes
        w = params["weight"].shape
        if len(x) != 1:
            raise InvalidModelError(
                f"dense {node.name!r} needs a flat input, got shape {x}", hint="add a flatten layer"
            )
        if len(w) != 2 or w[0] != x[0]:
            raise InvalidModelError(f"dense {node.name!r}: input width {x[0]} does not match weight shape {w}")
        if "bias" in params and params["bias"].shape != (w[1],):
            raise InvalidModelError(f"dense {node.name!r}: bias shape {params['bias'].shape} != ({w[1]},)")
        return (w[1],)

    def macs(self, node, in_shapes, out_shape, params):
        """One multiply-accumulate per weight."""
        return params["weight"].size

    def forward(self, node, xs, ws, out=None):
        """x @ weight + bias."""
        y = np.matmul(xs[0], ws["weight"], out=out)
        if "bias" in ws:
            y += ws["bias"]
        return y

    def saves(self, need_dx, need_dparams):
        """The input, when the weight's gradient is needed."""
        return {IN0} if "weight" in need_dparams else set()

    def backward(self, node, dy, saved, ws, need_dx, need_dparams, out=NO_BUFFERS):
        """The gradients of the input, weight and bias that are needed."""
        grads: dict[str, np.ndarray] = {}
        if "weight" in need_dparams:
            grads["weight"] = np.matmul(saved[IN0].T, dy, out=out.get("weight"))
        if "bias" in need_dparams:
            # np.add.reduce is what dy.sum() runs, without its Python wrapper (a step calls it often).
            grads["bias"] = np.add.reduce(dy, axis=0, out=out.get("bias"))
        dx = np.matmul(dy, ws["weight"].T, out=out.get(IN0)) if need_dx[0] else None
        return [dx], grads


# The layer specs of `edgetrain.layers` own the plain names; the op classes had them too once.
__getattr__ = renamed(
    __name__,
    {
        "Dense": "DenseOp",
    },
)

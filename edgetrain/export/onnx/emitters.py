"""Per-op ONNX emitters: each op kind's forward rule and gradient rule in standard ONNX ops.

They mirror `edgetrain.ops` (the numpy rules) one for one, so the train-step graph built from the
derived backward schedule computes what the numpy engine computes. Emitters only name tensors;
`OnnxBuilder` owns the nodes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ...graph import Node
from ...ops.base import IN0, OUT
from .common import OnnxBuilder

# forward(b, node, xs, ws, out) -> output name; ws maps a parameter role to its tensor name.
Forward = Callable[[OnnxBuilder, Node, list[str], dict[str, str], str], str]
# backward(b, node, dy, saved, ws, need_dx, need_dparams) -> (dx names or None, role -> grad name)
Backward = Callable[[OnnxBuilder, Node, str, dict[str, str], dict[str, str], list[bool], set[str]],
                    tuple[list[str | None], dict[str, str]]]


@dataclass(frozen=True)
class Emitter:
    forward: Forward
    backward: Backward


def _dense_fwd(b, node, xs, ws, out):
    if "bias" in ws:
        return b.op("Gemm", [xs[0], ws["weight"], ws["bias"]], out=out)
    return b.op("MatMul", [xs[0], ws["weight"]], out=out)


def _dense_bwd(b, node, dy, saved, ws, need_dx, need_dparams):
    n = node.name
    grads: dict[str, str] = {}
    if "weight" in need_dparams:  # dW = x^T dy
        grads["weight"] = b.op("Gemm", [saved[IN0], dy], f"{n}.grad.weight", transA=1)
    if "bias" in need_dparams:  # db = sum over the batch
        grads["bias"] = b.op("ReduceSum", [dy, b.const("axes0", [0], np.int64)], f"{n}.grad.bias", keepdims=0)
    dx = b.op("Gemm", [dy, ws["weight"]], f"{n}.grad.in", transB=1) if need_dx[0] else None
    return [dx], grads


def _mask_grad(b: OnnxBuilder, dy: str, keep: str, hint: str) -> str:
    # Where() rather than a multiply: the gradient is dy where the unit passed, exactly 0 elsewhere.
    return b.op("Where", [keep, dy, b.const("zero", 0.0)], hint)


def _relu_fwd(b, node, xs, ws, out):
    return b.op("Relu", xs, out=out)


def _relu_bwd(b, node, dy, saved, ws, need_dx, need_dparams):
    keep = b.op("Greater", [saved[OUT], b.const("zero", 0.0)], f"{node.name}.active")
    return [_mask_grad(b, dy, keep, f"{node.name}.grad.in")], {}


def _relu6_fwd(b, node, xs, ws, out):
    return b.op("Clip", [xs[0], b.const("zero", 0.0), b.const("six", 6.0)], out=out)


def _relu6_bwd(b, node, dy, saved, ws, need_dx, need_dparams):
    y = saved[OUT]
    keep = b.op("And", [b.op("Greater", [y, b.const("zero", 0.0)]), b.op("Less", [y, b.const("six", 6.0)])],
                f"{node.name}.active")
    return [_mask_grad(b, dy, keep, f"{node.name}.grad.in")], {}


def _softmax_fwd(b, node, xs, ws, out):
    return b.op("Softmax", xs, out=out, axis=-1)


def _softmax_bwd(b, node, dy, saved, ws, need_dx, need_dparams):
    y = saved[OUT]  # dx = y * (dy - sum(dy * y))
    s = b.op("ReduceSum", [b.op("Mul", [dy, y]), b.const("axes_last", [-1], np.int64)], keepdims=1)
    return [b.op("Mul", [y, b.op("Sub", [dy, s])], f"{node.name}.grad.in")], {}


def _flatten_fwd(b, node, xs, ws, out):
    return b.op("Flatten", xs, out=out, axis=1)


def _flatten_bwd(b, node, dy, saved, ws, need_dx, need_dparams):
    shape = b.const(f"{node.name}.in_shape", [-1, *node.attrs["in_shape"]], np.int64)
    return [b.op("Reshape", [dy, shape], f"{node.name}.grad.in")], {}


def _identity_fwd(b, node, xs, ws, out):
    return b.op("Identity", xs, out=out)


def _identity_bwd(b, node, dy, saved, ws, need_dx, need_dparams):
    return [dy], {}


def _add_fwd(b, node, xs, ws, out):
    return b.op("Add", xs, out=out)


def _add_bwd(b, node, dy, saved, ws, need_dx, need_dparams):
    return [dy if need_dx[0] else None, dy if need_dx[1] else None], {}


EMITTERS: dict[str, Emitter] = {
    "dense": Emitter(_dense_fwd, _dense_bwd),
    "relu": Emitter(_relu_fwd, _relu_bwd),
    "relu6": Emitter(_relu6_fwd, _relu6_bwd),
    "softmax": Emitter(_softmax_fwd, _softmax_bwd),
    "flatten": Emitter(_flatten_fwd, _flatten_bwd),
    "identity": Emitter(_identity_fwd, _identity_bwd),
    "add": Emitter(_add_fwd, _add_bwd),
}

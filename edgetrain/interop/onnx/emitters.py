"""Per-op ONNX emitters: each op kind's forward rule and gradient rule in standard ONNX ops.

They mirror `edgetrain.ops` (the numpy rules) one for one, so the train-step graph built from the
derived backward schedule computes what the numpy engine computes. Emitters only name tensors;
`OnnxBuilder` owns the nodes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ...graph import Node
from ...ops.base import IN0, OUT
from . import conv_emitters as ce
from .common import OnnxBuilder

if TYPE_CHECKING:
    import onnx

# forward(b, node, xs, ws, out) -> output name; ws maps a parameter role to its tensor name.
Forward = Callable[[OnnxBuilder, Node, list[str], dict[str, str], str], str]
# backward(b, node, dy, saved, ws, need_dx, need_dparams) -> (dx names or None, role -> grad name)
Backward = Callable[
    [OnnxBuilder, Node, str, dict[str, str], dict[str, str], list[bool], set[str]],
    tuple[list[str | None], dict[str, str]],
]


@dataclass(frozen=True)
class Emitter:
    """One op kind's ONNX rules: ``forward`` emits its output, ``backward`` the gradients of its inputs
    and parameters (signatures: `Forward`, `Backward`)."""

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
    keep = b.op(
        "And",
        [b.op("Greater", [y, b.const("zero", 0.0)]), b.op("Less", [y, b.const("six", 6.0)])],
        f"{node.name}.active",
    )
    return [_mask_grad(b, dy, keep, f"{node.name}.grad.in")], {}


def _softmax_fwd(b, node, xs, ws, out):
    return b.op("Softmax", xs, out=out, axis=-1)


def _softmax_bwd(b, node, dy, saved, ws, need_dx, need_dparams):
    y = saved[OUT]  # dx = y * (dy - sum(dy * y))
    s = b.op("ReduceSum", [b.op("Mul", [dy, y]), b.const("axes_last", [-1], np.int64)], keepdims=1)
    return [b.op("Mul", [y, b.op("Sub", [dy, s])], f"{node.name}.grad.in")], {}


def _alpha(node: Node) -> float:
    from ...ops.activations import LEAKY_RELU_ALPHA

    return float(node.attrs.get("alpha", LEAKY_RELU_ALPHA))


def _leaky_relu_fwd(b, node, xs, ws, out):
    return b.op("LeakyRelu", xs, out=out, alpha=_alpha(node))


def _leaky_relu_bwd(b, node, dy, saved, ws, need_dx, need_dparams):
    # dx = dy where y > 0, alpha * dy elsewhere (the sign of y is the sign of x: alpha > 0).
    keep = b.op("Greater", [saved[OUT], b.const("zero", 0.0)], f"{node.name}.positive")
    scaled = b.op("Mul", [dy, b.const(f"{node.name}.alpha", _alpha(node))], f"{node.name}.grad.scaled")
    return [b.op("Where", [keep, dy, scaled], f"{node.name}.grad.in")], {}


def _sigmoid_fwd(b, node, xs, ws, out):
    return b.op("Sigmoid", xs, out=out)


def _sigmoid_bwd(b, node, dy, saved, ws, need_dx, need_dparams):
    y = saved[OUT]  # dx = dy * (y * (1 - y))
    d = b.op("Mul", [y, b.op("Sub", [b.const("one", 1.0), y])], f"{node.name}.slope")
    return [b.op("Mul", [dy, d], f"{node.name}.grad.in")], {}


def _tanh_fwd(b, node, xs, ws, out):
    return b.op("Tanh", xs, out=out)


def _tanh_bwd(b, node, dy, saved, ws, need_dx, need_dparams):
    y = saved[OUT]  # dx = dy * (1 - y * y)
    d = b.op("Sub", [b.const("one", 1.0), b.op("Mul", [y, y])], f"{node.name}.slope")
    return [b.op("Mul", [dy, d], f"{node.name}.grad.in")], {}


def _hard_swish_fwd(b, node, xs, ws, out):
    return b.op("HardSwish", xs, out=out)  # x * max(0, min(1, x / 6 + 1 / 2)) = x * relu6(x + 3) / 6


def _hard_swish_bwd(b, node, dy, saved, ws, need_dx, need_dparams):
    x = saved[IN0]  # slope 0 below -3, 1 above 3, x / 3 + 0.5 on [-3, 3]
    mid = b.op("Add", [b.op("Div", [x, b.const("three", 3.0)]), b.const("half", 0.5)], f"{node.name}.slope.mid")
    upper = b.op("Where", [b.op("Greater", [x, b.const("three", 3.0)]), b.const("one", 1.0), mid])
    d = b.op(
        "Where", [b.op("Less", [x, b.const("minus_three", -3.0)]), b.const("zero", 0.0), upper], f"{node.name}.slope"
    )
    return [b.op("Mul", [d, dy], f"{node.name}.grad.in")], {}


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
    "leaky_relu": Emitter(_leaky_relu_fwd, _leaky_relu_bwd),
    "sigmoid": Emitter(_sigmoid_fwd, _sigmoid_bwd),
    "tanh": Emitter(_tanh_fwd, _tanh_bwd),
    "hard_swish": Emitter(_hard_swish_fwd, _hard_swish_bwd),
    "flatten": Emitter(_flatten_fwd, _flatten_bwd),
    "identity": Emitter(_identity_fwd, _identity_bwd),
    "add": Emitter(_add_fwd, _add_bwd),
    # Channels-last op kinds: layout and rules in conv_emitters.py (and docs/onnx_layout.md).
    "conv2d": Emitter(ce.conv_fwd, ce.conv_bwd),
    "conv1d": Emitter(ce.conv_fwd, ce.conv_bwd),
    "max_pool": Emitter(ce.max_pool_fwd, ce.max_pool_bwd),
    "avg_pool": Emitter(ce.avg_pool_fwd, ce.avg_pool_bwd),
    "global_avg_pool": Emitter(ce.global_avg_pool_fwd, ce.global_avg_pool_bwd),
    "batch_norm": Emitter(ce.batch_norm_fwd, ce.batch_norm_bwd),
    "reshape": Emitter(ce.reshape_fwd, ce.reshape_bwd),
}


def expand_hard_swish(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of `model` with every HardSwish node spelled Div(Mul(x, Clip(x + 3, 0, 6)), 6).

    ONNX Runtime 1.19's training gradient builder has no rule for HardSwish (nor HardSigmoid) but
    has them for Add, Clip, Mul and Div, so artifact generation needs this spelling. It is also
    exactly the numpy formula (`edgetrain.ops.activations.hard_swish`). Output names are kept;
    the replacement nodes sit where the HardSwish node was, so the order stays topological.
    """
    import onnx
    from onnx import helper, numpy_helper

    out = onnx.ModelProto()
    out.CopyFrom(model)
    g = out.graph
    if not any(n.op_type == "HardSwish" and n.domain in ("", "ai.onnx") for n in g.node):
        return out
    taken = (
        {t.name for t in g.initializer}
        | {v.name for v in g.input}
        | {n.name for n in g.node}
        | {o for n in g.node for o in n.output}
    )

    def fresh(hint: str) -> str:
        name, i = hint, 1
        while name in taken:
            i += 1
            name = f"{hint}_{i}"
        taken.add(name)
        return name

    consts = {}
    for label, v in (("three", 3.0), ("zero", 0.0), ("six", 6.0)):
        consts[label] = fresh(f"hard_swish.{label}")
        g.initializer.append(numpy_helper.from_array(np.asarray(v, np.float32), consts[label]))
    nodes = []
    for n in g.node:
        if n.op_type != "HardSwish" or n.domain not in ("", "ai.onnx"):
            nodes.append(n)
            continue
        x, y, base = n.input[0], n.output[0], n.name or n.output[0]
        t, c, m = fresh(f"{y}.plus3"), fresh(f"{y}.relu6"), fresh(f"{y}.times")
        nodes += [
            helper.make_node("Add", [x, consts["three"]], [t], name=fresh(f"{base}.add")),
            helper.make_node("Clip", [t, consts["zero"], consts["six"]], [c], name=fresh(f"{base}.clip")),
            helper.make_node("Mul", [x, c], [m], name=fresh(f"{base}.mul")),
            helper.make_node("Div", [m, consts["six"]], [y], name=fresh(f"{base}.div")),
        ]
    del g.node[:]
    g.node.extend(nodes)
    return out

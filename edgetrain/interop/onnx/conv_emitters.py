"""ONNX emitters of the channels-last op kinds: conv2d, conv1d, max_pool, avg_pool,
global_avg_pool, batch_norm, reshape (forward and gradient rules, standard ONNX ops only).

Layout decision (also in docs/onnx_layout.md): every tensor between nodes stays channels last,
as in the edgetrain graph (NHWC / NLC), and so do the model's input and output. ONNX Conv,
ConvTranspose, MaxPool and AveragePool read channels first, so each of these nodes is wrapped in a
pair of Transposes (to NCHW / NCL and back) and a conv weight (kh, kw, C_in/groups, C_out) is
transposed in the graph to ONNX's (C_out, C_in/groups, kh, kw). Why: flatten, reshape, dense and
batch_norm (the channel is the last axis) then read exactly the tensors numpy reads, with no
layout bookkeeping anywhere else; the model boundary matches `et.predict`'s (N, H, W, C) input; and
a trained weight stays in edgetrain's layout, so the train-step graph and ONNX Runtime training
update the very tensor `Param` stores (the Transpose is differentiable). ONNX Runtime folds the
Transposes of constant weights at load time; the activation Transposes are cheap copies.

Padding: "same" is resolved (`ops.conv.geometry`) to explicit ``pads`` with the extra row or
column at the end, as TensorFlow and the numpy rule do; explicit asymmetric amounts map one to
one. A 1-D op is an ONNX 1-D Conv / pool on NCL (no fake H axis).

Gradient rules (the numpy rules of ops/conv.py and ops/pool.py, spelled in standard ops):

* conv input gradient: ConvTranspose of dy with the forward weight, same strides, pads,
  dilations and groups; ``output_padding`` restores input rows the windows never read;
* conv weight gradient: a Conv whose "batch" is the input channel within a group and whose
  kernel is dy: input x as (C_in/G, G*N, H, W), weight dy as (C_out, N, Ho, Wo), group G,
  strides = the forward dilation, dilations = the forward stride, the forward pads; the result
  (C_in/G, C_out, kh', kw') is cut to the kernel (kh' > kh where trailing rows are unread).
  This covers groups and depthwise (G = C_in) in one node;
* max_pool: MaxPool's Indices (the first largest value in row-major window order, like numpy's
  argmax) and ScatterElements(add) of dy, so overlapping windows accumulate;
* avg_pool: dy divided by each window's count of input values (padding excluded, a constant
  computed by the numpy rule), spread over the window by a depthwise ConvTranspose with a
  kernel of ones;
* global_avg_pool: dy / count broadcast back (Expand);
* batch_norm: the numpy training rule (batch statistics recomputed from the saved input) or,
  frozen / inference, the per-channel affine map of the running statistics.

batch_norm's forward follows the builder's mode (`OnnxBuilder.training`, as `engine.mode`):
inference uses the running statistics; a training forward in which scale or bias trains uses
the batch's and either emits the running-statistic updates (the train step: fed-back state) or,
in an ORT base model (no fed-back state there), names its batch mean and variance
``<layer>.batch_mean`` / ``<layer>.batch_var`` for the artifacts to output to `ort_train`.
"""

from __future__ import annotations

import math
from typing import Any, cast

import numpy as np
from onnx import TensorProto

from ...errors import ExportError
from ...graph import Graph, Node
from ...ops import get_op
from ...ops.base import IN0
from ...ops.conv import Geometry, geometry
from ...ops.pool import BN_EPS, BN_MOMENTUM, AvgPoolOp, MaxPoolOp
from .common import OnnxBuilder

# -- layout helpers -------------------------------------------------------------------------------


def _to_cf(rank: int) -> list[int]:
    """Perm of a channels-last batch (N, *spatial, C) to channels first (N, C, *spatial)."""
    return [0, rank + 1, *range(1, rank + 1)]


def _to_cl(rank: int) -> list[int]:
    return [0, *range(2, rank + 2), 1]


def _param_shape(b: OnnxBuilder, node: Node, role: str) -> tuple[int, ...]:
    if b.graph is None:
        raise ExportError(f"internal: emitting {node.op} {node.name!r} needs the graph's parameter shapes")
    return tuple(b.graph.params[node.params[role]].shape)


def _conv_geo(b: OnnxBuilder, node: Node) -> tuple[Geometry, int, int, tuple[int, ...]]:
    """(2-D geometry, groups, spatial rank, weight shape) of a conv node."""
    w = _param_shape(b, node, "weight")
    rank = 2 if node.op == "conv2d" else 1
    in_shape = tuple(node.attrs["in_shape"])
    geo = geometry(in_shape[:-1], w[:-2], node.attrs, f"{node.op} {node.name!r}")
    return geo, int(node.attrs.get("groups", 1)), rank, w


def _pool_geo(node: Node) -> tuple[Geometry, int]:
    in_shape = tuple(node.attrs["in_shape"])
    return cast("MaxPoolOp | AvgPoolOp", get_op(node.op)).pool_geometry(node, in_shape[:-1]), len(in_shape) - 1


def _attrs(geo: Geometry, rank: int) -> dict[str, Any]:
    """ONNX kernel_shape/strides/dilations/pads (begins, then ends) of the last ``rank`` axes."""
    ax = slice(2 - rank, 2)
    pads = list(geo.pads)[ax]
    return {
        "kernel_shape": list(geo.kernel)[ax],
        "strides": list(geo.stride)[ax],
        "dilations": list(geo.dilation)[ax],
        "pads": [p[0] for p in pads] + [p[1] for p in pads],
    }


def _output_padding(geo: Geometry, rank: int) -> list[int]:
    """Input rows past the last window (per axis): what ConvTranspose must append to give back
    the input size."""
    out = []
    for n, k, s, d, (a, c), o in list(zip(geo.in_hw, geo.kernel, geo.stride, geo.dilation, geo.pads, geo.out_hw))[
        2 - rank :
    ]:
        out.append(n + a + c - (s * (o - 1) + (k - 1) * d + 1))
    return out


def _weight_cf(b: OnnxBuilder, node: Node, w: str, rank: int) -> str:
    """(k..., C_in/G, C_out) -> ONNX's (C_out, C_in/G, k...)."""
    return b.op("Transpose", [w], f"{node.name}.weight_oihw", perm=[rank + 1, rank, *range(rank)])


# -- conv2d / conv1d --------------------------------------------------------------------------------


def conv_fwd(b: OnnxBuilder, node: Node, xs: list[str], ws: dict[str, str], out: str) -> str:
    """Transpose to channels first, Conv (weight transposed to ONNX's layout), Transpose back."""
    geo, groups, rank, _ = _conv_geo(b, node)
    xc = b.op("Transpose", [xs[0]], f"{node.name}.in_cf", perm=_to_cf(rank))
    inputs = [xc, _weight_cf(b, node, ws["weight"], rank)] + ([ws["bias"]] if "bias" in ws else [])
    a = _attrs(geo, rank)
    yc = b.op(
        "Conv",
        inputs,
        f"{node.name}.cf",
        kernel_shape=a["kernel_shape"],
        strides=a["strides"],
        dilations=a["dilations"],
        pads=a["pads"],
        group=groups,
    )
    return b.op("Transpose", [yc], out=out, perm=_to_cl(rank))


def conv_bwd(
    b: OnnxBuilder,
    node: Node,
    dy: str,
    saved: dict[str, str],
    ws: dict[str, str],
    need_dx: list[bool],
    need_dparams: set[str],
) -> tuple[list[str | None], dict[str, str]]:
    """Input gradient by ConvTranspose, weight gradient by a grouped transposed Conv, bias by ReduceSum."""
    geo, groups, rank, wshape = _conv_geo(b, node)
    n = node.name
    a = _attrs(geo, rank)
    spatial = list(node.attrs["in_shape"][:-1])
    cig = wshape[-2]
    grads: dict[str, str] = {}
    if "weight" in need_dparams:
        # x (N, *S, G*cig) -> (cig, G*N, *S): channel g*N + n of "sample" i is x[n, ..., g*cig + i].
        xr = b.op("Reshape", [saved[IN0], b.const(f"{n}.x_groups", [-1, *spatial, groups, cig], np.int64)])
        xt = b.op("Transpose", [xr], f"{n}.x_by_channel", perm=[rank + 2, rank + 1, 0, *range(1, rank + 1)])
        xp = b.op("Reshape", [xt, b.const(f"{n}.x_stack", [cig, -1, *spatial], np.int64)])
        # dy (N, *So, C_out) -> (C_out, N, *So): one kernel per output channel, over the batch.
        dk = b.op("Transpose", [dy], f"{n}.dy_kernel", perm=[rank + 1, 0, *range(1, rank + 1)])
        dwc = b.op(
            "Conv",
            [xp, dk],
            f"{n}.grad.weight_cf",
            strides=a["dilations"],
            dilations=a["strides"],
            pads=a["pads"],
            group=groups,
        )
        kernel = a["kernel_shape"]
        full = [
            (sz + lo + hi - (s * (o - 1) + 1)) // d + 1
            for sz, lo, hi, s, o, d in zip(
                spatial, a["pads"][:rank], a["pads"][rank:], a["strides"], geo.out_hw[2 - rank :], a["dilations"]
            )
        ]
        if full != kernel:  # trailing input rows no window reads give taps past the kernel: cut
            dwc = b.op(
                "Slice",
                [
                    dwc,
                    b.const(f"{n}.k0", [0] * rank, np.int64),
                    b.const(f"{n}.kernel", kernel, np.int64),
                    b.const(f"{n}.kaxes", list(range(2, rank + 2)), np.int64),
                ],
                f"{n}.grad.weight_cut",
            )
        grads["weight"] = b.op("Transpose", [dwc], f"{n}.grad.weight", perm=[*range(2, rank + 2), 0, 1])
    if "bias" in need_dparams:
        grads["bias"] = b.op(
            "ReduceSum", [dy, b.const(f"axes_0_{rank}", list(range(rank + 1)), np.int64)], f"{n}.grad.bias", keepdims=0
        )
    dx = None
    if need_dx[0]:
        dyc = b.op("Transpose", [dy], f"{n}.dy_cf", perm=_to_cf(rank))
        dxc = b.op(
            "ConvTranspose",
            [dyc, _weight_cf(b, node, ws["weight"], rank)],
            f"{n}.grad.in_cf",
            strides=a["strides"],
            dilations=a["dilations"],
            pads=a["pads"],
            group=groups,
            kernel_shape=a["kernel_shape"],
            output_padding=_output_padding(geo, rank),
        )
        dx = b.op("Transpose", [dxc], f"{n}.grad.in", perm=_to_cl(rank))
    return [dx], grads


# -- pooling ----------------------------------------------------------------------------------------


def _pool_fwd(op_type: str, **extra: Any) -> Any:
    """The forward emitter of a channels-first ONNX pool wrapped in Transposes."""

    def fwd(b: OnnxBuilder, node: Node, xs: list[str], ws: dict[str, str], out: str) -> str:
        geo, rank = _pool_geo(node)
        a = _attrs(geo, rank)
        xc = b.op("Transpose", [xs[0]], f"{node.name}.in_cf", perm=_to_cf(rank))
        yc = b.op(
            op_type,
            [xc],
            f"{node.name}.cf",
            kernel_shape=a["kernel_shape"],
            strides=a["strides"],
            pads=a["pads"],
            **extra,
        )
        return b.op("Transpose", [yc], out=out, perm=_to_cl(rank))

    return fwd


# Padding never takes part: MaxPool ignores it, AveragePool with count_include_pad=0 divides by
# the input values in the window, as the numpy rule does.
max_pool_fwd = _pool_fwd("MaxPool")
_average_pool_fwd = _pool_fwd("AveragePool", count_include_pad=0)


def _avg_divisor(b: OnnxBuilder, node: Node, geo: Geometry, rank: int) -> str:
    """Each window's count of input values, (Ho, Wo, 1) / (Lo, 1) channels last (a constant from
    the numpy rule), or the window size when no window reads padding."""
    cnt = cast(AvgPoolOp, get_op("avg_pool")).counts(geo, np.dtype(np.float32))
    if cnt is None:
        return b.const(f"{node.name}.taps", float(geo.taps))
    return b.const(f"{node.name}.counts", cnt.reshape(cnt.shape[1:]) if rank == 1 else cnt)


def avg_pool_fwd(b: OnnxBuilder, node: Node, xs: list[str], ws: dict[str, str], out: str) -> str:
    """AveragePool without padding in the divisor (or, for ORT training, a Conv of ones / counts)."""
    if not b.ort_training:
        return _average_pool_fwd(b, node, xs, ws, out)
    # ONNX Runtime 1.19's AveragePoolGrad kernel dies with SIGFPE on CPU (any padding): for its
    # gradient builder the average is the numpy formula, a window sum (a depthwise Conv with a
    # constant kernel of ones, whose gradient ORT has) divided by the window's count.
    geo, rank = _pool_geo(node)
    a = _attrs(geo, rank)
    c = node.attrs["in_shape"][-1]
    xc = b.op("Transpose", [xs[0]], f"{node.name}.in_cf", perm=_to_cf(rank))
    ones = b.const(f"{node.name}.ones", np.ones((c, 1, *a["kernel_shape"]), np.float32))
    sc = b.op("Conv", [xc, ones], f"{node.name}.sum_cf", group=c, **a)
    s = b.op("Transpose", [sc], f"{node.name}.sum", perm=_to_cl(rank))
    return b.op("Div", [s, _avg_divisor(b, node, geo, rank)], out=out)


def max_pool_bwd(
    b: OnnxBuilder,
    node: Node,
    dy: str,
    saved: dict[str, str],
    ws: dict[str, str],
    need_dx: list[bool],
    need_dparams: set[str],
) -> tuple[list[str | None], dict[str, str]]:
    """dy scattered (added) onto each window's first largest input value (MaxPool Indices)."""
    geo, rank = _pool_geo(node)
    a = _attrs(geo, rank)
    n = node.name
    xc = b.op("Transpose", [saved[IN0]], f"{n}.x_cf", perm=_to_cf(rank))
    # Indices: flat positions in the (unpadded) NCHW input of each window's first largest value.
    _, idx = b.op(
        "MaxPool", [xc], f"{n}.argmax", n_out=2, kernel_shape=a["kernel_shape"], strides=a["strides"], pads=a["pads"]
    )
    flat = b.const("minus_one", [-1], np.int64)
    dyc = b.op("Transpose", [dy], f"{n}.dy_cf", perm=_to_cf(rank))
    shape = b.op("Shape", [xc], f"{n}.x_cf_shape")
    zeros = b.op(
        "Reshape", [b.op("ConstantOfShape", [shape], f"{n}.zeros", value=_scalar_tensor(0.0)), flat], f"{n}.zeros_flat"
    )
    dxf = b.op(
        "ScatterElements",
        [zeros, b.op("Reshape", [idx, flat]), b.op("Reshape", [dyc, flat])],
        f"{n}.grad.in_flat",
        axis=0,
        reduction="add",
    )
    dxc = b.op("Reshape", [dxf, shape], f"{n}.grad.in_cf")
    return [b.op("Transpose", [dxc], f"{n}.grad.in", perm=_to_cl(rank))], {}


def avg_pool_bwd(
    b: OnnxBuilder,
    node: Node,
    dy: str,
    saved: dict[str, str],
    ws: dict[str, str],
    need_dx: list[bool],
    need_dparams: set[str],
) -> tuple[list[str | None], dict[str, str]]:
    """dy over each window's count, spread over the window (depthwise ConvTranspose of ones)."""
    geo, rank = _pool_geo(node)
    a = _attrs(geo, rank)
    n = node.name
    c = node.attrs["in_shape"][-1]
    share = b.op("Div", [dy, _avg_divisor(b, node, geo, rank)], f"{n}.grad.share")
    sc = b.op("Transpose", [share], f"{n}.share_cf", perm=_to_cf(rank))
    ones = b.const(f"{n}.ones", np.ones((c, 1, *a["kernel_shape"]), np.float32))
    dxc = b.op(
        "ConvTranspose",
        [sc, ones],
        f"{n}.grad.in_cf",
        strides=a["strides"],
        pads=a["pads"],
        group=c,
        kernel_shape=a["kernel_shape"],
        output_padding=_output_padding(geo, rank),
    )
    return [b.op("Transpose", [dxc], f"{n}.grad.in", perm=_to_cl(rank))], {}


def global_avg_pool_fwd(b: OnnxBuilder, node: Node, xs: list[str], ws: dict[str, str], out: str) -> str:
    """The mean over the spatial axes of a channels-last batch."""
    rank = len(node.attrs["in_shape"]) - 1
    return b.op("ReduceMean", xs, out=out, axes=list(range(1, rank + 1)), keepdims=0)


def global_avg_pool_bwd(
    b: OnnxBuilder,
    node: Node,
    dy: str,
    saved: dict[str, str],
    ws: dict[str, str],
    need_dx: list[bool],
    need_dparams: set[str],
) -> tuple[list[str | None], dict[str, str]]:
    """dy / count broadcast over the spatial axes."""
    shape = list(node.attrs["in_shape"])
    n = node.name
    share = b.op("Div", [dy, b.const(f"{n}.count", float(math.prod(shape[:-1])))], f"{n}.grad.share")
    share = b.op("Reshape", [share, b.const(f"{n}.share_shape", [-1, *([1] * (len(shape) - 1)), shape[-1]], np.int64)])
    return [b.op("Expand", [share, b.const(f"{n}.in_shape1", [1, *shape], np.int64)], f"{n}.grad.in")], {}


def _scalar_tensor(v: float) -> Any:
    from onnx import helper

    return helper.make_tensor("value", TensorProto.FLOAT, [1], [v])


# -- batch_norm ---------------------------------------------------------------------------------------


def bn_trains(b: OnnxBuilder, node: Node) -> bool:
    """Whether the forward being emitted normalises with batch statistics: a training forward in
    which scale or bias trains (`ForwardMode.trains`, the numpy rule's test)."""
    return b.training and any(node.params[r] not in b.frozen for r in ("scale", "bias"))


def batch_norms_training(graph: Graph) -> list[Node]:
    """The batch_norm nodes a training forward of ``graph`` normalises with batch statistics."""
    return [
        n
        for n in graph.nodes
        if n.op == "batch_norm" and any(graph.params[n.params[r]].trainable for r in ("scale", "bias"))
    ]


def _bn_axes(b: OnnxBuilder, node: Node) -> list[int]:
    rank = len(b.shapes[node.inputs[0]])  # sample axes; the channel is the last one
    return list(range(rank))


def _bn_affine(b: OnnxBuilder, node: Node, ws: dict[str, str]) -> tuple[str, str]:
    """(a, c) with y = a * x + c under the running statistics (`BatchNormOp.inference_affine`)."""
    n = node.name
    eps = b.const(f"{n}.eps", float(node.attrs.get("eps", BN_EPS)))
    a = b.op("Div", [ws["scale"], b.op("Sqrt", [b.op("Add", [ws["var"], eps])])], f"{n}.a")
    return a, b.op("Sub", [ws["bias"], b.op("Mul", [ws["mean"], a])], f"{n}.b")


def batch_statistic_names(node: Node) -> tuple[str, str]:
    """The tensors holding a training batch_norm's batch mean and variance in an ORT base model
    (exact names: the artifacts output them for `ort_train`)."""
    return f"{node.name}.batch_mean", f"{node.name}.batch_var"


def _bn_batch_stats(b: OnnxBuilder, node: Node, x: str, exact: bool = False) -> tuple[str, str, str, str]:
    """(mean, var, 1/sqrt(var + eps), x - mean) over every axis but the channel (biased variance);
    with ``exact``, mean and var get the names of `batch_statistic_names`."""
    n = node.name
    axes = _bn_axes(b, node)
    mean_name, var_name = batch_statistic_names(node) if exact else (None, None)
    mean = b.op("ReduceMean", [x], f"{n}.batch_mean", out=mean_name, axes=axes, keepdims=0)
    diff = b.op("Sub", [x, mean], f"{n}.centred")
    var = b.op("ReduceMean", [b.op("Mul", [diff, diff])], f"{n}.batch_var", out=var_name, axes=axes, keepdims=0)
    eps = b.const(f"{n}.eps", float(node.attrs.get("eps", BN_EPS)))
    inv = b.op("Div", [b.const("one", 1.0), b.op("Sqrt", [b.op("Add", [var, eps])])], f"{n}.inv_std")
    return mean, var, inv, diff


def batch_norm_fwd(b: OnnxBuilder, node: Node, xs: list[str], ws: dict[str, str], out: str) -> str:
    """Running-statistics affine map, or batch statistics in a training forward (module docstring)."""
    if not bn_trains(b, node):
        a, c = _bn_affine(b, node, ws)
        return b.op("Add", [b.op("Mul", [xs[0], a]), c], out=out)
    n = node.name
    # In an ORT base model the batch statistics are outputs ort_train updates the running ones
    # from; in the train step the running statistics are fed-back state updated here.
    mean, var, inv, diff = _bn_batch_stats(b, node, xs[0], exact=b.ort_training)
    if not b.ort_training:
        _bn_running_updates(b, node, ws, mean, var, float(node.attrs.get("momentum", BN_MOMENTUM)))
    y = b.op("Mul", [diff, b.op("Mul", [inv, ws["scale"]])], f"{n}.scaled")
    return b.op("Add", [y, ws["bias"]], out=out)


def _bn_running_updates(b: OnnxBuilder, node: Node, ws: dict[str, str], mean: str, var: str, m: float) -> None:
    n = node.name
    for stat, batch in (("mean", mean), ("var", var)):  # running = m * running + (1 - m) * batch
        b.updates[node.params[stat]] = b.op(
            "Add",
            [
                b.op("Mul", [ws[stat], b.const(f"{n}.momentum", m)]),
                b.op("Mul", [batch, b.const(f"{n}.one_minus_momentum", 1 - m)]),
            ],
            f"{n}.{stat}.upd",
        )


def running_statistics(graph: Graph, b: OnnxBuilder) -> list[str]:
    """Names of the state parameters (batch_norm running mean and variance) the forward being
    emitted updates: those of every batch_norm that normalises with batch statistics."""
    names: list[str] = []
    for node in graph.nodes:
        if node.op == "batch_norm" and bn_trains(b, node):
            names += [node.params["mean"], node.params["var"]]
    return list(dict.fromkeys(names))


def batch_norm_bwd(
    b: OnnxBuilder,
    node: Node,
    dy: str,
    saved: dict[str, str],
    ws: dict[str, str],
    need_dx: list[bool],
    need_dparams: set[str],
) -> tuple[list[str | None], dict[str, str]]:
    """The numpy training rule, or the frozen affine map's gradient (`BatchNormOp.backward`)."""
    n = node.name
    if not ({"scale", "bias"} & need_dparams):  # frozen: the affine map of the running statistics
        a, _ = _bn_affine(b, node, ws)
        return [b.op("Mul", [dy, a], f"{n}.grad.in") if need_dx[0] else None], {}
    x = saved[IN0]
    axes = b.const(f"{n}.axes", _bn_axes(b, node), np.int64)
    _, _, inv, diff = _bn_batch_stats(b, node, x)
    xhat = b.op("Mul", [diff, inv], f"{n}.xhat")
    grads: dict[str, str] = {}
    if "scale" in need_dparams:
        grads["scale"] = b.op("ReduceSum", [b.op("Mul", [dy, xhat]), axes], f"{n}.grad.scale", keepdims=0)
    if "bias" in need_dparams:
        grads["bias"] = b.op("ReduceSum", [dy, axes], f"{n}.grad.bias", keepdims=0)
    dx = None
    if need_dx[0]:
        c = b.shapes[node.inputs[0]][-1]
        count = b.op(
            "Div",
            [b.op("Cast", [b.op("Size", [x])], to=TensorProto.FLOAT), b.const(f"{n}.channels", float(c))],
            f"{n}.count",
        )
        g = b.op("Mul", [dy, ws["scale"]], f"{n}.g")
        g_sum = b.op("ReduceSum", [g, axes], f"{n}.g_sum", keepdims=0)
        gx_sum = b.op("ReduceSum", [b.op("Mul", [g, xhat]), axes], f"{n}.gx_sum", keepdims=0)
        t = b.op("Sub", [b.op("Sub", [b.op("Mul", [g, count]), g_sum]), b.op("Mul", [xhat, gx_sum])])
        dx = b.op("Mul", [t, b.op("Div", [inv, count])], f"{n}.grad.in")
    return [dx], grads


# -- reshape ---------------------------------------------------------------------------------------------


def reshape_fwd(b: OnnxBuilder, node: Node, xs: list[str], ws: dict[str, str], out: str) -> str:
    """Each sample reshaped row-major (channels last), the batch axis kept."""
    # Row-major, channels last, the batch kept: what numpy's reshape of each sample does.
    return b.op("Reshape", [xs[0], b.const(f"{node.name}.shape", [-1, *node.attrs["out_shape"]], np.int64)], out=out)


def reshape_bwd(
    b: OnnxBuilder,
    node: Node,
    dy: str,
    saved: dict[str, str],
    ws: dict[str, str],
    need_dx: list[bool],
    need_dparams: set[str],
) -> tuple[list[str | None], dict[str, str]]:
    """dy reshaped back to the input's sample shape."""
    shape = b.const(f"{node.name}.in_shape", [-1, *node.attrs["in_shape"]], np.int64)
    return [b.op("Reshape", [dy, shape], f"{node.name}.grad.in")], {}

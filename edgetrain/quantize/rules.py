"""The int8 backend's rule table, keyed by op kind: how a lowered step is quantized, whether its
output range is calibrated, and how the numpy int8 reference runs it.

The C int8 rules (`export/c/rules`) read the quantized steps built here; the reference executor
(`reference.run_int8`) runs the same steps with `quantize.int8`, whose kernels the C runtime
equals bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ExportError, InvalidModelError, UnsupportedOpError
from ..graph import Graph
from ..ops import get_op
from ..ops.conv import geometry
from ..transforms.lowering import Lowered, Step
from . import int8
from .conv_reference import (
    avg_pool_s8_reference,
    conv2d_s8_reference,
    conv_effective_bias,
    global_avg_pool_s8_params,
    global_avg_pool_s8_reference,
    max_pool_s8_reference,
)
from .model import QAdd, QAlias, QClamp, QConv, QDense, QLut, QPool, QStep, QTensor

#: Kinds whose weight is quantized with one scale per output channel (`weight_rows`).
WEIGHTED_KINDS = ("dense", "conv2d", "conv1d")


@dataclass
class QuantizeContext:
    """What a rule reads while the model is quantized step by step."""

    graph: Graph
    lowered: Lowered
    tensors: dict[str, QTensor]  # filled in step order
    act: dict[str, tuple[float, int]]  # calibrated (scale, zero point) by tensor
    weight_scales: dict[str, np.ndarray]
    per_channel: bool

    def tensor(self, name: str, scale: float, zp: int) -> QTensor:
        """Record tensor ``name`` with this scale and zero point (its shape from the lowering) and return it."""
        t = self.tensors[name] = QTensor(name, tuple(self.lowered.shapes[name]), float(scale), int(zp))
        return t

    def calibrated(self, name: str) -> tuple[float, int]:
        """The calibrated (scale, zero point) of tensor ``name``; InvalidModelError when it has none."""
        if name not in self.act:
            raise InvalidModelError(f"no calibrated range for tensor {name!r}")
        return self.act[name]


class QuantizeRule:
    """How one op kind is quantized (:meth:`build`) and run by the numpy int8 reference (:meth:`run`).

    ``calibrated``: whether calibration observes the kind's output range; otherwise its output's
    quantization is derived from its input's (or fixed) in :meth:`build`."""

    kinds: tuple[str, ...] = ()
    calibrated: bool = False  # the output gets its own observed range (else it is derived)

    def build(self, ctx: QuantizeContext, s: Step) -> QStep:
        """Quantize lowered step ``s``: record its output tensor in ``ctx.tensors`` (read by later steps)
        and return the step's integer parameters."""
        raise NotImplementedError

    def run(self, q, values: dict[str, np.ndarray], n: int) -> np.ndarray:
        """Run quantized step ``q`` on the int8 ``values`` computed so far (by tensor name, ``n`` samples
        each): the step's int8 output."""
        raise NotImplementedError


class AliasRule(QuantizeRule):
    """flatten / identity: the output shares the input's values and its scale and zero point."""

    kinds = ("alias",)

    def build(self, ctx, s):
        """A QAlias whose output tensor takes the input's scale and zero point."""
        src = ctx.tensors[s.inputs[0]]
        ctx.tensor(s.output, src.scale, src.zero_point)
        return QAlias(s.name, s.inputs[0], s.output)

    def run(self, q: QAlias, values, n):
        """The input's int8 values, unchanged."""
        return values[q.input]


class ClampRule(QuantizeRule):
    """Stand-alone relu / relu6 (not fused into a producer): the output keeps the input's scale and
    zero point, so the op is an integer clamp."""

    kinds = ("relu", "relu6")

    def build(self, ctx, s):
        """A QClamp from the input's zero point up to quantized 6.0 (relu6, at most 127) or 127 (relu)."""
        src = ctx.tensors[s.inputs[0]]
        # A clamp does not change the scale: TFLite gives ReLU's output its input's qparams.
        ctx.tensor(s.output, src.scale, src.zero_point)
        _lo, hi = int8.activation_range(s.kind, src.scale, src.zero_point)
        return QClamp(
            s.name,
            s.inputs[0],
            s.output,
            s.kind,
            src.zero_point,
            hi if s.kind == "relu6" else 127,
            ctx.lowered.size(s.output),
        )

    def run(self, q: QClamp, values, n):
        """The input clamped to [zero_point, six_q], as ``et_relu_s8`` / ``et_relu6_s8`` do."""
        return np.clip(values[q.input].astype(np.int32), q.zero_point, min(q.six_q, 127)).astype(np.int8)


class DenseRule(QuantizeRule):
    """dense as ``et_dense_s8``: int8 weights with one scale per output (or one), an int32 bias and a
    calibrated output."""

    kinds = ("dense",)
    calibrated = True

    def build(self, ctx, s):
        """A QDense: weights rounded with their scales into [n_out][n_in], the bias quantized at the input
        scale times each weight scale, the requantization to the calibrated output and the fused clamp."""
        graph = ctx.graph
        x = ctx.tensors[s.inputs[0]]
        out_scale, out_zp = ctx.calibrated(s.output)
        ctx.tensors[s.output] = QTensor(
            s.output, (graph.params[s.node.params["weight"]].shape[1],), float(out_scale), int(out_zp)
        )
        w_q, scales, b_q = quantized_weights(ctx, s, x.scale)
        mults, shifts = int8.dense_requant_params(x.scale, scales, out_scale)
        lo, hi = int8.activation_range(s.activation, out_scale, out_zp)
        return QDense(
            name=s.name,
            input=s.inputs[0],
            output=s.output,
            weights=w_q,
            bias=b_q,
            eff_bias=int8.effective_bias(b_q, w_q, x.zero_point),
            weight_scales=scales,
            multipliers=mults,
            shifts=shifts,
            per_channel=scales.size > 1 or weight_per_channel(ctx.graph, s, ctx.per_channel),
            input_zero_point=x.zero_point,
            output_zero_point=int(out_zp),
            act_min=lo,
            act_max=hi,
            activation=s.activation,
        )

    def run(self, q: QDense, values, n):
        """``int8.dense_s8_reference`` of the flattened input: int8 outputs [n, n_out]."""
        return int8.dense_s8_reference(
            values[q.input],
            q.weights,
            q.bias,
            q.input_zero_point,
            q.output_zero_point,
            q.multipliers,
            q.shifts,
            q.act_min,
            q.act_max,
        ).reshape(n, -1)


class ConvRule(QuantizeRule):
    """conv2d / conv1d (any groups; groups == C_in with C_out a multiple of it is depthwise):
    TFLite CONV_2D / DEPTHWISE_CONV_2D with per-channel weights and a calibrated output."""

    kinds = ("conv2d", "conv1d")
    calibrated = True

    def build(self, ctx, s):
        """A QConv: weights rounded with their scales into (kh, kw, C_in/groups, C_out), the input offset
        folded into the bias, the requantization to the calibrated output, the geometry and the fused
        clamp; ``depthwise`` when groups == C_in and C_out is a multiple of it."""
        x = ctx.tensors[s.inputs[0]]
        out = ctx.tensor(s.output, *ctx.calibrated(s.output))
        w_rows, scales, b_q = quantized_weights(ctx, s, x.scale)
        w4 = w_rows.T.reshape(conv_weight_shape(ctx.graph, s))
        in_shape, out_shape = as_hwc(ctx.lowered.shapes[s.inputs[0]]), as_hwc(ctx.lowered.shapes[s.output])
        kernel = ctx.graph.params[s.node.params["weight"]].shape[:-2]
        geo = geometry(tuple(ctx.lowered.shapes[s.inputs[0]])[:-1], kernel, s.node.attrs, f"{s.kind} {s.name!r}")
        groups = int(s.node.attrs.get("groups", 1))
        cin, cout = in_shape[2], int(w4.shape[3])
        mults, shifts = int8.dense_requant_params(x.scale, scales, out.scale)
        lo, hi = int8.activation_range(s.activation, out.scale, out.zero_point)
        return QConv(
            name=s.name,
            input=s.inputs[0],
            output=s.output,
            weights=w4,
            bias=b_q,
            eff_bias=conv_effective_bias(b_q, w4, x.zero_point),
            weight_scales=scales,
            multipliers=mults,
            shifts=shifts,
            per_channel=scales.size > 1 or weight_per_channel(ctx.graph, s, ctx.per_channel),
            input_zero_point=x.zero_point,
            output_zero_point=out.zero_point,
            act_min=lo,
            act_max=hi,
            activation=s.activation,
            geometry=geo,
            groups=groups,
            depthwise=groups > 1 and groups == cin and cout % cin == 0,
            in_shape=in_shape,
            out_shape=out_shape,
        )

    def run(self, q: QConv, values, n):
        """``conv2d_s8_reference`` of the input as (n, H, W, C): int8 outputs flattened per sample."""
        x = values[q.input].reshape(n, *q.in_shape)
        return conv2d_s8_reference(
            x,
            q.weights,
            q.bias,
            q.geometry,
            q.groups,
            q.input_zero_point,
            q.output_zero_point,
            q.multipliers,
            q.shifts,
            q.act_min,
            q.act_max,
        ).reshape(n, -1)


class PoolRule(QuantizeRule):
    """max_pool / avg_pool: the output keeps the input's scale and zero point (TFLite's
    requirement for both), so only the fused clamp is new."""

    kinds = ("max_pool", "avg_pool")

    def build(self, ctx, s):
        """A QPool with the pool's geometry and its fused clamp, input and output in the input's quantization."""
        x = ctx.tensors[s.inputs[0]]
        ctx.tensor(s.output, x.scale, x.zero_point)
        x_shape = tuple(ctx.lowered.shapes[s.inputs[0]])
        geo = get_op(s.kind).pool_geometry(s.node, x_shape[:-1])
        lo, hi = int8.activation_range(s.activation, x.scale, x.zero_point)
        return QPool(
            s.name,
            s.inputs[0],
            s.output,
            s.kind,
            geo,
            as_hwc(x_shape),
            lo,
            hi,
            x.zero_point,
            x.zero_point,
            activation=s.activation,
        )

    def run(self, q: QPool, values, n):
        """``max_pool_s8_reference`` or ``avg_pool_s8_reference`` of the input as (n, H, W, C), flattened per sample."""
        x = values[q.input].reshape(n, *q.in_shape)
        reference = max_pool_s8_reference if q.kind == "max_pool" else avg_pool_s8_reference
        assert q.geometry is not None  # a pool's QPool always has its geometry
        return reference(x, q.geometry, q.act_min, q.act_max).reshape(n, -1)


class GlobalPoolRule(QuantizeRule):
    """global_avg_pool as TFLite MEAN over the spatial axes, with a calibrated output range
    (an average spans less than its inputs, so it gets its own, finer scale)."""

    kinds = ("global_avg_pool",)
    calibrated = True

    def build(self, ctx, s):
        """A QPool without geometry whose multiplier/shift rescale the input scale to the calibrated
        output scale, with the fused clamp."""
        x = ctx.tensors[s.inputs[0]]
        out = ctx.tensor(s.output, *ctx.calibrated(s.output))
        mult, shift = global_avg_pool_s8_params(x.scale, out.scale)
        lo, hi = int8.activation_range(s.activation, out.scale, out.zero_point)
        return QPool(
            s.name,
            s.inputs[0],
            s.output,
            s.kind,
            None,
            as_hwc(ctx.lowered.shapes[s.inputs[0]]),
            lo,
            hi,
            x.zero_point,
            out.zero_point,
            mult,
            shift,
            s.activation,
        )

    def run(self, q: QPool, values, n):
        """``global_avg_pool_s8_reference`` of the input as (n, H, W, C): one int8 mean per channel."""
        x = values[q.input].reshape(n, *q.in_shape)
        return global_avg_pool_s8_reference(
            x, q.input_zero_point, q.output_zero_point, q.multiplier, q.shift, q.act_min, q.act_max
        ).reshape(n, -1)


class AddRule(QuantizeRule):
    """add as ``et_add_s8`` (TFLite ADD): each input rescaled to a calibrated output, with an optional
    fused clamp."""

    kinds = ("add",)
    calibrated = True

    def build(self, ctx, s):
        """A QAdd whose params rescale both inputs' quantizations to the calibrated output's, with the fused
        activation's clamp."""
        a, b = (ctx.tensors[t] for t in s.inputs)
        out = ctx.tensor(s.output, *ctx.calibrated(s.output))
        lo, hi = int8.activation_range(s.activation, out.scale, out.zero_point)
        p = int8.add_s8_params(a.scale, a.zero_point, b.scale, b.zero_point, out.scale, out.zero_point, lo, hi)
        return QAdd(s.name, (s.inputs[0], s.inputs[1]), s.output, p, ctx.lowered.size(s.output), s.activation)

    def run(self, q: QAdd, values, n):
        """``int8.add_s8_reference`` of the two inputs."""
        return int8.add_s8_reference(values[q.inputs[0]], values[q.inputs[1]], q.params)


class LutRule(QuantizeRule):
    """Smooth activations as a table: sigmoid and tanh with TFLite's fixed output scales,
    leaky_relu and hard_swish with a calibrated output range."""

    kinds: tuple[str, ...] = int8.LUT_KINDS

    def __init__(self, kind: str) -> None:
        self.kinds = (kind,)
        self.calibrated = int8.fixed_output_qparams(kind) is None

    def build(self, ctx, s):
        """A QLut: the activation tabulated for all 256 input codes into the output's fixed (sigmoid,
        tanh) or calibrated quantization; leaky_relu's table uses the node's ``alpha``."""
        src = ctx.tensors[s.inputs[0]]
        fixed = int8.fixed_output_qparams(s.kind)
        out = ctx.tensor(s.output, *(fixed if fixed is not None else ctx.calibrated(s.output)))
        alpha = s.node.attrs.get("alpha") if s.kind == "leaky_relu" else None
        table = int8.activation_lut_s8(s.kind, src.scale, src.zero_point, out.scale, out.zero_point, alpha)
        return QLut(s.name, s.inputs[0], s.output, s.kind, table, ctx.lowered.size(s.output))

    def run(self, q: QLut, values, n):
        """Each input code looked up in the table (``int8.lut_s8_reference``)."""
        return int8.lut_s8_reference(values[q.input], q.table)


class SoftmaxRule(QuantizeRule):
    """softmax inside the model: int8 has no softmax kernel. A final softmax never reaches this rule
    (the int8 lowering drops it and the model returns int8 logits)."""

    kinds = ("softmax",)

    def build(self, ctx, s):
        """Always raises ExportError: only a final softmax is supported."""
        raise ExportError(
            f"int8 export cannot run softmax {s.name!r} inside the model",
            hint="only a final softmax is supported (it is dropped: int8 logits)",
        )


QUANTIZE_RULES: dict[str, QuantizeRule] = {
    kind: rule
    for rule in (
        AliasRule(),
        ClampRule(),
        DenseRule(),
        ConvRule(),
        PoolRule(),
        GlobalPoolRule(),
        AddRule(),
        SoftmaxRule(),
        *(LutRule(k) for k in int8.LUT_KINDS),
    )
    for kind in rule.kinds
}


def quantize_rule(kind: str) -> QuantizeRule:
    """The int8 quantization rule of op ``kind``; UnsupportedOpError when there is none."""
    try:
        return QUANTIZE_RULES[kind]
    except KeyError:
        raise UnsupportedOpError(
            f"int8 quantization has no rule for op kind {kind!r}",
            hint=f"supported: {', '.join(sorted(k for k in QUANTIZE_RULES if k != 'alias'))}",
        ) from None


def weight_per_channel(graph: Graph, step: Step, per_channel: bool) -> bool:
    """Whether a weighted step's weight gets one scale per output channel: as asked, except for a
    clustered weight, which keeps one scale so that its int8 values are its int8 codebook's entries
    (``round(codebook / scale)[indices]``) and the C runtime can store the codebook and indices."""
    return per_channel and graph.params[step.node.params["weight"]].codebook is None


def weight_rows(graph: Graph, step: Step) -> np.ndarray:
    """A dense or conv step's effective weight as [n_out][window] float64: the rows its per-channel
    scales index. Dense weights are stored [n_in, n_out], conv weights (kh, kw, C_in/groups, C_out)
    (conv1d (k, C_in/groups, C_out)): the output channel is always the last axis."""
    w = np.asarray(graph.params[step.node.params["weight"]].effective(), np.float64)
    return w.reshape(-1, w.shape[-1]).T


def conv_weight_shape(graph: Graph, step: Step) -> tuple[int, int, int, int]:
    """A conv step's weight shape as (kh, kw, C_in/groups, C_out): conv1d gets kh = 1."""
    shape = tuple(int(d) for d in graph.params[step.node.params["weight"]].shape)
    return (1, *shape) if len(shape) == 3 else shape  # type: ignore[return-value]


def as_hwc(shape) -> tuple[int, int, int]:
    """One sample's (L, C) or (H, W, C) shape as (H, W, C) with H = 1 for 1-D."""
    t = tuple(int(d) for d in shape)
    return (1, *t) if len(t) == 2 else t  # type: ignore[return-value]


def quantized_weights(
    ctx: QuantizeContext, s: Step, input_scale: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(int8 weight rows [n_out][window], their scales, int32 bias or None) of a weighted step."""
    rows = weight_rows(ctx.graph, s)
    scales = np.asarray(ctx.weight_scales[s.node.params["weight"]], np.float64).reshape(-1)
    per_channel = weight_per_channel(ctx.graph, s, ctx.per_channel)
    if scales.size not in (1, rows.shape[0]) or (per_channel and scales.size != rows.shape[0]):
        raise InvalidModelError(f"{s.name}: {scales.size} weight scales for {rows.shape[0]} outputs")
    w_q = quantize_with_scales(rows, scales)
    bias_param = s.node.params.get("bias")
    b_q = (
        int8.quantize_bias(ctx.graph.params[bias_param].effective(), input_scale, scales)
        if bias_param is not None
        else None
    )
    if b_q is not None and b_q.shape[0] != w_q.shape[0]:
        b_q = np.broadcast_to(b_q, (w_q.shape[0],)).astype(np.int32)
    return w_q, scales, b_q


def quantize_with_scales(w_t: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """int8.quantize_weights' rounding with given scales (one, or one per output row)."""
    s = scales.reshape(-1, 1) if scales.size > 1 else scales.reshape(1, 1)
    return np.clip(np.rint(w_t / s), -127, 127).astype(np.int8)

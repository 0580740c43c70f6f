"""The TFLite backend's rule table, keyed by op kind: how one lowered step becomes TFLite
operators, float32 (`TFLiteRule.f32`) or int8 (`TFLiteRule.s8`, from the quantized step, so the
.tflite carries edgetrain's own integer weights, scales and zero points).

Tensor layout: TFLite tensors carry a batch of 1. A flat tensor of F values is [1, F], an image
(H, W, C) is [1, H, W, C], and a 1-D window (L, C) is [1, 1, L, C] inside the model (TFLite's
convolutions and pools are 2-D, and conv1d is conv2d with height 1 as in the C runtime); the model
input keeps its own shape ([1, L, C]) and is reshaped once. A view (flatten, reshape) is a
RESHAPE when the TFLite shapes differ.

A step the rules cannot express exactly is refused with the layer's name: grouped convolutions
other than depthwise, and in int8 the table activations (edgetrain's int8 sigmoid, tanh,
leaky_relu and hard_swish are 256-entry tables, which TFLite Micro does not compute the same way).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import tflite
from tflite.ActivationFunctionType import ActivationFunctionType
from tflite.BuiltinOperator import BuiltinOperator as Op
from tflite.BuiltinOptions import BuiltinOptions
from tflite.Padding import Padding

from ...errors import UnsupportedOpError
from ...graph import Graph
from ...ops import get_op
from ...ops.activations import LEAKY_RELU_ALPHA
from ...ops.conv import Geometry, geometry
from ...quantize.conv_reference import to_c_conv_weights, to_c_depthwise_weights
from ...quantize.model import QConv, QDense, QPool, QuantizedModel
from ...transforms.lowering import Lowered, Step
from .flatbuffer import ModelSpec, Operator, Quantization, Tensor

FUSED = {None: ActivationFunctionType.NONE, "relu": ActivationFunctionType.RELU, "relu6": ActivationFunctionType.RELU6}


def options_table(kind: str, **fields: float | int | bool) -> Callable:
    """A writer of the builtin options table ``kind`` (e.g. ``Conv2DOptions``) with scalar
    ``fields`` (``Padding=...``), through the schema package's ``<kind>Start/Add<Field>/End``."""

    def write(b):
        getattr(tflite, f"{kind}Start")(b)
        for name, value in fields.items():
            getattr(tflite, f"{kind}Add{name}")(b, value)
        return getattr(tflite, f"{kind}End")(b)

    return write


def tflite_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """A tensor's TFLite shape inside the model (see the module docstring)."""
    return (1, 1, *shape) if len(shape) == 2 else (1, *shape)


@dataclass
class Context:
    """What a rule reads and writes: the model under construction and where each edgetrain
    tensor lives in it (``index``)."""

    spec: ModelSpec
    graph: Graph
    lowered: Lowered
    qmodel: QuantizedModel | None
    index: dict[str, int] = field(default_factory=dict)

    @property
    def int8(self) -> bool:
        """Whether the model is written in int8 (a quantized model was given)."""
        return self.qmodel is not None

    def shape(self, tensor: str) -> tuple[int, ...]:
        """One sample's shape of edgetrain tensor ``tensor`` (no batch dimension)."""
        return tuple(self.lowered.shapes[tensor])

    def quantization(self, tensor: str) -> Quantization | None:
        """The int8 scale and zero point of edgetrain tensor ``tensor`` as TFLite quantization; None in float32."""
        if self.qmodel is None:
            return None
        q = self.qmodel.tensors[tensor]
        return Quantization(np.array([q.scale], np.float32), np.array([q.zero_point], np.int64))

    def activation(self, tensor: str, tshape: tuple[int, ...] | None = None, name: str | None = None) -> int:
        """A new activation tensor holding edgetrain tensor ``tensor`` (int8 with its qparams)."""
        idx = self.spec.add_tensor(
            Tensor(
                name or tensor,
                tshape or tflite_shape(self.shape(tensor)),
                np.dtype(np.int8 if self.int8 else np.float32),
                None,
                self.quantization(tensor),
            )
        )
        self.index[tensor] = idx
        return idx

    def weights(self, name: str, values: np.ndarray, scales: np.ndarray | None, axis: int) -> int:
        """A constant weight tensor of ``values``; with ``scales``, symmetric int8 quantization (zero points
        0), per channel along ``axis`` when there are several scales."""
        q = None
        if scales is not None:
            s = np.asarray(scales, np.float32).reshape(-1)
            q = Quantization(s, np.zeros(s.size, np.int64), axis if s.size > 1 else 0)
        return self.spec.constant(name, values, q)

    def bias(self, name: str, values: np.ndarray | None, input_scale: float | None, scales: np.ndarray | None) -> int:
        """A constant bias tensor, or -1 (TFLite's omitted input) when ``values`` is None; in int8 its
        scales are ``input_scale`` times each weight scale, zero points 0."""
        if values is None:
            return -1
        q = None
        if scales is not None and input_scale is not None:
            s = (np.float64(input_scale) * np.asarray(scales, np.float64)).astype(np.float32).reshape(-1)
            q = Quantization(s, np.zeros(s.size, np.int64), 0)
        return self.spec.constant(name, values, q)

    def op(
        self, code: int, inputs: list[int], outputs: list[int], options_type: int = 0, options: Callable | None = None
    ) -> None:
        """Append operator ``code`` reading tensor indices ``inputs``, writing ``outputs``, with its options table."""
        self.spec.add_operator(Operator(code, inputs, outputs, options_type, options))


class TFLiteRule:
    """How one lowered op kind becomes TFLite operators: :meth:`f32` from the float step, :meth:`s8`
    from its quantized step. Each finds its inputs in ``ctx.index`` and records its output there."""

    kinds: tuple[str, ...] = ()

    def f32(self, ctx: Context, st: Step) -> None:
        """Append the float32 operators of step ``st``."""
        raise NotImplementedError

    def s8(self, ctx: Context, st: Step, q) -> None:
        """Append the int8 operators of step ``st`` from its quantized step ``q`` (integer weights and qparams)."""
        raise NotImplementedError


def _param_f32(ctx: Context, st: Step, role: str) -> np.ndarray | None:
    p = ctx.graph.node_params(st.node).get(role)
    return None if p is None else np.asarray(p.effective(), np.float32)


class DenseRule(TFLiteRule):
    """dense as FULLY_CONNECTED, weights [n_out][n_in], with the fused relu / relu6."""

    kinds = ("dense",)

    @staticmethod
    def _options(act: str | None) -> Callable:
        return options_table("FullyConnectedOptions", FusedActivationFunction=FUSED[act])

    def f32(self, ctx, st):
        """FULLY_CONNECTED with the float weights transposed to [n_out][n_in] and the float bias."""
        x = ctx.index[st.inputs[0]]
        w = ctx.weights(f"{st.name}/weights", np.ascontiguousarray(_param_f32(ctx, st, "weight").T), None, 0)
        b_val = _param_f32(ctx, st, "bias")
        b = ctx.bias(f"{st.name}/bias", b_val, None, None)
        y = ctx.activation(st.output)
        ctx.op(Op.FULLY_CONNECTED, [x, w, b], [y], BuiltinOptions.FullyConnectedOptions, self._options(st.activation))

    def s8(self, ctx, st, q: QDense):
        """FULLY_CONNECTED with the quantized step's int8 weights (per-channel scales on axis 0) and its
        int32 bias."""
        x = ctx.index[q.input]
        w = ctx.weights(f"{q.name}/weights", q.weights, q.weight_scales, 0)
        b = ctx.bias(f"{q.name}/bias", q.bias, ctx.qmodel.tensors[q.input].scale, q.weight_scales)
        y = ctx.activation(q.output)
        ctx.op(Op.FULLY_CONNECTED, [x, w, b], [y], BuiltinOptions.FullyConnectedOptions, self._options(q.activation))


def _padding(st: Step, geo: Geometry, in_shape: tuple[int, ...]) -> str:
    """ "valid", "same" (TensorFlow's, which edgetrain's equals) or "explicit" for a geometry."""
    if geo.pads == ((0, 0), (0, 0)):
        return "valid"
    spatial = in_shape[:-1]
    same = geometry(
        spatial,
        geo.kernel[-len(spatial) :],
        {"stride": geo.stride[-len(spatial) :], "dilation": geo.dilation[-len(spatial) :], "padding": "same"},
        f"{st.kind} {st.name!r}",
    )
    return "same" if same.pads == geo.pads else "explicit"


def _pad(ctx: Context, st: Step, geo: Geometry, x: int, in_shape: tuple[int, ...]) -> int:
    """A PAD before a convolution whose padding TFLite's SAME cannot express; returns the padded
    tensor. int8 pads with the input's zero point (TFLite PAD's quantized semantics)."""
    (t, b), (l, r) = geo.pads  # noqa: E741 (the pads: top, bottom, left, right)
    n, h, w, c = tflite_shape(in_shape)
    pads = ctx.spec.constant(f"{st.name}/pads", np.array([[0, 0], [t, b], [l, r], [0, 0]], np.int32))
    out = ctx.spec.add_tensor(
        Tensor(
            f"{st.name}/padded",
            (n, h + t + b, w + l + r, c),
            np.dtype(np.int8 if ctx.int8 else np.float32),
            None,
            ctx.quantization(st.inputs[0]),
        )
    )
    ctx.op(Op.PAD, [x, pads], [out], BuiltinOptions.PadOptions, options_table("PadOptions"))
    return out


class ConvRule(TFLiteRule):
    """conv2d / conv1d (height 1) as CONV_2D, or DEPTHWISE_CONV_2D when groups == C_in and C_out is a
    multiple of it (other groupings are refused); padding SAME cannot express is a PAD before it."""

    kinds = ("conv2d", "conv1d")

    def f32(self, ctx, st):
        """CONV_2D / DEPTHWISE_CONV_2D with the float weights (conv1d's given height 1) and the float bias."""
        w = _param_f32(ctx, st, "weight")
        w4 = w.reshape(1, *w.shape) if st.kind == "conv1d" else w
        self._emit(ctx, st, w4, None, _param_f32(ctx, st, "bias"), None)

    def s8(self, ctx, st, q: QConv):
        """CONV_2D / DEPTHWISE_CONV_2D with the quantized step's int8 weights (per-channel scales on the
        output-channel axis) and its int32 bias."""
        self._emit(ctx, st, q.weights, q.weight_scales, q.bias, ctx.qmodel.tensors[q.input].scale)

    def _emit(self, ctx: Context, st: Step, w4: np.ndarray, scales, bias, in_scale) -> None:
        in_shape = ctx.shape(st.inputs[0])
        groups = int(st.node.attrs.get("groups", 1))
        cin, cout = int(in_shape[-1]), int(w4.shape[3])
        depthwise = groups > 1 and groups == cin and cout % cin == 0
        if groups > 1 and not depthwise:
            raise UnsupportedOpError(
                f"{st.kind} {st.name!r}: TFLite has no grouped convolution (groups={groups}) other than depthwise",
                hint="use groups=1 or a depthwise conv in a model meant for TFLite",
            )
        weight_shape = ctx.graph.params[st.node.params["weight"]].shape
        geo = geometry(in_shape[:-1], weight_shape[:-2], st.node.attrs, f"{st.kind} {st.name!r}")
        x = ctx.index[st.inputs[0]]
        pad_kind = _padding(st, geo, in_shape)
        if pad_kind == "explicit":
            x = _pad(ctx, st, geo, x, in_shape)
        padding = Padding.SAME if pad_kind == "same" else Padding.VALID
        if depthwise:
            w = ctx.weights(f"{st.name}/weights", to_c_depthwise_weights(w4)[None], scales, 3)
        else:
            w = ctx.weights(f"{st.name}/weights", to_c_conv_weights(w4), scales, 0)
        b = ctx.bias(f"{st.name}/bias", bias, in_scale, scales)
        y = ctx.activation(st.output)
        (sh, sw), (dh, dw), act = geo.stride, geo.dilation, FUSED[st.activation]
        common = {
            "Padding": padding,
            "StrideW": sw,
            "StrideH": sh,
            "FusedActivationFunction": act,
            "DilationWFactor": dw,
            "DilationHFactor": dh,
        }
        if depthwise:
            ctx.op(
                Op.DEPTHWISE_CONV_2D,
                [x, w, b],
                [y],
                BuiltinOptions.DepthwiseConv2DOptions,
                options_table("DepthwiseConv2DOptions", DepthMultiplier=cout // cin, **common),
            )
            return
        ctx.op(Op.CONV_2D, [x, w, b], [y], BuiltinOptions.Conv2DOptions, options_table("Conv2DOptions", **common))


class PoolRule(TFLiteRule):
    """max_pool / avg_pool as MAX_POOL_2D / AVERAGE_POOL_2D (VALID or SAME padding, fused relu / relu6)."""

    kinds = ("max_pool", "avg_pool")

    def f32(self, ctx, st):
        """MAX_POOL_2D or AVERAGE_POOL_2D of the float input."""
        self._emit(ctx, st)

    def s8(self, ctx, st, q: QPool):
        """The same pool operator on int8 tensors (edgetrain's int8 pool keeps the input's quantization)."""
        self._emit(ctx, st)

    @staticmethod
    def _emit(ctx: Context, st: Step) -> None:
        in_shape = ctx.shape(st.inputs[0])
        geo = get_op(st.kind).pool_geometry(st.node, in_shape[:-1])  # type: ignore[attr-defined]
        padding = Padding.VALID if _padding(st, geo, in_shape) == "valid" else Padding.SAME
        x = ctx.index[st.inputs[0]]
        y = ctx.activation(st.output)
        (sh, sw), (kh, kw), act = geo.stride, geo.kernel, FUSED[st.activation]

        options = options_table(
            "Pool2DOptions",
            Padding=padding,
            StrideW=sw,
            StrideH=sh,
            FilterWidth=kw,
            FilterHeight=kh,
            FusedActivationFunction=act,
        )
        code = Op.MAX_POOL_2D if st.kind == "max_pool" else Op.AVERAGE_POOL_2D
        ctx.op(code, [x], [y], BuiltinOptions.Pool2DOptions, options)


class GlobalPoolRule(TFLiteRule):
    """MEAN over the spatial axes (TFLite Micro's int8 MEAN is the integer mean edgetrain's global
    pool computes, `quantize.conv_reference.global_avg_pool_s8_reference`); a fused relu/relu6 is a
    RELU/RELU6 after it (MEAN has no fused activation; the clamp to the zero point / to 6 is the
    same)."""

    kinds = ("global_avg_pool",)

    def f32(self, ctx, st):
        """MEAN over H and W with kept dims, RELU / RELU6 for a fused activation, then a RESHAPE to [1, C]."""
        self._emit(ctx, st)

    def s8(self, ctx, st, q: QPool):
        """The same operators on int8 tensors, the output with its own calibrated quantization."""
        self._emit(ctx, st)

    @staticmethod
    def _emit(ctx: Context, st: Step) -> None:
        x = ctx.index[st.inputs[0]]
        axes = ctx.spec.constant(f"{st.name}/axes", np.array([1, 2], np.int32))
        c = int(ctx.shape(st.output)[-1])
        # Kept dims, [1, 1, 1, C], reshaped to [1, C] (the same bytes) at the end.
        y = ctx.activation(st.output, (1, 1, 1, c), name=f"{st.name}/mean")
        ctx.op(Op.MEAN, [x, axes], [y], BuiltinOptions.ReducerOptions, options_table("ReducerOptions", KeepDims=True))
        if st.activation is not None:
            y2 = ctx.activation(st.output, (1, 1, 1, c), name=f"{st.name}/clamped")
            ctx.op(Op.RELU if st.activation == "relu" else Op.RELU6, [y], [y2])
            y = y2
        reshape(ctx, y, tflite_shape(ctx.shape(st.output)), st.output, name=f"{st.name}/flat")


class ClampRule(TFLiteRule):
    """Stand-alone relu / relu6 as RELU / RELU6."""

    kinds = ("relu", "relu6")

    def f32(self, ctx, st):
        """RELU or RELU6 of the input."""
        x = ctx.index[st.inputs[0]]
        ctx.op(Op.RELU if st.kind == "relu" else Op.RELU6, [x], [ctx.activation(st.output)])

    def s8(self, ctx, st, q):
        """The same RELU / RELU6 on int8 tensors (the output keeps the input's quantization)."""
        self.f32(ctx, st)


class AddRule(TFLiteRule):
    """add as ADD with the fused relu / relu6."""

    kinds = ("add",)

    def f32(self, ctx, st):
        """ADD of the two inputs with the fused activation."""
        a, b = (ctx.index[t] for t in st.inputs)
        ctx.op(
            Op.ADD,
            [a, b],
            [ctx.activation(st.output)],
            BuiltinOptions.AddOptions,
            options_table("AddOptions", FusedActivationFunction=FUSED[st.activation]),
        )

    def s8(self, ctx, st, q):
        """The same ADD on int8 tensors: TFLite rescales both inputs to the output's quantization itself."""
        self.f32(ctx, st)


class TableActivationRule(TFLiteRule):
    """Smooth activations: float32 as TFLite's own ops; int8 refused (see the module docstring)."""

    kinds = ("sigmoid", "tanh", "leaky_relu", "hard_swish")
    CODES: ClassVar[dict[str, int]] = {
        "sigmoid": Op.LOGISTIC,
        "tanh": Op.TANH,
        "leaky_relu": Op.LEAKY_RELU,
        "hard_swish": Op.HARD_SWISH,
    }

    def f32(self, ctx, st):
        """LOGISTIC, TANH or HARD_SWISH of the input, or LEAKY_RELU with the node's ``alpha``."""
        x = ctx.index[st.inputs[0]]
        if st.kind != "leaky_relu":
            ctx.op(self.CODES[st.kind], [x], [ctx.activation(st.output)])
            return
        alpha = float(st.node.attrs.get("alpha", LEAKY_RELU_ALPHA))
        ctx.op(
            Op.LEAKY_RELU,
            [x],
            [ctx.activation(st.output)],
            BuiltinOptions.LeakyReluOptions,
            options_table("LeakyReluOptions", Alpha=alpha),
        )

    def s8(self, ctx, st, q):
        """Always raises UnsupportedOpError: edgetrain's int8 tables are not what TFLite Micro computes."""
        raise UnsupportedOpError(
            f"{st.kind} {st.name!r}: int8 {st.kind} is a 256-entry table in edgetrain, which "
            "TFLite Micro computes another way, so the .tflite would not be the same integer "
            "model",
            hint="export this model as float32 (--dtype f32), or use relu / relu6",
        )


class SoftmaxRule(TFLiteRule):
    """softmax as SOFTMAX (beta 1) in float32; int8 drops a final softmax before the rules run."""

    kinds = ("softmax",)

    def f32(self, ctx, st):
        """SOFTMAX of the input with beta 1."""
        ctx.op(
            Op.SOFTMAX,
            [ctx.index[st.inputs[0]]],
            [ctx.activation(st.output)],
            BuiltinOptions.SoftmaxOptions,
            options_table("SoftmaxOptions", Beta=1.0),
        )

    def s8(self, ctx, st, q):  # pragma: no cover - the int8 quantizer refuses a softmax inside the model
        """Raises UnsupportedOpError: int8 has no softmax inside the model."""
        raise UnsupportedOpError(f"softmax {st.name!r}: only a final softmax is supported in int8 (it is dropped)")


class ViewRule(TFLiteRule):
    """flatten / identity / reshape: a RESHAPE when the TFLite shapes differ, else nothing."""

    kinds = ("alias",)

    def f32(self, ctx, st):
        """A RESHAPE of the input to the output's TFLite shape, or the input tensor itself when the shapes agree."""
        src, dst = st.inputs[0], st.output
        reshape(ctx, ctx.index[src], tflite_shape(ctx.shape(dst)), dst)

    def s8(self, ctx, st, q):
        """The same as in float32: a view keeps its input's quantization."""
        self.f32(ctx, st)


def reshape(ctx: Context, x: int, shape: tuple[int, ...], tensor: str, name: str | None = None) -> int:
    """Index of edgetrain tensor ``tensor`` with TFLite shape ``shape``: ``x`` itself when it has
    that shape, else the output of a new RESHAPE of ``x``."""
    if ctx.spec.tensors[x].shape == shape:
        ctx.index[tensor] = x
        return x
    new_shape = ctx.spec.constant(f"{name or tensor}/shape", np.array(shape, np.int32))
    y = ctx.activation(tensor, shape, name=name)
    dims = list(shape)

    def options(bld):
        tflite.ReshapeOptionsStartNewShapeVector(bld, len(dims))
        for d in reversed(dims):
            bld.PrependInt32(d)
        vec = bld.EndVector()
        tflite.ReshapeOptionsStart(bld)
        tflite.ReshapeOptionsAddNewShape(bld, vec)
        return tflite.ReshapeOptionsEnd(bld)

    ctx.op(Op.RESHAPE, [x, new_shape], [y], BuiltinOptions.ReshapeOptions, options)
    return y


TFLITE_RULES: dict[str, TFLiteRule] = {
    kind: rule
    for rule in (
        DenseRule(),
        ConvRule(),
        PoolRule(),
        GlobalPoolRule(),
        ClampRule(),
        AddRule(),
        TableActivationRule(),
        SoftmaxRule(),
        ViewRule(),
    )
    for kind in rule.kinds
}


def tflite_rule(kind: str) -> TFLiteRule:
    """The TFLite lowering rule of op ``kind``; UnsupportedOpError when there is none."""
    try:
        return TFLITE_RULES[kind]
    except KeyError:
        raise UnsupportedOpError(
            f"the TFLite exporter has no rule for op kind {kind!r}",
            hint=f"supported: {', '.join(sorted(k for k in TFLITE_RULES if k != 'alias'))}",
        ) from None

"""`import_tflite`: a .tflite model (int8 full-integer or float32) as an edgetrain Graph.

The int8 quantization is kept exactly: weights become ``q * scale`` (float32), biases
``b * input_scale * weight_scale``, and the file's scales and zero points go onto the parameters
(``qparams``) and into ``meta["quantization"]``, so `quantize.from_graph` rebuilds the file's
integer model without calibrating. The import checks that it does (every weight and bias equal
to the file's) and refuses a layer it cannot hold exactly. The C export, the .tflite export and
`edgetrain finetune --body int8` then run that integer model.

Operators: FULLY_CONNECTED, CONV_2D (grouped when the filter has fewer input channels), PAD before a
VALID CONV_2D / DEPTHWISE_CONV_2D (folded into its padding), DEPTHWISE_CONV_2D, MAX_POOL_2D,
AVERAGE_POOL_2D, MEAN over (H, W), ADD, RELU, RELU6, RESHAPE, SOFTMAX; float32 also LOGISTIC,
TANH, LEAKY_RELU, HARD_SWISH. Anything else (custom ops, int16 activations, QUANTIZE /
DEQUANTIZE wrappers, dynamic shapes) is refused with one line naming the operator and tensor.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tflite.ActivationFunctionType import ActivationFunctionType
from tflite.BuiltinOperator import BuiltinOperator as Op
from tflite.Padding import Padding
from tflite.TensorType import TensorType

from ...errors import EdgetrainError, InvalidModelError, ModelFileError, UnsupportedOpError
from ...graph import Graph, Param, QParams
from ...layers import GraphBuilder
from .reader import TFModel, TFOperator, TFTensor, read_tflite

FUSED = {ActivationFunctionType.NONE: None, ActivationFunctionType.RELU: "relu", ActivationFunctionType.RELU6: "relu6"}
PADDING = {Padding.SAME: "same", Padding.VALID: "valid"}
FLOAT_ONLY = {Op.LOGISTIC: "sigmoid", Op.TANH: "tanh", Op.HARD_SWISH: "hard_swish"}


def import_tflite(source: str | Path | bytes, name: str | None = None) -> Graph:
    """Convert a .tflite file (path or bytes) into a validated Graph (see the module docstring)."""
    model = read_tflite(source)
    conv = _Converter(model, name or _default_name(model, source))
    graph = conv.run()
    if conv.int8:
        conv.check_exact(graph)
    return graph


def _default_name(model: TFModel, source: Any) -> str:
    if isinstance(source, (str, Path)):
        return Path(source).stem or "tflite_model"
    return "tflite_model"


@dataclass
class _Expected:
    """The file's integer weight (in edgetrain's quantized layout) and bias of one layer."""

    weights: np.ndarray
    bias: np.ndarray | None


class _Converter:
    def __init__(self, model: TFModel, name: str) -> None:
        self.m, self.name = model, name
        self.tensor_of: dict[int, str] = {}  # TFLite tensor -> edgetrain tensor
        self.pads: dict[int, tuple[int, tuple[tuple[int, int], tuple[int, int]]]] = {}
        self.act: dict[str, tuple[float, int]] = {}
        self.expected: dict[str, _Expected] = {}
        self.per_channel: list[bool] = []
        self.int8 = False
        self.b: GraphBuilder

    # ------------------------------------------------------------------ helpers
    def where(self, op: TFOperator, t: TFTensor | None = None) -> str:
        s = f"{self.m.label}: {op.name} (operator {op.index})"
        return s + (f", tensor {t.index} {t.name!r}" if t is not None else "")

    def tensor(self, i: int) -> TFTensor:
        return self.m.tensors[i]

    def activation_in(self, op: TFOperator, k: int = 0) -> str:
        i = op.inputs[k]
        if i < 0 or i not in self.tensor_of:
            t = self.tensor(i) if i >= 0 else None
            raise UnsupportedOpError(
                f"{self.where(op, t)}: input {k} is not computed by the model "
                "(a constant or missing activation operand)",
                hint="edgetrain imports layers whose activations come from earlier layers",
            )
        return self.tensor_of[i]

    def constant(self, op: TFOperator, k: int, what: str) -> TFTensor:
        if k >= len(op.inputs) or op.inputs[k] < 0:
            raise UnsupportedOpError(f"{self.where(op)}: no {what} tensor", hint="the operator misses an input")
        t = self.tensor(op.inputs[k])
        if t.data is None:
            raise UnsupportedOpError(
                f"{self.where(op, t)}: the {what} is not a constant",
                hint="edgetrain imports layers with constant weights",
            )
        return t

    def quant(self, t: TFTensor) -> tuple[float, int] | None:
        if not self.int8:
            return None
        if not t.quantized or t.qscale.size != 1:
            raise UnsupportedOpError(
                f"{self.m.label}: activation tensor {t.index} {t.name!r} has no per-tensor int8 quantization",
                hint="convert with full-integer quantization",
            )
        return float(t.qscale[0]), int(t.qzero_point[0])

    def output(self, op: TFOperator, name: str, activation: int | None = None) -> str:
        """Record ``name`` (an edgetrain tensor) as the op's output, adding a node for a fused
        activation; the file's output quantization goes to the final tensor."""
        t = self.tensor(op.outputs[0])
        if activation is not None and activation not in FUSED:
            raise UnsupportedOpError(
                f"{self.where(op, t)}: fused activation {activation} is not supported",
                hint="edgetrain fuses NONE, RELU and RELU6",
            )
        kind = FUSED.get(activation) if activation is not None else None
        if kind:
            name = self.b.node(kind, [name])
        q = self.quant(t)
        if q is not None:
            self.act[name] = q
        self.tensor_of[op.outputs[0]] = name
        return name

    def input_scale(self, op: TFOperator) -> float | None:
        """The scale of an op's first input (through a folded PAD), None for a float model."""
        if not self.int8:
            return None
        i = op.inputs[0]
        i = self.pads[i][0] if i in self.pads else i
        return self.quant(self.tensor(i))[0]  # type: ignore[index]

    def same_quant(self, op: TFOperator) -> None:
        """int8 pools and clamps keep their input's quantization (edgetrain's kernels and TFLite's)."""
        if not self.int8:
            return
        a, b = self.tensor(op.inputs[0]), self.tensor(op.outputs[0])
        if self.quant(a) != self.quant(b):
            raise UnsupportedOpError(
                f"{self.where(op, b)}: output quantization {self.quant(b)} differs from its input's {self.quant(a)}",
                hint="edgetrain's int8 pools and ReLUs keep their input's scale and zero point",
            )

    def weight_values(self, op: TFOperator, t: TFTensor, axis: int) -> tuple[np.ndarray, np.ndarray | None]:
        """(float32 values, per-channel scales or None for a float model) of a weight tensor."""
        if not self.int8:
            if t.type != TensorType.FLOAT32:
                raise UnsupportedOpError(
                    f"{self.where(op, t)}: a {t.type_name} weight in a float32 model",
                    hint="hybrid (weight-only) quantization is not supported",
                )
            return t.const_data.astype(np.float32), None
        if t.type != TensorType.INT8 or not t.quantized:
            raise UnsupportedOpError(
                f"{self.where(op, t)}: weights must be int8 with quantization, got {t.type_name}",
                hint="convert with full-integer quantization",
            )
        if np.any(t.zero_point != 0):
            raise UnsupportedOpError(
                f"{self.where(op, t)}: asymmetric weights (zero point != 0)",
                hint="edgetrain's int8 kernels take symmetric weights",
            )
        scale = t.qscale.astype(np.float64)
        if scale.size > 1:
            if t.axis != axis or scale.size != t.shape[axis]:
                raise UnsupportedOpError(
                    f"{self.where(op, t)}: per-channel scales on dimension {t.axis} "
                    f"({scale.size}), expected the output channels (dimension {axis})",
                    hint="the file's quantization layout is not the TFLite convention",
                )
            bshape = [1] * t.const_data.ndim
            bshape[axis] = -1
            scale_b = scale.reshape(bshape)
        else:
            scale_b = scale.reshape([1] * t.const_data.ndim)
        self.per_channel.append(scale.size > 1)
        return (t.const_data.astype(np.float64) * scale_b).astype(np.float32), scale

    def bias_values(
        self, op: TFOperator, k: int, in_scale: float | None, w_scale: np.ndarray | None, n_out: int
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(float32 bias, the file's int32 bias) of an optional bias input."""
        if k >= len(op.inputs) or op.inputs[k] < 0:
            return None, None
        t = self.constant(op, k, "bias")
        if t.const_data.size != n_out:
            raise ModelFileError(
                f"{self.where(op, t)}: {t.const_data.size} biases for {n_out} outputs", hint="the file is corrupt"
            )
        if not self.int8:
            return t.const_data.astype(np.float32).reshape(-1), None
        if t.type != TensorType.INT32:
            raise UnsupportedOpError(
                f"{self.where(op, t)}: an int8 model's bias must be int32, got {t.type_name}",
                hint="convert with full-integer quantization",
            )
        b = t.const_data.astype(np.int64).reshape(-1)
        assert w_scale is not None  # an int8 model's weights are quantized
        real = b * (np.float64(in_scale) * w_scale)
        return real.astype(np.float32), b.astype(np.int32)

    def param(self, name: str, values: np.ndarray, scales: np.ndarray | None, axis: int) -> Param:
        p = Param(name, np.ascontiguousarray(values, np.float32))
        if scales is not None:
            zeros = np.zeros(scales.size, np.int64)
            p.qparams = QParams(scales, zeros, 8, axis if scales.size > 1 else None)
        return p

    # ------------------------------------------------------------------ the walk
    def run(self) -> Graph:
        m = self.m
        if len(m.inputs) != 1 or len(m.outputs) != 1:
            raise UnsupportedOpError(
                f"{m.label}: {len(m.inputs)} inputs and {len(m.outputs)} outputs; edgetrain "
                "imports models with one of each",
                hint="export one signature",
            )
        x = self.tensor(m.inputs[0])
        if x.type == TensorType.INT16 or any(t.type == TensorType.INT16 and t.data is None for t in m.tensors):
            bad = x if x.type == TensorType.INT16 else next(t for t in m.tensors if t.type == TensorType.INT16)
            raise UnsupportedOpError(
                f"{m.label}: tensor {bad.index} {bad.name!r} holds int16 activations",
                hint="edgetrain imports int8 (full-integer) or float32 models",
            )
        if x.type not in (TensorType.INT8, TensorType.FLOAT32):
            raise UnsupportedOpError(
                f"{m.label}: input tensor {x.name!r} is {x.type_name}",
                hint="edgetrain imports int8 (full-integer) or float32 models",
            )
        if not x.shape or x.shape[0] != 1 or len(x.shape) < 2:
            raise UnsupportedOpError(
                f"{m.label}: input tensor {x.name!r} has shape {x.shape}; expected [1, ...] (a batch of one)",
                hint="convert with a fixed batch of 1",
            )
        self.int8 = x.type == TensorType.INT8
        self.b = GraphBuilder(tuple(x.shape[1:]), name=self.name)
        self.tensor_of[x.index] = self.b.input
        q = self.quant(x)
        if q is not None:
            self.act[self.b.input] = q
        for op in m.operators:
            self.convert(op)
        out = self.tensor(m.outputs[0])
        if out.index not in self.tensor_of:
            raise ModelFileError(
                f"{m.label}: the output tensor {out.name!r} is not computed by any operator", hint="the file is corrupt"
            )
        try:
            graph = self.b.build(self.tensor_of[out.index])
        except EdgetrainError:
            raise
        except Exception as e:  # noqa: BLE001  # pragma: no cover - the builder validates every node on the way
            raise InvalidModelError(f"{m.label}: the converted graph is invalid: {e}") from None
        graph.meta["imported_from"] = {"file": m.label, "format": "tflite", "description": m.description}
        self._edgetrain_metadata(graph)
        if self.int8:
            graph.meta["quantization"] = {
                "scheme": "int8-tflite",
                "per_channel": bool(self.per_channel) and all(self.per_channel),
                "method": "imported",
                "percentile": None,
                "dropped_softmax": None,
                "activations": {t: [s, z] for t, (s, z) in self.act.items()},
            }
        return graph

    def _edgetrain_metadata(self, graph: Graph) -> None:
        raw = self.m.metadata.get("edgetrain")
        if not raw:
            return
        try:
            doc = json.loads(raw.decode())
        except (UnicodeDecodeError, ValueError):
            return  # someone else's metadata under our name: ignored, not trusted
        if isinstance(doc, dict) and isinstance(doc.get("preprocess"), dict):
            graph.meta["preprocess"] = {k: doc["preprocess"][k] for k in ("mean", "std") if k in doc["preprocess"]}
        if isinstance(doc, dict) and isinstance(doc.get("class_names"), list):
            graph.meta["class_names"] = [str(c) for c in doc["class_names"]]

    def convert(self, op: TFOperator) -> None:
        if op.custom:
            raise UnsupportedOpError(
                f"{self.where(op)}: custom operator {op.custom!r}", hint="edgetrain imports builtin operators only"
            )
        handler = HANDLERS.get(op.code)
        if handler is None or ((op.code in FLOAT_ONLY or op.code == Op.LEAKY_RELU) and self.int8):
            t = self.tensor(op.outputs[0]) if op.outputs else None
            extra = " in an int8 model" if handler is not None else ""
            raise UnsupportedOpError(
                f"{self.where(op, t)}: operator {op.name} is not supported{extra}",
                hint="supported: FULLY_CONNECTED, CONV_2D, DEPTHWISE_CONV_2D, MAX_POOL_2D, "
                "AVERAGE_POOL_2D, MEAN, ADD, RELU, RELU6, RESHAPE, SOFTMAX, PAD "
                "(before a convolution); float32 also LOGISTIC, TANH, LEAKY_RELU, HARD_SWISH",
            )
        if not op.outputs:
            raise ModelFileError(f"{self.where(op)}: no output tensor", hint="the file is corrupt")
        handler(self, op)

    # ------------------------------------------------------------------ operators
    def fully_connected(self, op: TFOperator) -> None:
        x = self.activation_in(op)
        o = op.options
        if o is not None and o.KeepNumDims():
            raise UnsupportedOpError(f"{self.where(op)}: keep_num_dims", hint="convert without keep_num_dims")
        if len(self.b.shape(x)) != 1:
            x = self.b.node("flatten", [x])
        wt = self.constant(op, 1, "weight")
        if wt.const_data.ndim != 2 or wt.const_data.shape[1] != self.b.shape(x)[0]:
            raise ModelFileError(
                f"{self.where(op, wt)}: weight shape {wt.shape} does not fit {self.b.shape(x)[0]} inputs",
                hint="the file is corrupt",
            )
        w, scales = self.weight_values(op, wt, 0)
        n_out = w.shape[0]
        in_scale = self.input_scale(op)
        bias, b_int = self.bias_values(op, 2, in_scale, scales, n_out)
        name = self.b._name("dense", None)
        params = {"weight": self.param(f"{name}.weight", w.T, scales, 1)}
        if bias is not None:
            params["bias"] = self.param(f"{name}.bias", bias, None if scales is None else in_scale * scales, 0)
        y = self.b.node("dense", [x], params, name=name)
        if self.int8:
            self.expected[name] = _Expected(wt.const_data.astype(np.int8), b_int)
        self.output(op, y, o.FusedActivationFunction() if o is not None else None)

    def pad(self, op: TFOperator) -> None:
        x = self.activation_in(op)
        pt = self.constant(op, 1, "paddings")
        p = pt.const_data.astype(np.int64).reshape(-1, 2)
        if p.shape != (4, 2) or np.any(p[0] != 0) or np.any(p[3] != 0) or np.any(p < 0):
            raise UnsupportedOpError(
                f"{self.where(op, pt)}: PAD {p.tolist()}; edgetrain folds a spatial PAD into the convolution after it",
                hint="pad only height and width",
            )
        if self.int8:
            self.same_quant(op)
        # Only a convolution may read it (`_conv_input` folds the pads); any other reader finds no tensor.
        self.pads[op.outputs[0]] = (op.inputs[0], ((int(p[1, 0]), int(p[1, 1])), (int(p[2, 0]), int(p[2, 1]))))
        del x

    def _conv_input(self, op: TFOperator, padding: str) -> tuple[str, Any]:
        """The conv's input tensor and its padding attribute, folding a PAD in front."""
        i = op.inputs[0]
        if i in self.pads:
            if padding != "valid":
                raise UnsupportedOpError(
                    f"{self.where(op)}: a PAD before a SAME convolution",
                    hint="pad explicitly with VALID, or use SAME alone",
                )
            src, pads = self.pads[i]
            return self.tensor_of[src], [list(pads[0]), list(pads[1])]
        return self.activation_in(op), padding

    def conv_2d(self, op: TFOperator, depthwise: bool = False) -> None:
        o = op.options
        padding = PADDING[o.Padding()]
        x, pad_attr = self._conv_input(op, padding)
        xs = self.b.shape(x)
        wt = self.constant(op, 1, "filter")
        if len(xs) != 3 or wt.const_data.ndim != 4:
            raise UnsupportedOpError(
                f"{self.where(op, wt)}: input {xs} / filter {wt.shape}",
                hint="a 2-D convolution needs an (H, W, C) input and a 4-D filter",
            )
        cin = xs[2]
        if depthwise:
            if wt.shape[0] != 1 or wt.shape[3] % cin:
                raise ModelFileError(
                    f"{self.where(op, wt)}: depthwise filter {wt.shape} for {cin} channels", hint="the file is corrupt"
                )
            w, scales = self.weight_values(op, wt, 3)
            w4 = w.reshape(wt.shape[1], wt.shape[2], 1, wt.shape[3])
            groups = cin
        else:
            w, scales = self.weight_values(op, wt, 0)
            w4 = w.transpose(1, 2, 3, 0)  # OHWI -> (kh, kw, C_in / groups, C_out)
            if cin % wt.shape[3]:
                raise ModelFileError(
                    f"{self.where(op, wt)}: filter of {wt.shape[3]} input channels for {cin}",
                    hint="the file is corrupt",
                )
            groups = cin // wt.shape[3]
        n_out = w4.shape[3]
        in_scale = self.input_scale(op)
        bias, b_int = self.bias_values(op, 2, in_scale, scales, n_out)
        name = self.b._name("conv2d", None)
        params = {"weight": self.param(f"{name}.weight", w4, scales, 3)}
        if bias is not None:
            params["bias"] = self.param(f"{name}.bias", bias, None if scales is None else in_scale * scales, 0)
        attrs: dict[str, Any] = {
            "stride": [o.StrideH(), o.StrideW()],
            "padding": pad_attr,
            "dilation": [o.DilationHFactor(), o.DilationWFactor()],
        }
        if groups != 1:
            attrs["groups"] = groups
        y = self.b.node("conv2d", [x], params, name=name, **attrs)
        if self.int8:
            q = wt.const_data.astype(np.int8)
            qw = q.reshape(w4.shape) if depthwise else q.transpose(1, 2, 3, 0)
            self.expected[name] = _Expected(np.ascontiguousarray(qw), b_int)
        self.output(op, y, o.FusedActivationFunction())

    def depthwise(self, op: TFOperator) -> None:
        o = op.options
        cin = self.b.shape(
            self.activation_in(op) if op.inputs[0] not in self.pads else self.tensor_of[self.pads[op.inputs[0]][0]]
        )[-1]
        if self.tensor(op.inputs[1]).shape[3] != cin * o.DepthMultiplier():
            raise ModelFileError(
                f"{self.where(op)}: depth multiplier {o.DepthMultiplier()} does not match the filter",
                hint="the file is corrupt",
            )
        self.conv_2d(op, depthwise=True)

    def pool(self, op: TFOperator) -> None:
        o = op.options
        x = self.activation_in(op)
        self.same_quant(op)
        kind = "max_pool" if op.code == Op.MAX_POOL_2D else "avg_pool"
        y = self.b.node(
            kind,
            [x],
            pool=[o.FilterHeight(), o.FilterWidth()],
            stride=[o.StrideH(), o.StrideW()],
            padding=PADDING[o.Padding()],
        )
        self.output(op, y, o.FusedActivationFunction())

    def mean(self, op: TFOperator) -> None:
        x = self.activation_in(op)
        axes = self.constant(op, 1, "axes").const_data.astype(np.int64).reshape(-1)
        if len(self.b.shape(x)) != 3 or sorted(int(a) % 4 for a in axes) != [1, 2]:
            raise UnsupportedOpError(
                f"{self.where(op)}: MEAN over axes {axes.tolist()} of {self.b.shape(x)}",
                hint="edgetrain imports MEAN over height and width (a global average pool)",
            )
        self.output(op, self.b.node("global_avg_pool", [x]))

    def add(self, op: TFOperator) -> None:
        a, c = self.activation_in(op, 0), self.activation_in(op, 1)
        if self.b.shape(a) != self.b.shape(c):
            raise UnsupportedOpError(
                f"{self.where(op)}: ADD of shapes {self.b.shape(a)} and {self.b.shape(c)}",
                hint="edgetrain adds tensors of one shape (no broadcasting)",
            )
        o = op.options
        self.output(op, self.b.add(a, c), o.FusedActivationFunction() if o is not None else None)

    def clamp(self, op: TFOperator) -> None:
        x = self.activation_in(op)
        self.same_quant(op)
        self.output(op, self.b.node("relu" if op.code == Op.RELU else "relu6", [x]))

    def reshape(self, op: TFOperator) -> None:
        x = self.activation_in(op)
        target = tuple(self.tensor(op.outputs[0]).shape[1:])
        if self.int8:
            self.same_quant(op)
        current = self.b.shape(x)
        if int(np.prod(target, dtype=np.int64)) != int(np.prod(current, dtype=np.int64)):
            raise ModelFileError(f"{self.where(op)}: RESHAPE of {current} to {target}", hint="the file is corrupt")
        # The same values in the same order need no node: an equal shape, or a flat tensor given
        # size-1 axes (a MEAN with kept dims, [1, 1, 1, C], read back as [1, C]).
        if target == current or (len(current) == 1 and tuple(d for d in target if d != 1) == current):
            self.tensor_of[op.outputs[0]] = x
            return
        y = self.b.node("flatten", [x]) if len(target) == 1 else self.b.node("reshape", [x], shape=list(target))
        self.tensor_of[op.outputs[0]] = y

    def softmax(self, op: TFOperator) -> None:
        o = op.options
        if o is not None and o.Beta() != 1.0:
            raise UnsupportedOpError(
                f"{self.where(op)}: SOFTMAX with beta {o.Beta()}", hint="edgetrain's softmax has beta 1"
            )
        x = self.activation_in(op)
        self.tensor_of[op.outputs[0]] = self.b.node("softmax", [x])

    def float_activation(self, op: TFOperator) -> None:
        x = self.activation_in(op)
        if op.code == Op.LEAKY_RELU:
            alpha = float(op.options.Alpha()) if op.options is not None else 0.2
            y = self.b.node("leaky_relu", [x], alpha=alpha)
        else:
            y = self.b.node(FLOAT_ONLY[op.code], [x])
        self.tensor_of[op.outputs[0]] = y

    # ------------------------------------------------------------------ exactness
    def check_exact(self, graph: Graph) -> None:
        """The rebuilt integer model's weights and biases are the file's, or one line naming the layer."""
        from ...quantize import from_graph
        from ...quantize.model import QWeighted

        qm = from_graph(graph)
        for q in qm.steps:
            if not isinstance(q, QWeighted) or q.name not in self.expected:
                continue
            want = self.expected[q.name]
            if not np.array_equal(q.weights, want.weights.reshape(q.weights.shape)):
                raise UnsupportedOpError(
                    f"{self.m.label}: layer {q.name!r}: its int8 weights do not survive the import exactly",
                    hint="report this file; it is a bug",
                )
            if want.bias is not None and (q.bias is None or not np.array_equal(q.bias, want.bias)):
                big = int(np.abs(want.bias.astype(np.int64)).max())
                raise UnsupportedOpError(
                    f"{self.m.label}: layer {q.name!r}: its int32 bias (up to {big:,}) cannot be "
                    "held exactly in edgetrain's float32 parameters",
                    hint="biases beyond about 2^23 lose precision; requantize the model",
                )


HANDLERS = {
    Op.FULLY_CONNECTED: _Converter.fully_connected,
    Op.CONV_2D: _Converter.conv_2d,
    Op.DEPTHWISE_CONV_2D: _Converter.depthwise,
    Op.PAD: _Converter.pad,
    Op.MAX_POOL_2D: _Converter.pool,
    Op.AVERAGE_POOL_2D: _Converter.pool,
    Op.MEAN: _Converter.mean,
    Op.ADD: _Converter.add,
    Op.RELU: _Converter.clamp,
    Op.RELU6: _Converter.clamp,
    Op.RESHAPE: _Converter.reshape,
    Op.SOFTMAX: _Converter.softmax,
    Op.LOGISTIC: _Converter.float_activation,
    Op.TANH: _Converter.float_activation,
    Op.HARD_SWISH: _Converter.float_activation,
    Op.LEAKY_RELU: _Converter.float_activation,
}

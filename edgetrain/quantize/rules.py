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
from . import int8
from ..graph import Graph
from ..transforms.lowering import Lowered, Step
from .model import QAdd, QAlias, QClamp, QDense, QLut, QStep, QTensor


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
        t = self.tensors[name] = QTensor(name, tuple(self.lowered.shapes[name]), float(scale), int(zp))
        return t

    def calibrated(self, name: str) -> tuple[float, int]:
        if name not in self.act:
            raise InvalidModelError(f"no calibrated range for tensor {name!r}")
        return self.act[name]


class QuantizeRule:
    kinds: tuple[str, ...] = ()
    calibrated: bool = False  # the output gets its own observed range (else it is derived)

    def build(self, ctx: QuantizeContext, s: Step) -> QStep:
        raise NotImplementedError

    def run(self, q, values: dict[str, np.ndarray], n: int) -> np.ndarray:  # noqa: ANN001
        raise NotImplementedError


class AliasRule(QuantizeRule):
    kinds = ("alias",)

    def build(self, ctx, s):
        src = ctx.tensors[s.inputs[0]]
        ctx.tensor(s.output, src.scale, src.zero_point)
        return QAlias(s.name, s.inputs[0], s.output)

    def run(self, q: QAlias, values, n):
        return values[q.input]


class ClampRule(QuantizeRule):
    kinds = ("relu", "relu6")

    def build(self, ctx, s):
        src = ctx.tensors[s.inputs[0]]
        # A clamp does not change the scale: TFLite gives ReLU's output its input's qparams.
        ctx.tensor(s.output, src.scale, src.zero_point)
        lo, hi = int8.activation_range(s.kind, src.scale, src.zero_point)
        return QClamp(s.name, s.inputs[0], s.output, s.kind, src.zero_point,
                      hi if s.kind == "relu6" else 127, ctx.lowered.size(s.output))

    def run(self, q: QClamp, values, n):
        return np.clip(values[q.input].astype(np.int32), q.zero_point, min(q.six_q, 127)).astype(np.int8)


class DenseRule(QuantizeRule):
    kinds = ("dense",)
    calibrated = True

    def build(self, ctx, s):
        graph = ctx.graph
        x = ctx.tensors[s.inputs[0]]
        out_scale, out_zp = ctx.calibrated(s.output)
        ctx.tensors[s.output] = QTensor(s.output, (graph.params[s.node.params["weight"]].shape[1],),
                                        float(out_scale), int(out_zp))
        w_t = weight_t(graph, s)
        scales = np.asarray(ctx.weight_scales[s.node.params["weight"]], np.float64).reshape(-1)
        if scales.size not in (1, w_t.shape[0]) or (ctx.per_channel and scales.size != w_t.shape[0]):
            raise InvalidModelError(f"{s.name}: {scales.size} weight scales for {w_t.shape[0]} outputs")
        w_q = quantize_with_scales(w_t, scales)
        bias_param = s.node.params.get("bias")
        b_q = (int8.quantize_bias(graph.params[bias_param].effective(), x.scale, scales)
               if bias_param is not None else None)
        if b_q is not None and b_q.shape[0] != w_q.shape[0]:
            b_q = np.broadcast_to(b_q, (w_q.shape[0],)).astype(np.int32)
        mults, shifts = int8.dense_requant_params(x.scale, scales, out_scale)
        lo, hi = int8.activation_range(s.activation, out_scale, out_zp)
        return QDense(
            name=s.name, input=s.inputs[0], output=s.output, weights=w_q, bias=b_q,
            eff_bias=int8.effective_bias(b_q, w_q, x.zero_point), weight_scales=scales,
            multipliers=mults, shifts=shifts, per_channel=scales.size > 1 or ctx.per_channel,
            input_zero_point=x.zero_point, output_zero_point=int(out_zp), act_min=lo, act_max=hi,
            activation=s.activation,
        )

    def run(self, q: QDense, values, n):
        return int8.dense_s8_reference(
            values[q.input], q.weights, q.bias, q.input_zero_point, q.output_zero_point,
            q.multipliers, q.shifts, q.act_min, q.act_max).reshape(n, -1)


class AddRule(QuantizeRule):
    kinds = ("add",)
    calibrated = True

    def build(self, ctx, s):
        a, b = (ctx.tensors[t] for t in s.inputs)
        out = ctx.tensor(s.output, *ctx.calibrated(s.output))
        lo, hi = int8.activation_range(s.activation, out.scale, out.zero_point)
        p = int8.add_s8_params(a.scale, a.zero_point, b.scale, b.zero_point, out.scale, out.zero_point, lo, hi)
        return QAdd(s.name, (s.inputs[0], s.inputs[1]), s.output, p, ctx.lowered.size(s.output), s.activation)

    def run(self, q: QAdd, values, n):
        return int8.add_s8_reference(values[q.inputs[0]], values[q.inputs[1]], q.params)


class LutRule(QuantizeRule):
    """Smooth activations as a table: sigmoid and tanh with TFLite's fixed output scales,
    leaky_relu and hard_swish with a calibrated output range."""

    kinds = int8.LUT_KINDS

    def __init__(self, kind: str) -> None:
        self.kinds = (kind,)
        self.calibrated = int8.fixed_output_qparams(kind) is None

    def build(self, ctx, s):
        src = ctx.tensors[s.inputs[0]]
        fixed = int8.fixed_output_qparams(s.kind)
        out = ctx.tensor(s.output, *(fixed if fixed is not None else ctx.calibrated(s.output)))
        alpha = s.node.attrs.get("alpha") if s.kind == "leaky_relu" else None
        table = int8.activation_lut_s8(s.kind, src.scale, src.zero_point, out.scale, out.zero_point, alpha)
        return QLut(s.name, s.inputs[0], s.output, s.kind, table, ctx.lowered.size(s.output))

    def run(self, q: QLut, values, n):
        return int8.lut_s8_reference(values[q.input], q.table)


class SoftmaxRule(QuantizeRule):
    kinds = ("softmax",)

    def build(self, ctx, s):
        raise ExportError(f"int8 export cannot run softmax {s.name!r} inside the model",
                          hint="only a final softmax is supported (it is dropped: int8 logits)")


QUANTIZE_RULES: dict[str, QuantizeRule] = {
    kind: rule
    for rule in (AliasRule(), ClampRule(), DenseRule(), AddRule(), SoftmaxRule(),
                 *(LutRule(k) for k in int8.LUT_KINDS))
    for kind in rule.kinds
}


def quantize_rule(kind: str) -> QuantizeRule:
    try:
        return QUANTIZE_RULES[kind]
    except KeyError:
        raise UnsupportedOpError(f"int8 quantization has no rule for op kind {kind!r}",
                                 hint=f"supported: {', '.join(sorted(k for k in QUANTIZE_RULES if k != 'alias'))}"
                                 ) from None


def weight_t(graph: Graph, step: Step) -> np.ndarray:
    """A dense step's effective weight in the kernels' layout [n_out][n_in], float64."""
    # Python stores dense weights [n_in, n_out]; kernels and per-channel scales use [n_out][n_in].
    return np.asarray(graph.params[step.node.params["weight"]].effective(), np.float64).T


def quantize_with_scales(w_t: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """int8.quantize_weights' rounding with given scales (one, or one per output row)."""
    s = scales.reshape(-1, 1) if scales.size > 1 else scales.reshape(1, 1)
    return np.clip(np.rint(w_t / s), -127, 127).astype(np.int8)


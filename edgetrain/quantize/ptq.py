"""Post-training int8 quantization of a whole graph.

Calibration runs the float graph on a data sample and observes the range of every tensor a
kernel writes (min/max or a percentile); activations get asymmetric int8 scales, weights
symmetric int8 (per tensor or per output channel), biases int32 at ``input_scale *
weight_scale``, and every rescale becomes a TFLite-style multiplier + shift (`formats.quant`).
"""
from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from ..engine.executor import check_input, forward
from ..errors import ConfigError, DataError, ExportError, InvalidModelError
from ..formats import quant
from ..graph import Graph, QParams
from .lowering import Lowered, Step, lower_graph
from .model import QAdd, QAlias, QClamp, QDense, QStep, QTensor, QuantizedModel

META_KEY = "quantization"
CALIB_BATCH = 256


def quantize_model(
    graph: Graph,
    calib_x: ArrayLike,
    per_channel: bool = True,
    method: Literal["minmax", "percentile"] = "minmax",
    percentile: float = 99.99,
) -> QuantizedModel:
    """Calibrate on ``calib_x`` (float samples, standardised as in training) and quantize.

    The input graph is not modified; the result's ``graph`` is a copy with ``qparams`` on the
    dense weights and biases and the activation scales in ``meta["quantization"]``.
    """
    if method not in ("minmax", "percentile"):
        raise ConfigError(f"unknown calibration method {method!r}", hint="use minmax or percentile")
    lowered = lower_graph(graph, drop_final_softmax=True)
    x = np.asarray(calib_x, dtype=np.float32)
    if x.ndim == len(graph.input_shape):
        x = x[None]
    check_input(graph, x)
    if len(x) == 0:
        raise DataError("calibration needs at least one sample")
    if not np.isfinite(x).all():
        raise DataError("calibration data contains NaN or infinity")
    act = calibrate(lowered, x, method, percentile)
    weight_scales = {
        s.node.params["weight"]: quant.quantize_weights(_weight_t(graph, s), per_channel, axis=0)[1]
        for s in lowered.steps if s.kind == "dense"
    }
    qm = _build(graph.copy(), lowered, act, weight_scales, per_channel, method)
    qm.info["percentile"] = percentile if method == "percentile" else None
    qm.info["calibration_samples"] = int(len(x))
    _attach(qm)
    return qm


def calibrate(
    lowered: Lowered, x: np.ndarray, method: str, percentile: float
) -> dict[str, tuple[float, int]]:
    """(scale, zero_point) of the input and of every tensor a non-alias kernel produces."""
    observed = [lowered.input] + [s.output for s in lowered.steps if s.kind in ("dense", "add")]
    observers = {t: quant.RangeObserver(method, percentile) for t in observed}
    for i in range(0, len(x), CALIB_BATCH):
        values, _ = forward(lowered.graph, x[i : i + CALIB_BATCH], outputs=observed)
        for t, obs in observers.items():
            obs.update(values[t])
    return {t: obs.qparams() for t, obs in observers.items()}


def from_graph(graph: Graph) -> QuantizedModel:
    """Rebuild the QuantizedModel of a graph that :func:`quantize_model` produced (e.g. after
    ``save_model``/``load_model``), without calibrating again."""
    meta = graph.meta.get(META_KEY)
    if not isinstance(meta, dict) or "activations" not in meta:
        raise InvalidModelError(f"{graph.name!r} carries no int8 quantization",
                                hint="quantize it first (quantize_model, or give calibration data)")
    lowered = lower_graph(graph, drop_final_softmax=True)
    act = {t: (float(v[0]), int(v[1])) for t, v in meta["activations"].items()}
    scales = {}
    for s in lowered.steps:
        if s.kind == "dense":
            p = graph.params[s.node.params["weight"]]
            if p.qparams is None:
                raise InvalidModelError(f"{p.name} has no qparams although the graph is quantized")
            scales[p.name] = np.asarray(p.qparams.scale, np.float64).reshape(-1)
    return _build(graph, lowered, act, scales, bool(meta["per_channel"]), str(meta["method"]))


def has_quantization(graph: Graph) -> bool:
    return isinstance(graph.meta.get(META_KEY), dict)


# ---------------------------------------------------------------------------------------------


def _weight_t(graph: Graph, step: Step) -> np.ndarray:
    # Python stores dense weights [n_in, n_out]; kernels and per-channel scales use [n_out][n_in].
    return np.asarray(graph.params[step.node.params["weight"]].effective(), np.float64).T


def _quantize_with_scales(w_t: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """quant.quantize_weights' rounding with given scales (one, or one per output row)."""
    s = scales.reshape(-1, 1) if scales.size > 1 else scales.reshape(1, 1)
    return np.clip(np.rint(w_t / s), -127, 127).astype(np.int8)


def _build(
    graph: Graph,
    lowered: Lowered,
    act: dict[str, tuple[float, int]],
    weight_scales: dict[str, np.ndarray],
    per_channel: bool,
    method: str,
) -> QuantizedModel:
    def tensor(name: str, scale: float, zp: int) -> QTensor:
        return QTensor(name, tuple(lowered.shapes[name]), float(scale), int(zp))

    def known(name: str) -> tuple[float, int]:
        if name not in act:
            raise InvalidModelError(f"no calibrated range for tensor {name!r}")
        return act[name]

    tensors: dict[str, QTensor] = {lowered.input: tensor(lowered.input, *known(lowered.input))}
    steps: list[QStep] = []
    for s in lowered.steps:
        if s.kind == "alias":
            src = tensors[s.inputs[0]]
            tensors[s.output] = tensor(s.output, src.scale, src.zero_point)
            steps.append(QAlias(s.name, s.inputs[0], s.output))
        elif s.kind in ("relu", "relu6"):
            src = tensors[s.inputs[0]]
            # A clamp does not change the scale: TFLite gives ReLU's output its input's qparams.
            tensors[s.output] = tensor(s.output, src.scale, src.zero_point)
            lo, hi = quant.activation_range(s.kind, src.scale, src.zero_point)
            steps.append(QClamp(s.name, s.inputs[0], s.output, s.kind, src.zero_point,
                                hi if s.kind == "relu6" else 127, lowered.size(s.output)))
        elif s.kind == "dense":
            steps.append(_dense(graph, s, tensors, known, weight_scales, per_channel))
        elif s.kind == "add":
            a, b = (tensors[t] for t in s.inputs)
            out = tensors[s.output] = tensor(s.output, *known(s.output))
            lo, hi = quant.activation_range(s.activation, out.scale, out.zero_point)
            p = quant.add_s8_params(a.scale, a.zero_point, b.scale, b.zero_point, out.scale,
                                    out.zero_point, lo, hi)
            steps.append(QAdd(s.name, (s.inputs[0], s.inputs[1]), s.output, p,
                              lowered.size(s.output), s.activation))
        else:  # softmax not at the end
            raise ExportError(f"int8 export cannot run {s.kind} {s.name!r} inside the model",
                              hint="only a final softmax is supported (it is dropped: int8 logits)")
    return QuantizedModel(graph, lowered, tensors, steps, per_channel, method,
                          {"dropped_softmax": lowered.dropped_softmax})


def _dense(graph, s, tensors, known, weight_scales, per_channel) -> QDense:
    x = tensors[s.inputs[0]]
    out_scale, out_zp = known(s.output)
    tensors[s.output] = QTensor(s.output, (graph.params[s.node.params["weight"]].shape[1],),
                                float(out_scale), int(out_zp))
    w_t = _weight_t(graph, s)
    scales = np.asarray(weight_scales[s.node.params["weight"]], np.float64).reshape(-1)
    if scales.size not in (1, w_t.shape[0]) or (per_channel and scales.size != w_t.shape[0]):
        raise InvalidModelError(f"{s.name}: {scales.size} weight scales for {w_t.shape[0]} outputs")
    w_q = _quantize_with_scales(w_t, scales)
    bias_param = s.node.params.get("bias")
    b_q = (quant.quantize_bias(graph.params[bias_param].effective(), x.scale, scales)
           if bias_param is not None else None)
    if b_q is not None and b_q.shape[0] != w_q.shape[0]:
        b_q = np.broadcast_to(b_q, (w_q.shape[0],)).astype(np.int32)
    mults, shifts = quant.dense_requant_params(x.scale, scales, out_scale)
    lo, hi = quant.activation_range(s.activation, out_scale, out_zp)
    return QDense(
        name=s.name, input=s.inputs[0], output=s.output, weights=w_q, bias=b_q,
        eff_bias=quant.effective_bias(b_q, w_q, x.zero_point), weight_scales=scales,
        multipliers=mults, shifts=shifts, per_channel=scales.size > 1 or per_channel,
        input_zero_point=x.zero_point, output_zero_point=int(out_zp), act_min=lo, act_max=hi,
        activation=s.activation,
    )


def _attach(qm: QuantizedModel) -> None:
    """Write the quantization onto the graph copy: qparams on params, activations in meta."""
    g = qm.graph
    for st in qm.steps:
        if not isinstance(st, QDense):
            continue
        node = g.node(st.name)
        zeros = np.zeros(st.weight_scales.size, np.int64)
        # Python weights are [n_in, n_out]: output channels are axis 1.
        g.params[node.params["weight"]].qparams = QParams(
            st.weight_scales, zeros, 8, 1 if st.per_channel else None)
        if "bias" in node.params:
            g.params[node.params["bias"]].qparams = QParams(
                qm.tensors[st.input].scale * st.weight_scales, zeros, 32, 0 if st.per_channel else None)
    g.meta[META_KEY] = {
        "scheme": "int8-ptq",
        "per_channel": qm.per_channel,
        "method": qm.method,
        "percentile": qm.info.get("percentile"),
        "dropped_softmax": qm.lowered.dropped_softmax,
        "activations": {t: [q.scale, q.zero_point] for t, q in qm.tensors.items()},
    }

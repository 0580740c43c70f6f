"""Post-training int8 quantization of a whole graph.

Calibration runs the float graph on a data sample and observes the range of every tensor a
kernel writes (min/max or a percentile); activations get asymmetric int8 scales, weights
symmetric int8 (per tensor or per output channel), biases int32 at ``input_scale *
weight_scale``, and every rescale becomes a TFLite-style multiplier + shift (`quantize.int8`).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from ..engine.executor import check_input, forward
from ..errors import ConfigError, DataError, InvalidModelError
from ..graph import Graph, QParams
from ..transforms.fold_batch_norm import fold_for_kernels
from ..transforms.lowering import Lowered, lower_graph
from . import int8
from .model import QStep, QuantizedModel, QWeighted
from .rules import WEIGHTED_KINDS, QuantizeContext, quantize_rule, weight_per_channel, weight_rows

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
    dense and conv weights and biases and the activation scales in ``meta["quantization"]``. An
    inference batch_norm is folded into the layer before it first (the int8 kernels have none),
    so the result's graph has none.
    """
    if method not in ("minmax", "percentile"):
        raise ConfigError(f"unknown calibration method {method!r}", hint="use minmax or percentile")
    graph = fold_for_kernels(graph)
    lowered = lower_graph(graph, drop_final_softmax=True)
    x = np.asarray(calib_x, dtype=np.float32)
    if tuple(x.shape) == tuple(graph.input_shape):  # one sample (flat rows of a shaped input are a batch)
        x = x[None]
    check_input(graph, x)
    if len(x) == 0:
        raise DataError("calibration needs at least one sample")
    if not np.isfinite(x).all():
        raise DataError("calibration data contains NaN or infinity")
    act = calibrate(lowered, x, method, percentile)
    weight_scales = {
        s.node.params["weight"]: int8.quantize_weights(
            weight_rows(graph, s), weight_per_channel(graph, s, per_channel), axis=0
        )[1]
        for s in lowered.steps
        if s.kind in WEIGHTED_KINDS
    }
    qm = _build(graph.copy(), lowered, act, weight_scales, per_channel, method)
    qm.info["percentile"] = percentile if method == "percentile" else None
    qm.info["calibration_samples"] = len(x)
    _attach(qm)
    return qm


def calibrate(
    lowered: Lowered, x: np.ndarray, method: Literal["minmax", "percentile"], percentile: float
) -> dict[str, tuple[float, int]]:
    """(scale, zero_point) of the input and of every tensor a non-alias kernel produces."""
    observed = [lowered.input] + [s.output for s in lowered.steps if quantize_rule(s.kind).calibrated]
    observers = {t: int8.RangeObserver(method, percentile) for t in observed}
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
        raise InvalidModelError(
            f"{graph.name!r} carries no int8 quantization",
            hint="quantize it first (quantize_model, or give calibration data)",
        )
    lowered = lower_graph(graph, drop_final_softmax=True)
    act = {t: (float(v[0]), int(v[1])) for t, v in meta["activations"].items()}
    scales = {}
    for s in lowered.steps:
        if s.kind in WEIGHTED_KINDS:
            p = graph.params[s.node.params["weight"]]
            if p.qparams is None:
                raise InvalidModelError(f"{p.name} has no qparams although the graph is quantized")
            scales[p.name] = np.asarray(p.qparams.scale, np.float64).reshape(-1)
    return _build(graph, lowered, act, scales, bool(meta["per_channel"]), str(meta["method"]))


def has_quantization(graph: Graph) -> bool:
    """Whether ``graph`` carries int8 quantization metadata."""
    return isinstance(graph.meta.get(META_KEY), dict)


# ---------------------------------------------------------------------------------------------


def _build(
    graph: Graph,
    lowered: Lowered,
    act: dict[str, tuple[float, int]],
    weight_scales: dict[str, np.ndarray],
    per_channel: bool,
    method: str,
) -> QuantizedModel:
    rules = [quantize_rule(s.kind) for s in lowered.steps]  # one error for an unsupported kind
    ctx = QuantizeContext(graph, lowered, {}, act, weight_scales, per_channel)
    ctx.tensor(lowered.input, *ctx.calibrated(lowered.input))
    steps: list[QStep] = [rule.build(ctx, s) for rule, s in zip(rules, lowered.steps)]
    return QuantizedModel(
        graph, lowered, ctx.tensors, steps, per_channel, method, {"dropped_softmax": lowered.dropped_softmax}
    )


def _attach(qm: QuantizedModel) -> None:
    """Write the quantization onto the graph copy: qparams on params, activations in meta."""
    g = qm.graph
    for st in qm.steps:
        if not isinstance(st, QWeighted):
            continue
        node = g.node(st.name)
        zeros = np.zeros(st.weight_scales.size, np.int64)
        weight = g.params[node.params["weight"]]
        # Output channels are the weight's last axis (dense [n_in, n_out], conv (..., C_out)).
        weight.qparams = QParams(st.weight_scales, zeros, 8, weight.value.ndim - 1 if st.per_channel else None)
        if "bias" in node.params:
            g.params[node.params["bias"]].qparams = QParams(
                qm.tensors[st.input].scale * st.weight_scales, zeros, 32, 0 if st.per_channel else None
            )
    g.meta[META_KEY] = {
        "scheme": "int8-ptq",
        "per_channel": qm.per_channel,
        "method": qm.method,
        "percentile": qm.info.get("percentile"),
        "dropped_softmax": qm.lowered.dropped_softmax,
        "activations": {t: [q.scale, q.zero_point] for t, q in qm.tensors.items()},
    }

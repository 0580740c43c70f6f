"""Inference export: the graph as a plain opset-17 ONNX model, masks folded into weights and clustered
weights stored as their codebook and one-byte indices."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx

from ...graph import Graph, Param
from .common import BATCH, OnnxBuilder, effective_tensor, frozen_value, make_model, mask_tensor, value_info
from .emitters import EMITTERS
from .exportable import check_exportable


def emit_forward(b: OnnxBuilder, graph: Graph, weight_of: dict[str, str]) -> None:
    """Emit every node's forward rule; each output tensor is named after its node. The forward
    mode (`OnnxBuilder.training`) is the caller's: inference unless a train step set it."""
    b.graph = graph
    b.shapes = graph.shapes()
    for node in graph.nodes:
        # A parameter without a tensor is one the emitted forward never reads (the running
        # statistics of a batch_norm normalising with batch statistics in an ORT base model).
        ws = {role: weight_of[p] for role, p in node.params.items() if p in weight_of}
        EMITTERS[node.op].forward(b, node, list(node.inputs), ws, node.name)


def input_statistics(graph: Graph) -> tuple[np.ndarray, np.ndarray] | None:
    """(mean, std) float32 of the model's stored input standardisation, shaped like one sample,
    or None without one."""
    pre = graph.meta.get("preprocess") or {}
    if "mean" not in pre or "std" not in pre:
        return None
    n = int(np.prod(graph.input_shape))
    mean, std = (np.asarray(pre[k], np.float32).reshape(-1) for k in ("mean", "std"))
    if mean.size != n or std.size != n:
        return None
    return mean.reshape(graph.input_shape), std.reshape(graph.input_shape)


def model_input(b: OnnxBuilder, graph: Graph, raw_input: bool) -> onnx.ValueInfoProto:
    """The model's ONNX input. With ``raw_input`` and stored statistics it is ``<input>_raw``
    (raw values) and Sub(mean), Div(std) produce the graph's input tensor from it, standardised in
    float32 exactly as edgetrain does (`data.apply_preprocess`); every later node (and a train
    step's backward) reads the standardised tensor under its usual name."""
    x = graph.input_name
    stats = input_statistics(graph) if raw_input else None
    if stats is None:
        return value_info(b.reserve(x), [BATCH, *graph.input_shape])
    raw = b.reserve(f"{x}_raw")
    mean = b.const(f"{x}.mean", stats[0])
    std = b.const(f"{x}.std", stats[1])
    centred = b.op("Sub", [raw, mean], f"{x}.centred")
    b.op("Div", [centred, std], out=x)
    return value_info(raw, [BATCH, *graph.input_shape])


def build_inference_model(
    graph: Graph, trainable: set[str] | None = None, *, raw_input: bool = False
) -> onnx.ModelProto:
    """ONNX model computing `graph`'s outputs. Names: input and layer names as in the graph,
    initializers named after parameters; masks are folded into the weights, and a clustered weight
    is its codebook and uint8 indices with a ``Gather`` (`clustered_weight`).

    Parameters named in `trainable` instead keep their storage as the initializer (the codebook
    of a clustered weight) and apply the attachments in the graph (Gather by constant indices,
    multiply by a constant mask), so a gradient-based trainer such as ONNX Runtime training
    updates the storage and can never revive a pruned weight. Such a model is the base of ORT
    training artifacts, so ops whose gradient ORT 1.19 lacks or crashes on are spelled in ops it
    can differentiate (avg_pool as a Conv of ones over the window counts; docs/onnx_layout.md).
    Channels-last ops keep the graph's NHWC / NLC tensors, their Conv/pool nodes wrapped in
    Transposes (conv_emitters.py). ``raw_input`` puts the model's stored input standardisation in
    front (`model_input`), so the model takes raw values as ``<input>_raw``.

    The ORT base model's forward is the numpy training forward (`engine.mode`): a batch_norm
    whose scale or bias trains normalises with batch statistics, and its running statistics are
    not in the model; its batch mean and variance are the tensors ``<layer>.batch_mean`` and
    ``<layer>.batch_var`` (`conv_emitters.batch_statistic_names`), which the artifacts output so
    `ort_train` can update the running statistics as the numpy engine does.
    """
    check_exportable(graph)
    shapes = graph.shapes()
    b = OnnxBuilder()
    if trainable is not None:  # the base model of ORT training artifacts: a training forward
        b.ort_training = b.training = True
        b.frozen = frozenset(n for n, p in graph.params.items() if not p.trainable)
    from .conv_emitters import running_statistics

    unused = set(running_statistics(graph, b))  # a batch-statistics forward never reads them
    inputs = [model_input(b, graph, raw_input)]
    weight_of: dict[str, str] = {}
    for p in graph.params.values():
        if p.name in unused:
            continue
        if trainable is not None and p.name in trainable:
            store = b.const(p.name, np.asarray(p.storage(), np.float32), exact_name=True)
            weight_of[p.name] = effective_tensor(b, p, store)
        elif trainable is None and clustered_in_bytes(p):
            weight_of[p.name] = clustered_weight(b, p)
        else:
            weight_of[p.name] = b.const(p.name, frozen_value(p), exact_name=True)
    emit_forward(b, graph, weight_of)
    outputs = [value_info(o, [BATCH, *shapes[o]]) for o in graph.outputs]
    raw = inputs[0].name != graph.input_name
    doc = (
        "edgetrain inference model; input: raw values, standardised inside ((x - mean) / std)"
        if raw
        else "edgetrain inference model; input: standardised as in training"
    )
    return make_model(b, graph.name, inputs, outputs, doc=doc)


def clustered_in_bytes(p: Param) -> bool:
    """Whether ``p`` is a clustered weight whose indices fit one byte each (at most 256 entries in a
    one-dimensional codebook): the inference model then stores the codebook and uint8 indices."""
    return p.codebook is not None and p.codebook.ndim == 1 and p.codebook.size <= 256


def clustered_weight(b: OnnxBuilder, p: Param) -> str:
    """A clustered weight as the inference model computes it: ``Gather`` from its float32 codebook
    ``<param>.codebook`` by its indices, stored as uint8 ``<param>.indices`` (one byte per weight
    instead of four) and cast to int64 for Gather; then the mask when there is one. The result
    equals `Param.effective()`."""
    codebook = b.const(f"{p.name}.codebook", np.asarray(p.codebook, np.float32), exact_name=True)
    stored = b.const(f"{p.name}.indices", np.asarray(p.indices, np.uint8), np.uint8, exact_name=True)
    wide = b.op("Cast", [stored], f"{p.name}.indices_int64", to=onnx.TensorProto.INT64)
    w = b.op("Gather", [codebook, wide], f"{p.name}.lookup", axis=0)
    if p.mask is not None:
        w = b.op("Mul", [w, mask_tensor(b, p)], f"{p.name}.effective")
    return w


def export_inference(graph: Graph, path: str | Path) -> Path:
    """Write `build_inference_model(graph)` to `path` (a file; use `export_onnx` for a directory)."""
    path = Path(path)
    onnx.save(build_inference_model(graph), str(path))
    return path

"""Inference export: the graph as a plain opset-17 ONNX model, attachments folded into weights."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx

from ...graph import Graph
from .common import BATCH, OnnxBuilder, effective_tensor, frozen_value, make_model, value_info
from .emitters import EMITTERS
from .exportable import check_exportable


def emit_forward(b: OnnxBuilder, graph: Graph, weight_of: dict[str, str]) -> None:
    """Emit every node's forward rule; each output tensor is named after its node. The forward
    mode (`OnnxBuilder.training`) is the caller's: inference unless a train step set it."""
    b.graph = graph
    b.shapes = graph.shapes()
    for node in graph.nodes:
        ws = {role: weight_of[p] for role, p in node.params.items()}
        EMITTERS[node.op].forward(b, node, list(node.inputs), ws, node.name)


def build_inference_model(graph: Graph, trainable: set[str] | None = None) -> onnx.ModelProto:
    """ONNX model computing `graph`'s outputs. Names: input and layer names as in the graph,
    initializers named after parameters; masks and codebooks are folded into dense weights.

    Parameters named in `trainable` instead keep their storage as the initializer (the codebook
    of a clustered weight) and apply the attachments in the graph (Gather by constant indices,
    multiply by a constant mask), so a gradient-based trainer such as ONNX Runtime training
    updates the storage and can never revive a pruned weight. Such a model is the base of ORT
    training artifacts, so ops whose gradient ORT 1.19 lacks or crashes on are spelled in ops it
    can differentiate (avg_pool as a Conv of ones over the window counts; docs/onnx_layout.md).
    Channels-last ops keep the graph's NHWC / NLC tensors, their Conv/pool nodes wrapped in
    Transposes (conv_emitters.py).
    """
    check_exportable(graph)
    shapes = graph.shapes()
    b = OnnxBuilder()
    b.ort_training = trainable is not None  # the base model of ORT training artifacts
    inputs = [value_info(b.reserve(name), [BATCH, *shape]) for name, shape in graph.inputs.items()]
    weight_of: dict[str, str] = {}
    for p in graph.params.values():
        if trainable is not None and p.name in trainable:
            store = b.const(p.name, np.asarray(p.storage(), np.float32), exact_name=True)
            weight_of[p.name] = effective_tensor(b, p, store)
        else:
            weight_of[p.name] = b.const(p.name, frozen_value(p), exact_name=True)
    emit_forward(b, graph, weight_of)
    outputs = [value_info(o, [BATCH, *shapes[o]]) for o in graph.outputs]
    return make_model(b, graph.name, inputs, outputs, doc="edgetrain inference model")


def export_inference(graph: Graph, path: str | Path) -> Path:
    """Write `build_inference_model(graph)` to `path` (a file; use `export_onnx` for a directory)."""
    path = Path(path)
    onnx.save(build_inference_model(graph), str(path))
    return path

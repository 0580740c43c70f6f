"""Inference export: the graph as a plain opset-17 ONNX model, attachments folded into weights."""
from __future__ import annotations

from pathlib import Path

import onnx

from ...graph import Graph
from .common import BATCH, OnnxBuilder, check_exportable, frozen_value, make_model, value_info
from .emitters import EMITTERS


def emit_forward(b: OnnxBuilder, graph: Graph, weight_of: dict[str, str]) -> None:
    """Emit every node's forward rule; each output tensor is named after its node."""
    for node in graph.nodes:
        ws = {role: weight_of[p] for role, p in node.params.items()}
        EMITTERS[node.op].forward(b, node, list(node.inputs), ws, node.name)


def build_inference_model(graph: Graph) -> onnx.ModelProto:
    """ONNX model computing `graph`'s outputs. Names: input and layer names as in the graph,
    initializers named after parameters; masks and codebooks are folded into dense weights."""
    check_exportable(graph)
    shapes = graph.shapes()
    b = OnnxBuilder()
    inputs = [value_info(b.reserve(name), [BATCH, *shape]) for name, shape in graph.inputs.items()]
    weight_of = {p.name: b.const(p.name, frozen_value(p), exact_name=True) for p in graph.params.values()}
    emit_forward(b, graph, weight_of)
    outputs = [value_info(o, [BATCH, *shapes[o]]) for o in graph.outputs]
    return make_model(b, graph.name, inputs, outputs, doc="edgetrain inference model")


def export_inference(graph: Graph, path: str | Path) -> Path:
    """Write `build_inference_model(graph)` to `path` (a file; use `export_onnx` for a directory)."""
    path = Path(path)
    onnx.save(build_inference_model(graph), str(path))
    return path

"""Whether the ONNX exporters can export a graph: every op kind needs an emitter.

Its own module because it reads the emitter table, and emitters.py builds on common.py: placed in
common.py it would make the two import each other."""

from __future__ import annotations

from ...errors import UnsupportedOpError
from ...graph import Graph
from .emitters import EMITTERS


def check_exportable(graph: Graph) -> None:
    """Validate ``graph``; raise UnsupportedOpError naming the op kinds without an ONNX rule."""
    graph.validate()
    missing = sorted({n.op for n in graph.nodes if n.op not in EMITTERS})
    if missing:
        raise UnsupportedOpError(f"the ONNX exporter has no rule for op kind(s): {', '.join(missing)}")

"""Lower a `Graph` to the step list the int8 quantizer and the C generator both execute.

Lowering makes the decisions every backend that runs kernels must agree on:

* an activation that is a plain clamp (``Op.clamp``: relu, relu6) whose input is produced by a
  kernel with an output clamp (`CLAMPING_PRODUCERS`: dense, add, the convolutions and the pools)
  that feeds nothing else (and is not a graph output) is fused into that kernel as an output
  clamp (the int8 quantizer and the C kernels of these kinds all take an output clamp);
* views (``Op.is_view``: flatten, identity) become aliases: they share their input's memory, no
  code runs;
* a ``softmax`` is kept as a step; :func:`lower_graph` can drop a final softmax
  (``drop_final_softmax``), which the int8 path does because softmax does not change the argmax
  and the kernels produce int8 logits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import ExportError
from ..graph import Graph, Node
from ..ops import get_op

# Kernels that apply an output clamp themselves, so a following clamp activation fuses into them.
# Every C kernel of these kinds takes act_min / act_max (et_dense.h, et_elementwise.h, et_conv.h,
# et_pool.h) and clamps its final result: exactly what the separate activation would compute.
CLAMPING_PRODUCERS = ("dense", "add", "conv2d", "conv1d", "max_pool", "avg_pool", "global_avg_pool")


@dataclass(frozen=True)
class Step:
    """One kernel call (or alias). ``output`` is the tensor it finally produces: the name of the
    fused activation node when one was fused, else ``node.name``."""

    kind: str  # the node's op kind, or "alias" for a view
    node: Node
    inputs: tuple[str, ...]
    output: str
    activation: str | None = None  # fused relu / relu6
    fused: str | None = None  # name of the fused activation node

    @property
    def name(self) -> str:
        """The lowered node's name (the step's own name, even when its output is a fused activation's)."""
        return self.node.name


@dataclass(frozen=True)
class Lowered:
    """The lowered model: steps in execution order, the input and output tensor names and the
    shape of every tensor a step produces (without the batch dimension)."""

    graph: Graph
    steps: tuple[Step, ...]
    input: str
    output: str
    shapes: dict[str, tuple[int, ...]]
    dropped_softmax: str | None

    def size(self, tensor: str) -> int:
        """Elements of one sample of ``tensor``."""
        return math.prod(self.shapes[tensor])

    def alias_root(self, tensor: str) -> str:
        """The tensor whose memory ``tensor`` shares (itself unless produced by an alias)."""
        producers = {s.output: s for s in self.steps}
        while tensor in producers and producers[tensor].kind == "alias":
            tensor = producers[tensor].inputs[0]
        return tensor


def lower_graph(graph: Graph, *, drop_final_softmax: bool = False) -> Lowered:
    """Lower ``graph`` (one input, one output) to kernel steps; see the module docstring."""
    shapes = graph.shapes()
    if len(graph.outputs) != 1:
        raise ExportError(
            f"the C exporter needs exactly one graph output, {graph.name!r} has {len(graph.outputs)}",
            hint="keep one output (e.g. the logits)",
        )
    input_name = graph.input_name
    output = graph.output_name
    dropped: str | None = None
    nodes = list(graph.nodes)
    if drop_final_softmax:
        last = next((n for n in nodes if n.name == output), None)
        if last is not None and last.op == "softmax":
            dropped, output = last.name, last.inputs[0]
            nodes = [n for n in nodes if n is not last]
    consumers: dict[str, int] = {}
    for n in nodes:
        for t in n.inputs:
            consumers[t] = consumers.get(t, 0) + 1

    fused_into: dict[str, Node] = {}  # producer name -> activation node fused into it
    for n in nodes:
        if get_op(n.op).clamp is not None:
            src = n.inputs[0]
            producer = next((p for p in nodes if p.name == src), None)
            if (
                producer is not None
                and producer.op in CLAMPING_PRODUCERS
                and consumers.get(src) == 1
                and src != output
                and producer.name not in fused_into
            ):
                fused_into[producer.name] = n
    fused_names = {a.name for a in fused_into.values()}

    steps: list[Step] = []
    for n in nodes:
        if n.name in fused_names:
            continue
        kind = "alias" if get_op(n.op).is_view else n.op
        act = fused_into.get(n.name)
        steps.append(
            Step(
                kind,
                n,
                tuple(n.inputs),
                act.name if act else n.name,
                act.op if act else None,
                act.name if act else None,
            )
        )
    lowered = Lowered(graph, tuple(steps), input_name, output, shapes, dropped)
    if lowered.alias_root(output) == input_name:
        raise ExportError(f"{graph.name!r}: the output is the input itself; nothing to compute")
    return lowered

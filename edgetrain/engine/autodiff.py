"""Compile-time autodiff: derive the backward schedule from the graph once.

The schedule lists, in reverse topological order, only the nodes whose output depends on a
trainable parameter, which input and parameter gradients each must produce, and which forward
values must be kept for them. Frozen prefixes therefore cost no backward work and keep no
activations. The numpy engine, the ONNX train-step exporter and the C training generator all walk
this same schedule.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..graph import Graph, Node
from ..ops import get_op


@dataclass
class BackwardStep:
    """One node's backward work: which inputs need a gradient (``need_dx``, by input position), which
    parameter roles do (``need_dparams``), and which forward values (IN0 / IN1 / OUT) the training
    forward keeps for it (``saves``)."""

    node: Node
    need_dx: list[bool]
    need_dparams: list[str]  # parameter roles, in the node's role order
    saves: set[str] = field(default_factory=set)


@dataclass
class BackwardSchedule:
    """The backward steps in reverse topological order, the tensors whose gradient is computed and the
    parameters that receive gradients (listed once per use)."""

    steps: list[BackwardStep]
    requires_grad: set[str]  # tensors whose gradient is computed
    trainable: list[str]  # parameter names that receive gradients

    @property
    def saved(self) -> dict[str, set[str]]:
        """Node name -> forward values to keep during a training forward pass."""
        return {s.node.name: s.saves for s in self.steps if s.saves}


def derive_backward(graph: Graph, outputs: list[str] | None = None) -> BackwardSchedule:
    """Derive which gradients flow from `outputs` (default: all graph outputs) to trainable params."""
    graph.shapes()  # validates and records static shapes
    outputs = list(outputs or graph.outputs)

    requires: set[str] = set()
    for node in graph.nodes:
        state = getattr(get_op(node.op), "state_roles", ())
        has_trainable = any(graph.params[p].trainable for r, p in node.params.items() if r not in state)
        if has_trainable or any(t in requires for t in node.inputs):
            requires.add(node.name)

    # Only nodes that lie on a path to a differentiated output need a backward step.
    reaches: set[str] = set(outputs)
    for node in reversed(graph.nodes):
        if node.name in reaches:
            reaches.update(node.inputs)

    steps: list[BackwardStep] = []
    trainable: list[str] = []
    for node in reversed(graph.nodes):
        if node.name not in requires or node.name not in reaches:
            continue
        op = get_op(node.op)
        need_dx = [t in requires for t in node.inputs]
        # State (running statistics, `Op.state_roles`) is updated by the forward, never trained.
        state = getattr(op, "state_roles", ())
        need_dparams = [role for role, p in node.params.items() if graph.params[p].trainable and role not in state]
        steps.append(BackwardStep(node, need_dx, need_dparams, op.saves(need_dx, set(need_dparams))))
        trainable.extend(node.params[r] for r in need_dparams)
    return BackwardSchedule(steps, requires & reaches, trainable)

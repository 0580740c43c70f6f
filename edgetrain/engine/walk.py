"""The one backward walk every backend runs over a `BackwardSchedule`.

The numpy reference executor, the compiled training step, the ONNX train-step builder and the C
training generator all call :func:`walk_backward`. What differs between them is only what a
"gradient" is (a numpy array, an ONNX tensor name, a C buffer) and so:

* a gradient **rule** per step: ``rule(step, dy, saved) -> (input gradients by position,
  parameter gradients by role)``, usually the backend's entry for the node's op kind;
* a small **algebra**: how two gradients of one tensor are summed (fan-out, e.g. a residual
  ``add`` or a parameter used twice), how a gradient w.r.t. a parameter's effective tensor becomes
  a gradient w.r.t. what the optimizer updates (mask, codebook slot sums), and how a forward value
  the rule asked to keep is read.

The walk's contract: steps run in schedule order (reverse topological); a step whose output
received no gradient is skipped; an input gradient is produced only where the schedule asks
(``need_dx``) and accumulated into the tensor's gradient in the order the steps produce them;
parameter gradients are mapped to storage first, then accumulated per parameter name.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import Generic, Protocol, TypeVar

from ..graph import Graph, Param
from .autodiff import BackwardSchedule, BackwardStep

G = TypeVar("G")
# What a backend keeps of the forward pass for its rules (numpy arrays, ONNX or C buffer names).
S = TypeVar("S")
S_co = TypeVar("S_co", covariant=True)


class GradientAlgebra(Protocol, Generic[G, S_co]):
    """What a backend says about its gradient values (see the module docstring)."""

    def accumulate(self, total: G, more: G, tensor: str) -> G:
        """``total + more`` for the gradient of ``tensor`` (a tensor or a parameter name)."""
        ...

    def to_storage(self, param: Param, grad: G, step: BackwardStep, role: str) -> G:
        """The gradient w.r.t. ``param.storage()`` from one w.r.t. ``param.effective()``."""
        ...

    def saved(self, step: BackwardStep) -> Mapping[str, S_co]:
        """The forward values ``step.saves`` kept for ``step``'s node, by key (IN0 / IN1 / OUT)."""
        ...


Rule = Callable[[BackwardStep, G, Mapping[str, S]], tuple[list["G | None"], dict[str, G]]]


def walk_backward(
    graph: Graph,
    schedule: BackwardSchedule,
    output_grads: Mapping[str, G],
    rule: Rule[G, S],
    algebra: GradientAlgebra[G, S],
) -> dict[str, G]:
    """Walk ``schedule`` from the gradients of the graph outputs; returns storage gradients by
    parameter name (only parameters a gradient reached)."""
    grads: dict[Hashable, G] = {}
    grads.update(output_grads)
    param_grads: dict[str, G] = {}
    params = graph.params
    for step in schedule.steps:
        node = step.node
        dy = grads.pop(node.name, None)
        if dy is None:
            continue  # this output does not influence the loss
        dxs, dws = rule(step, dy, algebra.saved(step))
        for t, dx, need in zip(node.inputs, dxs, step.need_dx):
            if need and dx is not None:
                grads[t] = algebra.accumulate(grads[t], dx, t) if t in grads else dx
        for role, g in dws.items():
            p = params[node.params[role]]
            g = algebra.to_storage(p, g, step, role)
            param_grads[p.name] = algebra.accumulate(param_grads[p.name], g, p.name) if p.name in param_grads else g
    return param_grads

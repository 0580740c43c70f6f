"""The training step `Trainer` runs: forward, loss and backward from a plan made once.

`executor.forward` / `executor.backward` are the reference path: general (any outputs, flat memory
for inference, float64 gradient checks), but each step they rebuild dicts per node, build every
parameter's effective tensor twice and allocate every activation and gradient afresh.

`CompiledStep` resolves once what does not change between steps: the op rules, a slot per tensor,
the forward values each backward rule reads, the gradients it must produce. It keeps one array per
node output and per gradient, reused while the batch size stays the same, and hands them to the op
rules as ``out``. Its backward is the same `engine.walk.walk_backward` the reference path runs,
with this class as the gradient algebra. The rules make the same numpy calls with or without
``out``, so a step is bit-identical to the reference path (tests/test_compiled_step.py) and the op
rules stay the only definition of the math. An op that takes no ``out`` (``Op.uses_out``) simply
allocates.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from ..graph import Graph, Node, Param
from ..ops import get_op
from ..ops.base import IN0, IN1, NO_BUFFERS, OUT, Op
from .autodiff import BackwardSchedule, BackwardStep
from .executor import check_input
from .losses import Loss, LossWithOut, takes_out
from .mode import apply_updates, training_forward
from .walk import walk_backward

# A full batch and the smaller last batch of an epoch; a third size evicts the oldest.
MAX_BATCH_SIZES = 2


# Where a value is delivered: a consumer's input list (by position) or a saved-values dict (by key).
_Sink = tuple[Any, Any]


@dataclass
class _Forward:
    run: Callable[..., np.ndarray]  # (node, xs, ws, out) -> output
    node: Node
    xs: list[Any]  # the inputs, delivered by the nodes that produce them
    weights: dict[str, np.ndarray]  # role -> effective tensor, refreshed every step
    sinks: list[_Sink] = field(default_factory=list)  # where the output goes


@dataclass
class _Backward:
    run: Callable[..., tuple[list[np.ndarray | None], dict[str, np.ndarray]]]
    node: Node
    saved: dict[str, Any]  # IN0 / IN1 / OUT -> forward value, delivered during the forward
    weights: dict[str, np.ndarray]  # the forward's dict for the same node
    need_dx: list[bool]
    need_dparams: set[str]


@dataclass
class _Arrays:
    """Everything a step writes for one batch size."""

    outputs: list[np.ndarray | None]  # per forward node (None: its op allocates)
    grads: list[Mapping[str, np.ndarray]]  # per backward node: IN0 / IN1 and roles -> array
    loss_grad: np.ndarray


def _forward_rule(op: Op) -> Callable[..., np.ndarray]:
    if op.uses_out:
        return op.forward
    return lambda node, xs, ws, out: op.forward(node, xs, ws)


def _backward_rule(op: Op) -> Callable[..., Any]:
    if op.uses_out:
        return op.backward
    return lambda node, dy, saved, ws, need_dx, need_dparams, out: op.backward(
        node, dy, saved, ws, need_dx, need_dparams
    )


class CompiledStep:
    """``step(x, y) -> (loss, gradients by parameter name)`` for one graph, schedule and loss.

    The returned gradients live in arrays the next call overwrites: use them first (the optimizer
    does). Parameters are read afresh every call, so techniques that swap a parameter's value, mask
    or codebook between steps are seen; the graph's nodes must not change.
    """

    def __init__(self, graph: Graph, schedule: BackwardSchedule, loss: Loss, dtype: type = np.float32) -> None:
        self.graph, self.schedule, self.loss, self.dtype = graph, schedule, loss, np.dtype(dtype)
        self._shapes = graph.shapes()
        self._slot = {graph.input_name: 0} | {n.name: i + 1 for i, n in enumerate(graph.nodes)}
        self._output = self._slot[graph.output_name]
        self._loss_takes_out = takes_out(loss)
        self._forward = [_Forward(_forward_rule(get_op(n.op)), n, [None] * len(n.inputs), {}) for n in graph.nodes]
        weights = {f.node.name: f.weights for f in self._forward}
        self._backward = [self._plan_backward(step, weights[step.node.name]) for step in schedule.steps]
        self._index = {id(step): i for i, step in enumerate(schedule.steps)}
        self._bufs: list[Mapping[str, np.ndarray]] = []
        # Each value is stored straight into the input lists and saved dicts that read it, so a
        # step builds no per-node containers: sinks[slot] lists those places for tensor `slot`.
        self._result: list[Any] = [None]
        self._sinks: list[list[_Sink]] = [[]] + [f.sinks for f in self._forward]
        self._sinks[self._output].append((self._result, 0))
        for f in self._forward:
            for pos, t in enumerate(f.node.inputs):
                self._sinks[self._slot[t]].append((f.xs, pos))
        for b, step in zip(self._backward, schedule.steps):
            avail = dict(zip((IN0, IN1), b.node.inputs)) | {OUT: b.node.name}
            for key in step.saves:
                self._sinks[self._slot[avail[key]]].append((b.saved, key))
        # Parameter name -> the per-node dicts (and roles) its effective tensor goes into.
        self._uses: dict[str, list[tuple[dict[str, np.ndarray], str]]] = {}
        for f in self._forward:
            for role, p in f.node.params.items():
                self._uses.setdefault(p, []).append((f.weights, role))
        # Parameter gradients do not depend on the batch size: one array per backward node and role.
        self._param_grads = [
            {role: np.empty(graph.params[s.node.params[role]].shape, self.dtype) for role in s.need_dparams}
            if get_op(s.node.op).uses_out
            else {}
            for s in schedule.steps
        ]
        self._arrays: dict[int, _Arrays] = {}
        self._effective: dict[str, np.ndarray] = {}

    def _plan_backward(self, step: BackwardStep, weights: dict[str, np.ndarray]) -> _Backward:
        node = step.node
        return _Backward(
            _backward_rule(get_op(node.op)),
            node,
            {},
            weights,
            step.need_dx,
            set(step.need_dparams),
        )

    def __call__(self, xb: np.ndarray, yb: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        """One training step on batch (``xb``, ``yb``): the training forward (running statistics updated),
        the loss and the backward walk; returns the loss and the gradients w.r.t. each trainable
        parameter's storage, in arrays the next call overwrites."""
        x = check_input(self.graph, np.asarray(xb, dtype=self.dtype))
        arrays = self._arrays.get(x.shape[0]) or self._allocate(x.shape[0])
        self._refresh_weights()

        for place, key in self._sinks[0]:
            place[key] = x
        with training_forward(graph=self.graph) as mode:
            for f, out in zip(self._forward, arrays.outputs):
                y = f.run(f.node, f.xs, f.weights, out)
                for place, key in f.sinks:
                    place[key] = y
        apply_updates(self.graph, mode)
        output = self._result[0]
        if self._loss_takes_out:
            loss, dy = cast(LossWithOut, self.loss)(output, yb, xb, out=arrays.loss_grad)
        else:
            loss, dy = self.loss(output, yb, xb)

        self._bufs = arrays.grads
        return loss, walk_backward(self.graph, self.schedule, {self.graph.output_name: dy}, self._rule, self)

    # -- the backend side of the one backward walk (engine.walk) --------------------------------
    def _rule(self, step: BackwardStep, dy: np.ndarray, saved: Mapping[str, Any]):
        i = self._index[id(step)]
        b = self._backward[i]
        return b.run(b.node, dy, saved, b.weights, b.need_dx, b.need_dparams, self._bufs[i])

    def accumulate(self, total: np.ndarray, more: np.ndarray, tensor: str) -> np.ndarray:
        """``total + more``, a new array."""
        return total + more

    def to_storage(self, param: Param, grad: np.ndarray, step: BackwardStep, role: str) -> np.ndarray:
        """``param.grad_to_storage`` of ``grad``, masked in place only when ``grad`` is this step's own
        buffer for ``role`` (a rule may return a view of another array)."""
        # Masking may reuse the gradient's array only if it is ours: a rule may return a view.
        own = grad is self._bufs[self._index[id(step)]].get(role)
        return param.grad_to_storage(grad, out=grad if own else None)

    def saved(self, step: BackwardStep) -> Mapping[str, Any]:
        """The forward values the training forward stored for ``step``'s node, by key (IN0 / IN1 / OUT)."""
        return self._backward[self._index[id(step)]].saved

    def _refresh_weights(self) -> None:
        params, dtype = self.graph.params, self.dtype
        for name, uses in self._uses.items():
            p = params[name]
            if p.mask is None and p.codebook is None and p.value.dtype == dtype:
                w = p.value
            else:
                w = self._effective_of(p)
            for weights, role in uses:
                weights[role] = w

    def _effective_of(self, p: Param) -> np.ndarray:
        """`p.effective()` in the step's dtype, into a reused array when the storage has that dtype."""
        if p.storage().dtype != self.dtype or (p.mask is None and p.codebook is None):
            return p.effective().astype(self.dtype, copy=False)
        buf = self._effective.get(p.name)
        if buf is None or buf.shape != p.shape:
            buf = self._effective[p.name] = np.empty(p.shape, self.dtype)
        return p.effective(out=buf)

    def _allocate(self, batch: int) -> _Arrays:
        if len(self._arrays) >= MAX_BATCH_SIZES:
            del self._arrays[next(iter(self._arrays))]

        def act(tensor: str) -> np.ndarray:
            return np.empty((batch, *self._shapes[tensor]), self.dtype)

        outputs = [act(n.name) if get_op(n.op).uses_out else None for n in self.graph.nodes]
        grads: list[Mapping[str, np.ndarray]] = []
        for step, param_grads in zip(self.schedule.steps, self._param_grads):
            if not get_op(step.node.op).uses_out:
                grads.append(NO_BUFFERS)
                continue
            slots = zip((IN0, IN1), step.node.inputs, step.need_dx)
            grads.append({slot: act(t) for slot, t, need in slots if need} | param_grads)
        arrays = self._arrays[batch] = _Arrays(outputs, grads, act(self.graph.output_name))
        return arrays

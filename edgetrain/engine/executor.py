"""numpy execution of a Graph: forward (inference or training) and the scheduled backward."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import DataError
from ..graph import Graph, Param
from ..ops import get_op
from ..ops.base import IN0, IN1, OUT
from .autodiff import BackwardSchedule, BackwardStep
from .mode import apply_updates, training_forward
from .walk import walk_backward


@dataclass
class Tape:
    """Forward values kept for the backward pass (only those the schedule asked for)."""

    saved: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    batch: int = 0


def check_input(graph: Graph, x: np.ndarray) -> np.ndarray:
    """``x`` as a batch of samples of the model's input shape, or a `DataError`.

    A model whose input is shaped ((H, W, C) or (L, C)) also takes flat rows of the same size:
    each row is read in row-major order, channels fastest (``x.reshape(len(x), *shape)``), the
    order `data_checks.check_samples` flattens shaped samples in. The result is a view, no copy.
    """
    shape = graph.input_shape
    if x.ndim == 2 and len(shape) > 1 and x.shape[1] == math.prod(shape):
        return x.reshape(len(x), *shape)
    if x.ndim != len(shape) + 1 or tuple(x.shape[1:]) != shape:
        got = x.shape[1:] if x.ndim > 1 else x.shape
        flat = f" (or flat rows of {math.prod(shape)} values)" if len(shape) > 1 else ""
        raise DataError(
            f"data has samples of shape {tuple(got)} but the model expects {shape}{flat}",
            hint="check the feature columns of your data against `edgetrain info MODEL`",
        )
    return x


def forward(
    graph: Graph,
    x: np.ndarray,
    schedule: BackwardSchedule | None = None,
    outputs: list[str] | None = None,
    dtype: type = np.float32,
    training: bool | None = None,
) -> tuple[dict[str, np.ndarray], Tape]:
    """Run the graph. With a schedule, keep what its backward needs on the returned tape.

    ``training`` (default: whether a schedule is given) selects the forward mode
    (`engine.mode`): a training forward normalises batch_norm with batch statistics and then
    writes the updated running statistics into the graph's parameters.
    """
    with training_forward(schedule is not None if training is None else training, graph) as mode:
        result = _forward(graph, x, schedule, outputs, dtype)
    apply_updates(graph, mode)
    return result


def _forward(
    graph: Graph,
    x: np.ndarray,
    schedule: BackwardSchedule | None,
    outputs: list[str] | None,
    dtype: type,
) -> tuple[dict[str, np.ndarray], Tape]:
    x = check_input(graph, np.asarray(x, dtype=dtype))
    want = set(outputs or graph.outputs)
    keep = schedule.saved if schedule is not None else {}
    values: dict[str, np.ndarray] = {graph.input_name: x}
    remaining = _last_use(graph, want)
    tape = Tape(batch=x.shape[0])
    for i, node in enumerate(graph.nodes):
        ws: dict[str, np.ndarray] = {
            role: graph.params[p].effective().astype(dtype, copy=False) for role, p in node.params.items()
        }
        xs = [values[t] for t in node.inputs]
        y = get_op(node.op).forward(node, xs, ws)
        values[node.name] = y
        if node.name in keep:
            # None stands for an input the node does not have; the schedule never asks for one.
            avail: dict[str, Any] = {IN0: xs[0] if xs else None, IN1: xs[1] if len(xs) > 1 else None, OUT: y}
            tape.saved[node.name] = {k: avail[k] for k in keep[node.name]}
        for t in remaining.get(i, ()):
            if t not in want:
                values.pop(t, None)
    return {o: values[o] for o in want}, tape


def _last_use(graph: Graph, want: set[str]) -> dict[int, list[str]]:
    """Node index -> tensors that can be dropped after it runs (keeps inference memory flat)."""
    last: dict[str, int] = {}
    for i, node in enumerate(graph.nodes):
        for t in node.inputs:
            last[t] = i
    out: dict[int, list[str]] = {}
    for t, i in last.items():
        out.setdefault(i, []).append(t)
    return out


def backward(
    graph: Graph,
    schedule: BackwardSchedule,
    tape: Tape,
    grad_outputs: dict[str, np.ndarray],
    dtype: type = np.float32,
) -> dict[str, np.ndarray]:
    """Gradients of the loss w.r.t. each trainable parameter's storage (codebook if clustered)."""

    def rule(step: BackwardStep, dy: np.ndarray, saved: Mapping[str, Any]) -> Any:
        node = step.node
        ws: dict[str, np.ndarray] = {
            role: graph.params[p].effective().astype(dtype, copy=False) for role, p in node.params.items()
        }
        return get_op(node.op).backward(node, dy, dict(saved), ws, step.need_dx, set(step.need_dparams))

    return walk_backward(graph, schedule, grad_outputs, rule, NumpyAlgebra(tape))


class NumpyAlgebra:
    """Gradients are numpy arrays; saved values come from a `Tape`."""

    def __init__(self, tape: Tape) -> None:
        self.tape = tape

    def accumulate(self, total: np.ndarray, more: np.ndarray, tensor: str) -> np.ndarray:
        """``total + more``, a new array."""
        return total + more

    def to_storage(self, param: Param, grad: np.ndarray, step: BackwardStep, role: str) -> np.ndarray:
        """``param.grad_to_storage(grad)``: masked, and summed per codebook entry when clustered."""
        return param.grad_to_storage(grad)

    def saved(self, step: BackwardStep) -> Mapping[str, np.ndarray]:
        """The values the tape kept for ``step``'s node (empty when it keeps none)."""
        return self.tape.saved.get(step.node.name, {})


def predict(graph: Graph, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """Output of the graph's first output for every sample, in batches."""
    x = np.asarray(x, dtype=np.float32)
    check_input(graph, x)
    outs = [forward(graph, x[i : i + batch_size])[0][graph.output_name] for i in range(0, len(x), batch_size)]
    return np.concatenate(outs) if outs else np.zeros((0,), np.float32)

"""Folds of the patterns PyTorch's ONNX exporter writes around dense layers, done at import time.

Two families, each reduced to something `importer` already maps:

- **Shape subgraphs.** ``x.view(x.size(0), -1)``, ``torch.flatten`` and ``nn.Flatten`` export as
  ``Shape -> Gather / Slice -> Unsqueeze / Squeeze -> Concat -> Reshape`` (with ``Constant``,
  ``Identity`` and ``Cast`` in between). `evaluate` computes such a node's value at import time,
  from the shapes the converter has inferred, so the ops never become graph nodes: the batch size
  is the symbol `BATCH`, every other size is a known integer. `reshape_target` turns the value
  reaching a Reshape into a static target, or refuses it when it is truly dynamic (the batch size
  lands on a feature axis, or a value depends on the data).
- **BatchNormalization after a dense layer** (``Linear -> BatchNorm1d`` in eval mode):
  `fold_batch_norm` rewrites the dense weight and bias so that one dense layer computes both.

Contract: every refusal is an `edgetrain.errors` error with a one-line message naming the node and
a hint; a value handled here is always 0-D or 1-D with at most `MAX_RANK` entries (a shape), so
nothing is allocated in proportion to what a hostile model claims.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from onnx import TensorProto

from ...errors import InvalidModelError, UnsupportedOpError
from .import_checks import MAX_RANK, REEXPORT_HINT, SHAPE_OPS, show


class _Batch:
    """The batch size: unknown until run time, the one size a shape value may leave open."""

    _instance: _Batch | None = None

    def __new__(cls) -> _Batch:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "N"


BATCH = _Batch()
#: Element types a shape value may be cast to (ONNX shapes are int64; some exporters use int32).
SHAPE_TYPES = (TensorProto.INT64, TensorProto.INT32)

DYNAMIC_HINT = ("export the model with static feature sizes (only the batch axis dynamic) and flatten with "
                "nn.Flatten() or x.view(x.size(0), -1), so that every shape is known when the model is imported")
SHAPE_ONLY_HINT = ("edgetrain evaluates Shape, Gather, Slice, Concat, Unsqueeze, Squeeze and Cast only on shapes, "
                   f"at import time; {DYNAMIC_HINT}")

#: A shape value: a 0-D or 1-D numpy object array of Python ints and `BATCH`.
Value = np.ndarray


def shape_value(items: Sequence[Any] | Any, scalar: bool = False) -> Value:
    """A shape value holding ``items`` (one item when ``scalar``)."""
    out = np.empty((), dtype=object) if scalar else np.empty(len(items), dtype=object)
    if scalar:
        out[()] = items
    else:
        for i, v in enumerate(items):
            out[i] = v
    return out


def as_shape_value(array: np.ndarray, what: str, label: str, op: str) -> Value:
    """An integer constant as a shape value; anything that is not shape-like is refused."""
    if array.dtype.kind not in "iu":
        raise UnsupportedOpError(f"{op} node {label}: {what} is a {array.dtype} constant; {op} is imported only on "
                                 "integer shapes", hint=SHAPE_ONLY_HINT)
    _need_shape_like(array.shape, what, label, op)
    if array.ndim == 0:
        return shape_value(int(array), scalar=True)
    return shape_value([int(v) for v in array])


def _need_shape_like(dims: tuple[int, ...], what: str, label: str, op: str) -> None:
    if len(dims) > 1 or math.prod(dims) > MAX_RANK:
        raise UnsupportedOpError(f"{op} node {label}: {what} has shape {dims}; {op} is imported only on shapes "
                                 f"(0-D or 1-D, at most {MAX_RANK} entries)", hint=SHAPE_ONLY_HINT)


def _ints(v: Value, what: str, label: str, op: str) -> list[int]:
    """The entries of ``v``, which must all be known (the batch size cannot index or bound anything)."""
    items = [v[()]] if v.ndim == 0 else list(v)
    if any(x is BATCH for x in items):
        raise UnsupportedOpError(f"{op} node {label}: {what} depends on the batch size", hint=DYNAMIC_HINT)
    return [int(x) for x in items]


# ---------------------------------------------------------------- evaluating shape ops

class Operands:
    """How `evaluate` reads a node's inputs: the converter supplies these three lookups.

    ``value(name)`` is the shape value or integer constant of a tensor known at import time, else
    None; ``dims(name)`` is the full shape of any tensor whose shape is known (a data tensor:
    ``(BATCH, *features)``; a constant: its array shape), else None; ``is_data(name)`` tells
    whether a tensor is computed from the graph's input."""

    def __init__(self, value: Callable[[str], Value | None], dims: Callable[[str], tuple[Any, ...] | None],
                 is_data: Callable[[str], bool]) -> None:
        self.value, self.dims, self.is_data = value, dims, is_data


def evaluate(op: str, inputs: Sequence[str], attrs: dict[str, Any], opset: int, label: str,
             operands: Operands) -> Value:
    """The value of one shape op (``op`` in `SHAPE_OPS`), whose signature `import_checks` has checked."""
    def operand(i: int, what: str) -> Value:
        t = inputs[i]
        v = operands.value(t)
        if v is not None:
            return v
        if operands.is_data(t):
            raise UnsupportedOpError(f"{op} node {label}: {what} {show(t)} is computed from the input data, so "
                                     "its value is dynamic", hint=SHAPE_ONLY_HINT)
        raise UnsupportedOpError(f"{op} node {label}: {what} {show(t)} is not a shape or integer constant known at "
                                 "import time", hint=SHAPE_ONLY_HINT)

    def optional(i: int) -> bool:
        return i < len(inputs) and bool(inputs[i])

    if op == "Shape":
        dims = operands.dims(inputs[0])
        if dims is None:
            raise UnsupportedOpError(f"Shape node {label}: the shape of {show(inputs[0])} is not known at import "
                                     "time", hint=DYNAMIC_HINT)
        rank = len(dims)
        start, end = _clamp(attrs.get("start", 0), rank), _clamp(attrs.get("end", rank), rank)
        return shape_value(list(dims[start:end]))
    if op in ("Cast", "Identity"):
        if op == "Cast" and attrs.get("to") not in SHAPE_TYPES:
            raise UnsupportedOpError(f"Cast node {label} casts to element type {attrs.get('to')}; only casts of "
                                     "shapes to int64 or int32 are imported", hint=SHAPE_ONLY_HINT)
        return operand(0, "input")
    if op == "Gather":
        data = operand(0, "data")
        if data.ndim != 1:
            raise UnsupportedOpError(f"Gather node {label} gathers from a scalar", hint=SHAPE_ONLY_HINT)
        _axis0(attrs.get("axis", 0), label, op)
        idx = operand(1, "indices")
        picks = _ints(idx, "its indices", label, op)
        n = len(data)
        if any(not -n <= i < n for i in picks):
            raise InvalidModelError(f"Gather node {label}: index {picks} is out of range for a shape of {n} "
                                    "entries", hint=REEXPORT_HINT)
        taken = [data[i] for i in picks]
        return shape_value(taken[0], scalar=True) if idx.ndim == 0 else shape_value(taken)
    if op == "Slice":
        data = operand(0, "data")
        if data.ndim != 1:
            raise UnsupportedOpError(f"Slice node {label} slices a scalar", hint=SHAPE_ONLY_HINT)
        if opset < 10:
            starts, ends = list(attrs.get("starts", [])), list(attrs.get("ends", []))
            axes = list(attrs["axes"]) if "axes" in attrs else None
            steps = [1] * len(starts)
        else:
            starts, ends = _ints(operand(1, "starts"), "starts", label, op), _ints(operand(2, "ends"), "ends",
                                                                                    label, op)
            axes = _ints(operand(3, "axes"), "axes", label, op) if optional(3) else None
            steps = _ints(operand(4, "steps"), "steps", label, op) if optional(4) else [1] * len(starts)
        if not len(starts) == len(ends) == len(steps) == (len(axes) if axes is not None else len(starts)) == 1:
            raise UnsupportedOpError(f"Slice node {label} has {len(starts)} starts and {len(ends)} ends; a slice of a "
                                     "shape has one of each", hint=SHAPE_ONLY_HINT)
        if axes is not None:
            _axis0(axes[0], label, op)
        return shape_value(_slice(list(data), starts[0], ends[0], steps[0], label))
    if op == "Concat":
        parts = [operand(i, f"input {i}") for i in range(len(inputs))]
        _axis0(attrs.get("axis", 0), label, op)
        if any(p.ndim != 1 for p in parts):
            raise InvalidModelError(f"Concat node {label} concatenates a scalar; ONNX Concat needs 1-D shapes "
                                    "here", hint=REEXPORT_HINT)
        joined = [x for p in parts for x in p]
        _need_shape_like((len(joined),), "its result", label, op)
        return shape_value(joined)
    if op in ("Unsqueeze", "Squeeze"):
        data = operand(0, "data")
        if opset < 13:  # axes became an input in opset 13
            axes = list(attrs["axes"]) if "axes" in attrs else None
        else:
            axes = _ints(operand(1, "axes"), "axes", label, op) if optional(1) else None
        if op == "Unsqueeze":
            if data.ndim != 0 or axes is None or len(axes) != 1:
                raise UnsupportedOpError(f"Unsqueeze node {label} unsqueezes a value of rank {data.ndim}; only a "
                                         "scalar made into a 1-entry shape is imported", hint=SHAPE_ONLY_HINT)
            _axis0(axes[0], label, op)
            return shape_value([data[()]])
        if data.ndim != 1 or len(data) != 1 or axes is not None and len(axes) != 1:
            raise UnsupportedOpError(f"Squeeze node {label} squeezes a shape of {data.size} entries; only a 1-entry "
                                     "shape made into a scalar is imported", hint=SHAPE_ONLY_HINT)
        if axes is not None:
            _axis0(axes[0], label, op)
        return shape_value(data[0], scalar=True)
    raise AssertionError(f"not a shape op: {op}")  # pragma: no cover - SHAPE_OPS is the caller's dispatch


def _clamp(i: int, rank: int) -> int:
    """ONNX Shape start/end: negative counts from the end, then clamped to [0, rank]."""
    return min(max(i + rank if i < 0 else i, 0), rank)


def _axis0(axis: int, label: str, op: str) -> None:
    """A shape value is 1-D: its only axis is 0 (or -1)."""
    if axis not in (0, -1):
        raise InvalidModelError(f"{op} node {label} uses axis {axis} on a 1-D shape", hint=REEXPORT_HINT)


def _slice(items: list[Any], start: int, end: int, step: int, label: str) -> list[Any]:
    """ONNX Slice of one axis (negative indices count from the end, then clamp; see the ONNX spec)."""
    n = len(items)
    if step == 0:
        raise InvalidModelError(f"Slice node {label} has step 0", hint=REEXPORT_HINT)
    start, end = start + n if start < 0 else start, end + n if end < 0 else end
    if step > 0:
        start, end = min(max(start, 0), n), min(max(end, 0), n)
    else:
        start, end = min(max(start, 0), n - 1), min(max(end, -1), n - 1)
    return [items[i] for i in range(start, end, step)]


# ---------------------------------------------------------------- Reshape targets

def reshape_target(value: Value, label: str, batch: int | None) -> tuple[bool, list[int]]:
    """``(keeps_batch, feature target)`` of a Reshape whose shape is ``value``.

    ``keeps_batch`` is true when the first entry is the batch size (`BATCH`, or the input's
    declared static batch ``batch``); the rest must then be known integers. A batch size anywhere
    else makes the target depend on it: refused."""
    if value.ndim != 1:
        raise InvalidModelError(f"Reshape node {label}: its shape is a scalar; ONNX Reshape needs a 1-D shape",
                                hint=REEXPORT_HINT)
    items = list(value)
    later = [i for i, x in enumerate(items) if x is BATCH and i > 0]
    if later:
        raise UnsupportedOpError(f"Reshape node {label}: its target shape {show(items)} puts the batch size at "
                                 f"axis {later[0]}, so the feature sizes change with the batch (a dynamic shape)",
                                 hint=DYNAMIC_HINT)
    keeps = bool(items) and (items[0] is BATCH or batch is not None and items[0] == batch)
    return keeps, [int(x) for x in (items[1:] if keeps else items)]


# ---------------------------------------------------------------- BatchNormalization

def fold_batch_norm(weight: np.ndarray, bias: np.ndarray | None, scale: np.ndarray, beta: np.ndarray,
                    mean: np.ndarray, var: np.ndarray, eps: float, label: str) -> tuple[np.ndarray, np.ndarray]:
    """Weight ``(n_in, n_out)`` and bias ``(n_out,)`` of a dense layer followed by inference-mode
    batch normalization: ``scale * (x W + b - mean) / sqrt(var + eps) + beta``.

    Computed in float64 and returned as float64 (the caller stores float32 and refuses what does
    not fit). Statistics must be 1-D of the layer's width, with ``var + eps > 0``."""
    n_out = weight.shape[1]
    stats = {"scale": scale, "B": beta, "mean": mean, "var": var}
    for role, s in stats.items():
        if s.shape != (n_out,):
            raise InvalidModelError(f"BatchNormalization node {label}: {role} has shape {tuple(s.shape)}, which does "
                                    f"not fit the {n_out} outputs of the dense layer before it", hint=REEXPORT_HINT)
    v = var.astype(np.float64) + np.float64(eps)
    if not (v > 0).all():
        raise InvalidModelError(f"BatchNormalization node {label}: var + epsilon is not positive at channel "
                                f"{int(np.flatnonzero(~(v > 0))[0])}", hint="the running variance must be "
                                "non-negative; re-export the trained model")
    s = scale.astype(np.float64) / np.sqrt(v)
    b = np.zeros(n_out) if bias is None else bias.astype(np.float64)
    return weight.astype(np.float64) * s, (b - mean.astype(np.float64)) * s + beta.astype(np.float64)

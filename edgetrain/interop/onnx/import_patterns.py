"""Folds of the patterns PyTorch's ONNX exporter writes around dense layers, done at import time.

Two families, each reduced to something `importer` already maps:

- **Shape subgraphs.** ``x.view(x.size(0), -1)``, ``torch.flatten`` and ``nn.Flatten`` export as
  ``Shape -> Gather / Slice -> Unsqueeze / Squeeze -> Concat -> Reshape`` (with ``Constant``,
  ``Identity`` and ``Cast`` in between). `evaluate` computes such a node's value at import time,
  from the shapes the converter has inferred, so the ops never become graph nodes: the batch size
  is the symbol `BATCH`, every other size is a known integer. `reshape_target` turns the value
  reaching a Reshape into a static target, or refuses it when it is truly dynamic (the batch size
  lands on a feature axis, or a value depends on the data).
- **BatchNormalization after a dense or conv layer** (``Linear -> BatchNorm1d``, ``Conv2d ->
  BatchNorm2d`` in eval mode): `fold_batch_norm` rewrites the layer's weight and bias so that one
  layer computes both.
- **Small integer constant subgraphs**, such as the pads computation torch writes before ``Pad``
  (``ConstantOfShape -> Concat -> Reshape -> Slice -> Transpose -> Reshape -> Cast``):
  `fold_constant` evaluates them at import time, on at most `MAX_FOLDED` values.

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

from ... import limits
from ...errors import InvalidModelError, UnsupportedOpError
from .import_checks import MAX_RANK, REEXPORT_HINT, SHAPE_OPS, computes_weight, show


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

DYNAMIC_HINT = (
    "export the model with static feature sizes (only the batch axis dynamic) and flatten with "
    "nn.Flatten() or x.view(x.size(0), -1), so that every shape is known when the model is imported"
)
SHAPE_ONLY_HINT = (
    "edgetrain evaluates Shape, Gather, Slice, Concat, Unsqueeze, Squeeze and Cast only on shapes, "
    f"at import time; {DYNAMIC_HINT}"
)

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
        raise UnsupportedOpError(
            f"{op} node {label}: {what} is a {array.dtype} constant; {op} is imported only on integer shapes",
            hint=SHAPE_ONLY_HINT,
        )
    _need_shape_like(array.shape, what, label, op)
    if array.ndim == 0:
        return shape_value(int(array), scalar=True)
    return shape_value([int(v) for v in array])


def _need_shape_like(dims: tuple[int, ...], what: str, label: str, op: str) -> None:
    if len(dims) > 1 or math.prod(dims) > MAX_RANK:
        raise UnsupportedOpError(
            f"{op} node {label}: {what} has shape {dims}; {op} is imported only on shapes "
            f"(0-D or 1-D, at most {MAX_RANK} entries)",
            hint=SHAPE_ONLY_HINT,
        )


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

    def __init__(
        self,
        value: Callable[[str], Value | None],
        dims: Callable[[str], tuple[Any, ...] | None],
        is_data: Callable[[str], bool],
    ) -> None:
        self.value, self.dims, self.is_data = value, dims, is_data


def evaluate(
    op: str, inputs: Sequence[str], attrs: dict[str, Any], opset: int, label: str, operands: Operands
) -> Value:
    """The value of one shape op (``op`` in `SHAPE_OPS`), whose signature `import_checks` has checked."""

    def operand(i: int, what: str) -> Value:
        t = inputs[i]
        v = operands.value(t)
        if v is not None:
            return v
        if operands.is_data(t):
            raise UnsupportedOpError(
                f"{op} node {label}: {what} {show(t)} is computed from the input data, so its value is dynamic",
                hint=SHAPE_ONLY_HINT,
            )
        raise UnsupportedOpError(
            f"{op} node {label}: {what} {show(t)} is not a shape or integer constant known at import time",
            hint=SHAPE_ONLY_HINT,
        )

    def optional(i: int) -> bool:
        return i < len(inputs) and bool(inputs[i])

    if op == "Shape":
        dims = operands.dims(inputs[0])
        if dims is None:
            raise UnsupportedOpError(
                f"Shape node {label}: the shape of {show(inputs[0])} is not known at import time", hint=DYNAMIC_HINT
            )
        rank = len(dims)
        start, end = _clamp(attrs.get("start", 0), rank), _clamp(attrs.get("end", rank), rank)
        return shape_value(list(dims[start:end]))
    if op in ("Cast", "Identity"):
        if op == "Cast" and attrs.get("to") not in SHAPE_TYPES:
            raise UnsupportedOpError(
                f"Cast node {label} casts to element type {attrs.get('to')}; only casts of "
                "shapes to int64 or int32 are imported",
                hint=SHAPE_ONLY_HINT,
            )
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
            raise InvalidModelError(
                f"Gather node {label}: index {picks} is out of range for a shape of {n} entries", hint=REEXPORT_HINT
            )
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
            starts, ends = (
                _ints(operand(1, "starts"), "starts", label, op),
                _ints(operand(2, "ends"), "ends", label, op),
            )
            axes = _ints(operand(3, "axes"), "axes", label, op) if optional(3) else None
            steps = _ints(operand(4, "steps"), "steps", label, op) if optional(4) else [1] * len(starts)
        if not len(starts) == len(ends) == len(steps) == (len(axes) if axes is not None else len(starts)) == 1:
            raise UnsupportedOpError(
                f"Slice node {label} has {len(starts)} starts and {len(ends)} ends; a slice of a shape has one of each",
                hint=SHAPE_ONLY_HINT,
            )
        if axes is not None:
            _axis0(axes[0], label, op)
        return shape_value(_slice(list(data), starts[0], ends[0], steps[0], label))
    if op == "Concat":
        parts = [operand(i, f"input {i}") for i in range(len(inputs))]
        _axis0(attrs.get("axis", 0), label, op)
        if any(p.ndim != 1 for p in parts):
            raise InvalidModelError(
                f"Concat node {label} concatenates a scalar; ONNX Concat needs 1-D shapes here", hint=REEXPORT_HINT
            )
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
                raise UnsupportedOpError(
                    f"Unsqueeze node {label} unsqueezes a value of rank {data.ndim}; only a "
                    "scalar made into a 1-entry shape is imported",
                    hint=SHAPE_ONLY_HINT,
                )
            _axis0(axes[0], label, op)
            return shape_value([data[()]])
        if data.ndim != 1 or len(data) != 1 or (axes is not None and len(axes) != 1):
            raise UnsupportedOpError(
                f"Squeeze node {label} squeezes a shape of {data.size} entries; only a 1-entry "
                "shape made into a scalar is imported",
                hint=SHAPE_ONLY_HINT,
            )
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
        raise InvalidModelError(
            f"Reshape node {label}: its shape is a scalar; ONNX Reshape needs a 1-D shape", hint=REEXPORT_HINT
        )
    items = list(value)
    later = [i for i, x in enumerate(items) if x is BATCH and i > 0]
    if later:
        raise UnsupportedOpError(
            f"Reshape node {label}: its target shape {show(items)} puts the batch size at "
            f"axis {later[0]}, so the feature sizes change with the batch (a dynamic shape)",
            hint=DYNAMIC_HINT,
        )
    keeps = bool(items) and (items[0] is BATCH or (batch is not None and items[0] == batch))
    return keeps, [int(x) for x in (items[1:] if keeps else items)]


# ---------------------------------------------------------------- BatchNormalization


def fold_batch_norm(
    weight: np.ndarray,
    bias: np.ndarray | None,
    scale: np.ndarray,
    beta: np.ndarray,
    mean: np.ndarray,
    var: np.ndarray,
    eps: float,
    label: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Weight and bias ``(n_out,)`` of a dense or conv layer followed by inference-mode batch
    normalization: ``scale * (x W + b - mean) / sqrt(var + eps) + beta``.

    The weight's last axis is the output channel: ``(n_in, n_out)`` for dense, ``(kh, kw,
    C_in/groups, C_out)`` / ``(k, C_in/groups, C_out)`` for edgetrain's conv2d / conv1d (so one
    scale per output channel multiplies the last axis, whatever the groups). Computed in float64
    and returned as float64 (the caller stores float32 and refuses what does not fit). Statistics
    must be 1-D of the layer's width, with ``var + eps > 0``."""
    n_out = weight.shape[-1]
    stats = {"scale": scale, "B": beta, "mean": mean, "var": var}
    for role, s in stats.items():
        if s.shape != (n_out,):
            raise InvalidModelError(
                f"BatchNormalization node {label}: {role} has shape {tuple(s.shape)}, which does "
                f"not fit the {n_out} outputs of the layer before it",
                hint=REEXPORT_HINT,
            )
    v = var.astype(np.float64) + np.float64(eps)
    if not (v > 0).all():
        raise InvalidModelError(
            f"BatchNormalization node {label}: var + epsilon is not positive at channel "
            f"{int(np.flatnonzero(~(v > 0))[0])}",
            hint="the running variance must be non-negative; re-export the trained model",
        )
    s = scale.astype(np.float64) / np.sqrt(v)
    b = np.zeros(n_out) if bias is None else bias.astype(np.float64)
    return weight.astype(np.float64) * s, (b - mean.astype(np.float64)) * s + beta.astype(np.float64)


# ---------------------------------------------------------------- small integer constants

#: The most elements a folded constant may have: the pads of a rank-`MAX_RANK` tensor (begin and
#: end per axis). torch writes ``F.pad`` / ``nn.ZeroPad2d`` with such a pads computation.
MAX_FOLDED = 2 * MAX_RANK
#: Ops `fold_constant` evaluates when every input is a known integer constant.
FOLDED_OPS = (*SHAPE_OPS, "ConstantOfShape", "Identity", "Reshape", "Transpose")
FOLD_HINT = (
    "edgetrain evaluates constant subgraphs only on small integer tensors (shapes and pads, at most "
    f"{MAX_FOLDED} values); {DYNAMIC_HINT}"
)


#: The element types ``Cast`` may produce in a weight subgraph (indices widened for ``Gather``).
_CAST_TO = {TensorProto.INT64: np.int64, TensorProto.INT32: np.int32}


def is_weight_subgraph(values: Sequence[np.ndarray]) -> bool:
    """Whether a weight-op node (`import_checks.WEIGHT_OPS`) on the constants ``values`` computes a
    weight (`fold_weight`) rather than shape arithmetic (`evaluate` / `fold_constant`):
    `import_checks.computes_weight`."""
    return computes_weight((v.dtype.kind == "f" or v.dtype == np.uint8, v.size) for v in values)


def fold_weight(op: str, values: Sequence[np.ndarray], attrs: dict[str, Any], label: str) -> np.ndarray:
    """The value of the weight subgraph node ``op`` (one of `import_checks.WEIGHT_OPS`) on the constants ``values``.

    The result holds at most MAX_PARAMETERS values (checked before it is allocated); out-of-range
    indices, casts to other types and shapes that do not broadcast are refused."""
    cap = limits.limit("MAX_PARAMETERS")

    def bounded(n: int) -> None:
        if n > cap:
            raise InvalidModelError(
                f"{op} node {label} makes {n} values, more than MAX_PARAMETERS={cap}",
                hint=limits.over_limit_hint("MAX_PARAMETERS"),
            )

    if op == "Cast":
        to = _CAST_TO.get(attrs.get("to"))  # type: ignore[arg-type]  # None when absent: refused below
        if to is None:
            raise UnsupportedOpError(
                f"Cast node {label} casts a constant to element type {attrs.get('to')}; edgetrain folds "
                "casts of a weight's indices to int64 and int32",
                hint=REEXPORT_HINT,
            )
        return values[0].astype(to)
    if op == "Gather":
        data, idx = values
        if data.ndim == 0 or idx.dtype.kind not in "iu":
            raise InvalidModelError(
                f"Gather node {label} needs an array to gather from and integer indices "
                f"(got {data.dtype} of rank {data.ndim} and {idx.dtype} indices)",
                hint=REEXPORT_HINT,
            )
        axis = int(attrs.get("axis", 0))
        if not -data.ndim <= axis < data.ndim:
            raise InvalidModelError(f"Gather node {label}: axis {axis} of a rank-{data.ndim} array", hint=REEXPORT_HINT)
        n = data.shape[axis]
        if idx.size and (int(idx.min()) < -n or int(idx.max()) >= n):
            raise InvalidModelError(
                f"Gather node {label}: an index is out of range for an axis of {n}", hint=REEXPORT_HINT
            )
        bounded(data.size // max(n, 1) * idx.size)
        return np.take(data, idx.astype(np.int64), axis=axis)
    # Mul
    a, b = values
    try:
        shape = np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise InvalidModelError(
            f"Mul node {label}: constants of shapes {a.shape} and {b.shape} do not broadcast", hint=REEXPORT_HINT
        ) from None
    bounded(math.prod(shape))
    return np.multiply(a, b)


def fold_constant(
    op: str, values: Sequence[np.ndarray | None], attrs: dict[str, Any], opset: int, label: str
) -> np.ndarray:
    """The value of ``op`` on integer constants ``values`` (None for an omitted optional input), as int64.

    Used for the pads subgraph torch writes before ``Pad`` (``ConstantOfShape -> Concat -> Reshape
    -> Slice -> Transpose -> Reshape -> Cast``) and for shape ops whose inputs are all constants.
    Every input and the result hold at most `MAX_FOLDED` values (a result's size is checked before
    it is allocated); anything else is refused with `FOLD_HINT`."""
    arrays: list[np.ndarray | None] = []
    for i, v in enumerate(values):
        if v is None:
            arrays.append(None)
            continue
        if v.dtype.kind not in "iu":
            raise UnsupportedOpError(
                f"{op} node {label}: input {i} is a {v.dtype} constant; edgetrain folds {op} only on integer constants",
                hint=FOLD_HINT,
            )
        if v.size > MAX_FOLDED or v.ndim > MAX_RANK:
            raise UnsupportedOpError(
                f"{op} node {label}: input {i} has shape {tuple(v.shape)}; edgetrain folds "
                f"constants of at most {MAX_FOLDED} values",
                hint=FOLD_HINT,
            )
        arrays.append(np.asarray(v, dtype=np.int64))

    def need(i: int, what: str) -> np.ndarray:
        if i >= len(arrays) or arrays[i] is None:
            raise InvalidModelError(f"{op} node {label} has no {what} input", hint=REEXPORT_HINT)
        return arrays[i]  # type: ignore[return-value]

    def listed(i: int, what: str) -> list[int] | None:
        a = arrays[i] if i < len(arrays) else None
        if a is not None:
            if a.ndim > 1:
                raise InvalidModelError(
                    f"{op} node {label}: {what} has shape {a.shape}; it must be 1-D", hint=REEXPORT_HINT
                )
            return [int(x) for x in a.ravel()]
        return None

    def axes_of(items: list[int], rank: int, what: str) -> list[int]:
        if any(not -rank <= x < rank for x in items) or len({x % max(rank, 1) for x in items}) != len(items):
            raise InvalidModelError(
                f"{op} node {label}: {what} {items} do not name distinct axes of a rank-{rank} tensor",
                hint=REEXPORT_HINT,
            )
        return [x % rank for x in items]

    data = need(0, "data")
    if op in ("Identity", "Cast"):
        return data.copy()
    if op == "Shape":
        return np.asarray(data.shape, np.int64)[
            _clamp(attrs.get("start", 0), data.ndim) : _clamp(attrs.get("end", data.ndim), data.ndim)
        ]
    if op == "ConstantOfShape":
        shape = listed(0, "shape") or []
        if any(d < 0 for d in shape) or math.prod(shape) > MAX_FOLDED:
            raise UnsupportedOpError(
                f"ConstantOfShape node {label} makes a tensor of shape {shape}; edgetrain "
                f"evaluates ConstantOfShape only for at most {MAX_FOLDED} values",
                hint=FOLD_HINT,
            )
        fill = attrs.get("value")
        value = 0 if fill is None else int(np.asarray(fill).ravel()[0])
        return np.full(shape, value, np.int64)
    if op == "Reshape":
        target = listed(1, "shape")
        if target is None:
            raise InvalidModelError(f"Reshape node {label} has no shape input", hint=REEXPORT_HINT)
        if not attrs.get("allowzero", 0):
            if any(t == 0 and i >= data.ndim for i, t in enumerate(target)):
                raise InvalidModelError(
                    f"Reshape node {label}: a 0 in {target} copies an axis the input lacks", hint=REEXPORT_HINT
                )
            target = [data.shape[i] if t == 0 else t for i, t in enumerate(target)]
        if target.count(-1) > 1 or any(t < -1 for t in target):
            raise InvalidModelError(f"Reshape node {label}: shape {target} is not a valid target", hint=REEXPORT_HINT)
        known = math.prod(t for t in target if t != -1)
        if -1 in target:
            if known == 0 or data.size % known:
                raise InvalidModelError(
                    f"Reshape node {label} cannot reshape {data.size} values to {target}", hint=REEXPORT_HINT
                )
            target[target.index(-1)] = data.size // known
        if math.prod(target) != data.size:
            raise InvalidModelError(
                f"Reshape node {label} cannot reshape {data.size} values to {target}", hint=REEXPORT_HINT
            )
        return data.reshape(target)
    if op == "Transpose":
        perm = list(attrs["perm"]) if "perm" in attrs else list(range(data.ndim))[::-1]
        if sorted(perm) != list(range(data.ndim)):
            raise InvalidModelError(
                f"Transpose node {label}: perm {perm} does not fit a rank-{data.ndim} input", hint=REEXPORT_HINT
            )
        return np.ascontiguousarray(data.transpose(perm))
    if op == "Concat":
        parts = [need(i, f"input {i}") for i in range(len(arrays))]
        rank = parts[0].ndim
        if rank == 0 or any(p.ndim != rank for p in parts):
            raise InvalidModelError(f"Concat node {label} joins tensors of different or zero rank", hint=REEXPORT_HINT)
        axis = axes_of([int(attrs.get("axis", 0))], rank, "axis")[0]
        if any(
            p.shape[:axis] + p.shape[axis + 1 :] != parts[0].shape[:axis] + parts[0].shape[axis + 1 :] for p in parts
        ):
            raise InvalidModelError(f"Concat node {label} joins tensors whose other axes differ", hint=REEXPORT_HINT)
        if sum(p.size for p in parts) > MAX_FOLDED:
            raise UnsupportedOpError(f"Concat node {label} makes more than {MAX_FOLDED} values", hint=FOLD_HINT)
        return np.concatenate(parts, axis=axis)
    if op == "Slice":
        if opset < 10:
            starts, ends = list(attrs.get("starts", [])), list(attrs.get("ends", []))
            axes, steps = (list(attrs["axes"]) if "axes" in attrs else None), None
        else:
            starts, ends = listed(1, "starts") or [], listed(2, "ends") or []
            axes, steps = listed(3, "axes"), listed(4, "steps")
        axes = axes_of(axes if axes is not None else list(range(len(starts))), data.ndim, "axes")
        steps = steps if steps is not None else [1] * len(starts)
        if not len(starts) == len(ends) == len(axes) == len(steps) or 0 in steps:
            raise InvalidModelError(
                f"Slice node {label}: starts, ends, axes and steps disagree (or a step is 0)", hint=REEXPORT_HINT
            )
        index = [slice(None)] * data.ndim
        for s, e, ax, st in zip(starts, ends, axes, steps):
            # Python's slice clamps out-of-range bounds exactly as ONNX Slice does (see its spec).
            index[ax] = slice(s, e, st)
        return data[tuple(index)].copy()
    if op == "Gather":
        idx = need(1, "indices")
        if data.ndim == 0:
            raise InvalidModelError(f"Gather node {label} gathers from a scalar", hint=REEXPORT_HINT)
        axis = axes_of([int(attrs.get("axis", 0))], data.ndim, "axis")[0]
        n = data.shape[axis]
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise InvalidModelError(
                f"Gather node {label}: an index is out of range for an axis of {n}", hint=REEXPORT_HINT
            )
        if data.size // max(n, 1) * idx.size > MAX_FOLDED:
            raise UnsupportedOpError(f"Gather node {label} makes more than {MAX_FOLDED} values", hint=FOLD_HINT)
        return np.take(data, idx, axis=axis)
    if op in ("Squeeze", "Unsqueeze"):
        given = list(attrs["axes"]) if opset < 13 and "axes" in attrs else listed(1, "axes")
        if op == "Squeeze":
            if given is None:
                return data.reshape([d for d in data.shape if d != 1])
            axes = axes_of(given, data.ndim, "axes")
            if any(data.shape[x] != 1 for x in axes):
                raise InvalidModelError(
                    f"Squeeze node {label} squeezes an axis whose size is not 1", hint=REEXPORT_HINT
                )
            return data.reshape([d for i, d in enumerate(data.shape) if i not in axes])
        if given is None:
            raise InvalidModelError(f"Unsqueeze node {label} has no axes", hint=REEXPORT_HINT)
        rank = data.ndim + len(given)
        if rank > MAX_RANK:
            raise InvalidModelError(f"Unsqueeze node {label} makes a rank-{rank} tensor", hint=REEXPORT_HINT)
        axes = axes_of(given, rank, "axes")
        shape, it = [], iter(data.shape)
        for i in range(rank):
            shape.append(1 if i in axes else next(it))
        return data.reshape(shape)
    raise AssertionError(f"not a folded op: {op}")  # pragma: no cover - FOLDED_OPS is the caller's dispatch

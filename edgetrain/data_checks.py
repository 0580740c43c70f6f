"""The one validation of samples every command runs: `check_samples`.

`train`, `eval`, `emulate`, `finetune`, `export c --calib` and `ort-train` all hand their
features ``x`` and labels ``y`` to `check_samples` before anything else touches them, so one bad
value gets one message, whichever command met it. A refusal is a `DataError` whose message is
one line naming the source and the problem (``d.npz: label -1 at row 5 is negative ...``).

Accepted element types (decided here, for every command alike):

* features: integer or floating point. Booleans are refused (a saved mask is a common slip and
  rarely meant as features; convert with ``x.astype(float)`` if it is), and so are complex,
  string, object, structured (record) and datetime arrays, which have no meaning as features.
* labels: integer, or floating point holding whole numbers (``3.0`` is class 3, ``3.5`` is
  refused rather than truncated). Booleans, strings and the other kinds above are refused here:
  text class names ("walk") are mapped to ids by the file readers first (`edgetrain.data_labels`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from . import limits
from .errors import DataError

if TYPE_CHECKING:
    from .graph import Graph

# numpy dtype kinds: b bool, i/u integer, f float, c complex, U/S string, O object, V void or
# structured, M/m datetime/timedelta.
_KIND_NAMES = {
    "b": "boolean",
    "c": "complex",
    "U": "text",
    "S": "bytes",
    "O": "Python object",
    "V": "structured",
    "M": "datetime",
    "m": "timedelta",
}
_KIND_HINTS = {
    "b": "convert a boolean table explicitly (x.astype(float) / y.astype(int)) if it really is the data",
    "c": "split complex values into real and imaginary feature columns",
    "U": "encode text labels or categories as numbers (class ids 0..K-1)",
    "S": "encode text labels or categories as numbers (class ids 0..K-1)",
    "O": "save plain numeric arrays (np.savez(path, x=x.astype(float), y=y.astype(int)))",
    "V": "save plain 2-D numeric arrays, not record arrays (np.lib.recfunctions.structured_to_unstructured)",
    "M": "convert dates and durations to numbers first",
    "m": "convert dates and durations to numbers first",
}


def dtype_problem(dtype: np.dtype, what: str) -> tuple[str, str] | None:
    """Why ``dtype`` cannot hold ``what`` (``"features"`` or ``"labels"``): (message, hint), or None.

    Shared by `check_samples` and the .npz reader, which applies it to array headers before
    loading, so a file and an in-memory array are refused with the same words.
    """
    dtype = np.dtype(dtype)
    kind = "V" if dtype.fields is not None else dtype.kind
    if kind in "iuf":
        return None
    name = _KIND_NAMES.get(kind, f"{dtype}")
    return (
        f"{what} are {name} values (dtype {dtype}); they must be integer or floating-point numbers",
        _KIND_HINTS.get(kind, "save plain numeric arrays"),
    )


def check_samples(
    x: Any,
    y: Any,
    *,
    source: str,
    n_features: int | None = None,
    n_outputs: int | None = None,
    x_dtype: type[np.floating] = np.float32,
    sample_shape: tuple[int, ...] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Validate features ``x`` and labels ``y`` from ``source``; return ``x`` as ``x_dtype``, ``y`` as int64.

    Contract, in the order checked (the first failure raises `DataError`, message prefixed with
    ``source``): numeric element types (see the module docstring); ``x`` 2-D (samples x features)
    with at least one feature column, ``y`` 1-D; each array at most ``MAX_DATA_ELEMENTS``
    elements; at least one sample; as many labels as feature rows; ``n_features`` columns when
    given (the model's input width); every feature finite, also after the conversion to
    ``x_dtype``; labels whole numbers, ``>= 0`` and ``< n_outputs`` when given (the model's output
    width), else below ``MAX_UNITS`` (no model can have more outputs).

    ``x_dtype=np.float64`` keeps full precision for callers that compute statistics on raw data
    (the training split standardises in float64); everything fed to a model uses float32.

    Shaped samples (``x`` of shape (N, H, W, C) or (N, L, C)) are accepted and returned as flat
    rows in row-major order, channels fastest: the order of a flat row of a model whose input is
    an image or a window. Their shape must be ``sample_shape`` (the model's input shape); without
    one they are refused.
    """
    x, y = np.asarray(x), np.asarray(y)
    _check_kinds(x, y, source)
    if x.ndim > 2:
        if sample_shape is None:
            raise DataError(
                f"{source}: samples have shape {tuple(x.shape[1:])} but the model takes flat rows",
                hint="give the model an input shape (TOML [model] input_shape), or flatten each "
                "sample: x.reshape(len(x), -1)",
            )
        if tuple(x.shape[1:]) != tuple(sample_shape):
            raise DataError(
                f"{source}: samples have shape {tuple(x.shape[1:])} but the model takes {tuple(sample_shape)}",
                hint="was the model trained on another data set?",
            )
        x = x.reshape(len(x), -1) if len(x) else x.reshape(0, int(np.prod(x.shape[1:])))
    _check_shapes(x, y, source, n_features)
    return _checked_features(x, source, x_dtype), _checked_labels(y, source, n_outputs)


def check_model_samples(
    graph: Graph, x: Any, y: Any, *, source: str, x_dtype: type[np.floating] = np.float32, labels: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """`check_samples` against ``graph``: its input width and (``labels``) its number of outputs.

    Without ``labels`` (calibration samples, whose labels nothing reads) the labels must still be
    class ids but may exceed the model's outputs.
    """
    n_features, n_outputs = model_data_sizes(graph)
    return check_samples(
        x,
        y,
        source=source,
        n_features=n_features,
        n_outputs=n_outputs if labels else None,
        x_dtype=x_dtype,
        sample_shape=tuple(int(d) for d in graph.input_shape),
    )


def model_data_sizes(graph: Graph) -> tuple[int, int | None]:
    """(input width, output width) of a model: the width of a flat input row (the product of the
    input shape), and the number of outputs when the output is a vector (None where not)."""
    shape_out = graph.shapes()[graph.output_name]
    return (int(np.prod(graph.input_shape)), int(shape_out[-1]) if len(shape_out) == 1 else None)


def _check_kinds(x: np.ndarray, y: np.ndarray, source: str) -> None:
    for arr, what in ((x, "features"), (y, "labels")):
        problem = dtype_problem(arr.dtype, what)
        if problem:
            raise DataError(f"{source}: {problem[0]}", hint=problem[1])


def _check_shapes(x: np.ndarray, y: np.ndarray, source: str, n_features: int | None) -> None:
    if x.ndim != 2:
        hint = (
            "one feature per sample: x.reshape(-1, 1)" if x.ndim == 1 else "x must be a table with one row per sample"
        )
        raise DataError(
            f"{source}: features must be a table (samples x features) or shaped samples, got shape {x.shape}", hint=hint
        )
    if y.ndim != 1:
        hint = (
            "labels look one-hot encoded: use y.argmax(axis=1)"
            if y.ndim == 2 and y.shape[0] == x.shape[0]
            else "labels must be one class id per sample"
        )
        raise DataError(f"{source}: labels must be a 1-D array of class ids, got shape {y.shape}", hint=hint)
    cap = limits.limit("MAX_DATA_ELEMENTS")
    for arr, what in ((x, "features"), (y, "labels")):
        if arr.size > cap:
            raise DataError(
                f"{source}: {what} have {arr.size} elements, over the limit of {cap}",
                hint=limits.over_limit_hint("MAX_DATA_ELEMENTS"),
            )
    if len(x) == 0:
        raise DataError(f"{source}: no samples (0 rows)", hint="the data needs at least one sample")
    if len(y) != len(x):
        raise DataError(
            f"{source}: {len(x)} feature rows but {len(y)} labels",
            hint="x and y must have one row / one label per sample",
        )
    if x.shape[1] == 0:
        raise DataError(
            f"{source}: no feature columns (shape {x.shape})", hint="each sample needs at least one feature"
        )
    if n_features is not None and x.shape[1] != n_features:
        raise DataError(
            f"{source}: the data has {x.shape[1]} features but the model was trained on {n_features}",
            hint="was the model trained on another data set?",
        )


def _checked_features(x: np.ndarray, source: str, x_dtype: type[np.floating]) -> np.ndarray:
    if x.dtype.kind == "f":
        r, c = _first_bad(x)
        if r >= 0:
            raise DataError(
                f"{source}: non-finite value {x[r, c]} at row {r}, column {c}",
                hint="remove or impute NaN/Inf values before using the data",
            )
    with np.errstate(over="ignore", invalid="ignore"):
        out = x.astype(x_dtype, copy=False)
    if x.dtype.kind == "f" and x.dtype.itemsize > out.dtype.itemsize:
        # A finite float64 can overflow to inf in float32 (integers always fit).
        r, c = _first_bad(out)
        if r >= 0:
            raise DataError(
                f"{source}: value {x[r, c]} at row {r}, column {c} is outside the {out.dtype.name} range",
                hint="rescale the features (a model computes in float32)",
            )
    return out


def _first_bad(arr: np.ndarray) -> tuple[int, int]:
    """(row, column) of the first non-finite element, or (-1, -1)."""
    bad = ~np.isfinite(arr)
    if not bad.any():
        return -1, -1
    r, c = np.argwhere(bad)[0]
    return int(r), int(c)


def _checked_labels(y: np.ndarray, source: str, n_outputs: int | None) -> np.ndarray:
    if y.dtype.kind == "f":
        bad = ~np.isfinite(y) | (np.mod(np.where(np.isfinite(y), y, 0), 1) != 0)
        if bad.any():
            r = int(np.argmax(bad))
            raise DataError(
                f"{source}: label at row {r} is {y[r]}, labels must be integer class ids",
                hint="labels are class ids 0..n_classes-1; map them to whole numbers first",
            )
    # Range checks run on the original dtype, before any cast could wrap (uint64, 1e300).
    neg = y < 0
    if neg.any():
        r = int(np.argmax(neg))
        k = f"0..{n_outputs - 1}" if n_outputs else "0..n_classes-1"
        raise DataError(
            f"{source}: label {_label(y[r])} at row {r} is negative; labels are class ids counted from 0",
            hint=f"map the labels to class ids {k}",
        )
    top = int(np.argmax(y))
    if n_outputs is not None and y[top] >= n_outputs:
        raise DataError(
            f"{source}: labels go up to {_label(y[top])} (row {top}) but the model has {n_outputs} outputs",
            hint="the labels must be class ids below the model's output count; other data set?",
        )
    cap = limits.limit("MAX_UNITS")
    if y[top] >= cap:
        raise DataError(
            f"{source}: label {_label(y[top])} at row {top} is too large: a model has at most {cap} outputs",
            hint=limits.over_limit_hint("MAX_UNITS"),
        )
    return y.astype(np.int64)


def _label(v: Any) -> str:
    """A label as the user wrote it: ``9`` rather than ``9.0``, ``1e+300`` kept."""
    if isinstance(v, np.integer):
        return str(int(v))
    f = float(v)
    return str(int(f)) if abs(f) < 1e15 else f"{f:g}"

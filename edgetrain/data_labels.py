"""Text class labels ("walk", "run"): mapped to class ids, the names kept with the model.

A data file may label its samples with words instead of class ids. The readers hand such labels
here before `check_samples` (which accepts class ids only). Contract:

* Training: the class ids are the sorted distinct names (``["run", "walk"]`` -> run = 0,
  walk = 1), taken over every split of the data set at once so the train and test files agree;
  the names travel with the model as ``graph.meta["class_names"]``.
* Evaluation: labels are mapped through the model's own names, so a file that lacks a class (or
  lists them in another order) still gets the model's ids; a name the model does not know, or
  text labels for a model without class names, is a `DataError`.
* Numeric labels pass through untouched (they are class ids, checked by `check_samples`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from .errors import DataError


def is_text(y: np.ndarray) -> bool:
    """Whether ``y`` holds text (numpy str/bytes, or Python strings from the CSV reader)."""
    y = np.asarray(y)
    if y.dtype.kind in "US":
        return True
    return y.dtype.kind == "O" and y.size > 0 and all(isinstance(v, (str, bytes)) for v in y.ravel())


def _as_str(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y)
    if y.dtype.kind == "S" or (y.dtype.kind == "O" and any(isinstance(v, bytes) for v in y.ravel())):
        y = np.array(
            [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in y.ravel()], dtype=str
        ).reshape(y.shape)
    return np.char.strip(y.astype(str))


def class_names_of(labels: Iterable[np.ndarray], *, source: str) -> list[str] | None:
    """The sorted distinct names over all text label arrays in ``labels``; None when none is text.

    An empty name (a blank label cell) is a `DataError`: it is a missing label, not a class.
    """
    names: set[str] = set()
    found = False
    for y in labels:
        if is_text(y):
            found = True
            text = _as_str(y)
            if text.ndim != 1:
                continue  # not one label per sample: encode_labels refuses it with the shape
            if (text == "").any():
                r = int(np.argmax(text == ""))
                raise DataError(
                    f"{source}: the label at row {r} is empty",
                    hint="every sample needs a class label (a name or a class id)",
                )
            names.update(np.unique(text).tolist())
    return sorted(names) if found else None


def encode_labels(y: np.ndarray, class_names: Sequence[str] | None, *, source: str) -> np.ndarray:
    """``y`` as class ids: text mapped through ``class_names``, numbers returned unchanged.

    Raises `DataError` (naming ``source`` and the first offending row) for a name not in
    ``class_names``, an empty name, or text labels when ``class_names`` is None.
    """
    if not is_text(y):
        return np.asarray(y)
    text = _as_str(y)
    if text.ndim != 1:
        raise DataError(
            f"{source}: labels must be a 1-D array of class names or ids, got shape {text.shape}",
            hint="one label per sample",
        )
    if class_names is None:
        raise DataError(
            f"{source}: labels are text (e.g. {text[0]!r}) but the model has no class names",
            hint="this model was trained on numeric class ids: give the labels as ids 0..K-1",
        )
    lookup = {n: i for i, n in enumerate(class_names)}
    out = np.empty(len(text), dtype=np.int64)
    for r, name in enumerate(text.tolist()):
        i = lookup.get(name)
        if i is None:
            what = "an empty label" if not name else f"label {name!r}"
            raise DataError(
                f"{source}: {what} at row {r} is not one of the model's classes ({_listed(class_names)})",
                hint="was the model trained on another data set?",
            )
        out[r] = i
    return out


def _listed(names: Sequence[str]) -> str:
    shown = ", ".join(names[:12])
    return shown + (f", ... ({len(names)} in all)" if len(names) > 12 else "")

"""Datasets: bundled scikit-learn sets and user files, validated, split and standardised.

The public face of the data modules: `edgetrain.data_split` (splits, `Dataset`),
`edgetrain.data_npz` and `edgetrain.data_csv` (the file readers), `edgetrain.data_sources`
(``DATASET[:split]`` / ``FILE[:split]``, layouts, re-deriving a model's split).
Standardisation statistics are fitted on the training split only and travel with the model (see
`Dataset.preprocess`) so evaluation, export and on-device code see the same features.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .data_checks import check_samples
from .data_csv import read_csv
from .data_npz import NPZ_SPLIT_KEYS, npz_layout, read_npz, read_npz_arrays
from .data_sources import load_dataset, read_data_file
from .data_split import (
    BUILTIN,
    Dataset,
    Split,
    apply_preprocess,
    build_dataset,
    check_split_sizes,
    load_builtin,
    load_builtin_raw,
    split_and_standardise,
    split_indices,
    standardisation,
)
from .errors import DataError

__all__ = [
    "BUILTIN",
    "NPZ_SPLIT_KEYS",
    "Dataset",
    "Split",
    "apply_preprocess",
    "build_dataset",
    "check_split_sizes",
    "load_builtin",
    "load_builtin_raw",
    "load_data",
    "npz_layout",
    "read_csv",
    "read_file",
    "read_npz",
    "read_npz_arrays",
    "split_and_standardise",
    "split_indices",
    "standardisation",
    "validate_arrays",
]


def validate_arrays(x: np.ndarray, y: np.ndarray, n_classes: int | None = None, source: str = "data") -> int:
    """Check features and labels with `check_samples`; return the number of classes.

    Kept for callers of the earlier API: ``n_classes`` (when given) bounds the labels, else the
    classes are ``0..max(y)``.
    """
    _, labels = check_samples(x, y, source=source, n_outputs=n_classes, x_dtype=np.float64)
    return n_classes if n_classes is not None else int(labels.max()) + 1


def read_file(path: str | Path, label_column: str | int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read features and labels from .npz (arrays `x`/`y`, or `X`/`y`) or .csv (last column = label).

    Every failure is a `DataError` naming the file and the problem; the arrays returned have
    passed `check_samples` (float64 features, int64 labels); shaped samples keep their shape.
    Text labels become class ids in sorted name order (`edgetrain.data_sources.read_data_file`
    also returns the names, and reads files of predefined splits).
    Callers that know the model check them again against its input shape and output count.
    """
    fd = read_data_file(path, label_column=label_column)
    if fd.layout != "table":
        raise DataError(
            f"{path}: holds predefined splits (x_train, x_test ...), not one table",
            hint="name a split: FILE:train or FILE:test",
        )
    return fd.parts["all"]


def load_data(source: str, **kw: Any) -> Dataset:
    """A bundled name (``digits``) or a path to .npz/.csv, split and standardised.

    Keyword options: ``seed``, ``test_size``, ``val_size`` and, for files, ``label_column``,
    ``delimiter``, ``window``, ``stride`` (see `edgetrain.data_sources.load_dataset`).
    """
    if source in BUILTIN and not (kw.keys() - {"seed", "test_size", "val_size", "n_classes"}):
        return load_builtin(source, **kw)
    return load_dataset(source, **kw)

"""Datasets: bundled scikit-learn sets and user files, validated, split and standardised.

Standardisation statistics are fitted on the training split only and travel with the model (see
`Dataset.preprocess`) so evaluation, export and on-device code see the same features.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DataError

BUILTIN = ("digits", "iris", "wine", "breast_cancer")


@dataclass
class Split:
    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class Dataset:
    name: str
    train: Split
    val: Split | None
    test: Split | None
    n_classes: int
    mean: np.ndarray
    std: np.ndarray
    spec: dict[str, Any] = field(default_factory=dict)  # how to rebuild this exact split

    @property
    def n_features(self) -> int:
        return int(self.train.x.shape[1])

    def preprocess(self) -> dict[str, Any]:
        return {"mean": self.mean.tolist(), "std": self.std.tolist(), **self.spec}

    def split(self, name: str) -> Split:
        s = getattr(self, name, None) if name in ("train", "val", "test") else None
        if s is None:
            raise DataError(f"dataset {self.name!r} has no {name!r} split", hint="use train, val or test")
        return s


def validate_arrays(x: np.ndarray, y: np.ndarray, n_classes: int | None = None, source: str = "data") -> int:
    """Check features and labels; return the number of classes. Errors name the row/column at fault."""
    if x.ndim != 2:
        raise DataError(f"{source}: features must be a 2-D table (samples x features), got shape {x.shape}")
    if y.ndim != 1 or len(y) != len(x):
        raise DataError(f"{source}: {len(x)} feature rows but labels of shape {y.shape}")
    if len(x) == 0:
        raise DataError(f"{source}: no samples")
    bad = ~np.isfinite(x)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise DataError(f"{source}: non-finite value {x[r, c]} at row {r}, column {c}",
                        hint="remove or impute NaN/Inf values before training")
    if not np.all(np.isfinite(y)) or not np.all(np.equal(np.mod(y, 1), 0)):
        r = int(np.argmax(~np.isfinite(y) | (np.mod(np.nan_to_num(y), 1) != 0)))
        raise DataError(f"{source}: label at row {r} is {y[r]}, labels must be integer class ids")
    lo, hi = int(y.min()), int(y.max())
    k = n_classes if n_classes is not None else hi + 1
    if lo < 0 or hi >= k:
        r = int(np.argmax((y < 0) | (y >= k)))
        raise DataError(f"{source}: label {int(y[r])} at row {r} is outside 0..{k - 1}",
                        hint="labels must be class ids 0..n_classes-1")
    return k


def _standardise(train_x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = train_x.mean(axis=0)
    std = train_x.std(axis=0)
    std[std < 1e-8] = 1.0  # constant features (digits has a few) pass through centred
    return mean.astype(np.float32), std.astype(np.float32)


def split_and_standardise(
    name: str, x: np.ndarray, y: np.ndarray, *, seed: int = 0, test_size: float = 0.3, val_size: float = 0.1,
    n_classes: int | None = None, spec: dict[str, Any] | None = None,
) -> Dataset:
    """Stratified train/val/test split, standardised with training statistics."""
    from sklearn.model_selection import train_test_split

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y)
    k = validate_arrays(x, y, n_classes, source=name)
    y = y.astype(np.int64)
    if not (0 <= test_size < 1 and 0 <= val_size < 1 and test_size + val_size < 1):
        raise DataError(f"split sizes test={test_size} val={val_size} must be in [0, 1) and sum below 1")
    strat = y if np.bincount(y).min() >= 2 else None
    idx = np.arange(len(y))
    rest, test = (train_test_split(idx, test_size=test_size, random_state=seed, stratify=strat)
                  if test_size > 0 else (idx, idx[:0]))
    val = idx[:0]
    if val_size > 0:
        frac = val_size / (1 - test_size)
        strat_rest = y[rest] if strat is not None and np.bincount(y[rest]).min() >= 2 else None
        rest, val = train_test_split(rest, test_size=frac, random_state=seed, stratify=strat_rest)
    mean, std = _standardise(x[rest])

    def mk(ix: np.ndarray) -> Split | None:
        return Split(((x[ix] - mean) / std).astype(np.float32), y[ix]) if len(ix) else None

    spec = {**(spec or {}), "seed": seed, "test_size": test_size, "val_size": val_size}
    return Dataset(name, mk(rest), mk(val), mk(test), k, mean, std, spec)


def load_builtin(name: str, **kw: Any) -> Dataset:
    from sklearn import datasets as skd

    loaders = {"digits": skd.load_digits, "iris": skd.load_iris, "wine": skd.load_wine,
               "breast_cancer": skd.load_breast_cancer}
    if name not in loaders:
        raise DataError(f"unknown dataset {name!r}", hint=f"bundled: {', '.join(BUILTIN)}, or a .npz/.csv path")
    b = loaders[name]()
    return split_and_standardise(name, b.data, b.target, spec={"source": name}, **kw)


def read_file(path: str | Path, label_column: str | int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read features and labels from .npz (arrays `x`/`y`, or `X`/`y`) or .csv (last column = label)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"data file {path} does not exist")
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                keys = set(z.files)
                xk = "x" if "x" in keys else "X" if "X" in keys else None
                if xk is None or "y" not in keys:
                    raise DataError(f"{path}: .npz needs arrays 'x' and 'y', found {sorted(keys)}")
                return np.asarray(z[xk], dtype=np.float64), np.asarray(z["y"], dtype=np.float64)
        except (OSError, ValueError) as e:
            raise DataError(f"{path}: cannot read .npz ({e})") from None
    if path.suffix == ".csv":
        return _read_csv(path, label_column)
    raise DataError(f"{path}: unsupported data file type {path.suffix!r}", hint="use .npz (x, y) or .csv")


def _read_csv(path: Path, label_column: str | int | None) -> tuple[np.ndarray, np.ndarray]:
    with open(path, newline="") as f:
        rows = [r for r in csv.reader(f) if r]
    if not rows:
        raise DataError(f"{path}: empty CSV file")
    header = None
    try:
        [float(v) for v in rows[0]]
    except ValueError:
        header, rows = rows[0], rows[1:]
    if label_column is None:
        col = header.index("label") if header and "label" in header else len(rows[0]) - 1
    elif isinstance(label_column, str):
        if not header or label_column not in header:
            raise DataError(f"{path}: no column named {label_column!r}")
        col = header.index(label_column)
    else:
        col = label_column
    table = []
    for i, r in enumerate(rows, start=2 if header else 1):
        if len(r) != len(rows[0]):
            raise DataError(f"{path}: line {i} has {len(r)} columns, expected {len(rows[0])}")
        try:
            table.append([float(v) for v in r])
        except ValueError:
            bad = next(j for j, v in enumerate(r) if not _is_float(v))
            raise DataError(f"{path}: line {i}, column {bad + 1}: {r[bad]!r} is not a number") from None
    arr = np.asarray(table, dtype=np.float64)
    return np.delete(arr, col, axis=1), arr[:, col]


def _is_float(v: str) -> bool:
    try:
        float(v)
        return True
    except ValueError:
        return False


def load_data(source: str, **kw: Any) -> Dataset:
    """A bundled name (``digits``) or a path to .npz/.csv, split and standardised."""
    if source in BUILTIN:
        return load_builtin(source, **kw)
    if "." not in Path(source).name and not Path(source).exists():
        raise DataError(f"unknown dataset {source!r}", hint=f"bundled: {', '.join(BUILTIN)}, or a .npz/.csv path")
    x, y = read_file(source)
    return split_and_standardise(Path(source).stem, x, y, spec={"source": str(source)}, **kw)


def apply_preprocess(x: np.ndarray, preprocess: dict[str, Any] | None) -> np.ndarray:
    """Standardise raw features with statistics stored in a model."""
    if not preprocess:
        return np.asarray(x, dtype=np.float32)
    mean = np.asarray(preprocess["mean"], dtype=np.float32)
    std = np.asarray(preprocess["std"], dtype=np.float32)
    if x.shape[1] != mean.shape[0]:
        raise DataError(f"data has {x.shape[1]} features but the model was trained on {mean.shape[0]}")
    return ((x - mean) / std).astype(np.float32)

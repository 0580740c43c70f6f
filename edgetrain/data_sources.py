"""Data sources: ``DATASET[:split]`` and ``FILE[:split]``, read for training and re-read honestly later.

A source names samples. ``digits``, ``iris`` ... are the bundled data sets; anything else is a
``.npz`` or ``.csv`` file. ``:train``, ``:val`` and ``:test`` pick a split; any other split name
is a `DataError`. What a split means:

* a bundled data set, or a single-table file (``x``/``y``, or a CSV): the split the model's
  training run drew, re-derived from the seed and fractions stored in the model
  (``graph.meta["preprocess"]``) and checked against the file's SHA-256 and the split sizes, so
  ``data.npz:test`` is exactly the held-out samples, never the whole file;
* a file of predefined splits (``x_train``, ``y_train``, ``x_test``, ``y_test``, optional
  ``x_val``/``y_val``): that array pair (``val`` of a file without one: the share the training
  run held out of ``x_train``, when this is the model's training file);
* separate files (``[data] train = "a.npz", test = "b.npz"``): ``b.npz:test`` is b, ``a.npz:train``
  is a less what was held out for validation.

Without a split, a bundled data set or a predefined-split file means its test split and a table
file means all of its rows (a new recording to evaluate on). Asking a file for a split the
model's training did not draw from it (``new.npz:test`` for a model trained on ``old.npz``) is a
`DataError` naming the file the model was trained on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import limits
from .data_checks import check_model_samples, check_samples
from .data_csv import read_csv
from .data_labels import class_names_of, encode_labels
from .data_npz import npz_layout, read_npz_arrays
from .data_split import (
    BUILTIN,
    Dataset,
    apply_preprocess,
    build_dataset,
    load_builtin_raw,
    split_and_standardise,
    split_indices,
    split_off,
    standardisation,
)
from .data_window import make_windows
from .errors import DataError

SPLITS = ("train", "val", "test")
_SOURCE_HINT = "a data source is DATASET[:train|val|test] or FILE[:train|val|test], e.g. digits:test or data.npz:test"
#: Reading options that change which samples a file yields; stored in the model so every later
#: command reads the file the same way.
READ_OPTIONS = ("label_column", "delimiter", "window", "stride")


def parse_source(source: str) -> tuple[str, str | None]:
    """``(name, split)`` of ``DATASET[:split]`` / ``FILE[:split]``; split None when not given.

    A colon followed by a path-like tail (``/``, ``\\`` or ``.``) belongs to the path. A split
    other than train, val or test is a `DataError`.
    """
    name, sep, split = source.rpartition(":")
    if not sep or any(c in split for c in "/\\."):
        return source, None
    if split not in SPLITS:
        raise DataError(f"{source}: unknown split {split!r}", hint=_SOURCE_HINT)
    if not name:
        raise DataError(f"{source}: no data set or file before the split", hint=_SOURCE_HINT)
    return name, split


def is_file_source(name: str) -> bool:
    """Whether ``name`` names a file (anything but a bundled data set)."""
    return name not in BUILTIN


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes: how a model recognises the file it was trained on, wherever it lies."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------- reading a file


@dataclass
class FileData:
    """The checked samples of one data file: ``parts`` is ``{"all": (x, y)}`` for a table, or
    ``train``/``test`` (and maybe ``val``) for predefined splits. Features are float64 (shaped
    samples keep their shape), labels int64 class ids."""

    path: Path
    parts: dict[str, tuple[np.ndarray, np.ndarray]]
    class_names: list[str] | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def layout(self) -> str:
        """``"table"`` (one set of rows) or ``"splits"`` (predefined train/test arrays)."""
        return "table" if "all" in self.parts else "splits"


def read_data_file(
    path: str | Path,
    *,
    label_column: str | int | None = None,
    delimiter: str | None = None,
    window: int | None = None,
    stride: int | None = None,
    class_names: Sequence[str] | None = None,
    infer_class_names: bool = True,
) -> FileData:
    """Read, label-encode, window and check one .npz/.csv file (every failure a `DataError`).

    ``infer_class_names`` (training): text labels become class ids in sorted name order.
    Otherwise (evaluating a model) text labels are mapped through ``class_names``, the model's.
    ``window``/``stride`` cut a (time, channels) recording into windows (`make_windows`).
    """
    path = Path(path)
    _check_file(path)
    if path.suffix == ".npz":
        if label_column is not None:
            raise DataError(
                f"{path}: label_column applies to CSV files; an .npz keeps its labels in y",
                hint="drop label_column from [data] for an .npz",
            )
        arrays = read_npz_arrays(path)
        if npz_layout(set(arrays)) == "splits":
            raw = {p: (arrays[f"x_{p}"], arrays[f"y_{p}"]) for p in SPLITS if f"x_{p}" in arrays}
        else:
            raw = {"all": (arrays["x"] if "x" in arrays else arrays["X"], arrays["y"])}
    else:
        raw = {"all": read_csv(path, label_column, delimiter=delimiter)}
    if infer_class_names:
        names = class_names_of((y for _, y in raw.values()), source=str(path))
    else:
        names = list(class_names) if class_names is not None else None
    parts = {}
    for part, (x, y) in raw.items():
        where = str(path) if part == "all" else f"{path} ({part})"
        y = encode_labels(y, names, source=where)
        if window is not None:
            x, y = make_windows(x, y, window, stride or window, source=where)
        shape = tuple(np.shape(x)[1:])
        cx, cy = check_samples(x, y, source=where, x_dtype=np.float64, sample_shape=shape if len(shape) > 1 else None)
        parts[part] = (cx.reshape(len(cx), *shape) if len(shape) > 1 else cx, cy)
    opts = {
        k: v
        for k, v in (
            ("label_column", label_column),
            ("delimiter", delimiter),
            ("window", window),
            ("stride", stride if window is not None else None),
        )
        if v is not None
    }
    if window is not None and "stride" not in opts:
        opts["stride"] = window
    return FileData(path, parts, names if infer_class_names else None, opts)


def _check_file(path: Path) -> None:
    if not path.exists():
        raise DataError(
            f"data file {path} does not exist",
            hint="check the path; in a config file it is relative to the config's directory",
        )
    if path.suffix not in (".npz", ".csv"):
        raise DataError(f"{path}: unsupported data file type {path.suffix!r}", hint="use .npz (x, y) or .csv")
    if not path.is_file():
        raise DataError(
            f"{path}: is a directory or device, not a data file", hint="give the path of a .npz or .csv file"
        )
    size = path.stat().st_size
    cap = limits.limit("MAX_FILE_BYTES")
    if size > cap:
        raise DataError(
            f"{path}: file is {size} bytes, over the limit of {cap}", hint=limits.over_limit_hint("MAX_FILE_BYTES")
        )


# ---------------------------------------------------------------- training data sets


def load_dataset(
    source: str | None = None,
    *,
    train: str | None = None,
    val: str | None = None,
    test: str | None = None,
    seed: int = 0,
    test_size: float = 0.3,
    val_size: float = 0.1,
    label_column: str | int | None = None,
    delimiter: str | None = None,
    window: int | None = None,
    stride: int | None = None,
) -> Dataset:
    """The training `Dataset` of a bundled name, one file, or separate train/val/test files.

    The returned ``Dataset.spec`` (stored in the model as ``meta["preprocess"]``) holds what a
    later command needs to re-derive each split: ``layout`` (``dataset``, ``file``, ``splits``,
    ``files``), the source path(s) with their SHA-256, the seed, the fractions, the reading
    options and the split sizes (``samples``); a single table also ``split_sha256``, a digest of
    the row numbers of each split.
    """
    kw: dict[str, Any] = {"label_column": label_column, "delimiter": delimiter, "window": window, "stride": stride}
    if train is not None:
        return _load_files(train, val, test, seed=seed, val_size=val_size, **kw)
    if source is None:
        raise DataError("no data: give a source (DATASET or FILE) or a train file", hint=_SOURCE_HINT)
    if not is_file_source(source):
        if any(v is not None for v in kw.values()):
            raise DataError(
                f"{source}: label_column, delimiter, window and stride apply to data files, not the bundled data sets",
                hint="drop them from [data], or use a file",
            )
        return _with_layout(_load_builtin(source, seed, test_size, val_size), "dataset")
    if "." not in Path(source).name and not Path(source).exists():
        raise DataError(f"unknown dataset {source!r}", hint=f"bundled: {', '.join(BUILTIN)}, or a .npz/.csv path")
    fd = read_data_file(source, **kw)
    spec = {"source": str(source), "sha256": file_sha256(source), **fd.options}
    name = Path(source).stem
    if fd.layout == "splits":
        data = build_dataset(
            name, fd.parts, seed=seed, val_size=val_size, spec={**spec, "test_size": None}, class_names=fd.class_names
        )
        return _with_layout(data, "splits")
    x, y = fd.parts["all"]
    data = split_and_standardise(
        name, x, y, seed=seed, test_size=test_size, val_size=val_size, spec=spec, class_names=fd.class_names
    )
    data.spec["split_sha256"] = rows_digest(data.indices)
    if window is not None and (stride or window) < window and (test_size > 0 or val_size > 0):
        data.notes.append(
            f"windows overlap (stride {stride} < window {window}): a random split puts "
            "neighbouring windows in train and test, so the test figure is optimistic; "
            "hold out a separate recording ([data] test = FILE) for an honest one"
        )
    return _with_layout(data, "file")


def _load_builtin(name: str, seed: int, test_size: float, val_size: float) -> Dataset:
    x, y = load_builtin_raw(name)
    return split_and_standardise(
        name, x, y, seed=seed, test_size=test_size, val_size=val_size, spec={"source": name, "layout": "dataset"}
    )


def _load_files(train: str, val: str | None, test: str | None, *, seed: int, val_size: float, **read: Any) -> Dataset:
    """Separate files per split: each a table (x/y or a CSV); the class names are shared."""
    paths = {p: f for p, f in (("train", train), ("val", val), ("test", test)) if f is not None}
    files = {p: read_data_file(f, **read) for p, f in paths.items()}
    for p, fd in files.items():
        if fd.layout != "table":
            raise DataError(
                f"{fd.path}: holds predefined splits (x_train ...) but is given as the {p} file",
                hint="give a file of x and y arrays per split, or the one file as [data] source",
            )
    text = [fd for fd in files.values() if fd.class_names is not None]
    names = sorted({n for fd in text for n in fd.class_names or ()}) if text else None
    if names is not None and len(text) != len(files):
        raise DataError(
            f"{files['train'].path}: some split files have text labels and some class ids",
            hint="label every split the same way",
        )
    if names is not None:  # re-read with the shared names so every file gets the same ids
        files = {p: read_data_file(f, class_names=names, infer_class_names=False, **read) for p, f in paths.items()}
    parts = {p: fd.parts["all"] for p, fd in files.items()}
    spec = {
        "source": str(train),
        **files["train"].options,
        "files": {p: {"path": str(f), "sha256": file_sha256(f)} for p, f in paths.items()},
    }
    data = build_dataset(
        Path(train).stem, parts, seed=seed, val_size=val_size, spec={**spec, "test_size": None}, class_names=names
    )
    return _with_layout(data, "files")


def _with_layout(data: Dataset, layout: str) -> Dataset:
    data.spec["layout"] = layout
    return data


def rows_digest(indices: dict[str, np.ndarray]) -> str:
    """SHA-256 of the row numbers of each split (train, val, test): proof a re-derivation matches."""
    h = hashlib.sha256()
    for p in SPLITS:
        h.update(p.encode())
        h.update(np.asarray(indices.get(p, np.zeros(0)), dtype="<i8").tobytes())
    return h.hexdigest()


# ---------------------------------------------------------------- samples for a trained model


@dataclass
class Samples:
    """Samples a command uses with a model: standardised as at training time, flat rows.

    ``rows`` are the row (or window) numbers in the source's split part: for a re-derived split
    of a table file, the rows of the file that split holds."""

    x: np.ndarray
    y: np.ndarray
    source: str
    split: str  # train, val, test or "all"
    rows: np.ndarray | None = None

    of: int | None = None  # the split's size when only its first samples are used (--limit)

    def head(self, n: int) -> Samples:
        """The first ``n`` samples (``of`` records how many the split has)."""
        rows = None if self.rows is None else self.rows[:n]
        return Samples(self.x[:n], self.y[:n], self.source, self.split, rows, len(self.y))

    def to_dict(self) -> dict[str, Any]:
        """The ``data`` field of a command's ``--json`` output."""
        d: dict[str, Any] = {"source": self.source, "split": self.split, "samples": len(self.y)}
        if self.of is not None:
            d["of"] = self.of
        return d

    def describe(self) -> str:
        """The one line a command prints about the samples it used."""
        count = f"{len(self.y)} of {self.of}" if self.of is not None else f"{len(self.y)}"
        return f"data: {self.source}, split {self.split}, {count} samples"


def model_samples(graph: Any, source: str, *, labels: bool = True) -> Samples:
    """The samples of SOURCE[:split] for ``graph``, as its training run saw them (module docstring).

    The samples pass `check_model_samples` (the model's input width and output count) before and
    after the standardisation (which can overflow float32). ``labels=False`` for samples whose
    labels are not used (calibration): they are not checked against the model's outputs.
    """
    name, split = parse_source(source)
    pre = graph.meta.get("preprocess") or {}
    rows: np.ndarray | None
    if not is_file_source(name):
        x, y, rows, split, stats = _dataset_rows(name, split, pre)
        where = source
    else:
        x, y, rows, split = _file_rows(graph, name, split, pre)
        where = name
    x, y = check_model_samples(graph, x, y, source=where, x_dtype=np.float64, labels=labels)
    if not is_file_source(name):
        if pre.get("mean") is None:
            pre = stats  # a model without statistics: the split's own, as the training run would fit them
        elif (
            np.shape(pre["mean"]) != np.shape(stats["mean"])
            or np.asarray(pre.get("std")).shape != np.shape(stats["std"])
            or not np.allclose(stats["mean"], pre["mean"])
            or not np.allclose(stats["std"], pre["std"])
        ):
            raise DataError(
                f"{name}: standardisation differs from the model's training data",
                hint="was the model trained on another dataset?",
            )
    x, y = check_model_samples(graph, apply_preprocess(x, pre), y, source=f"{where} (standardised)", labels=labels)
    return Samples(x, y, name, split, rows)


def _dataset_rows(
    name: str,
    split: str | None,
    pre: dict[str, Any],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str, dict[str, Any]]:
    """A bundled data set's split, re-derived with the model's seed and fractions, and the
    standardisation of that split's training rows."""
    split = split or "test"
    x, y = load_builtin_raw(name)
    kw = {k: pre[k] for k in ("seed", "test_size", "val_size") if pre.get(k) is not None}
    rest, val, test, _ = split_indices(
        y, seed=kw.get("seed", 0), test_size=kw.get("test_size", 0.3), val_size=kw.get("val_size", 0.1), name=name
    )
    rows = {"train": rest, "val": val, "test": test}[split]
    mean, std = standardisation(x[rest])
    if not len(rows):
        raise DataError(
            f"{name}:{split}: the model's training run drew no {split} split (size 0)", hint="evaluate another split"
        )
    return x[rows], y[rows], rows, split, {"mean": mean.tolist(), "std": std.tolist()}


def _file_rows(
    graph: Any,
    name: str,
    split: str | None,
    pre: dict[str, Any],
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, str]:
    """A file's samples for ``split`` (see the module docstring for what each split means)."""
    read = {k: pre[k] for k in READ_OPTIONS if pre.get(k) is not None}
    fd = read_data_file(name, class_names=graph.meta.get("class_names"), infer_class_names=False, **read)
    role = _training_role(Path(name), pre)
    drawn = _training_split(fd, role, pre) if role is not None else None
    if split is None:
        if fd.layout == "table":
            x, y = fd.parts["all"]
            return x, y, np.arange(len(y)), "all"
        split = "test"
    if drawn is not None:
        rows = drawn.get(split)
        if rows is None or not len(rows):
            raise DataError(
                f"{name}:{split}: the model's training run took no {split} samples from this file "
                f"({_where_split_came_from(pre, split)})",
                hint=f"evaluate {name} whole (--data {name}), or another split",
            )
        # Row numbers count in the part they were drawn from: the table, or the predefined split
        # (a validation share held out of x_train counts in x_train).
        part = "all" if fd.layout == "table" else (split if split in fd.parts else "train")
        x, y = fd.parts[part]
        return x[rows], y[rows], rows, split
    if fd.layout == "splits" and split in fd.parts:
        x, y = fd.parts[split]
        return x, y, np.arange(len(y)), split
    if fd.layout == "splits":
        raise DataError(
            f"{name}:{split}: the file has no x_{split}/y_{split} arrays, and the model was not "
            f"trained on it (its training data: {pre.get('source', 'unknown')})",
            hint=f"use {name}:train or {name}:test",
        )
    raise DataError(
        f"{name}:{split}: {name} is not the file this model was trained on "
        f"({pre.get('source', 'no training file recorded')}), so it has no {split} split to re-derive",
        hint=f"evaluate a new file whole: --data {name}",
    )


def model_split_source(pre: dict[str, Any], split: str) -> str | None:
    """The source naming the model's own ``split`` (``digits:test``, ``data.npz:test``, the test
    file of separate files), from its ``meta["preprocess"]``; None when nothing is recorded."""
    files = pre.get("files")
    if isinstance(files, dict):
        f = files.get(split) or (files.get("train") if split in ("train", "val") else None)
        return f"{f['path']}:{split}" if isinstance(f, dict) and isinstance(f.get("path"), str) else None
    src = pre.get("source")
    return f"{src}:{split}" if isinstance(src, str) and src else None


def _training_role(path: Path, pre: dict[str, Any]) -> str | None:
    """What ``path`` was in the model's training run: ``"source"`` (the one data file), a split
    name (one of separate files), or None (not a training file). Recognised by SHA-256; a model
    written before the digest was stored is matched by path."""
    files = pre.get("files")
    if isinstance(files, dict):
        digest = file_sha256(path)
        for role in SPLITS:
            f = files.get(role)
            if isinstance(f, dict) and f.get("sha256") == digest:
                return role
        return None
    src = pre.get("source")
    if not isinstance(src, str) or not is_file_source(src):
        return None
    if isinstance(pre.get("sha256"), str):
        return "source" if pre["sha256"] == file_sha256(path) else None
    try:
        return "source" if Path(src).resolve() == path.resolve() else None
    except OSError:
        return None


def _training_split(fd: FileData, role: str, pre: dict[str, Any]) -> dict[str, np.ndarray]:
    """The rows of ``fd`` in each split of the model's training run, re-derived and verified."""
    seed = int(pre.get("seed", 0))
    val_size = float(pre.get("val_size", 0.1) or 0.0)
    if role in SPLITS:  # one of separate files: all its rows, but the train file lost its validation share
        y = fd.parts["all"][1]
        rows = np.arange(len(y))
        if role != "train" or "val" in (pre.get("files") or {}):
            out = {role: rows}
        else:
            stratify = bool(np.bincount(y).min() >= 2)
            rest, val = split_off(rows, y, val_size, seed, str(fd.path), "validation", stratify, [])
            out = {"train": rest, "val": val}
    elif fd.layout == "splits":
        out = {p: np.arange(len(fd.parts[p][1])) for p in fd.parts}
        if "val" not in fd.parts:
            ty = fd.parts["train"][1]
            rest, val = split_off(
                np.arange(len(ty)), ty, val_size, seed, str(fd.path), "validation", bool(np.bincount(ty).min() >= 2), []
            )
            out["train"], out["val"] = rest, val
    else:
        y = fd.parts["all"][1]
        test_size = float(pre.get("test_size", 0.3) or 0.0)
        rest, val, test, _ = split_indices(y, seed=seed, test_size=test_size, val_size=val_size, name=str(fd.path))
        out = {"train": rest, "val": val, "test": test}
        want = pre.get("split_sha256")
        if isinstance(want, str) and want != rows_digest(out):
            raise DataError(
                f"{fd.path}: re-deriving the model's split gave other rows than its training run",
                hint="the split depends on scikit-learn's train_test_split; was the model trained "
                "with another scikit-learn version?",
            )
    samples = pre.get("samples")
    if isinstance(samples, dict) and role == "source":
        for p, rows in out.items():
            if isinstance(samples.get(p), int) and samples[p] != len(rows):
                raise DataError(
                    f"{fd.path}: its {p} split has {len(rows)} samples but the model's training run had {samples[p]}",
                    hint="the file or the reading options changed since training",
                )
    return out


def _where_split_came_from(pre: dict[str, Any], split: str) -> str:
    files = pre.get("files")
    if isinstance(files, dict) and isinstance(files.get(split), dict):
        return f"its {split} samples came from {files[split].get('path')}"
    return f"training data: {pre.get('source', 'unknown')}"

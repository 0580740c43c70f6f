"""Splits and standardisation: train/val/test row numbers, drawn reproducibly, and the `Dataset`.

Standardisation statistics are fitted on the training split only and travel with the model (see
`Dataset.preprocess`) so evaluation, export and on-device code see the same features. A split is
a function of the labels, the seed and the fractions only (`split_indices`), which is what lets a
later command re-derive exactly the rows a training run held out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .data_checks import check_samples
from .errors import DataError

BUILTIN = ("digits", "iris", "wine", "breast_cancer")


@dataclass
class Split:
    """One part of a data set: standardised float32 samples ``x`` and their class ids ``y``."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class Dataset:
    """A data set split into train, val and test (None when empty), standardised with the
    training split's float32 ``mean`` and ``std`` per value."""

    name: str
    train: Split
    val: Split | None
    test: Split | None
    n_classes: int
    mean: np.ndarray
    std: np.ndarray
    spec: dict[str, Any] = field(default_factory=dict)  # how to rebuild this exact split
    notes: list[str] = field(default_factory=list)  # what the split did differently (not stored in models)
    #: Row numbers of each split in its source (train/val/test); for a file, its rows (or windows).
    indices: dict[str, np.ndarray] = field(default_factory=dict)
    #: Names of the classes 0..n_classes-1 when the labels were text ("walk", "run"), else None.
    class_names: list[str] | None = None

    @property
    def n_features(self) -> int:
        """Values per sample (the width of a flat row; H * W * C for images)."""
        return int(np.prod(self.train.x.shape[1:]))

    def preprocess(self) -> dict[str, Any]:
        """What a model stores to standardise its inputs as this split did: the per-feature ``mean``
        and ``std`` (as lists) and the spec that rebuilds the split."""
        return {"mean": self.mean.tolist(), "std": self.std.tolist(), **self.spec}

    def split(self, name: str) -> Split:
        """The split called ``name`` (train, val or test); DataError when the dataset has no such
        split."""
        s = getattr(self, name, None) if name in ("train", "val", "test") else None
        if s is None:
            raise DataError(f"dataset {self.name!r} has no {name!r} split", hint="use train, val or test")
        return s


def standardisation(train_x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) per value of training rows, float32; a constant value gets std 1 (centred only)."""
    mean = train_x.mean(axis=0)
    std = train_x.std(axis=0)
    std[std < 1e-8] = 1.0  # constant features (digits has a few) pass through centred
    return mean.astype(np.float32), std.astype(np.float32)


def split_and_standardise(
    name: str,
    x: np.ndarray,
    y: np.ndarray,
    *,
    seed: int = 0,
    test_size: float = 0.3,
    val_size: float = 0.1,
    n_classes: int | None = None,
    spec: dict[str, Any] | None = None,
    class_names: list[str] | None = None,
) -> Dataset:
    """Train/val/test split (stratified when every class can be), standardised with training statistics.

    The samples pass `check_samples` first. A split that cannot be stratified (a class with fewer
    than 2 samples, or fewer test/val samples than classes: 40 samples of 10 classes) falls back
    to a plain random split and says so in `Dataset.notes`; too few samples for the requested
    split sizes raise `DataError`. The row numbers of each split are `Dataset.indices`; the same
    samples, seed and sizes always give the same indices (`split_indices`), which is how a later
    ``FILE:test`` finds exactly the samples this split held out.
    """
    check_split_sizes(test_size, val_size)
    # Shaped samples (images, windows) are standardised per value, as flat rows, and keep their shape.
    sample = tuple(np.shape(x)[1:])
    x, y = check_samples(
        x, y, source=name, n_outputs=n_classes, x_dtype=np.float64, sample_shape=sample if len(sample) > 1 else None
    )
    k = n_classes if n_classes is not None else int(y.max()) + 1
    rest, val, test, notes = split_indices(y, seed=seed, test_size=test_size, val_size=val_size, name=name)
    spec = {**(spec or {}), "seed": seed, "test_size": test_size, "val_size": val_size}
    return _assemble(
        name,
        {"train": (x[rest], y[rest]), "val": (x[val], y[val]), "test": (x[test], y[test])},
        sample,
        k,
        spec,
        notes,
        {"train": rest, "val": val, "test": test},
        class_names,
    )


def check_split_sizes(test_size: Any, val_size: Any) -> None:
    """Refuse split fractions that are not numbers in [0, 1) or that sum to 1 or more (`DataError`)."""
    for key, v in (("test_size", test_size), ("val_size", val_size)):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise DataError(
                f"split size {key} = {v!r} is not a number",
                hint="set test_size and val_size in [data] to fractions such as 0.3",
            )
    if not (0 <= test_size < 1 and 0 <= val_size < 1 and test_size + val_size < 1):
        raise DataError(f"split sizes test={test_size} val={val_size} must be in [0, 1) and sum below 1")


def split_indices(
    y: np.ndarray,
    *,
    seed: int,
    test_size: float,
    val_size: float,
    name: str = "data",
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """(train, val, test) row numbers of labels ``y`` and the notes on what could not be stratified.

    Deterministic: a function of ``y``, ``seed`` and the two fractions only (scikit-learn's
    ``train_test_split`` with ``random_state=seed``). ``val_size`` is a share of the whole data
    set, rescaled to what the test split left.
    """
    notes: list[str] = []
    # Stratify only when every class id 0..max has 2 samples (the rule so far, so valid data sets
    # split exactly as before); _split also needs enough samples on each side for every class.
    may_stratify = bool(np.bincount(y).min() >= 2)
    if not may_stratify:
        notes.append("split not stratified: a class has fewer than 2 samples")
    idx = np.arange(len(y))
    rest, test = split_off(idx, y, test_size, seed, name, "test", may_stratify, notes)
    rest, val = split_off(rest, y, val_size / (1 - test_size), seed, name, "validation", may_stratify, notes)
    return rest, val, test, notes


def build_dataset(
    name: str,
    parts: dict[str, tuple[np.ndarray, np.ndarray]],
    *,
    seed: int = 0,
    val_size: float = 0.1,
    n_classes: int | None = None,
    spec: dict[str, Any] | None = None,
    class_names: list[str] | None = None,
) -> Dataset:
    """A `Dataset` from predefined splits: ``parts`` has ``train`` and optionally ``val`` and ``test``.

    Without a ``val`` part, a ``val_size`` share of the training part is held out for validation
    (the same deterministic rule as `split_indices`; its row numbers are ``indices["val"]``,
    counted in the training part). Standardisation statistics come from the training samples.
    """
    check_split_sizes(0.0, val_size)
    checked: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    sample = tuple(np.shape(parts["train"][0])[1:])
    for part, (px, py) in parts.items():
        shape = tuple(np.shape(px)[1:])
        checked[part] = check_samples(
            px,
            py,
            source=f"{name} ({part})",
            n_outputs=n_classes,
            x_dtype=np.float64,
            sample_shape=sample if len(shape) > 1 else None,
        )
    k = n_classes if n_classes is not None else max(int(py.max()) for _, py in checked.values()) + 1
    notes: list[str] = []
    tx, ty = checked["train"]
    indices: dict[str, np.ndarray] = {p: np.arange(len(py)) for p, (_, py) in checked.items()}
    if "val" not in checked:
        may_stratify = bool(np.bincount(ty).min() >= 2)
        rest, val = split_off(np.arange(len(ty)), ty, val_size, seed, name, "validation", may_stratify, notes)
        checked["train"], checked["val"] = (tx[rest], ty[rest]), (tx[val], ty[val])
        indices["train"], indices["val"] = rest, val
    spec = {**(spec or {}), "seed": seed, "val_size": val_size}
    return _assemble(name, checked, sample, k, spec, notes, indices, class_names)


def _assemble(
    name: str,
    parts: dict[str, tuple[np.ndarray, np.ndarray]],
    sample: tuple[int, ...],
    k: int,
    spec: dict[str, Any],
    notes: list[str],
    indices: dict[str, np.ndarray],
    class_names: list[str] | None,
) -> Dataset:
    """Standardise every part with the training part's statistics; empty parts become None."""
    mean, std = standardisation(parts["train"][0])

    def mk(part: str) -> Split | None:
        if part not in parts or not len(parts[part][1]):
            return None
        px, py = parts[part]
        return Split(((px - mean) / std).astype(np.float32).reshape(len(py), *sample), py)

    spec = {**spec, "samples": {p: len(parts[p][1]) if p in parts else 0 for p in ("train", "val", "test")}}
    return Dataset(
        name,
        mk("train"),  # type: ignore[arg-type]  # Dataset.train is a Split; mk is None only for an empty part
        mk("val"),
        mk("test"),
        k,
        mean,
        std,
        spec,
        notes,
        {p: np.asarray(i) for p, i in indices.items()},
        class_names,
    )


def split_off(
    idx: np.ndarray, y: np.ndarray, frac: float, seed: int, name: str, part: str, may_stratify: bool, notes: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Split ``idx`` into (kept, taken), a ``frac`` share taken; stratified by ``y`` when possible.

    Sizes follow scikit-learn's rule (taken = ceil(frac * n)); at least one sample must be kept.
    """
    from sklearn.model_selection import train_test_split

    if frac <= 0:
        return idx, idx[:0]
    n = len(idx)
    n_take = int(np.ceil(frac * n))
    if n - n_take < 1:
        raise DataError(
            f"{name}: {n} sample{' is' if n == 1 else 's are'} too few to split off a {part} set "
            f"({frac:.0%}) and keep samples for training",
            hint="add samples, or set test_size = 0 and val_size = 0 in [data]",
        )
    labels = y[idx]
    counts = np.bincount(labels)
    classes = int(np.count_nonzero(counts))
    # What scikit-learn's stratified split needs: 2 samples per class, all classes on each side.
    stratify = may_stratify and counts.min() >= 2 and min(n_take, n - n_take) >= classes
    if may_stratify and not stratify:
        notes.append(
            f"{part} split not stratified: {n} samples of {classes} classes are too few "
            f"to put every class on both sides"
        )
    return tuple(train_test_split(idx, test_size=frac, random_state=seed, stratify=labels if stratify else None))


def load_builtin_raw(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The raw features and labels of a bundled scikit-learn data set (no split, no scaling)."""
    from sklearn import datasets as skd

    loaders = {
        "digits": skd.load_digits,
        "iris": skd.load_iris,
        "wine": skd.load_wine,
        "breast_cancer": skd.load_breast_cancer,
    }
    if name not in loaders:
        raise DataError(f"unknown dataset {name!r}", hint=f"bundled: {', '.join(BUILTIN)}, or a .npz/.csv path")
    b = loaders[name]()
    return b.data, b.target


def load_builtin(name: str, **kw: Any) -> Dataset:
    """A bundled data set by name, split and standardised (``kw``: `split_and_standardise`'s options)."""
    x, y = load_builtin_raw(name)
    return split_and_standardise(name, x, y, spec={"source": name, "layout": "dataset"}, **kw)


def apply_preprocess(x: np.ndarray, preprocess: dict[str, Any] | None) -> np.ndarray:
    """Standardise raw features with statistics stored in a model: ``(float32(x) - mean) / std``
    in float32 arithmetic."""
    if not preprocess:
        return np.asarray(x, dtype=np.float32)
    mean = np.asarray(preprocess["mean"], dtype=np.float32)
    std = np.asarray(preprocess["std"], dtype=np.float32)
    if x.shape[1] != mean.shape[0]:
        raise DataError(f"data has {x.shape[1]} features but the model was trained on {mean.shape[0]}")
    # float32 throughout, whatever the input's dtype: the exported C model's raw-input entry point
    # (et_model_input_from_raw) computes exactly this. Overflow is not warned about here: callers
    # check the result (check_samples refuses inf).
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        return (np.asarray(x, np.float32) - mean) / std

"""Run a training config end to end: data, model, techniques, training, evaluation."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .config import TrainConfig
from .data import BUILTIN, Dataset
from .data_checks import model_data_sizes
from .data_sources import load_dataset
from .engine.optim import make_optimizer
from .engine.trainer import History, accuracy, fit
from .errors import ConfigError
from .graph import Graph
from .layers import Sequential
from .techniques import apply_techniques


@dataclass
class TrainResult:
    """What `train_from_config` produced: the trained graph (its meta carries the preprocessing,
    history and test accuracy), the data it was trained on, the history, the test accuracy (None
    without a test split), the techniques' reports and warnings."""

    graph: Graph
    data: Dataset
    history: History
    test_accuracy: float | None
    reports: dict[str, Any]
    warnings: list[str] = field(default_factory=list)  # printed by the CLI as "warning: ..." lines


def train_from_config(cfg: TrainConfig, *, seed: int | None = None, progress: bool = False) -> TrainResult:
    """Load and split the config's data (checked by `check_samples`), build, train and evaluate the model.

    Refused before any training: data `check_samples` refuses, too few samples for the split, and a
    last layer with fewer outputs than the data has classes (`ConfigError`).
    """
    seed = cfg.seed if seed is None else seed
    data = load_config_data(cfg)
    warnings = validation_warnings(data, cfg.early_stopping)
    graph = Sequential(cfg.layers, cfg.input_shape or sample_shape(data), seed=seed, name=cfg.name)
    check_outputs_cover_classes(graph, data)
    opt_kw = {k: v for k, v in cfg.optimizer.items() if k != "name"}
    optimizer = make_optimizer(cfg.optimizer["name"], **opt_kw)
    plan = apply_techniques(graph, cfg.techniques, data=data, seed=seed)
    # A technique's own trainer replaces `fit` and takes the same arguments.
    train = plan.trainer_fit or fit
    history = train(
        graph,
        data,
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        optimizer=optimizer,
        loss=plan.loss or cfg.loss,
        seed=seed,
        callbacks=plan.callbacks,
        early_stopping=cfg.early_stopping,
        progress=progress,
    )
    graph = plan.finalize(graph) if plan.finalize else graph
    graph.meta["preprocess"] = data.preprocess()
    graph.meta["n_classes"] = data.n_classes
    if data.class_names is not None:
        graph.meta["class_names"] = list(data.class_names)
    graph.meta["history"] = history.to_dict()
    test_acc = accuracy(graph, data.test) if data.test is not None else None
    if test_acc is not None:
        graph.meta["test_accuracy"] = test_acc
    reports = dict(plan.reports)
    if data.notes:
        reports["data notes"] = "; ".join(data.notes)
    return TrainResult(graph, data, history, test_acc, reports, warnings)


#: Fewer validation samples of a class than this make early stopping's choice of epoch noise:
#: one sample more or less right moves the accuracy by a large step.
MIN_VAL_PER_CLASS = 5


def validation_warnings(data: Dataset, early_stopping: int | None) -> list[str]:
    """What makes early stopping untrustworthy on ``data``: no validation split, or one with fewer
    than `MIN_VAL_PER_CLASS` samples of some class."""
    if not early_stopping:
        return []
    if data.val is None:
        return [
            f"early_stopping = {early_stopping} has no validation split to watch (val_size = 0): "
            "training runs every epoch"
        ]
    counts = np.bincount(data.val.y, minlength=data.n_classes)
    worst = int(np.argmin(counts))
    if counts[worst] >= MIN_VAL_PER_CLASS:
        return []
    name = data.class_names[worst] if data.class_names and worst < len(data.class_names) else str(worst)
    return [
        f"the validation split has {int(counts[worst])} sample{'' if counts[worst] == 1 else 's'} of class "
        f"{name} ({len(data.val)} in all; fewer than {MIN_VAL_PER_CLASS} per class): early stopping picks "
        "its epoch on noise; raise val_size or add data"
    ]


def load_config_data(cfg: TrainConfig) -> Dataset:
    """The config's [data], split and standardised; file paths relative to the config's directory."""
    d = cfg.data
    files: dict[str, Any] = {k: data_path(d[k], cfg.path) for k in ("train", "val", "test") if k in d}
    opts: dict[str, Any] = {
        k: d[k] for k in ("test_size", "val_size", "label_column", "delimiter", "window", "stride") if k in d
    }
    source = data_path(d["source"], cfg.path) if "source" in d else None
    return load_dataset(source, seed=d.get("split_seed", 0), **files, **opts)


def data_path(value: str, config_path: Path | None) -> str:
    """A [data] file as the config means it: a relative path is relative to the config file's
    directory (so a config and its data move together), an absolute one and a bundled name stay.
    The result is absolute, so the model records where its data is from any working directory."""
    if value in BUILTIN or ("/" not in value and "\\" not in value and not Path(value).suffix):
        return value  # a data set name (an unknown one is refused by name, not as a path)
    p = Path(value).expanduser()
    if not p.is_absolute() and config_path is not None:
        p = Path(config_path).parent / p
    return os.path.abspath(p)


def sample_shape(data: Dataset) -> tuple[int, ...]:
    """The shape of one sample of ``data``: (features,) for flat rows, (H, W, C) / (L, C) for shaped ones."""
    return tuple(int(d) for d in data.train.x.shape[1:])


def check_outputs_cover_classes(graph: Graph, data: Dataset) -> None:
    """Refuse a model whose last layer has fewer outputs than ``data`` has classes.

    Labels index the model's outputs; a class without an output cannot be learned, and its label
    would index past the logits, so this is a configuration error, caught before training.
    """
    n_outputs = model_data_sizes(graph)[1]
    if n_outputs is not None and n_outputs < data.n_classes:
        raise ConfigError(
            f"{data.name}: the data has {data.n_classes} classes (labels 0..{data.n_classes - 1}) "
            f"but the model's last layer has {n_outputs} outputs",
            hint=f"give the last layer units = {data.n_classes} (one output per class)",
        )

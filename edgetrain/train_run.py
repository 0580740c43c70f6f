"""Run a training config end to end: data, model, techniques, training, evaluation."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .config import TrainConfig
from .data import Dataset, load_data
from .data_checks import model_data_sizes
from .engine.optim import make_optimizer
from .engine.trainer import History, accuracy, fit
from .errors import ConfigError
from .graph import Graph
from .layers import Sequential
from .techniques import apply_techniques


@dataclass
class TrainResult:
    graph: Graph
    data: Dataset
    history: History
    test_accuracy: float | None
    reports: dict[str, Any]


def train_from_config(cfg: TrainConfig, *, seed: int | None = None, progress: bool = False) -> TrainResult:
    """Load and split the config's data (checked by `check_samples`), build, train and evaluate the model.

    Refused before any training: data `check_samples` refuses, too few samples for the split, and a
    last layer with fewer outputs than the data has classes (`ConfigError`).
    """
    seed = cfg.seed if seed is None else seed
    split_opts = {k: cfg.data[k] for k in ("test_size", "val_size") if k in cfg.data}
    data = load_data(str(cfg.data["source"]), seed=cfg.data.get("split_seed", 0), **split_opts)
    graph = Sequential(cfg.layers, cfg.input_shape or sample_shape(data), seed=seed, name=cfg.name)
    check_outputs_cover_classes(graph, data)
    opt_kw = {k: v for k, v in cfg.optimizer.items() if k != "name"}
    optimizer = make_optimizer(cfg.optimizer["name"], **opt_kw)
    plan = apply_techniques(graph, cfg.techniques, data=data, seed=seed)
    history = plan.trainer_fit(graph, data) if plan.trainer_fit else fit(
        graph, data, epochs=cfg.epochs, batch_size=cfg.batch_size, optimizer=optimizer, loss=plan.loss or cfg.loss,
        seed=seed, callbacks=plan.callbacks, early_stopping=cfg.early_stopping, progress=progress)
    graph = plan.finalize(graph) if plan.finalize else graph
    graph.meta["preprocess"] = data.preprocess()
    graph.meta["n_classes"] = data.n_classes
    graph.meta["history"] = history.to_dict()
    test_acc = accuracy(graph, data.test) if data.test is not None else None
    if test_acc is not None:
        graph.meta["test_accuracy"] = test_acc
    reports = dict(plan.reports)
    if data.notes:
        reports["data notes"] = "; ".join(data.notes)
    return TrainResult(graph, data, history, test_acc, reports)


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
            hint=f"give the last layer units = {data.n_classes} (one output per class)")

"""Run a training config end to end: data, model, techniques, training, evaluation."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .config import TrainConfig
from .data import Dataset, load_data
from .engine.optim import make_optimizer
from .engine.trainer import History, accuracy, fit
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
    seed = cfg.seed if seed is None else seed
    split_opts = {k: cfg.data[k] for k in ("test_size", "val_size") if k in cfg.data}
    data = load_data(str(cfg.data["source"]), seed=cfg.data.get("split_seed", 0), **split_opts)
    graph = Sequential(cfg.layers, data.n_features, seed=seed, name=cfg.name)
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
    return TrainResult(graph, data, history, test_acc, plan.reports)

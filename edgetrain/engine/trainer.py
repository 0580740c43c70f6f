"""The training loop: mini-batches, validation, early stopping, callbacks, progress, history.

Techniques hook in as callbacks (after a step, after an epoch) or replace the step entirely
(`Trainer.train_step` can be overridden, as a gradient-free trainer needs).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from ..data import Dataset, Split
from ..data_checks import check_model_samples
from ..errors import ConfigError, DataError
from ..graph import Graph
from .autodiff import BackwardSchedule, derive_backward
from .compiled import CompiledStep
from .executor import backward, check_input, forward, predict
from .losses import CrossEntropy, Loss, get_loss
from .optim import SGD, Optimizer, make_optimizer


@dataclass
class History:
    """Per-epoch figures (``loss``, ``train_acc``, ``val_acc``, ``val_loss``) and how training ended.

    ``best_epoch`` (1-based) is the epoch of the best validation accuracy seen while early
    stopping watched; when training stopped early the model's weights are restored to it
    (`restored_epoch`), otherwise the weights are the last epoch's.
    """

    epochs: list[dict[str, float]] = field(default_factory=list)
    stopped_early: bool = False
    best_epoch: int | None = None
    seconds: float = 0.0

    def metric(self, key: str) -> list[float]:
        """The values of ``key`` over the epochs that recorded it, in order."""
        return [e[key] for e in self.epochs if key in e]

    @property
    def restored_epoch(self) -> int | None:
        """The epoch whose weights the model holds after early stopping restored them, else None."""
        return self.best_epoch if self.stopped_early else None

    @property
    def final(self) -> dict[str, float]:
        """The figures of the epoch whose weights the model ends with (the restored one, or the last)."""
        if not self.epochs:
            return {}
        at = self.restored_epoch
        return self.epochs[at - 1] if at is not None and 0 < at <= len(self.epochs) else self.epochs[-1]

    def to_dict(self) -> dict[str, Any]:
        """The history as a JSON-ready dict: the epochs, how training ended and how long it took."""
        return {
            "epochs": self.epochs,
            "stopped_early": self.stopped_early,
            "best_epoch": self.best_epoch,
            "restored_epoch": self.restored_epoch,
            "seconds": self.seconds,
        }


class Callback:
    """Hooks into training. Set `trainer.stop = True` to end training after this epoch."""

    def on_train_begin(self, trainer: Trainer) -> None:
        """Called once before the first epoch."""

    def on_step_end(self, trainer: Trainer, step: int, loss: float) -> None:
        """Called after each optimizer step with the step's number (from 0, counted over all epochs)
        and that batch's loss."""

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        """Called after each epoch (``epoch`` from 0) with the figures recorded for it (``logs``,
        whose ``epoch`` is 1-based)."""

    def on_train_end(self, trainer: Trainer) -> None:
        """Called once when training ends, after any restoration of the best weights."""


_VAL_LOSS = CrossEntropy()


def accuracy(graph: Graph, split: Split) -> float:
    """Fraction of ``split``'s samples whose arg-max prediction is the label."""
    return float((predict(graph, split.x).argmax(axis=1) == split.y).mean())


class Trainer:
    """Mini-batch training of ``graph``: every epoch shuffles the samples (``seed``), steps the
    optimizer (default SGD, lr 0.05, momentum 0.9) on each batch and calls the callbacks. With
    ``early_stopping`` (a patience in epochs) and validation data, training stops once validation
    accuracy has not improved for that many epochs and the best epoch's weights are restored."""

    def __init__(
        self,
        graph: Graph,
        optimizer: Optimizer | None = None,
        loss: Loss | str = "cross_entropy",
        *,
        batch_size: int = 32,
        seed: int = 0,
        callbacks: Iterable[Callback] = (),
        early_stopping: int | None = None,
        progress: bool = True,
        threads: int = 1,
        compiled: bool = True,
    ) -> None:
        """`compiled=False` runs each step through the reference `executor.forward`/`backward`
        instead of a `CompiledStep`: the same results, bit for bit, slower."""
        if batch_size < 1:
            raise ConfigError(f"batch size must be at least 1, got {batch_size}")
        self.graph = graph
        self.optimizer = optimizer or SGD(0.05, momentum=0.9)
        self.loss = get_loss(loss) if isinstance(loss, str) else loss
        self.batch_size = batch_size
        self.rng = np.random.default_rng(seed)
        self.callbacks = list(callbacks)
        self.early_stopping = early_stopping
        self.progress = progress
        self.threads = threads
        self.schedule: BackwardSchedule = derive_backward(graph)
        self.compiled = CompiledStep(graph, self.schedule, self.loss) if compiled else None
        self.history = History()
        self.stop = False
        self.epoch = 0
        self.total_epochs = 0

    def train_step(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """Run one forward, backward and optimizer step on the batch ``xb``, ``yb`` and return its
        loss."""
        if self.compiled is not None:
            loss, grads = self.compiled(xb, yb)
        else:
            outs, tape = forward(self.graph, xb, self.schedule)
            out = self.graph.output_name
            loss, grad = self.loss(outs[out], yb, xb)
            grads = backward(self.graph, self.schedule, tape, {out: grad})
        self.optimizer.step(self.graph, grads)
        return loss

    def _check_split(self, split: Split, what: str) -> None:
        """The samples every command checks (`check_samples`): with class labels (cross-entropy)
        against the model's outputs; with regression targets only for finite values."""
        if isinstance(self.loss, CrossEntropy):
            # check_input has checked the sample shape; the value checks see one row per sample.
            x = np.reshape(split.x, (len(split.x), -1)) if np.ndim(split.x) > 2 else split.x
            check_model_samples(self.graph, x, split.y, source=what)
        elif not (np.all(np.isfinite(split.x)) and np.all(np.isfinite(split.y))):
            raise DataError(f"{what} holds NaN or infinite values", hint="clean or impute the data before training")

    def fit(self, train: Split, val: Split | None = None, epochs: int = 10) -> History:
        """Train on ``train`` for ``epochs`` epochs, evaluating on ``val`` when given (early
        stopping restores the best epoch's weights), and return the History; ConfigError for fewer
        than one epoch, DataError for data the model cannot train on or when the loss diverges."""
        # Small matrices train fastest on one BLAS thread (thread start-up and contention cost more
        # than the work they share), and a fixed thread count keeps results bit-identical everywhere.
        with threadpool_limits(limits=self.threads):
            return self._fit(train, val, epochs)

    def _fit(self, train: Split, val: Split | None, epochs: int) -> History:
        check_input(self.graph, train.x)
        for split, what in ((train, "training data"), (val, "validation data")):
            if split is not None:
                self._check_split(split, what)
        if epochs < 1:
            raise ConfigError(f"epochs must be at least 1, got {epochs}")
        self.total_epochs = epochs
        best, best_state, waited = -np.inf, None, 0
        t0 = time.perf_counter()
        for cb in self.callbacks:
            cb.on_train_begin(self)
        n = len(train)
        steps_per_epoch = -(-n // self.batch_size)
        with _progress(self.progress, epochs * steps_per_epoch) as bar:
            for epoch in range(epochs):
                self.epoch = epoch
                order = self.rng.permutation(n)
                losses = []
                for s in range(steps_per_epoch):
                    idx = order[s * self.batch_size : (s + 1) * self.batch_size]
                    loss = self.train_step(train.x[idx], train.y[idx])
                    if not np.isfinite(loss):
                        raise DataError(
                            f"training diverged: loss became {loss} in epoch {epoch + 1}",
                            hint="lower the learning rate",
                        )
                    losses.append(loss)
                    for cb in self.callbacks:
                        cb.on_step_end(self, epoch * steps_per_epoch + s, loss)
                    bar(1)
                logs = {"epoch": epoch + 1, "loss": float(np.mean(losses))}
                if isinstance(self.loss, CrossEntropy) or hasattr(self.loss, "teacher"):
                    logs["train_acc"] = accuracy(self.graph, train)
                    if val is not None:
                        logits = predict(self.graph, val.x)
                        logs["val_acc"] = float((logits.argmax(axis=1) == val.y).mean())
                        # Plain cross-entropy of the validation logits (a distillation loss needs
                        # its teacher's outputs, so the figure stays the task loss for every run).
                        logs["val_loss"] = float(_VAL_LOSS(logits, val.y)[0])
                self.history.epochs.append(logs)
                for cb in self.callbacks:
                    cb.on_epoch_end(self, epoch, logs)
                bar(0, description=_describe(logs))
                if self.early_stopping and val is not None and "val_acc" in logs:
                    if logs["val_acc"] > best:
                        best, waited, self.history.best_epoch = logs["val_acc"], 0, epoch + 1
                        best_state = {
                            k: (p.value.copy(), None if p.codebook is None else p.codebook.copy())
                            for k, p in self.graph.params.items()
                        }
                    else:
                        waited += 1
                        if waited >= self.early_stopping:
                            self.history.stopped_early = True
                            self.stop = True
                if self.stop:
                    break
        if best_state is not None and self.history.stopped_early:
            for k, (v, cbk) in best_state.items():
                self.graph.params[k].value = v
                if cbk is not None:
                    self.graph.params[k].codebook = cbk
        for cb in self.callbacks:
            cb.on_train_end(self)
        self.history.seconds = time.perf_counter() - t0
        return self.history


def _describe(logs: dict[str, float]) -> str:
    parts = [f"epoch {logs['epoch']}", f"loss {logs['loss']:.4f}"]
    if "val_acc" in logs:
        parts.append(f"val {100 * logs['val_acc']:.1f}%")
    return "  ".join(parts)


class _progress:
    """A rich progress bar when enabled (and on a terminal); a no-op otherwise."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled, self.total = enabled, total
        self._p = None

    def __enter__(self):
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._p = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                transient=True,
            )
            self._p.__enter__()
            self._task = self._p.add_task("training", total=self.total)
        return self

    def __call__(self, advance: int, description: str | None = None) -> None:
        if self._p is not None:
            kw = {"description": description} if description else {}
            self._p.update(self._task, advance=advance, **kw)

    def __exit__(self, *exc) -> None:
        if self._p is not None:
            self._p.__exit__(*exc)


def fit(
    graph: Graph,
    data: Dataset | Split | tuple[np.ndarray, np.ndarray],
    *,
    epochs: int = 10,
    batch_size: int = 32,
    optimizer: Optimizer | str | None = None,
    loss: Loss | str = "cross_entropy",
    seed: int = 0,
    callbacks: Iterable[Callback] = (),
    early_stopping: int | None = None,
    progress: bool = False,
    val: Split | None = None,
    **optimizer_kwargs: Any,
) -> History:
    """Train `graph` in place and return its history.

    ``data`` is a `Dataset` (its train and val splits are used), a `Split`, or ``(x, y)`` arrays.
    ``optimizer`` is an `Optimizer` or a name (``"sgd"``, ``"adam"``) with keyword options.
    """
    if isinstance(data, Dataset):
        train, val = data.train, val or data.val
        # The standardisation travels with the model, so eval/export/emulate see the same features.
        graph.meta["preprocess"] = data.preprocess()
        graph.meta["n_classes"] = data.n_classes
    elif isinstance(data, Split):
        train = data
    else:
        train = Split(np.asarray(data[0], np.float32), np.asarray(data[1]))
    if isinstance(optimizer, str) or optimizer is None:
        optimizer = make_optimizer(
            optimizer or "sgd", **(optimizer_kwargs or ({"lr": 0.05, "momentum": 0.9} if optimizer is None else {}))
        )
    trainer = Trainer(
        graph,
        optimizer,
        loss,
        batch_size=batch_size,
        seed=seed,
        callbacks=callbacks,
        early_stopping=early_stopping,
        progress=progress,
    )
    history = trainer.fit(train, val, epochs)
    graph.meta.setdefault("training", {}).update(
        {
            "epochs": len(history.epochs),
            "batch_size": batch_size,
            "seed": seed,
            "optimizer": optimizer.config(),
            "loss": getattr(trainer.loss, "name", "custom"),
        }
    )
    return history

"""In-training magnitude pruning on a cubic schedule (Zhu & Gupta style), for any dense model.

    [techniques.prune]
    sparsity = 0.9    # final fraction of zero weights in each pruned layer
    start_epoch = 0   # pruning steps happen at the ends of epochs start_epoch .. end_epoch - 1
    end_epoch = 40    # default: ceil(2/3 of the training epochs); must not exceed them
    layers = [...]    # default: every trainable dense layer
    then = "freeze"   # after the schedule: "freeze" the masks, or "set" to evolve them with SET
    zeta = 0.3        # SET's replacement fraction when then = "set"

Python: ``cb = apply_prune(graph, sparsity=0.9, end_epoch=20, then="set")``; pass ``cb`` to ``fit``.

Schedule: after ``c`` completed epochs (``start < c <= end``) a layer's sparsity is
``s_c = s_f * (1 - (1 - (c - start) / (end - start))^3)`` and it keeps the ``size - round(s_c * size)``
largest-magnitude weights among those still kept (ties keep the lower flat position), so masks only
shrink and the target is hit exactly at ``c = end``. Pruned weights become 0 and lose their
optimizer state. The technique only attaches ``Param.mask``: the result is an ordinary graph.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..engine.trainer import Callback, Trainer
from ..errors import ConfigError
from ..graph import Graph, Param
from .base import TechniquePlan, register
from .sparse_set import (
    DenseCells,
    SparseEvolution,
    check_keys,
    resolve_layers,
    set_rng,
    snapshot_attachments,
    weight_of,
)

_PRUNE_KEYS = {"sparsity", "start_epoch", "end_epoch", "layers", "then", "zeta"}


def cubic_sparsity(t: float, total: float, final: float) -> float:
    """``final * (1 - (1 - t/total)^3)`` with ``t`` clipped to ``[0, total]``."""
    frac = min(max(t / total, 0.0), 1.0)
    return final * (1.0 - (1.0 - frac) ** 3)


def prune_to(p: Param, keep: int) -> np.ndarray:
    """Keep the ``keep`` largest |w| among the active entries of ``p``; return the pruned positions."""
    mask, value = p.attachment("mask").ravel().copy(), p.value.ravel().copy()  # copies: any memory layout is safe
    active = np.flatnonzero(mask)
    if keep >= active.size:
        return active[:0]
    order = np.argsort(-np.abs(value[active]), kind="stable")
    pruned = np.sort(active[order[keep:]])
    mask[pruned] = False
    value[pruned] = 0.0
    p.mask, p.value = mask.reshape(p.shape), value.reshape(p.shape)
    return pruned


class MagnitudePruning(Callback):
    """Prunes at epoch ends on the cubic schedule, then freezes the masks or hands them to SET."""

    def __init__(
        self,
        params: Sequence[Param],
        sparsity: float,
        start_epoch: int = 0,
        end_epoch: int | None = None,
        evolution: SparseEvolution | None = None,
    ) -> None:
        self.params = list(params)
        self.sparsity, self.start_epoch, self.end_epoch = float(sparsity), int(start_epoch), end_epoch
        self.evolution = evolution
        self.records: list[tuple[int, str, int]] = []  # (completed epochs, param, nnz after pruning)
        self._best = -np.inf
        self._best_state: list[tuple] | None = None

    def on_train_begin(self, trainer: Trainer) -> None:
        """Resolve the default ``end_epoch`` (ceil(2/3 of the epochs)), refuse a schedule that does not fit
        the training (ConfigError) and start SET, if it follows, after the schedule's last step."""
        if self.end_epoch is None:
            self.end_epoch = max(self.start_epoch + 1, math.ceil(2 * trainer.total_epochs / 3))
        if not self.start_epoch < self.end_epoch <= trainer.total_epochs:
            raise ConfigError(
                f"pruning schedule start_epoch={self.start_epoch} end_epoch={self.end_epoch} "
                f"does not fit {trainer.total_epochs} training epochs",
                hint="need 0 <= start_epoch < end_epoch <= epochs",
            )
        if self.evolution is not None:
            self.evolution.start_epoch = self.end_epoch  # first evolution after the schedule's last step
            self.evolution.on_train_begin(trainer)

    def _end(self) -> int:
        """``end_epoch``, resolved by `on_train_begin` when it was not given."""
        assert self.end_epoch is not None, "on_train_begin resolves end_epoch"
        return self.end_epoch

    def target_nnz(self, p: Param, completed: int) -> int:
        """Weights of ``p`` the schedule keeps after ``completed`` epochs: ``size - round(s_c * size)``."""
        s = cubic_sparsity(completed - self.start_epoch, self._end() - self.start_epoch, self.sparsity)
        return p.size - int(round(s * p.size))

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        """Snapshot the layers when validation accuracy improves (early stopping), prune each layer to its
        scheduled count while the schedule runs (pruned weights lose their optimizer state), then let SET
        evolve the masks when it follows."""
        if trainer.early_stopping and "val_acc" in logs and logs["val_acc"] > self._best:
            # The trainer saves values after the callbacks (after pruning); keep the layers as they
            # were when the best validation accuracy was measured, masks included.
            self._best = logs["val_acc"]
            self._best_state = [snapshot_attachments(p) for p in self.params]
        completed = epoch + 1
        if self.start_epoch < completed <= self._end():
            for p in self.params:
                pruned = prune_to(p, self.target_nnz(p, completed))
                where = np.zeros(p.size, dtype=bool)
                where[pruned] = True
                trainer.optimizer.reset_state(p.name, where=where.reshape(p.shape))
                self.records.append((completed, p.name, p.nnz))
        if self.evolution is not None:
            self.evolution.on_epoch_end(trainer, epoch, logs)

    def on_train_end(self, trainer: Trainer) -> None:
        """After an early stop, put back the layers' masks and values as they were at the best epoch,
        before its pruning."""
        if trainer.history.stopped_early and self._best_state is not None:
            for p, (mask, value, _, _) in zip(self.params, self._best_state):
                p.mask, p.value = mask, value
                p.apply_constraints()


def apply_prune(
    graph: Graph,
    sparsity: float = 0.9,
    start_epoch: int = 0,
    end_epoch: int | None = None,
    layers: Sequence[str] | None = None,
    *,
    then: str = "freeze",
    zeta: float = 0.3,
    seed: int = 0,
) -> MagnitudePruning:
    """Attach all-true masks to the chosen dense layers; return the pruning callback."""
    if not 0 <= sparsity < 1:
        raise ConfigError(f"sparsity must be in [0, 1), got {sparsity}")
    if then not in ("freeze", "set"):
        raise ConfigError(f"then must be 'freeze' or 'set', got {then!r}")
    if start_epoch < 0 or (end_epoch is not None and end_epoch <= start_epoch):
        raise ConfigError(f"need 0 <= start_epoch < end_epoch, got {start_epoch} and {end_epoch}")
    params = []
    for layer in resolve_layers(graph, layers, "prune"):
        p = weight_of(graph, layer)
        if p.codebook is not None:
            raise ConfigError(f"{layer}: magnitude pruning cannot act on a clustered (codebook) weight")
        if p.mask is None:
            p.mask = np.ones(p.shape, dtype=bool)
        p.meta["sparse"] = {"technique": "prune", "sparsity": float(sparsity), "then": then}
        params.append(p)
    evolution = SparseEvolution([DenseCells(p) for p in params], zeta, set_rng(seed, 1)) if then == "set" else None
    return MagnitudePruning(params, sparsity, start_epoch, end_epoch, evolution)


@register("prune")
def setup(graph: Graph, options: dict[str, Any], *, plan: TechniquePlan, data: Any = None, seed: int = 0) -> None:
    """The ``prune`` technique from its config options: applies it to ``graph`` and adds its callback to ``plan``."""
    check_keys(options, _PRUNE_KEYS, "prune")
    try:
        cb = apply_prune(
            graph,
            float(options.get("sparsity", 0.9)),
            int(options.get("start_epoch", 0)),
            None if "end_epoch" not in options else int(options["end_epoch"]),
            options.get("layers"),
            then=str(options.get("then", "freeze")),
            zeta=float(options.get("zeta", 0.3)),
            seed=seed,
        )
    except (TypeError, ValueError) as e:
        raise ConfigError(f"[techniques.prune] bad value ({e})") from None
    plan.callbacks.append(cb)
    plan.reports["prune target sparsity"] = f"{100 * cb.sparsity:.1f}% in {len(cb.params)} layers"

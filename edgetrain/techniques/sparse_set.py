"""SET — Sparse Evolutionary Training (Mocanu et al. 2018), as a graph transform plus an epoch hook.

    [techniques.set]
    eps = 5           # Erdős–Rényi density p = min(1, eps * (n_in + n_out) / (n_in * n_out))
    zeta = 0.3        # fraction of positives and of negatives replaced after every epoch but the last
    layers = [...]    # dense node names (default: every trainable dense layer whose p < 1)
    init = "keep"     # keep the model's own initial values under the mask; or "sparse_he": redraw
                      # He-uniform for the active fan-in
    regrow_scale = 0.1  # new weights ~ U(-a, a), a = regrow_scale * sqrt(6 / active fan-in)

Python: ``evo = apply_set(graph, eps=5, zeta=0.3, seed=0)`` attaches masks and returns the
`SparseEvolution` callback to pass to ``fit(..., callbacks=[evo])``.

The transform only attaches ``Param.mask`` (and ``meta["sparse"]``); every backend already honours
masks, so a SET model is an ordinary graph. The exact evolution rule (tests check it bit for bit):

* positives are the active weights ``> 0``, negatives those ``< 0``; an active weight that is
  exactly 0.0 is neither and is kept;
* ``k_pos = floor(zeta * n_pos)`` smallest positives and ``k_neg = floor(zeta * n_neg)`` negatives
  closest to zero are removed (ties broken by lower flat position); ``floor`` tolerates 1e-9 so
  that e.g. 0.3 * 10 counts as 3 despite binary rounding;
* exactly ``k_pos + k_neg`` connections are regrown, sampled uniformly without replacement among the
  positions that were empty *before* this evolution (just-removed positions are only used if there
  are not enough empty ones, which needs density > 1/(1+zeta));
* removed and regrown positions get zero optimizer state (momentum); every kept weight keeps it;
* no evolution after the last epoch.

The same rule acts on any "cell grid" (`Cells`): the weight matrix itself here, the block grid of a
motif layer in `motif.py`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..engine.optim import Optimizer
from ..engine.trainer import Callback, Trainer
from ..errors import ConfigError
from ..graph import Graph, Param
from .base import TechniquePlan, register

_SET_KEYS = {"eps", "zeta", "layers", "init", "regrow_scale"}


def er_density(n_in: int, n_out: int, eps: float) -> float:
    """Erdős–Rényi density ``min(1, eps * (n_in + n_out) / (n_in * n_out))``."""
    return min(1.0, eps * (n_in + n_out) / (n_in * n_out))


def er_mask(shape: tuple[int, int], density: float, rng: np.random.Generator) -> np.ndarray:
    """A mask with exactly ``round(density * size)`` (at least 1) active positions, uniformly placed.

    An exact count (rather than a Bernoulli draw per position) makes the non-zero budget a
    deterministic function of eps and the shape.
    """
    size = shape[0] * shape[1]
    k = min(size, max(1, int(round(density * size))))
    mask = np.zeros(size, dtype=bool)
    mask[rng.choice(size, k, replace=False)] = True
    return mask.reshape(shape)


def zeta_count(zeta: float, n: int) -> int:
    """How many of ``n`` candidates a fraction ``zeta`` removes: floor, tolerant of binary rounding."""
    return int(math.floor(zeta * n + 1e-9))


@dataclass
class Evolution:
    """One prune-and-regrow step on one cell grid (positions are flat, row-major on the grid)."""

    epoch: int
    param: str
    removed: np.ndarray
    regrown: np.ndarray
    n_pos: int
    n_neg: int

    @property
    def count(self) -> int:
        """Connections removed in this step (as many were regrown)."""
        return int(self.removed.size)


def plan_evolution(
    active: np.ndarray, values: np.ndarray, zeta: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Choose (removed, regrown, n_pos, n_neg) for flat ``active`` cells holding ``values``."""
    pos = np.flatnonzero(active & (values > 0))
    neg = np.flatnonzero(active & (values < 0))
    # Stable sorts over position-ordered candidates break ties by lower position.
    rm_pos = pos[np.argsort(values[pos], kind="stable")[: zeta_count(zeta, pos.size)]]
    rm_neg = neg[np.argsort(-values[neg], kind="stable")[: zeta_count(zeta, neg.size)]]
    removed = np.sort(np.concatenate([rm_pos, rm_neg]))
    empty = np.flatnonzero(~active)
    n = removed.size
    if empty.size >= n:
        regrown = rng.choice(empty, n, replace=False) if n else empty[:0]
    else:  # a nearly dense grid: every empty cell, then some just-removed ones
        regrown = np.concatenate([empty, rng.choice(removed, n - empty.size, replace=False)])
    return removed, np.sort(regrown), int(pos.size), int(neg.size)


class Cells(Protocol):
    """A sparse layer seen as a grid of cells, each active cell holding one trainable value."""

    param: Param

    def state(self) -> tuple[np.ndarray, np.ndarray]:
        """(flat active mask, flat values) of the grid."""
        ...

    def fan_in(self) -> float:
        """Active inputs per output unit (for the scale of new weights)."""
        ...

    def rewire(self, removed: np.ndarray, regrown: np.ndarray, new_values: np.ndarray, optimizer: Optimizer) -> None:
        """Deactivate the ``removed`` flat cells, activate the ``regrown`` ones holding ``new_values``
        and zero the optimizer state of every value they touch."""
        ...


class DenseCells:
    """SET on the weight matrix itself: one cell per weight."""

    def __init__(self, param: Param) -> None:
        self.param = param

    def state(self) -> tuple[np.ndarray, np.ndarray]:
        """(flat mask, flat weight values) of the matrix."""
        return self.param.attachment("mask").ravel(), self.param.value.ravel()

    def fan_in(self) -> float:
        """Active weights per output unit (the mask's count over n_out)."""
        return self.param.nnz / self.param.shape[1]

    def rewire(self, removed: np.ndarray, regrown: np.ndarray, new_values: np.ndarray, optimizer: Optimizer) -> None:
        """Clear the removed weights, activate the regrown ones with ``new_values`` (mask and value) and zero
        the optimizer state of both."""
        p = self.param
        mask, value = p.attachment("mask").ravel().copy(), p.value.ravel().copy()  # copies: any memory layout is safe
        mask[removed] = False
        value[removed] = 0.0
        mask[regrown] = True
        value[regrown] = new_values
        p.mask, p.value = mask.reshape(p.shape), value.reshape(p.shape)
        touched = np.zeros(p.size, dtype=bool)
        touched[removed] = True
        touched[regrown] = True
        optimizer.reset_state(p.name, where=touched.reshape(p.shape))


class SparseEvolution(Callback):
    """Prune-and-regrow every `Cells` grid after every epoch except the last (from `start_epoch`).

    ``records`` keeps every `Evolution` for inspection; ``evolving`` (default all true) says which
    grids evolve. With early stopping, the trainer restores the values it saved after the best epoch,
    i.e. after that epoch's evolution; this callback then puts back the sparse layers exactly as they
    were when the best validation accuracy was measured (before the evolution).
    """

    def __init__(
        self,
        cells: Sequence[Cells],
        zeta: float,
        rng: np.random.Generator,
        regrow_scale: float = 0.1,
        start_epoch: int = 0,
        evolving: Sequence[bool] | None = None,
    ) -> None:
        if not 0 <= zeta < 1:
            raise ConfigError(f"zeta must be in [0, 1), got {zeta}")
        self.cells = list(cells)
        self.zeta, self.rng, self.regrow_scale, self.start_epoch = float(zeta), rng, float(regrow_scale), start_epoch
        self.evolving = list(evolving) if evolving is not None else [True] * len(self.cells)
        self.records: list[Evolution] = []
        self._best = -np.inf
        self._best_state: list[tuple] | None = None

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        """Snapshot the grids when validation accuracy improves (early stopping), then evolve every evolving
        grid from ``start_epoch`` on, except after the last epoch."""
        if trainer.early_stopping and "val_acc" in logs and logs["val_acc"] > self._best:
            # Same rule as the trainer's best-state tracking (which runs after the callbacks).
            self._best = logs["val_acc"]
            self._best_state = [snapshot_attachments(c.param) for c in self.cells]
        if self.start_epoch <= epoch < trainer.total_epochs - 1:
            for c, evolving in zip(self.cells, self.evolving):
                if evolving:
                    self.records.append(self.evolve(c, trainer.optimizer, epoch))

    def on_train_end(self, trainer: Trainer) -> None:
        """After an early stop, put back the grids' mask, value, codebook and indices as they were at the
        best epoch, before its evolution."""
        if trainer.history.stopped_early and self._best_state is not None:
            for c, (mask, value, codebook, indices) in zip(self.cells, self._best_state):
                c.param.mask, c.param.value, c.param.codebook, c.param.indices = mask, value, codebook, indices
                c.param.apply_constraints()

    def evolve(self, cells: Cells, optimizer: Optimizer, epoch: int = -1) -> Evolution:
        """One prune-and-regrow step on ``cells`` by the module's rule, new values ~ U(-a, a) with
        ``a = regrow_scale * sqrt(6 / fan-in)``; returns its record (the caller keeps it in ``records``)."""
        active, values = cells.state()
        removed, regrown, n_pos, n_neg = plan_evolution(active, values, self.zeta, self.rng)
        limit = self.regrow_scale * math.sqrt(6.0 / max(1.0, cells.fan_in()))
        new = self.rng.uniform(-limit, limit, regrown.size).astype(np.float32)
        cells.rewire(removed, regrown, new, optimizer)
        return Evolution(epoch, cells.param.name, removed, regrown, n_pos, n_neg)


def snapshot_attachments(p: Param) -> tuple:
    """Copies of ``(mask, value, codebook, indices)`` (None where absent), to restore the best epoch."""
    return tuple(None if a is None else a.copy() for a in (p.mask, p.value, p.codebook, p.indices))


def dense_layers(graph: Graph) -> list[str]:
    """Names of dense nodes whose weight is a trainable 2-D parameter (graph order)."""
    return [
        n.name
        for n in graph.nodes
        if n.op == "dense"
        and "weight" in n.params
        and graph.params[n.params["weight"]].trainable
        and graph.params[n.params["weight"]].value.ndim == 2
    ]


def resolve_layers(graph: Graph, layers: Sequence[str] | None, technique: str) -> list[str]:
    """The dense layers a technique applies to: ``layers`` (checked to be dense layers of ``graph``) or all of them."""
    known = dense_layers(graph)
    if layers is None:
        return known
    if isinstance(layers, str) or not all(isinstance(x, str) for x in layers):
        raise ConfigError(f"[techniques.{technique}] layers must be a list of dense layer names")
    missing = [x for x in layers if x not in known]
    if missing:
        raise ConfigError(
            f"[techniques.{technique}] no trainable dense layer named {', '.join(missing)}",
            hint=f"dense layers: {', '.join(known) or 'none'}",
        )
    return list(layers)


def weight_of(graph: Graph, layer: str) -> Param:
    """The weight parameter of layer ``layer``."""
    return graph.params[graph.node(layer).params["weight"]]


def set_rng(seed: int, stream: int) -> np.random.Generator:
    """Independent, seed-determined streams: masks (0), evolution (1), motif block grids (2)."""
    return np.random.default_rng([int(seed), 0x5E7, stream])


def apply_set(
    graph: Graph,
    eps: float = 5.0,
    zeta: float = 0.3,
    layers: Sequence[str] | None = None,
    *,
    seed: int = 0,
    init: str = "keep",
    regrow_scale: float = 0.1,
) -> SparseEvolution:
    """Attach Erdős–Rényi masks to the chosen dense layers; return the evolution callback.

    Layers whose density would reach 1 stay dense (no mask) and are not evolved, whether chosen by
    default or listed explicitly.
    """
    if not eps > 0:
        raise ConfigError(f"eps must be positive, got {eps}")
    if init not in ("sparse_he", "keep"):
        raise ConfigError(f"init must be 'sparse_he' or 'keep', got {init!r}")
    rng = set_rng(seed, 0)
    cells: list[Cells] = []
    for layer in resolve_layers(graph, layers, "set"):
        p = weight_of(graph, layer)
        n_in, n_out = p.shape
        density = er_density(n_in, n_out, eps)
        if density >= 1.0:
            continue
        if p.codebook is not None:
            raise ConfigError(f"{layer}: SET cannot act on a clustered (codebook) weight")
        p.mask = er_mask((n_in, n_out), density, rng)
        if init == "sparse_he":
            # He-uniform for the fan-in the layer really has; dense He would shrink the signal by
            # sqrt(density) per layer.
            limit = math.sqrt(6.0 / max(1.0, p.nnz / n_out))
            p.value = rng.uniform(-limit, limit, p.shape).astype(np.float32)
        p.apply_constraints()
        p.meta["sparse"] = {"technique": "set", "eps": float(eps), "zeta": float(zeta)}
        cells.append(DenseCells(p))
    return SparseEvolution(cells, zeta, set_rng(seed, 1), regrow_scale)


def sparsity_report(graph: Graph, params: Sequence[Param], prefix: str) -> dict[str, Any]:
    """Short figures for `edgetrain train`: kept weights over all dense weights, per-layer density."""
    weights = [weight_of(graph, n) for n in dense_layers(graph)]
    total = sum(p.size for p in weights)
    kept = sum(p.nnz for p in weights)
    return {
        f"{prefix} weights kept": f"{100 * kept / total:.2f}% ({kept} of {total})",
        f"{prefix} densities": ", ".join(f"{p.name.split('.')[0]} {100 * p.nnz / p.size:.1f}%" for p in params),
    }


def check_keys(options: dict[str, Any], allowed: set[str], technique: str) -> None:
    """ConfigError when ``options`` has keys outside ``allowed`` for ``technique``."""
    extra = set(options) - allowed
    if extra:
        raise ConfigError(
            f"[techniques.{technique}] unknown option(s) {sorted(extra)}", hint=f"allowed: {', '.join(sorted(allowed))}"
        )


@register("set")
def setup(graph: Graph, options: dict[str, Any], *, plan: TechniquePlan, data: Any = None, seed: int = 0) -> None:
    """The ``set`` technique from its config options: applies it to ``graph`` and adds its callback to ``plan``."""
    check_keys(options, _SET_KEYS, "set")
    try:
        evo = apply_set(
            graph,
            float(options.get("eps", 5.0)),
            float(options.get("zeta", 0.3)),
            options.get("layers"),
            seed=seed,
            init=str(options.get("init", "keep")),
            regrow_scale=float(options.get("regrow_scale", 0.1)),
        )
    except (TypeError, ValueError) as e:
        raise ConfigError(f"[techniques.set] bad value ({e})") from None
    plan.callbacks.append(evo)
    plan.reports.update(sparsity_report(graph, [c.param for c in evo.cells], "set"))

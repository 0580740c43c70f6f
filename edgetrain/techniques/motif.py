"""Motif-based SET (Chen, Liu, Mohammadi Ziabari 2025): SET on m x m blocks sharing one weight each.

    [techniques.motif]
    m = 2             # motif size: groups of m consecutive input and output units
    eps = 5           # Erdős–Rényi density on the block grid (n_in/m x n_out/m)
    zeta = 0.3
    layers = [...]    # default: every trainable dense layer whose shape the block divides
    lr_scale = 1.0    # shared weights step with lr * lr_scale (see below)
    regrow_scale = 0.1

Python: ``evo = apply_motif(graph, m=2, eps=5, seed=0)``; pass ``evo`` as a training callback.

How the sharing is represented
------------------------------
A motif layer is an ordinary clustered-and-masked dense `Param`, so no backend needs a special case:

* ``codebook`` holds the K shared block weights (K = active blocks, constant through evolution);
* ``indices`` maps every entry of the ``[n_in, n_out]`` matrix to its block's codebook slot;
* ``mask`` is the block mask expanded to entries (``kron(M_block, ones(m, m))``);
* ``effective() = codebook[indices] * mask = kron(V * M_block, ones(m, m))`` and ``value`` is that
  expanded matrix after every step;
* ``grad_to_storage`` already sums the masked entry gradients per codebook slot, which is exactly
  "gradient of a block weight = sum of its m*m entry gradients"; the ONNX train-step graph and the
  C training code mirror that rule, so shared training agrees everywhere by construction;
* ``meta[BLOCK_SHARED] = [m_in, m_out]`` (`edgetrain.graph.BLOCK_SHARED`, the neutral block-sharing
  hint) tells exporters the layer may use a block-sharing kernel (sum each input group once, one
  multiply per active block).

Hidden layers use m x m blocks; the last dense layer (the classes) uses m x 1 blocks, because two
classes sharing every weight would get identical logits up to their biases.

A layer cannot be both motif-shared and k-means clustered (both use the codebook). Layers whose block
density reaches 1 keep every block (still shared) and are not evolved.

An optional learning-rate scale is a training hook (`MotifEvolution.on_step_end`): after each
optimizer step it shrinks the step each shared weight just took by ``lr_scale``. For SGD (momentum,
weight decay) and Adam alike, that equals stepping those weights with ``lr * lr_scale``; optimizer
state is untouched. The default is 1 (the plain summed gradient, the gradient of the shared weight
itself): it needs no per-step work and is the rule on-device training (which knows nothing of this
hook) applies anyway, so host and device training agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..engine.optim import Optimizer
from ..engine.trainer import Trainer
from ..errors import ConfigError
from ..graph import BLOCK_SHARED, Graph, Param
from .base import TechniquePlan, register
from .sparse_set import (
    SparseEvolution,
    check_keys,
    dense_layers,
    er_density,
    er_mask,
    resolve_layers,
    set_rng,
    sparsity_report,
    weight_of,
)

_MOTIF_KEYS = {"m", "eps", "zeta", "layers", "lr_scale", "regrow_scale"}


def _expand(grid: np.ndarray, block: tuple[int, int]) -> np.ndarray:
    return np.repeat(np.repeat(grid, block[0], axis=0), block[1], axis=1)


class MotifCells:
    """A motif layer's block grid as SET cells; each active block owns one codebook slot."""

    def __init__(self, param: Param, block: tuple[int, int]) -> None:
        self.param, self.block = param, block

    @property
    def block_mask(self) -> np.ndarray:
        """The block grid's active mask: the expanded mask's top-left entry of every block."""
        return self.param.attachment("mask")[:: self.block[0], :: self.block[1]]

    @property
    def slots(self) -> np.ndarray:
        """Each block's codebook slot: the top-left entry of ``indices`` in every block."""
        return self.param.attachment("indices")[:: self.block[0], :: self.block[1]]

    def state(self) -> tuple[np.ndarray, np.ndarray]:
        """(flat active blocks, flat shared block values, 0 for inactive blocks) of the block grid."""
        active = self.block_mask.ravel()
        return active, np.where(active, self.param.attachment("codebook")[self.slots.ravel()], 0).astype(np.float32)

    def fan_in(self) -> float:
        """Active weight entries (not blocks) per output unit, for the scale of new shared weights."""
        return self.param.nnz / self.param.shape[1]

    def rewire(self, removed: np.ndarray, regrown: np.ndarray, new_values: np.ndarray, optimizer: Optimizer) -> None:
        """Hand the removed blocks' codebook slots to the regrown blocks (K stays constant) with
        ``new_values``, re-expand mask and indices from the grid and zero those slots' optimizer state."""
        p, b = self.param, self.block
        block = self.block_mask.copy().ravel()
        slots = self.slots.copy().ravel()
        freed = slots[removed].copy()
        block[removed] = False
        slots[removed] = 0
        block[regrown] = True
        slots[regrown] = freed  # K stays constant: new blocks reuse the removed blocks' slots
        p.attachment("codebook")[freed] = new_values
        grid = (p.shape[0] // b[0], p.shape[1] // b[1])
        p.mask = _expand(block.reshape(grid), b)
        p.indices = _expand(slots.reshape(grid), b)
        touched = np.zeros(p.attachment("codebook").size, dtype=bool)
        touched[freed] = True
        optimizer.reset_state(p.name, where=touched)
        p.apply_constraints()


class MotifEvolution(SparseEvolution):
    """SET on block grids, plus the ``lr_scale`` step scale of the shared weights (1 by default)."""

    def __init__(
        self,
        cells: Sequence[MotifCells],
        zeta: float,
        rng: np.random.Generator,
        regrow_scale: float = 0.1,
        lr_scale: float = 1.0,
        evolve: Sequence[bool] | None = None,
    ) -> None:
        super().__init__(cells, zeta, rng, regrow_scale, evolving=evolve)
        self.lr_scale = float(lr_scale)
        self._prev: dict[str, np.ndarray] = {}

    def _remember(self) -> None:
        self._prev = {c.param.name: c.param.attachment("codebook").copy() for c in self.cells}

    def on_train_begin(self, trainer: Trainer) -> None:
        """Remember the codebooks: the first step's change is measured from them."""
        self._remember()

    def on_step_end(self, trainer: Trainer, step: int, loss: float) -> None:
        """Scale the step each shared weight just took by ``lr_scale`` (as if stepped with
        ``lr * lr_scale``); nothing to do with the default scale 1."""
        if self.lr_scale == 1.0:
            return
        for c in self.cells:
            p = c.param
            prev = self._prev[p.name]
            codebook = p.attachment("codebook")
            codebook[...] = prev + self.lr_scale * (codebook - prev)
            p.apply_constraints()
            prev[...] = p.codebook

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        """SET's evolution of the block grids, then remember the codebooks (regrown slots hold new values)."""
        super().on_epoch_end(trainer, epoch, logs)
        self._remember()  # regrown slots hold new values: the next step's delta starts from them


def class_layer(graph: Graph) -> str | None:
    """The last dense node: its output units are the classes (or regression targets)."""
    dense = [n.name for n in graph.nodes if n.op == "dense"]
    return dense[-1] if dense else None


def apply_motif(
    graph: Graph,
    m: int = 2,
    eps: float = 5.0,
    zeta: float = 0.3,
    layers: Sequence[str] | None = None,
    *,
    seed: int = 0,
    lr_scale: float | None = None,
    regrow_scale: float = 0.1,
) -> MotifEvolution:
    """Turn the chosen dense layers into motif layers; return the evolution callback.

    Hidden layers use m x m blocks. The last dense layer uses m x 1 blocks (input groups only):
    its outputs are classes, and sharing one weight across two classes gives them identical logits
    up to the bias, so the model could not tell them apart.

    Each active block's shared weight starts as the block's top-left entry of the existing
    initialisation: one entry per block keeps the per-output signal variance of the dense init.
    """
    if int(m) != m or m < 1:
        raise ConfigError(f"motif size m must be a positive integer, got {m}")
    m = int(m)
    if not eps > 0:
        raise ConfigError(f"eps must be positive, got {eps}")
    head = class_layer(graph)

    def block_of(layer: str) -> tuple[int, int]:
        return (m, 1) if layer == head else (m, m)

    def fits(layer: str) -> bool:
        shape, b = weight_of(graph, layer).shape, block_of(layer)
        return shape[0] % b[0] == 0 and shape[1] % b[1] == 0

    chosen = [n for n in dense_layers(graph) if fits(n)] if layers is None else resolve_layers(graph, layers, "motif")
    rng = set_rng(seed, 2)
    cells, evolving = [], []
    for layer in chosen:
        p, b = weight_of(graph, layer), block_of(layer)
        if not fits(layer):
            raise ConfigError(f"{layer}: shape {p.shape[0]}x{p.shape[1]} is not divisible by motif block {b[0]}x{b[1]}")
        if p.codebook is not None:
            raise ConfigError(f"{layer}: motif sharing cannot act on an already clustered (codebook) weight")
        grid = (p.shape[0] // b[0], p.shape[1] // b[1])
        density = er_density(*grid, eps)
        block = er_mask(grid, density, rng) if density < 1.0 else np.ones(grid, dtype=bool)
        slots = np.zeros(grid, dtype=np.int32)
        slots[block] = np.arange(int(block.sum()), dtype=np.int32)
        p.codebook = p.value[:: b[0], :: b[1]][block].astype(np.float32)
        p.indices = _expand(slots, b)
        p.mask = _expand(block, b)
        p.apply_constraints()
        p.meta[BLOCK_SHARED] = list(b)
        p.meta["sparse"] = {"technique": "motif", "m": m, "eps": float(eps), "zeta": float(zeta)}
        cells.append(MotifCells(p, b))
        evolving.append(density < 1.0)
    return MotifEvolution(
        cells, zeta, set_rng(seed, 1), regrow_scale, 1.0 if lr_scale is None else float(lr_scale), evolving
    )


def motif_costs(graph: Graph) -> dict[str, int]:
    """Unique weights and multiplies per inference over all dense layers.

    A motif layer costs one weight and one multiply per active block (each input group is summed
    once, then every active block multiplies that sum once); any other layer costs one of each per
    stored (unmasked) weight.
    """
    unique = mults = 0
    for node in graph.nodes:
        if node.op != "dense":
            continue
        p = graph.params[node.params["weight"]]
        bi, bo = p.meta.get(BLOCK_SHARED, (1, 1))
        blocks = int(p.mask[::bi, ::bo].sum()) if p.mask is not None else p.size // (bi * bo)
        unique += blocks
        mults += blocks
    return {"unique_weights": unique, "multiplies": mults}


@register("motif")
def setup(graph: Graph, options: dict[str, Any], *, plan: TechniquePlan, data: Any = None, seed: int = 0) -> None:
    """The ``motif`` technique from its config options: applies it to ``graph`` and adds its callback to ``plan``."""
    check_keys(options, _MOTIF_KEYS, "motif")
    try:
        evo = apply_motif(
            graph,
            int(options.get("m", 2)),
            float(options.get("eps", 5.0)),
            float(options.get("zeta", 0.3)),
            options.get("layers"),
            seed=seed,
            lr_scale=None if "lr_scale" not in options else float(options["lr_scale"]),
            regrow_scale=float(options.get("regrow_scale", 0.1)),
        )
    except (TypeError, ValueError) as e:
        raise ConfigError(f"[techniques.motif] bad value ({e})") from None
    plan.callbacks.append(evo)
    plan.reports.update(sparsity_report(graph, [c.param for c in evo.cells], "motif"))
    costs = motif_costs(graph)
    plan.reports["motif unique weights"] = costs["unique_weights"]
    plan.reports["motif multiplies"] = costs["multiplies"]

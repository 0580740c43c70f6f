"""Sort the hidden units of masked dense layers by their number of stored weights.

An MLP computes the same function whatever order its hidden units are in, as long as the layer
that reads them reads them in the same order. Sorting a masked layer's outputs by fan-in puts rows
of equal length next to each other, so the ``grouped`` sparse format describes the whole layer with
one run per distinct row length, and its kernel spends no per-row instructions on loop set-up
(``et_sparse_grouped.c``). The model computes the same function: the reordered layer's outputs are
the same numbers in another order; the next layer sums the same terms in another order, so float
results agree to rounding (int8 sums are integers: bit for bit). Graph outputs keep their order.

A layer is reordered only when every reader of its output is reached through elementwise unary ops
(ReLU, ReLU6, Identity) and is a dense layer that can permute its input rows: no graph output, no
residual add, no shared parameter, no block-shared layer (``meta[BLOCK_SHARED]``) on either side.
"""

from __future__ import annotations

import numpy as np

from ..graph import BLOCK_SHARED, Graph, Node, Param

# Elementwise ops with one input: they commute with a permutation of their tensor.
UNARY_ELEMENTWISE = frozenset({"relu", "relu6", "identity"})


def sort_units_by_fan_in(graph: Graph) -> Graph:
    """A copy of ``graph`` whose eligible masked layers have their outputs sorted by fan-in."""
    g = graph.copy()
    uses = _param_uses(g)
    for node in g.nodes:
        if node.op != "dense" or not _own_params(node, uses):
            continue
        weight = g.params[node.params["weight"]]
        if weight.mask is None or BLOCK_SHARED in weight.meta:
            continue
        readers = _dense_readers(g, node.name, uses)
        if readers is None:
            continue
        perm = np.argsort(weight.mask.sum(axis=0), kind="stable")  # [n_in, n_out]: fan-in per output
        if np.array_equal(perm, np.arange(perm.size)):
            continue
        _permute(weight, perm, axis=1)
        if "bias" in node.params:
            _permute(g.params[node.params["bias"]], perm, axis=0)
        for reader in readers:
            _permute(g.params[reader.params["weight"]], perm, axis=0)
    return g


def _param_uses(g: Graph) -> dict[str, int]:
    uses: dict[str, int] = {}
    for n in g.nodes:
        for p in n.params.values():
            uses[p] = uses.get(p, 0) + 1
    return uses


def _own_params(node: Node, uses: dict[str, int]) -> bool:
    return all(uses[p] == 1 for p in node.params.values())


def _dense_readers(g: Graph, tensor: str, uses: dict[str, int]) -> list[Node] | None:
    """The dense layers that read ``tensor`` through unary elementwise ops, or None when some
    reader cannot follow a permutation."""
    readers: list[Node] = []
    pending = [tensor]
    while pending:
        t = pending.pop()
        if t in g.outputs:
            return None
        for n in g.consumers(t):
            if n.op in UNARY_ELEMENTWISE:
                pending.append(n.name)
            elif (
                n.op == "dense"
                and n.inputs == [t]
                and _own_params(n, uses)
                and BLOCK_SHARED not in g.params[n.params["weight"]].meta
            ):
                readers.append(n)
            else:
                return None
    return readers


def _permute(p: Param, perm: np.ndarray, axis: int) -> None:
    """Reorder a parameter and its attachments along ``axis`` (a codebook is order-free)."""
    p.value = np.take(p.value, perm, axis=axis)
    if p.mask is not None:
        p.mask = np.take(p.mask, perm, axis=axis)
    if p.indices is not None:
        p.indices = np.take(p.indices, perm, axis=axis)
    if p.qparams is not None and p.qparams.axis == axis:
        p.qparams.scale = np.take(p.qparams.scale, perm)
        p.qparams.zero_point = np.take(p.qparams.zero_point, perm)

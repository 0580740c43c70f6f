"""What trains on the device: `layers.set_trainable`'s specs plus two named modes for CNNs.

    select_trainable(graph, "head")        # the layers after the last conv / pool (a frozen conv body)
    select_trainable(graph, "last-block")  # the last conv layer and every layer after it
    select_trainable(graph, "bias-only")   # every bias (TinyTL): weights frozen, gradients flow back
                                           # through the convs for their input gradient only
    select_trainable(graph, "last:2" | "all" | ["conv2", "dense1"])   # as set_trainable

Run it on the graph with batch_norm folded (`apply_trainable` does both, for `finetune_on_device`
and `export c --train`): a folded conv's bias is then the one that trains, and "last:K" counts the
layers the device runs.
"""

from __future__ import annotations

from collections.abc import Sequence

from ...errors import ConfigError
from ...graph import Graph
from ...layers import set_trainable
from ...transforms.fold_batch_norm import fold_batch_norm

CONV_OPS = ("conv2d", "conv1d")
SPATIAL_OPS = (*CONV_OPS, "max_pool", "avg_pool", "global_avg_pool")
NAMED_MODES = ("head", "last-block")
SPEC_HELP = "head, last-block, bias-only, last:K, all, or layer names"


def select_trainable(graph: Graph, spec: str | Sequence[str]) -> list[str]:
    """Set the trainable flags of ``graph`` by ``spec`` (see the module docstring); returns the
    trainable parameter names."""
    if isinstance(spec, str) and spec in NAMED_MODES:
        ops = CONV_OPS if spec == "last-block" else SPATIAL_OPS
        nodes = list(graph.nodes)
        last = max((i for i, n in enumerate(nodes) if n.op in ops), default=None)
        if last is None:
            raise ConfigError(
                f"--trainable {spec}: {graph.name!r} has no {' or '.join(ops)} layer",
                hint="use last:K (e.g. last:1) for a model without convolutions",
            )
        start = last if spec == "last-block" else last + 1
        names = [n.name for n in nodes[start:] if n.params]
        if not names:
            raise ConfigError(
                f"--trainable {spec}: no layer with parameters after {nodes[last].name!r}",
                hint="use last-block, bias-only or last:K",
            )
        return set_trainable(graph, names)
    return set_trainable(graph, spec)


def apply_trainable(graph: Graph, spec: str | Sequence[str] | None) -> tuple[Graph, list[str]]:
    """A copy of ``graph`` ready for on-device training by ``spec``: every batch_norm folded into
    the layer before it (the device runs none), then `select_trainable` on the folded layers.
    ``spec`` None keeps the graph's own flags (and its batch_norm). Returns the graph and notes
    for the report. The graph passed in is not modified."""
    work = graph.copy()
    notes: list[str] = []
    if spec is None:
        return work, notes
    bns = [n.name for n in work.nodes if n.op == "batch_norm"]
    if bns:
        work = fold_batch_norm(work)
        notes.append(f"batch_norm {', '.join(bns)} folded into the layer before: the trained model has none")
    select_trainable(work, spec)
    return work, notes

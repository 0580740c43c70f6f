"""Fold inference-mode batch_norm nodes into the conv2d / conv1d / dense layer before them.

Under its running statistics a batch_norm is ``y = a * x + b`` per channel, with
``a = scale / sqrt(var + eps)`` and ``b = bias - mean * a``. When its input is the output of a
conv2d, conv1d or dense node that feeds nothing else (and is not a graph output), the pair is one
layer with weight ``W * a`` (every layout keeps the output channel last) and bias
``a * bias_before + b``. Exporters then see no batch_norm. The folded graph computes the same
function as the original in inference mode (up to rounding); it no longer has the running
statistics, so train the original, fold for export.

A batch_norm that cannot be folded (after another op, after a layer with several consumers, or
after a layer whose weight is shared through a codebook or quantized) stays as it is.
"""

from __future__ import annotations

import numpy as np

from ..errors import UnsupportedOpError
from ..graph import Graph, Node, Param
from ..ops.pool import BN_EPS

#: Op kinds whose output channels are the last axis of their weight and bias.
FOLDABLE = ("conv2d", "conv1d", "dense")


def fold_batch_norm(graph: Graph) -> Graph:
    """A copy of ``graph`` with every foldable batch_norm folded (see the module docstring)."""
    g = graph.copy()
    producers = {n.name: n for n in g.nodes}
    for bn in [n for n in g.nodes if n.op == "batch_norm"]:
        layer = producers.get(bn.inputs[0])
        if layer is None or not _foldable(g, layer):
            continue
        _fold(g, layer, bn)
    g.validate()
    return g


def _foldable(g: Graph, layer: Node) -> bool:
    if layer.op not in FOLDABLE or layer.name in g.outputs or len(g.consumers(layer.name)) != 1:
        return False
    params = g.node_params(layer).values()
    return all(p.codebook is None and p.qparams is None for p in params)


def _fold(g: Graph, layer: Node, bn: Node) -> None:
    ps = g.node_params(bn)
    f64 = {role: np.asarray(p.value, np.float64) for role, p in ps.items()}
    a = f64["scale"] / np.sqrt(f64["var"] + bn.attrs.get("eps", BN_EPS))
    b = f64["bias"] - f64["mean"] * a
    w = g.params[layer.params["weight"]]
    w.value = (np.asarray(w.value, np.float64) * a).astype(w.value.dtype)
    if "bias" in layer.params:
        bias = g.params[layer.params["bias"]]
        bias.value = (a * np.asarray(bias.value, np.float64) + b).astype(bias.value.dtype)
    else:
        name = f"{layer.name}.bias"
        while name in g.params:
            name += "_"
        g.add_param(Param(name, b.astype(w.value.dtype), trainable=w.trainable))
        layer.params["bias"] = name
    # The batch_norm's readers read the layer instead; its parameters go with it.
    for n in g.consumers(bn.name):
        n.inputs = [layer.name if t == bn.name else t for t in n.inputs]
    g.outputs = [layer.name if o == bn.name else o for o in g.outputs]
    g.nodes.remove(bn)
    for pname in bn.params.values():
        del g.params[pname]


def fold_for_kernels(graph: Graph) -> Graph:
    """``graph`` with every inference batch_norm folded into the conv / dense before it (the graph
    itself when it has none), for the backends that run kernels (the C export and the int8
    quantizer). A batch_norm that cannot be folded is refused: the C runtime has no batch_norm
    kernel."""
    if not any(n.op == "batch_norm" for n in graph.nodes):
        return graph
    folded = fold_batch_norm(graph)
    left = [n for n in folded.nodes if n.op == "batch_norm"]
    if left:
        n = left[0]
        src = next((p for p in folded.nodes if p.name == n.inputs[0]), None)
        if src is None or src.op not in FOLDABLE:
            why = f"it reads {n.inputs[0]!r}, not the output of a conv2d, conv1d or dense layer"
        elif src.name in folded.outputs or len(folded.consumers(src.name)) != 1:
            why = f"{src.name!r} is also read elsewhere"
        else:
            why = f"the weights of {src.name!r} are clustered or quantized"
        raise UnsupportedOpError(
            f"batch_norm {n.name!r} cannot be folded into the layer before it (the C, int8 and TFLite exports "
            f"have no batch_norm kernel): {why}",
            hint="put each batch_norm right after a conv or dense layer that nothing else reads (before its "
            "activation), and fold before clustering or quantizing",
        )
    return folded

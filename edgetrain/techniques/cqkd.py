"""Cluster-quantized knowledge distillation (CQKD): weight clustering learned in the training loop,
distilled from a teacher that is clustered too.

    [techniques.cqkd]
    clusters = 16            # k, the codebook size of every clustered layer (2..256)
    layer_clusters = {}      # per-layer k, e.g. {dense1 = 4}, overriding `clusters`
    bits = 4                 # index bits; default ceil(log2 k). Must hold k (2**bits >= k), at most 8
    layers = [...]           # default: every trainable dense, conv2d and conv1d layer
    float_epochs = 20        # student epochs in float before the first clustering (default: half)
    recluster_every = 0      # R: re-cluster every R epochs after the first clustering; 0: cluster once
    teacher = "same"         # "same": a float copy of the student's architecture, trained first
                             # and clustered with the same k; "none": no distillation
    teacher_epochs = 40      # default: the training epochs
    alpha = 0.8              # student loss (1 - alpha) CE + alpha T^2 KL(teacher || student)
    temperature = 4.0
    prune_units = 0.0        # fraction of each clustered hidden dense layer's units removed by
                             # norm before the first clustering (structured pruning; the layer shrinks)

Python: ``history, report = train_cqkd(graph, data, clusters=16, epochs=40, optimizer="adam", lr=3e-3)``
or, without a teacher or a schedule, ``cluster_weights(graph, clusters=16)`` on a trained graph.

Schedule. The student trains in float for ``float_epochs``, then every clustered layer is clustered
(per layer 1-D k-means of its weights with scikit-learn's ``KMeans``, initialised at k points spaced
linearly between the smallest and the largest weight): the weight becomes ``codebook[indices]`` and
only the k centroids (and the biases, and the unclustered layers) train from then on — a centroid's
gradient is the sum of its weights' gradients, the rule of `Param.grad_to_storage`. Re-clustering
every R epochs: the layer trains one epoch in float from its clustered values (so weights can move
across cluster boundaries), then is clustered again with k-means started from the previous
centroids. Each phase is an ordinary `fit` (fresh optimizer state, since the trained storage
changes between weights and codebooks; early stopping acts within a phase). The callbacks of other
techniques (SET, pruning) run in the float phase only: their masks are fixed once clustered, and
a masked weight is clustered over its kept entries.

Report: per clustered layer k, index bits, used clusters (k-means may leave a cluster empty, and
the index width stays that of k) and the compression ratio float bits / (index bits + codebook bits
+ bias bits), each part counted as stored: float32 codebook and bias, the index bits of every
weight (a masked entry's too: the dense packed layout stores every index).
"""

from __future__ import annotations

import time
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..engine.executor import predict
from ..engine.losses import CrossEntropy, Distillation
from ..engine.optim import Optimizer, make_optimizer
from ..engine.trainer import History, fit
from ..errors import ConfigError
from ..formats.packed import index_bits
from ..graph import Graph, Node, Param
from .base import TechniquePlan, register
from .sparse_set import check_keys, weight_of

_CQKD_KEYS = {
    "clusters",
    "layer_clusters",
    "bits",
    "layers",
    "float_epochs",
    "recluster_every",
    "teacher",
    "teacher_epochs",
    "alpha",
    "temperature",
    "prune_units",
}
#: Codebook sizes the clustering accepts: a one-entry codebook is a constant layer, and 256 is the
#: most an 8-bit index can address.
MIN_CLUSTERS, MAX_CLUSTERS = 2, 256
#: Lloyd iterations per k-means run (1-D k-means from a linear start settles within this).
KMEANS_ITERATIONS = 20
#: The units structured pruning always keeps in a layer.
MIN_UNITS = 1


@dataclass(frozen=True)
class ClusterSpec:
    """How one layer is clustered: ``clusters`` centroids, ``bits`` per stored index."""

    clusters: int
    bits: int


@dataclass
class LayerReport:
    """What clustering left in one layer: its codebook size, index bits, the clusters in use and
    the bits stored for it against float32."""

    layer: str
    clusters: int
    bits: int
    used: int
    weights: int
    biases: int

    @property
    def stored_bits(self) -> int:
        """Index bits of every weight, a float32 codebook and float32 biases."""
        return self.weights * self.bits + 32 * (self.clusters + self.biases)

    @property
    def float_bits(self) -> int:
        """The layer's weights and biases as float32."""
        return 32 * (self.weights + self.biases)


@dataclass
class ClusterReport:
    """Per-layer clustering figures of a model and the honest compression ratio over them."""

    layers: list[LayerReport]

    @property
    def compression(self) -> float:
        """Float bits over stored bits (indices + codebooks + biases) of the clustered layers."""
        stored = sum(r.stored_bits for r in self.layers)
        return sum(r.float_bits for r in self.layers) / stored if stored else 1.0

    def lines(self) -> dict[str, str]:
        """One report line per layer and one for the ratio, for the training summary."""
        out = {
            f"cqkd {r.layer}": f"k={r.clusters} ({r.bits}-bit indices), {r.used} of {r.clusters} clusters used"
            for r in self.layers
        }
        out["cqkd compression"] = f"{self.compression:.2f}x vs float32 (indices + codebooks + biases)"
        return out

    def to_dict(self) -> dict[str, Any]:
        """The figures as plain values (stored in the model's meta)."""
        return {
            "layers": [
                {"layer": r.layer, "clusters": r.clusters, "bits": r.bits, "used": r.used, "weights": r.weights}
                for r in self.layers
            ],
            "compression": self.compression,
        }


def check_clusters(k: Any, where: str) -> int:
    """``k`` as a codebook size; ConfigError unless it is an integer in 2..256."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise ConfigError(f"{where}: clusters must be an integer, got {k!r}")
    if not MIN_CLUSTERS <= int(k) <= MAX_CLUSTERS:
        raise ConfigError(
            f"{where}: clusters = {k} is outside {MIN_CLUSTERS}..{MAX_CLUSTERS}",
            hint="a codebook needs at least 2 entries and an 8-bit index addresses at most 256",
        )
    return int(k)


#: The op kinds whose weight the technique clusters (a conv weight's kernel entries share one
#: codebook per layer, as a dense weight's do).
CLUSTERED_OPS = ("dense", "conv2d", "conv1d")


def clusterable_layers(graph: Graph) -> list[str]:
    """Names of the `CLUSTERED_OPS` nodes whose weight is trainable (graph order)."""
    return [
        n.name
        for n in graph.nodes
        if n.op in CLUSTERED_OPS and "weight" in n.params and graph.params[n.params["weight"]].trainable
    ]


def resolve_clustered(graph: Graph, layers: Sequence[str] | None) -> list[str]:
    """The layers to cluster: ``layers`` (checked to be `clusterable_layers`) or all of them."""
    known = clusterable_layers(graph)
    if layers is None:
        return known
    if isinstance(layers, str) or not all(isinstance(x, str) for x in layers):
        raise ConfigError("[techniques.cqkd] layers must be a list of dense or conv layer names")
    missing = [x for x in layers if x not in known]
    if missing:
        raise ConfigError(
            f"[techniques.cqkd] no trainable dense or conv layer named {', '.join(missing)}",
            hint=f"dense and conv layers: {', '.join(known) or 'none'}",
        )
    return list(layers)


def cluster_specs(
    graph: Graph,
    clusters: int = 16,
    layer_clusters: Mapping[str, int] | None = None,
    bits: int | None = None,
    layers: Sequence[str] | None = None,
) -> dict[str, ClusterSpec]:
    """The clustered layers of ``graph`` and their k and index bits, checked before anything trains:
    k in 2..256, bits in 1..8 holding k, and at least k weights in the layer (ConfigError)."""
    chosen = resolve_clustered(graph, layers)
    default = check_clusters(clusters, "[techniques.cqkd]")
    per_layer = dict(layer_clusters or {})
    unknown = sorted(set(per_layer) - set(chosen))
    if unknown:
        raise ConfigError(
            f"[techniques.cqkd] layer_clusters names {', '.join(unknown)}, not a clustered dense layer",
            hint=f"clustered layers: {', '.join(chosen)}",
        )
    specs = {}
    for layer in chosen:
        k = check_clusters(per_layer.get(layer, default), f"[techniques.cqkd] {layer}")
        b = index_bits(k) if not bits else int(bits)
        if not 1 <= b <= 8 or 2**b < k:
            raise ConfigError(
                f"[techniques.cqkd] {layer}: {b}-bit indices cannot hold {k} clusters",
                hint=f"use bits >= {index_bits(k)} (at most 8), or leave bits unset",
            )
        p = weight_of(graph, layer)
        if p.codebook is not None:
            raise ConfigError(f"[techniques.cqkd] {layer} is clustered already")
        if p.nnz < k:
            raise ConfigError(
                f"[techniques.cqkd] {layer} has {p.nnz} weights, fewer than its {k} clusters",
                hint="use fewer clusters for this layer (layer_clusters) or leave it out (layers)",
            )
        specs[layer] = ClusterSpec(k, b)
    return specs


def kmeans_1d(values: np.ndarray, k: int, init: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
    """Centroids (float64, k of them) of scikit-learn's k-means over the 1-D ``values``, started at
    ``init`` or at k points spaced linearly between their minimum and maximum."""
    from sklearn.cluster import KMeans  # the core's dependency; imported where it is used (start-up time)
    from sklearn.exceptions import ConvergenceWarning

    x = np.asarray(values, np.float64).reshape(-1, 1)
    start = np.linspace(x.min(), x.max(), k) if init is None else np.asarray(init, np.float64)
    km = KMeans(n_clusters=k, init=start.reshape(-1, 1), n_init=1, max_iter=KMEANS_ITERATIONS, random_state=seed)
    with warnings.catch_warnings():
        # Fewer distinct values than k (a tiny or constant layer) is not an error: the duplicate
        # centroids are left unused and the report counts the used ones.
        warnings.simplefilter("ignore", ConvergenceWarning)
        km.fit(x)
    return np.asarray(km.cluster_centers_, np.float64).ravel()


def cluster_param(p: Param, k: int, init: np.ndarray | None = None, seed: int = 0) -> None:
    """Attach a k-entry codebook and indices to ``p`` by 1-D k-means over its kept (unmasked)
    effective values; every entry (a masked one too) gets its nearest centroid."""
    w = np.asarray(p.effective(), np.float64)
    kept = w[p.mask] if p.mask is not None else w.ravel()
    centroids = kmeans_1d(kept, k, init, seed)
    nearest = np.abs(w.reshape(-1, 1) - centroids.reshape(1, -1)).argmin(axis=1)
    p.codebook = centroids.astype(np.float32)
    p.indices = nearest.reshape(p.shape).astype(np.uint8 if k <= 256 else np.int32)


def uncluster_param(p: Param) -> None:
    """Drop ``p``'s codebook: its value becomes the clustered weights, free to train in float."""
    p.value = np.asarray(p.effective(), np.float32).copy()
    p.codebook = p.indices = None


def cluster_weights(
    graph: Graph,
    clusters: int = 16,
    layer_clusters: Mapping[str, int] | None = None,
    *,
    bits: int | None = None,
    layers: Sequence[str] | None = None,
    seed: int = 0,
) -> ClusterReport:
    """Cluster the dense weights of ``graph`` in place (no training) and return the report; the
    layers' specs are checked first (`cluster_specs`)."""
    specs = cluster_specs(graph, clusters, layer_clusters, bits, layers)
    return _cluster(graph, specs, seed)


def _cluster(graph: Graph, specs: Mapping[str, ClusterSpec], seed: int, previous: bool = False) -> ClusterReport:
    for layer, spec in specs.items():
        p = weight_of(graph, layer)
        init = p.meta.get("cluster", {}).get("centroids") if previous else None
        cluster_param(p, spec.clusters, None if init is None else np.asarray(init), seed)
        p.meta["cluster"] = {"technique": "cqkd", "clusters": spec.clusters, "bits": spec.bits}
    return cluster_report(graph, specs)


def cluster_report(graph: Graph, specs: Mapping[str, ClusterSpec]) -> ClusterReport:
    """The report of the clustered layers ``specs`` names, from the graph's attachments."""
    rows = []
    for layer, spec in specs.items():
        p = weight_of(graph, layer)
        idx = p.attachment("indices")
        used = np.unique(idx[p.mask] if p.mask is not None else idx).size
        node = graph.node(layer)
        biases = graph.params[node.params["bias"]].size if "bias" in node.params else 0
        rows.append(LayerReport(layer, spec.clusters, spec.bits, int(used), p.size, biases))
    return ClusterReport(rows)


def prune_units(graph: Graph, layers: Sequence[str], fraction: float) -> dict[str, int]:
    """Structured pruning: remove ``fraction`` of the units of each layer in ``layers`` whose output
    feeds (through element-wise activations) exactly one other dense layer, the units with the
    smallest L2 norm of incoming weights first. The layer and its consumer shrink; returns the
    units kept per pruned layer. A layer with a mask or an output elsewhere is left as it is."""
    kept: dict[str, int] = {}
    for layer in layers:
        consumer = _dense_consumer(graph, layer)
        node = graph.node(layer)
        w = graph.params[node.params["weight"]]
        if consumer is None or w.mask is not None or w.codebook is not None:
            continue
        nxt = graph.params[consumer.params["weight"]]
        if nxt.mask is not None or nxt.codebook is not None:
            continue
        units = w.shape[1]
        keep_n = max(MIN_UNITS, units - int(round(fraction * units)))
        order = np.argsort(-np.linalg.norm(w.value, axis=0), kind="stable")
        keep = np.sort(order[:keep_n])
        w.value = np.ascontiguousarray(w.value[:, keep])
        if "bias" in node.params:
            b = graph.params[node.params["bias"]]
            b.value = np.ascontiguousarray(b.value[keep])
        nxt.value = np.ascontiguousarray(nxt.value[keep, :])
        kept[layer] = keep_n
    graph.validate()
    return kept


_ELEMENTWISE = {"relu", "relu6", "leaky_relu", "sigmoid", "tanh", "hard_swish", "identity"}


def _dense_consumer(graph: Graph, layer: str) -> Node | None:
    """The dense node ``layer``'s output reaches through a chain of single-consumer element-wise
    nodes, or None (a graph output, a branch, or another op on the way)."""
    tensor = layer
    while True:
        if tensor in graph.outputs:
            return None
        users = graph.consumers(tensor)
        if len(users) != 1:
            return None
        (user,) = users
        if user.op == "dense":
            return user if user.inputs[0] == tensor and "weight" in user.params else None
        if user.op not in _ELEMENTWISE or user.params:
            return None
        tensor = user.name


@dataclass
class CQKDSettings:
    """The technique's options, checked (see the module docstring for each)."""

    specs: dict[str, ClusterSpec]
    float_epochs: int | None = None
    recluster_every: int = 0
    teacher: str | Graph | None = "same"
    teacher_epochs: int | None = None
    alpha: float = 0.8
    temperature: float = 4.0
    prune_units: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.teacher, str) and self.teacher not in ("same", "none"):
            raise ConfigError(f"[techniques.cqkd] teacher must be 'same' or 'none', got {self.teacher!r}")
        if self.teacher == "none":
            self.teacher = None
        if not 0 <= self.alpha <= 1 or not self.temperature > 0:
            raise ConfigError(
                f"[techniques.cqkd] alpha = {self.alpha}, temperature = {self.temperature}",
                hint="need 0 <= alpha <= 1 and temperature > 0",
            )
        if not 0 <= self.prune_units < 1:
            raise ConfigError(f"[techniques.cqkd] prune_units must be in [0, 1), got {self.prune_units}")
        if self.recluster_every < 0 or (self.float_epochs is not None and self.float_epochs < 0):
            raise ConfigError("[techniques.cqkd] float_epochs and recluster_every must be >= 0")

    def phases(self, epochs: int) -> list[tuple[str, int]]:
        """The student's phases for ``epochs`` training epochs: ("float", n), then ("clustered", n)
        and, when re-clustering, ("free", 1) before each further ("clustered", n)."""
        first = epochs // 2 if self.float_epochs is None else self.float_epochs
        rest = epochs - first
        if rest < 1:
            raise ConfigError(
                f"[techniques.cqkd] float_epochs = {first} leaves none of the {epochs} epochs for the clustered phase",
                hint="lower float_epochs or raise the training epochs",
            )
        out: list[tuple[str, int]] = [("float", first)] if first else []
        every = self.recluster_every or rest
        out.append(("clustered", min(every, rest)))
        left = rest - min(every, rest)
        while left:
            n = min(every, left)
            if n >= 2:  # a re-clustering: its free epoch, then the clustered ones
                out += [("free", 1), ("clustered", n - 1)]
            else:  # one epoch left over: the last clustered phase runs it
                out[-1] = ("clustered", out[-1][1] + n)
            left -= n
        return out


def settings_from_options(graph: Graph, options: dict[str, Any]) -> CQKDSettings:
    """`CQKDSettings` from a ``[techniques.cqkd]`` table; ConfigError for an unknown key or value."""
    check_keys(options, _CQKD_KEYS, "cqkd")
    try:
        layer_clusters = options.get("layer_clusters") or {}
        if not isinstance(layer_clusters, dict):
            raise ConfigError("[techniques.cqkd] layer_clusters must be a table of layer = clusters")
        specs = cluster_specs(
            graph, options.get("clusters", 16), layer_clusters, int(options.get("bits", 0)), options.get("layers")
        )
        return CQKDSettings(
            specs,
            None if "float_epochs" not in options else int(options["float_epochs"]),
            int(options.get("recluster_every", 0)),
            str(options.get("teacher", "same")),
            None if "teacher_epochs" not in options else int(options["teacher_epochs"]),
            float(options.get("alpha", 0.8)),
            float(options.get("temperature", 4.0)),
            float(options.get("prune_units", 0.0)),
        )
    except (TypeError, ValueError) as e:
        raise ConfigError(f"[techniques.cqkd] bad value ({e})") from None


def train_teacher(graph: Graph, data: Any, settings: CQKDSettings, epochs: int, fit_kw: dict[str, Any]) -> Graph:
    """The teacher: ``settings.teacher`` when it is a graph, else a float copy of ``graph``'s
    architecture trained for ``teacher_epochs`` (default ``epochs``) with cross-entropy; clustered
    with the student's k per layer either way (`teacher_specs`)."""
    if isinstance(settings.teacher, Graph):
        teacher = settings.teacher.copy()
    else:
        teacher = graph.copy()
        kw = {k: v for k, v in fit_kw.items() if k not in ("callbacks", "loss")}
        fit(teacher, data, epochs=settings.teacher_epochs or epochs, loss=CrossEntropy(), **kw)
    _cluster(teacher, teacher_specs(teacher, graph, settings.specs), int(fit_kw.get("seed", 0)))
    return teacher


def teacher_specs(teacher: Graph, student: Graph, specs: Mapping[str, ClusterSpec]) -> dict[str, ClusterSpec]:
    """The teacher's clustered layers: a dense layer named like one of the ``student``'s takes that
    layer's spec (or stays float with it); any other (a teacher of another architecture) takes the
    spec most of the student's clustered layers use (the larger k on a tie)."""
    counts = Counter(specs.values())
    common = max(counts, key=lambda spec: (counts[spec], spec.clusters, spec.bits))
    own = {n.name for n in student.nodes}
    out = {}
    for layer in clusterable_layers(teacher):
        if layer in specs or layer not in own:
            out[layer] = specs.get(layer, common)
    return out


def train_cqkd(
    graph: Graph,
    data: Any,
    *,
    clusters: int = 16,
    layer_clusters: Mapping[str, int] | None = None,
    bits: int | None = None,
    layers: Sequence[str] | None = None,
    float_epochs: int | None = None,
    recluster_every: int = 0,
    teacher: str | Graph | None = "same",
    teacher_epochs: int | None = None,
    alpha: float = 0.8,
    temperature: float = 4.0,
    prune_units: float = 0.0,
    epochs: int = 40,
    **fit_kw: Any,
) -> tuple[History, ClusterReport]:
    """Train ``graph`` with CQKD in place (the schedule of the module docstring) and return the
    student's history over all phases and the clustering report. ``teacher``: "same", None (no
    distillation) or a trained float Graph; ``fit_kw`` are `fit`'s (batch_size, optimizer, lr,
    seed, early_stopping, progress, callbacks ...)."""
    settings = CQKDSettings(
        cluster_specs(graph, clusters, layer_clusters, bits, layers),
        float_epochs,
        recluster_every,
        "none" if teacher is None else teacher,
        teacher_epochs,
        alpha,
        temperature,
        prune_units,
    )
    return run_cqkd(graph, data, settings, epochs=epochs, **fit_kw)


def run_cqkd(
    graph: Graph, data: Any, settings: CQKDSettings, *, epochs: int, **fit_kw: Any
) -> tuple[History, ClusterReport]:
    """Run the CQKD schedule of ``settings`` on ``graph`` (see `train_cqkd`)."""
    started = time.perf_counter()
    phases = settings.phases(epochs)
    loss = fit_kw.pop("loss", "cross_entropy")
    fit_kw = _fresh_optimizers(fit_kw)
    if settings.teacher is not None:
        if not (loss == "cross_entropy" or isinstance(loss, CrossEntropy)):
            raise ConfigError(
                "[techniques.cqkd] distillation needs the cross_entropy loss",
                hint="set teacher = 'none' for another loss",
            )
        teacher = train_teacher(graph, data, settings, epochs, _fresh_optimizers(fit_kw))
        loss = Distillation(lambda x: predict(teacher, x), settings.temperature, settings.alpha)
    callbacks = list(fit_kw.pop("callbacks", ()))
    history = History()
    seed, clusterings = int(fit_kw.get("seed", 0)), 0
    for kind, n in phases:
        if kind == "clustered":
            if settings.prune_units and not clusterings:
                dense = [layer for layer in settings.specs if graph.node(layer).op == "dense"]
                prune_units(graph, dense, settings.prune_units)
            _cluster(graph, settings.specs, seed + clusterings, previous=clusterings > 0)
            clusterings += 1
            for layer in settings.specs:
                p = weight_of(graph, layer)
                p.meta["cluster"]["centroids"] = [float(c) for c in p.attachment("codebook")]
        elif kind == "free":
            for layer in settings.specs:
                uncluster_param(weight_of(graph, layer))
        if n:
            kw = _fresh_optimizers(fit_kw)
            part = fit(graph, data, epochs=n, loss=loss, callbacks=callbacks if kind == "float" else (), **kw)
            _append(history, part, kind)
    for layer in settings.specs:
        weight_of(graph, layer).meta["cluster"].pop("centroids", None)
    history.seconds = time.perf_counter() - started  # the teacher's training included
    report = cluster_report(graph, settings.specs)
    graph.meta["clustering"] = report.to_dict()
    return history, report


def _fresh_optimizers(fit_kw: dict[str, Any]) -> dict[str, Any]:
    """``fit_kw`` with a new optimizer of the same settings in place of a given `Optimizer`: each
    phase (and the teacher) starts with its own state, since the trained storage changes shape."""
    opt = fit_kw.get("optimizer")
    if not isinstance(opt, Optimizer):
        return dict(fit_kw)
    settings = opt.config()
    return {**fit_kw, "optimizer": make_optimizer(settings.pop("name"), **settings)}


def _append(history: History, part: History, phase: str) -> None:
    """Append ``part``'s epochs to ``history``, numbered on from it; the phase is kept per epoch as
    ``clustered`` (1.0 in a clustered phase, 0.0 in float)."""
    base = len(history.epochs)
    for e in part.epochs:
        history.epochs.append({**e, "epoch": base + e["epoch"], "clustered": 1.0 if phase == "clustered" else 0.0})
    # The weights are the last phase's: its early stopping (within the phase) is the one that counts.
    history.stopped_early = part.stopped_early
    history.best_epoch = None if part.best_epoch is None else base + part.best_epoch
    history.seconds += part.seconds


@register("cqkd")
def setup(graph: Graph, options: dict[str, Any], *, plan: TechniquePlan, data: Any = None, seed: int = 0) -> None:
    """The ``cqkd`` technique from its config options: checks them against ``graph`` and makes the
    schedule the plan's trainer (it replaces `fit`, with the same keyword arguments)."""
    settings = settings_from_options(graph, options)
    if plan.trainer_fit is not None:
        raise ConfigError("[techniques.cqkd] replaces the trainer, and another technique does too")

    def trainer_fit(g: Graph, d: Any, **fit_kw: Any) -> History:
        history, report = run_cqkd(g, d, settings, **fit_kw)
        plan.reports.update(report.lines())
        return history

    plan.trainer_fit = trainer_fit
    plan.reports["cqkd"] = (
        f"{len(settings.specs)} layers clustered, teacher {'none' if settings.teacher is None else 'same'}"
    )

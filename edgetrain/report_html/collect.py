"""What the HTML report shows, as plain data read from a model and the results it is given.

Nothing here draws or writes: `draw` turns these records into pictures and `page` into HTML.
Every part a model may lack (no training history, no recorded test split, no masked layer, no
fine-tuning run, a model the C export cannot plan) is an `Absent` carrying the reason the page
prints in place of the section, so a report is written for any model `edgetrain` can load.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from ..errors import DataError
from ..graph import Graph
from ..targets import Target

if TYPE_CHECKING:  # the C export is imported only when a memory report is asked for
    from ..export.c.report import MemoryReport


@dataclass(frozen=True)
class Absent:
    """A section without its data: ``reason`` says why, in a sentence the page shows."""

    reason: str


@dataclass(frozen=True)
class TrainingHistory:
    """Per-epoch figures of the training run (``graph.meta["history"]``, `engine.trainer.History`).

    ``series`` maps ``loss``, ``train_acc``, ``val_loss``, ``val_acc`` to one value per epoch
    (NaN where an epoch lacks it); only the keys some epoch has are present."""

    epochs: list[int]
    series: dict[str, list[float]]
    best_epoch: int | None
    restored_epoch: int | None


@dataclass(frozen=True)
class Confusion:
    """``matrix[true, predicted]`` sample counts of the model on one labelled split."""

    matrix: np.ndarray
    labels: list[str]
    source: str
    samples: int

    @property
    def accuracy(self) -> float:
        """The share of the split's samples on the diagonal (predicted as labelled); 0 without samples."""
        return float(np.trace(self.matrix) / max(1, self.samples))


@dataclass(frozen=True)
class MaskImage:
    """The sparsity pattern of one masked parameter, as a 2-D image (True = stored weight).

    A weight of more than two dimensions (a convolution's kh x kw x C_in x C_out) is shown with
    its last axis (output channels) as columns and every other axis flattened into rows."""

    layer: str
    role: str
    shape: tuple[int, ...]
    image: np.ndarray

    @property
    def density(self) -> float:
        """The share of the parameter's weights that are stored (0 for an empty image)."""
        return float(self.image.mean()) if self.image.size else 0.0


@dataclass(frozen=True)
class FinetuneRun:
    """The parts of a ``finetune --json`` result the report draws."""

    source: str
    model: str
    target: str
    ran_on: str
    steps: int | None
    trainable: list[str]
    loss_curve: list[float]
    accuracy_before: float | None
    accuracy_after: float | None


HISTORY_KEYS = ("loss", "train_acc", "val_loss", "val_acc")


def training_history(graph: Graph) -> TrainingHistory | Absent:
    """The model's training history, or why it has none (imported models, hand-built graphs)."""
    hist = graph.meta.get("history")
    if not isinstance(hist, dict):
        hist = {}
    epochs = hist.get("epochs")
    if not isinstance(epochs, list) or not epochs:
        return Absent(
            "this model file holds no training history (it was not trained by `edgetrain train`, "
            "e.g. imported from ONNX or TFLite)"
        )
    rows = [e for e in epochs if isinstance(e, dict)]
    numbers = [int(e["epoch"]) if _finite(e.get("epoch")) else i + 1 for i, e in enumerate(rows)]
    series = {
        k: [float(e[k]) if _finite(e.get(k)) else math.nan for e in rows]
        for k in HISTORY_KEYS
        if any(_finite(e.get(k)) for e in rows)
    }
    if not series:
        return Absent("the model's training history records no loss or accuracy per epoch")
    return TrainingHistory(
        numbers, series, _int_or_none(hist.get("best_epoch")), _int_or_none(hist.get("restored_epoch"))
    )


def confusion(
    y_true: ArrayLike, y_pred: ArrayLike, n_classes: int, class_names: list[str] | None, source: str
) -> Confusion:
    """Count every (true, predicted) pair of class ids 0..n_classes-1 (the labels were checked
    against the model's outputs when the samples were loaded)."""
    t = np.asarray(y_true, np.int64).reshape(-1)
    p = np.asarray(y_pred, np.int64).reshape(-1)
    n = max(int(n_classes), int(t.max(initial=-1)) + 1, int(p.max(initial=-1)) + 1)
    matrix = np.bincount(t * n + p, minlength=n * n).reshape(n, n)
    names = list(class_names or [])
    labels = [str(names[k]) if k < len(names) else str(k) for k in range(n)]
    return Confusion(matrix, labels, source, int(t.size))


def mask_images(graph: Graph) -> list[MaskImage] | Absent:
    """One image per masked parameter, in node order; `Absent` when no parameter is masked."""
    out = []
    for node in graph.nodes:
        for role, p in graph.node_params(node).items():
            if p.mask is None:
                continue
            m = np.asarray(p.mask, bool)
            image = m.reshape(1, -1) if m.ndim < 2 else m.reshape(-1, m.shape[-1])
            out.append(MaskImage(node.name, role, tuple(int(d) for d in p.shape), image))
    return out or Absent("no layer of this model is masked (it is dense)")


def memory_report(
    graph: Graph, target: Target, dtype: Literal["f32", "int8"] = "int8", calib_x: ArrayLike | None = None
) -> MemoryReport:
    """The memory report `export c` prints for ``graph`` on ``target``, also when it does not fit.

    `export.c.prepare_model` computes it and refuses a model over budget; the report wants the
    figures of such a model most of all, so the program is planned for ``target`` without its
    budgets (the budgets take no part in the plan) and they are put back on the report, whose
    ``overshoot`` then says by how much it misses."""
    from ..export.c import prepare_model

    unbudgeted = dataclasses.replace(target, flash_bytes=None, ram_bytes=None)
    _, report, _ = prepare_model(graph, unbudgeted, dtype, calib_x)
    return dataclasses.replace(report, flash_budget=target.flash_bytes, ram_budget=target.ram_bytes)


def load_finetune_result(path: str | Path) -> dict[str, Any]:
    """The JSON ``edgetrain finetune ... --json`` printed (`device.finetune.FinetuneReport.to_dict`),
    read from ``path``; a DataError when it is unreadable or not such a result."""
    hint = "pass the file `edgetrain finetune MODEL ... --json > result.json` wrote"
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise DataError(f"cannot read --finetune {path}: {e.strerror or e}", hint=hint) from None
    except (ValueError, UnicodeDecodeError) as e:
        raise DataError(f"--finetune {path} is not JSON ({e})", hint=hint) from None
    curve = doc.get("loss_curve") if isinstance(doc, dict) else None
    if not isinstance(curve, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in curve):
        raise DataError(
            f"--finetune {path} is not the result of `edgetrain finetune --json` (no list of numbers under loss_curve)",
            hint=hint,
        )
    for key in ("accuracy_before", "accuracy_after"):
        v = doc.get(key)
        if v is not None and not _finite(v):
            raise DataError(f"--finetune {path}: {key} is {v!r}, not a number", hint=hint)
    return doc


def finetune_run(doc: dict[str, Any], source: str) -> FinetuneRun:
    """The report's view of a checked `load_finetune_result` document."""

    def acc(key: str) -> float | None:
        return float(doc[key]) if _finite(doc.get(key)) else None

    trainable = doc.get("trainable")
    return FinetuneRun(
        source=source,
        model=str(doc.get("model", "")),
        target=str(doc.get("target", "")),
        ran_on=str(doc.get("ran_on", "")),
        steps=_int_or_none(doc.get("steps")),
        trainable=[str(t) for t in trainable] if isinstance(trainable, list) else [],
        loss_curve=[float(v) for v in doc["loss_curve"]],
        accuracy_before=acc("accuracy_before"),
        accuracy_after=acc("accuracy_after"),
    )


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _int_or_none(v: Any) -> int | None:
    return int(v) if _finite(v) else None


__all__ = [
    "HISTORY_KEYS",
    "Absent",
    "Confusion",
    "FinetuneRun",
    "MaskImage",
    "TrainingHistory",
    "confusion",
    "finetune_run",
    "load_finetune_result",
    "mask_images",
    "memory_report",
    "training_history",
]

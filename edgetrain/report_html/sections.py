"""The report's sections, in page order, from a model and the results gathered for it: the
pictures of `draw` and the tables of the existing reports (`model_report.info_tables`, the C
export's `MemoryReport` rows), each section either complete or `Absent` with its reason."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..graph import Graph
from ..model_report import Table, info_tables
from . import draw
from .collect import Absent, Confusion, FinetuneRun, mask_images, training_history
from .page import Figure, Section

if TYPE_CHECKING:
    from ..export.c.report import MemoryReport


@dataclass(frozen=True)
class ReportData:
    """What the report is drawn from. ``graph`` gives the model table, the training history and
    the masks; the other parts are computed by the caller (they need data, a target, a file)."""

    graph: Graph
    confusion: Confusion | Absent
    memory: MemoryReport | Absent
    finetune: FinetuneRun | Absent


SECTION_TITLES = {
    "model": "Model",
    "history": "Training curves",
    "confusion": "Confusion matrix",
    "memory": "Flash and RAM on the target",
    "masks": "Sparse patterns",
    "finetune": "On-device fine-tuning",
}


def build_sections(data: ReportData) -> list[Section]:
    """Every section of the page, in order (`SECTION_TITLES`)."""
    return [
        _model(data.graph),
        _history(data.graph),
        _confusion(data.confusion),
        _memory(data.memory),
        _masks(data.graph),
        _finetune(data.finetune),
    ]


def _model(graph: Graph) -> Section:
    tables = info_tables(graph)  # what `edgetrain info` prints
    return Section("model", SECTION_TITLES["model"], tables=tables[:1])


def _history(graph: Graph) -> Section:
    h = training_history(graph)
    if isinstance(h, Absent):
        return Section("history", SECTION_TITLES["history"], absent=h.reason)
    last = {k: v[-1] for k, v in h.series.items()}
    intro = f"{len(h.epochs)} epochs. Last epoch: " + ", ".join(f"{k} {v:.4g}" for k, v in last.items())
    notes = [f"early stopping restored the weights of epoch {h.restored_epoch}"] if h.restored_epoch else []
    return Section(
        "history",
        SECTION_TITLES["history"],
        intro=intro,
        notes=notes,
        figures=[Figure("loss and accuracy per epoch, train and validation", draw.history_png(h))],
    )


def _confusion(c: Confusion | Absent) -> Section:
    if isinstance(c, Absent):
        return Section("confusion", SECTION_TITLES["confusion"], absent=c.reason)
    intro = f"{c.source}: {c.samples} samples, accuracy {100 * c.accuracy:.2f}% (rows: true class, columns: predicted)."
    return Section(
        "confusion",
        SECTION_TITLES["confusion"],
        intro=intro,
        figures=[Figure(f"confusion matrix on {c.source}", draw.confusion_png(c))],
    )


def _memory(rep: MemoryReport | Absent) -> Section:
    if isinstance(rep, Absent):
        return Section("memory", SECTION_TITLES["memory"], absent=rep.reason)
    over = rep.overshoot()
    if rep.flash_budget is None and rep.ram_budget is None:
        fit = "the target has no flash or RAM budget"
    elif over:
        fit = "does NOT fit: over by " + ", ".join(f"{k} {v:,} B" for k, v in over.items())
    else:
        fit = "fits"
    intro = f"{rep.model} as {rep.dtype} C on {rep.target}: {fit} (the memory report of `edgetrain export c`)."
    tables = [
        Table(f"per layer\n{rep.TABLE_LEGEND}", list(rep.TABLE_COLUMNS), rep.table_rows()),
        Table("totals", ["", "bytes", "budget"], rep.summary_rows()),
    ]
    return Section(
        "memory",
        SECTION_TITLES["memory"],
        intro=intro,
        tables=tables,
        notes=list(rep.notes),
        figures=[Figure(f"flash and RAM per layer and in total on {rep.target}", draw.memory_png(rep))],
    )


def _masks(graph: Graph) -> Section:
    masks = mask_images(graph)
    if isinstance(masks, Absent):
        return Section("masks", SECTION_TITLES["masks"], absent=masks.reason)
    return Section(
        "masks",
        SECTION_TITLES["masks"],
        intro="Black: stored weights; white: masked out. Rows: inputs, columns: outputs.",
        figures=[
            Figure(f"mask of {m.layer}.{m.role} ({100 * m.density:.2f}% stored)", draw.mask_png(m)) for m in masks
        ],
    )


def _finetune(f: FinetuneRun | Absent) -> Section:
    if isinstance(f, Absent):
        return Section("finetune", SECTION_TITLES["finetune"], absent=f.reason)

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{100 * v:.1f}%"

    rows: list[list[Any]] = [
        ["result file", f.source],
        ["model", f.model],
        ["target", f.target],
        ["ran on", f.ran_on],
        ["steps", "-" if f.steps is None else f.steps],
        ["trainable", ", ".join(f.trainable)],
        ["accuracy before", pct(f.accuracy_before)],
        ["accuracy after", pct(f.accuracy_after)],
    ]
    return Section(
        "finetune",
        SECTION_TITLES["finetune"],
        tables=[Table("fine-tuning run", ["", "value"], rows)],
        figures=[Figure("on-device loss per step and accuracy before and after", draw.finetune_png(f))],
    )


__all__ = ["SECTION_TITLES", "ReportData", "build_sections"]

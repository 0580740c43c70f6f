"""The report's pictures, drawn with matplotlib into PNG bytes (no file, no display).

matplotlib is the ``report`` extra: it is imported inside `pyplot`, on the first picture, with
the non-interactive "Agg" backend, so importing this module (and the CLI) never needs it and a
headless machine never looks for a display. Every figure is closed after it is saved: a report
of many masked layers does not keep them all in memory.
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from .collect import Confusion, FinetuneRun, MaskImage, TrainingHistory

if TYPE_CHECKING:
    from ..export.c.report import MemoryReport

DPI = 96
#: Series of a training history: its label and line style (train solid, validation dashed).
SERIES = {
    "loss": ("train loss", "-"),
    "val_loss": ("validation loss", "--"),
    "train_acc": ("train accuracy", "-"),
    "val_acc": ("validation accuracy", "--"),
}


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (the caller has checked the extra is installed)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    finally:
        pyplot().close(fig)
    return buf.getvalue()


def history_png(h: TrainingHistory) -> bytes:
    """Loss (left) and accuracy (right) per epoch; a dotted line at the epoch early stopping restored."""
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, keys, title in ((ax_loss, ("loss", "val_loss"), "loss"), (ax_acc, ("train_acc", "val_acc"), "accuracy")):
        drawn = False
        for k in keys:
            if k in h.series:
                label, style = SERIES[k]
                ax.plot(
                    h.epochs, h.series[k], style, marker="o" if len(h.epochs) <= 30 else None, markersize=3, label=label
                )
                drawn = True
        if h.restored_epoch is not None:
            ax.axvline(h.restored_epoch, color="grey", linestyle=":", label=f"restored epoch {h.restored_epoch}")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(title)
        ax.grid(alpha=0.3)
        if drawn:
            ax.legend(fontsize="small")
        else:
            ax.text(0.5, 0.5, f"no {title} recorded", ha="center", va="center", transform=ax.transAxes)
    ax_acc.set_ylim(top=1.02)  # accuracy never exceeds 1; a little room for a point at 1.0
    return _png(fig)


def confusion_png(c: Confusion) -> bytes:
    """The confusion matrix as a heat map, true class down, predicted across, counts in the cells
    (cells are labelled only while they stay legible: up to 20 classes)."""
    plt = pyplot()
    n = len(c.labels)
    side = min(9.0, 2.5 + 0.45 * n)
    fig, ax = plt.subplots(figsize=(side + 1.2, side))
    im = ax.imshow(c.matrix, cmap="Blues", vmin=0)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="samples")
    ticks = np.arange(n)
    ax.set_xticks(ticks, c.labels, rotation=90 if n > 10 else 0)
    ax.set_yticks(ticks, c.labels)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(f"{c.source}: {c.samples} samples, accuracy {100 * c.accuracy:.2f}%")
    if n <= 20:
        top = c.matrix.max(initial=0)
        for (i, j), v in np.ndenumerate(c.matrix):
            if v:
                ax.text(j, i, str(v), ha="center", va="center", fontsize=8, color="white" if v > top / 2 else "black")
    return _png(fig)


def memory_png(rep: MemoryReport) -> bytes:
    """Per-layer flash (stacked: weights, bias, requantization, argument struct) and the arena RAM
    in use while each layer runs (its output inside), over the flash and RAM totals as shares of
    the target's budgets (stacked by part; red past 100%)."""
    plt = pyplot()
    layers = rep.layers
    names = [lm.layer for lm in layers]
    y = np.arange(len(layers))
    height = max(2.2, 0.3 * len(layers) + 1.2)
    fig = plt.figure(figsize=(11, height + 2.6))
    grid = fig.add_gridspec(2, 2, height_ratios=[height, 1.6], hspace=0.55)
    ax_fl, ax_rl, ax_tot = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1]), fig.add_subplot(grid[1, :])

    left = np.zeros(len(layers))
    for field, label in (("weights", "weights"), ("bias", "bias"), ("quant", "requantization"), ("args", "args")):
        v = np.array([getattr(lm, field) for lm in layers], float)
        if v.any():
            ax_fl.barh(y, v, left=left, label=label)
            left += v
    _layer_axes(ax_fl, y, names, "flash per layer (bytes)")
    ax_rl.barh(y, [lm.live for lm in layers], color="tab:purple", label="arena in use while it runs")
    ax_rl.barh(y, [lm.activation for lm in layers], color="tab:pink", height=0.4, label="its output")
    _layer_axes(ax_rl, y, names, "RAM per layer (bytes)")

    totals = [
        (
            "flash",
            [
                ("model data", rep.data_bytes),
                ("input standardisation", rep.raw_input_bytes),
                ("runtime code (est.)", rep.code_bytes_estimate),
            ],
            rep.flash_budget,
        ),
        (
            "RAM",
            [("arena", rep.arena_bytes), ("input + output", rep.io_bytes), ("stack", rep.stack_reserved)],
            rep.ram_budget,
        ),
    ]
    _totals(ax_tot, totals)
    fig.suptitle(f"{rep.model} on {rep.target} ({rep.dtype})")
    return _png(fig)


def _layer_axes(ax: Any, y: np.ndarray, names: list[str], title: str) -> None:
    from matplotlib.ticker import FuncFormatter

    ax.set_yticks(y, names)
    ax.invert_yaxis()  # the first layer on top, as in the tables
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))  # bytes, not "1e6" offsets
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize="small", loc="lower right")


def _totals(ax: Any, totals: list[tuple[str, list[tuple[str, int]], int | None]]) -> None:
    """One bar per resource: its parts stacked as percentages of the budget, a line at 100%. A
    target without budgets (the host) has nothing to compare with: the axis says so."""
    budgeted = [(what, parts, budget) for what, parts, budget in totals if budget]
    if not budgeted:
        ax.text(0.5, 0.5, "the target has no flash or RAM budget", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    colors = iter(_colors())
    top = 100.0
    for row, (what, parts, budget) in enumerate(budgeted):
        left = 0.0
        for label, v in parts:
            if not v:
                continue  # a part this model does not use (no standardisation) stays out of the legend
            share = 100 * v / budget
            ax.barh([row], [share], left=left, color=next(colors), label=f"{what}: {label} {v:,} B")
            left += share
        total = sum(v for _, v in parts)
        over = total > budget
        ax.text(
            left,
            row,
            f"  {total:,} of {budget:,} B ({100 * total / budget:.1f}%)",
            va="center",
            color="red" if over else "black",
            fontsize=9,
        )
        top = max(top, left)
    ax.axvline(100, color="red", linestyle="--", linewidth=1)
    ax.set_xlim(0, top * 1.6)  # room for the label after the longer bar
    ax.set_yticks(range(len(budgeted)), [w for w, _, _ in budgeted])
    ax.invert_yaxis()
    ax.set_xlabel("% of the target's budget (dashed line: 100%)")
    ax.set_title("totals against the budget")
    ax.legend(fontsize="x-small", loc="center left", bbox_to_anchor=(1.01, 0.5))


def _colors() -> list[str]:
    """The default colour cycle, twice (the totals draw up to six parts)."""
    cycle = pyplot().rcParams["axes.prop_cycle"].by_key().get("color", ["C0", "C1", "C2"])
    return list(cycle) * 2


def mask_png(m: MaskImage) -> bytes:
    """The mask as black (stored) and white (pruned) pixels, inputs down and outputs across."""
    plt = pyplot()
    rows, cols = m.image.shape
    scale = 3.5 / max(rows, cols)
    fig, ax = plt.subplots(figsize=(max(2.5, cols * scale) + 0.6, max(1.2, rows * scale) + 0.8))
    ax.imshow(m.image, cmap="Greys", vmin=0, vmax=1, interpolation="nearest", aspect="auto")
    ax.set_title(f"{m.layer}.{m.role} {'x'.join(map(str, m.shape))}: {100 * m.density:.2f}% stored", fontsize=9)
    ax.set_xlabel("output unit" if len(m.shape) <= 2 else "output channel")
    ax.set_ylabel("input" if len(m.shape) <= 2 else "kernel position x input channel")
    return _png(fig)


def finetune_png(f: FinetuneRun) -> bytes:
    """The on-device loss per step (with a moving mean) and the accuracy before and after."""
    plt = pyplot()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.6), gridspec_kw={"width_ratios": [3, 1]})
    curve = np.asarray(f.loss_curve, float)
    steps = np.arange(1, curve.size + 1)
    if curve.size:
        ax_loss.plot(steps, curve, color="tab:blue", alpha=0.35, linewidth=0.8, label="loss per step")
        w = max(1, min(10, curve.size // 5))
        if w > 1:
            mean = np.convolve(np.nan_to_num(curve), np.ones(w) / w, mode="valid")
            ax_loss.plot(steps[w - 1 :], mean, color="tab:blue", label=f"mean of {w} steps")
        ax_loss.legend(fontsize="small")
    else:
        ax_loss.text(0.5, 0.5, "no steps recorded", ha="center", va="center", transform=ax_loss.transAxes)
    ax_loss.set_xlabel("step")
    ax_loss.set_title(f"on-device training loss ({f.ran_on or f.target})")
    ax_loss.grid(alpha=0.3)
    values = [f.accuracy_before, f.accuracy_after]
    bars = ax_acc.bar(["before", "after"], [0 if v is None else v for v in values], color=["tab:grey", "tab:green"])
    for bar, v in zip(bars, values):
        text = "-" if v is None or math.isnan(v) else f"{100 * v:.1f}%"
        ax_acc.text(bar.get_x() + bar.get_width() / 2, bar.get_height(), text, ha="center", va="bottom")
    ax_acc.set_ylim(0, 1.1)
    ax_acc.set_title("accuracy")
    return _png(fig)


__all__ = ["DPI", "confusion_png", "finetune_png", "history_png", "mask_png", "memory_png", "pyplot"]

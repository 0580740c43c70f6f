"""Keras-style conveniences on a model: `summary` (the `edgetrain info` tables as text) and
`evaluate` (loss and accuracy on a data split)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from rich.console import Console
from rich.table import Table as RichTable
from rich.text import Text

from .data import Dataset, Split
from .engine.executor import check_input, predict
from .engine.losses import get_loss
from .errors import DataError
from .graph import Graph
from .model_report import info_tables


def summary(graph: Graph, *, print_it: bool = True, width: int = 140) -> str:
    """The per-layer tables `edgetrain info` prints (output shapes, parameters, MACs, bytes,
    trainable), as text; printed too unless ``print_it`` is False."""
    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=False, color_system=None)
    for t in info_tables(graph):
        rt = RichTable(title=Text(t.title), title_justify="left")
        for i, c in enumerate(t.columns):
            rt.add_column(Text(c), justify="left" if i == 0 else "right")
        for row in t.rows:
            rt.add_row(*[Text(f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v)) for v in row])
        console.print(rt)
    text = buf.getvalue()
    if print_it:
        print(text, end="")
    return text


def evaluate(
    graph: Graph,
    data: Dataset | Split | tuple[ArrayLike, ArrayLike],
    *,
    loss: str = "cross_entropy",
    batch_size: int = 1024,
) -> dict[str, Any]:
    """``{"samples", "loss", "accuracy"}`` of the model on ``data``: a Dataset's test split, a
    Split, or ``(x, y)`` with samples standardised as in training. ``accuracy`` is for class
    labels (cross-entropy) and None for MSE targets."""
    part = data.test if isinstance(data, Dataset) else data
    if part is None:
        raise TypeError("the Dataset has no test split")
    if isinstance(part, Split):
        x, y = part.x, part.y
    else:
        x, y = (np.asarray(v) for v in part)
    x = check_input(graph, np.asarray(x, np.float32))
    if len(x) != len(y) or len(x) == 0:
        raise DataError(
            f"evaluate needs as many labels as samples (got {len(x)} samples, {len(y)} labels), and at least one",
            hint="pass (x, y) of one split",
        )
    out = predict(graph, x, batch_size=batch_size)
    fn = get_loss(loss)
    if loss == "cross_entropy":
        labels = np.asarray(y).astype(np.int64).reshape(-1)
        if labels.min() < 0 or labels.max() >= out.shape[1]:
            raise DataError(
                f"labels must be class ids 0..{out.shape[1] - 1} for this model, got "
                f"{int(labels.min())}..{int(labels.max())}",
                hint="check the label column",
            )
        value, _ = fn(out, labels)
        acc: float | None = float((out.argmax(axis=1) == labels).mean())
    else:
        value, _ = fn(out, np.asarray(y, np.float32).reshape(out.shape))
        acc = None
    return {"samples": len(x), "loss": float(value), "accuracy": acc}

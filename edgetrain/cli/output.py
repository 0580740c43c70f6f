"""Printing for the CLI: rich tables on a terminal, plain JSON with --json.

Every text printed here is literal: model, layer and parameter names are user data, so rich markup
in them (``[bold]``, ``[/]``) is shown as typed, never interpreted."""
from __future__ import annotations

import json
import sys
from typing import Any, Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

# Piped output (logs, CI, tests) would otherwise be squeezed to 80 columns.
console = Console()
if not console.is_terminal:
    console = Console(width=140)
err_console = Console(stderr=True)


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    t = Table(title=Text(title), title_justify="left")
    for i, c in enumerate(columns):
        t.add_column(Text(c), justify="left" if i == 0 else "right")
    for r in rows:
        t.add_row(*[_fmt(v) for v in r])
    console.print(t)


def _fmt(v: Any) -> Text:
    if isinstance(v, float):
        return Text(f"{v:.4g}")
    if isinstance(v, int):
        return Text(f"{v:,}")
    return Text(str(v))


def emit_json(obj: Any) -> None:
    json.dump(obj, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def info(msg: str) -> None:
    """One message to stderr, as typed (no markup), never wrapped: a line stays one line."""
    err_console.print(msg, markup=False, highlight=False, soft_wrap=True)


def report_import(title: str, summary: dict[str, Any], as_json: bool) -> None:
    """The summary an ``import`` command prints: JSON, or one table (lists joined by commas)."""
    if as_json:
        emit_json(summary)
        return
    table(title, ["item", "value"], [[k, ", ".join(map(str, v)) if isinstance(v, list) else v]
                                     for k, v in summary.items()])


def imported_summary(graph: Any, output: str) -> dict[str, Any]:
    """What every import reports about the model it wrote."""
    return {"model": output, "name": graph.name, "input": list(graph.input_shape), "outputs": graph.outputs,
            "dtype": "int8" if graph.meta.get("quantization") else "f32", "layers": len(graph.nodes),
            "params": graph.num_params(), "ops": [n.op for n in graph.nodes]}


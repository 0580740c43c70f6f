"""Printing for the CLI: rich tables on a terminal, plain JSON with --json.

Every text printed here is literal: model, layer and parameter names are user data, so rich markup
in them (``[bold]``, ``[/]``) is shown as typed, never interpreted."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

# Piped output (logs, CI, tests) would otherwise be squeezed to 80 columns.
console = Console()
if not console.is_terminal:
    console = Console(width=140)
err_console = Console(stderr=True)


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print ``rows`` under ``columns`` as a rich table titled ``title``: the first column
    left-aligned, the others right-aligned, values formatted as the rest of the output."""
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


# The version of the --json result schema (docs/json.md): bumped when a shared key changes meaning.
JSON_SCHEMA = 1
# Keys that mean one thing in every command's --json result (docs/json.md defines each).
SHARED_KEYS = ("schema", "command", "model", "model_file", "output", "target", "ran_on", "runner", "dtype", "data")


def emit_json(command: str, result: Mapping[str, Any]) -> None:
    """Print ``result`` as the --json result of ``command`` ("train", "export c", ...): one JSON
    object, ``schema`` and ``command`` first; the shared keys (`SHARED_KEYS`) mean what
    docs/json.md says in every command."""
    json.dump({"schema": JSON_SCHEMA, "command": command, **result}, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def info(msg: str) -> None:
    """One message to stderr, as typed (no markup), never wrapped: a line stays one line."""
    err_console.print(msg, markup=False, highlight=False, soft_wrap=True)


def report_import(command: str, title: str, summary: dict[str, Any], as_json: bool) -> None:
    """The summary an ``import`` command prints: JSON, or one table (lists joined by commas)."""
    if as_json:
        emit_json(command, summary)
        return
    table(
        title,
        ["item", "value"],
        [[k, ", ".join(map(str, v)) if isinstance(v, list) else v] for k, v in summary.items()],
    )


def imported_summary(graph: Any, model_file: str, output: str) -> dict[str, Any]:
    """What every import reports about the model it read (``model_file``) and wrote (``output``)."""
    return {
        "model": graph.name,
        "model_file": model_file,
        "output": output,
        "input": list(graph.input_shape),
        "outputs": graph.outputs,
        "dtype": "int8" if graph.meta.get("quantization") else "f32",
        "layers": len(graph.nodes),
        "params": graph.num_params(),
        "ops": [n.op for n in graph.nodes],
    }

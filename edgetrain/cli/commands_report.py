"""`edgetrain report`: one self-contained HTML page about a model (`edgetrain.report_html`).

The command gathers what the page shows with the same code the other commands use (the samples
`eval` loads, the memory report of `export c`, the JSON of `finetune --json`) and hands it to
`edgetrain.report_html`, which draws and writes it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from .. import report_html
from ..errors import ConfigError, EdgetrainError
from ..extras import require
from ..formats.modelfile import load_model
from ..graph import Graph
from ..outputs import safe_file_stem
from ..targets import Target, load_target
from . import options
from .app import cli
from .output import emit_json, info

if TYPE_CHECKING:
    from ..export.c.report import MemoryReport


@cli.command("report")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="The HTML file to write (default: MODEL's stem + .html in the current directory). An existing "
    "file is replaced only when it is a report edgetrain wrote.",
)
@click.option(
    "--target",
    "-t",
    default="stm32f405",
    show_default=True,
    help="Board whose flash and RAM budget the memory section shows (see `edgetrain targets`).",
)
@options.dtype_option("Arithmetic of the memory section's C export (int8 calibrates on the model's training split).")
@click.option(
    "--data",
    "source",
    help="Samples of the confusion matrix: DATASET[:split] or FILE[:split] (default: "
    "the split the model's training held out, e.g. digits:test).",
)
@click.option(
    "--finetune",
    "finetune_file",
    type=click.Path(dir_okay=False),
    help="The JSON `edgetrain finetune ... --json` printed: adds its loss curve and accuracy.",
)
@click.option("--json", "as_json", is_flag=True, help='Print {"output": FILE, "sections": [...], ...} as JSON.')
def report_cmd(
    model: str,
    output: str | None,
    target: str,
    dtype: options.DtypeChoice,
    source: str | None,
    finetune_file: str | None,
    as_json: bool,
) -> None:
    """Write an HTML report of MODEL: training curves, confusion matrix, flash/RAM, sparse patterns."""
    require("report", "edgetrain report")
    out = Path(output) if output else Path(f"{safe_file_stem(Path(model).stem, default='report')}.html")
    protect = [model, *([finetune_file] if finetune_file else [])]
    report_html.check_report_path(out, protect)  # refused before anything is loaded or drawn
    graph = load_model(model)
    board = load_target(target)  # an unknown board is the user's mistake: refused, not a missing section
    finetune = (
        report_html.finetune_run(report_html.load_finetune_result(finetune_file), finetune_file)
        if finetune_file
        else report_html.Absent(
            "no fine-tuning result given (--finetune RESULT.json, the output of `edgetrain finetune ... --json`)"
        )
    )
    if not as_json:
        info(f"report: {graph.name} on {board.name} ({dtype}) -> {out}")
    data = report_html.ReportData(
        graph, confusion=_confusion(graph, source), memory=_memory(graph, board, dtype), finetune=finetune
    )
    text, sections = report_html.render_report(data)
    written = report_html.write_report(out, text, protect)
    for s in sections:
        # A dense model has no masks and a report without --finetune no run: only a section whose
        # data the command looked for and could not get is worth a line on stderr.
        if not s.present and s.name not in ("masks", "finetune"):
            info(f"note: {s.title.lower()}: {s.absent}")
    if as_json:
        emit_json(
            "report",
            {
                "model": graph.name,
                "model_file": model,
                "output": str(out),
                "target": board.name,
                "dtype": dtype,
                "bytes": len(text.encode("utf-8")),
                "sections": [
                    {"name": s.name, "title": s.title, "present": s.present, "note": s.absent} for s in sections
                ],
            },
        )
        return
    info(
        f"wrote {written} ({len(text.encode('utf-8')):,} bytes; "
        f"{sum(s.present for s in sections)} of {len(sections)} sections)"
    )


def _confusion(graph: Graph, source: str | None) -> report_html.Confusion | report_html.Absent:
    """The confusion matrix on ``source`` (loaded as `eval` loads it), else on the model's own
    test split. A ``--data`` the user named must load (its error is the command's); the default
    split may be gone (a moved file, an imported model): the section then says why."""
    from ..data_sources import model_split_source
    from ..engine.executor import predict
    from .commands_core import load_samples

    given = source is not None
    source = source or model_split_source(graph.meta.get("preprocess") or {}, "test")
    if source is None:
        return report_html.Absent(
            "the model records no training data, so it has no held-out test split "
            "(pass --data DATASET[:split] or FILE[:split])"
        )
    try:
        s = load_samples(graph, source)
    except EdgetrainError as e:
        if given:
            raise
        return report_html.Absent(f"the model's test split {source} could not be loaded: {e.message}")
    logits = predict(graph, s.x)
    return report_html.confusion(
        s.y, logits.argmax(1), logits.shape[1], graph.meta.get("class_names"), f"{s.source} ({s.split})"
    )


def _memory(graph: Graph, board: Target, dtype: options.DtypeChoice) -> MemoryReport | report_html.Absent:
    """The `export c` memory report on ``board``; when the model cannot be exported as ``dtype``
    (no calibration data recorded, an op the C export lacks) the section says why."""
    from ..quantize import has_quantization
    from .commands_c import default_calib
    from .commands_core import load_eval_data

    calibrate = dtype == "int8" and not has_quantization(graph)
    try:
        calib = default_calib(graph) if calibrate else None
    except ConfigError as e:  # its hint names export c's --calib, which report does not take
        return report_html.Absent(
            f"{e.message}: the model records no training split to calibrate on "
            "(pass --dtype f32 for the float32 export)"
        )
    try:
        calib_x = load_eval_data(graph, calib, labels=False)[0] if calib else None
        return report_html.memory_report(graph, board, dtype, calib_x)
    except EdgetrainError as e:
        return report_html.Absent(
            f"the C export of this model as {dtype} failed: {e.message}" + (f" ({e.hint})" if e.hint else "")
        )


__all__ = ["report_cmd"]

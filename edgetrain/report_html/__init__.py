"""``edgetrain report``: one self-contained HTML page about a model (training curves, confusion
matrix, flash and RAM against a target, sparse patterns, an on-device fine-tuning run).

    from edgetrain.report_html import ReportData, render_report, write_report
    text, sections = render_report(ReportData(graph, confusion=..., memory=..., finetune=...))
    write_report("model.html", text)

One job per module: `collect` reads what is shown (absent parts as `Absent` with the reason),
`draw` makes the pictures (matplotlib, the ``report`` extra, imported lazily), `sections` builds
the page's sections from both, `page` renders the HTML, `output` writes it (atomically, never over
a file edgetrain did not write).
"""

from __future__ import annotations

from .collect import Absent, Confusion, FinetuneRun, confusion, finetune_run, load_finetune_result, memory_report
from .output import check_report_path, is_edgetrain_report, write_report
from .page import Section, render_page
from .sections import SECTION_TITLES, ReportData, build_sections


def render_report(data: ReportData) -> tuple[str, list[Section]]:
    """The page for ``data`` and its sections (for a caller listing what is in it)."""
    sections = build_sections(data)
    g = data.graph
    facts = [("model", g.name), ("input", "x".join(map(str, g.input_shape))), ("parameters", f"{g.num_params():,}")]
    source = (g.meta.get("preprocess") or {}).get("source")
    if source:
        facts.append(("trained on", str(source)))
    return render_page(f"edgetrain report: {g.name}", facts, sections), sections


__all__ = [
    "SECTION_TITLES",
    "Absent",
    "Confusion",
    "FinetuneRun",
    "ReportData",
    "Section",
    "build_sections",
    "check_report_path",
    "confusion",
    "finetune_run",
    "is_edgetrain_report",
    "load_finetune_result",
    "memory_report",
    "render_report",
    "write_report",
]

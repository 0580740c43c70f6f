"""The report's HTML: one self-contained page (inline CSS, pictures as ``data:image/png;base64``
URIs, no script, no link to anything outside), so it opens the same from a mail attachment, a CI
artifact or an air-gapped machine.

Every text on the page (model, layer and class names are user data) is HTML-escaped. The page
names its generator in ``<meta name="generator" content="edgetrain VERSION report">``: that is
how `edgetrain.report_html.output` recognises a file it may replace.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..model_report import Table
from ..version import __version__

GENERATOR_PREFIX = "edgetrain "
GENERATOR_SUFFIX = " report"
GENERATOR = f"{GENERATOR_PREFIX}{__version__}{GENERATOR_SUFFIX}"


@dataclass(frozen=True)
class Figure:
    """A PNG picture and the text that stands for it (``alt``)."""

    alt: str
    png: bytes


@dataclass(frozen=True)
class Section:
    """One heading of the page. ``absent`` (a sentence) replaces the content when the data is missing."""

    name: str  # stable id: the anchor and the --json key
    title: str
    absent: str | None = None
    intro: str = ""
    figures: Sequence[Figure] = field(default_factory=tuple)
    tables: Sequence[Table] = field(default_factory=tuple)
    notes: Sequence[str] = field(default_factory=tuple)

    @property
    def present(self) -> bool:
        """Whether the section has its data (no ``absent`` sentence)."""
        return self.absent is None


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
nav a { margin-right: 1em; }
.absent { color: #8a5a00; background: #fff7e0; border-left: 4px solid #e0a000; padding: 0.6em 1em; }
.facts td { padding: 0.1em 1em 0.1em 0; }
table.data { border-collapse: collapse; font-size: 0.85em; margin: 0.8em 0; }
table.data caption { text-align: left; font-weight: 600; padding-bottom: 0.3em; white-space: pre-wrap; }
table.data th, table.data td { border: 1px solid #ddd; padding: 0.2em 0.5em; text-align: right; }
table.data th:first-child, table.data td:first-child { text-align: left; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; }
section#masks figure { display: inline-block; vertical-align: top; margin-right: 1.5em; }
.note { color: #555; font-size: 0.9em; }
footer { margin-top: 3em; color: #777; font-size: 0.8em; }
"""


def render_page(title: str, facts: Sequence[tuple[str, str]], sections: Sequence[Section]) -> str:
    """The whole HTML document: a heading, a table of ``facts``, a contents line and the sections."""
    e = html.escape
    nav = " ".join(f'<a href="#{e(s.name)}">{e(s.title)}</a>' for s in sections)
    fact_rows = "".join(f"<tr><td>{e(k)}</td><td>{e(v)}</td></tr>" for k, v in facts)
    body = "\n".join(_section(s) for s in sections)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="generator" content="{e(GENERATOR)}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{e(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f'<h1>{e(title)}</h1>\n<table class="facts">{fact_rows}</table>\n<nav>{nav}</nav>\n'
        f"{body}\n<footer>written by {e(GENERATOR)}</footer>\n</body>\n</html>\n"
    )


def _section(s: Section) -> str:
    e = html.escape
    parts = [f'<section id="{e(s.name)}">', f"<h2>{e(s.title)}</h2>"]
    if s.absent is not None:
        parts.append(f'<p class="absent">Not available: {e(s.absent)}</p>')
    else:
        if s.intro:
            parts.append(f"<p>{e(s.intro)}</p>")
        parts += [_figure(f) for f in s.figures]
        parts += [_table(t) for t in s.tables]
        parts += [f'<p class="note">{e(n)}</p>' for n in s.notes]
    parts.append("</section>")
    return "\n".join(parts)


def _figure(f: Figure) -> str:
    data = base64.b64encode(f.png).decode("ascii")
    alt = html.escape(f.alt)
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{alt}"><figcaption class="note">{alt}'
        "</figcaption></figure>"
    )


def _table(t: Table) -> str:
    e = html.escape
    head = "".join(f"<th>{e(str(c))}</th>" for c in t.columns)
    rows = "".join("<tr>" + "".join(f"<td>{e(_cell(v))}</td>" for v in r) + "</tr>" for r in t.rows)
    return f'<table class="data"><caption>{e(t.title)}</caption><tr>{head}</tr>{rows}</table>'


def _cell(v: Any) -> str:
    """Numbers as the CLI tables print them (`cli.output`): thousands separated, floats to 4 digits."""
    if isinstance(v, bool) or v is None:
        return "" if v is None else str(v)
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


__all__ = ["GENERATOR", "GENERATOR_PREFIX", "GENERATOR_SUFFIX", "Figure", "Section", "render_page"]

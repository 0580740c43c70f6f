"""Writing the report file: atomically (`edgetrain.outputs.write_file`), and only over a report
edgetrain wrote.

The project's rule for single output files (as ``export tflite -o``): a new path is written; an
existing file is replaced only when edgetrain recognisably wrote it (here: an HTML page whose
generator meta names ``edgetrain ... report``, `page.GENERATOR`); anything else, and the
command's own inputs, are refused with a ConfigError and left as they were.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Iterable
from pathlib import Path

from ..errors import ConfigError
from ..outputs import write_file
from .page import GENERATOR_PREFIX, GENERATOR_SUFFIX

#: The generator meta within the first bytes of the file (it is in the page's head).
_HEAD_BYTES = 4096
_GENERATOR_META = re.compile(
    r'<meta name="generator" content="'
    + re.escape(html.escape(GENERATOR_PREFIX))
    + r'[^"<>]{1,64}'
    + re.escape(html.escape(GENERATOR_SUFFIX))
    + r'">'
)


def is_edgetrain_report(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a regular file holding an HTML report edgetrain wrote."""
    try:
        with open(path, "rb") as f:
            head = f.read(_HEAD_BYTES)
    except OSError:
        return False
    return bool(_GENERATOR_META.search(head.decode("utf-8", "replace")))


def check_report_path(path: str | os.PathLike[str], protect: Iterable[str | os.PathLike[str]] = ()) -> None:
    """Raise the ConfigError `write_report` would raise for ``path`` now, writing nothing (so a
    command refuses before it loads data and draws)."""
    target = Path(path)
    if target.is_dir():
        raise ConfigError(f"{path} is a directory, not a file", hint="give a file path, e.g. -o report.html")
    if not os.path.lexists(target):
        return
    for p in protect:
        if Path(p).exists() and target.exists() and os.path.samefile(target, p):
            raise ConfigError(
                f"{path} is the command's input; refusing to overwrite it", hint="choose another output file"
            )
    if not is_edgetrain_report(target):
        raise ConfigError(
            f"{path} exists and is not a report edgetrain wrote; refusing to overwrite it",
            hint="choose another output file, or remove it first",
        )


def write_report(path: str | os.PathLike[str], text: str, protect: Iterable[str | os.PathLike[str]] = ()) -> Path:
    """Write the page ``text`` to ``path`` atomically (checked again by `check_report_path` first:
    the file may have changed since); returns the path written."""
    protect = list(protect)
    check_report_path(path, protect)
    return write_file(path, text.encode("utf-8"))


__all__ = ["check_report_path", "is_edgetrain_report", "write_report"]

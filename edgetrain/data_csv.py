"""The CSV reader: UTF-8 text, one sample (or one time step) per line, an optional header line.

Contract (what `read_csv` accepts and refuses is the same whichever path reads the file):

* the delimiter is sniffed from the first lines (``,``, ``;``, tab or ``|``; `csv.Sniffer`),
  a comma when the sniffer cannot tell; ``delimiter=`` overrides it;
* the first line is a header when one of its cells is not a number;
* the label column is ``label_column`` (a header name or a column number, negative from the
  end), else the column named ``label``, else the last column;
* feature cells are numbers; label cells are numbers (class ids) or text class names, which
  are returned as text for `edgetrain.data_labels` to map.

Speed: a file without quotes whose lines all have the same number of cells is parsed by
``numpy.loadtxt`` (C, about five times faster than the csv module plus ``float()``); anything
else, or anything the fast path refuses, goes through the exact reader, which names the line
and column of the first bad cell. The fast path only ever accepts what the exact reader would.
"""

from __future__ import annotations

import csv
import io
import warnings
from array import array
from pathlib import Path
from typing import Any

import numpy as np

from . import limits
from .errors import DataError

#: Delimiters the sniffer may choose from (a space or a colon is too often part of a cell).
DELIMITERS = ",;\t|"
_SNIFF_BYTES = 64 * 1024

_BOM = b"\xef\xbb\xbf"


def read_csv(
    path: str | Path,
    label_column: str | int | None = None,
    *,
    delimiter: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Features (float64, one row per line) and labels of a UTF-8 CSV (see the module docstring).

    The labels are float64 class ids, or text (a str array) when any label cell is not a
    number. A UTF-8 byte-order mark is skipped; blank lines are ignored. Refused (`DataError`),
    naming the line and column: bytes that are not UTF-8 (with their offset), NUL bytes, no rows,
    a header without data rows, rows of different lengths, feature cells that are not numbers.
    """
    path = Path(path)
    with open(path, "rb") as f:
        raw = f.read(limits.limit("MAX_FILE_BYTES") + 1)
    if len(raw) > limits.limit("MAX_FILE_BYTES"):
        raise DataError(
            f"{path}: file is over the limit of {limits.limit('MAX_FILE_BYTES')} bytes",
            hint=limits.over_limit_hint("MAX_FILE_BYTES"),
        )
    text = _csv_text(raw, path)
    delim = delimiter if delimiter is not None else sniff_delimiter(text)
    fast = _read_fast(text, delim, label_column, path)
    if fast is not None:
        return fast
    rows = _csv_rows(text, path, delim)
    if not rows:
        raise DataError(f"{path}: empty CSV file (no rows)", hint="one sample per line: features, then the label")
    header = None
    first = rows[0]  # the line every row's width is compared with: the header if there is one
    if _is_header(rows[0][1], rows[1][1] if len(rows) > 1 else None):
        header, rows = rows[0][1], rows[1:]
        if not rows:
            raise DataError(
                f"{path}: CSV has a header line but no data rows",
                hint="one sample per line after the header: features, then the label",
            )
    width = len(first[1])
    col = _label_col(path, header, label_column, width)
    return _csv_numbers(rows, width, first[0], path, col)


def sniff_delimiter(text: str) -> str:
    """The delimiter of CSV ``text`` (one of `DELIMITERS`), from its first lines; ``,`` when unsure."""
    sample = text[:_SNIFF_BYTES]
    if len(text) > _SNIFF_BYTES and "\n" in sample:
        sample = sample[: sample.rindex("\n")]  # whole lines only: a cut line would look ragged
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:  # one column, or nothing regular enough to tell
        return ","


def _is_header(first: list[str], second: list[str] | None) -> bool:
    """A first line is a header when no cell is a number, or when a cell is text where the next
    line has a number (text class labels in the first data row do not make it a header)."""
    if all(_is_float(v) for v in first):
        return False
    if second is None or not any(_is_float(v) for v in first):
        return True
    return any(not _is_float(a) and _is_float(b) for a, b in zip(first, second))


def _read_fast(
    text: str,
    delim: str,
    label_column: str | int | None,
    path: Path,
) -> tuple[np.ndarray, np.ndarray] | None:
    """The table through ``numpy.loadtxt``, or None to let the exact reader decide (and explain).

    Taken only when the file has no quotes, no whitespace-only lines and the same number of
    delimiters on every non-empty line, so loadtxt sees exactly the cells the csv module would.
    """
    if '"' in text or len(delim) != 1:
        return None
    lines = text.splitlines()
    cells = [ln.count(delim) for ln in lines if ln]
    if not cells or any(c != cells[0] for c in cells) or any(ln.isspace() for ln in lines):
        return None
    width = cells[0] + 1
    data = [ln for ln in lines if ln]
    first = data[0].split(delim)
    header = first if _is_header(first, data[1].split(delim) if len(data) > 1 else None) else None
    if header is not None and len(data) < 2:
        return None  # the exact reader words the "header but no rows" error
    if (len(data) - (header is not None)) * width > limits.limit("MAX_DATA_ELEMENTS"):
        return None  # the exact reader refuses it with the limit's message
    try:
        col = _label_col(path, header, label_column, width)
    except DataError:
        return None
    skip = 0
    if header is not None:  # skiprows counts physical lines, blank ones included
        skip = next(i for i, ln in enumerate(lines) if ln) + 1
    feats = [j for j in range(width) if j != col]
    opts: dict[str, Any] = {"delimiter": delim, "comments": None, "skiprows": skip, "ndmin": 2, "encoding": None}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "input contained no data": the exact reader words that case
            x = np.loadtxt(io.StringIO(text), dtype=np.float64, usecols=feats, **opts) if feats else None
            try:
                y = np.loadtxt(io.StringIO(text), dtype=np.float64, usecols=[col], **opts)[:, 0]
            except ValueError:
                y = np.loadtxt(io.StringIO(text), dtype=str, usecols=[col], **opts)[:, 0]
    except (ValueError, IndexError):
        return None
    if not len(y) or (x is not None and len(x) != len(y)):
        return None
    if x is None:
        x = np.zeros((len(y), 0))
    return x, y


def _csv_text(raw: bytes, path: Path) -> str:
    """``raw`` decoded as UTF-8 with a leading byte-order mark removed (else it sticks to the first cell)."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):  # also the UTF-32 little-endian mark
        raise DataError(
            f"{path}: not UTF-8 text: starts with a UTF-16/32 byte-order mark (0x{raw[0]:02x} 0x{raw[1]:02x})",
            hint="save the CSV as UTF-8 (e.g. iconv -f utf-16 -t utf-8)",
        )
    start = len(_BOM) if raw.startswith(_BOM) else 0
    nul = raw.find(b"\x00", start)
    if nul >= 0:
        raise DataError(
            f"{path}: NUL byte at offset {nul} (line {_line_of(raw, nul)}): not a text CSV file",
            hint="data files are .npz (arrays x and y) or UTF-8 .csv text",
        )
    try:
        return raw[start:].decode("utf-8")
    except UnicodeDecodeError as e:
        at = start + e.start
        raise DataError(
            f"{path}: not UTF-8 text: byte 0x{raw[at]:02x} at offset {at} (line {_line_of(raw, at)})",
            hint="save the CSV as UTF-8 (e.g. iconv -f latin1 -t utf-8)",
        ) from None


def _line_of(raw: bytes, offset: int) -> int:
    return raw.count(b"\n", 0, offset) + 1


def _csv_rows(text: str, path: Path, delimiter: str = ",") -> list[tuple[int, list[str]]]:
    """(line number, cells) of each non-blank row."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows = []
    try:
        for cells in reader:
            if cells and any(c.strip() for c in cells):
                rows.append((reader.line_num, cells))
    except csv.Error as e:
        raise DataError(
            f"{path}: line {reader.line_num + 1}: malformed CSV ({_one_line(e)})",
            hint=f"one sample per line, cells separated by {delimiter!r}",
        ) from None
    return rows


def _label_col(path: Path, header: list[str] | None, label_column: str | int | None, width: int) -> int:
    if label_column is None:
        return header.index("label") if header and "label" in header else width - 1
    if isinstance(label_column, str):
        if not header or label_column not in header:
            raise DataError(
                f"{path}: no column named {label_column!r}",
                hint=f"columns: {', '.join(header)}" if header else "the CSV has no header line",
            )
        return header.index(label_column)
    if not -width <= label_column < width:
        raise DataError(
            f"{path}: label column {label_column} does not exist (the CSV has {width} columns)",
            hint="columns are numbered from 0",
        )
    return label_column % width


def _csv_numbers(
    rows: list[tuple[int, list[str]]],
    width: int,
    width_line: int,
    path: Path,
    col: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(features, labels) of ``rows``: features float64 (a flat buffer, 8 bytes per cell), labels
    float64 when every label cell is a number, else their text."""
    cap = limits.limit("MAX_DATA_ELEMENTS")
    if len(rows) * width > cap:
        raise DataError(
            f"{path}: {len(rows)} rows of {width} columns is over the limit of {cap} elements",
            hint=limits.over_limit_hint("MAX_DATA_ELEMENTS"),
        )
    flat = array("d")
    labels: list[str] = []
    for line, cells in rows:
        if len(cells) != width:
            raise DataError(
                f"{path}: line {line} has {len(cells)} columns, expected {width} (as on line {width_line})",
                hint="every row needs the same number of cells",
            )
        for j, v in enumerate(cells):
            if j == col:
                labels.append(v)
                continue
            try:
                flat.append(float(v))
            except ValueError:
                raise DataError(
                    f"{path}: line {line}, column {j + 1}: {_cell(v)} is not a number",
                    hint="every feature cell after the header must be a number (only the label may be a class name)",
                ) from None
    x = np.frombuffer(flat, dtype=np.float64).reshape(len(rows), width - 1).copy()
    try:
        y = np.array([float(v) for v in labels], dtype=np.float64)
    except ValueError:  # a class name: every label is taken as text ("0" and "walk" are both names)
        y = np.array(labels, dtype=str)
    return x, y


def _cell(v: str) -> str:
    r = repr(v)
    return r if len(r) <= 40 else r[:37] + "..."


def _is_float(v: str) -> bool:
    try:
        float(v)
        return True
    except ValueError:
        return False


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= 160 else text[:157] + "..."

"""Datasets: bundled scikit-learn sets and user files, validated, split and standardised.

Standardisation statistics are fitted on the training split only and travel with the model (see
`Dataset.preprocess`) so evaluation, export and on-device code see the same features.
"""
from __future__ import annotations

import csv
import io
import math
import struct
import tokenize
import zipfile
import zlib
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import limits
from .data_checks import check_samples, dtype_problem
from .errors import DataError

BUILTIN = ("digits", "iris", "wine", "breast_cancer")


@dataclass
class Split:
    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class Dataset:
    name: str
    train: Split
    val: Split | None
    test: Split | None
    n_classes: int
    mean: np.ndarray
    std: np.ndarray
    spec: dict[str, Any] = field(default_factory=dict)  # how to rebuild this exact split
    notes: list[str] = field(default_factory=list)  # what the split did differently (not stored in models)

    @property
    def n_features(self) -> int:
        """Values per sample (the width of a flat row; H * W * C for images)."""
        return int(np.prod(self.train.x.shape[1:]))

    def preprocess(self) -> dict[str, Any]:
        return {"mean": self.mean.tolist(), "std": self.std.tolist(), **self.spec}

    def split(self, name: str) -> Split:
        s = getattr(self, name, None) if name in ("train", "val", "test") else None
        if s is None:
            raise DataError(f"dataset {self.name!r} has no {name!r} split", hint="use train, val or test")
        return s


def validate_arrays(x: np.ndarray, y: np.ndarray, n_classes: int | None = None, source: str = "data") -> int:
    """Check features and labels with `check_samples`; return the number of classes.

    Kept for callers of the earlier API: ``n_classes`` (when given) bounds the labels, else the
    classes are ``0..max(y)``.
    """
    _, labels = check_samples(x, y, source=source, n_outputs=n_classes, x_dtype=np.float64)
    return n_classes if n_classes is not None else int(labels.max()) + 1


def _standardise(train_x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = train_x.mean(axis=0)
    std = train_x.std(axis=0)
    std[std < 1e-8] = 1.0  # constant features (digits has a few) pass through centred
    return mean.astype(np.float32), std.astype(np.float32)


def split_and_standardise(
    name: str, x: np.ndarray, y: np.ndarray, *, seed: int = 0, test_size: float = 0.3, val_size: float = 0.1,
    n_classes: int | None = None, spec: dict[str, Any] | None = None,
) -> Dataset:
    """Train/val/test split (stratified when every class can be), standardised with training statistics.

    The samples pass `check_samples` first. A split that cannot be stratified (a class with fewer
    than 2 samples, or fewer test/val samples than classes: 40 samples of 10 classes) falls back
    to a plain random split and says so in `Dataset.notes`; too few samples for the requested
    split sizes raise `DataError`.
    """
    for key, v in (("test_size", test_size), ("val_size", val_size)):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise DataError(f"split size {key} = {v!r} is not a number",
                            hint="set test_size and val_size in [data] to fractions such as 0.3")
    if not (0 <= test_size < 1 and 0 <= val_size < 1 and test_size + val_size < 1):
        raise DataError(f"split sizes test={test_size} val={val_size} must be in [0, 1) and sum below 1")
    # Shaped samples (images, windows) are standardised per value, as flat rows, and keep their shape.
    sample = tuple(np.shape(x)[1:])
    x, y = check_samples(x, y, source=name, n_outputs=n_classes, x_dtype=np.float64,
                         sample_shape=sample if len(sample) > 1 else None)
    k = n_classes if n_classes is not None else int(y.max()) + 1
    notes: list[str] = []
    # Stratify only when every class id 0..max has 2 samples (the rule so far, so valid data sets
    # split exactly as before); _split also needs enough samples on each side for every class.
    may_stratify = bool(np.bincount(y).min() >= 2)
    if not may_stratify:
        notes.append("split not stratified: a class has fewer than 2 samples")
    idx = np.arange(len(y))
    rest, test = _split(idx, y, test_size, seed, name, "test", may_stratify, notes)
    # The validation share is of the whole data set, so it is rescaled to what the test split left.
    rest, val = _split(rest, y, val_size / (1 - test_size), seed, name, "validation", may_stratify, notes)
    mean, std = _standardise(x[rest])

    def mk(ix: np.ndarray) -> Split | None:
        return Split(((x[ix] - mean) / std).astype(np.float32).reshape(len(ix), *sample), y[ix]) if len(ix) else None

    spec = {**(spec or {}), "seed": seed, "test_size": test_size, "val_size": val_size}
    return Dataset(name, mk(rest), mk(val), mk(test), k, mean, std, spec, notes)


def _split(idx: np.ndarray, y: np.ndarray, frac: float, seed: int, name: str, part: str, may_stratify: bool,
           notes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Split ``idx`` into (kept, taken), a ``frac`` share taken; stratified by ``y`` when possible.

    Sizes follow scikit-learn's rule (taken = ceil(frac * n)); at least one sample must be kept.
    """
    from sklearn.model_selection import train_test_split

    if frac <= 0:
        return idx, idx[:0]
    n = len(idx)
    n_take = int(np.ceil(frac * n))
    if n - n_take < 1:
        raise DataError(f"{name}: {n} sample{' is' if n == 1 else 's are'} too few to split off a {part} set "
                        f"({frac:.0%}) and keep samples for training",
                        hint="add samples, or set test_size = 0 and val_size = 0 in [data]")
    labels = y[idx]
    counts = np.bincount(labels)
    classes = int(np.count_nonzero(counts))
    # What scikit-learn's stratified split needs: 2 samples per class, all classes on each side.
    stratify = may_stratify and counts.min() >= 2 and min(n_take, n - n_take) >= classes
    if may_stratify and not stratify:
        notes.append(f"{part} split not stratified: {n} samples of {classes} classes are too few "
                     f"to put every class on both sides")
    return tuple(train_test_split(idx, test_size=frac, random_state=seed,  # type: ignore[return-value]
                                  stratify=labels if stratify else None))


def load_builtin(name: str, **kw: Any) -> Dataset:
    from sklearn import datasets as skd

    loaders = {"digits": skd.load_digits, "iris": skd.load_iris, "wine": skd.load_wine,
               "breast_cancer": skd.load_breast_cancer}
    if name not in loaders:
        raise DataError(f"unknown dataset {name!r}", hint=f"bundled: {', '.join(BUILTIN)}, or a .npz/.csv path")
    b = loaders[name]()
    return split_and_standardise(name, b.data, b.target, spec={"source": name}, **kw)


def read_file(path: str | Path, label_column: str | int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read features and labels from .npz (arrays `x`/`y`, or `X`/`y`) or .csv (last column = label).

    Every failure is a `DataError` naming the file and the problem; the arrays returned have
    passed `check_samples` (float64 features, int64 labels); shaped samples keep their shape.
    Callers that know the model check them again against its input shape and output count.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"data file {path} does not exist")
    if path.suffix not in (".npz", ".csv"):
        raise DataError(f"{path}: unsupported data file type {path.suffix!r}", hint="use .npz (x, y) or .csv")
    if not path.is_file():
        raise DataError(f"{path}: is a directory or device, not a data file", hint="give the path of a .npz or .csv file")
    size = path.stat().st_size
    cap = limits.limit("MAX_FILE_BYTES")
    if size > cap:
        raise DataError(f"{path}: file is {size} bytes, over the limit of {cap}",
                        hint=limits.over_limit_hint("MAX_FILE_BYTES"))
    x, y = read_npz(path) if path.suffix == ".npz" else read_csv(path, label_column)
    # Shaped samples (an .npz of images or windows) keep their shape: the model's check compares it.
    shape = tuple(np.shape(x)[1:])
    x, y = check_samples(x, y, source=str(path), x_dtype=np.float64, sample_shape=shape if len(shape) > 1 else None)
    return (x.reshape(len(x), *shape) if len(shape) > 1 else x), y


# ---------------------------------------------------------------- .npz

#: Exceptions reading a zip archive or an .npy member can raise on a corrupt file. Caught only
#: around the reads, so a bug elsewhere still shows as a traceback.
_NPZ_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error, ValueError, OSError,
               NotImplementedError, RuntimeError, struct.error, SyntaxError, tokenize.TokenError,
               RecursionError, MemoryError)
_CHUNK = 1 << 24


def read_npz(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Arrays ``x`` (or ``X``) and ``y`` of an .npz, read without pickle and checked before allocation.

    Each member's .npy header (shape, dtype) is read first: object, structured, complex and text
    dtypes, negative dimensions and more than ``MAX_DATA_ELEMENTS`` elements are refused before
    any array memory is allocated; a member declaring more than ``MAX_FILE_BYTES`` uncompressed
    bytes (a zip bomb) is refused without decompressing it.
    """
    path = Path(path)
    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty file (0 bytes), not a valid .npz", hint="re-create it with np.savez(path, x=x, y=y)")
    try:
        with zipfile.ZipFile(path) as z:
            # Not ZipInfo.is_dir(): it fails on an empty member name (a crash the fuzz test found).
            members = {_npz_key(i.filename): i for i in z.infolist() if not i.filename.endswith("/")}
            xk = "x" if "x" in members else "X" if "X" in members else None
            missing = [k for k, ok in (("x", xk is not None), ("y", "y" in members)) if not ok]
            if missing:
                raise DataError(f"{path}: .npz has no array {' or '.join(repr(m) for m in missing)} "
                                f"(found {sorted(members) or 'no arrays'})",
                                hint="save features as x and labels as y: np.savez(path, x=x, y=y)")
            assert xk is not None
            return (_read_member(z, members[xk], path, "features"),
                    _read_member(z, members["y"], path, "labels"))
    except DataError:
        raise
    except _NPZ_ERRORS as e:
        raise DataError(f"{path}: not a valid .npz file ({_one_line(e)})",
                        hint="re-create it with np.savez(path, x=x, y=y)") from None


def _npz_key(filename: str) -> str:
    # np.load names a member "x.npy" as "x"; other members keep their name.
    return filename[:-4] if filename.endswith(".npy") else filename


def _read_member(z: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path, what: str) -> np.ndarray:
    """One .npy member: header checked against the limits, then read into a fresh array."""
    where = f"{path}: {info.filename}"
    cap = limits.limit("MAX_FILE_BYTES")
    if info.file_size > cap:
        raise DataError(f"{where} declares {info.file_size} bytes uncompressed, over the limit of {cap}",
                        hint=limits.over_limit_hint("MAX_FILE_BYTES"))
    try:
        with z.open(info) as f:
            shape, fortran, dtype = _read_npy_header(f, where)
            _check_npy_header(shape, dtype, where, what)
            count = math.prod(shape)
            room = info.file_size - f.tell()
            if count * dtype.itemsize > room:
                raise DataError(f"{where} is truncated: its header claims shape {shape} of {dtype} "
                                f"({count * dtype.itemsize} bytes) but it holds {max(room, 0)}",
                                hint="re-create the file with np.savez(path, x=x, y=y)")
            arr = _read_into(f, count, dtype, where)
            while f.read(_CHUNK):  # read to the end: zipfile checks the CRC there
                pass
    except DataError:
        raise
    except _NPZ_ERRORS as e:
        raise DataError(f"{where} is not a valid .npy array ({_one_line(e)})",
                        hint="re-create the file with np.savez(path, x=x, y=y)") from None
    return arr.reshape(shape, order="F" if fortran else "C")


def _read_npy_header(f: Any, where: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    from numpy.lib import format as npy

    version = npy.read_magic(f)
    if version == (1, 0):
        return npy.read_array_header_1_0(f)
    if version == (2, 0):
        return npy.read_array_header_2_0(f)
    raise DataError(f"{where}: unsupported .npy format version {version[0]}.{version[1]}",
                    hint="save plain numeric arrays with np.savez(path, x=x, y=y)")


def _check_npy_header(shape: tuple[int, ...], dtype: np.dtype, where: str, what: str) -> None:
    problem = dtype_problem(dtype, what)
    if problem:
        raise DataError(f"{where}: {problem[0]}", hint=problem[1])
    if any(d < 0 for d in shape):
        raise DataError(f"{where}: header claims a negative shape {shape}", hint="the file is corrupt; re-create it")
    count = math.prod(shape)
    cap = limits.limit("MAX_DATA_ELEMENTS")
    if count > cap:
        raise DataError(f"{where}: header claims shape {shape}, {count} elements, over the limit of {cap}",
                        hint=limits.over_limit_hint("MAX_DATA_ELEMENTS"))


def _read_into(f: Any, count: int, dtype: np.dtype, where: str) -> np.ndarray:
    """Read ``count`` elements of ``dtype`` from ``f`` in chunks (no second copy of the data)."""
    arr = np.empty(count, dtype=dtype)
    buf = memoryview(arr.view(np.uint8)) if count else memoryview(b"")
    pos = 0
    while pos < len(buf):
        chunk = f.read(min(_CHUNK, len(buf) - pos))
        if not chunk:
            raise DataError(f"{where} is truncated: {pos} of {len(buf)} data bytes present",
                            hint="re-create the file with np.savez(path, x=x, y=y)")
        buf[pos:pos + len(chunk)] = chunk
        pos += len(chunk)
    return arr


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= 160 else text[:157] + "..."


# ---------------------------------------------------------------- .csv

_BOM = b"\xef\xbb\xbf"


def read_csv(path: str | Path, label_column: str | int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels of a UTF-8 CSV: one sample per line, the label in the last column (or
    the column named ``label``, or ``label_column``); an optional header line of names.

    A UTF-8 byte-order mark is skipped; blank lines are ignored. Refused, naming the line and
    column: bytes that are not UTF-8 (with their offset), NUL bytes, no rows, a header without
    data rows, rows of different lengths, cells that are not numbers.
    """
    path = Path(path)
    with open(path, "rb") as f:
        raw = f.read(limits.limit("MAX_FILE_BYTES") + 1)
    if len(raw) > limits.limit("MAX_FILE_BYTES"):
        raise DataError(f"{path}: file is over the limit of {limits.limit('MAX_FILE_BYTES')} bytes",
                        hint=limits.over_limit_hint("MAX_FILE_BYTES"))
    rows = _csv_rows(_csv_text(raw, path), path)
    if not rows:
        raise DataError(f"{path}: empty CSV file (no rows)", hint="one sample per line: features, then the label")
    header = None
    first = rows[0]  # the line every row's width is compared with: the header if there is one
    if not all(_is_float(v) for v in rows[0][1]):
        header, rows = rows[0][1], rows[1:]
        if not rows:
            raise DataError(f"{path}: CSV has a header line but no data rows",
                            hint="one sample per line after the header: features, then the label")
    width = len(first[1])
    table = _csv_numbers(rows, width, first[0], path)
    col = _label_col(path, header, label_column, width)
    return np.delete(table, col, axis=1), table[:, col]


def _csv_text(raw: bytes, path: Path) -> str:
    """``raw`` decoded as UTF-8 with a leading byte-order mark removed (else it sticks to the first cell)."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):  # also the UTF-32 little-endian mark
        raise DataError(f"{path}: not UTF-8 text: starts with a UTF-16/32 byte-order mark (0x{raw[0]:02x} 0x{raw[1]:02x})",
                        hint="save the CSV as UTF-8 (e.g. iconv -f utf-16 -t utf-8)")
    start = len(_BOM) if raw.startswith(_BOM) else 0
    nul = raw.find(b"\x00", start)
    if nul >= 0:
        raise DataError(f"{path}: NUL byte at offset {nul} (line {_line_of(raw, nul)}): not a text CSV file",
                        hint="data files are .npz (arrays x and y) or UTF-8 .csv text")
    try:
        return raw[start:].decode("utf-8")
    except UnicodeDecodeError as e:
        at = start + e.start
        raise DataError(f"{path}: not UTF-8 text: byte 0x{raw[at]:02x} at offset {at} "
                        f"(line {_line_of(raw, at)})",
                        hint="save the CSV as UTF-8 (e.g. iconv -f latin1 -t utf-8)") from None


def _line_of(raw: bytes, offset: int) -> int:
    return raw.count(b"\n", 0, offset) + 1


def _csv_rows(text: str, path: Path) -> list[tuple[int, list[str]]]:
    """(line number, cells) of each non-blank row."""
    reader = csv.reader(io.StringIO(text, newline=""))
    rows = []
    try:
        for cells in reader:
            if cells and any(c.strip() for c in cells):
                rows.append((reader.line_num, cells))
    except csv.Error as e:
        raise DataError(f"{path}: line {reader.line_num + 1}: malformed CSV ({_one_line(e)})",
                        hint="one sample per line, cells separated by commas") from None
    return rows


def _label_col(path: Path, header: list[str] | None, label_column: str | int | None, width: int) -> int:
    if label_column is None:
        return header.index("label") if header and "label" in header else width - 1
    if isinstance(label_column, str):
        if not header or label_column not in header:
            raise DataError(f"{path}: no column named {label_column!r}",
                            hint=f"columns: {', '.join(header)}" if header else "the CSV has no header line")
        return header.index(label_column)
    if not -width <= label_column < width:
        raise DataError(f"{path}: label column {label_column} does not exist (the CSV has {width} columns)",
                        hint="columns are numbered from 0")
    return label_column % width


def _csv_numbers(rows: list[tuple[int, list[str]]], width: int, width_line: int, path: Path) -> np.ndarray:
    """The cells of ``rows`` as a float64 table, growing a flat buffer (8 bytes per cell)."""
    cap = limits.limit("MAX_DATA_ELEMENTS")
    if len(rows) * width > cap:
        raise DataError(f"{path}: {len(rows)} rows of {width} columns is over the limit of {cap} elements",
                        hint=limits.over_limit_hint("MAX_DATA_ELEMENTS"))
    flat = array("d")
    for line, cells in rows:
        if len(cells) != width:
            raise DataError(f"{path}: line {line} has {len(cells)} columns, expected {width} "
                            f"(as on line {width_line})", hint="every row needs the same number of cells")
        for j, v in enumerate(cells):
            try:
                flat.append(float(v))
            except ValueError:
                raise DataError(f"{path}: line {line}, column {j + 1}: {_cell(v)} is not a number",
                                hint="every cell after the header must be a number") from None
    return np.frombuffer(flat, dtype=np.float64).reshape(len(rows), width).copy()


def _cell(v: str) -> str:
    r = repr(v)
    return r if len(r) <= 40 else r[:37] + "..."


def _is_float(v: str) -> bool:
    try:
        float(v)
        return True
    except ValueError:
        return False


def load_data(source: str, **kw: Any) -> Dataset:
    """A bundled name (``digits``) or a path to .npz/.csv, split and standardised."""
    if source in BUILTIN:
        return load_builtin(source, **kw)
    if "." not in Path(source).name and not Path(source).exists():
        raise DataError(f"unknown dataset {source!r}", hint=f"bundled: {', '.join(BUILTIN)}, or a .npz/.csv path")
    x, y = read_file(source)
    return split_and_standardise(Path(source).stem, x, y, spec={"source": str(source)}, **kw)


def apply_preprocess(x: np.ndarray, preprocess: dict[str, Any] | None) -> np.ndarray:
    """Standardise raw features with statistics stored in a model: ``(float32(x) - mean) / std``
    in float32 arithmetic."""
    if not preprocess:
        return np.asarray(x, dtype=np.float32)
    mean = np.asarray(preprocess["mean"], dtype=np.float32)
    std = np.asarray(preprocess["std"], dtype=np.float32)
    if x.shape[1] != mean.shape[0]:
        raise DataError(f"data has {x.shape[1]} features but the model was trained on {mean.shape[0]}")
    # float32 throughout, whatever the input's dtype: the exported C model's raw-input entry point
    # (et_model_input_from_raw) computes exactly this. Overflow is not warned about here: callers
    # check the result (check_samples refuses inf).
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        return (np.asarray(x, np.float32) - mean) / std

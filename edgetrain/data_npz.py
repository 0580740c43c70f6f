"""The .npz reader: arrays read without pickle, every header checked before anything is allocated."""

from __future__ import annotations

import math
import struct
import tokenize
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from . import limits
from .data_checks import dtype_problem
from .errors import DataError

#: Exceptions reading a zip archive or an .npy member can raise on a corrupt file. Caught only
#: around the reads, so a bug elsewhere still shows as a traceback.
_NPZ_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    EOFError,
    zlib.error,
    ValueError,
    OSError,
    NotImplementedError,
    RuntimeError,
    struct.error,
    SyntaxError,
    tokenize.TokenError,
    RecursionError,
    MemoryError,
)
_CHUNK = 1 << 24


#: The arrays an .npz may hold: one table (x or X, y) or predefined splits (x_train, y_train,
#: x_test, y_test, optionally x_val, y_val). Other members are ignored (never read).
NPZ_SPLIT_KEYS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")
_NPZ_KEYS = ("x", "X", "y", *NPZ_SPLIT_KEYS)


def read_npz(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Arrays ``x`` (or ``X``) and ``y`` of an .npz, read without pickle and checked before allocation.

    Each member's .npy header (shape, dtype) is read first: object, structured, complex and text
    dtypes (text is allowed for labels: class names), negative dimensions and more than
    ``MAX_DATA_ELEMENTS`` elements are refused before any array memory is allocated; a member
    declaring more than ``MAX_FILE_BYTES`` uncompressed bytes (a zip bomb) is refused without
    decompressing it. A file of predefined splits (``x_train`` ...) is read by `read_npz_arrays`.
    """
    arrays = read_npz_arrays(path)
    xk = "x" if "x" in arrays else "X" if "X" in arrays else None
    missing = [k for k, ok in (("x", xk is not None), ("y", "y" in arrays)) if not ok]
    if missing:
        raise DataError(
            f"{path}: .npz has no array {' or '.join(repr(m) for m in missing)} "
            f"(found {sorted(arrays) or 'no arrays'})",
            hint="save features as x and labels as y: np.savez(path, x=x, y=y)",
        )
    assert xk is not None
    return arrays[xk], arrays["y"]


def npz_layout(members: list[str] | set[str]) -> str:
    """``"splits"`` when an .npz holds x_train/y_train/x_test/y_test, ``"table"`` otherwise."""
    return "splits" if {"x_train", "y_train", "x_test", "y_test"} <= set(members) else "table"


def read_npz_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """The known arrays of an .npz (see `_NPZ_KEYS`), each read as `read_npz` describes.

    A table file must hold ``x`` (or ``X``) and ``y``; a predefined-split file ``x_train``,
    ``y_train``, ``x_test``, ``y_test`` (``x_val``/``y_val`` optional, as a pair).
    """
    path = Path(path)
    if path.stat().st_size == 0:
        raise DataError(
            f"{path}: empty file (0 bytes), not a valid .npz", hint="re-create it with np.savez(path, x=x, y=y)"
        )
    try:
        with zipfile.ZipFile(path) as z:
            # Not ZipInfo.is_dir(): it fails on an empty member name (a crash the fuzz test found).
            members = {_npz_key(i.filename): i for i in z.infolist() if not i.filename.endswith("/")}
            if npz_layout(set(members)) == "splits":
                wanted = [k for k in NPZ_SPLIT_KEYS if k in members]
                if ("x_val" in members) != ("y_val" in members):
                    raise DataError(
                        f"{path}: .npz has {'x_val' if 'x_val' in members else 'y_val'} without "
                        f"{'y_val' if 'x_val' in members else 'x_val'}",
                        hint="save the validation split as a pair: x_val and y_val",
                    )
            else:
                xk = "x" if "x" in members else "X" if "X" in members else None
                missing = [k for k, ok in (("x", xk is not None), ("y", "y" in members)) if not ok]
                if missing:
                    raise DataError(
                        f"{path}: .npz has no array {' or '.join(repr(m) for m in missing)} "
                        f"(found {sorted(members) or 'no arrays'})",
                        hint="save features as x and labels as y: np.savez(path, x=x, y=y), or "
                        "predefined splits as x_train, y_train, x_test, y_test",
                    )
                wanted = [xk, "y"]  # type: ignore[list-item]
            return {k: _read_member(z, members[k], path, "labels" if k.startswith("y") else "features") for k in wanted}
    except DataError:
        raise
    except _NPZ_ERRORS as e:
        raise DataError(
            f"{path}: not a valid .npz file ({_one_line(e)})", hint="re-create it with np.savez(path, x=x, y=y)"
        ) from None


def _npz_key(filename: str) -> str:
    # np.load names a member "x.npy" as "x"; other members keep their name.
    return filename[:-4] if filename.endswith(".npy") else filename


def _read_member(z: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path, what: str) -> np.ndarray:
    """One .npy member: header checked against the limits, then read into a fresh array."""
    where = f"{path}: {info.filename}"
    cap = limits.limit("MAX_FILE_BYTES")
    if info.file_size > cap:
        raise DataError(
            f"{where} declares {info.file_size} bytes uncompressed, over the limit of {cap}",
            hint=limits.over_limit_hint("MAX_FILE_BYTES"),
        )
    try:
        with z.open(info) as f:
            shape, fortran, dtype = _read_npy_header(f, where)
            _check_npy_header(shape, dtype, where, what)
            count = math.prod(shape)
            room = info.file_size - f.tell()
            if count * dtype.itemsize > room:
                raise DataError(
                    f"{where} is truncated: its header claims shape {shape} of {dtype} "
                    f"({count * dtype.itemsize} bytes) but it holds {max(room, 0)}",
                    hint="re-create the file with np.savez(path, x=x, y=y)",
                )
            arr = _read_into(f, count, dtype, where)
            while f.read(_CHUNK):  # read to the end: zipfile checks the CRC there
                pass
    except DataError:
        raise
    except _NPZ_ERRORS as e:
        raise DataError(
            f"{where} is not a valid .npy array ({_one_line(e)})",
            hint="re-create the file with np.savez(path, x=x, y=y)",
        ) from None
    return arr.reshape(shape, order="F" if fortran else "C")


def _read_npy_header(f: Any, where: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    from numpy.lib import format as npy

    version = npy.read_magic(f)
    if version == (1, 0):
        return npy.read_array_header_1_0(f)
    if version == (2, 0):
        return npy.read_array_header_2_0(f)
    raise DataError(
        f"{where}: unsupported .npy format version {version[0]}.{version[1]}",
        hint="save plain numeric arrays with np.savez(path, x=x, y=y)",
    )


def _check_npy_header(shape: tuple[int, ...], dtype: np.dtype, where: str, what: str) -> None:
    # Fixed-width text is plain bytes (no pickle): allowed for labels, which may be class names.
    problem = None if what == "labels" and dtype.kind in "US" else dtype_problem(dtype, what)
    if problem:
        raise DataError(f"{where}: {problem[0]}", hint=problem[1])
    if any(d < 0 for d in shape):
        raise DataError(f"{where}: header claims a negative shape {shape}", hint="the file is corrupt; re-create it")
    count = math.prod(shape)
    cap = limits.limit("MAX_DATA_ELEMENTS")
    if count > cap:
        raise DataError(
            f"{where}: header claims shape {shape}, {count} elements, over the limit of {cap}",
            hint=limits.over_limit_hint("MAX_DATA_ELEMENTS"),
        )


def _read_into(f: Any, count: int, dtype: np.dtype, where: str) -> np.ndarray:
    """Read ``count`` elements of ``dtype`` from ``f`` in chunks (no second copy of the data)."""
    arr = np.empty(count, dtype=dtype)
    buf = arr.view(np.uint8).data if count else memoryview(b"")
    pos = 0
    while pos < len(buf):
        chunk = f.read(min(_CHUNK, len(buf) - pos))
        if not chunk:
            raise DataError(
                f"{where} is truncated: {pos} of {len(buf)} data bytes present",
                hint="re-create the file with np.savez(path, x=x, y=y)",
            )
        buf[pos : pos + len(chunk)] = chunk
        pos += len(chunk)
    return arr


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= 160 else text[:157] + "..."

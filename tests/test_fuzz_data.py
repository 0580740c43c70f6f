"""Bounded fuzzing of the data readers: whatever the bytes, the only exception is `DataError`.

Each property runs a few seconds (``max_examples`` below; ``EDGETRAIN_FUZZ_EXAMPLES`` scales
them for a longer hunt). Inputs that once crashed a reader are kept as explicit regression cases
(`REGRESSIONS`), so they run on every test run whatever hypothesis draws.
"""
from __future__ import annotations

import io
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgetrain.data import read_file
from edgetrain.data_checks import check_samples
from edgetrain.errors import DataError

SCALE = float(os.environ.get("EDGETRAIN_FUZZ_EXAMPLES", "1"))
FUZZ = settings(max_examples=int(300 * SCALE), deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _read(name: str, data: bytes) -> tuple[np.ndarray, np.ndarray] | None:
    """read_file on ``data`` saved as ``name``: the arrays, or None for a DataError; anything else fails."""
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / name
        p.write_bytes(data)
        try:
            x, y = read_file(p)
            # What a reader accepts goes on to the model-side check (float32: may still refuse 1e300).
            check_samples(x, y, source=name)
        except DataError as e:
            assert str(e) and "\n" not in str(e), repr(str(e))
            return None
    return x, y


def _npz_bytes(**arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


GOOD_NPZ = _npz_bytes(x=np.random.default_rng(0).normal(size=(6, 3)), y=np.arange(6) % 2)


def _npz_compressed(**arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


GOOD_NPZ_COMPRESSED = _npz_compressed(x=np.eye(4), y=np.arange(4))

# ---------------------------------------------------------------- CSV

CELLS = st.one_of(
    st.integers(-10, 10).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", " ", "nan", "inf", "-inf", "1e309", "1_0", "0x10", "label", '"1"', "\"", "1,2", "\t3",
                     "\u0663", "１", "\x00", "\r", "\n", "\ufeff1", "é", "1e-400", "+5", "--1"]),
    st.text(max_size=6),
)


@st.composite
def csv_tables(draw: st.DrawFn) -> bytes:
    rows = draw(st.integers(0, 8))
    cols = draw(st.integers(1, 5))
    lines = []
    if draw(st.booleans()):
        lines.append(",".join(draw(st.lists(st.sampled_from(["a", "b", "label", "x y", ""]), min_size=cols,
                                            max_size=cols))))
    for _ in range(rows):
        width = cols if draw(st.integers(0, 9)) else draw(st.integers(0, cols + 2))
        lines.append(",".join(draw(CELLS) if draw(st.integers(0, 4)) == 0 else str(draw(st.integers(0, 3)))
                              for _ in range(width)))
    text = draw(st.sampled_from(["\n", "\r\n", "\r"])).join(lines) + draw(st.sampled_from(["", "\n", "\n\n"]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "latin-1", "utf-16", "cp1252", "utf-32"]))
    data = text.encode(encoding, errors="replace")
    if draw(st.booleans()):
        data = draw(st.sampled_from([b"", b"\xef\xbb\xbf", b"\xef\xbb", b"\xff\xfe", b"\x00"])) + data
    return data


@FUZZ
@given(st.binary(max_size=300))
def test_csv_random_bytes(data: bytes) -> None:
    _read("d.csv", data)


@FUZZ
@given(csv_tables())
def test_csv_random_tables(data: bytes) -> None:
    _read("d.csv", data)


# ---------------------------------------------------------------- NPZ

@st.composite
def mutated_npz(draw: st.DrawFn) -> bytes:
    raw = bytearray(draw(st.sampled_from([GOOD_NPZ, GOOD_NPZ_COMPRESSED])))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "set", "cut", "insert", "delete"]))
        at = draw(st.integers(0, max(len(raw) - 1, 0)))
        if op == "flip" and raw:
            raw[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and raw:
            raw[at] = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80, ord("("), ord("'"), ord("9")]))
        elif op == "cut":
            raw = raw[:at]
        elif op == "insert":
            raw[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del raw[at:at + draw(st.integers(1, 8))]
    return bytes(raw)


@FUZZ
@given(mutated_npz())
def test_npz_mutated_bytes(data: bytes) -> None:
    _read("d.npz", data)


DTYPES = st.sampled_from(["<f8", "<f4", "<f2", ">f8", "<i8", "<i1", "<u8", "<u1", "?", "<c8", "<c16", "<U3", "S2",
                          "<M8[s]", "<m8[s]", "V4", "<f16", "<i2"])


@st.composite
def odd_arrays(draw: st.DrawFn, what: str) -> np.ndarray:
    dtype = np.dtype(draw(DTYPES))
    shape = tuple(draw(st.lists(st.integers(0, 5), min_size=0, max_size=3)))
    n = int(np.prod(shape))
    raw = draw(st.binary(min_size=n * dtype.itemsize, max_size=n * dtype.itemsize))
    return np.frombuffer(raw, dtype=dtype).reshape(shape) if n else np.zeros(shape, dtype)


@FUZZ
@given(odd_arrays("x"), odd_arrays("y"), st.sampled_from(["x", "X", "a"]), st.booleans())
def test_npz_random_arrays(x: np.ndarray, y: np.ndarray, xname: str, structured: bool) -> None:
    if structured:
        x = np.zeros(len(y) if y.ndim else 1, dtype=[("a", "<f8"), ("b", "<i4")])
    got = _read("d.npz", _npz_bytes(**{xname: x, "y": y}))
    if got is not None:  # accepted: exactly the values saved
        assert np.array_equal(got[0], x.astype(np.float64)) and np.array_equal(got[1], y.astype(np.int64))


@FUZZ
@given(st.dictionaries(st.sampled_from(["x.npy", "y.npy", "X.npy", "x", "y", "d/x.npy"]),
                       st.binary(max_size=200), max_size=3))
def test_npz_random_members(members: dict[str, bytes]) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for k, v in members.items():
            z.writestr(k, v)
    _read("d.npz", buf.getvalue())


# ---------------------------------------------------------------- regressions

def _header(text: str, version: int = 1) -> bytes:
    h = text.encode("latin-1")
    return b"\x93NUMPY" + bytes([version, 0]) + len(h).to_bytes(2 if version == 1 else 4, "little") + h


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for k, v in members.items():
            z.writestr(k, v)
    return buf.getvalue()


def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


Y_NPY = _npy(np.arange(6) % 2)

def _unname(raw: bytes) -> bytes:
    """``raw`` (a zip whose first member is named "a") with that member's central-directory name emptied."""
    b = bytearray(raw)
    cd = b.find(b"PK\x01\x02")
    assert b[cd + 46:cd + 47] == b"a"
    b[cd + 28:cd + 30] = (0).to_bytes(2, "little")
    del b[cd + 46]
    eocd = b.rfind(b"PK\x05\x06")
    b[eocd + 12:eocd + 16] = (int.from_bytes(b[eocd + 12:eocd + 16], "little") - 1).to_bytes(4, "little")
    return bytes(b)


#: Inputs that crashed a reader (or could plausibly), kept whatever hypothesis draws.
REGRESSIONS: dict[str, tuple[str, bytes]] = {
    "csv_bom_only": ("d.csv", b"\xef\xbb\xbf"),
    "csv_lone_quote": ("d.csv", b'"'),
    "csv_cr_only": ("d.csv", b"1,0\r2,1\r"),
    "csv_utf16_bom": ("d.csv", "1,0\n".encode("utf-16")),
    # Found by test_csv_random_tables: a header wider than the rows put the label column past
    # the table (IndexError in np.delete).
    "csv_header_wider_than_rows": ("d.csv", b"b,label,x y,x y,label\n2\n"),
    "csv_nul_in_quotes": ("d.csv", b'"\x00",1\n'),
    "npz_header_not_dict": ("d.npz", _zip({"x.npy": _header("[1, 2]\n"), "y.npy": Y_NPY})),
    "npz_header_bad_descr": ("d.npz", _zip({"x.npy": _header("{'descr': '(', 'fortran_order': False, 'shape': (2,)}\n"),
                                            "y.npy": Y_NPY})),
    "npz_header_syntax": ("d.npz", _zip({"x.npy": _header("{'descr': '<f8', 'fortran_order': False, 'shape': (2,\n"),
                                         "y.npy": Y_NPY})),
    "npz_header_nested": ("d.npz", _zip({"x.npy": _header("(" * 5000 + ")" * 5000 + "\n"), "y.npy": Y_NPY})),
    "npz_header_not_latin1_v2": ("d.npz", _zip({"x.npy": _header("{'descr': '<f8'}\xff", version=2), "y.npy": Y_NPY})),
    "npz_header_length_huge": ("d.npz", _zip({"x.npy": b"\x93NUMPY\x02\x00\xff\xff\xff\x7f", "y.npy": Y_NPY})),
    "npz_header_shape_float": ("d.npz", _zip({"x.npy": _header("{'descr': '<f8', 'fortran_order': False, "
                                                               "'shape': (2.5,)}\n"), "y.npy": Y_NPY})),
    "npz_header_void0": ("d.npz", _zip({"x.npy": _header("{'descr': '|V0', 'fortran_order': False, "
                                                         "'shape': (10, 10)}\n"), "y.npy": Y_NPY})),
    "npz_header_subarray": ("d.npz", _zip({"x.npy": _header("{'descr': ('<f8', (1000, 1000)), 'fortran_order': False, "
                                                            "'shape': (1000,)}\n"), "y.npy": Y_NPY})),
    # Found by test_npz_mutated_bytes: ZipInfo.is_dir() raised IndexError on an empty member name.
    "npz_empty_member_name": ("d.npz", _unname(_zip({"a": b"", "y.npy": Y_NPY}))),
    "npz_encrypted_flag": ("d.npz", (lambda b: b[:6] + bytes([b[6] | 1]) + b[7:])(GOOD_NPZ)),
    "npz_unknown_method": ("d.npz", (lambda b: b[:8] + b"\x63\x00" + b[10:])(GOOD_NPZ)),
}


@pytest.mark.parametrize("case", sorted(REGRESSIONS))
def test_regressions(case: str) -> None:
    name, data = REGRESSIONS[case]
    _read(name, data)

"""The shared data validation (`edgetrain.data_checks.check_samples`) and the safe .npz/.csv readers.

Bad arrays and files must raise `DataError` with a one-line message naming the problem; good data
must come through unchanged; small valid data sets must split.
"""
from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest

import edgetrain as et
from edgetrain.config import TrainConfig
from edgetrain.data import read_csv, read_file, read_npz, split_and_standardise, validate_arrays
from edgetrain.data_checks import check_model_samples, check_samples, dtype_problem
from edgetrain.errors import ConfigError, DataError
from zips import claim_size, zip_with

RNG = np.random.default_rng(0)
X = RNG.normal(size=(60, 4))
Y = np.arange(60) % 3


def _with(arr: np.ndarray, index: int | tuple[int, int], value: float) -> np.ndarray:
    out = arr.astype(float)
    out[index] = value
    return out


BAD_ARRAYS = {
    "nan": (_with(X, (7, 2), np.nan), Y, "non-finite value nan at row 7, column 2"),
    "inf": (_with(X, (3, 1), -np.inf), Y, "non-finite value -inf at row 3, column 1"),
    "float32_overflow": (_with(X, (2, 0), 1e300), Y, "row 2, column 0 is outside the float32 range"),
    "complex_x": (X + 1j, Y, "features are complex"),
    "bool_x": (X > 0, Y, "features are boolean"),
    "object_x": (X.astype(object), Y, "features are Python object"),
    "structured_x": (np.zeros(60, dtype=[("a", "<f8")]), Y, "features are structured"),
    "string_y": (X, np.array(["a", "b", "c"] * 20), "labels are text"),
    "bool_y": (X, Y > 0, "labels are boolean"),
    "datetime_x": (np.zeros((60, 4), dtype="datetime64[s]"), Y, "features are datetime"),
    "x_1d": (X[:, 0], Y, "got shape (60,)"),
    "x_3d": (X.reshape(60, 2, 2), Y, "samples have shape (2, 2) but the model takes"),
    "x_scalar": (np.float64(1.0), Y, "got shape ()"),
    "no_feature_columns": (np.zeros((60, 0)), Y, "no feature columns"),
    "no_samples": (np.zeros((0, 4)), np.zeros(0), "no samples"),
    "length_mismatch": (X, Y[:59], "60 feature rows but 59 labels"),
    "one_hot_y": (X, np.eye(3)[Y], "labels must be a 1-D array"),
    "fractional_label": (X, _with(Y, 4, 1.5), "label at row 4 is 1.5"),
    "nan_label": (X, _with(Y, 5, np.nan), "label at row 5 is nan"),
    "inf_label": (X, _with(Y, 5, np.inf), "label at row 5 is inf"),
    "negative_label": (X, np.where(np.arange(60) == 5, -1, Y), "label -1 at row 5 is negative"),
    "negative_float_label": (X, _with(Y, 6, -2.0), "label -2 at row 6 is negative"),
    "label_too_big": (X, np.where(np.arange(60) == 5, 9, Y), "labels go up to 9 (row 5) but the model has 3 outputs"),
    "huge_label": (X, _with(Y, 5, 1e300), "labels go up to 1e+300"),
    "uint64_label": (X, np.full(60, 2**64 - 1, np.uint64), "labels go up to 18446744073709551615"),
    "wrong_width": (X[:, :3], Y, "the data has 3 features but the model was trained on 4"),
}


@pytest.mark.parametrize("case", sorted(BAD_ARRAYS))
def test_bad_arrays_are_refused(case: str) -> None:
    x, y, fragment = BAD_ARRAYS[case]
    with pytest.raises(DataError) as e:
        check_samples(x, y, source="d.npz", n_features=4, n_outputs=3)
    assert fragment in str(e.value)
    assert str(e.value).startswith("d.npz: ") and "\n" not in str(e.value)
    assert e.value.hint


def test_label_bound_without_a_model_is_max_units(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(DataError, match="label 1e\\+300 at row 5 is too large") as e:
        check_samples(X, _with(Y, 5, 1e300), source="d")
    assert "EDGETRAIN_LIMIT_MAX_UNITS" in e.value.hint
    monkeypatch.setenv("EDGETRAIN_LIMIT_MAX_UNITS", "2")
    with pytest.raises(DataError, match="label 2 at row 2 is too large"):
        check_samples(X, Y, source="d")


def test_element_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGETRAIN_LIMIT_MAX_DATA_ELEMENTS", "100")
    with pytest.raises(DataError, match="features have 240 elements, over the limit of 100") as e:
        check_samples(X, Y, source="d")
    assert "EDGETRAIN_LIMIT_MAX_DATA_ELEMENTS" in e.value.hint


def test_good_arrays_come_through_unchanged() -> None:
    x, y = check_samples(X, Y.astype(float), source="d", n_features=4, n_outputs=3)
    assert x.dtype == np.float32 and y.dtype == np.int64
    assert np.array_equal(x, X.astype(np.float32)) and np.array_equal(y, Y)
    x64, _ = check_samples(X, Y, source="d", x_dtype=np.float64)
    assert x64.dtype == np.float64 and np.array_equal(x64, X)
    # Integer and float16 features, integer labels of any width, a wider model than the labels need.
    xi, yi = check_samples(np.arange(8).reshape(4, 2), np.array([0, 1, 0, 1], np.uint8), source="d", n_outputs=10)
    assert xi.dtype == np.float32 and yi.tolist() == [0, 1, 0, 1]
    assert check_samples(X.astype(np.float16), Y, source="d")[0].dtype == np.float32
    assert check_samples(X[:1], Y[:1], source="d")[0].shape == (1, 4)  # one sample is a valid input


def test_dtype_problem_accepts_only_numbers() -> None:
    for ok in ("<f8", "<f4", "<f2", "<i8", "<u1", ">f8"):
        assert dtype_problem(np.dtype(ok), "features") is None
    for bad in ("?", "<c16", "<U3", "S2", "O", "<M8[s]", "<m8[s]", [("a", "<f8")], "V8"):
        assert dtype_problem(np.dtype(bad), "labels") is not None


def test_validate_arrays_keeps_its_contract() -> None:
    assert validate_arrays(X, Y) == 3
    assert validate_arrays(X, Y, n_classes=5) == 5
    with pytest.raises(DataError, match="label -1 at row 5"):
        validate_arrays(X, np.where(np.arange(60) == 5, -1, Y))


def test_check_model_samples_uses_the_models_sizes() -> None:
    g = et.Sequential([et.Dense(8, "relu"), et.Dense(3)], 4, seed=0)
    x, y = check_model_samples(g, X, Y, source="d")
    assert x.shape == (60, 4)
    with pytest.raises(DataError, match="6 features but the model was trained on 4"):
        check_model_samples(g, np.zeros((5, 6)), np.zeros(5), source="d")
    with pytest.raises(DataError, match="labels go up to 3 .* 3 outputs"):
        check_model_samples(g, X, Y + 1, source="d")


# ---------------------------------------------------------------- files

def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def _header_claiming(shape: tuple[int, ...], dtype: str = "<f8", version: int = 1) -> bytes:
    header = repr({"descr": dtype, "fortran_order": False, "shape": shape}).encode()
    size = 4 if version == 2 else 2
    header += b" " * (63 - (len(header) + 8 + size) % 64) + b"\n"
    return (b"\x93NUMPY" + bytes([version, 0]) + struct.pack("<I" if version == 2 else "<H", len(header)) + header
            + b"\x00" * 64)


def _write(name: str, data: bytes | str):
    def make(d: Path) -> Path:
        p = d / name
        p.write_bytes(data.encode() if isinstance(data, str) else data)
        return p
    return make


def _savez(**arrays: np.ndarray):
    def make(d: Path) -> Path:
        np.savez(d / "d.npz", **arrays)
        return d / "d.npz"
    return make


def _flip(make, at: int):
    def flipped(d: Path) -> Path:
        p = make(d)
        raw = bytearray(p.read_bytes())
        raw[at] ^= 0xFF
        p.write_bytes(bytes(raw))
        return p
    return flipped


BAD_FILES = {
    "missing": (lambda d: d / "nope.npz", "does not exist"),
    "suffix": (_write("d.txt", "1,2"), "unsupported data file type '.txt'"),
    "directory": (lambda d: (d / "dd.npz").mkdir() or d / "dd.npz", "is a directory"),
    "empty_npz": (_write("d.npz", b""), "empty file (0 bytes), not a valid .npz"),
    "random_npz": (_write("d.npz", np.random.default_rng(1).bytes(4096)), "not a valid .npz file"),
    "truncated_npz": (lambda d: _write("d.npz", _savez_bytes(x=X, y=Y)[:900])(d), "not a valid .npz file"),
    "bad_crc": (_flip(_savez(x=X, y=Y), 300), "x.npy is not a valid .npy array (Bad CRC-32"),
    "not_npy_inside": (lambda d: zip_with(d / "d.npz", {"x.npy": b"hello", "y.npy": b"world"}),
                       "x.npy is not a valid .npy array"),
    "missing_y": (_savez(x=X), "no array 'y' (found ['x'])"),
    "missing_both": (_savez(a=X), "no array 'x' or 'y' (found ['a'])"),
    "object": (lambda d: zip_with(d / "d.npz", {"x.npy": _npy_object(), "y.npy": _npy(Y)}), "Python object"),
    "complex": (_savez(x=X + 1j, y=Y), "x.npy: features are complex"),
    "structured": (_savez(x=np.zeros(60, dtype=[("a", "<f8"), ("b", "<f8")]), y=Y), "x.npy: features are structured"),
    "header_6e12": (lambda d: zip_with(d / "d.npz", {"x.npy": _header_claiming((80000, 80000000)), "y.npy": _npy(Y)}),
                    "6400000000000 elements, over the limit"),
    "header_v2_6e12": (lambda d: zip_with(d / "d.npz", {"x.npy": _header_claiming((80000, 80000000), version=2),
                                                     "y.npy": _npy(Y)}), "over the limit"),
    "header_negative": (lambda d: zip_with(d / "d.npz", {"x.npy": _header_claiming((-1, 4)), "y.npy": _npy(Y)}),
                        "negative shape (-1, 4)"),
    "header_lies_small": (lambda d: zip_with(d / "d.npz", {"x.npy": _header_claiming((1000, 4)), "y.npy": _npy(Y)}),
                          "x.npy is truncated: its header claims shape (1000, 4)"),
    "header_version_3": (lambda d: zip_with(d / "d.npz", {"x.npy": b"\x93NUMPY\x03\x00" + b"\x00" * 80, "y.npy": _npy(Y)}),
                         "unsupported .npy format version 3.0"),
    "bomb": (lambda d: claim_size(zip_with(d / "d.npz", {"x.npy": _npy(X), "y.npy": _npy(Y)}, compress=True),
                                   "x.npy", 0xFFFF0000), "declares 4294901760 bytes uncompressed, over the limit"),
    "npz_nan": (_savez(x=_with(X, (7, 2), np.nan), y=Y), "non-finite value nan at row 7, column 2"),
    "npz_one_hot": (_savez(x=X, y=np.eye(3)[Y]), "labels must be a 1-D array"),
    "csv_empty": (_write("d.csv", ""), "empty CSV file"),
    "csv_blank_lines": (_write("d.csv", "\n\n  \n"), "empty CSV file"),
    "csv_header_only": (_write("d.csv", "a,b,c,d,label\n"), "header line but no data rows"),
    "csv_bom_header_only": (_write("d.csv", b"\xef\xbb\xbfa,b,label\n"), "header line but no data rows"),
    "csv_latin1": (_write("d.csv", "a,b,c,d,label\n1,2,3,4,0\n\xe9,2,3,4,1\n".encode("latin-1")),
                   "not UTF-8 text: byte 0xe9 at offset 24 (line 3)"),
    "csv_utf16": (_write("d.csv", "a,label\n1,0\n".encode("utf-16")), "not UTF-8 text: starts with a UTF-16/32 byte-order mark"),
    "csv_nul": (_write("d.csv", b"1,2,3,4,0\n\x00\x00,2,3,4,1\n"), "NUL byte at offset 10 (line 2)"),
    "csv_ragged": (_write("d.csv", "1,2,3,4,0\n1,2,3,1\n"), "line 2 has 4 columns, expected 5"),
    "csv_ragged_after_blank": (_write("d.csv", "1,2,0\n\n\n1,2\n"), "line 4 has 2 columns, expected 3"),
    "csv_narrower_than_header": (_write("d.csv", "a,label,b\n2\n"), "line 2 has 1 columns, expected 3 (as on line 1)"),
    "csv_text_cell": (_write("d.csv", "1,2,3,4,0\n1,x,3,4,1\n"), "line 2, column 2: 'x' is not a number"),
    "csv_empty_cell": (_write("d.csv", "a,b,label\n1,,0\n"), "line 2, column 2: '' is not a number"),
    "csv_nan_cell": (_write("d.csv", "".join(f"{i},nan,3,{i % 3}\n" for i in range(30))), "non-finite value nan"),
    "csv_fractional_label": (_write("d.csv", "1,2,0\n3,4,1.5\n"), "label at row 1 is 1.5"),
    "csv_one_column": (_write("d.csv", "label\n0\n1\n"), "no feature columns"),
    "csv_huge_field": (_write("d.csv", '"' + "1" * 200_000 + '",0\n'), "malformed CSV"),
    "csv_label_column_name": (_write("d.csv", "a,b\n1,0\n"), "no column named 'target'"),
}


def _savez_bytes(**arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _npy_object() -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.array([1, "a"], dtype=object), allow_pickle=True)
    return buf.getvalue()


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_files_are_refused(case: str, tmp_path: Path) -> None:
    make, fragment = BAD_FILES[case]
    p = make(tmp_path)
    with pytest.raises(DataError) as e:
        read_file(p, label_column="target" if case == "csv_label_column_name" else None)
    assert fragment in str(e.value), str(e.value)
    assert "\n" not in str(e.value) and e.value.hint


def test_file_size_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    np.savez(tmp_path / "d.npz", x=X, y=Y)
    (tmp_path / "d.csv").write_text("1,2,0\n" * 100)
    monkeypatch.setenv("EDGETRAIN_LIMIT_MAX_FILE_BYTES", "500")
    for name in ("d.npz", "d.csv"):
        with pytest.raises(DataError, match="over the limit of 500") as e:
            read_file(tmp_path / name)
        assert "EDGETRAIN_LIMIT_MAX_FILE_BYTES" in e.value.hint


def test_npz_header_is_refused_before_allocation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A header over the element limit never reaches np.empty (no array memory is reserved)."""
    p = zip_with(tmp_path / "d.npz", {"x.npy": _header_claiming((30_000, 10_000)), "y.npy": _npy(Y)})
    allocated: list[int] = []
    real_empty = np.empty
    monkeypatch.setattr(np, "empty", lambda n, *a, **k: allocated.append(n) or real_empty(n, *a, **k))
    monkeypatch.setenv("EDGETRAIN_LIMIT_MAX_DATA_ELEMENTS", "100000000")
    with pytest.raises(DataError, match="300000000 elements, over the limit of 100000000"):
        read_npz(p)
    assert allocated == []


def test_good_files_read_unchanged(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", x=X, y=Y)
    x, y = read_file(tmp_path / "d.npz")
    assert x.dtype == np.float64 and np.array_equal(x, X) and np.array_equal(y, Y)
    np.savez_compressed(tmp_path / "c.npz", X=np.asfortranarray(X.astype(">f4")), y=Y.astype(np.float32))
    x, y = read_file(tmp_path / "c.npz")
    assert np.array_equal(x, X.astype(np.float32)) and np.array_equal(y, Y)
    np.savez(tmp_path / "e.npz", x=np.zeros((1, 2)), y=np.zeros(1))
    assert read_file(tmp_path / "e.npz")[0].shape == (1, 2)


def test_csv_variants(tmp_path: Path) -> None:
    p = tmp_path / "d.csv"
    body = "".join(f"{i},{i * 2},{i % 2}\n" for i in range(4))
    p.write_text(body)
    x, y = read_csv(p)
    assert x.tolist() == [[i, i * 2] for i in range(4)] and y.tolist() == [0, 1, 0, 1]
    # A BOM used to make the first cell non-numeric, so the first sample was dropped as a header.
    p.write_bytes(b"\xef\xbb\xbf" + body.encode())
    assert len(read_csv(p)[0]) == 4
    p.write_bytes(b"\xef\xbb\xbfa,b,label\r\n" + body.replace("\n", "\r\n").encode())
    x2, y2 = read_file(p)
    assert np.array_equal(x2, x) and np.array_equal(y2, y)
    p.write_text("label,a,b\n" + "".join(f"{i % 2},{i},{i * 2}\n" for i in range(4)))
    assert np.array_equal(read_file(p)[0], x)
    p.write_text("a,b,c\n" + "".join(f"{i},{i % 2},{i * 2}\n" for i in range(4)))
    assert read_file(p, label_column="b")[1].tolist() == [0, 1, 0, 1]
    assert read_file(p, label_column=1)[1].tolist() == [0, 1, 0, 1]
    with pytest.raises(DataError, match="label column 3 does not exist"):
        read_file(p, label_column=3)
    p.write_text("a,b,label\n1,2,0\n")  # one data row: a valid (if small) input
    assert read_file(p)[0].tolist() == [[1.0, 2.0]]
    p.write_text("a,b,label\n1,2,0\n\n\n3,x,1\n")
    with pytest.raises(DataError, match="line 5, column 2"):  # physical line numbers, blank lines counted
        read_file(p)


# ---------------------------------------------------------------- splits

def _old_split(x: np.ndarray, y: np.ndarray, seed: int, test_size: float, val_size: float):
    """The split as it was before the validation layer, for valid data sets."""
    from sklearn.model_selection import train_test_split

    strat = y if np.bincount(y).min() >= 2 else None
    idx = np.arange(len(y))
    rest, test = (train_test_split(idx, test_size=test_size, random_state=seed, stratify=strat)
                  if test_size > 0 else (idx, idx[:0]))
    val = idx[:0]
    if val_size > 0:
        frac = val_size / (1 - test_size)
        strat_rest = y[rest] if strat is not None and np.bincount(y[rest]).min() >= 2 else None
        rest, val = train_test_split(rest, test_size=frac, random_state=seed, stratify=strat_rest)
    return rest, val, test


@pytest.mark.parametrize("name,seed,test_size,val_size", [
    ("iris", 0, 0.3, 0.1), ("digits", 3, 0.2, 0.2), ("wine", 1, 0.0, 0.1), ("iris", 0, 0.25, 0.0)])
def test_split_of_valid_data_is_unchanged(name: str, seed: int, test_size: float, val_size: float) -> None:
    from sklearn import datasets

    b = getattr(datasets, f"load_{name}")()
    d = et.load_data(name, seed=seed, test_size=test_size, val_size=val_size)
    rest, val, test = _old_split(b.data, b.target, seed, test_size, val_size)
    mean, std = b.data[rest].mean(0), b.data[rest].std(0)
    std[std < 1e-8] = 1.0
    assert np.array_equal(d.train.y, b.target[rest])
    assert np.array_equal(d.train.x, ((b.data[rest] - mean.astype(np.float32)) / std.astype(np.float32)).astype(np.float32))
    assert (d.val is None) == (len(val) == 0) and (d.test is None) == (len(test) == 0)
    if d.test is not None:
        assert np.array_equal(d.test.y, b.target[test])
    assert d.notes == []


def test_small_data_set_splits_without_stratification() -> None:
    """40 samples of 10 classes: the 4-sample validation split cannot hold every class."""
    x = RNG.normal(size=(40, 3))
    y = np.arange(40) % 10
    d = split_and_standardise("small", x, y)
    assert len(d.train) + len(d.val) + len(d.test) == 40 and d.n_classes == 10
    assert any("validation split not stratified" in n for n in d.notes)
    d = split_and_standardise("tiny", x[:3], np.array([0, 1, 2]), test_size=0.3, val_size=0.0)
    assert len(d.train) == 2 and len(d.test) == 1
    assert d.notes == ["split not stratified: a class has fewer than 2 samples"]


@pytest.mark.parametrize("n,test_size,val_size", [(1, 0.3, 0.1), (1, 0.3, 0.0), (1, 0.0, 0.1), (2, 0.3, 0.4)])
def test_too_few_samples_to_split(n: int, test_size: float, val_size: float) -> None:
    with pytest.raises(DataError, match="too few to split off a"):
        split_and_standardise("one", X[:n], Y[:n], test_size=test_size, val_size=val_size)


@pytest.mark.parametrize("sizes,fragment", [({"test_size": "0.3"}, "test_size = '0.3' is not a number"),
                                             ({"val_size": True}, "val_size = True is not a number"),
                                             ({"test_size": float("nan")}, "must be in [0, 1)"),
                                             ({"test_size": 0.6, "val_size": 0.5}, "sum below 1")])
def test_split_sizes_are_checked(sizes: dict, fragment: str) -> None:
    with pytest.raises(DataError) as e:
        split_and_standardise("d", X, Y, **sizes)
    assert fragment in str(e.value)


def test_one_sample_trains_without_a_split() -> None:
    d = split_and_standardise("one", X[:1], Y[:1], test_size=0.0, val_size=0.0)
    assert len(d.train) == 1 and d.val is None and d.test is None


def _cfg(source: str, last_units: int) -> TrainConfig:
    from edgetrain.config import parse_config

    return parse_config({
        "name": "t", "data": {"source": source, "test_size": 0.3, "val_size": 0.1},
        "model": {"layers": [{"type": "dense", "units": 8, "activation": "relu"},
                             {"type": "dense", "units": last_units}]},
        "train": {"epochs": 1, "batch_size": 16}})


def test_train_refuses_a_last_layer_narrower_than_the_classes(tmp_path: Path) -> None:
    from edgetrain.train_run import train_from_config

    np.savez(tmp_path / "d.npz", x=X, y=Y)
    with pytest.raises(ConfigError, match="3 classes .* last layer has 2 outputs") as e:
        train_from_config(_cfg(str(tmp_path / "d.npz"), 2))
    assert "units = 3" in e.value.hint
    assert train_from_config(_cfg(str(tmp_path / "d.npz"), 5)).graph is not None  # wider is fine


def test_train_on_small_and_one_row_data(tmp_path: Path) -> None:
    from edgetrain.train_run import train_from_config

    np.savez(tmp_path / "small.npz", x=RNG.normal(size=(40, 4)), y=np.arange(40) % 10)
    res = train_from_config(_cfg(str(tmp_path / "small.npz"), 10))
    assert "not stratified" in res.reports["data notes"]
    (tmp_path / "one.csv").write_text("a,b,c,d,label\n1,2,3,4,0\n")
    with pytest.raises(DataError, match="1 sample is too few to split off a test set"):
        train_from_config(_cfg(str(tmp_path / "one.csv"), 3))


# ---------------------------------------------------------------- the CLI's loader

def _model() -> et.Graph:
    g = et.Sequential([et.Dense(8, "relu"), et.Dense(3)], 4, seed=0)
    g.meta["preprocess"] = {"mean": [0.0] * 4, "std": [1.0] * 4, "seed": 0, "test_size": 0.3, "val_size": 0.1}
    return g


@pytest.mark.parametrize("y,fragment", [
    (np.where(np.arange(60) == 5, -1, Y), "label -1 at row 5 is negative; labels are class ids counted from 0"),
    (np.where(np.arange(60) == 5, 9, Y), "labels go up to 9 (row 5) but the model has 3 outputs"),
    (Y + 0.5, "label at row 0 is 0.5")])
def test_load_eval_data_checks_labels_against_the_model(tmp_path: Path, y: np.ndarray, fragment: str) -> None:
    from edgetrain.cli.commands_core import load_eval_data

    np.savez(tmp_path / "d.npz", x=X, y=y)
    with pytest.raises(DataError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        load_eval_data(_model(), str(tmp_path / "d.npz"))


def test_load_eval_data_widths_and_good_data(tmp_path: Path) -> None:
    from edgetrain.cli.commands_core import load_eval_data

    g = _model()
    np.savez(tmp_path / "d.npz", x=X, y=Y)
    x, y = load_eval_data(g, str(tmp_path / "d.npz"))
    assert x.dtype == np.float32 and np.array_equal(x, X.astype(np.float32)) and np.array_equal(y, Y)
    np.savez(tmp_path / "w.npz", x=X[:, :3], y=Y)
    with pytest.raises(DataError, match="3 features but the model was trained on 4"):
        load_eval_data(g, str(tmp_path / "w.npz"))
    with pytest.raises(DataError, match="64 features but the model was trained on 4"):  # was a broadcast error
        load_eval_data(g, "digits")
    g.meta["preprocess"]["std"] = [1e-40] * 4  # x / std overflows float32
    with pytest.raises(DataError, match=r"d.npz \(standardised\): non-finite value inf at row 0"):
        load_eval_data(g, str(tmp_path / "d.npz"))


def test_shaped_samples_become_flat_rows_in_channels_last_order() -> None:
    x = np.arange(2 * 3 * 2 * 2, dtype=np.float32).reshape(2, 3, 2, 2)  # (N, H, W, C)
    y = np.array([0, 1])
    flat, _ = check_samples(x, y, source="s", sample_shape=(3, 2, 2), n_features=12)
    assert flat.shape == (2, 12)
    np.testing.assert_array_equal(flat[1], x[1].reshape(-1))  # row-major: channels fastest
    with pytest.raises(DataError, match=r"samples have shape \(2, 3, 2\) but the model takes \(3, 2, 2\)"):
        check_samples(x.reshape(2, 2, 3, 2), y, source="s", sample_shape=(3, 2, 2))
    with pytest.raises(DataError, match="but the model takes flat rows"):
        check_samples(x, y, source="s", n_features=12)

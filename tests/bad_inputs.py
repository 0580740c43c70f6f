"""The bad-input corpus: crafted files and options for every CLI command.

Each case is ``(id, build)`` where ``build(d, base)`` writes its inputs into the case directory
``d`` (``base`` holds the shared good inputs, see `make_base`) and returns the command line. A
case is a user mistake: the CLI must exit with 2 and print one ``error:`` line and a ``hint:``
line, no traceback, and leave no file behind. Kept apart from the test so the fuzz tests and
ad-hoc scripts can reuse the builders.
"""
from __future__ import annotations

import io
import json
import struct
import zipfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

import edgetrain as et
from edgetrain.formats.modelfile import graph_to_dict
from zips import claim_size, zip_with

Build = Callable[[Path, Path], list[str]]
N_FEATURES, N_CLASSES = 4, 3

GOOD_TOML = """
name = "t"
seed = 0
[data]
source = "{source}"
test_size = 0.3
val_size = 0.1
[model]
layers = [ {{ type = "dense", units = 8, activation = "relu" }}, {{ type = "dense", units = 3 }} ]
[train]
epochs = 1
batch_size = 16
[train.optimizer]
name = "adam"
lr = 0.003
"""


# ---------------------------------------------------------------- shared good inputs

def good_xy(n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, N_FEATURES)), np.arange(n) % N_CLASSES


def good_graph(source: str) -> et.Graph:
    g = et.Sequential([et.Dense(8, "relu"), et.Dense(N_CLASSES)], N_FEATURES, seed=0, name="t")
    g.meta["preprocess"] = {"mean": [0.0] * N_FEATURES, "std": [1.0] * N_FEATURES, "source": source,
                            "seed": 0, "test_size": 0.3, "val_size": 0.1}
    g.meta["n_classes"] = N_CLASSES
    return g


def make_base(base: Path) -> None:
    """good.npz, good.csv, good.etm and a (stand-in) ORT artifacts directory in ``base``."""
    x, y = good_xy()
    np.savez(base / "good.npz", x=x, y=y)
    g = good_graph(str(base / "good.npz"))
    et.save_model(g, base / "good.etm")
    art = base / "art"
    art.mkdir()
    for f in ("training_model.onnx", "eval_model.onnx", "optimizer_model.onnx", "checkpoint"):
        (art / f).write_bytes(b"")
    et.save_model(g, art / "model.etm")
    (art / "edgetrain_ort.json").write_text(json.dumps({
        "files": {"training": "training_model.onnx", "eval": "eval_model.onnx", "optimizer": "optimizer_model.onnx",
                  "checkpoint": "checkpoint", "model": "model.etm"},
        "optimizer": "adamw", "loss": "cross_entropy", "trainable": [], "output": "logits"}))


# ---------------------------------------------------------------- crafted data files

def npz(d: Path, name: str = "d.npz", **arrays: Any) -> Path:
    p = d / name
    np.savez(p, **arrays)
    return p


def npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def npy_header_claiming(shape: tuple[int, ...], dtype: str = "<f8") -> bytes:
    """An .npy whose header claims ``shape`` but which holds only a few bytes."""
    header = repr({"descr": dtype, "fortran_order": False, "shape": shape}).encode()
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + b"\x00" * 64


def _file(path: Path, content: str | bytes) -> Path:
    """Write ``content`` (text as UTF-8) to ``path``; return the path."""
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def flip_byte(path: Path, offset_from_start: int) -> Path:
    raw = bytearray(path.read_bytes())
    raw[offset_from_start] ^= 0xFF
    path.write_bytes(bytes(raw))
    return path


def _x(n: int = 60) -> np.ndarray:
    return good_xy(n)[0]


def _y(n: int = 60) -> np.ndarray:
    return good_xy(n)[1]


def _nan() -> np.ndarray:
    x = _x()
    x[7, 2] = np.nan
    return x


def _inf() -> np.ndarray:
    x = _x()
    x[3, 1] = np.inf
    return x


def _bad_crc(d: Path) -> Path:
    p = npz(d, x=_x(), y=_y())
    with zipfile.ZipFile(p) as z:
        info = z.getinfo("x.npy")
    return flip_byte(p, info.header_offset + 30 + len("x.npy") + 200)


def _truncated(d: Path) -> Path:
    p = npz(d, x=_x(), y=_y())
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    return p


def _bomb(d: Path) -> Path:
    p = zip_with(d / "d.npz", {"x.npy": npy_bytes(_x()), "y.npy": npy_bytes(_y())}, compress=True)
    return claim_size(p, "x.npy", 0xFFFF0000)


DATA_FILES: dict[str, Callable[[Path], Path]] = {
    "nan": lambda d: npz(d, x=_nan(), y=_y()),
    "inf": lambda d: npz(d, x=_inf(), y=_y()),
    "complex_x": lambda d: npz(d, x=_x() + 1j, y=_y()),
    "structured_x": lambda d: npz(d, x=np.zeros(60, dtype=[("a", "<f8"), ("b", "<f8")]), y=_y()),
    "string_y": lambda d: npz(d, x=_x(), y=np.array(["a", "b", "c"] * 20)),
    "bool_x": lambda d: npz(d, x=_x() > 0, y=_y()),
    "fractional_labels": lambda d: npz(d, x=_x(), y=_y() + 0.5),
    "negative_label": lambda d: npz(d, x=_x(), y=np.where(np.arange(60) == 5, -1, _y())),
    "label_too_big": lambda d: npz(d, x=_x(), y=np.where(np.arange(60) == 5, 9, _y())),
    "nan_label": lambda d: npz(d, x=_x(), y=np.where(np.arange(60) == 5, np.nan, _y())),
    "huge_label": lambda d: npz(d, x=_x(), y=np.where(np.arange(60) == 5, 1e300, _y())),
    "x_1d": lambda d: npz(d, x=_x()[:, 0], y=_y()),
    # Windows (2 x 2) for a model of flat rows: the shape, not the count of values, is wrong.
    "x_3d": lambda d: npz(d, x=_x().reshape(60, 2, 2), y=_y()),
    "x_scalar": lambda d: npz(d, x=np.float64(1.0), y=_y()),
    "no_samples": lambda d: npz(d, x=np.zeros((0, N_FEATURES)), y=np.zeros(0)),
    "length_mismatch": lambda d: npz(d, x=_x(), y=_y(59)),
    "one_hot_y": lambda d: npz(d, x=_x(), y=np.eye(N_CLASSES)[_y()]),
    "wrong_width": lambda d: npz(d, x=_x()[:, :3], y=_y()),
    "missing_y": lambda d: npz(d, x=_x()),
    "object_array": lambda d: (np.savez(d / "d.npz", x=np.array([1, "a"], dtype=object), y=_y()), d / "d.npz")[1],
    "random_bytes_npz": lambda d: _file(d / "d.npz", np.random.default_rng(1).bytes(4096)),
    "empty_npz_file": lambda d: _file(d / "d.npz", b""),
    "truncated_npz": _truncated,
    "bad_crc_npz": _bad_crc,
    "npz_not_npy_inside": lambda d: zip_with(d / "d.npz", {"x.npy": b"hello", "y.npy": b"world"}),
    "npy_header_6e12": lambda d: zip_with(d / "d.npz", {"x.npy": npy_header_claiming((80000, 80000000)),
                                                         "y.npy": npy_bytes(_y())}),
    "npy_header_negative": lambda d: zip_with(d / "d.npz", {"x.npy": npy_header_claiming((-1, 4)),
                                                             "y.npy": npy_bytes(_y())}),
    "npz_bomb": _bomb,
    "csv_latin1": lambda d: _file(d / "d.csv", "a,b,c,d,label\n1,2,3,4,0\n\xe9,2,3,4,1\n".encode("latin-1")),
    "csv_header_only": lambda d: _file(d / "d.csv", "a,b,c,d,label\n"),
    "csv_one_row": lambda d: _file(d / "d.csv", "a,b,c,d,label\n1,2,3,4,0\n"),
    "csv_empty": lambda d: _file(d / "d.csv", ""),
    "csv_ragged": lambda d: _file(d / "d.csv", "1,2,3,4,0\n1,2,3,1\n"),
    "csv_text_cell": lambda d: _file(d / "d.csv", "1,2,3,4,0\n1,x,3,4,1\n"),
    "csv_nan_cell": lambda d: _file(d / "d.csv", "".join(f"{i},nan,3,4,{i % 3}\n" for i in range(30))),
    "csv_nul_bytes": lambda d: _file(d / "d.csv", b"1,2,3,4,0\n\x00\x00,2,3,4,1\n"),
    "unknown_suffix": lambda d: _file(d / "d.txt", "1,2"),
    "directory_as_data": lambda d: ((d / "dd.npz").mkdir(), d / "dd.npz")[1],
}


# ---------------------------------------------------------------- crafted model files

def etm(d: Path, base: Path, edit_doc: Callable[[dict], Any] | None = None,
        edit_arrays: Callable[[dict], Any] | None = None, name: str = "m.etm") -> Path:
    """good.etm with its description and/or arrays edited."""
    g = et.load_model(base / "good.etm")
    doc = json.loads(json.dumps(graph_to_dict(g)))
    arrays = {f"arrays/{p.name}/value.npy": npy_bytes(p.value) for p in g.params.values()}
    if edit_doc:
        doc = edit_doc(doc) or doc
    if edit_arrays:
        edit_arrays(arrays)
    return zip_with(d / name, {"edgetrain.json": json.dumps(doc).encode(), **arrays})


def _set(path: str, value: Any) -> Callable[[dict], None]:
    """Set doc[path] where path is dotted keys and integer indices, e.g. ``params.0.name``."""
    def edit(doc: dict) -> None:
        keys = [int(k) if k.lstrip("-").isdigit() else k for k in path.split(".")]
        obj = doc
        for k in keys[:-1]:
            obj = obj[k]
        obj[keys[-1]] = value
    return edit


def _qparams(**over: Any) -> Callable[[dict], None]:
    def edit(doc: dict) -> None:
        q = {"scale": [0.1] * 8, "zero_point": [0] * 8, "bits": 8, "axis": 1}
        q.update(over)
        doc["params"][0]["qparams"] = q
    return edit


def _array(value: np.ndarray, param: str = "dense1.weight") -> Callable[[dict], None]:
    def edit(arrays: dict) -> None:
        arrays[f"arrays/{param}/value.npy"] = npy_bytes(value) if isinstance(value, np.ndarray) else value
    return edit


def _w(fill: float | None = None) -> np.ndarray:
    w = np.full((N_FEATURES, 8), 0.1, np.float32)
    if fill is not None:
        w[1, 2] = fill
    return w


MODEL_FILES: dict[str, Callable[[Path, Path], Path]] = {
    "random_bytes": lambda d, b: _file(d / "m.etm", np.random.default_rng(2).bytes(2048)),
    "empty_file": lambda d, b: _file(d / "m.etm", b""),
    "truncated": lambda d, b: _file(d / "m.etm", (b / "good.etm").read_bytes()[:300]),
    "bad_crc": lambda d, b: flip_byte(etm(d, b), 120),
    "json_not_object": lambda d, b: zip_with(d / "m.etm", {"edgetrain.json": b"[1, 2]"}),
    "json_invalid": lambda d, b: zip_with(d / "m.etm", {"edgetrain.json": b"{nope"}),
    "json_not_utf8": lambda d, b: zip_with(d / "m.etm", {"edgetrain.json": b'{"format": "\xff\xfe"}'}),
    "no_description": lambda d, b: zip_with(d / "m.etm", {"other.json": b"{}"}),
    "wrong_format": lambda d, b: etm(d, b, _set("format", "onnx")),
    "version_negative": lambda d, b: etm(d, b, _set("version", -1)),
    "version_string": lambda d, b: etm(d, b, _set("version", "1")),
    "version_bool": lambda d, b: etm(d, b, _set("version", True)),
    "version_future": lambda d, b: etm(d, b, _set("version", 99)),
    "name_list": lambda d, b: etm(d, b, _set("name", ["a", "b"])),
    "params_not_list": lambda d, b: etm(d, b, _set("params", {"a": 1})),
    "param_name_list": lambda d, b: etm(d, b, _set("params.0.name", ["dense1.weight"])),
    "param_entry_null": lambda d, b: etm(d, b, _set("params.0", None)),
    "param_arrays_string": lambda d, b: etm(d, b, _set("params.0.arrays", "value")),
    "param_trainable_string": lambda d, b: etm(d, b, _set("params.0.trainable", "yes")),
    "param_meta_null": lambda d, b: etm(d, b, _set("params.0.meta", None)),
    "param_meta_list": lambda d, b: etm(d, b, _set("params.0.meta", [1])),
    "meta_null": lambda d, b: etm(d, b, _set("meta", None)),
    "meta_list": lambda d, b: etm(d, b, _set("meta", [1, 2])),
    "preprocess_not_dict": lambda d, b: etm(d, b, _set("meta.preprocess", "x")),
    "preprocess_mean_strings": lambda d, b: etm(d, b, _set("meta.preprocess.mean", ["a"] * 4)),
    "preprocess_std_zero": lambda d, b: etm(d, b, _set("meta.preprocess.std", [0.0] * 4)),
    "preprocess_mean_nan": lambda d, b: etm(d, b, _set("meta.preprocess.mean", [float("nan")] * 4)),
    "preprocess_wrong_length": lambda d, b: etm(d, b, _set("meta.preprocess.mean", [0.0] * 7)),
    "inputs_float_shape": lambda d, b: etm(d, b, _set("inputs.x", [4.5])),
    "inputs_string_shape": lambda d, b: etm(d, b, _set("inputs.x", ["four"])),
    "inputs_negative_shape": lambda d, b: etm(d, b, _set("inputs.x", [-4])),
    "inputs_not_dict": lambda d, b: etm(d, b, _set("inputs", [4])),
    "inputs_empty": lambda d, b: etm(d, b, _set("inputs", {})),
    "nodes_missing": lambda d, b: etm(d, b, lambda doc: doc.pop("nodes")),
    "nodes_not_list": lambda d, b: etm(d, b, _set("nodes", "dense")),
    "node_inputs_string": lambda d, b: etm(d, b, _set("nodes.0.inputs", "x")),
    "node_params_list": lambda d, b: etm(d, b, _set("nodes.0.params", ["dense1.weight"])),
    "node_attrs_null": lambda d, b: etm(d, b, _set("nodes.0.attrs", None)),
    "node_unknown_op": lambda d, b: etm(d, b, _set("nodes.0.op", "conv9d")),
    "node_op_int": lambda d, b: etm(d, b, _set("nodes.0.op", 7)),
    "outputs_string": lambda d, b: etm(d, b, _set("outputs", "dense2")),
    "outputs_empty": lambda d, b: etm(d, b, _set("outputs", [])),
    "duplicate_param": lambda d, b: etm(d, b, lambda doc: doc["params"].append(dict(doc["params"][0]))),
    "array_missing": lambda d, b: etm(d, b, edit_arrays=lambda a: a.pop("arrays/dense1.weight/value.npy")),
    "nan_weight": lambda d, b: etm(d, b, edit_arrays=_array(_w(np.nan))),
    "inf_weight": lambda d, b: etm(d, b, edit_arrays=_array(_w(np.inf))),
    "complex_weight": lambda d, b: etm(d, b, edit_arrays=_array(_w().astype(np.complex64))),
    "string_weight": lambda d, b: etm(d, b, edit_arrays=_array(np.array([["a"] * 8] * 4))),
    "structured_weight": lambda d, b: etm(d, b, edit_arrays=_array(np.zeros((4, 8), dtype=[("a", "<f4")]))),
    "weight_wrong_shape": lambda d, b: etm(d, b, edit_arrays=_array(np.zeros((5, 8), np.float32))),
    "weight_3d": lambda d, b: etm(d, b, edit_arrays=_array(np.zeros((4, 8, 1), np.float32))),
    "weight_npy_garbage": lambda d, b: etm(d, b, edit_arrays=_array(b"garbage")),
    "weight_header_6e12": lambda d, b: etm(d, b, edit_arrays=_array(npy_header_claiming((80000, 80000000), "<f4"))),
    "qparams_scale_negative": lambda d, b: etm(d, b, _qparams(scale=[-1.0] * 8)),
    "qparams_scale_nan": lambda d, b: etm(d, b, _qparams(scale=[float("nan")] * 8)),
    "qparams_zero_point_999": lambda d, b: etm(d, b, _qparams(zero_point=[999] * 8)),
    "qparams_bits_99": lambda d, b: etm(d, b, _qparams(bits=99)),
    "qparams_axis_7": lambda d, b: etm(d, b, _qparams(axis=7)),
    "qparams_scale_wrong_length": lambda d, b: etm(d, b, _qparams(scale=[0.1] * 3)),
    "qparams_scale_string": lambda d, b: etm(d, b, _qparams(scale="big")),
    "qparams_not_dict": lambda d, b: etm(d, b, _set("params.0.qparams", [1, 2])),
    "entries_not_dict": lambda d, b: etm(d, b, _set("params.0.entries", [1])),
    "mask_wrong_shape": lambda d, b: etm(d, b, _set("params.0.arrays", ["value", "mask"]),
                                         edit_arrays=lambda a: a.update(
                                             {"arrays/dense1.weight/mask.npy": npy_bytes(np.ones((2, 2), bool))})),
    "codebook_without_indices": lambda d, b: etm(d, b, _set("params.0.arrays", ["value", "codebook"]),
                                                 edit_arrays=lambda a: a.update(
                                                     {"arrays/dense1.weight/codebook.npy": npy_bytes(np.ones(3))})),
    "indices_out_of_range": lambda d, b: etm(d, b, _set("params.0.arrays", ["value", "codebook", "indices"]),
                                             edit_arrays=lambda a: a.update({
                                                 "arrays/dense1.weight/codebook.npy": npy_bytes(np.ones(3, np.float32)),
                                                 "arrays/dense1.weight/indices.npy":
                                                     npy_bytes(np.full((4, 8), 50, np.int64))})),
    "member_bomb": lambda d, b: claim_size(etm(d, b), "arrays/dense1.weight/value.npy", 0xFFFF0000),
    "directory_as_model": lambda d, b: ((d / "m.etm").mkdir(), d / "m.etm")[1],
}


# ---------------------------------------------------------------- crafted TOML configs

def toml_case(text: str | bytes) -> Build:
    def build(d: Path, base: Path) -> list[str]:
        p = d / "c.toml"
        body = text if isinstance(text, bytes) else text.replace("@GOOD@", str(base / "good.npz"))
        p.write_bytes(body if isinstance(body, bytes) else body.encode())
        return ["train", str(p), "--quiet"]
    return build


def _good(**replace: str) -> str:
    """GOOD_TOML with lines replaced: key 'old' -> new text (old is a line prefix)."""
    text = GOOD_TOML.format(source="@GOOD@")
    for old, new in replace.items():
        old = old.replace("__", " ")
        lines = text.splitlines()
        hits = [i for i, ln in enumerate(lines) if ln.startswith(old)]
        assert hits, old
        lines[hits[0]] = new
        text = "\n".join(lines) + "\n"
    return text


def _add(section: str, line: str) -> str:
    text = GOOD_TOML.format(source="@GOOD@")
    return text.replace(f"[{section}]\n", f"[{section}]\n{line}\n", 1)


def _cnn(input_shape: str, layer: str) -> str:
    """GOOD_TOML with ``[model] input_shape`` and ``layer`` before a flatten and the output layer."""
    return _good(layers=f"input_shape = {input_shape}\nlayers = [ {layer}, {{ type = \"flatten\" }}, "
                        "{ type = \"dense\", units = 3 } ]")


LAYERS = "layers = [ { type = \"dense\", units = 8, activation = \"relu\" }, { type = \"dense\", units = 3 } ]"

TOML_CASES: dict[str, str | bytes] = {
    "not_utf8": b"name = \"\xff\xfe\"\n",
    "invalid_toml": "this is = = not toml",
    "unknown_top_key": _add("data", "").replace("seed = 0", "sed = 0"),
    "unknown_train_key_epoch": _good(epochs="epoch = 5"),
    "unknown_data_key": _add("data", "sorce = \"digits\""),
    "stray_optimizer_key": _add("train.optimizer", "momentun = 0.9"),
    "optimizer_key_of_other_optimizer": _add("train.optimizer", "momentum = 0.9"),
    "epochs_true": _good(epochs="epochs = true"),
    "epochs_inf": _good(epochs="epochs = inf"),
    "epochs_float": _good(epochs="epochs = 2.5"),
    "epochs_huge_float": _good(epochs="epochs = 1e12"),
    "epochs_huge_int": _good(epochs="epochs = 1000000000000"),
    "epochs_zero": _good(epochs="epochs = 0"),
    "batch_size_zero": _good(batch_size="batch_size = 0"),
    "batch_size_string": _good(batch_size="batch_size = \"16\""),
    "seed_negative": _good(seed="seed = -1"),
    "seed_string": _good(seed="seed = \"0\""),
    "name_int": _good(name="name = 3"),
    "early_stopping_negative": _add("train", "early_stopping = -3"),
    "loss_unknown": _add("train", "loss = \"hinge\""),
    "loss_int": _add("train", "loss = 3"),
    "lr_string": _good(lr="lr = \"fast\""),
    "lr_negative": _good(lr="lr = -0.1"),
    "lr_nan": _good(lr="lr = nan"),
    "optimizer_name_int": GOOD_TOML.format(source="@GOOD@").replace('name = "adam"', "name = 3"),
    "optimizer_unknown": GOOD_TOML.format(source="@GOOD@").replace('name = "adam"', 'name = "adamw"'),
    "adam_beta1_1.5": _add("train.optimizer", "beta1 = 1.5"),
    "adam_eps_negative": _add("train.optimizer", "eps = -1.0"),
    "optimizer_not_table": GOOD_TOML.format(source="@GOOD@").split("[train.optimizer]")[0].replace(
        "[train]\n", "[train]\noptimizer = \"adam\"\n"),
    "test_size_string": _good(test_size="test_size = \"0.3\""),
    "test_size_1.5": _good(test_size="test_size = 1.5"),
    "val_size_negative": _good(val_size="val_size = -0.1"),
    "split_sum_above_1": _good(test_size="test_size = 0.6", val_size="val_size = 0.5"),
    "source_int": _good(source="source = 3"),
    "source_missing_file": _good(source="source = \"nope.npz\""),
    "data_not_table": "data = 3\n" + "\n".join(GOOD_TOML.format(source="@GOOD@").split("[model]")[1:]),
    "layers_int": _good(layers="layers = 3"),
    "layers_empty": _good(layers="layers = []"),
    "layer_not_table": _good(layers="layers = [ 3 ]"),
    "layer_type_int": _good(layers="layers = [ { type = 3 } ]"),
    "layer_type_unknown": _good(layers="layers = [ { type = \"dens\", units = 3 } ]"),
    "layer_unknown_key": _good(layers="layers = [ { type = \"dense\", unit = 3 } ]"),
    "units_string": _good(layers="layers = [ { type = \"dense\", units = \"10\" } ]"),
    "units_float": _good(layers="layers = [ { type = \"dense\", units = 3.5 } ]"),
    "units_zero": _good(layers="layers = [ { type = \"dense\", units = 0 } ]"),
    "units_huge": _good(layers="layers = [ { type = \"dense\", units = 2000000000 } ]"),
    "units_bool": _good(layers="layers = [ { type = \"dense\", units = true } ]"),
    "activation_unknown": _good(layers="layers = [ { type = \"dense\", units = 3, activation = \"relux\" } ]"),
    "activation_int": _good(layers="layers = [ { type = \"dense\", units = 3, activation = 1 } ]"),
    "bias_string": _good(layers="layers = [ { type = \"dense\", units = 3, bias = \"yes\" } ]"),
    "layer_name_list": _good(layers="layers = [ { type = \"dense\", units = 3, name = [\"a\"] } ]"),
    "leaky_alpha_string": _good(layers="layers = [ { type = \"dense\", units = 8 }, { type = \"leaky_relu\", "
                                       "alpha = \"x\" }, { type = \"dense\", units = 3 } ]"),
    "residual_layers_int": _good(layers="layers = [ { type = \"residual\", layers = 3 }, "
                                        "{ type = \"dense\", units = 3 } ]"),
    "last_layer_too_narrow": _good(layers="layers = [ { type = \"dense\", units = 8 }, "
                                          "{ type = \"dense\", units = 2 } ]"),
    "technique_unknown": _add("train", "") + "\n[techniques.sett]\neps = 5\n",
    "technique_option_typo": _add("train", "") + "\n[techniques.set]\nzta = 0.3\n",
    "technique_value_string": _add("train", "") + "\n[techniques.set]\neps = \"five\"\n",
    "technique_zeta_2": _add("train", "") + "\n[techniques.prune]\nsparsity = 2.0\n",
    "techniques_not_table": _add("train", "") + "\ntechniques = 3\n",
    # CNNs on the 4-feature good data: the layer or the input shape does not fit.
    "conv_kernel_larger_than_input": _cnn("[2, 2, 1]", '{ type = "conv2d", filters = 2, kernel = 3, padding = "valid" }'),
    "conv_negative_padding": _cnn("[2, 2, 1]", '{ type = "conv2d", filters = 2, kernel = 2, padding = [[-1, 0], [0, 0]] }'),
    "conv_padding_unknown": _cnn("[2, 2, 1]", '{ type = "conv2d", filters = 2, kernel = 2, padding = "full" }'),
    "conv_padding_wider_than_window": _cnn("[2, 2, 1]", '{ type = "conv2d", filters = 2, kernel = 2, '
                                                        'padding = [[2, 2], [0, 0]] }'),
    "conv_kernel_three_sizes": _cnn("[2, 2, 1]", '{ type = "conv2d", filters = 2, kernel = [1, 1, 1] }'),
    "conv_filters_missing": _cnn("[2, 2, 1]", '{ type = "conv2d", kernel = 1 }'),
    "conv_groups_not_dividing_channels": _cnn("[2, 1, 2]", '{ type = "conv2d", filters = 3, kernel = 1, groups = 2 }'),
    "conv1d_on_an_image": _cnn("[2, 2, 1]", '{ type = "conv1d", filters = 2, kernel = 1 }'),
    "conv2d_on_flat_rows": _cnn("[4]", '{ type = "conv2d", filters = 2, kernel = 1 }'),
    "flat_rows_do_not_match_input_shape": _cnn("[2, 3, 1]", '{ type = "conv2d", filters = 2, kernel = 1 }'),
    "pool_over_a_1_wide_axis": _cnn("[4, 1, 1]", '{ type = "max_pool", pool = 2 }'),
    "pool_zero": _cnn("[2, 2, 1]", '{ type = "avg_pool", pool = 0 }'),
    "reshape_to_another_size": _cnn("[4]", '{ type = "reshape", shape = [3, 3] }'),
    "batch_norm_momentum_1": _cnn("[2, 2, 1]", '{ type = "batch_norm", momentum = 1.0 }'),
    "input_shape_zero": _cnn("[2, 0, 1]", '{ type = "conv2d", filters = 2, kernel = 1 }'),
    "input_shape_four_axes": _cnn("[1, 2, 2, 1]", '{ type = "conv2d", filters = 2, kernel = 1 }'),
    "input_shape_huge": _cnn("[100000, 100000, 100000]", '{ type = "conv2d", filters = 2, kernel = 1 }'),
    "input_shape_string": _cnn('"2x2"', '{ type = "conv2d", filters = 2, kernel = 1 }'),
}


# ---------------------------------------------------------------- crafted ONNX files

def _onnx_model(d: Path, edit: Callable[[Any], Any] | None = None, opset: int = 13) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.full((N_CLASSES, N_FEATURES), 0.1, np.float32), "w")
    b = numpy_helper.from_array(np.zeros(N_CLASSES, np.float32), "b")
    node = helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=1, name="fc")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, N_FEATURES])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, N_CLASSES])], [w, b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    if edit:
        model = edit(model) or model
    p = d / "m.onnx"
    p.write_bytes(model.SerializeToString())
    return p


def _dims_lie(m: Any) -> None:
    m.graph.initializer[0].dims[:] = [1000, 1000]


def _dims_huge(m: Any) -> None:
    m.graph.initializer[0].dims[:] = [2**40, 2**40]


def _op_type_bytes(m: Any) -> Any:
    raw = m.SerializeToString().replace(b"Gemm", b"\xff\xfe\xfd\xfc")
    import onnx
    return onnx.ModelProto.FromString(raw)


def _elem_type(m: Any) -> None:
    m.graph.initializer[0].data_type = 99


def _nan_init(m: Any) -> None:
    from onnx import numpy_helper
    w = np.full((N_CLASSES, N_FEATURES), 0.1, np.float32)
    w[0, 0] = np.nan
    m.graph.initializer[0].CopyFrom(numpy_helper.from_array(w, "w"))


def _zero_units(m: Any) -> None:
    from onnx import numpy_helper
    m.graph.initializer[0].CopyFrom(numpy_helper.from_array(np.zeros((0, N_FEATURES), np.float32), "w"))
    m.graph.initializer[1].CopyFrom(numpy_helper.from_array(np.zeros(0, np.float32), "b"))


def _clip_vector(m: Any) -> None:
    from onnx import helper, numpy_helper
    m.graph.initializer.extend([numpy_helper.from_array(np.zeros(3, np.float32), "lo"),
                                numpy_helper.from_array(np.full(3, 6.0, np.float32), "hi")])
    m.graph.node[0].output[0] = "g"
    m.graph.node.append(helper.make_node("Clip", ["g", "lo", "hi"], ["y"], name="clip"))


def _bias_wrong_length(m: Any) -> None:
    from onnx import numpy_helper
    m.graph.initializer[1].CopyFrom(numpy_helper.from_array(np.zeros(7, np.float32), "b"))


def _raw_data_short(m: Any) -> None:
    m.graph.initializer[0].raw_data = m.graph.initializer[0].raw_data[:5]


def _no_input(m: Any) -> None:
    del m.graph.input[:]


def _input_dim_string(m: Any) -> None:
    m.graph.input[0].type.tensor_type.shape.dim[1].dim_param = "n"


ONNX_CASES: dict[str, Callable[[Path], Path]] = {
    "random_bytes": lambda d: _file(d / "m.onnx", np.random.default_rng(3).bytes(1000)),
    "empty": lambda d: _file(d / "m.onnx", b""),
    "truncated": lambda d: (lambda p: _file(p, p.read_bytes()[:40]))(_onnx_model(d)),
    "dims_lie": lambda d: _onnx_model(d, _dims_lie),
    "dims_huge": lambda d: _onnx_model(d, _dims_huge),
    "raw_data_short": lambda d: _onnx_model(d, _raw_data_short),
    "op_type_not_utf8": lambda d: _onnx_model(d, _op_type_bytes),
    "unknown_elem_type": lambda d: _onnx_model(d, _elem_type),
    "nan_initializer": lambda d: _onnx_model(d, _nan_init),
    "zero_unit_gemm": lambda d: _onnx_model(d, _zero_units),
    "clip_vector_bounds": lambda d: _onnx_model(d, _clip_vector),
    "opset_99": lambda d: _onnx_model(d, opset=99),
    "bias_wrong_length": lambda d: _onnx_model(d, _bias_wrong_length),
    "no_graph_input": lambda d: _onnx_model(d, _no_input),
    "symbolic_input_width": lambda d: _onnx_model(d, _input_dim_string),
}


# ---------------------------------------------------------------- the corpus

def _data_cmd(cmd: str, make: Callable[[Path], Path]) -> Build:
    def build(d: Path, base: Path) -> list[str]:
        p = str(make(d))
        model = str(base / "good.etm")
        return {
            "eval": ["eval", model, "--data", p],
            "emulate": ["emulate", model, "-t", "host", "--dtype", "f32", "--data", p],
            "emulate_calib": ["emulate", model, "-t", "host", "--data", str(base / "good.npz"), "--calib", p],
            "finetune": ["finetune", model, "-t", "host", "--steps", "2", "--data", p],
            "finetune_eval": ["finetune", model, "-t", "host", "--steps", "2", "--data", str(base / "good.npz"),
                              "--eval-data", p],
            "ort-train": ["ort-train", str(base / "art"), "--data", p, "-o", str(d / "out")],
            "export_c_calib": ["export", "c", model, "-t", "host", "--dtype", "int8", "--calib", p,
                               "-o", str(d / "out")],
            "train": toml_case(GOOD_TOML.format(source=p))(d, base),
        }[cmd]
    return build


def _model_cmd(cmd: str, make: Callable[[Path, Path], Path]) -> Build:
    def build(d: Path, base: Path) -> list[str]:
        p = str(make(d, base))
        data = str(base / "good.npz")
        return {
            "info": ["info", p],
            "eval": ["eval", p, "--data", data],
            "export_c": ["export", "c", p, "-t", "host", "-o", str(d / "out")],
            "export_onnx": ["export", "onnx", p, "-o", str(d / "out")],
            "emulate": ["emulate", p, "-t", "host", "--dtype", "f32", "--data", data],
            "finetune": ["finetune", p, "-t", "host", "--steps", "2", "--data", data],
        }[cmd]
    return build


def _onnx_cmd(make: Callable[[Path], Path]) -> Build:
    def build(d: Path, base: Path) -> list[str]:
        return ["import", "onnx", str(make(d)), "-o", str(d / "m.etm")]
    return build


def _opt(*args: str) -> Build:
    """A command line over the good inputs; @M@ = good.etm, @D@ = good.npz, @A@ = artifacts, @O@ = out."""
    def build(d: Path, base: Path) -> list[str]:
        subst = {"@M@": str(base / "good.etm"), "@D@": str(base / "good.npz"), "@A@": str(base / "art"),
                 "@O@": str(d / "out")}
        return [subst.get(a, a) for a in args]
    return build


def _under_file(d: Path, base: Path) -> list[str]:
    (d / "afile").write_text("user data")
    return ["train", str(toml_case(GOOD_TOML.format(source=str(base / "good.npz")))(d, base)[1]), "--quiet",
            "-o", str(d / "afile" / "m.etm")]


def _under_file_export(d: Path, base: Path) -> list[str]:
    (d / "afile").write_text("user data")
    return ["export", "c", str(base / "good.etm"), "-t", "host", "-o", str(d / "afile" / "sub")]


def _read_only(d: Path, base: Path) -> list[str]:
    return ["import", "onnx", str(_onnx_model(d)), "-o", "/proc/edgetrain-corpus.etm"]


def _other_file_split(d: Path, base: Path) -> list[str]:
    """A split of a file the model was not trained on: there is no held-out part to re-derive."""
    x, y = good_xy()
    p = npz(d, "other.npz", x=x, y=y)
    return ["eval", str(base / "good.etm"), "--data", f"{p}:test"]


OPTION_CASES: dict[str, Build] = {
    "finetune_steps_1e11": _opt("finetune", "@M@", "-t", "host", "--data", "@D@", "--steps", "100000000000"),
    "finetune_steps_0": _opt("finetune", "@M@", "-t", "host", "--data", "@D@", "--steps", "0"),
    "finetune_steps_negative": _opt("finetune", "@M@", "-t", "host", "--data", "@D@", "--steps", "-5"),
    "finetune_batch_0": _opt("finetune", "@M@", "-t", "host", "--data", "@D@", "--batch", "0"),
    "finetune_batch_huge": _opt("finetune", "@M@", "-t", "host", "--data", "@D@", "--batch", "10000000"),
    "finetune_lr_nan": _opt("finetune", "@M@", "-t", "host", "--data", "@D@", "--lr", "nan"),
    "finetune_lr_negative": _opt("finetune", "@M@", "-t", "host", "--data", "@D@", "--lr", "-1"),
    "finetune_lr_inf": _opt("finetune", "@M@", "-t", "host", "--data", "@D@", "--lr", "inf"),
    "finetune_momentum_nan": _opt("finetune", "@M@", "-t", "host", "--data", "@D@", "--momentum", "nan"),
    "finetune_momentum_2": _opt("finetune", "@M@", "-t", "host", "--data", "@D@", "--momentum", "2"),
    "finetune_weight_decay_negative": _opt("finetune", "@M@", "-t", "host", "--data", "@D@", "--weight-decay", "-1"),
    "finetune_trainable_unknown": _opt("finetune", "@M@", "-t", "host", "--data", "@D@", "--trainable", "nope"),
    "finetune_trainable_last_x": _opt("finetune", "@M@", "-t", "host", "--data", "@D@", "--trainable", "last:x"),
    "finetune_target_unknown": _opt("finetune", "@M@", "-t", "nope", "--data", "@D@"),
    "export_c_percentile_negative": _opt("export", "c", "@M@", "-t", "host", "--dtype", "int8", "--method",
                                         "percentile", "--percentile", "-5", "-o", "@O@"),
    "export_c_percentile_nan": _opt("export", "c", "@M@", "-t", "host", "--dtype", "int8", "--method",
                                    "percentile", "--percentile", "nan", "-o", "@O@"),
    "export_c_percentile_101": _opt("export", "c", "@M@", "-t", "host", "--dtype", "int8", "--percentile", "101",
                                    "-o", "@O@"),
    "export_c_target_unknown": _opt("export", "c", "@M@", "-t", "nope", "-o", "@O@"),
    "export_c_sparse_format_unknown": _opt("export", "c", "@M@", "-t", "host", "--sparse-format", "zip", "-o", "@O@"),
    "export_onnx_beta1_2": _opt("export", "onnx", "@M@", "--train-step", "--optimizer", "adam", "--beta1", "2",
                                "-o", "@O@"),
    "export_onnx_beta2_nan": _opt("export", "onnx", "@M@", "--train-step", "--optimizer", "adam", "--beta2", "nan",
                                  "-o", "@O@"),
    "export_onnx_eps_negative": _opt("export", "onnx", "@M@", "--train-step", "--optimizer", "adam", "--eps", "-1",
                                     "-o", "@O@"),
    "export_onnx_momentum_nan": _opt("export", "onnx", "@M@", "--train-step", "--momentum", "nan", "-o", "@O@"),
    "export_onnx_momentum_negative": _opt("export", "onnx", "@M@", "--train-step", "--momentum", "-0.5",
                                          "-o", "@O@"),
    "export_onnx_weight_decay_inf": _opt("export", "onnx", "@M@", "--train-step", "--weight-decay", "inf",
                                         "-o", "@O@"),
    "emulate_limit_0": _opt("emulate", "@M@", "-t", "host", "--dtype", "f32", "--data", "@D@", "--limit", "0"),
    "emulate_target_unknown": _opt("emulate", "@M@", "-t", "nope", "--data", "@D@"),
    "emulate_split_unknown": _opt("emulate", "@M@", "-t", "host", "--dtype", "f32", "--data", "iris:nope"),
    "ort_train_epochs_0": _opt("ort-train", "@A@", "--data", "@D@", "--epochs", "0", "-o", "@O@"),
    "ort_train_epochs_huge": _opt("ort-train", "@A@", "--data", "@D@", "--epochs", "1000000000000", "-o", "@O@"),
    "ort_train_batch_0": _opt("ort-train", "@A@", "--data", "@D@", "--batch-size", "0", "-o", "@O@"),
    "ort_train_lr_nan": _opt("ort-train", "@A@", "--data", "@D@", "--lr", "nan", "-o", "@O@"),
    "ort_train_lr_inf": _opt("ort-train", "@A@", "--data", "@D@", "--lr", "inf", "-o", "@O@"),
    "eval_split_unknown": _opt("eval", "@M@", "--data", "digits:nope"),
    "eval_file_split_unknown": _opt("eval", "@M@", "--data", "@D@:bogus"),
    "emulate_file_split_unknown": _opt("emulate", "@M@", "-t", "host", "--dtype", "f32", "--data", "@D@:tset"),
    "eval_split_of_another_file": _other_file_split,
    "eval_dataset_unknown": _opt("eval", "@M@", "--data", "mnist"),
    "train_missing_config": _opt("train", "nope.toml"),
    "train_output_under_file": _under_file,
    "export_c_output_under_file": _under_file_export,
    "import_output_read_only": _read_only,
}

DATA_COMMANDS = ("eval", "emulate", "emulate_calib", "finetune", "finetune_eval", "ort-train", "export_c_calib",
                 "train")
MODEL_COMMANDS = ("info", "eval", "export_c", "export_onnx", "emulate", "finetune")
# Data that is bad only for some commands: the TOML model takes its input shape from the data (a
# 3-feature file or a file of 2x2 windows trains fine), and one sample can be evaluated or calibrated on but not split.
# Calibration reads no labels, so labels beyond the model's outputs are bad only where labels count.
# Text labels are class names for training (mapped to ids, kept in the model); the base model was
# trained on class ids, so it refuses them everywhere else.
DATA_BAD_ONLY_FOR = {"wrong_width": set(DATA_COMMANDS) - {"train"}, "x_3d": set(DATA_COMMANDS) - {"train"}, "csv_one_row": {"train"},
                     "string_y": set(DATA_COMMANDS) - {"train"},
                     "label_too_big": set(DATA_COMMANDS) - {"emulate_calib", "export_c_calib"}}


def corpus() -> dict[str, Build]:
    """Every case, by id."""
    cases: dict[str, Build] = {}
    for name, make in DATA_FILES.items():
        for cmd in DATA_COMMANDS:
            if cmd in DATA_BAD_ONLY_FOR.get(name, DATA_COMMANDS):
                cases[f"data-{name}-{cmd}"] = _data_cmd(cmd, make)
    for name, make_m in MODEL_FILES.items():
        for cmd in MODEL_COMMANDS:
            cases[f"model-{name}-{cmd}"] = _model_cmd(cmd, make_m)
    for name, text in TOML_CASES.items():
        cases[f"toml-{name}"] = toml_case(text)
    for name, make_o in ONNX_CASES.items():
        cases[f"onnx-{name}"] = _onnx_cmd(make_o)
    for name, build in OPTION_CASES.items():
        cases[f"option-{name}"] = build
    return cases

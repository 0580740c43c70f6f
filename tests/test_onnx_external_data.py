"""ONNX import of models whose weights live in external-data files: read only what is safe to read."""
from __future__ import annotations

import os

import numpy as np
import onnx
import pytest

import edgetrain as et
from edgetrain.errors import ModelFileError
from edgetrain.interop.onnx import build_inference_model
from edgetrain.interop.onnx.importer import import_onnx

from helpers import assert_user_error, run_cli


def small_graph() -> et.Graph:
    return et.Sequential([et.Dense(8, "relu"), et.Dense(3)], 5, seed=1, name="ext")


@pytest.fixture
def ext_model(tmp_path):
    """model/model.onnx with every initializer in model/weights.bin, plus a secret file outside."""
    d = tmp_path / "model"
    d.mkdir()
    graph = small_graph()
    onnx.save_model(build_inference_model(graph), str(d / "model.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="weights.bin", size_threshold=0)
    secret = tmp_path / "outside" / "secret.bin"
    secret.parent.mkdir()
    # As large as the weights file, so a followed reference would "succeed" and leak it.
    secret.write_bytes(os.urandom((d / "weights.bin").stat().st_size))
    return graph, d, secret


def rewrite(d, name, **changes):
    """A copy of model.onnx whose first initializer's external-data entries are changed."""
    model = onnx.load(str(d / "model.onnx"), load_external_data=False)
    t = model.graph.initializer[0]
    assert t.data_location == onnx.TensorProto.EXTERNAL
    for e in t.external_data:
        if e.key in changes:
            e.value = str(changes.pop(e.key))
    for k, v in changes.items():
        entry = t.external_data.add()
        entry.key, entry.value = k, str(v)
    path = d / name
    path.write_bytes(model.SerializeToString())
    return path


def test_valid_external_data_imports_and_matches(ext_model):
    graph, d, _ = ext_model
    back = import_onnx(d / "model.onnx")
    assert set(back.params) == set(graph.params)
    for k, p in graph.params.items():
        assert np.array_equal(back.params[k].value, p.value), k
    x = np.random.default_rng(0).normal(size=(7, 5)).astype(np.float32)
    assert np.array_equal(et.predict(back, x), et.predict(graph, x))


def test_external_data_in_a_subdirectory_is_fine(ext_model):
    graph, d, _ = ext_model
    (d / "data").mkdir()
    os.replace(d / "weights.bin", d / "data" / "weights.bin")
    model = onnx.load(str(d / "model.onnx"), load_external_data=False)
    for t in model.graph.initializer:
        for e in t.external_data:
            if e.key == "location":
                e.value = "./data/weights.bin"
    (d / "model.onnx").write_bytes(model.SerializeToString())
    back = import_onnx(d / "model.onnx")
    assert all(np.array_equal(back.params[k].value, p.value) for k, p in graph.params.items())


@pytest.mark.parametrize("case, needle", [
    ("symlink_file", "symlink"),
    ("symlink_dir", "symlink"),
    ("absolute", "absolute"),
    ("dotdot", "goes up"),
    ("dotdot_inside", "goes up"),
    ("offset", "beyond the end"),
    ("length", "beyond the end"),
    ("short", "need"),
    ("missing", "does not exist"),
    ("directory", "not a regular file"),
    ("negative", "non-negative"),
])
def test_external_data_outside_the_model_directory_is_refused(ext_model, case, needle, tmp_path):
    _, d, secret = ext_model
    if case == "symlink_file":
        os.symlink(secret, d / "link.bin")
        path = rewrite(d, "bad.onnx", location="link.bin")
    elif case == "symlink_dir":
        os.symlink(secret.parent, d / "sub")
        path = rewrite(d, "bad.onnx", location="sub/secret.bin")
    elif case == "absolute":
        path = rewrite(d, "bad.onnx", location=str(secret))
    elif case == "dotdot":
        path = rewrite(d, "bad.onnx", location="../outside/secret.bin")
    elif case == "dotdot_inside":
        (d / "x").mkdir()
        path = rewrite(d, "bad.onnx", location="x/../weights.bin")
    elif case == "offset":
        path = rewrite(d, "bad.onnx", offset=10**6)
    elif case == "length":
        path = rewrite(d, "bad.onnx", length=10**6)
    elif case == "short":
        path = rewrite(d, "bad.onnx", length=4)
    elif case == "missing":
        path = rewrite(d, "bad.onnx", location="nothing.bin")
    elif case == "directory":
        (d / "adir").mkdir()
        path = rewrite(d, "bad.onnx", location="adir")
    else:
        path = rewrite(d, "bad.onnx", offset=-8)
    with pytest.raises(ModelFileError, match=needle) as err:
        import_onnx(path)
    assert err.value.hint
    out = tmp_path / "m.etm"
    r = run_cli("import", "onnx", path, "-o", out)
    assert_user_error(r, needle)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith("hint: "), r.stderr
    assert not out.exists()


def test_in_memory_model_with_external_references_is_refused(ext_model):
    _, d, _ = ext_model
    model = onnx.load(str(d / "model.onnx"), load_external_data=False)
    with pytest.raises(ModelFileError, match="external file"):
        import_onnx(model)
    assert model.graph.initializer[0].data_location == onnx.TensorProto.EXTERNAL  # the caller's proto untouched

"""Training reaches its accuracy target, is deterministic, and models survive save/load."""
from __future__ import annotations

import zipfile
import json
import subprocess
import sys

import numpy as np
import pytest

import edgetrain as et
from edgetrain.config import load_config
from edgetrain.train_run import train_from_config

EXAMPLE = "examples/digits_mlp.toml"


@pytest.fixture(scope="module")
def digits():
    return et.load_data("digits")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_digits_mlp_example_reaches_96_percent(seed):
    result = train_from_config(load_config(EXAMPLE), seed=seed)
    shapes = result.graph.shapes()
    assert shapes["dense1"] == (32,) and shapes[result.graph.output_name] == (10,)
    print(f"seed {seed}: test accuracy {100 * result.test_accuracy:.2f}% in {result.history.seconds:.2f}s")
    assert result.test_accuracy >= 0.96
    assert result.history.seconds < 30


def _train(digits, seed, optimizer="sgd", **kw):
    m = et.Sequential([et.Dense(32, "relu"), et.Dense(10)], 64, seed=seed)
    et.fit(m, digits, epochs=3, seed=seed, optimizer=optimizer, **kw)
    return m


@pytest.mark.parametrize("opt", [("sgd", {"lr": 0.05, "momentum": 0.9, "weight_decay": 1e-4}),
                                 ("adam", {"lr": 3e-3})])
def test_same_seed_bit_identical_different_seed_differs(digits, opt):
    name, kw = opt
    a, b, c = (_train(digits, s, name, **kw) for s in (7, 7, 8))
    for k in a.params:
        assert a.params[k].value.tobytes() == b.params[k].value.tobytes()
    assert any(not np.array_equal(a.params[k].value, c.params[k].value) for k in a.params)


def test_masks_stay_zero_through_training(digits):
    m = et.Sequential([et.Dense(32, "relu"), et.Dense(10)], 64, seed=0)
    w = m.params["dense1.weight"]
    w.mask = np.random.default_rng(0).random(w.shape) < 0.3
    w.apply_constraints()
    et.fit(m, digits, epochs=2, optimizer="adam", lr=0.01)
    assert np.all(w.value[~w.mask] == 0)
    assert np.count_nonzero(w.value) > 0.9 * w.mask.sum()


def test_frozen_layer_unchanged(digits):
    m = et.Sequential([et.Dense(32, "relu"), et.Dense(10)], 64, seed=0)
    et.set_trainable(m, "last:1")
    before = m.params["dense1.weight"].value.copy()
    et.fit(m, digits, epochs=2)
    assert np.array_equal(before, m.params["dense1.weight"].value)


def test_early_stopping_restores_best(digits):
    m = et.Sequential([et.Dense(8, "relu"), et.Dense(10)], 64, seed=0)
    h = et.fit(m, digits, epochs=200, early_stopping=2, optimizer="adam", lr=0.05)
    assert h.stopped_early and len(h.epochs) < 200
    assert et.accuracy(m, digits.val) == max(h.metric("val_acc"))


def test_save_load_identical_predictions(tmp_path, digits):
    m = _train(digits, 0)
    w = m.params["dense1.weight"]
    w.mask = w.value > 0
    w.apply_constraints()
    m.params["dense2.weight"].qparams = et.QParams(np.full(10, 0.01), np.zeros(10), 8, axis=1)
    path = et.save_model(m, tmp_path / "m.etm")
    m2 = et.load_model(path)
    assert np.array_equal(et.predict(m, digits.test.x), et.predict(m2, digits.test.x))
    assert np.array_equal(m2.params["dense1.weight"].mask, w.mask)
    assert m2.params["dense2.weight"].qparams.axis == 1


def test_truncated_and_future_version_files(tmp_path, digits):
    m = _train(digits, 0)
    path = et.save_model(m, tmp_path / "m.etm")
    data = path.read_bytes()
    trunc = tmp_path / "trunc.etm"
    trunc.write_bytes(data[: len(data) // 2])
    with pytest.raises(et.ModelFileError, match="not a readable"):
        et.load_model(trunc)
    future = tmp_path / "future.etm"
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(future, "w") as zout:
        for item in zin.infolist():
            payload = zin.read(item)
            if item.filename == "edgetrain.json":
                doc = json.loads(payload)
                doc["version"] = 99
                payload = json.dumps(doc).encode()
            zout.writestr(item, payload)
    with pytest.raises(et.ModelFileError, match="version 99"):
        et.load_model(future)
    garbage = tmp_path / "garbage.etm"
    garbage.write_bytes(b"not a zip at all")
    with pytest.raises(et.ModelFileError):
        et.load_model(garbage)


def test_save_is_atomic(tmp_path, digits, monkeypatch):
    m = _train(digits, 0)
    path = et.save_model(m, tmp_path / "m.etm")
    before = path.read_bytes()
    m.meta["unserialisable"] = object()
    with pytest.raises(TypeError):
        et.save_model(m, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.etm"]


def test_python_api_dag_and_json_cli(tmp_path):
    out = tmp_path / "m.etm"
    r = subprocess.run([sys.executable, "-m", "edgetrain", "train", EXAMPLE, "-o", str(out), "--json"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["test_accuracy"] >= 0.96
    r = subprocess.run([sys.executable, "-m", "edgetrain", "eval", str(out), "--data", "digits:test", "--json"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["accuracy"] == pytest.approx(summary["test_accuracy"])
    r = subprocess.run([sys.executable, "-m", "edgetrain", "info", str(out), "--json"], capture_output=True, text=True)
    layers = json.loads(r.stdout)["layers"]
    assert [l["macs"] for l in layers] == [2048, 0, 320]

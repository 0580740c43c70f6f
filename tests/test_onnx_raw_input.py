"""Preprocessing travels with the ONNX export: `export_onnx` (and `edgetrain export onnx`) writes
model.onnx and train_step.onnx that take raw values (``input_raw``) and standardise them inside
with the training statistics, so raw data gives edgetrain's accuracy; `--standardised-input`
keeps the old contract."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from sklearn.datasets import load_digits

import edgetrain as et
from edgetrain.data import apply_preprocess
from edgetrain.engine.optim import SGD
from edgetrain.engine.trainer import Trainer
from edgetrain.interop.onnx import export_onnx
from edgetrain.interop.onnx.train_step import build_train_step

from cnn_models import digits_cnn
from codegen_models import mlp_64_32_10


def raw_digits(n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    d = load_digits()
    return d.data[:n].astype(np.float32), d.target[:n]


def session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("make", [mlp_64_32_10, digits_cnn], ids=["mlp", "cnn"])
def test_raw_values_into_model_onnx_give_edgetrains_outputs(make, tmp_path: Path) -> None:
    g = make()
    summary = export_onnx(g, tmp_path / "o")
    assert summary["input"] == "input_raw" and summary["input_kind"] == "raw"
    raw, labels = raw_digits()
    sess = session(tmp_path / "o" / "model.onnx")
    got = sess.run(None, {"input_raw": raw})[0]
    want = et.predict(g, apply_preprocess(raw, g.meta["preprocess"]))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    acc = float((got.argmax(1) == labels).mean())
    assert acc == float((want.argmax(1) == labels).mean()) and acc > 0.85
    # the old contract, on demand: standardised inputs; raw values into it are a different input
    export_onnx(g, tmp_path / "s", raw_input=False)
    std_sess = session(tmp_path / "s" / "model.onnx")
    assert std_sess.get_inputs()[0].name == "input"
    wrong = std_sess.run(None, {"input": raw})[0]
    assert float((wrong.argmax(1) == labels).mean()) < acc - 0.2


def test_raw_input_train_step_equals_the_trainer_on_standardised_data() -> None:
    g = mlp_64_32_10().copy()
    raw, labels = raw_digits(32)
    ts = build_train_step(g, SGD(0.05, momentum=0.9), raw_input=True)
    assert ts.model.graph.input[0].name == "input_raw"
    sess = ort.InferenceSession(ts.model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    out = dict(zip(names, sess.run(None, ts.feeds(raw, labels.astype(np.int64), 0.05, ts.initial_state))))
    ref = g.copy()
    loss = Trainer(ref, SGD(0.05, momentum=0.9), progress=False).train_step(
        apply_preprocess(raw, g.meta["preprocess"]), labels)
    assert abs(float(out["loss"]) - loss) <= 1e-5
    for name in ts.trainable:
        np.testing.assert_allclose(out[name + ".new"], ref.params[name].value, atol=1e-5)


def test_cli_export_onnx_checks_the_raw_model(tmp_path: Path) -> None:
    model = et.save_model(mlp_64_32_10(), tmp_path / "m.etm")
    r = subprocess.run([sys.executable, "-m", "edgetrain", "export", "onnx", str(model), "-o", str(tmp_path / "o"),
                        "--train-step", "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["input_kind"] == "raw" and doc["onnxruntime_check"]["max_abs_diff"] < 1e-4
    assert doc["onnxruntime_check"]["accuracy"] == doc["onnxruntime_check"]["numpy_accuracy"]
    r = subprocess.run([sys.executable, "-m", "edgetrain", "export", "onnx", str(model), "-o", str(tmp_path / "s"),
                        "--standardised-input", "--json"], capture_output=True, text=True)
    assert r.returncode == 0 and json.loads(r.stdout)["input_kind"] == "standardised"

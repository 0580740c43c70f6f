"""ONNX Runtime on-device-training artifacts, trained through onnxruntime.training.api without torch."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import edgetrain as et
from edgetrain.interop.onnx import IR_VERSION, export_ort_artifacts, ort_train

N, BATCH, EPOCHS, LR = 160, 32, 10, 0.05  # 5 steps per epoch -> 50 steps


@pytest.fixture(scope="module")
def digits():
    return et.load_data("digits")


def masked_mlp(seed=0):
    m = et.Sequential([et.Dense(32, "relu"), et.Dense(10)], input_shape=64, seed=seed)
    p = m.params["dense1.weight"]
    p.mask = np.random.default_rng(seed).random(p.shape) < 0.5
    p.apply_constraints()
    return m


def test_ort_artifacts_sgd_50_steps_match_numpy_without_torch(tmp_path, digits):
    x, y = digits.train.x[:N], digits.train.y[:N]
    model = masked_mlp()
    reference = model.copy()
    manifest = export_ort_artifacts(model, tmp_path / "art", optimizer="sgd")
    assert manifest["trainable"] == ["dense2.weight", "dense2.bias", "dense1.weight", "dense1.bias"]
    for f in ("training_model.onnx", "eval_model.onnx", "optimizer_model.onnx"):
        assert onnx.load(str(tmp_path / "art" / f)).ir_version == IR_VERSION

    res = ort_train(tmp_path / "art", x, y, epochs=EPOCHS, batch_size=BATCH, lr=LR, seed=0, out_dir=tmp_path / "out")
    assert res.steps == 50
    assert res.loss_after < 0.6 * res.loss_before
    assert np.mean(res.losses[-5:]) < np.mean(res.losses[:5])

    et.fit(reference, (x, y), epochs=EPOCHS, batch_size=BATCH, optimizer=et.SGD(LR), seed=0)
    for name, p in reference.params.items():
        assert np.abs(res.graph.params[name].value - p.value).max() <= 1e-4, name
    w = res.graph.params["dense1.weight"]
    assert np.all(w.value[~w.mask] == 0)

    # the inference model ONNX Runtime exports runs and agrees with the folded-back graph
    sess = ort.InferenceSession(str(tmp_path / "out" / "model.onnx"), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"input": digits.test.x})[0]
    assert np.abs(got - et.predict(res.graph, digits.test.x)).max() <= 1e-5
    assert np.abs(got - et.predict(reference, digits.test.x)).max() <= 1e-3
    trained = et.load_model(tmp_path / "out" / "model.etm")
    assert np.array_equal(trained.params["dense2.bias"].value, res.graph.params["dense2.bias"].value)


def test_ort_artifacts_adamw_trains_frozen_layer_stays(tmp_path, digits):
    model = et.Sequential([et.Dense(32, "relu", trainable=False), et.Dense(10)], input_shape=64, seed=1)
    frozen = model.params["dense1.weight"].value.copy()
    manifest = export_ort_artifacts(model, tmp_path / "art", optimizer="adamw", loss="mse")
    assert manifest["frozen"] == ["dense1.weight", "dense1.bias"]
    res = ort_train(tmp_path / "art", digits.train.x[:N], digits.train.y[:N], epochs=EPOCHS, lr=3e-3)
    assert res.loss_after < res.loss_before
    assert np.array_equal(res.graph.params["dense1.weight"].value, frozen)


# edgetrain's ORT path needs no torch: the CLI runs in a fresh process in which torch looks absent
# whether or not it is installed (the test extra installs it to export reference models).
# onnxruntime probes for it twice, by importing ORTModule while it loads (an ImportError is fine)
# and by importlib.util.find_spec when its tools load (None is fine); the finder answers the first,
# the patched find_spec the second, and after onnxruntime has loaded any import of torch fails
# loudly. The in-process tests cannot check this: another test may have imported torch already.
TORCH_TRAP = """
import importlib.util, sys
def is_torch(name):
    return name == "torch" or name.startswith("torch.")
real_find_spec = importlib.util.find_spec
importlib.util.find_spec = lambda name, package=None: None if is_torch(name) else real_find_spec(name, package)
class Trap:
    armed = False
    def find_spec(self, name, path=None, target=None):
        if is_torch(name):
            if self.armed:
                raise RuntimeError("edgetrain tried to import " + name)
            raise ModuleNotFoundError("torch hidden by the test", name=name)
trap = Trap()
sys.meta_path.insert(0, trap)
import onnxruntime
assert "torch" not in sys.modules
trap.armed = True
from edgetrain.cli import main
main(sys.argv[1:])
"""


def test_cli_export_and_ort_train_never_import_torch(tmp_path, digits):
    model = masked_mlp(seed=2)
    model.meta["preprocess"] = digits.preprocess()
    et.save_model(model, tmp_path / "m.etm")
    (tmp_path / "trap.py").write_text(TORCH_TRAP)

    def cli(*args):
        return subprocess.run([sys.executable, "trap.py", *map(str, args)], capture_output=True, text=True,
                              cwd=tmp_path)

    r = cli("export", "onnx", "m.etm", "-o", "exp", "--ort-artifacts", "--ort-optimizer", "sgd", "--json")
    assert r.returncode == 0, r.stderr
    assert "GraphTransformer" not in r.stderr  # ORT's gradient-builder chatter is captured
    r = cli("ort-train", "exp", "--data", "digits:train", "-o", "trained", "--epochs", "1", "--lr", "0.05", "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["steps"] == -(-len(digits.train.x) // 32)
    assert summary["loss_after"] < summary["loss_before"]
    assert sorted(p.name for p in (tmp_path / "trained").iterdir()) == [".edgetrain-output.json", "checkpoint",
                                                                        "model.etm", "model.onnx"]

    (tmp_path / "empty").mkdir()
    r = cli("ort-train", "empty", "--data", "digits", "-o", "t2")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith("error: ") and "not an edgetrain ORT-artifacts directory" in r.stderr
    assert not (tmp_path / "t2").exists()

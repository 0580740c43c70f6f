"""The CLI pipeline end to end: export ONNX (checked in onnxruntime), emulate C on QEMU or host gcc."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

import edgetrain as et


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    data = et.load_data("digits")
    m = et.Sequential([et.Dense(32, "relu"), et.Dense(10)], 64, seed=0, name="tiny")
    et.fit(m, data, epochs=5, optimizer="adam", lr=3e-3)
    m.meta["preprocess"] = data.preprocess()
    return et.save_model(m, tmp_path_factory.mktemp("m") / "tiny.etm")


def run(*args):
    return subprocess.run([sys.executable, "-m", "edgetrain", *map(str, args)], capture_output=True, text=True)


def test_emulate_int8_on_stm32f405_matches_numpy(model_file, arm_cc, qemu):
    r = run("emulate", model_file, "--target", "stm32f405", "--limit", "60", "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["ran_on"] == "stm32f405" and rep["samples"] == 60
    assert rep["disagreements"] == 0 and rep["max_abs_diff"] == 0
    assert rep["device_accuracy"] == rep["numpy_accuracy"]
    assert rep["instructions_per_inference"] > 1000
    assert rep["text_bytes"] > rep["model_flash_bytes"] > 2368  # int8 weights alone are 2,368 bytes


def test_emulate_f32_host_and_build_only_target(model_file, host_cc):
    r = run("emulate", model_file, "--target", "stm32f746", "--dtype", "f32", "--limit", "10")
    assert r.returncode == 5 and "no emulator" in r.stderr and "Traceback" not in r.stderr  # ToolchainError
    assert "--fallback-host" in r.stderr
    r = run("emulate", model_file, "--target", "stm32f746", "--dtype", "f32", "--limit", "20", "--fallback-host",
            "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["ran_on"] == "host" and "no emulator" in rep["fallback_reason"]
    assert rep["disagreements"] == 0 and rep["max_abs_diff"] < 1e-4
    assert rep["instructions_per_inference"] is None


def test_export_onnx_checks_model_in_onnxruntime(model_file, tmp_path):
    r = run("export", "onnx", model_file, "-o", tmp_path / "onnx", "--json")
    assert r.returncode == 0, r.stderr
    chk = json.loads(r.stdout)["onnxruntime_check"]
    assert chk["samples"] == 540 and chk["max_abs_diff"] < 1e-5
    assert chk["accuracy"] == chk["numpy_accuracy"]


def test_emulate_sparse_model_with_each_policy(tmp_path, host_cc):
    data = et.load_data("digits")
    m = et.Sequential([et.Dense(48, "relu"), et.Dense(10)], 64, seed=1, name="sparse")
    w = m.params["dense1.weight"]
    w.mask = __import__("numpy").random.default_rng(0).random(w.shape) < 0.1
    w.apply_constraints()
    et.fit(m, data, epochs=3)
    path = et.save_model(m, tmp_path / "sparse.etm")
    for policy in ("auto", "fast", "csr"):
        r = run("emulate", path, "--target", "host", "--limit", "40", "--sparse-format", policy, "--json")
        assert r.returncode == 0, (policy, r.stderr)
        rep = json.loads(r.stdout)
        assert rep["disagreements"] == 0 and rep["max_abs_diff"] == 0, policy
    r = run("emulate", path, "--target", "host", "--limit", "5", "--sparse-format", "bogus")
    assert r.returncode == 2 and "unknown sparse format 'bogus'" in r.stderr

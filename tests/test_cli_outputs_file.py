"""`edgetrain emulate --outputs` and `edgetrain eval --outputs`: the raw outputs (and, for int8,
the int8 inputs fed) in an .npz a user can compare with their own reference; a file edgetrain
did not write is never overwritten."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import edgetrain as et
from edgetrain.export.c import prepare_model
from edgetrain.quantize.reference import int8_reference, run_int8

from codegen_models import digits, mlp_64_32_10


def run(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgetrain", *map(str, args)], capture_output=True, text=True)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return et.save_model(mlp_64_32_10(), tmp_path_factory.mktemp("outputs") / "mlp.etm")


def test_emulate_outputs_are_the_device_bytes_and_the_int8_inputs(model_file: Path, host_cc: str,
                                                                  tmp_path: Path) -> None:
    out = tmp_path / "device.npz"
    r = run("emulate", model_file, "-t", "host", "--data", "digits:test", "--limit", "30", "--outputs", out)
    assert r.returncode == 0, r.stderr
    with np.load(out) as f:
        outputs, inputs = f["outputs"], f["inputs"]
    assert outputs.dtype == np.int8 and outputs.shape == (30, 10) and inputs.dtype == np.int8
    program, _, _ = prepare_model(mlp_64_32_10(), "host", "int8", calib_x=digits().train.x)
    np.testing.assert_array_equal(inputs, program.qmodel.quantize_input(digits().test.x[:30]))
    np.testing.assert_array_equal(outputs, run_int8(program.qmodel, inputs))  # what the device computed
    np.testing.assert_array_equal(outputs, int8_reference(program.qmodel, digits().test.x[:30]))


def test_eval_outputs_and_no_overwrite_of_foreign_files(model_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval.npz"
    assert run("eval", model_file, "--data", "digits:test", "--outputs", out).returncode == 0
    with np.load(out) as f:
        # (the CLI standardises the raw file with the stored statistics in float32: within 1e-5)
        np.testing.assert_allclose(f["outputs"], et.predict(mlp_64_32_10(), digits().test.x), rtol=1e-5, atol=1e-5)
        assert f["labels"].tolist() == digits().test.y.tolist()
    assert run("eval", model_file, "--data", "digits:test", "--outputs", out).returncode == 0  # ours: replaced
    mine = tmp_path / "mine.npz"
    np.savez(mine, outputs=np.zeros(3))
    r = run("eval", model_file, "--data", "digits:test", "--outputs", mine)
    assert r.returncode == 2 and "refusing to overwrite" in r.stderr and "Traceback" not in r.stderr
    with np.load(mine) as f:
        assert f["outputs"].tolist() == [0, 0, 0]


def test_finetune_without_eval_data_says_it_scores_on_its_training_samples(model_file: Path, tmp_path: Path,
                                                                          host_cc: str) -> None:
    d = digits()
    f = tmp_path / "new.npz"
    np.savez(f, x=d.test.x[:40] * d.std + d.mean, y=d.test.y[:40])  # a new file, in raw units
    r = run("finetune", model_file, "-t", "host", "--data", f, "--steps", "5", "--json")
    assert r.returncode == 0, r.stderr
    assert "measured on the 40 training samples themselves" in r.stderr
    import json

    assert json.loads(r.stdout)["evaluated_on_training_data"] is True
    r = run("finetune", model_file, "-t", "host", "--data", "digits:train", "--steps", "5", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["evaluated_on_training_data"] is False
    assert "themselves" not in r.stderr

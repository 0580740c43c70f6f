"""The training library's input and output helpers (train_model_input.c), like the inference
export's: ``et_train_input_from_raw`` turns raw sensor values into the input the training code
takes (the model's standardisation and, over an int8 body, its input quantization), bit for bit
what edgetrain computes in numpy; ``et_train_argmax`` is the class of a logit row;
``et_train_class_names`` the model's class names."""
from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

from edgetrain.data import apply_preprocess
from edgetrain.export.c.train_modes import select_trainable
from edgetrain.export.c.train_plan import export_training_c
from edgetrain.export.c.train_program import DeviceTrainConfig

from codegen_models import digits, mlp_64_32_10
from helpers import STRICT, compile_c

DRIVER = Path(__file__).resolve().parent / "c_train" / "input_helpers_driver.c"


@pytest.mark.parametrize("body", ["f32", "int8"])
def test_raw_samples_become_the_training_input(body: str, host_cc: str, tmp_path: Path) -> None:
    g = mlp_64_32_10().copy()
    g.meta["class_names"] = [f"digit {k}" if k != 7 else 'se"ven\\' for k in range(10)]
    select_trainable(g, "last:1")
    exp = export_training_c(g, "host", tmp_path / "lib", DeviceTrainConfig(body=body), digits().train.x[:128])
    lib = exp.out_dir
    exe = compile_c([host_cc, *STRICT, "-ffp-contract=off", "-DHAVE_CLASS_NAMES", f"-I{lib}",
                     f"-I{lib / 'runtime' / 'include'}", str(DRIVER), str(lib / "train_model_input.c"),
                     "-o", str(tmp_path / "drv")], tmp_path / "drv")
    raw = load_digits().data[:200].astype(np.float32)
    logits = np.random.default_rng(0).normal(size=(200, 10)).astype(np.float32)
    out = subprocess.run([str(exe)], input=struct.pack("<I", 200) + raw.tobytes() + logits.tobytes(),
                         capture_output=True, check=True).stdout
    width = exp.program.input_bytes
    prepared = np.frombuffer(out[: 200 * width], np.int8 if body == "int8" else np.float32).reshape(200, -1)
    expected = exp.program.device_input(apply_preprocess(raw, g.meta["preprocess"]))
    np.testing.assert_array_equal(prepared, expected.reshape(200, -1))
    best = np.frombuffer(out[200 * width: 200 * width + 800], np.int32)
    np.testing.assert_array_equal(best, logits.argmax(1))
    assert out[200 * width + 800:].decode().splitlines() == g.meta["class_names"]
    header = (lib / "train_model.h").read_text()
    assert "et_train_input_from_raw" in header and "et_train_class_names" in header
    assert exp.report.const_data_bytes >= 2 * 64 * 4  # the statistics are counted in flash

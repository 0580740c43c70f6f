"""The C export's raw-input entry point, ``et_model_input_from_raw`` (model_input.c): raw sensor
values in the training data's units go in, the model's (standardised; for int8 quantized) input
comes out, bit for bit what edgetrain's numpy preprocessing gives. Raw samples through it give
edgetrain's accuracy on the device.

The harness built with ET_HARNESS_RAW_INPUT reads raw float32 samples and calls it before each
inference.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

import edgetrain as et
from edgetrain.data import apply_preprocess
from edgetrain.device import build_firmware, run_firmware
from edgetrain.errors import DataError
from edgetrain.export.c import export_c
from edgetrain.quantize.reference import int8_reference

from cnn_models import digits_cnn
from codegen_models import digits, mlp_64_32_10

RAW = {"define": {"ET_HARNESS_RAW_INPUT": 1}}


def raw_digits(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Raw 8x8 digit images (pixel values 0..16) and labels, the units edgetrain standardised."""
    d = load_digits()
    return d.data[:n].astype(np.float32), d.target[:n]


def run(res, target: str, x: np.ndarray, build: Path, *, raw: bool) -> np.ndarray:
    fw = build_firmware(target, res.out_dir, build, parity=True, defines=RAW["define"] if raw else None)
    return run_firmware(fw, x, res.output_dtype, timeout=300).outputs


@pytest.mark.parametrize("dtype", ["f32", "int8"])
@pytest.mark.parametrize("make", [mlp_64_32_10, digits_cnn], ids=["mlp", "cnn"])
def test_raw_samples_give_the_prepared_inputs_outputs(dtype: str, make, host_cc: str, tmp_path: Path) -> None:
    g = make()
    res = export_c(g, "host", tmp_path / "m", dtype=dtype, calib_x=digits().train.x[:128])
    raw, labels = raw_digits(300)
    # numpy: the model's own standardisation, then (int8) its input quantization
    standardised = apply_preprocess(raw, g.meta["preprocess"])
    prepared = res.prepare_input(standardised.reshape(len(raw), *res.program.input_shape))
    np.testing.assert_array_equal(res.input_from_raw(raw), prepared)
    device_raw = run(res, "host", raw, tmp_path / "raw", raw=True)
    device_prepared = run(res, "host", prepared, tmp_path / "prep", raw=False)
    np.testing.assert_array_equal(device_raw, device_prepared)  # same input bytes reached the model
    if dtype == "int8":
        np.testing.assert_array_equal(device_raw.astype(np.int8), int8_reference(res.qmodel, standardised))
    expected = float((et.predict(g, standardised).argmax(1) == labels).mean())
    assert float((device_raw.argmax(1) == labels).mean()) == pytest.approx(expected, abs=0.005)
    assert expected > 0.85
    # raw values fed as if standardised are a different (wrong) input: the entry point matters
    assert not np.array_equal(res.prepare_input(raw.reshape(len(raw), *res.program.input_shape)), prepared)


def test_int8_raw_input_on_qemu_stm32f405(arm_cc: str, qemu: str, tmp_path: Path) -> None:
    g = mlp_64_32_10()
    res = export_c(g, "stm32f405", tmp_path / "m", dtype="int8", calib_x=digits().train.x[:128])
    raw, _ = raw_digits(40)
    out = run(res, "stm32f405", raw, tmp_path / "q", raw=True).astype(np.int8)
    np.testing.assert_array_equal(out, int8_reference(res.qmodel, apply_preprocess(raw, g.meta["preprocess"])))


def test_int8_raw_value_without_a_code_is_refused(host_cc: str, tmp_path: Path) -> None:
    g = mlp_64_32_10()
    res = export_c(g, "host", tmp_path / "m", dtype="int8", calib_x=digits().train.x[:64])
    raw, _ = raw_digits(3)
    raw[1, 5] = np.nan
    with pytest.raises(DataError, match="NaN or"):
        run(res, "host", raw, tmp_path / "b", raw=True)
    with pytest.raises(DataError, match="NaN or infinite"):
        res.input_from_raw(raw)


def test_a_model_without_statistics_converts_only(host_cc: str, tmp_path: Path) -> None:
    g = et.Sequential([et.Dense(5, "relu"), et.Dense(3)], input_shape=4, seed=0, name="plain")
    res = export_c(g, "host", tmp_path / "m", dtype="f32")
    assert res.program.standardisation is None and res.report.raw_input_bytes == 0
    x = np.random.default_rng(0).normal(size=(8, 4)).astype(np.float32)
    np.testing.assert_array_equal(run(res, "host", x, tmp_path / "b", raw=True),
                                  run(res, "host", x, tmp_path / "c", raw=False))


def test_statistics_are_in_flash_and_the_header_documents_the_entry_point(tmp_path: Path) -> None:
    res = export_c(mlp_64_32_10(), "stm32f405", tmp_path / "m", dtype="f32")
    assert res.report.raw_input_bytes == 2 * 64 * 4  # a mean and a std per input value
    assert res.report.flash_bytes == res.report.data_bytes + res.report.raw_input_bytes + \
        res.report.code_bytes_estimate
    header = (tmp_path / "m" / "model.h").read_text()
    assert "et_status et_model_input_from_raw(const float *raw, void *input);" in header
    assert "model_input.c" in (tmp_path / "m" / "edgetrain_model.mk").read_text()
    assert "model_input.c" in (tmp_path / "m" / "CMakeLists.txt").read_text()


ARGMAX_MAIN = r"""
#include <stdio.h>
#include "model.h"
#include "inputs.h"
int main(void)
{
    static ET_MODEL_OUTPUT_TYPE y[ET_MODEL_OUTPUT_COUNT];
    int i;
    for (i = 0; i < N_SAMPLES; ++i) {
        if (et_model_infer(x[i], y) != ET_OK) return 1;
        printf("%d\n", (int)et_model_argmax(y));
    }
    for (i = 0; i < ET_MODEL_N_CLASSES; ++i) printf("%s\n", et_model_class_names[i]);
    return 0;
}
"""


@pytest.mark.parametrize("dtype", ["f32", "int8"])
def test_argmax_and_class_names_in_the_c_api(dtype: str, host_cc: str, tmp_path: Path) -> None:
    import subprocess

    g = mlp_64_32_10().copy()
    names = ["zero", "one", 'say "two"', "thr\\ee", "four??=", "fünf", "six\nlines", "seven", "eight", "nine"]
    g.meta["class_names"] = names
    res = export_c(g, "host", tmp_path / "m", dtype=dtype, calib_x=digits().train.x[:64])
    x = digits().test.x[:20]
    xin = res.prepare_input(x)
    ctype, fmt = ("int8_t", str) if dtype == "int8" else ("float", lambda v: f"{float(v):.9e}f")
    rows = ",\n".join("{" + ", ".join(fmt(int(v)) if dtype == "int8" else fmt(v) for v in r) + "}" for r in xin)
    (tmp_path / "inputs.h").write_text(f"#define N_SAMPLES {len(x)}\nstatic const {ctype} x[{len(x)}]"
                                       f"[ET_MODEL_INPUT_COUNT] = {{{rows}}};\n")
    (tmp_path / "main.c").write_text(ARGMAX_MAIN)
    srcs = [str(res.out_dir / f) for f in res.files if f.suffix == ".c"]
    exe = tmp_path / "a"
    subprocess.run([host_cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2", f"-I{tmp_path}",
                    f"-I{res.out_dir}", f"-I{res.out_dir / 'runtime' / 'include'}", f"-I{res.out_dir / 'runtime' / 'src'}",
                    str(tmp_path / "main.c"), *srcs, "-lm", "-o", str(exe)], check=True, capture_output=True, text=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True).stdout.decode("utf-8").split("\n")
    ref = int8_reference(res.qmodel, x) if dtype == "int8" else et.predict(g, x)
    assert [int(v) for v in out[:20]] == ref.argmax(axis=1).tolist()
    printed = "\n".join(out[20:]).rstrip("\n")
    assert printed == "\n".join(names)  # every name byte for byte, quotes, backslashes, ??= and UTF-8 too

"""A float model's C code refuses NaN / +-inf inputs (ET_ERR_NON_FINITE, no output written) and
the emulation reports it as a data error; int8 quantization refuses them before the device."""
from __future__ import annotations

import numpy as np
import pytest

import edgetrain as et
from edgetrain.device import build_firmware, run_firmware
from edgetrain.errors import DataError
from edgetrain.export.c import export_c


def model():
    return et.Sequential([et.Dense(8, "relu"), et.Dense(3)], 6, seed=0)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_float_firmware_refuses_a_non_finite_input(host_cc, tmp_path, bad) -> None:
    res = export_c(model(), "host", tmp_path / "c", dtype="f32")
    fw = build_firmware("host", res.out_dir, tmp_path / "build", sanitize=True)
    x = np.random.default_rng(0).normal(size=(3, 6)).astype(np.float32)
    clean = run_firmware(fw, x, np.float32)  # the same firmware runs clean samples
    np.testing.assert_allclose(clean.outputs, et.predict(model(), x), rtol=1e-5, atol=1e-6)
    x[1, 4] = bad
    with pytest.raises(DataError, match="NaN or"):
        run_firmware(fw, x, np.float32)


def test_float_firmware_refuses_a_non_finite_input_on_qemu(arm_cc, qemu, tmp_path) -> None:
    res = export_c(model(), "stm32f405", tmp_path / "c", dtype="f32")
    fw = build_firmware("stm32f405", res.out_dir, tmp_path / "build")
    x = np.zeros((2, 6), np.float32)
    x[0, 0] = np.nan
    with pytest.raises(DataError, match="NaN or"):
        run_firmware(fw, x, np.float32)


def test_int8_input_quantization_refuses_non_finite_values(tmp_path) -> None:
    g = model()
    x = np.random.default_rng(1).normal(size=(16, 6)).astype(np.float32)
    res = export_c(g, "host", tmp_path / "c", dtype="int8", calib_x=x)
    assert res.prepare_input(x).dtype == np.int8
    x[3, 2] = np.nan
    with pytest.raises(DataError, match="NaN or infinite"):
        res.prepare_input(x)


def test_every_input_position_is_checked_and_extreme_finite_values_pass(host_cc, tmp_path) -> None:
    """The check reads four values per pass and the rest one by one: a bad value anywhere is found,
    and the largest, the subnormal and the negative-zero floats are finite."""
    g = et.Sequential([et.Dense(3)], 9, seed=0)
    res = export_c(g, "host", tmp_path / "c", dtype="f32")
    fw = build_firmware("host", res.out_dir, tmp_path / "build", sanitize=True)
    edge = np.array([[1e30, -1e30, np.float32(1e-45), -0.0, 0.0, np.finfo(np.float32).tiny, 1.0, -1.0, 3.0]],
                    np.float32)
    np.testing.assert_allclose(run_firmware(fw, edge, np.float32).outputs, et.predict(g, edge), rtol=1e-5)
    top = np.full((1, 9), np.finfo(np.float32).max, np.float32)  # the largest finite value is accepted
    assert run_firmware(fw, top, np.float32).outputs.shape == (1, 3)
    for pos in range(9):
        x = np.ones((1, 9), np.float32)
        x[0, pos] = (np.nan, np.inf, -np.inf)[pos % 3]
        with pytest.raises(DataError, match="NaN or"):
            run_firmware(fw, x, np.float32)

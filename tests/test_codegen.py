"""C generator without a compiler: memory plan, generated files, memory report, budget, CLI."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import edgetrain as et
from edgetrain.cli import main
from edgetrain.errors import BudgetExceededError, ConfigError
from edgetrain.export.c import export_c, prepare_model, write_atomically
from edgetrain.export.c.plan import Buffer, plan_memory

from codegen_models import digits, mlp_64_32_10, residual_model


# ---------------------------------------------------------------- memory plan

@st.composite
def buffer_sets(draw: st.DrawFn) -> list[Buffer]:
    n = draw(st.integers(1, 12))
    out = []
    for i in range(n):
        first = draw(st.integers(0, 10))
        out.append(Buffer(f"t{i}", draw(st.integers(1, 300)), first, first + draw(st.integers(0, 5))))
    return out


@settings(max_examples=200, deadline=None)
@given(buffer_sets())
def test_plan_never_overlaps_live_buffers(buffers: list[Buffer]) -> None:
    plan = plan_memory(buffers)
    for a in buffers:
        oa = plan.offsets[a.name]
        assert oa % 4 == 0 and oa + a.size <= plan.arena_bytes
        for b in buffers:
            if a is not b and a.overlaps_in_time(b):
                ob = plan.offsets[b.name]
                assert oa + a.size <= ob or ob + b.size <= oa, (a, b, plan.offsets)
    assert plan.peak_live_bytes() <= plan.arena_bytes <= sum(-(-b.size // 4) * 4 for b in buffers)


def test_plan_reuses_memory_of_dead_tensors() -> None:
    # A chain: each tensor lives from its producer to its consumer, so two buffers suffice.
    chain = [Buffer("a", 400, 0, 1), Buffer("b", 200, 1, 2), Buffer("c", 400, 2, 3), Buffer("d", 100, 3, 4)]
    plan = plan_memory(chain)
    assert plan.arena_bytes == 600 == plan.peak_live_bytes()
    assert plan.offsets["a"] == plan.offsets["c"] == 0


def test_residual_plan_keeps_the_skip_tensor_alive() -> None:
    program, report, _ = prepare_model(residual_model(), "host", "f32")
    plan = program.plan
    skip = plan.buffers["dense1"]
    assert (skip.first, skip.last) == (0, 4)  # written by step 0, read by the add (step 4)
    assert report.arena_bytes == plan.arena_bytes >= 3 * 32 * 4  # skip + two live intermediates


# ---------------------------------------------------------------- generated files

def test_int8_export_layout_and_contract(tmp_path: Path) -> None:
    d, g = digits(), mlp_64_32_10()
    res = export_c(g, "stm32f405", tmp_path / "out", dtype="int8", calib_x=d.train.x)
    out = res.out_dir
    for f in ("model.h", "model.c", "model_data.h", "model_data.c", "edgetrain_model.mk", "CMakeLists.txt",
              "memory_report.json", "runtime/include/et_runtime.h", "runtime/src/et_dense_s8.c",
              "runtime/src/et_dense_s8_ref.c", "runtime/src/et_dense_check.h", "runtime/src/et_status.c"):
        assert (out / f).is_file(), f
    assert not (out / "runtime/src/et_dense_f32.c").exists()  # only what the model calls
    h = (out / "model.h").read_text()
    assert "#define ET_MODEL_INPUT_BYTES 64" in h and "#define ET_MODEL_OUTPUT_BYTES 10" in h
    assert f"#define ET_MODEL_INPUT_ZERO_POINT {res.qmodel.input.zero_point}" in h
    assert "et_status et_model_infer(const void *input, void *output);" in h
    c = (out / "model.c").read_text()
    assert "static const et_dense_s8_params" in c and c.count("ET_DENSE_S8(&") == 2
    assert "malloc" not in c and "stdio" not in c
    data = (out / "model_data.c").read_text()
    assert data.count("ET_MODEL_ALIGNED") == 2 * 5  # weights, eff_bias, bias, multipliers, shifts
    assert "#if defined(ET_FORCE_REF)" in data  # plain biases only for the reference kernel
    assert not list(tmp_path.glob(".out.tmp-*"))  # no temporary directory left behind
    rep = json.loads((out / "memory_report.json").read_text())
    assert rep["target"] == "stm32f405" and rep["fits"] and rep["arena_bytes"] == 32


def test_int8_weight_flash_is_within_five_percent_of_raw_bytes() -> None:
    d, g = digits(), mlp_64_32_10()
    _, report, _ = prepare_model(g, "stm32f405", "int8", d.train.x)
    raw = sum(p.size for name, p in g.params.items() if name.endswith(".weight"))
    assert report.raw_weight_bytes == raw == 64 * 32 + 32 * 10
    assert report.weight_bytes <= 1.05 * raw
    assert report.data_bytes < 1.35 * raw  # biases, multipliers and args stay small
    _, f32, _ = prepare_model(g, "stm32f405", "f32")
    assert f32.weight_bytes == 4 * raw


def test_existing_output_is_replaced_atomically(tmp_path: Path) -> None:
    out = tmp_path / "m"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    with pytest.raises(ConfigError, match="did not write"):  # never replaces files it did not write
        export_c(mlp_64_32_10(), "host", out, dtype="f32")
    assert (out / "stale.txt").read_text() == "old"
    (out / "stale.txt").unlink()
    export_c(mlp_64_32_10(), "host", out, dtype="int8", calib_x=digits().train.x)
    export_c(mlp_64_32_10(), "host", out, dtype="f32")  # over its own earlier output: replaced whole
    assert (out / "model.c").is_file() and not (out / "runtime/src/et_dense_s8.c").exists()

    files = {Path("a.txt"): b"1"}
    with pytest.raises(TypeError):
        write_atomically(out, {**files, Path("b.txt"): "not bytes"})  # type: ignore[dict-item]
    assert (out / "model.c").is_file()  # the previous export survives a failed write
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


# ---------------------------------------------------------------- budgets

def wide_ram_model() -> et.Graph:
    # 40,000 float activations (160 kB) in the arena: over the F205's 128 KiB of RAM, while
    # the weights (~640 kB) still fit its 1 MiB of flash.
    return et.Sequential([et.Dense(40000), et.Dense(2)], input_shape=1, name="wide")


def big_flash_model() -> et.Graph:
    # 2 x 64x4096 float weights = 2 MiB of flash, small activations.
    return et.Sequential([et.Dense(4096), et.Dense(64)], input_shape=64, name="heavy")


def test_model_too_big_for_ram_fails_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "wide_c"
    with pytest.raises(BudgetExceededError) as err:
        export_c(wide_ram_model(), "stm32f205", out, dtype="f32")
    msg = str(err.value)
    assert "stm32f205" in msg and "RAM needs" in msg and "over by" in msg and "dense1 160,000 B" in msg
    assert "flash" not in msg.split("RAM")[0]  # flash fits; only RAM is named
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_model_too_big_for_flash_fails_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "heavy_c"
    with pytest.raises(BudgetExceededError) as err:
        export_c(big_flash_model(), "stm32f205", out, dtype="f32")
    msg = str(err.value)
    over = err.value.args[0]
    assert "flash needs" in msg and "RAM needs" not in msg and "dense1 1,064,980 B" in over  # weights + bias + args
    assert not out.exists() and list(tmp_path.iterdir()) == []
    # int8 is four times smaller and fits.
    export_c(big_flash_model(), "stm32f205", out, dtype="int8",
             calib_x=np.random.default_rng(0).normal(size=(64, 64)).astype(np.float32))
    assert (out / "model.c").is_file()


def test_host_has_no_budget() -> None:
    _, report, _ = prepare_model(wide_ram_model(), "host", "f32")
    assert report.fits and report.ram_budget is None


def test_int8_without_calibration_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="calibration"):
        prepare_model(mlp_64_32_10(), "host", "int8")


# ---------------------------------------------------------------- CLI

def test_cli_export_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = et.save_model(mlp_64_32_10(), tmp_path / "mlp.etm")
    main(["export", "c", str(model), "--target", "stm32f405", "-o", str(tmp_path / "c"), "--dtype", "int8",
          "--per-tensor", "--calib", "digits:train", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert doc["report"]["dtype"] == "int8" and doc["report"]["fits"]
    assert "model.c" in doc["files"]
    assert "#define ET_MODEL_INPUT_BYTES 64" in (tmp_path / "c" / "model.h").read_text()
    assert ".per_channel = 0, .multipliers = et_model_dense1_multipliers" in (tmp_path / "c" / "model.c").read_text()


def test_cli_table_and_budget_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = et.save_model(mlp_64_32_10(), tmp_path / "mlp.etm")
    main(["export", "c", str(model), "-t", "stm32f405", "--dtype", "f32", "-o", str(tmp_path / "f")])
    out = capsys.readouterr().out
    assert "dense1" in out and "flash total" in out and "arena" in out
    wide = et.save_model(wide_ram_model(), tmp_path / "wide.etm")
    with pytest.raises(SystemExit) as exit_info:
        main(["export", "c", str(wide), "-t", "stm32f205", "--dtype", "f32", "-o", str(tmp_path / "w")])
    assert exit_info.value.code == 4  # BudgetExceededError: its own exit status
    err = capsys.readouterr().err
    assert "does not fit stm32f205" in err and "hint:" in err
    assert not (tmp_path / "w").exists()


def test_int8_is_the_default_of_every_command_that_targets_a_device(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """`export c`, `emulate`, `export tflite` and their Python functions all default to int8: a
    model trained on a known dataset calibrates on its training split; one without calibration
    data is refused with a hint naming both ways out."""
    from edgetrain.errors import ConfigError

    model = et.save_model(mlp_64_32_10(), tmp_path / "mlp.etm")
    main(["export", "c", str(model), "-t", "host", "-o", str(tmp_path / "c")])
    assert "calibrating on digits:train" in capsys.readouterr().err
    assert "(int8)" in (tmp_path / "c" / "model.c").read_text().splitlines()[0]
    with pytest.raises(ConfigError, match="int8 export needs calibration data") as err:
        export_c(wide_ram_model(), "host", tmp_path / "w")
    assert 'dtype="f32"' in (err.value.hint or "") and not (tmp_path / "w").exists()

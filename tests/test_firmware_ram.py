"""The emulation firmware's RAM plan predicts the link exactly: for inference and fine-tuning
firmware over a spread of models, targets, dtypes, trainable sets, optimizers and batch sizes, the
planned total equals the link's own accounting (the program's .data + .bss, the C library reserve,
the stack reserve), and at the boundary "plan fits" holds if and only if the link succeeds."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import edgetrain as et
from edgetrain.device import build_firmware
from edgetrain.device.finetune import build_training_firmware
from edgetrain.device.ram_plan import finetune_firmware_ram, inference_firmware_ram, linked_ram_bytes
from edgetrain.errors import BudgetExceededError
from edgetrain.export.c import export_c
from edgetrain.export.c.train_modes import select_trainable
from edgetrain.export.c.train_plan import export_training_c
from edgetrain.export.c.train_program import DeviceTrainConfig
from edgetrain.resources import targets_dir
from edgetrain.targets import load_target

from cnn_models import depthwise_cnn, digits_cnn, samples
from codegen_models import mlp_64_32_10, residual_model


def set_mlp() -> et.Graph:
    """A masked (SET-style) MLP: the export stores its first layer in a sparse format."""
    g = et.Sequential([et.Dense(48, "relu"), et.Dense(10)], input_shape=64, seed=3, name="sparse_mlp")
    rng = np.random.default_rng(3)
    g.params["dense1.weight"].mask = (rng.random(g.params["dense1.weight"].value.shape) < 0.2).astype(np.uint8)
    return g


# (model, target, dtype, raw-input harness)
INFERENCE = [
    (mlp_64_32_10, "stm32f405", "int8", False), (mlp_64_32_10, "stm32f205", "f32", False),
    (mlp_64_32_10, "mps2-an386", "f32", True), (residual_model, "stm32f746", "int8", False),
    (residual_model, "stm32f405", "f32", False), (digits_cnn, "stm32f405", "int8", False),
    (digits_cnn, "stm32f746", "f32", True), (depthwise_cnn, "stm32f405", "int8", False),
    (depthwise_cnn, "stm32f205", "f32", False), (set_mlp, "stm32f405", "f32", False),
    (set_mlp, "mps2-an386", "int8", False),
]
# (model, target, trainable, optimizer, batch, body)
FINETUNE = [
    (mlp_64_32_10, "stm32f405", "last:1", "sgd", 1, "f32"), (mlp_64_32_10, "stm32f205", "all", "adam", 4, "f32"),
    (mlp_64_32_10, "stm32f746", "bias-only", "sgd", 3, "int8"), (mlp_64_32_10, "mps2-an386", "last:1", "adam", 8, "int8"),
    (residual_model, "stm32f405", "last:1", "sgd", 2, "f32"), (residual_model, "stm32f746", "all", "sgd", 1, "f32"),
    (digits_cnn, "stm32f405", "head", "sgd", 1, "f32"), (digits_cnn, "stm32f746", "last-block", "adam", 2, "int8"),
    (depthwise_cnn, "stm32f405", "head", "adam", 5, "f32"), (depthwise_cnn, "stm32f205", "bias-only", "sgd", 1, "int8"),
    (set_mlp, "stm32f405", "all", "sgd", 2, "f32"),
]


def inference_build(make, target, dtype: str, raw: bool, root: Path):  # noqa: ANN001, ANN201
    g = make()
    res = export_c(g, target, root / "c", dtype=dtype, calib_x=samples(g, 32) if dtype == "int8" else None)
    plan = inference_firmware_ram(res.report, res.program, load_target(target) if isinstance(target, str) else target,
                                  raw_input=raw)
    return plan, lambda: build_firmware(target, res.out_dir, root / "b", parity=True,
                                        defines={"ET_HARNESS_RAW_INPUT": 1} if raw else None)


def finetune_build(make, target, trainable: str, optimizer: str, batch: int, body: str, root: Path):  # noqa: ANN001, ANN201
    g = make().copy()
    if any(n.op == "batch_norm" for n in g.nodes):
        from edgetrain.transforms.fold_batch_norm import fold_batch_norm

        g = fold_batch_norm(g)
    select_trainable(g, trainable)
    config = DeviceTrainConfig(optimizer=optimizer, batch=batch, body=body)  # type: ignore[arg-type]
    exp = export_training_c(g, target, root / "src", config, samples(g, 32) if body == "int8" else None)
    plan = finetune_firmware_ram(exp.report, exp.program, exp.target)
    return plan, lambda: build_training_firmware(exp, exp.target, root / "b")


def test_firmware_ram_plan_is_the_link_over_every_combination(tmp_path: Path, arm_cc: str) -> None:
    """Each planned total equals the link's accounting (built two at a time: the builds are
    independent gcc runs)."""
    from concurrent.futures import ThreadPoolExecutor

    jobs = {}
    for i, (make, target, dtype, raw) in enumerate(INFERENCE):
        jobs[f"{make.__name__} {target} {dtype}{' raw' if raw else ''}"] = inference_build(
            make, target, dtype, raw, tmp_path / f"i{i}")
    for i, (make, target, trainable, optimizer, batch, body) in enumerate(FINETUNE):
        jobs[f"fine-tune {make.__name__} {target} {trainable} {optimizer} batch {batch} body {body}"] = finetune_build(
            make, target, trainable, optimizer, batch, body, tmp_path / f"f{i}")
    assert len(jobs) >= 20 and all(plan.fits for plan, _ in jobs.values())
    with ThreadPoolExecutor(max_workers=2) as pool:
        linked = dict(zip(jobs, pool.map(lambda job: linked_ram_bytes(job[1]()), jobs.values())))
    wrong = {name: (jobs[name][0].total, got, jobs[name][0].rows()) for name, got in linked.items()
             if got != jobs[name][0].total}
    assert not wrong


def board_with_ram(folder: Path, ram: int) -> Path:
    """A copy of the stm32f405 board whose linker script gives the firmware ``ram`` bytes."""
    src = targets_dir()
    for sub in ("ld", "startup"):
        shutil.copytree(src / sub, folder / sub, dirs_exist_ok=True)
    ld = folder / "ld" / "stm32f405.ld"
    ld.write_text(ld.read_text().replace("LENGTH = 128K", f"LENGTH = {ram}"))
    (folder / "board.toml").write_text((src / "stm32f405.toml").read_text())
    return folder / "board.toml"


@pytest.mark.parametrize("kind", ["inference", "fine-tuning"])
def test_at_the_boundary_the_plan_fits_if_and_only_if_the_link_succeeds(kind: str, tmp_path: Path,
                                                                         arm_cc: str) -> None:
    """RAM = the planned total: the plan fits and the firmware links. Four bytes less (every
    buffer is a multiple of 4): the plan refuses, in one line, and the link fails too."""
    def plan_and_build(ram: int, where: Path):  # noqa: ANN202
        board = load_target(str(board_with_ram(where / "board", ram)))
        if kind == "inference":
            return inference_build(mlp_64_32_10, board, "int8", False, where)
        return finetune_build(mlp_64_32_10, board, "last:1", "sgd", 2, "f32", where)

    exact, _ = plan_and_build(128 * 1024, tmp_path / "probe")
    need = exact.total
    plan, build = plan_and_build(need, tmp_path / "fits")
    assert plan.fits and plan.available == need
    plan.check()
    assert linked_ram_bytes(build()) == need

    plan, build = plan_and_build(need - 4, tmp_path / "short")
    assert not plan.fits
    with pytest.raises(BudgetExceededError, match=rf"needs {need:,} B of RAM of {need - 4:,} B \(over by 4 B"):
        plan.check()
    with pytest.raises(BudgetExceededError, match=r"region RAM overflowed by 4 bytes"):
        build()

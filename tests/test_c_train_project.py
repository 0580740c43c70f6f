"""`export_training_c(..., project=...)` / `edgetrain export c --train SPEC`: the on-device training
library with build fragments and a README, and a firmware project that builds with
arm-none-eabi-gcc from the exported folder alone (moved away from the checkout) and runs in QEMU:
its example trains on compiled-in batches, commits to the weight store, reloads the bank and checks
it. Its printed losses and weight RMS must be the numpy reference's (`reference_finetune`)."""
from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
from pathlib import Path

import click
import numpy as np
import pytest

import edgetrain as et
from edgetrain.cli import main
from edgetrain.cli.app import cli
from edgetrain.cli.options import DEVICE_TRAINING_OPTIONS, TRAINABLE_HELP
from edgetrain.device.finetune import make_batches, reference_finetune, reference_logits
from edgetrain.errors import ConfigError
from edgetrain.export.c.train_modes import apply_trainable
from edgetrain.export.c.train_plan import TrainExport, export_training_c
from edgetrain.export.c.train_program import DeviceTrainConfig
from edgetrain.targets import load_target, load_target_file

from codegen_models import digits, mlp_64_32_10
from test_c_project import QEMU_ARGS, build

ROOT = Path(__file__).resolve().parent.parent
STEPS, BATCH = 8, 2
CONFIG = DeviceTrainConfig(lr=0.05, momentum=0.9, batch=BATCH)
FLOAT = r"-?\d+\.\d+ \((0x[0-9A-F]{8})\)"


def batches() -> tuple[np.ndarray, np.ndarray]:
    d = digits()
    return make_batches(d.test.x, d.test.y, STEPS, BATCH, shuffle=False)


def export(kind: str | None, out: Path, target: str = "stm32f405") -> TrainExport:
    work, _ = apply_trainable(mlp_64_32_10(), "last:1")
    return export_training_c(work, target, out, CONFIG, project=kind,  # type: ignore[arg-type]
                             example_batches=batches() if kind else None)


def as_float(bits: str) -> float:
    return struct.unpack("<f", struct.pack("<I", int(bits, 16)))[0]


def run_qemu(elf: Path) -> tuple[int, str]:
    r = subprocess.run(["qemu-system-arm", "-M", "netduinoplus2", *QEMU_ARGS, "-kernel", str(elf)],
                       capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout + r.stderr  # semihosting output: QEMU writes it to stderr


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    z = np.asarray(logits, np.float64)
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(labels)), labels].mean())


@pytest.mark.parametrize("kind", ["make", "cmake"])
def test_training_project_builds_from_the_export_alone_and_matches_the_reference(kind: str, arm_cc: str, qemu: str,
                                                                                tmp_path: Path) -> None:
    exp = export(kind, tmp_path / "export")
    moved = tmp_path / "elsewhere" / "fw"
    shutil.copytree(exp.out_dir, moved)  # nothing may point back at the export or the checkout
    shutil.rmtree(exp.out_dir)
    elf, log = build(kind, moved, {"STORAGE": "ram"})
    assert str(ROOT) not in log and "warning" not in log.lower()
    status, out = run_qemu(elf)
    assert status == 0, out
    assert "no stored weights" in out and "committed, reloaded and verified" in out

    xs, ys = batches()
    ref = reference_finetune(exp.program, xs, ys)
    losses = [as_float(b) for b in re.findall(rf"step \d+ loss {FLOAT}\n", out)]
    assert len(losses) == STEPS and "(0 rolled back)" in out
    np.testing.assert_allclose(losses, ref.losses, rtol=1e-5, atol=1e-7)
    weights = np.concatenate([ref.weights[p.name].ravel() for p in exp.program.trainable]).astype(np.float64)
    rms = as_float(re.search(rf"weights rms: {FLOAT}", out).group(1))  # type: ignore[union-attr]
    assert rms == pytest.approx(np.sqrt(np.mean(weights ** 2)), rel=1e-5)
    before = as_float(re.search(rf"loss before: {FLOAT}", out).group(1))  # type: ignore[union-attr]
    after = as_float(re.search(rf"loss after \(reloaded weights\): {FLOAT}", out).group(1))  # type: ignore[union-attr]
    assert before == pytest.approx(ref.losses[0], rel=1e-5)
    assert after == pytest.approx(cross_entropy(reference_logits(exp.program, xs[0], ref.head), ys[0]), rel=1e-4)
    assert after < before


def test_the_flash_port_build_links_warning_free_below_the_weight_banks(arm_cc: str, tmp_path: Path) -> None:
    exp = export("make", tmp_path / "fw")
    assert load_target("stm32f405").storage_port == "stm32f4-flash"
    elf, log = build("make", exp.out_dir)  # the target's port by default
    assert elf == exp.out_dir / "build" / "stm32f4-flash" / "firmware.elf" and "warning" not in log.lower()
    header = (exp.out_dir / "app" / "weight_store.h").read_text()
    region = int(re.search(r"WEIGHT_STORE_FLASH_REGION (0x[0-9A-F]+)u", header).group(1), 16)  # type: ignore[union-attr]
    assert region == 0x080C0000  # sectors 10 and 11 of the 1 MiB flash
    r = subprocess.run(["make", "-C", str(exp.out_dir), "STORAGE=eeprom"], capture_output=True, text=True)
    assert r.returncode != 0 and "use ram or stm32f4-flash" in r.stderr


def test_every_training_export_has_build_fragments_and_a_readme(tmp_path: Path) -> None:
    exp = export(None, tmp_path / "lib")
    files = {str(f) for f in exp.files}
    assert {"edgetrain_train.mk", "CMakeLists.txt", "README.md", "train_model.h", "train_memory_report.json",
            "runtime/src/et_storage_stm32f4.c", "runtime/src/et_storage_ram.c"} <= files
    assert not any(f.startswith("app/") for f in files)
    mk = (exp.out_dir / "edgetrain_train.mk").read_text()
    assert "$(EDGETRAIN_TRAIN_DIR)/train_model.c" in mk and "et_storage_stm32f4.c" in mk
    readme = (exp.out_dir / "README.md").read_text()
    for text in ("et_train_init", "et_train_load", "et_train_step", "et_train_commit", "RAM total for training",
                 "stm32f4-flash", "edgetrain_train.mk"):
        assert text in readme
    f7 = export(None, tmp_path / "f7", "stm32f746")  # a different flash interface: RAM port only
    assert "runtime/src/et_storage_stm32f4.c" not in {str(f) for f in f7.files}
    with pytest.raises(ConfigError, match="no linker script"):
        export("make", tmp_path / "host", "host")
    with pytest.raises(ConfigError, match="--name is not supported with --train yet"):
        export_training_c(apply_trainable(mlp_64_32_10(), "last:1")[0], "stm32f405", tmp_path / "n", CONFIG,
                          name="kws")
    assert not (tmp_path / "host").exists() and not (tmp_path / "n").exists()


def test_the_storage_port_is_a_target_key(tmp_path: Path) -> None:
    assert load_target("stm32f205").storage_port == "stm32f4-flash"  # the F2 has the F4's FLASH interface
    assert load_target("stm32f746").storage_port == "ram" and load_target("host").storage_port == "ram"
    base = (ROOT / "targets" / "stm32f746.toml").read_text().replace('"ld/', f'"{ROOT}/targets/ld/').replace(
        '"startup/', f'"{ROOT}/targets/startup/')
    for table, message in (('[storage]\nport = "eeprom"\n', "storage.port 'eeprom' is not one of"),
                           ('[storage]\nport = "ram"\nbanks = 2\n', r"unknown key\(s\) in \[storage\]: banks")):
        path = tmp_path / "board.toml"
        path.write_text(base + "\n" + table)
        with pytest.raises(ConfigError, match=message):
            load_target_file(path)


@pytest.mark.parametrize("spec", ["last:x", "no_such_layer", "last:9"])
def test_a_bad_train_spec_is_exit_2_and_one_line(spec: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = et.save_model(mlp_64_32_10(), tmp_path / "mlp.etm")
    with pytest.raises(SystemExit) as e:
        main(["export", "c", str(model), "-t", "stm32f405", "-o", str(tmp_path / "out"), "--train", spec])
    assert e.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: ") and lines[1].startswith("hint: ")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv, fragment", [(["--lr", "0.1"], "--lr configures the on-device training code"),
                                            (["--train", "last:1", "--dtype", "f32"], "--dtype applies to the "
                                                                                     "inference export")])
def test_training_and_inference_options_do_not_mix(argv: list[str], fragment: str, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["export", "c", "missing.etm", "-t", "stm32f405", "-o", str(tmp_path / "out"), *argv])
    assert e.value.code == 2 and fragment in capsys.readouterr().err


def test_cli_export_c_train_project_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = et.save_model(mlp_64_32_10(), tmp_path / "mlp.etm")
    main(["export", "c", str(model), "-t", "stm32f405", "-o", str(tmp_path / "fw"), "--train", "last:1",
          "--project", "cmake", "--batch", "2", "--json"])
    res = json.loads(capsys.readouterr().out)
    assert res["trainable"] == ["dense2.weight", "dense2.bias"] and res["config"]["batch"] == 2
    assert {"CMakeLists.txt", "edgetrain_train.cmake", "cmake/arm-none-eabi.cmake", "app/main.c",
            "app/example_batches.h", "app/weight_store.c", "board/weight_store_flash.ld"} <= set(res["files"])
    samples = (tmp_path / "fw" / "app" / "example_batches.h").read_text()
    assert "#define EXAMPLE_STEPS 8" in samples  # the model's training split, 8 steps of 2


def options_of(*path: str) -> dict[str, click.Option]:
    command: click.Command = cli
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    return {p.name: p for p in command.params if isinstance(p, click.Option) and p.name}


def test_finetune_and_export_c_train_share_their_training_options() -> None:
    finetune, export_c = options_of("finetune"), options_of("export", "c")
    shared = [o(click.Command("probe")).params[0].name for o in DEVICE_TRAINING_OPTIONS]
    assert shared == ["optimizer", "lr", "momentum", "weight_decay", "batch", "body"]
    for name in [*shared, "calib"]:
        a, b = finetune[name], export_c[name]
        assert (a.opts, a.secondary_opts, a.default, a.type) == (b.opts, b.secondary_opts, b.default, b.type), name
        if name != "calib":  # calib: the int8 body's in both, export c's also the inference export's
            assert a.help == b.help, name
    assert finetune["trainable"].help == TRAINABLE_HELP and TRAINABLE_HELP in (export_c["train_spec"].help or "")

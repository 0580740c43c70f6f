"""`export_c(..., project="make" | "cmake")` / `edgetrain export c --project`: a firmware project
that builds with arm-none-eabi-gcc from the exported folder alone (copied away from the checkout
first) and runs in QEMU: its example application prints the class of each example sample, which
must be the numpy reference's, and exits 0. Every export carries a README."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import edgetrain as et
from edgetrain.errors import ConfigError
from edgetrain.export.c import export_c
from edgetrain.quantize.reference import int8_reference

from cnn_models import digits_cnn
from codegen_models import digits, mlp_64_32_10
from conftest import require_tool

QEMU_ARGS = ["-nographic", "-monitor", "none", "-serial", "null", "-semihosting-config", "enable=on,target=native"]


def build(kind: str, folder: Path, variables: dict[str, str] | None = None) -> tuple[Path, str]:
    """Build the project in ``folder`` (make or cmake, with build ``variables``): the firmware.elf
    it made, and the build's output."""
    defs = [f"{k}={v}" for k, v in (variables or {}).items()]
    if kind == "make":
        runs = [["make", "-C", str(folder), *defs]]
    else:
        require_tool("cmake")
        runs = [["cmake", "-S", str(folder), "-B", str(folder / "build"),
                 "-DCMAKE_TOOLCHAIN_FILE=cmake/arm-none-eabi.cmake", *(f"-D{d}" for d in defs)],
                ["cmake", "--build", str(folder / "build"), "--verbose"]]
    log = ""
    for argv in runs:
        r = subprocess.run(argv, capture_output=True, text=True, cwd=folder)
        log += r.stdout + r.stderr
        assert r.returncode == 0, log
    elves = [f for f in (folder / "build").rglob("firmware.elf") if f.is_file()]
    assert len(elves) == 1, elves
    return elves[0], log


def run_qemu(elf: Path, machine: str = "netduinoplus2") -> tuple[int, list[int]]:
    r = subprocess.run(["qemu-system-arm", "-M", machine, *QEMU_ARGS, "-kernel", str(elf)], capture_output=True,
                       text=True, timeout=120)
    # semihosting console output: QEMU writes it to stderr
    return r.returncode, [int(c) for c in re.findall(r"sample \d+: class (\d+)", r.stdout + r.stderr)]


@pytest.mark.parametrize("kind", ["make", "cmake"])
@pytest.mark.parametrize("dtype", ["int8", "f32"])
def test_project_builds_from_the_export_alone_and_runs_in_qemu(kind: str, dtype: str, arm_cc: str, qemu: str,
                                                               tmp_path: Path) -> None:
    g, d = digits_cnn(), digits()
    x = d.test.x[:12]
    res = export_c(g, "stm32f405", tmp_path / "export", dtype=dtype, calib_x=d.train.x[:128], project=kind,
                   example_x=x)
    moved = tmp_path / "elsewhere" / "fw"
    shutil.copytree(res.out_dir, moved)  # nothing may point back at the export or the checkout
    shutil.rmtree(res.out_dir)
    status, classes = run_qemu(build(kind, moved)[0])
    ref = int8_reference(res.qmodel, x) if dtype == "int8" else et.predict(g, x)
    assert status == 0 and classes == ref.reshape(len(x), -1).argmax(axis=1).tolist()
    text = (moved / "README.md").read_text()
    assert "et_model_input_from_raw" in text and ("make run" in text if kind == "make" else "cmake --build" in text)


def test_every_export_has_a_readme_and_hosts_cannot_have_a_project(tmp_path: Path) -> None:
    res = export_c(mlp_64_32_10(), "stm32f405", tmp_path / "lib", dtype="f32")
    readme = (res.out_dir / "README.md").read_text()
    assert "et_model_infer" in readme and "RAM total" in readme and not (res.out_dir / "app").exists()
    with pytest.raises(ConfigError, match="no linker script"):
        export_c(mlp_64_32_10(), "host", tmp_path / "h", dtype="f32", project="make")
    assert not (tmp_path / "h").exists()


def test_cli_export_c_project(tmp_path: Path, arm_cc: str, qemu: str) -> None:
    model = et.save_model(mlp_64_32_10(), tmp_path / "mlp.etm")
    r = subprocess.run([sys.executable, "-m", "edgetrain", "export", "c", str(model), "-t", "stm32f205", "--dtype",
                        "int8", "--project", "make", "-o", str(tmp_path / "fw"), "--json"], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    files = json.loads(r.stdout)["files"]
    assert {"Makefile", "app/main.c", "app/example_samples.h", "board/startup.c", "board/stm32f205.ld"} <= set(files)
    status, classes = run_qemu(build("make", tmp_path / "fw")[0], machine="netduino2")
    assert status == 0 and len(classes) == 8  # the model's test split, its first 8 samples
    assert np.mean(np.array(classes) == digits().test.y[:8]) >= 0.75

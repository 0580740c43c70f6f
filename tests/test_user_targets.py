"""Boards are the user's too: `--target` takes a name or the path of a board TOML, a targets/
folder in the working directory is searched before edgetrain's, and --flash / --ram replace the
budget. The budget check and the build use the user's board."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import edgetrain as et
from edgetrain.errors import BudgetExceededError, ConfigError
from edgetrain.export.c import export_c
from edgetrain.resources import targets_dir
from edgetrain.targets import list_targets, load_target, with_budget

from codegen_models import mlp_64_32_10


def user_board(folder: Path, name: str, ram: int) -> Path:
    """A copy of the stm32f405 board with another RAM size, its linker script and start-up code
    beside it (paths in a board TOML are relative to the TOML's folder)."""
    src = targets_dir()
    for sub in ("ld", "startup"):
        shutil.copytree(src / sub, folder / sub, dirs_exist_ok=True)
    text = (src / "stm32f405.toml").read_text().replace("ram_bytes = 131072", f"ram_bytes = {ram}")
    (folder / f"{name}.toml").write_text(text)
    return folder / f"{name}.toml"


def test_a_targets_folder_in_the_working_directory_comes_first(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    user_board(tmp_path / "targets", "tiny405", 12 * 1024)
    user_board(tmp_path / "targets", "stm32f405", 64 * 1024)  # shadows edgetrain's own
    assert "tiny405" in list_targets() and "host" in list_targets()
    assert load_target("tiny405").ram_bytes == 12 * 1024
    assert load_target("stm32f405").ram_bytes == 64 * 1024
    with pytest.raises(BudgetExceededError, match="tiny405"):
        export_c(et.Sequential([et.Dense(2048, "relu"), et.Dense(4)], input_shape=64), "tiny405", tmp_path / "o",
                 dtype="f32")
    with pytest.raises(ConfigError, match="unknown target 'nope'.*tiny405"):
        load_target("nope")


def test_a_board_file_by_path_and_budget_overrides(tmp_path: Path) -> None:
    board = user_board(tmp_path / "boards", "myboard", 48 * 1024)
    assert load_target(str(board)).ram_bytes == 48 * 1024
    with pytest.raises(ConfigError, match="does not exist"):
        load_target(str(tmp_path / "missing.toml"))
    t = with_budget(load_target("stm32f405"), ram_bytes=16 * 1024)
    assert (t.ram_bytes, t.flash_bytes) == (16 * 1024, load_target("stm32f405").flash_bytes)
    with pytest.raises(ConfigError, match="leaves no RAM"):
        with_budget(load_target("stm32f405"), ram_bytes=1024)
    with pytest.raises(ConfigError, match="no memory budget"):
        with_budget(load_target("host"), ram_bytes=4096)


def test_cli_target_path_and_ram_option(tmp_path: Path, arm_cc: str, qemu: str) -> None:
    model = et.save_model(mlp_64_32_10(), tmp_path / "mlp.etm")
    board = user_board(tmp_path / "boards", "myboard", 48 * 1024)
    r = subprocess.run([sys.executable, "-m", "edgetrain", "emulate", str(model), "-t", str(board), "--limit", "20",
                        "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, "-m", "edgetrain", "export", "c", str(model), "-t", "stm32f405", "--dtype", "f32", "--ram",
                        "8400", "-o", str(tmp_path / "c")], capture_output=True, text=True)
    assert r.returncode == 4 and "RAM needs" in r.stderr and "of 8,400 B" in r.stderr  # BudgetExceededError


def test_a_link_that_does_not_fit_is_one_line_naming_the_region(tmp_path: Path, arm_cc: str) -> None:
    """A board whose linker script has less RAM than the firmware needs: the link's overflow
    becomes one BudgetExceededError line (region and bytes over), not a compiler command line."""
    from edgetrain.device import build_firmware

    board = user_board(tmp_path / "boards", "small", 96 * 1024)
    ld = board.parent / "ld" / "stm32f405.ld"
    ld.write_text(ld.read_text().replace("LENGTH = 128K", "LENGTH = 9K"))
    res = export_c(et.Sequential([et.Dense(512, "relu"), et.Dense(10)], input_shape=64, seed=0), "stm32f405",
                   tmp_path / "c", dtype="f32")  # fits the budget of the real board
    with pytest.raises(BudgetExceededError) as err:
        build_firmware(load_target(str(board)), res.out_dir, tmp_path / "b")
    msg = str(err.value)
    assert "region RAM overflowed by" in msg and "\n" not in msg and len(msg) < 200
    assert "arm-none-eabi-gcc" not in (err.value.hint or "")

"""Target descriptions (targets/*.toml) and the resource locator."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from edgetrain.errors import ConfigError
from edgetrain.resources import firmware_dir, harness_dir, targets_dir
from edgetrain.targets import list_targets, load_all_targets, load_target, load_target_file

EXPECTED = {"host", "stm32f405", "stm32f205", "mps2-an386", "stm32f746"}


def test_all_expected_targets_are_listed() -> None:
    assert EXPECTED <= set(list_targets())
    assert [t.name for t in load_all_targets()] == list_targets()


def test_stm32f405_budget_and_emulation() -> None:
    t = load_target("stm32f405")
    assert t.flash_bytes == 1024 * 1024
    assert t.ram_bytes == 128 * 1024  # not QEMU's 192 KiB
    assert t.emulator is not None and t.emulator.machine == "netduinoplus2"
    assert t.counter is not None and t.counter.base == 0x40000000 and t.counter.bits == 32
    assert t.counts_instructions and t.has_fpu and not t.is_host
    assert {"-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"} <= set(t.cflags)


def test_stm32f205_has_no_fpu() -> None:
    t = load_target("stm32f205")
    assert not t.has_fpu
    assert "-mfloat-abi=soft" in t.cflags and not any(f.startswith("-mfpu") for f in t.cflags)
    assert t.emulator is not None and t.emulator.machine == "netduino2"
    assert t.ram_bytes == 128 * 1024


def test_mps2_and_m7_and_host() -> None:
    mps2 = load_target("mps2-an386")
    assert mps2.emulator is not None and mps2.emulator.machine == "mps2-an386"
    assert mps2.counter is None and not mps2.counts_instructions
    assert mps2.ram_bytes is not None and mps2.ram_bytes >= 4 * 1024 * 1024
    m7 = load_target("stm32f746")
    assert m7.emulator is None and not m7.counts_instructions
    assert "-mcpu=cortex-m7" in m7.cflags
    host = load_target("host")
    assert host.is_host and host.flash_bytes is None and host.linker_script is None
    assert host.emulator is None and host.counter is None


@pytest.mark.parametrize("name", sorted(EXPECTED - {"host"}))
def test_cflags_agree_with_cpu_and_fpu(name: str) -> None:
    t = load_target(name)
    assert f"-mcpu={t.cpu}" in t.cflags
    if t.has_fpu:
        assert f"-mfpu={t.fpu}" in t.cflags and "-mfloat-abi=hard" in t.cflags


def _ld_length(script: Path, region: str) -> int:
    text = script.read_text()
    match = re.search(rf"{region}\s*\([a-z]+\)\s*:\s*ORIGIN\s*=\s*\w+,\s*LENGTH\s*=\s*(\d+)([KM]?)",
                      text)
    assert match, f"no {region} region in {script}"
    return int(match.group(1)) * {"": 1, "K": 1024, "M": 1024 * 1024}[match.group(2)]


@pytest.mark.parametrize("name", sorted(EXPECTED - {"host"}))
def test_linker_script_matches_toml_budget(name: str) -> None:
    # The budget lives in two places (TOML for the Python checks, MEMORY for the linker):
    # they must agree, or the budget check and the link would disagree about what fits.
    t = load_target(name)
    assert t.linker_script is not None and t.startup is not None and t.startup.is_file()
    assert _ld_length(t.linker_script, "FLASH") == t.flash_bytes
    assert _ld_length(t.linker_script, "RAM") == t.ram_bytes


def test_unknown_target_lists_known_ones() -> None:
    with pytest.raises(ConfigError) as info:
        load_target("stm32f999")
    message = str(info.value)
    assert "stm32f999" in message
    for name in EXPECTED:
        assert name in message


VALID = """
description = "test board"
cpu = "cortex-m4"
fpu = "none"
compiler = "arm-none-eabi-gcc"
cflags = ["-mcpu=cortex-m4"]
[memory]
flash_bytes = 1024
ram_bytes = 2048
stack_bytes = 256
[link]
script = "board.ld"
startup = "start.c"
[emulator]
kind = "qemu"
machine = "netduinoplus2"
"""


def _write_board(tmp_path: Path, text: str) -> Path:
    (tmp_path / "board.ld").write_text("/* */")
    (tmp_path / "start.c").write_text("/* */")
    path = tmp_path / "board.toml"
    path.write_text(text)
    return path


def test_valid_custom_board_loads(tmp_path: Path) -> None:
    t = load_target_file(_write_board(tmp_path, VALID))
    assert t.name == "board" and t.ram_bytes == 2048 and t.stack_bytes == 256
    assert t.linker_script == (tmp_path / "board.ld").resolve()
    assert t.counter is None and t.emulator is not None


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s.replace('cpu = "cortex-m4"\n', ""), "cpu"),
        (lambda s: s.replace("ram_bytes = 2048", "ram_bytes = \"2K\""), "ram_bytes"),
        (lambda s: s.replace("stack_bytes = 256", "stack_bytes = 4096"), "leaves no RAM"),
        (lambda s: s.replace('kind = "qemu"', 'kind = "renode"'), "emulator.kind"),
        (lambda s: s.replace('"board.ld"', '"missing.ld"'), "missing.ld"),
        (lambda s: "colour = 'red'\n" + s, "unknown key"),
        (lambda s: s + "extra_arg = ['-d', 'in_asm']\n", r"unknown key\(s\) in \[emulator\]"),
        (lambda s: s.replace("[link]", "[lnk]"), "unknown key"),
        (lambda s: s + "[instruction_counter]\nkind = \"stm32-tim\"\nbase = 0\nbits = 24\n",
         "16 or 32"),
        (lambda s: s.replace("flash_bytes = 1024", "flash_bytes = 1024 1024"), "not valid TOML"),
    ],
)
def test_invalid_board_files_raise_config_error(tmp_path: Path, edit, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_target_file(_write_board(tmp_path, edit(VALID)))


def test_resource_dirs_hold_runtime_and_targets() -> None:
    assert (harness_dir() / "main.c").is_file()
    assert harness_dir().parent.parent == firmware_dir()
    assert (targets_dir() / "stm32f405.toml").is_file()
    assert (targets_dir() / "startup" / "cortexm_startup.c").is_file()


def test_package_data_links_point_at_the_top_level_directories() -> None:
    # The wheel ships firmware_export/ and targets/ through these symlinks (see pyproject.toml).
    package = Path(__file__).resolve().parent.parent / "edgetrain"
    repo = package.parent
    if not (repo / "pyproject.toml").is_file():
        pytest.skip("not a checkout")
    assert (package / "_firmware").resolve() == (repo / "firmware_export").resolve()
    assert (package / "_targets").resolve() == (repo / "targets").resolve()
    pyproject = (repo / "pyproject.toml").read_text()
    assert '"edgetrain._firmware"' in pyproject and '"edgetrain._targets"' in pyproject

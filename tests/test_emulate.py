"""Emulation adapters: build the harness around hand-written models (tests/c_emulate/) and run
them on the host and under QEMU; check outputs, instruction counts, sizes and error paths."""
from __future__ import annotations

import re

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from edgetrain.device import build_firmware, emulate, emulator_available, run_firmware
from edgetrain.device.build import first_error_line, parse_berkeley, parse_sysv
from edgetrain.device.exchange import read_outputs, write_inputs
from edgetrain.errors import BudgetExceededError, ConfigError, ToolchainError

C_DIR = Path(__file__).parent / "c_emulate"
FLOAT_MODEL = C_DIR / "float_model"
INT8_MODEL = C_DIR / "int8_model"
LOOP_MODEL = C_DIR / "loop_model"
QEMU_TARGETS = ["stm32f405", "stm32f205", "mps2-an386"]
COUNTING_TARGETS = ["stm32f405", "stm32f205"]


# ---------------------------------------------------------------- numpy references

def float_reference(x: np.ndarray) -> np.ndarray:
    """Mirror of float_model/model.c, accumulating in float32 in the same order (no FMA)."""
    w = np.array([[0.5, -1.25, 2.0, 0.125], [-0.75, 0.25, 1.5, -2.0], [1.0, 1.0, -0.5, 0.375]],
                 dtype=np.float32)
    b = np.array([0.1, -0.2, 0.3], dtype=np.float32)
    out = np.empty((x.shape[0], 3), dtype=np.float32)
    for n in range(x.shape[0]):
        for i in range(3):
            acc = b[i]
            for j in range(4):
                acc = np.float32(acc + np.float32(w[i, j] * x[n, j]))
            out[n, i] = max(acc, np.float32(0.0))
    return out


def int8_reference(x: np.ndarray) -> np.ndarray:
    w = np.array([[12, -7, 33, -128, 5, 0, 99, -45], [-1, 127, -64, 18, -90, 44, 3, 7],
                  [70, 70, -70, -70, 25, -25, 1, -1], [-128, -128, 127, 127, 0, 9, -9, 60]],
                 dtype=np.int64)
    bias = np.array([100, -2500, 7, 1234], dtype=np.int64)
    acc = (x.astype(np.int64) + 3) @ w.T + bias + (1 << 5)
    return np.clip(acc >> 6, -128, 127).astype(np.int8)  # >> floors, like the C code


def loop_reference(k: int) -> int:
    h = 2166136261
    for i in range(k):
        h = ((h ^ i) * 16777619) & 0xFFFFFFFF
        h ^= h >> 13
    return h


def float_inputs(n: int = 16) -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.uniform(-3, 3, size=(n, 4)).astype(np.float32)


def int8_inputs() -> np.ndarray:
    rng = np.random.default_rng(11)
    extremes = np.array([[-128] * 8, [127] * 8, [0] * 8], dtype=np.int8)  # saturate both ends
    return np.vstack([extremes, rng.integers(-128, 128, size=(13, 8), dtype=np.int8)])


def targets_needing(target: str, request: pytest.FixtureRequest) -> None:
    """Pull in the tool fixtures a target needs (skip locally, fail in CI)."""
    if target == "host":
        request.getfixturevalue("host_cc")
    else:
        request.getfixturevalue("arm_cc")
        request.getfixturevalue("qemu")


# ---------------------------------------------------------------- round trips

@pytest.mark.parametrize("target", ["host", *QEMU_TARGETS])
def test_float_model_round_trip(target: str, request: pytest.FixtureRequest) -> None:
    targets_needing(target, request)
    x = float_inputs()
    result = emulate(target, FLOAT_MODEL, x, np.float32, parity=True, timeout=30)
    assert result.outputs.shape == (16, 3) and result.outputs.dtype == np.float32
    # Parity build (-ffp-contract=off), same operation order: IEEE float32 gives the same bits.
    np.testing.assert_array_equal(result.outputs, float_reference(x))
    assert result.exit_status == 0
    assert result.sizes.text > 0 and result.sizes.bss > 0
    assert any("-ffp-contract=off" in cmd for cmd in result.commands)


@pytest.mark.parametrize("target", ["host", *QEMU_TARGETS])
def test_int8_model_is_bit_exact(target: str, request: pytest.FixtureRequest) -> None:
    targets_needing(target, request)
    x = int8_inputs()
    result = emulate(target, INT8_MODEL, x, np.int8, timeout=30)
    expected = int8_reference(x)
    assert {-128, 127} <= set(expected.ravel().tolist())  # the inputs do reach saturation
    np.testing.assert_array_equal(result.outputs, expected)


def test_host_build_under_sanitizers(host_cc: str, tmp_path: Path) -> None:
    x = int8_inputs()
    fw = build_firmware("host", INT8_MODEL, tmp_path, sanitize=True)
    assert "-fsanitize=address,undefined" in fw.commands[0]
    result = run_firmware(fw, x, np.int8, timeout=60)
    np.testing.assert_array_equal(result.outputs, int8_reference(x))
    assert result.instructions_per_inference is None


def test_sanitizers_are_host_only(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="host"):
        build_firmware("stm32f405", FLOAT_MODEL, tmp_path, sanitize=True)


# ---------------------------------------------------------------- instruction counts

@pytest.mark.parametrize("target", COUNTING_TARGETS)
def test_instruction_counts_are_positive_and_deterministic(
    target: str, arm_cc: str, qemu: str, tmp_path: Path
) -> None:
    fw = build_firmware(target, FLOAT_MODEL, tmp_path)
    x = float_inputs(8)
    first = run_firmware(fw, x, np.float32, timeout=30)
    second = run_firmware(fw, x, np.float32, timeout=30)
    counts = first.instructions_per_inference
    assert counts is not None and counts.shape == (8,)
    assert (counts > 20).all()  # 12 multiply-adds cannot take fewer
    np.testing.assert_array_equal(counts, second.instructions_per_inference)


def test_production_build_fuses_multiply_adds(arm_cc: str, qemu: str) -> None:
    # -std=c99 alone means -ffp-contract=off in gcc; production builds must opt in to VFMA.
    x = float_inputs(4)
    parity = emulate("stm32f405", FLOAT_MODEL, x, np.float32, parity=True, timeout=30)
    fused = emulate("stm32f405", FLOAT_MODEL, x, np.float32, parity=False, timeout=30)
    assert any("-ffp-contract=fast" in cmd for cmd in fused.commands)
    assert parity.instructions_per_inference is not None
    assert fused.instructions_per_inference is not None
    assert (fused.instructions_per_inference < parity.instructions_per_inference).all()
    np.testing.assert_allclose(fused.outputs, float_reference(x), rtol=1e-5, atol=1e-5)


def test_mps2_reports_no_instruction_counts(arm_cc: str, qemu: str) -> None:
    result = emulate("mps2-an386", FLOAT_MODEL, float_inputs(2), np.float32, timeout=30)
    assert result.instructions_per_inference is None


@pytest.mark.parametrize("target", COUNTING_TARGETS)
def test_counter_counts_instructions_of_a_loop(
    target: str, arm_cc: str, qemu: str
) -> None:
    ks = [0, 64, 128, 256, 512]
    x = np.array(ks, dtype=np.uint32).reshape(-1, 1)
    result = emulate(target, LOOP_MODEL, x, np.uint32, timeout=30)
    assert result.outputs[:, 0].tolist() == [loop_reference(k) for k in ks]
    counts = result.instructions_per_inference
    assert counts is not None
    # K = 0 skips the loop (a different branch path), so fit from K = 64 on.
    per_round, remainder = divmod(int(counts[2] - counts[1]), 64)
    assert remainder == 0 and per_round >= 4  # xor, multiply, shift-xor, count+branch at least
    assert counts[0] < counts[1]
    # Exactly affine in K: every further round costs the same number of instructions.
    np.testing.assert_array_equal(np.diff(counts[1:]), per_round * np.diff(ks[1:]))


# ---------------------------------------------------------------- build-only target, sizes

def test_build_only_target_builds_and_sizes(arm_cc: str, tmp_path: Path) -> None:
    fw = build_firmware("stm32f746", FLOAT_MODEL, tmp_path)
    assert fw.path.is_file()
    assert fw.sizes.text > 1000 and fw.sizes.sections[".isr_vector"] == 64
    assert "-mcpu=cortex-m7" in fw.commands[0]
    ok, reason = emulator_available("stm32f746")
    assert not ok and "no emulator" in reason
    with pytest.raises(ConfigError, match="no emulator"):
        run_firmware(fw, float_inputs(1), np.float32)


def test_cross_sizes_account_for_model_constants(arm_cc: str, tmp_path: Path) -> None:
    float_fw = build_firmware("stm32f405", FLOAT_MODEL, tmp_path / "f")
    # The model's 60 bytes of const weights and biases land in flash, not RAM.
    assert float_fw.sizes.sections[".rodata"] >= 60
    assert float_fw.sizes.data == 0
    assert float_fw.sizes.flash_bytes == float_fw.sizes.text


def test_parse_size_outputs() -> None:
    berkeley = "   text\t   data\t    bss\t    dec\t    hex\tfilename\n   2132\t      8\t     40\t   2180\t    884\tfw.elf\n"
    assert parse_berkeley(berkeley) == (2132, 8, 40)
    sysv = ("fw.elf  :\nsection           size        addr\n.isr_vector         64   134217728\n"
            ".text             1628   134217792\n.data 8 536870912\n.bss 40 536870920\n"
            ".comment 38 0\n.debug_info 411 0\n.ARM.attributes 50 0\nTotal 2239\n")
    assert parse_sysv(sysv) == {".isr_vector": 64, ".text": 1628, ".data": 8, ".bss": 40}
    with pytest.raises(ToolchainError):
        parse_berkeley("garbage")


def test_exchange_files_round_trip(tmp_path: Path) -> None:
    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    assert write_inputs(tmp_path / "in.bin", x) == 8
    blob = (tmp_path / "in.bin").read_bytes()
    assert blob[:4] == b"ETI1" and len(blob) == 12 + 24
    header = b"ETO1" + np.array([2, 4, 1, 1], dtype="<u4").tobytes()
    records = b"".join(np.array([c], "<u4").tobytes() + np.array([v], "<f4").tobytes()
                       for c, v in [(10, 1.5), (11, -2.0)])
    (tmp_path / "out.bin").write_bytes(header + records)
    got = read_outputs(tmp_path / "out.bin", np.float32)
    assert got.outputs.tolist() == [[1.5], [-2.0]]
    assert got.instructions is not None and got.instructions.tolist() == [10, 11]
    (tmp_path / "out.bin").write_bytes(header + records[:-1])
    with pytest.raises(ToolchainError, match="expected"):
        read_outputs(tmp_path / "out.bin", np.float32)


# ---------------------------------------------------------------- failures are clear

def write_model(directory: Path, body: str, in_bytes: int = 4, out_bytes: int = 4) -> Path:
    directory.mkdir(parents=True)
    (directory / "model.h").write_text(
        f"#define ET_MODEL_INPUT_BYTES {in_bytes}\n#define ET_MODEL_OUTPUT_BYTES {out_bytes}\n"
        "int et_model_infer(const void *input, void *output);\n"
    )
    (directory / "model.c").write_text('#include "model.h"\n' + body)
    return directory


def test_missing_cross_compiler_names_debian_packages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no tools at all
    with pytest.raises(ToolchainError) as info:
        build_firmware("stm32f405", FLOAT_MODEL, tmp_path / "out")
    assert "arm-none-eabi-gcc" in str(info.value)
    assert "gcc-arm-none-eabi libnewlib-arm-none-eabi" in info.value.hint
    ok, reason = emulator_available("stm32f405")
    assert not ok and "qemu-system-arm" in reason and "arm-none-eabi-gcc" in reason


def test_missing_qemu_is_reported_before_running(
    arm_cc: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fw = build_firmware("stm32f405", FLOAT_MODEL, tmp_path / "out")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    os.symlink(arm_cc, bin_dir / "arm-none-eabi-gcc")
    monkeypatch.setenv("PATH", str(bin_dir))
    ok, reason = emulator_available("stm32f405")
    assert not ok and "qemu-system-arm" in reason
    with pytest.raises(ToolchainError, match="qemu-system-arm"):
        run_firmware(fw, float_inputs(1), np.float32)


def test_compile_error_reports_first_error_line(host_cc: str, tmp_path: Path) -> None:
    src = write_model(tmp_path / "broken", "int et_model_infer(const void *i, void *o)\n"
                      "{ int unused; (void)i; (void)o; return 0; }\n")
    with pytest.raises(ToolchainError) as info:
        build_firmware("host", src, tmp_path / "out")
    assert "unused variable" in str(info.value) and "model.c" in str(info.value)


def test_first_error_line_prefers_errors() -> None:
    log = ("/tmp/error_dir/model.c: In function 'f':\n/tmp/error_dir/model.c:3:5: error: 'x' "
           "undeclared\nmodel.c:4: error: y\n")
    assert first_error_line(log) == "/tmp/error_dir/model.c:3:5: error: 'x' undeclared"
    link = "ld: fw.o: in function `main':\nmain.c:(.text+0x8): undefined reference to `f'\n"
    assert "undefined reference" in first_error_line(link)


def test_model_failure_status_is_reported(host_cc: str, tmp_path: Path) -> None:
    src = write_model(tmp_path / "failing", "int et_model_infer(const void *i, void *o)\n"
                      "{ (void)i; (void)o; return 3; }\n")
    with pytest.raises(ToolchainError, match="non-zero status"):
        emulate("host", src, np.zeros((2, 1), np.int32), np.int32, timeout=30)


def test_input_size_mismatch_is_reported(host_cc: str) -> None:
    with pytest.raises(ToolchainError, match="ET_MODEL_INPUT_BYTES"):
        emulate("host", FLOAT_MODEL, np.zeros((2, 5), np.float32), np.float32, timeout=30)


def test_exit_status_passes_through_qemu(arm_cc: str, qemu: str, tmp_path: Path) -> None:
    src = write_model(tmp_path / "exiting", "#include <stdlib.h>\n"
                      "int et_model_infer(const void *i, void *o)\n"
                      "{ (void)i; (void)o; exit(42); }\n")
    with pytest.raises(ToolchainError, match="status 42"):
        emulate("stm32f405", src, np.zeros((1, 1), np.int32), np.int32, timeout=30)


def test_hardfault_ends_the_run_quickly(arm_cc: str, qemu: str, tmp_path: Path) -> None:
    src = write_model(tmp_path / "trapping", "int et_model_infer(const void *i, void *o)\n"
                      "{ (void)i; (void)o; __builtin_trap(); }\n")
    with pytest.raises(ToolchainError, match="HardFault"):
        emulate("stm32f405", src, np.zeros((1, 1), np.int32), np.int32, timeout=20)


def test_ram_overflow_including_stack_reserve_fails_the_link(arm_cc: str, tmp_path: Path) -> None:
    # 124 KiB of buffers fit stm32f405's 128 KiB, but not with its 8 KiB stack reserve.
    src = write_model(tmp_path / "big", "static unsigned char arena[124 * 1024];\n"
                      "int et_model_infer(const void *i, void *o)\n"
                      "{ (void)i; arena[0] = 1; *(unsigned char *)o = arena[*(const int *)i]; "
                      "return 0; }\n")
    with pytest.raises(BudgetExceededError) as err:
        build_firmware("stm32f405", src, tmp_path / "out")
    # one line naming the region and the bytes over: 124 KiB + 8 KiB - 128 KiB, plus the harness's buffers
    over = int(re.search(r"region RAM overflowed by ([\d,]+) bytes", str(err.value)).group(1).replace(",", ""))
    assert 4096 < over < 4096 + 256, str(err.value)
    build_firmware("mps2-an386", src, tmp_path / "out2")  # 4 MiB of RAM: fits


def test_sources_must_not_bring_their_own_main(tmp_path: Path) -> None:
    src = write_model(tmp_path / "withmain", "int et_model_infer(const void *i, void *o)\n"
                      "{ (void)i; (void)o; return 0; }\n")
    shutil.copy(src / "model.c", src / "main.c")
    with pytest.raises(ConfigError, match="main.c"):
        build_firmware("host", src, tmp_path / "out")

"""Generated C, built and run: host gcc (also under ASan+UBSan) and QEMU STM32 boards.

int8 outputs must equal the numpy reference (`edgetrain.quantize.int8_reference`) bit for bit on
the whole digits test set, for per-channel and per-tensor weights, with the fast kernels (DSP
SMLAD path on the Cortex-M4F stm32f405, portable C on the host and the Cortex-M3) and with the
reference kernels (``-DET_FORCE_REF`` or ``force_ref=True``). float32 agrees with numpy
``predict`` to 1e-5 (parity builds, ``-ffp-contract=off``).
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import edgetrain as et
from edgetrain.device import build_firmware, run_firmware
from edgetrain.export.c import ExportResult, export_c
from edgetrain.quantize import int8_reference

from codegen_models import digits, float_accuracy, mlp_64_32_10, residual_model

TOL = 1e-5


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ExportResult]:
    """One export per (model, dtype, weight granularity); the board only changes the budget."""
    d = digits()
    root = tmp_path_factory.mktemp("exports")
    out = {
        "mlp-int8-pc": export_c(mlp_64_32_10(), "stm32f405", root / "pc", "int8", d.train.x, True),
        "mlp-int8-pt": export_c(mlp_64_32_10(), "stm32f405", root / "pt", "int8", d.train.x, False),
        "mlp-f32": export_c(mlp_64_32_10(), "stm32f405", root / "f32", "f32"),
        "res-int8": export_c(residual_model(), "stm32f405", root / "res8", "int8", d.train.x, True),
        "res-f32": export_c(residual_model(), "stm32f405", root / "res32", "f32"),
        "mlp-int8-forced-ref": export_c(mlp_64_32_10(), "stm32f405", root / "ref", "int8", d.train.x,
                                        True, force_ref=True),
    }
    return out


def run(res: ExportResult, target: str, tmp: Path, *, ref: bool = False, sanitize: bool = False,
        parity: bool = True):
    x = digits().test.x
    fw = build_firmware(target, res.out_dir, tmp / f"build-{target}-{ref}-{sanitize}", parity=parity,
                        sanitize=sanitize, defines={"ET_FORCE_REF": 1} if ref else None)
    return run_firmware(fw, res.prepare_input(x), res.output_dtype, timeout=120), fw


def expect_int8(res: ExportResult) -> np.ndarray:
    assert res.qmodel is not None
    return int8_reference(res.qmodel, digits().test.x)


# ---------------------------------------------------------------- host

@pytest.mark.parametrize("key", ["mlp-int8-pc", "mlp-int8-pt", "res-int8"])
@pytest.mark.parametrize("ref", [False, True], ids=["fast", "ref"])
def test_host_int8_bit_exact(key: str, ref: bool, exports, host_cc: str, tmp_path: Path) -> None:
    result, _ = run(exports[key], "host", tmp_path, ref=ref)
    expected = expect_int8(exports[key])
    assert result.outputs.shape == expected.shape == (540, 10)
    np.testing.assert_array_equal(result.outputs, expected)


def test_force_ref_option_selects_reference_kernels(exports, host_cc: str, tmp_path: Path) -> None:
    res = exports["mlp-int8-forced-ref"]
    assert "#define ET_FORCE_REF 1" in (res.out_dir / "model_data.h").read_text()
    result, _ = run(res, "host", tmp_path)
    np.testing.assert_array_equal(result.outputs, expect_int8(res))


@pytest.mark.parametrize("key", ["mlp-f32", "res-f32"])
def test_host_f32_matches_numpy(key: str, exports, host_cc: str, tmp_path: Path) -> None:
    res = exports[key]
    result, _ = run(res, "host", tmp_path)
    expected = et.predict(res.program.lowered.graph, digits().test.x)
    np.testing.assert_allclose(result.outputs, expected, rtol=TOL, atol=TOL)


@pytest.mark.parametrize("key", ["mlp-int8-pt", "res-int8", "res-f32"])
def test_host_under_sanitizers(key: str, exports, host_cc: str, tmp_path: Path) -> None:
    res = exports[key]
    result, fw = run(res, "host", tmp_path, sanitize=True)
    assert "-fsanitize=address,undefined" in fw.commands[0]
    if res.qmodel is not None:
        np.testing.assert_array_equal(result.outputs, expect_int8(res))
    else:
        np.testing.assert_allclose(result.outputs, et.predict(res.program.lowered.graph, digits().test.x),
                                   rtol=TOL, atol=TOL)


def test_makefile_fragment_builds_a_library(exports, host_cc: str, tmp_path: Path) -> None:
    if shutil.which("make") is None:
        pytest.skip("make not installed")
    src = exports["res-int8"].out_dir
    mk = tmp_path / "Makefile"
    mk.write_text(f"""EDGETRAIN_MODEL_DIR := {src}
include $(EDGETRAIN_MODEL_DIR)/edgetrain_model.mk
OBJS := $(patsubst $(EDGETRAIN_MODEL_DIR)/%.c,obj/%.o,$(EDGETRAIN_MODEL_SRCS))
libmodel.a: $(OBJS)
\tar rcs $@ $^
obj/%.o: $(EDGETRAIN_MODEL_DIR)/%.c
\t@mkdir -p $(dir $@)
\tgcc -std=c99 -Wall -Wextra -Werror -pedantic -O2 $(EDGETRAIN_MODEL_CFLAGS) -c $< -o $@
""")
    proc = subprocess.run(["make", "-s", "-C", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    nm = subprocess.run(["nm", str(tmp_path / "libmodel.a")], capture_output=True, text=True).stdout
    assert " T et_model_infer" in nm and " T et_dense_s8" in nm and " T et_add_s8" in nm


# ---------------------------------------------------------------- QEMU

@pytest.mark.parametrize("key", ["mlp-int8-pc", "mlp-int8-pt"])
def test_qemu_stm32f405_int8_bit_exact_fast_and_ref(key: str, exports, arm_cc: str, qemu: str,
                                                   tmp_path: Path) -> None:
    res = exports[key]
    expected = expect_int8(res)
    fast, fw = run(res, "stm32f405", tmp_path, parity=False)
    ref, _ = run(res, "stm32f405", tmp_path, ref=True, parity=False)
    np.testing.assert_array_equal(fast.outputs, expected)
    np.testing.assert_array_equal(ref.outputs, expected)
    # The M4F build takes the DSP path: SMLAD is in the image and it needs far fewer instructions.
    objdump = subprocess.run(["arm-none-eabi-objdump", "-d", str(fw.path)], capture_output=True, text=True)
    assert "smlad" in objdump.stdout
    assert fast.instructions_per_inference is not None and ref.instructions_per_inference is not None
    assert fast.mean_instructions < 0.6 * ref.mean_instructions


def test_qemu_accuracy_equals_numpy_int8_and_is_near_float(exports, arm_cc: str, qemu: str,
                                                           tmp_path: Path) -> None:
    d = digits()
    res = exports["mlp-int8-pc"]
    result, _ = run(res, "stm32f405", tmp_path, parity=False)
    acc_device = float((result.outputs.argmax(1) == d.test.y).mean())
    acc_numpy = float((expect_int8(res).argmax(1) == d.test.y).mean())
    acc_float = float_accuracy(mlp_64_32_10(), d.test.x, d.test.y)
    assert acc_device == acc_numpy
    assert abs(acc_device - acc_float) <= 0.01


def test_qemu_stm32f205_int8_portable_kernel(exports, arm_cc: str, qemu: str, tmp_path: Path) -> None:
    res = exports["mlp-int8-pt"]
    result, fw = run(res, "stm32f205", tmp_path, parity=False)
    np.testing.assert_array_equal(result.outputs, expect_int8(res))
    objdump = subprocess.run(["arm-none-eabi-objdump", "-d", str(fw.path)], capture_output=True, text=True)
    assert "smlad" not in objdump.stdout  # Cortex-M3: no DSP extension


def test_qemu_residual_int8_and_f32(exports, arm_cc: str, qemu: str, tmp_path: Path) -> None:
    r8, _ = run(exports["res-int8"], "stm32f405", tmp_path, parity=False)
    np.testing.assert_array_equal(r8.outputs, expect_int8(exports["res-int8"]))
    r32, _ = run(exports["res-f32"], "stm32f405", tmp_path, parity=True)
    expected = et.predict(residual_model(), digits().test.x)
    np.testing.assert_allclose(r32.outputs, expected, rtol=TOL, atol=TOL)


def test_qemu_stm32f405_f32_matches_numpy(exports, arm_cc: str, qemu: str, tmp_path: Path) -> None:
    result, _ = run(exports["mlp-f32"], "stm32f405", tmp_path, parity=True)
    np.testing.assert_allclose(result.outputs, et.predict(mlp_64_32_10(), digits().test.x), rtol=TOL, atol=TOL)
    assert result.sizes.text > 0


@pytest.mark.parametrize("target", ["stm32f205", "stm32f746"])
def test_generated_code_compiles_for_m3_and_m7(target: str, exports, arm_cc: str, tmp_path: Path) -> None:
    # build_firmware compiles with -std=c99 -Wall -Wextra -Werror -pedantic: a warning fails it.
    for key in ("res-int8", "res-f32"):
        fw = build_firmware(target, exports[key].out_dir, tmp_path / key)
        assert fw.sizes.text > 0


def test_code_size_table_matches_compiled_sources(arm_cc: str, tmp_path: Path) -> None:
    """The report's per-source .text figures are the compiled sizes (max of Cortex-M3 and M4F,
    -O2), not a stale table: at least the measured size, at most 5% above it."""
    from edgetrain.export.c.report import CODE_BYTES
    from edgetrain.resources import firmware_dir

    fw = firmware_dir()
    cpus = [["-mcpu=cortex-m3", "-mthumb", "-mfloat-abi=soft"],
            ["-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"]]
    size_tool = str(Path(arm_cc).with_name(Path(arm_cc).name.replace("gcc", "size")))
    for src, estimate in CODE_BYTES.items():
        measured = 0
        for flags in cpus:
            obj = tmp_path / src.replace(".c", ".o")
            subprocess.run([arm_cc, *flags, "-std=c99", "-O2", f"-I{fw / 'include'}", "-c", str(fw / "src" / src),
                            "-o", str(obj)], check=True, capture_output=True)
            out = subprocess.run([size_tool, str(obj)], check=True, capture_output=True, text=True).stdout
            measured = max(measured, int(out.splitlines()[1].split()[0]))
        assert measured <= estimate <= 1.05 * measured, (src, estimate, measured)


@pytest.mark.parametrize("compiler,flags", [
    ("gcc", []),
    ("arm-none-eabi-gcc", ["-mcpu=cortex-m3", "-mthumb", "-mfloat-abi=soft"]),
    ("arm-none-eabi-gcc", ["-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"]),
], ids=["host", "m3", "m4f"])
def test_stack_estimate_covers_measured_frames(compiler: str, flags: list[str], tmp_path: Path,
                                               request: pytest.FixtureRequest) -> None:
    """The report's per-kernel stack figures must not be below gcc's -fstack-usage."""
    from edgetrain.export.c.report import KERNEL_STACK, SOURCE_OF
    from edgetrain.resources import firmware_dir

    request.getfixturevalue("host_cc" if compiler == "gcc" else "arm_cc")
    fw = firmware_dir()
    frames: dict[str, int] = {}
    for src in sorted(set(SOURCE_OF.values())):
        obj = tmp_path / src.replace(".c", ".o")
        subprocess.run([compiler, *flags, "-std=c99", "-O2", "-fstack-usage", f"-I{fw / 'include'}", "-c",
                        str(fw / "src" / src), "-o", str(obj)], check=True, capture_output=True)
        for line in obj.with_suffix(".su").read_text().splitlines():
            where, size, _ = line.split("\t")
            frames[where.rsplit(":", 1)[-1]] = int(size)
    for kernel, estimate in KERNEL_STACK.items():
        measured = frames[kernel] + (frames.get("et_block4", 0) if kernel == "et_dense_s8" else 0)
        assert estimate >= measured, (kernel, estimate, measured)

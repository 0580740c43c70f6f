"""`export_c(..., name=...)` / `export c --name`: every generated symbol, macro and file carries
the model's name, so two models link into one firmware (the runtime compiled once) and each
gives the outputs it gives alone (checked on host gcc and in one QEMU image)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

import edgetrain as et
from edgetrain.errors import ConfigError
from edgetrain.export.c import export_c
from edgetrain.quantize.reference import int8_reference

from cnn_models import digits_cnn
from codegen_models import digits, mlp_64_32_10

STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2", "-ffp-contract=off"]
N = 6

MAIN = r"""
#include <stdint.h>
#include "digits.h"
#include "cnn.h"
#include "inputs.h"
PRINT_DECL
int main(void)
{
    static int8_t out_a[DIGITS_OUTPUT_COUNT];
    static float out_b[CNN_OUTPUT_COUNT];
    int i, k;
    for (i = 0; i < N_SAMPLES; ++i) {
        if (digits_infer(in_a[i], out_a) != ET_OK || cnn_infer(in_b[i], out_b) != ET_OK) {
            return 1;
        }
        for (k = 0; k < DIGITS_OUTPUT_COUNT; ++k) PRINT_INT((long)out_a[k]);
        for (k = 0; k < CNN_OUTPUT_COUNT; ++k) PRINT_INT((long)(out_b[k] * 1000000.0f));
    }
    return 0;
}
"""


HOST_PRINT = '#include <stdio.h>\n#define PRINT_INT(x) printf("%ld\\n", (x))'
BOARD_PRINT = ('#include "board_io.h"\n'
               '#define PRINT_INT(x) do { board_print_int(x); board_print("\\n"); } while (0)')


def export_pair(tmp: Path, project: str | None = None):  # noqa: ANN201
    d = digits()
    a = export_c(mlp_64_32_10(), "stm32f405", tmp / "a", dtype="int8", calib_x=d.train.x[:128], name="digits",
                 project=project, example_x=d.test.x[:2])
    b = export_c(digits_cnn(), "stm32f405", tmp / "b", dtype="f32", name="cnn")
    x = d.test.x[:N]
    xa, xb = a.prepare_input(x), b.prepare_input(x)
    rows_a = ",\n".join("{" + ", ".join(str(int(v)) for v in r) + "}" for r in xa.reshape(N, -1))
    rows_b = ",\n".join("{" + ", ".join(f"{float(v):.9e}f" for v in r) + "}" for r in xb.reshape(N, -1))
    (tmp / "inputs.h").write_text(f"#define N_SAMPLES {N}\nstatic const int8_t in_a[{N}][DIGITS_INPUT_COUNT] = "
                                  f"{{{rows_a}}};\nstatic const float in_b[{N}][CNN_INPUT_COUNT] = {{{rows_b}}};\n")
    want_a = int8_reference(a.qmodel, x).astype(np.int64)
    want_b = et.predict(digits_cnn(), x)
    return a, b, want_a, want_b


def sources(a, b) -> list[str]:  # noqa: ANN001
    runtime = {p.name: p for res in (a, b) for p in (res.out_dir / "runtime" / "src").glob("*.c")}
    model = [str(res.out_dir / f) for res in (a, b) for f in res.files if f.suffix == ".c" and f.parent == Path(".")]
    return model + [str(p) for p in sorted(runtime.values())]


def includes(tmp: Path, a, b) -> list[str]:  # noqa: ANN001
    return [f"-I{tmp}", f"-I{a.out_dir}", f"-I{b.out_dir}", f"-I{a.out_dir / 'runtime' / 'include'}",
            f"-I{a.out_dir / 'runtime' / 'src'}"]


def check(values: list[int], want_a: np.ndarray, want_b: np.ndarray) -> None:
    per = want_a.shape[1] + want_b.shape[1]
    got = np.array(values, np.int64).reshape(N, per)
    np.testing.assert_array_equal(got[:, :want_a.shape[1]], want_a)
    np.testing.assert_allclose(got[:, want_a.shape[1]:] / 1e6, want_b, atol=2e-6 + 1e-5 * np.abs(want_b).max())


def test_named_files_and_symbols(tmp_path: Path) -> None:
    res = export_c(mlp_64_32_10(), "stm32f405", tmp_path / "m", dtype="f32", name="kws")
    names = {str(f) for f in res.files}
    assert {"kws.h", "kws.c", "kws_data.h", "kws_data.c", "kws_input.c", "kws_model.mk", "CMakeLists.txt"} <= names
    assert not any(n.startswith("model") for n in names)
    h = (tmp_path / "m" / "kws.h").read_text()
    assert "et_status kws_infer(const void *input, void *output);" in h and "#define KWS_INPUT_COUNT 64" in h
    data = (tmp_path / "m" / "kws.c").read_text() + (tmp_path / "m" / "kws_data.c").read_text()
    assert "et_model" not in data and "ET_MODEL" not in data and "kws_dense1_weights" in data
    mk = (tmp_path / "m" / "kws_model.mk").read_text()
    assert "KWS_SRCS" in mk and "kws.c" in mk and "EDGETRAIN_MODEL" not in mk
    for bad in ("Kws", "et_kws", "int", "9lives", "a-b", "x" * 40):
        with pytest.raises(ConfigError, match="cannot prefix C symbols"):
            export_c(mlp_64_32_10(), "host", tmp_path / "bad", dtype="f32", name=bad)


def test_two_models_in_one_host_binary(tmp_path: Path, host_cc: str) -> None:
    a, b, want_a, want_b = export_pair(tmp_path)
    (tmp_path / "main.c").write_text(MAIN.replace("PRINT_DECL", HOST_PRINT))
    exe = tmp_path / "two"
    subprocess.run([host_cc, *STRICT, *includes(tmp_path, a, b), str(tmp_path / "main.c"), *sources(a, b), "-lm",
                    "-o", str(exe)], check=True, capture_output=True, text=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    check([int(v) for v in out.split()], want_a, want_b)


def test_two_models_in_one_qemu_image(tmp_path: Path, arm_cc: str, qemu: str) -> None:
    a, b, want_a, want_b = export_pair(tmp_path, project="make")
    (tmp_path / "main.c").write_text(MAIN.replace("PRINT_DECL", BOARD_PRINT))
    elf = tmp_path / "two.elf"
    board = a.out_dir / "board"
    flags = ["-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard", *STRICT,
             "-ffunction-sections", "-fdata-sections"]
    subprocess.run([arm_cc, *flags, *includes(tmp_path, a, b), f"-I{a.out_dir / 'app'}", str(tmp_path / "main.c"),
                    str(a.out_dir / "app" / "board_io.c"), str(board / "startup.c"), *sources(a, b),
                    "-nostartfiles", f"-L{board}", f"-T{board / 'stm32f405.ld'}", "-Wl,--defsym=__et_stack_size=8192",
                    "-Wl,--gc-sections", "--specs=nano.specs", "--specs=nosys.specs", "-lm", "-o", str(elf)],
                   check=True, capture_output=True, text=True)
    r = subprocess.run(["qemu-system-arm", "-M", "netduinoplus2", "-nographic", "-monitor", "none", "-serial", "null",
                        "-semihosting-config", "enable=on,target=native", "-kernel", str(elf)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-500:]
    check([int(v) for v in (r.stdout + r.stderr).split()], want_a, want_b)

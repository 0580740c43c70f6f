"""A ready-to-build firmware project around an exported model (`export_c(..., project="make" |
"cmake")`): everything to build and run it comes from the export folder, nothing from edgetrain.

    app/main.c              example application: reads samples, runs et_model_infer, prints the
                            class of each, exits 0 when every class is the expected one
    app/board_io.c, .h      the board's output and exit: ARM semihosting (QEMU, a debugger);
                            replace with a UART driver on a board
    app/example_samples.h   a few samples (the model's input type) and their expected classes
    board/startup.c         vector table and reset handler (Cortex-M, from targets/startup)
    board/*.ld              the target's linker script (from targets/ld)
    Makefile                (make)  `make` builds build/firmware.elf, `make run` runs it in QEMU
    CMakeLists.txt,         (cmake) the project; the model library is edgetrain_model.cmake
    cmake/arm-none-eabi.cmake        toolchain file

The model library itself (model.*, runtime/, edgetrain_model.mk, the library CMake fragment) is
what every export writes; README.md in the export documents all of it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from ...errors import ConfigError
from ...targets import Target
from .arrays import literal
from .program import Program

ProjectKind = Literal["make", "cmake"]
PROJECT_KINDS = ("make", "cmake")
MAX_EXAMPLES = 64
WARNINGS = "-std=c99 -Wall -Wextra -Werror -pedantic"

BOARD_IO_H = """/* Board output for the example application. This version uses ARM semihosting (QEMU's
 * -semihosting, or a debugger): replace board_print / board_exit with a UART driver on a board. */
#ifndef BOARD_IO_H
#define BOARD_IO_H

void board_print(const char *text);
void board_print_int(long value);
/* Ends the program: under QEMU with semihosting the emulator exits with `status`. */
void board_exit(int status);

#endif /* BOARD_IO_H */
"""

BOARD_IO_C = r"""/* ARM semihosting for the example application (SYS_WRITE0, SYS_EXIT_EXTENDED). */
#include <stdint.h>

#include "board_io.h"

static uintptr_t semihost(uintptr_t op, const void *args)
{
    register uintptr_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = args;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void board_print(const char *text)
{
    (void)semihost(0x04u, text);
}

void board_print_int(long value)
{
    char buf[24];
    int i = 22;
    unsigned long v = value < 0 ? 0ul - (unsigned long)value : (unsigned long)value;
    buf[23] = '\0';
    do {
        buf[i--] = (char)('0' + (int)(v % 10ul));
        v /= 10ul;
    } while (v != 0ul && i > 0);
    if (value < 0) {
        buf[i--] = '-';
    }
    board_print(&buf[i + 1]);
}

void board_exit(int status)
{
    uintptr_t args[2];
    args[0] = 0x20026u; /* ADP_Stopped_ApplicationExit */
    args[1] = (uintptr_t)(uint32_t)status;
    (void)semihost(0x20u, args);
    for (;;) {
    }
}

/* The start-up code calls this when main returns. */
void et_on_main_return(int status);
void et_on_main_return(int status)
{
    board_exit(status);
}
"""

MAIN_C = r"""/* Example application for the exported model: classify a few samples and print the results.
 *
 * read_sample() takes them from example_samples.h; on a board, read your sensor or UART there and
 * turn raw values into the model's input with et_model_input_from_raw (model.h). */
#include <stdint.h>

#include "board_io.h"
#include "example_samples.h"
#include "model.h"

static ET_MODEL_INPUT_TYPE input[ET_MODEL_INPUT_COUNT];
static ET_MODEL_OUTPUT_TYPE output[ET_MODEL_OUTPUT_COUNT];

static int read_sample(int32_t index, ET_MODEL_INPUT_TYPE *x)
{
    int32_t k;
    if (index >= EXAMPLE_COUNT) {
        return 0;
    }
    for (k = 0; k < ET_MODEL_INPUT_COUNT; ++k) {
        x[k] = example_inputs[index][k];
    }
    return 1;
}

int main(void)
{
    int32_t i;
    int32_t wrong = 0;
    for (i = 0; read_sample(i, input); ++i) {
        int32_t cls;
        if (et_model_infer(input, output) != ET_OK) {
            board_print("inference failed\n");
            return 2;
        }
        cls = et_model_argmax(output);
        board_print("sample ");
        board_print_int((long)i);
        board_print(": class ");
        board_print_int((long)cls);
#ifdef ET_MODEL_N_CLASSES
        board_print(" ");
        board_print(et_model_class_names[cls]);
#endif
        board_print(cls == example_classes[i] ? "\n" : " (expected another class)\n");
        wrong += cls != example_classes[i];
    }
    board_print(wrong == 0 ? "all samples classified as expected\n" : "some samples differ\n");
    return wrong == 0 ? 0 : 1;
}
"""


def check_kind(kind: str | None, target: Target) -> None:
    if kind is None:
        return
    if kind not in PROJECT_KINDS:
        raise ConfigError(f"unknown project kind {kind!r}", hint="use --project make or --project cmake")
    if target.linker_script is None or target.startup is None:
        raise ConfigError(f"target {target.name!r} has no linker script and start-up code to build a project with",
                          hint="choose a microcontroller target (see edgetrain targets)")


def example_samples_h(p: Program, inputs: np.ndarray, classes: np.ndarray) -> str:
    """app/example_samples.h: the samples as the model's input type and their expected classes."""
    n = min(len(inputs), MAX_EXAMPLES)
    if n == 0:
        raise ConfigError("a firmware project needs at least one example sample",
                          hint="pass example data (--data), e.g. digits:test")
    flat = np.asarray(inputs[:n]).reshape(n, -1)
    ctype = p.elem_type
    rows = []
    for row in flat:
        vals = ", ".join(literal(v, ctype) for v in row)
        rows.append(f"    {{{vals}}}")
    cls = ", ".join(str(int(c)) for c in classes[:n])
    return "\n".join([
        "/* Example samples for app/main.c: the model's input (already standardised"
        + (" and quantized" if p.dtype == "int8" else "") + ") and the class edgetrain predicts for each. */",
        "#ifndef EXAMPLE_SAMPLES_H", "#define EXAMPLE_SAMPLES_H", "", "#include <stdint.h>", "",
        '#include "model.h"', "",
        f"#define EXAMPLE_COUNT {n}", "",
        f"static const {ctype} example_inputs[EXAMPLE_COUNT][ET_MODEL_INPUT_COUNT] = {{",
        ",\n".join(rows), "};", "",
        f"static const int32_t example_classes[EXAMPLE_COUNT] = {{{cls}}};", "",
        "#endif /* EXAMPLE_SAMPLES_H */", ""])


def _flags(target: Target) -> tuple[str, str]:
    """(compile flags, link flags) of the target as the project's build uses them."""
    cflags = " ".join([*target.cflags, "-O2", WARNINGS, "-ffunction-sections", "-fdata-sections"])
    assert target.linker_script is not None
    ld = target.linker_script.name
    ldflags = " ".join(["-nostartfiles", "-Lboard", f"-Tboard/{ld}", f"-Wl,--defsym=__et_stack_size={target.stack_bytes}",
                        "-Wl,--gc-sections", *target.ldflags])
    return cflags, ldflags


def _qemu_command(target: Target, elf: str) -> str:
    if target.emulator is None or target.emulator.kind != "qemu":
        return ""
    return (f"qemu-system-arm -M {target.emulator.machine} -nographic -monitor none -serial null "
            f"-semihosting-config enable=on,target=native -kernel {elf}")


def makefile(target: Target) -> str:
    cflags, ldflags = _flags(target)
    qemu = _qemu_command(target, "build/firmware.elf")
    run = (f"run: build/firmware.elf\n\t{qemu}\n" if qemu else
           "run:\n\t@echo \"no emulator for this target: flash build/firmware.elf to the board\"\n")
    return f"""# Firmware project for the edgetrain model in this folder ({target.name}).
#   make          build build/firmware.elf
#   make run      run it{' in QEMU (semihosting prints the classes; exit status 0 = all as expected)' if qemu else ''}
CC ?= {target.compiler}
ifeq ($(origin CC),default)
CC := {target.compiler}
endif
EDGETRAIN_MODEL_DIR := .
include edgetrain_model.mk
CFLAGS := {cflags} $(EDGETRAIN_MODEL_CFLAGS) -Iapp
LDFLAGS := {ldflags}
SRCS := app/main.c app/board_io.c board/startup.c $(EDGETRAIN_MODEL_SRCS)

build/firmware.elf: $(SRCS) $(wildcard *.h app/*.h runtime/include/*.h runtime/src/*.h)
\t@mkdir -p build
\t$(CC) $(CFLAGS) $(SRCS) -o $@ $(LDFLAGS) $(EDGETRAIN_MODEL_LDLIBS)

{run}
clean:
\trm -rf build

.PHONY: run clean
"""


def cmake_project(target: Target, name: str) -> str:
    cflags, ldflags = _flags(target)
    return f"""# Firmware project for the edgetrain model in this folder ({target.name}):
#   cmake -S . -B build -DCMAKE_TOOLCHAIN_FILE=cmake/arm-none-eabi.cmake
#   cmake --build build          # build/firmware.elf
cmake_minimum_required(VERSION 3.16)
project({name}_firmware C)
set(CMAKE_C_STANDARD 99)
set(CMAKE_C_FLAGS "${{CMAKE_C_FLAGS}} {cflags}")
include(${{CMAKE_CURRENT_LIST_DIR}}/edgetrain_model.cmake)
add_executable(firmware.elf app/main.c app/board_io.c board/startup.c)
target_include_directories(firmware.elf PRIVATE app)
target_link_libraries(firmware.elf PRIVATE edgetrain_model)
target_link_options(firmware.elf PRIVATE {ldflags.replace('-Lboard', '-L${CMAKE_CURRENT_LIST_DIR}/board').replace('-Tboard/', '-T${CMAKE_CURRENT_LIST_DIR}/board/')})
"""


def cmake_toolchain(target: Target) -> str:
    cpu = next((f.split("=", 1)[1] for f in target.cflags if f.startswith("-mcpu=")), "cortex-m4")
    return f"""# Cross compilation with {target.compiler} for {target.name} ({cpu}).
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(CMAKE_C_COMPILER {target.compiler})
# The compiler check links a test program; without start-up code that needs a static library.
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
"""


def project_files(p: Program, target: Target, kind: ProjectKind, inputs: np.ndarray, classes: np.ndarray,
                  library_cmake: str) -> dict[Path, bytes]:
    """The project's files (relative to the export folder) for `kind`."""
    assert target.linker_script is not None and target.startup is not None
    files: dict[Path, bytes] = {
        Path("app/main.c"): MAIN_C.encode(),
        Path("app/board_io.c"): BOARD_IO_C.encode(),
        Path("app/board_io.h"): BOARD_IO_H.encode(),
        Path("app/example_samples.h"): example_samples_h(p, inputs, classes).encode(),
        Path("board/startup.c"): target.startup.read_bytes(),
        Path("board") / target.linker_script.name: target.linker_script.read_bytes(),
    }
    for inc in _included_scripts(target.linker_script):
        files[Path("board") / inc.name] = inc.read_bytes()
    if kind == "make":
        files[Path("Makefile")] = makefile(target).encode()
    else:
        files[Path("CMakeLists.txt")] = cmake_project(target, _cmake_name(p.name)).encode()
        files[Path("edgetrain_model.cmake")] = library_cmake.encode()
        files[Path("cmake/arm-none-eabi.cmake")] = cmake_toolchain(target).encode()
    return files


def _included_scripts(script: Path) -> list[Path]:
    out = []
    for line in script.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "INCLUDE" and (script.parent / parts[1]).is_file():
            out.append(script.parent / parts[1])
    return out


def _cmake_name(name: str) -> str:
    clean = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    return clean if clean and not clean[0].isdigit() else f"m_{clean}"

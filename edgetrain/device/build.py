"""Compile a directory of C sources plus the emulation harness into an executable.

One gcc invocation compiles and links everything (the images are small, and one command line
is easy to show a user and to rerun by hand). Cross builds use the target's TOML flags, its
linker script and the shared Cortex-M start-up code; host builds use the native gcc.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from edgetrain.device.firmware import Firmware, SectionSizes, find_tool, install_hint
from edgetrain.errors import BudgetExceededError, ConfigError, ToolchainError
from edgetrain.resources import firmware_dir, harness_dir
from edgetrain.targets import Target, load_target

# The strictness every generated and hand-written C file must pass (issue 3, acceptance).
WARNING_FLAGS = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic")
SANITIZE_FLAGS = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-g")
COMPILE_TIMEOUT_S = 300.0
# A directory of compiled objects that builds share (`cc_cache`): the test suite sets it, since its
# hundreds of firmware builds compile the same runtime sources. Unset, every build compiles all.
CC_CACHE_ENV = "EDGETRAIN_CC_CACHE"


def build_firmware(
    target: Target | str,
    sources: Path | Sequence[Path],
    out_dir: Path,
    *,
    parity: bool = False,
    sanitize: bool = False,
    optimize: str = "-O2",
    extra_cflags: Sequence[str] = (),
    defines: Mapping[str, str | int] | None = None,
    name: str = "firmware",
    main: Path | None = None,
) -> Firmware:
    """Build the harness around the C sources in ``sources`` for ``target``.

    ``sources`` are directories (searched recursively for ``*.c``; every directory holding a
    ``*.h`` goes on the include path) or single ``.c`` files. They must provide ``model.h``
    and ``et_model_infer``. The runtime's ``firmware_export/include`` is always on the include
    path; its ``src/`` is not compiled implicitly (the generator copies what a model needs).

    ``parity`` builds with ``-ffp-contract=off`` so float results match numpy to ~1e-6;
    otherwise ``-ffp-contract=fast`` lets the compiler fuse multiply-adds (production flags);
    ``sanitize`` (host only) adds ASan + UBSan. ``main`` replaces the harness's ``main.c`` by
    another program using the same I/O helpers (e.g. the fine-tuning harness); its directory
    goes first on the include path.
    """
    if isinstance(target, str):
        target = load_target(target)
    if sanitize and not target.is_host:
        raise ConfigError(f"sanitizers need the host target, not {target.name!r}")
    c_files, include_dirs = _collect_sources(sources)
    if not c_files:
        raise ConfigError(f"no C sources found in {', '.join(map(str, _as_list(sources)))}")

    compiler = find_tool(target.compiler)
    size_tool = find_tool(_size_tool_name(target.compiler))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / (f"{name}.elf" if not target.is_host else name)

    harness = harness_dir()
    io_backend = "et_hio_stdio.c" if target.is_host else "et_hio_semihost.c"
    files = [Path(main) if main is not None else harness / "main.c", harness / io_backend, *c_files]
    if target.startup is not None:
        files.append(target.startup)

    cmd: list[str] = [compiler, *target.cflags, *WARNING_FLAGS, optimize]
    # Explicit both ways: in ISO mode (-std=c99) gcc already defaults to -ffp-contract=off, so
    # production builds must ask for fused multiply-adds (VFMA) to get them.
    cmd.append("-ffp-contract=off" if parity else "-ffp-contract=fast")
    if sanitize:
        cmd.extend(SANITIZE_FLAGS)
    cmd.extend(["-ffunction-sections", "-fdata-sections"])
    cmd.extend(f"-D{key}={value}" for key, value in _counter_defines(target).items())
    cmd.extend(f"-D{key}={value}" for key, value in (defines or {}).items())
    cmd.extend(extra_cflags)
    main_dirs = [Path(main).parent] if main is not None else []
    for inc in [*main_dirs, harness, *include_dirs, firmware_dir() / "include"]:
        cmd.append(f"-I{inc}")
    cmd.extend(str(f) for f in files)
    cmd.extend(["-o", str(output)])
    if target.linker_script is not None:
        cmd.extend(
            [
                "-nostartfiles",
                f"-L{target.linker_script.parent}",
                f"-T{target.linker_script}",
                f"-Wl,--defsym=__et_stack_size={target.stack_bytes}",
                "-Wl,--gc-sections",
            ]
        )
    cmd.extend(target.ldflags)
    cmd.append("-lm")

    _run_tool(cmd, what=f"build for {target.name}", tool=target.compiler, run=cached(cmd))
    sizes, size_cmds = read_sizes(size_tool, output)
    return Firmware(
        target=target,
        path=output,
        sizes=sizes,
        commands=(tuple(cmd), *size_cmds),
        parity=parity,
        sanitize=sanitize,
    )


def read_sizes(size_tool: str, image: Path) -> tuple[SectionSizes, tuple[tuple[str, ...], ...]]:
    """Berkeley text/data/bss (by section flags) plus the per-section table from ``size -A``."""
    berkeley_cmd = (size_tool, "-B", str(image))
    sysv_cmd = (size_tool, "-A", "-d", str(image))
    berkeley = _run_tool(list(berkeley_cmd), what="size", tool=Path(size_tool).name)
    sysv = _run_tool(list(sysv_cmd), what="size", tool=Path(size_tool).name)
    text, data, bss = parse_berkeley(berkeley)
    return SectionSizes(text, data, bss, parse_sysv(sysv)), (berkeley_cmd, sysv_cmd)


def parse_berkeley(output: str) -> tuple[int, int, int]:
    """First data row of ``size -B``: ``text data bss dec hex filename``."""
    for line in output.splitlines():
        fields = line.split()
        if len(fields) >= 3 and all(f.isdigit() for f in fields[:3]):
            return int(fields[0]), int(fields[1]), int(fields[2])
    raise ToolchainError(f"cannot parse `size -B` output: {output.strip()[:200]!r}")


# Sections that are not loaded into the target's memory.
_NON_ALLOC = re.compile(r"^\.(debug|comment|ARM\.attributes|symtab|strtab|shstrtab|stab|gnu_debug)")


def parse_sysv(output: str) -> dict[str, int]:
    """``size -A -d`` rows ``name size addr`` → {name: size} for loadable, non-empty sections."""
    sections: dict[str, int] = {}
    for line in output.splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[0].startswith(".") and fields[1].isdigit():
            name, size = fields[0], int(fields[1])
            if size and not _NON_ALLOC.match(name):
                sections[name] = size
    return sections


def _size_tool_name(compiler: str) -> str:
    # arm-none-eabi-gcc -> arm-none-eabi-size; gcc -> size
    return compiler[: -len("gcc")] + "size" if compiler.endswith("gcc") else "size"


def _counter_defines(target: Target) -> dict[str, str]:
    counter = target.counter
    if counter is None or counter.kind != "stm32-tim":
        return {}
    defines = {
        "ET_COUNTER_STM32_TIM": "1",
        "ET_COUNTER_BASE": f"0x{counter.base:08X}u",
        "ET_COUNTER_BITS": str(counter.bits),
    }
    if counter.rcc_enable_register is not None:
        defines["ET_COUNTER_RCC_REG"] = f"0x{counter.rcc_enable_register:08X}u"
        defines["ET_COUNTER_RCC_MASK"] = f"0x{counter.rcc_enable_mask:X}u"
    return defines


def _as_list(sources: Path | Sequence[Path]) -> list[Path]:
    if isinstance(sources, (str, Path)):
        return [Path(sources)]
    return [Path(s) for s in sources]


def _collect_sources(sources: Path | Sequence[Path]) -> tuple[list[Path], list[Path]]:
    c_files: list[Path] = []
    include_dirs: list[Path] = []
    for src in _as_list(sources):
        if src.is_file() and src.suffix == ".c":
            c_files.append(src.resolve())
            if src.resolve().parent not in include_dirs:
                include_dirs.append(src.resolve().parent)
        elif src.is_dir():
            c_files.extend(sorted(p.resolve() for p in src.rglob("*.c")))
            for header in sorted(src.rglob("*.h")):
                parent = header.resolve().parent
                if parent not in include_dirs:
                    include_dirs.append(parent)
        else:
            raise ConfigError(f"C source {src} does not exist")
    if any(p.name == "main.c" for p in c_files):
        raise ConfigError("the model sources must not contain a main.c: the harness provides main")
    return c_files, include_dirs


def cached(cmd: list[str]) -> list[str]:
    """``cmd`` (a compile-and-link command line) run through the object cache of
    `CC_CACHE_ENV` when that names a directory and the compiler exists (a missing one is reported
    as such by running ``cmd`` itself); otherwise ``cmd``. Same image either way."""
    cache = os.environ.get(CC_CACHE_ENV)
    if not cache or shutil.which(cmd[0]) is None:
        return cmd
    Path(cache).mkdir(parents=True, exist_ok=True)
    return [sys.executable, "-I", "-S", str(Path(__file__).with_name("cc_cache.py")), cache, *cmd]


def _run_tool(cmd: list[str], *, what: str, tool: str, run: list[str] | None = None) -> str:
    """Run ``cmd`` (or ``run``, the command that executes it, e.g. through the object cache) and
    turn a failure into one error line: a link overflow into BudgetExceededError, anything else
    into ToolchainError."""
    try:
        proc = subprocess.run(run or cmd, capture_output=True, text=True, timeout=COMPILE_TIMEOUT_S, check=False)
    except FileNotFoundError as exc:
        raise ToolchainError(f"{tool} not found", hint=install_hint(tool)) from exc
    except subprocess.TimeoutExpired as exc:
        raise ToolchainError(f"{what} timed out after {COMPILE_TIMEOUT_S:.0f} s") from exc
    if proc.returncode != 0:
        log = proc.stderr or proc.stdout
        overflow = region_overflow(log) or stack_overflow(cmd, log)
        if overflow is not None:
            region, over = overflow
            raise BudgetExceededError(
                f"{what}: the link does not fit: region {region} overflowed by {over:,} bytes",
                hint="make the model or its training buffers smaller, or choose a target "
                "with more memory (edgetrain export c prints where the bytes go)",
            )
        if "nano.specs" in log or "cannot find -l" in log:
            hint = install_hint(tool)  # compiler present but newlib missing
        else:
            hint = f"rerun the command to see the compiler's output ({cmd[0]} with {len(cmd) - 1} arguments)"
        raise ToolchainError(f"{what} failed: {first_error_line(log)}", hint=hint)
    return proc.stdout


_OVERFLOW = re.compile(r"region [`'\"]?(\w+)['`\"]? overflowed by (\d+) bytes")


def stack_overflow(cmd: list[str], log: str) -> tuple[str, int] | None:
    """(region, bytes over) when the link failed on the linker script's check that .data, .bss,
    the C library reserve and the stack reserve fit RAM (targets/ld/cortexm_sections.ld): the
    bytes come from linking once more with --noinhibit-exec and reading the accounting symbols."""
    if "stack reserve exceed the target's RAM" not in log or "-o" not in cmd:
        return None
    out = Path(cmd[cmd.index("-o") + 1])
    probe = out.with_name(out.name + ".probe")
    again = [c if c != str(out) else str(probe) for c in cmd] + ["-Wl,--noinhibit-exec"]
    stack = next((int(c.rsplit("=", 1)[1]) for c in cmd if c.startswith("-Wl,--defsym=__et_stack_size=")), 0)
    try:
        subprocess.run(again, capture_output=True, text=True, timeout=COMPILE_TIMEOUT_S, check=False)
        nm = subprocess.run(
            [cmd[0].replace("gcc", "nm"), str(probe)],
            capture_output=True,
            text=True,
            timeout=COMPILE_TIMEOUT_S,
            check=False,
        )
        syms = {p[2]: int(p[0], 16) for p in (ln.split() for ln in nm.stdout.splitlines()) if len(p) == 3}
        if "__et_own_ram" in syms:  # the library reserve's accounting (cortexm_sections.ld)
            ram = syms["_estack"] - syms["_sdata"]
            return "RAM", syms["__et_own_ram"] + syms["__et_lib_reserve"] + stack - ram
        return "RAM", syms["_ebss"] + stack - syms["_estack"]
    except (OSError, subprocess.SubprocessError, KeyError, ValueError):
        return "RAM", 0
    finally:
        probe.unlink(missing_ok=True)


def region_overflow(log: str) -> tuple[str, int] | None:
    """(region, bytes over) of a linker's "region `RAM' overflowed by N bytes", the largest
    overflow when several regions are named."""
    found = [(m.group(1), int(m.group(2))) for m in _OVERFLOW.finditer(log)]
    return max(found, key=lambda f: f[1]) if found else None


_ERROR_TAG = re.compile(r"(\berror:|undefined reference|cannot find|will not fit|overflowed by|edgetrain:)")


def first_error_line(log: str) -> str:
    """The compiler's (or linker's) first error line, else its first non-empty line."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    for line in lines:
        # Match the diagnostic tag, not the word: paths and names may contain "error".
        if _ERROR_TAG.search(line):
            return line
    return lines[0] if lines else "(no output)"

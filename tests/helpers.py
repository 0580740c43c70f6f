"""Helpers shared by several test modules.

Imported as ``from helpers import ...``: tests/ has no ``__init__.py``, so pytest (rootdir-based,
``prepend`` import mode) puts tests/ itself on ``sys.path``, as for codegen_models and sparse_runs.
"""
from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest

import edgetrain as et

ROOT = Path(__file__).resolve().parent.parent
INC = ROOT / "firmware_export" / "include"
SRC = ROOT / "firmware_export" / "src"
DRIVER_IO = ROOT / "tests" / "c"  # driver_io.h, the test drivers' input reading
M3 = ["-mcpu=cortex-m3", "-mthumb"]
M4F = ["-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"]


# ---------------------------------------------------------------- C builds

def compile_c(cmd: list[str], exe: Path) -> Path:
    """Run one compile-and-link command (through the suite's shared object cache, as firmware
    builds are); a compiler error fails the test with its stderr."""
    from edgetrain.device.build import cached

    res = subprocess.run(cached(cmd), capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return exe


#: The runtime's warning contract (C99, warning-free) at -O2.
STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2"]
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-g"]


def build_parity_driver(cc: str, driver: Path, sources: list[Path], exe: Path, sanitize: bool) -> Path:
    """A host test driver linked with runtime ``sources``: strict warnings, no contraction of
    float multiply-adds (the numerical contract's parity build), ASan+UBSan when ``sanitize``."""
    cmd = [cc, *STRICT, "-ffp-contract=off", *(SANITIZE if sanitize else []), f"-I{INC}", f"-I{DRIVER_IO}",
           str(driver), *map(str, sources), "-lm", "-o", str(exe)]
    return compile_c(cmd, exe)


def i32(*vals: int) -> bytes:
    """Little-endian int32 values, as the drivers read them."""
    return struct.pack(f"<{len(vals)}i", *vals)


def f32(*vals: float) -> bytes:
    """Little-endian float32 values, as the drivers read them."""
    return struct.pack(f"<{len(vals)}f", *vals)


# ---------------------------------------------------------------- the CLI as a user runs it

def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "edgetrain", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd)


def assert_user_error(r, *needles):
    """A user mistake: exit code 2, no traceback, one ``error: ...`` first line naming ``needles``."""
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    first = r.stderr.strip().splitlines()[0]
    assert first.startswith("error: ")
    for n in needles:
        assert n in first, (n, first)


# ---------------------------------------------------------------- data and models

@pytest.fixture(scope="module")
def digits():
    return et.load_data("digits")


def small(seed=0):
    """64-128-64-10 ReLU MLP on digits-sized input."""
    return et.Sequential([et.Dense(128, "relu"), et.Dense(64, "relu"), et.Dense(10)], 64, seed=seed)


# ---------------------------------------------------------------- benchmarks

def load_bench(filename: str):  # type: ignore[no-untyped-def]
    """Import ``bench/<filename>`` as a module; skip (fail in CI) when its target cannot run here."""
    import importlib.util
    import os

    spec = importlib.util.spec_from_file_location(f"bench_{Path(filename).stem}", ROOT / "bench" / filename)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    ok, why = mod.emulator_available(mod.TARGET)
    if not ok:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the benchmark smoke test but {mod.TARGET} cannot run: {why}")
        pytest.skip(f"cannot run {mod.TARGET}: {why}")
    return mod

"""Runner for QEMU targets: qemu-system-arm with icount and semihosting.

``-icount shift=0`` makes every instruction take 1 ns of virtual time, which both makes runs
deterministic and turns the STM32 timer (1 GHz model clock, PSC = 0) into an instruction
counter. Semihosting with ``target=native`` lets the harness open files in QEMU's working
directory and turns the harness's exit status into QEMU's.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from edgetrain.device.firmware import Firmware, install_hint
from edgetrain.targets import Target

QEMU = "qemu-system-arm"


def available(target: Target) -> tuple[bool, str]:
    """Whether ``target`` can be emulated (an emulator configured, the compiler, QEMU and newlib
    installed) and a line saying why or why not."""
    if target.emulator is None:
        return False, f"target {target.name!r} has no emulator (build and size only)"
    missing = [tool for tool in (target.compiler, QEMU) if shutil.which(tool) is None]
    if missing:
        hints = "; ".join(f"{tool}: {install_hint(tool)}" for tool in missing)
        return False, f"{', '.join(missing)} not found ({hints})"
    if not _has_newlib(target.compiler):
        return False, f"newlib for {target.compiler} is missing ({install_hint(target.compiler)})"
    return True, f"QEMU {target.emulator.machine} via {QEMU}"


def command(firmware: Firmware) -> list[str]:
    """The QEMU command line that runs ``firmware`` with semihosting and deterministic instruction
    counting; the caller checks `available` first."""
    emulator = firmware.target.emulator
    assert emulator is not None, "caller checks available() first"
    return [
        shutil.which(QEMU) or QEMU,
        "-M",
        emulator.machine,
        "-nographic",
        "-monitor",
        "none",
        "-serial",
        "null",
        "-semihosting-config",
        "enable=on,target=native",
        "-icount",
        "shift=0",
        *emulator.extra_args,
        "-kernel",
        str(firmware.path),
    ]


def environment(firmware: Firmware) -> dict[str, str]:
    """The environment to run ``firmware`` in: a copy of the current one."""
    del firmware
    return dict(os.environ)


def _has_newlib(compiler: str) -> bool:
    # gcc echoes the bare name back when the file is not in its search path.
    try:
        proc = subprocess.run(
            [compiler, "-print-file-name=nano.specs"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0 and proc.stdout.strip() != "nano.specs"

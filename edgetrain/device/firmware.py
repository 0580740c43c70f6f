"""Result types shared by the build step and the runners, and tool lookup."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgetrain.errors import ToolchainError
from edgetrain.targets import Target

# Debian packages that provide each tool, for the install hint.
TOOL_PACKAGES: dict[str, str] = {
    "gcc": "gcc",
    "size": "binutils",
    "arm-none-eabi-gcc": "gcc-arm-none-eabi libnewlib-arm-none-eabi",
    "arm-none-eabi-size": "binutils-arm-none-eabi",
    "qemu-system-arm": "qemu-system-arm",
}


def install_hint(tool: str) -> str:
    """The apt-get command that installs ``tool``."""
    packages = TOOL_PACKAGES.get(tool, tool)
    return f"install it with: sudo apt-get install {packages}"


def find_tool(tool: str) -> str:
    """Absolute path of ``tool`` on PATH, or ToolchainError naming the Debian package(s)."""
    path = shutil.which(tool)
    if path is None:
        raise ToolchainError(f"{tool} not found on PATH", hint=install_hint(tool))
    return path


@dataclass(frozen=True)
class SectionSizes:
    """Static memory of a built image, in bytes.

    ``text``/``data``/``bss`` are binutils' Berkeley totals (text includes read-only data and
    the vector table); ``sections`` is every allocated section from ``size -A``.
    """

    text: int
    data: int
    bss: int
    sections: dict[str, int]

    @property
    def flash_bytes(self) -> int:
        """What the image occupies in flash: code, constants and the .data load image."""
        return self.text + self.data

    @property
    def static_ram_bytes(self) -> int:
        """RAM used before the stack: initialised plus zeroed data."""
        return self.data + self.bss


@dataclass(frozen=True)
class Firmware:
    """A built executable for one target, ready to run."""

    target: Target
    path: Path
    sizes: SectionSizes
    commands: tuple[tuple[str, ...], ...]
    parity: bool
    sanitize: bool


@dataclass(frozen=True)
class RunResult:
    """What one run of the harness produced.

    ``instructions_per_inference`` holds one count per sample: instructions executed from the
    call of ``et_model_infer`` to its return (counter read cost removed). They are emulator
    instruction counts (QEMU ``-icount shift=0``), not silicon cycles; None where the target has
    no counter (host, mps2-an386).
    """

    target: str
    outputs: np.ndarray
    instructions_per_inference: np.ndarray | None
    sizes: SectionSizes
    exit_status: int
    commands: tuple[tuple[str, ...], ...]
    log: str

    @property
    def mean_instructions(self) -> float | None:
        """The mean instructions per inference, or None without counts or samples."""
        counts = self.instructions_per_inference
        if counts is None or counts.size == 0:
            return None
        return float(counts.mean())

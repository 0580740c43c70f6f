"""The RAM of an emulation firmware, planned item by item before it is built.

The exported library's memory plan (`export c`, `export_training_c`) covers what a board project
needs for the model. The firmware edgetrain builds to emulate or fine-tune also holds the
harness's sample buffers and, for fine-tuning, both weight banks (flash on the chip, RAM in the
emulation: et_storage_ram). This module adds those, mirroring the declarations in
templates/emulate/main.c, templates/finetune/main.c and the generated sources, and is the check
made before a build:

    plan = finetune_firmware_ram(exp.report, exp.program, target)
    plan.check()          # BudgetExceededError naming the largest items, nothing built
    plan.total == linked_ram_bytes(firmware)   # the link's own accounting (tested)

The link's accounting (targets/ld/cortexm_sections.ld) is the program's .data + .bss, a fixed
reserve for the C library's static data (``__et_lib_reserve``, read from the script the link
includes) and the stack reserve. Every
buffer the harness and the generated code declare is a multiple of 4 bytes with alignment at
most 4, so the program's part is the sum of the items below in any link order.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from typing import Any

from ..errors import BudgetExceededError, ConfigError, ToolchainError
from ..export.c.plan import align_up
from ..export.c.program import Program
from ..export.c.report import MemoryReport
from ..export.c.train_plan import TrainMemoryReport
from ..export.c.train_program import TrainProgram
from ..targets import Target
from .firmware import Firmware, find_tool


@dataclass(frozen=True)
class FirmwareRam:
    """What one emulation firmware places in RAM: ``items`` are (what, bytes); ``available`` is
    the RAM region of the target's linker script (None for the host build, which has none)."""

    firmware: str
    target: str
    items: tuple[tuple[str, int], ...]
    available: int | None

    @property
    def total(self) -> int:
        """The bytes of all items together."""
        return sum(b for _, b in self.items)

    @property
    def fits(self) -> bool:
        """Whether the total fits the available RAM (always, for the host build)."""
        return self.available is None or self.total <= self.available

    def rows(self) -> list[list[str]]:
        """Report rows: each item, then the total against the RAM the link gives."""
        of = "" if self.available is None else f" of {self.available:,}"
        return [[f"firmware RAM: {what}", f"{b:,}"] for what, b in self.items] + [
            [f"firmware RAM total ({self.firmware} on {self.target})", f"{self.total:,}{of}"]
        ]

    def to_dict(self) -> dict[str, Any]:
        """The plan as plain data: the items by name, the total, the available RAM and ``fits``."""
        return {
            "firmware": self.firmware,
            "target": self.target,
            "items": dict(self.items),
            "total_bytes": self.total,
            "available_bytes": self.available,
            "fits": self.fits,
        }

    def check(self) -> None:
        """Raise BudgetExceededError (one line: total, RAM, the three largest items) when the
        firmware would not link."""
        if self.fits:
            return
        assert self.available is not None
        largest = ", ".join(f"{what} {b:,}" for what, b in sorted(self.items, key=lambda i: -i[1])[:3])
        raise BudgetExceededError(
            f"the {self.firmware} firmware for {self.target} needs {self.total:,} B of RAM of {self.available:,} B "
            f"(over by {self.total - self.available:,} B; largest: {largest})",
            hint="train or run fewer parameters (a smaller head, bias-only, a smaller --batch-size), or emulate "
            "on a board with more RAM (mps2-an386)",
        )


def _a4(n: int) -> int:
    return align_up(n, 4)


_RESERVE = re.compile(r"^\s*__et_lib_reserve\s*=\s*(\d+)\s*;", re.M)


def library_reserve_bytes(target: Target) -> int:
    """The C library reserve (``__et_lib_reserve``) of the target's linker script or a script it
    INCLUDEs (edgetrain's cortexm_sections.ld); 0 for the host."""
    if target.linker_script is None:
        return 0
    from ..export.c.project import included_scripts

    for script in (target.linker_script, *included_scripts(target.linker_script)):
        m = _RESERVE.search(script.read_text())
        if m is not None:
            return int(m.group(1))
    raise ConfigError(
        f"{target.linker_script} does not define __et_lib_reserve",
        hint="a board's linker script must INCLUDE edgetrain's cortexm_sections.ld",
    )


def _library_and_stack(target: Target) -> list[tuple[str, int]]:
    return [("C library reserve", library_reserve_bytes(target)), ("stack reserve", target.stack_bytes)]


def inference_firmware_ram(
    report: MemoryReport, program: Program, target: Target, *, raw_input: bool = False
) -> FirmwareRam:
    """The emulation harness around an exported model: the model's arena, the harness's input,
    output and output-record buffers (and the raw float sample buffer when built with
    ET_HARNESS_RAW_INPUT), the library reserve and the stack."""
    items = [
        ("model arena", _a4(report.arena_bytes)),
        ("harness input buffer", _a4(program.input_bytes)),
        ("harness output buffer", _a4(program.output_bytes)),
        ("harness output record", _a4(4 + program.output_bytes)),
    ]
    if raw_input:
        items.append(("harness raw-input buffer", 4 * (program.input_bytes // program.elem_bytes)))
    return FirmwareRam("inference", target.name, tuple(items + _library_and_stack(target)), linker_ram_bytes(target))


def finetune_firmware_ram(report: TrainMemoryReport, program: TrainProgram, target: Target) -> FirmwareRam:
    """The fine-tuning harness around the generated training code: the training RAM of the plan
    (its stack aside), the two weight banks the emulation keeps in RAM, the harness's batch,
    label, logit and feature buffers, the library reserve and the stack."""
    feature_bytes = program.feature_size * (1 if program.feature_ctype == "int8_t" else 4)
    items = [
        ("trainable parameters", report.param_ram_bytes),
        ("optimizer state", report.optimizer_state_bytes),
        ("training arena", _a4(max(report.arena_bytes, 4))),
        ("parameter and optimizer descriptors", report.descriptor_bytes),
        ("weight banks (flash on the chip)", report.bank_flash_bytes),
        ("harness batch buffer", _a4(program.config.batch * program.input_bytes)),
        ("harness labels and logits", 4 * program.config.batch + 4 * program.n_classes),
        ("harness feature buffer", _a4(feature_bytes)),
    ]  # declared only with a frozen body
    return FirmwareRam("fine-tuning", target.name, tuple(items + _library_and_stack(target)), linker_ram_bytes(target))


def linker_ram_bytes(target: Target) -> int | None:
    """The RAM region the target's linker script gives the firmware (what the link accepts; the
    budget, ``ram_bytes``, may be smaller); None for the host."""
    import re

    if target.linker_script is None:
        return None
    m = re.search(r"^\s*RAM\b[^:\n]*:[^\n]*LENGTH\s*=\s*(\d+)\s*([KM]?)", target.linker_script.read_text(), re.M)
    if m is None:
        return target.ram_bytes
    return int(m.group(1)) * {"": 1, "K": 1024, "M": 1024 * 1024}[m.group(2)]


def linked_ram_bytes(firmware: Firmware) -> int:
    """The RAM a built Cortex-M firmware's link accounted for: the program's .data + .bss
    (``__et_own_ram``) + the library reserve + the stack reserve, read from the image's symbols."""
    compiler = firmware.target.compiler
    nm = find_tool(compiler[: -len("gcc")] + "nm" if compiler.endswith("gcc") else "nm")
    out = subprocess.run([nm, str(firmware.path)], capture_output=True, text=True, check=False).stdout
    symbols = {p[2]: int(p[0], 16) for p in (line.split() for line in out.splitlines()) if len(p) == 3}
    try:
        return symbols["__et_own_ram"] + symbols["__et_lib_reserve"] + symbols["__et_stack_size"]
    except KeyError as exc:
        raise ToolchainError(
            f"{firmware.path} has no RAM accounting symbols ({exc.args[0]}): not linked with "
            "targets/ld/cortexm_sections.ld"
        ) from exc

"""Runtime kernels called directly on a Cortex-M4 (or M3) under the unicorn emulator, counting the
executed instructions: shared by bench/conv_kernel_cycles.py and bench/cluster_kernel_cycles.py.

The given runtime sources are linked into a flat image (-O2, the production flags, no start-up
code) and each call starts at a function's symbol with the arguments in r0-r3 and on the stack;
a basic-block hook adds the block's instruction count (block sizes decoded once).
"""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INC, SRC = ROOT / "firmware_export" / "include", ROOT / "firmware_export" / "src"
CPU = {"m4": ["-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"],
       "m3": ["-mcpu=cortex-m3", "-mthumb", "-mfloat-abi=soft"]}
FLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2", "-ffp-contract=fast"]

LD = """ENTRY({entry})
MEMORY {{ FLASH (rx) : ORIGIN = 0x00000000, LENGTH = 1M }}
SECTIONS {{
    .text : {{ *(.text*) *(.rodata*) }} > FLASH
    /DISCARD/ : {{ *(.data*) *(.bss*) *(COMMON) *(.ARM.exidx*) *(.comment) }}
}}
"""


class Image:
    """The runtime as a flat image in unicorn; `call` returns (r0, instructions executed)."""

    RAM, RAM_SIZE, RET = 0x2000_0000, 0x80_0000, 0x000F_FF00

    def __init__(self, cc: str, cpu: str, out: Path, defines: list[str], sources: list[str], entry: str) -> None:
        from unicorn import UC_ARCH_ARM, UC_HOOK_BLOCK, UC_MODE_MCLASS, UC_MODE_THUMB, Uc
        from unicorn.arm_const import UC_CPU_ARM_CORTEX_M3, UC_CPU_ARM_CORTEX_M4

        (out / "k.ld").write_text(LD.format(entry=entry))
        elf, img = out / "k.elf", out / "k.bin"
        subprocess.run([cc, *FLAGS, *CPU[cpu], *defines, f"-I{INC}", "-nostdlib", "-nostartfiles",
                        f"-Wl,-T,{out / 'k.ld'}", "-Wl,--no-warn-rwx-segments",
                        *(str(SRC / s) for s in sources), "-lc", "-lgcc", "-o", str(elf)], check=True)
        subprocess.run([cc.replace("gcc", "objcopy"), "-O", "binary", str(elf), str(img)], check=True)
        nm = subprocess.run([cc.replace("gcc", "nm"), str(elf)], capture_output=True, text=True, check=True)
        self.sym = {p[2]: int(p[0], 16) for p in (ln.split() for ln in nm.stdout.splitlines()) if len(p) == 3}
        self.code = img.read_bytes()
        self.uc = Uc(UC_ARCH_ARM, UC_MODE_THUMB | UC_MODE_MCLASS)
        self.uc.ctl_set_cpu_model(UC_CPU_ARM_CORTEX_M4 if cpu == "m4" else UC_CPU_ARM_CORTEX_M3)
        self.uc.mem_map(0, 0x10_0000)
        self.uc.mem_write(0, self.code)
        self.uc.mem_map(self.RAM, self.RAM_SIZE)
        if cpu == "m4":  # enable the FPU (CPACR) is not modelled; unicorn allows VFP by default
            pass
        self.next = self.RAM
        self.count = 0
        self.profile: dict[int, int] | None = None
        self._sizes: dict[tuple[int, int], int] = {}
        self.uc.hook_add(UC_HOOK_BLOCK, self._block)

    def _block(self, uc, addr: int, size: int, _data) -> None:
        key = (addr, size)
        n = self._sizes.get(key)
        if n is None:
            n, off = 0, addr
            while off < addr + size:
                hw = self.code[off] | (self.code[off + 1] << 8) if off + 1 < len(self.code) else 0
                off += 4 if (hw >> 11) in (0b11101, 0b11110, 0b11111) else 2
                n += 1
            self._sizes[key] = n
        self.count += n
        if self.profile is not None:
            self.profile[addr] = self.profile.get(addr, 0) + n

    def reset(self) -> None:
        self.next = self.RAM

    def alloc(self, data: bytes, align: int = 8) -> int:
        addr = (self.next + align - 1) & ~(align - 1)
        self.uc.mem_write(addr, data)
        self.next = addr + len(data)
        return addr

    def call(self, name: str, *args: int) -> tuple[int, int]:
        from unicorn.arm_const import (
            UC_ARM_REG_LR,
            UC_ARM_REG_R0,
            UC_ARM_REG_R1,
            UC_ARM_REG_R2,
            UC_ARM_REG_R3,
            UC_ARM_REG_SP,
        )

        sp = self.RAM + self.RAM_SIZE - 0x100
        if len(args) > 4:
            self.uc.mem_write(sp, struct.pack(f"<{len(args) - 4}I", *args[4:]))
        for reg, val in zip((UC_ARM_REG_R0, UC_ARM_REG_R1, UC_ARM_REG_R2, UC_ARM_REG_R3), args[:4]):
            self.uc.reg_write(reg, val)
        self.uc.reg_write(UC_ARM_REG_SP, sp)
        self.uc.reg_write(UC_ARM_REG_LR, self.RET | 1)
        self.count = 0
        self.uc.emu_start(self.sym[name] | 1, self.RET)
        return self.uc.reg_read(UC_ARM_REG_R0), self.count

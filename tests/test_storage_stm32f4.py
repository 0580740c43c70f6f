"""The STM32F4 flash port of the weight store (et_storage_stm32f4.c), built for Cortex-M4 and run
in unicorn against a register-level model of the STM32F4 flash interface (RM0090 section 3):

* the flash array is NOR: an erase sets a sector to 0xFF, programming can only clear bits;
* FLASH_CR is locked until KEY1, KEY2 are written to FLASH_KEYR (a wrong key locks it until reset);
* programming needs CR.PG, an unlocked controller, no operation in progress and, with PSIZE x32,
  aligned 32-bit writes (else PGSERR, PGPERR or PGAERR in FLASH_SR); an erase starts with
  CR.SER | SNB | STRT; BSY stays set for a few polls after each operation;
* a power cut stops the chip in the middle of an erase or a program, leaving the sector partly
  erased or the word with only some of its bits cleared.

The store must survive a cut at every step of a commit (the reboot loads the old or the new
commit, never anything else), fail cleanly on controller errors, and leave the controller locked.
"""
from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from helpers import INC, M4F, ROOT, SRC, STRICT

FLASH_BASE, REGS = 0x0800_0000, 0x4002_3C00
SECTOR_SIZES = [16 << 10] * 4 + [64 << 10] + [128 << 10] * 7
SECTOR_START = [FLASH_BASE + sum(SECTOR_SIZES[:i]) for i in range(12)]
FIRST_SECTOR, N_SECTORS, SECTOR = 1, 2, 16 << 10  # two 16 KiB banks in sectors 1 and 2
KEY1, KEY2 = 0x45670123, 0xCDEF89AB
BSY, EOP = 1 << 16, 1
OPERR, WRPERR, PGAERR, PGPERR, PGSERR = 1 << 1, 1 << 4, 1 << 5, 1 << 6, 1 << 7
PG, SER, STRT, LOCK = 1, 1 << 1, 1 << 16, 1 << 31
PAYLOAD = 600
OK, STORAGE_IO, STORAGE_EMPTY = 0, 4, 5  # et_status values (et_status.h)
RAM, RAM_SIZE, RET = 0x2000_0000, 0x10_0000, 0x000F_FF00


class PowerCut(Exception):
    pass


class F4Flash:
    """The flash array and the FLASH interface registers."""

    def __init__(self, busy_polls: int = 3) -> None:
        self.mem = bytearray(b"\xff" * (1 << 20))
        self.busy_polls = busy_polls
        self.reset()
        self.cut_after: int | None = None  # flash operations (word programs, sector erases) before the cut
        self.torn = True
        self.rng = np.random.default_rng(0)
        self.operations = 0
        self.bit_sets = 0  # programs that tried to turn a 0 bit into 1 (the store must never need that)
        self.protected: set[int] = set()  # sectors whose erase fails with WRPERR
        self.stuck_busy = False
        self.dead = False

    def reset(self) -> None:
        """Power-on state of the registers (the array keeps its contents)."""
        self.cr, self.sr, self.busy, self.key_state, self.hard_locked = LOCK, 0, 0, 0, False

    # ---- operations
    def _operation(self) -> bool:
        """Counts one flash operation; True when the power fails during it."""
        self.operations += 1
        if self.cut_after is not None:
            if self.cut_after == 0:
                return True
            self.cut_after -= 1
        return False

    def _erase(self, snb: int) -> None:
        if not 0 <= snb < 12 or snb in self.protected:
            self.sr |= WRPERR
            return
        lo, n = SECTOR_START[snb] - FLASH_BASE, SECTOR_SIZES[snb]
        if self._operation():
            done = int(self.rng.integers(0, n))  # an erase cut short: part erased, one byte torn
            self.mem[lo:lo + done] = b"\xff" * done
            if self.torn:
                self.mem[lo + done] |= int(self.rng.integers(0, 256))
            raise PowerCut
        self.mem[lo:lo + n] = b"\xff" * n
        self.busy = self.busy_polls

    def _program(self, offset: int, size: int, value: int) -> None:
        if self.cr & LOCK or not self.cr & PG or self.busy:
            self.sr |= PGSERR
            return
        if (self.cr >> 8) & 3 != 2 or size != 4:
            self.sr |= PGPERR
            return
        if offset % 4:
            self.sr |= PGAERR
            return
        new = value.to_bytes(4, "little")
        cut = self._operation()
        for k in range(4):
            old = self.mem[offset + k]
            want = new[k]
            if want & ~old & 0xFF:
                self.bit_sets += 1
            if cut and self.torn:  # some of the bits this byte should lose are still set
                want |= int(self.rng.integers(0, 256)) & old
            self.mem[offset + k] = old & want
        if cut:
            raise PowerCut
        self.busy = self.busy_polls

    # ---- MMIO
    def flash_read(self, uc, offset: int, size: int, _user) -> int:  # noqa: ANN001
        return int.from_bytes(self.mem[offset:offset + size], "little")

    def flash_write(self, uc, offset: int, size: int, value: int, _user) -> None:  # noqa: ANN001
        self._guard(uc, lambda: self._program(offset, size, value))

    def reg_read(self, uc, offset: int, size: int, _user) -> int:  # noqa: ANN001
        if offset == 0x0C:
            if self.stuck_busy:
                return self.sr | BSY
            if self.busy:
                self.busy -= 1
                if self.busy == 0:
                    self.sr |= EOP
                return self.sr | BSY
            return self.sr
        if offset == 0x10:
            return self.cr
        return 0

    def reg_write(self, uc, offset: int, size: int, value: int, _user) -> None:  # noqa: ANN001
        self._guard(uc, lambda: self._reg_write(offset, value))

    def _reg_write(self, offset: int, value: int) -> None:
        if offset == 0x04:  # KEYR
            if self.hard_locked:
                return
            if self.key_state == 0 and value == KEY1:
                self.key_state = 1
            elif self.key_state == 1 and value == KEY2:
                self.key_state, self.cr = 0, self.cr & ~LOCK
            else:
                self.hard_locked = True  # a wrong sequence locks FLASH_CR until the next reset
        elif offset == 0x0C:  # SR: write 1 to clear
            self.sr &= ~(value & (EOP | OPERR | WRPERR | PGAERR | PGPERR | PGSERR | (1 << 8)))
        elif offset == 0x10:  # CR
            if self.cr & LOCK:
                return  # locked: writes are ignored
            if self.busy and value & STRT:
                self.sr |= PGSERR
                return
            self.cr = value & ~STRT
            if value & STRT and value & SER:
                self._erase((value >> 3) & 0xF)

    def _guard(self, uc, fn) -> None:  # noqa: ANN001
        try:
            fn()
        except PowerCut:
            self.cut_after = None
            self.dead = True
            uc.emu_stop()


class Chip:
    """One boot of the Cortex-M4 with the port, the store and the driver, on the flash model."""

    def __init__(self, image: Path, symbols: dict[str, int], flash: F4Flash) -> None:
        from unicorn import UC_ARCH_ARM, UC_MODE_MCLASS, UC_MODE_THUMB, Uc
        from unicorn.arm_const import UC_CPU_ARM_CORTEX_M4

        self.uc = Uc(UC_ARCH_ARM, UC_MODE_THUMB | UC_MODE_MCLASS)
        self.uc.ctl_set_cpu_model(UC_CPU_ARM_CORTEX_M4)
        self.uc.mem_map(0, 0x10_0000)
        self.uc.mem_write(0, image.read_bytes())
        self.uc.mem_map(RAM, RAM_SIZE)
        self.uc.mmio_map(FLASH_BASE, 1 << 20, flash.flash_read, None, flash.flash_write, None)
        self.uc.mmio_map(REGS, 0x400, flash.reg_read, None, flash.reg_write, None)
        self.symbols, self.flash = symbols, flash
        flash.reset()
        flash.dead = False
        self.drv = RAM + 0x1000
        # et_stm32f4_flash: region, regs, first_sector, sector_size, n_sectors, timeout, last_sr
        self.uc.mem_write(self.drv, struct.pack("<7I", SECTOR_START[FIRST_SECTOR], REGS, FIRST_SECTOR, SECTOR,
                                                N_SECTORS, 1000, 0))
        assert self.call("drv_init", self.drv, SECTOR) == OK

    def call(self, name: str, *args: int) -> int | None:
        from unicorn.arm_const import UC_ARM_REG_LR, UC_ARM_REG_R0, UC_ARM_REG_R1, UC_ARM_REG_SP

        for reg, val in zip((UC_ARM_REG_R0, UC_ARM_REG_R1), args):
            self.uc.reg_write(reg, val)
        self.uc.reg_write(UC_ARM_REG_SP, RAM + RAM_SIZE - 0x100)
        self.uc.reg_write(UC_ARM_REG_LR, RET | 1)
        self.uc.emu_start(self.symbols[name] | 1, RET, count=50_000_000)
        return None if self.flash.dead else self.uc.reg_read(UC_ARM_REG_R0)

    # drv_t: flash (7 words), storage (ctx, read, erase, write, bank_size, erase_size, write_unit),
    # info (sequence, bank, valid_banks, erase_count_a, erase_count_b), payload_len, payload
    INFO, LEN, DATA = 4 * (7 + 7), 4 * (7 + 7 + 5), 4 * (7 + 7 + 5 + 1)

    def commit(self, seed: int) -> int | None:
        self.uc.mem_write(self.drv + self.LEN, struct.pack("<I", PAYLOAD))
        status = self.call("drv_commit", self.drv, seed)
        assert self.flash.dead or self.flash.cr & LOCK, "the port leaves FLASH_CR unlocked"
        return status

    def load(self) -> tuple[int, int, bytes]:
        self.uc.mem_write(self.drv + self.LEN, struct.pack("<I", PAYLOAD))
        status = self.call("drv_load", self.drv)
        seq = struct.unpack("<I", self.uc.mem_read(self.drv + self.INFO, 4))[0]
        return status, seq, bytes(self.uc.mem_read(self.drv + self.DATA, PAYLOAD))


def payload(seed: int) -> bytes:
    x, out = seed or 1, bytearray()
    for _ in range(PAYLOAD):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        out.append(x >> 24)
    return bytes(out)


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    from conftest import require_tool

    pytest.importorskip("unicorn")
    arm_cc = require_tool("arm-none-eabi-gcc")
    out = tmp_path_factory.mktemp("f4")
    elf, image = out / "f4.elf", out / "f4.bin"
    sources = [SRC / "et_storage_stm32f4.c", SRC / "et_storage.c", SRC / "et_crc32.c", SRC / "et_status.c",
               ROOT / "tests" / "c_storage" / "f4_driver.c"]
    subprocess.run([arm_cc, *STRICT, *M4F, f"-I{INC}", "-nostdlib", "-nostartfiles",
                    f"-Wl,-T,{ROOT / 'tests' / 'c' / 'unicorn_m4.ld'}", "-Wl,--no-warn-rwx-segments", "-Wl,-e,drv_init",
                    *map(str, sources), "-lc", "-lgcc", "-o", str(elf)], check=True, capture_output=True, text=True)
    subprocess.run([arm_cc.replace("gcc", "objcopy"), "-O", "binary", str(elf), str(image)], check=True)
    nm = subprocess.run([arm_cc.replace("gcc", "nm"), str(elf)], capture_output=True, text=True, check=True)
    symbols = {p[2]: int(p[0], 16) for p in (ln.split() for ln in nm.stdout.splitlines()) if len(p) == 3}
    return image, symbols


def test_commit_and_load_through_the_flash_interface(image) -> None:
    flash = F4Flash()
    chip = Chip(*image, flash)
    assert chip.load()[0] == STORAGE_EMPTY  # fresh (erased) flash
    assert chip.commit(11) == OK and chip.commit(22) == OK
    rebooted = Chip(*image, flash)
    status, seq, data = rebooted.load()
    assert status == OK and data == payload(22) and seq == 2
    assert flash.bit_sets == 0  # the store programs erased flash only
    # the banks sit where the port was told: sector 1 and sector 2
    lo = SECTOR_START[1] - FLASH_BASE
    assert flash.mem[lo:lo + 4] == b"ETWB" and flash.mem[lo + SECTOR:lo + SECTOR + 4] == b"ETWB"


@pytest.mark.parametrize("torn", [False, True], ids=["clean cut", "torn cut"])
def test_a_power_cut_at_every_step_of_a_commit_keeps_a_valid_commit(image, torn: bool) -> None:
    base = F4Flash()
    chip = Chip(*image, base)
    assert chip.commit(11) == OK and chip.commit(22) == OK
    snapshot = bytes(base.mem)
    ops_before = base.operations
    assert chip.commit(33) == OK
    steps = base.operations - ops_before  # the erase of the bank, then every word programmed
    assert steps > PAYLOAD // 4
    seen = set()
    for k in range(steps):
        flash = F4Flash()
        flash.mem[:] = snapshot
        flash.torn = torn
        flash.rng = np.random.default_rng(k)
        flash.cut_after = k
        chip = Chip(*image, flash)
        assert chip.commit(33) is None  # the power failed during the commit
        status, seq, data = Chip(*image, flash).load()
        assert status == OK, (k, status)
        assert (seq, data) in ((2, payload(22)), (3, payload(33))), (k, seq)
        seen.add(seq)
    # A clean cut lets the interrupted word land: cut in the header's last word, the new commit is
    # complete. A torn one leaves that word half programmed, so the CRC rejects it.
    assert seen == ({2} if torn else {2, 3}) or seen == {2, 3}


def test_controller_errors_fail_the_commit_and_keep_the_old_one(image) -> None:
    flash = F4Flash()
    chip = Chip(*image, flash)
    assert chip.commit(11) == OK
    flash.protected.add(FIRST_SECTOR + 1)  # the next commit's bank (B) is write-protected
    assert chip.commit(22) == STORAGE_IO
    status, _, data = Chip(*image, flash).load()
    assert status == OK and data == payload(11)
    flash.protected.clear()
    flash.stuck_busy = True  # a controller that never finishes: the port gives up after its polls
    assert chip.commit(22) == STORAGE_IO
    flash.stuck_busy = False
    assert Chip(*image, flash).load()[2] == payload(11)


def test_the_port_compiles_warning_free_for_m3_and_m4(tmp_path: Path) -> None:
    from conftest import require_tool

    arm_cc = require_tool("arm-none-eabi-gcc")
    for flags in (["-mcpu=cortex-m3", "-mthumb"], M4F):
        r = subprocess.run([arm_cc, *STRICT, *flags, f"-I{INC}", "-c", str(SRC / "et_storage_stm32f4.c"),
                            "-o", str(tmp_path / "f4.o")], capture_output=True, text=True)
        assert r.returncode == 0 and not r.stderr, r.stderr

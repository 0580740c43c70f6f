"""C runtime kernels against the numpy references.

* Host: tests/c/kernel_driver.c is built with gcc (strict warnings, -ffp-contract=off), once
  normally and once under ASan+UBSan, and fed binary files; int8 results must equal
  edgetrain.quantize.int8 bit for bit, float results agree to 1e-5 of the terms' magnitude.
* Cross: every runtime source compiles warning-free for Cortex-M3 and Cortex-M4F.
* DSP path: the Cortex-M4 build (SMLAD inline assembly, VLDM/VFMA float loop) runs in the unicorn
  Cortex-M4 emulator and must equal the same references; its instruction counts per MAC on a
  256x256 layer are checked against the project's goals.
"""
from __future__ import annotations

import functools
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgetrain.quantize import int8 as quant

from helpers import INC, M3, M4F, ROOT, SRC, STRICT, build_parity_driver, f32, i32

DRIVER = ROOT / "tests" / "c" / "kernel_driver.c"
UNICORN_LD = ROOT / "tests" / "c" / "unicorn_m4.ld"



def runtime_sources() -> list[Path]:
    return sorted(SRC.glob("*.c"))


@functools.lru_cache(maxsize=None)
def build_driver(cc: str, sanitize: bool, out_dir: str) -> Path:
    exe = Path(out_dir) / ("kernel_driver_san" if sanitize else "kernel_driver")
    return build_parity_driver(cc, DRIVER, runtime_sources(), exe, sanitize)


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("cbuild"))


@pytest.fixture(params=[False, True], ids=["O2", "asan-ubsan"])
def driver(request: pytest.FixtureRequest, host_cc: str, build_dir: str) -> Path:
    return build_driver(host_cc, request.param, build_dir)




def run(driver: Path, op: str, payload: bytes, tmp_path: Path, ok: bool = True) -> bytes:
    inp, out = tmp_path / f"{op}.in", tmp_path / f"{op}.out"
    inp.write_bytes(payload)
    out.unlink(missing_ok=True)
    res = subprocess.run([str(driver), op, str(inp), str(out)], capture_output=True, text=True)
    if ok:
        assert res.returncode == 0, f"{op} failed ({res.returncode}): {res.stderr}"
        return out.read_bytes()
    assert res.returncode == 1 and "runtime error" not in res.stderr, res.stderr
    return b""


# --- random int8 dense cases ---------------------------------------------------------------------


def dense_case(rng: np.random.Generator, batch: int, n_in: int, n_out: int, per_channel: bool,
               act: str | None, with_bias: bool = True) -> dict:
    in_zp = int(rng.integers(-128, 128))
    out_scale = float(rng.uniform(0.02, 0.2))
    out_zp = int(rng.integers(-128, 128))
    w_scales = rng.uniform(0.002, 0.02, n_out if per_channel else 1)
    mults, shifts = quant.dense_requant_params(float(rng.uniform(0.01, 0.1)), w_scales, out_scale)
    act_min, act_max = quant.activation_range(act, out_scale, out_zp)  # type: ignore[arg-type]
    return dict(
        x=rng.integers(-128, 128, (batch, n_in)).astype(np.int8),
        w=rng.integers(-127, 128, (n_out, n_in)).astype(np.int8),
        bias=rng.integers(-20000, 20000, n_out).astype(np.int32) if with_bias else None,
        in_zp=in_zp, out_zp=out_zp, mults=mults, shifts=shifts, act_min=act_min, act_max=act_max,
        per_channel=per_channel,
    )


def dense_expected(c: dict) -> np.ndarray:
    return quant.dense_s8_reference(c["x"], c["w"], c["bias"], c["in_zp"], c["out_zp"],
                                    c["mults"], c["shifts"], c["act_min"], c["act_max"])


def dense_payload(c: dict, eff: bool) -> bytes:
    batch, n_in = c["x"].shape
    n_out = c["w"].shape[0]
    head = i32(batch, n_in, n_out, -c["in_zp"], c["out_zp"], c["act_min"], c["act_max"],
               int(c["per_channel"]), int(c["bias"] is not None), int(eff))
    parts = [head, c["x"].tobytes(), c["w"].tobytes()]
    if c["bias"] is not None:
        parts.append(c["bias"].tobytes())
    parts += [c["mults"].astype("<i4").tobytes(), c["shifts"].astype("<i4").tobytes()]
    if eff:
        parts.append(quant.effective_bias(c["bias"], c["w"], c["in_zp"]).tobytes())
    return b"".join(parts)


DENSE_SHAPES = [(1, 1, 1), (1, 3, 5), (2, 7, 4), (1, 13, 9), (3, 33, 6), (1, 64, 10), (2, 37, 17),
                (1, 256, 12)]


@pytest.mark.parametrize("per_channel", [False, True], ids=["per-tensor", "per-channel"])
@pytest.mark.parametrize("act", [None, "relu", "relu6"])
def test_dense_s8_bit_exact(driver: Path, tmp_path: Path, per_channel: bool, act: str | None) -> None:
    rng = np.random.default_rng(hash((per_channel, act)) % 2**32)
    for batch, n_in, n_out in DENSE_SHAPES:
        c = dense_case(rng, batch, n_in, n_out, per_channel, act, with_bias=n_in != 13)
        want = dense_expected(c).reshape(-1)
        for op, eff in (("dense_s8_ref", False), ("dense_s8", False), ("dense_s8", True)):
            got = np.frombuffer(run(driver, op, dense_payload(c, eff), tmp_path), np.int8)
            assert (got == want).all(), f"{op} eff={eff} shape={(batch, n_in, n_out)}"


def test_dense_s8_saturates_at_int8_ends(driver: Path, tmp_path: Path) -> None:
    m, s = quant.quantize_multiplier(0.9)
    c = dict(x=np.array([[127, -128, 127]], np.int8),
             w=np.array([[127, -127, 127], [-127, 127, -127], [0, 0, 0]], np.int8),
             bias=np.array([0, 0, -5], np.int32), in_zp=-128, out_zp=127,
             mults=np.array([m], np.int32), shifts=np.array([s], np.int32),
             act_min=-128, act_max=127, per_channel=False)
    want = dense_expected(c).reshape(-1)
    # 255*254*0.9 saturates high and low; -5*0.9 = -4.5 rounds half up to -4 in the high multiply.
    assert want.tolist() == [127, -128, 123]
    for op in ("dense_s8_ref", "dense_s8"):
        got = np.frombuffer(run(driver, op, dense_payload(c, False), tmp_path), np.int8)
        assert got.tolist() == want.tolist()


# --- requantization primitive in C ---------------------------------------------------------------


def test_c_requant_matches_numpy(driver: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    n = 4000
    x = np.concatenate([rng.integers(-2**31, 2**31, n, dtype=np.int64),
                        [-2**31, -2**31, 2**31 - 1, 2**31 - 1, 0, -1, 1]])
    m = np.concatenate([rng.integers(0, 2**31, n // 2, dtype=np.int64),
                        rng.integers(-2**31 + 1, 0, n - n // 2, dtype=np.int64),
                        [-2**31, 2**31 - 1, 2**31 - 1, -2**31, 2**30, 2**30, 2**30]])
    s = np.concatenate([rng.integers(-31, 31, n, dtype=np.int64), [0, 30, 30, -31, -1, -1, -31]])
    payload = i32(len(x)) + x.astype("<i4").tobytes() + m.astype("<i4").tobytes() + s.astype("<i4").tobytes()
    out = np.frombuffer(run(driver, "requant", payload, tmp_path), "<i4").astype(np.int64)
    assert (out[: len(x)] == quant.multiply_by_quantized_multiplier(x, m, s)).all()
    assert (out[len(x):] == quant.saturating_rounding_doubling_high_mul(x, m)).all()


# --- float dense ---------------------------------------------------------------------------------


def dense_f32_check(y: np.ndarray, x: np.ndarray, w: np.ndarray, b: np.ndarray | None,
                    lo: float, hi: float) -> None:
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    b64 = np.zeros(w.shape[0]) if b is None else b.astype(np.float64)
    want = np.clip(x64 @ w64.T + b64, lo, hi)
    # Relative to the magnitude of the summed terms: the float32 rounding error bound of a dot
    # product, which a plain elementwise rtol cannot give for outputs near zero.
    scale = np.abs(x64) @ np.abs(w64).T + np.abs(b64)
    assert np.all(np.abs(y.reshape(want.shape) - want) <= 1e-5 * scale + 1e-30)


@pytest.mark.parametrize("act", [(-3.4e38, 3.4e38), (0.0, 3.4e38), (0.0, 6.0)], ids=["none", "relu", "relu6"])
def test_dense_f32_matches_numpy(driver: Path, tmp_path: Path, act: tuple[float, float]) -> None:
    rng = np.random.default_rng(11)
    for batch, n_in, n_out in DENSE_SHAPES + [(1, 40, 8), (2, 16, 5)]:
        x = (rng.standard_normal((batch, n_in)) * 2).astype(np.float32)
        w = rng.standard_normal((n_out, n_in)).astype(np.float32)
        b = rng.standard_normal(n_out).astype(np.float32) if n_in != 13 else None
        payload = i32(batch, n_in, n_out, int(b is not None)) + f32(*act) + x.tobytes() + w.tobytes()
        payload += b.tobytes() if b is not None else b""
        for op in ("dense_f32_ref", "dense_f32"):
            y = np.frombuffer(run(driver, op, payload, tmp_path), np.float32)
            dense_f32_check(y, x, w, b, *act)


# --- elementwise, add, argmax, softmax -----------------------------------------------------------


def test_relu_and_relu6(driver: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    xf = (rng.standard_normal(101) * 5).astype(np.float32)
    got = np.frombuffer(run(driver, "relu_f32", i32(101) + xf.tobytes(), tmp_path), np.float32)
    assert (got == np.maximum(xf, 0)).all()
    got = np.frombuffer(run(driver, "relu6_f32", i32(101) + xf.tobytes(), tmp_path), np.float32)
    assert (got == np.clip(xf, 0, 6)).all()
    x8 = rng.integers(-128, 128, 99).astype(np.int8)
    for zp, six in ((-128, -68), (127, 200), (0, 60)):
        got = np.frombuffer(run(driver, "relu_s8", i32(99, zp, 0) + x8.tobytes(), tmp_path), np.int8)
        assert (got == np.maximum(x8, zp)).all()
        got = np.frombuffer(run(driver, "relu6_s8", i32(99, zp, six) + x8.tobytes(), tmp_path), np.int8)
        assert (got == np.clip(x8, zp, min(six, 127))).all()


@pytest.mark.parametrize("zps", [(-128, 127, -128), (127, -128, 127), (3, -7, 0)])
def test_add_s8_bit_exact(driver: Path, tmp_path: Path, zps: tuple[int, int, int]) -> None:
    rng = np.random.default_rng(sum(zps) + 500)
    n = 257
    for s1, s2, so, act in ((0.05, 0.02, 0.06, None), (0.5, 0.5, 0.01, "relu"), (1e-3, 0.3, 0.2, "relu6")):
        lo, hi = quant.activation_range(act, so, zps[2])  # type: ignore[arg-type]
        p = quant.add_s8_params(s1, zps[0], s2, zps[1], so, zps[2], lo, hi)
        a = rng.integers(-128, 128, n).astype(np.int8)
        b = rng.integers(-128, 128, n).astype(np.int8)
        payload = i32(n, p.input1_offset, p.input2_offset, p.output_offset, p.left_shift,
                      p.input1_multiplier, p.input1_shift, p.input2_multiplier, p.input2_shift,
                      p.output_multiplier, p.output_shift, p.act_min, p.act_max)
        got = np.frombuffer(run(driver, "add_s8", payload + a.tobytes() + b.tobytes(), tmp_path), np.int8)
        assert (got == quant.add_s8_reference(a, b, p)).all()


def test_add_f32_argmax_softmax(driver: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    a = rng.standard_normal(33).astype(np.float32)
    b = rng.standard_normal(33).astype(np.float32)
    got = np.frombuffer(run(driver, "add_f32", i32(33) + f32(0.0, 1.5) + a.tobytes() + b.tobytes(), tmp_path), np.float32)
    assert (got == np.clip(a + b, 0, 1.5)).all()
    v = np.array([1.0, 5.0, -2.0, 5.0], np.float32)  # tie: first index wins, as numpy
    assert struct.unpack("<i", run(driver, "argmax_f32", i32(4) + v.tobytes(), tmp_path))[0] == 1
    v8 = np.array([-128, -5, 100, 100, 7], np.int8)
    assert struct.unpack("<i", run(driver, "argmax_s8", i32(5, 0, 0) + v8.tobytes(), tmp_path))[0] == 2
    big = np.array([1000.0, 999.0, -1000.0, 0.0], np.float32)  # exp(1000) overflows without the max shift
    got = np.frombuffer(run(driver, "softmax_f32", i32(4) + big.tobytes(), tmp_path), np.float32)
    e = np.exp(big.astype(np.float64) - 1000.0)
    np.testing.assert_allclose(got, e / e.sum(), rtol=1e-5, atol=1e-7)
    assert abs(float(got.sum()) - 1.0) < 1e-6


def test_status_strings_and_error_paths(driver: Path, tmp_path: Path) -> None:
    lines = run(driver, "errors", b"", tmp_path).decode().splitlines()
    assert lines == ["ET_OK", "ET_ERR_NULL_ARG", "ET_ERR_BAD_SHAPE", "ET_ERR_BAD_PARAM",
                     "ET_ERR_BAD_PARAM", "ET_ERR_BAD_SHAPE", "ET_ERR_BAD_PARAM", "ET_ERR_NULL_ARG",
                     "ET_UNKNOWN", "ET_UNKNOWN"]
    bad = i32(1, 4, 4, 0, 0, 10, 5, 0, 0, 0) + bytes(4 + 16) + i32(1 << 30, 0)  # act_min > act_max
    run(driver, "dense_s8", bad, tmp_path, ok=False)


# --- cross compilation ---------------------------------------------------------------------------


@pytest.mark.cross
@pytest.mark.parametrize("cpu", [M3, M4F], ids=["cortex-m3", "cortex-m4f"])
def test_runtime_cross_compiles_warning_free(arm_cc: str, tmp_path: Path, cpu: list[str]) -> None:
    for src in runtime_sources():
        res = subprocess.run([arm_cc, *STRICT, *cpu, f"-I{INC}", "-c", str(src),
                              "-o", str(tmp_path / (src.stem + ".o"))], capture_output=True, text=True)
        assert res.returncode == 0 and not res.stderr, f"{src.name}: {res.stderr}"
    # The DSP fast path is really compiled for M4 (and absent for M3).
    asm = subprocess.run([arm_cc, *STRICT, *cpu, f"-I{INC}", "-S", "-o", "-", str(SRC / "et_dense_s8.c")],
                         capture_output=True, text=True, check=True).stdout
    assert ("smlad" in asm) == (cpu is M4F)


# --- Cortex-M4 fast paths under unicorn ----------------------------------------------------------


class M4Runner:
    """Runs functions of a flat Cortex-M4 image in unicorn, counting executed instructions."""

    RAM = 0x2000_0000
    RAM_SIZE = 0x40_0000
    RET = 0x000F_FF00

    def __init__(self, arm_cc: str, out_dir: Path) -> None:
        from unicorn import UC_ARCH_ARM, UC_HOOK_CODE, UC_MODE_MCLASS, UC_MODE_THUMB, Uc
        from unicorn.arm_const import UC_CPU_ARM_CORTEX_M4

        elf, image = out_dir / "kernels.elf", out_dir / "kernels.bin"
        srcs = [SRC / n for n in ("et_dense_s8.c", "et_dense_s8_ref.c", "et_dense_f32.c",
                                  "et_dense_f32_ref.c", "et_status.c")]
        # Production flags: -O2, fused multiply-add allowed (the float kernel uses VFMA anyway).
        subprocess.run([arm_cc, *STRICT, *M4F, f"-I{INC}", "-nostdlib", "-nostartfiles",
                        f"-Wl,-T,{UNICORN_LD}", "-Wl,--no-warn-rwx-segments", *map(str, srcs),
                        "-lgcc", "-o", str(elf)], check=True, capture_output=True, text=True)
        objcopy = arm_cc.replace("gcc", "objcopy")
        nm = arm_cc.replace("gcc", "nm")
        subprocess.run([objcopy, "-O", "binary", str(elf), str(image)], check=True)
        self.symbols = {}
        for line in subprocess.run([nm, str(elf)], capture_output=True, text=True, check=True).stdout.splitlines():
            parts = line.split()
            if len(parts) == 3:
                self.symbols[parts[2]] = int(parts[0], 16)
        self.uc = Uc(UC_ARCH_ARM, UC_MODE_THUMB | UC_MODE_MCLASS)
        self.uc.ctl_set_cpu_model(UC_CPU_ARM_CORTEX_M4)
        self.uc.mem_map(0, 0x10_0000)
        self.uc.mem_write(0, image.read_bytes())
        self.uc.mem_map(self.RAM, self.RAM_SIZE)
        self.count = 0

        def on_insn(_uc: object, _addr: int, _size: int, _data: object) -> None:
            self.count += 1

        self.uc.hook_add(UC_HOOK_CODE, on_insn)
        self._next = self.RAM

    def alloc(self, data: bytes) -> int:
        addr = self._next
        self.uc.mem_write(addr, data)
        # 8-byte alignment like an arena; +1 byte offset tests unaligned rows elsewhere.
        self._next = (addr + len(data) + 7) & ~7
        assert self._next < self.RAM + self.RAM_SIZE - 0x1000
        return addr

    def reset_heap(self) -> None:
        self._next = self.RAM

    def call(self, name: str, *args: int) -> tuple[int, int]:
        from unicorn.arm_const import (UC_ARM_REG_LR, UC_ARM_REG_R0, UC_ARM_REG_R1, UC_ARM_REG_R2,
                                       UC_ARM_REG_R3, UC_ARM_REG_SP)

        sp = self.RAM + self.RAM_SIZE - 0x100
        self.uc.mem_write(sp, struct.pack(f"<{max(len(args) - 4, 0)}I", *args[4:]))
        for reg, val in zip((UC_ARM_REG_R0, UC_ARM_REG_R1, UC_ARM_REG_R2, UC_ARM_REG_R3), args[:4]):
            self.uc.reg_write(reg, val)
        self.uc.reg_write(UC_ARM_REG_SP, sp)
        self.uc.reg_write(UC_ARM_REG_LR, self.RET | 1)
        self.count = 0
        self.uc.emu_start(self.symbols[name] | 1, self.RET)
        return self.uc.reg_read(UC_ARM_REG_R0), self.count

    def read(self, addr: int, n: int) -> bytes:
        return bytes(self.uc.mem_read(addr, n))


@pytest.fixture(scope="module")
def m4(tmp_path_factory: pytest.TempPathFactory) -> M4Runner:
    from conftest import require_tool

    pytest.importorskip("unicorn")
    return M4Runner(require_tool("arm-none-eabi-gcc"), tmp_path_factory.mktemp("m4"))


def m4_dense_s8(m4: M4Runner, fn: str, c: dict, eff: bool, misalign: int = 0) -> tuple[np.ndarray, int]:
    m4.reset_heap()
    batch, n_in = c["x"].shape
    n_out = c["w"].shape[0]
    x = m4.alloc(bytes(misalign) + c["x"].tobytes()) + misalign
    w = m4.alloc(bytes(misalign) + c["w"].tobytes()) + misalign
    bias = m4.alloc(c["bias"].tobytes()) if c["bias"] is not None else 0
    mults = m4.alloc(c["mults"].astype("<i4").tobytes())
    shifts = m4.alloc(c["shifts"].astype("<i4").tobytes())
    eff_ptr = m4.alloc(quant.effective_bias(c["bias"], c["w"], c["in_zp"]).tobytes()) if eff else 0
    params = m4.alloc(struct.pack("<8i3I", batch, n_in, n_out, -c["in_zp"], c["out_zp"], c["act_min"],
                                  c["act_max"], int(c["per_channel"]), mults, shifts, eff_ptr))
    y = m4.alloc(bytes(batch * n_out))
    status, count = m4.call(fn, params, x, w, bias, y)
    assert status == 0
    return np.frombuffer(m4.read(y, batch * n_out), np.int8), count


@pytest.mark.cross
@pytest.mark.parametrize("per_channel", [False, True], ids=["per-tensor", "per-channel"])
def test_m4_dsp_dense_s8_bit_exact(m4: M4Runner, per_channel: bool) -> None:
    rng = np.random.default_rng(99 + per_channel)
    shapes = DENSE_SHAPES + [(1, 36, 8), (1, 44, 5), (2, 60, 7), (1, 97, 4)]  # all 32/16/8/4 tails
    for i, (batch, n_in, n_out) in enumerate(shapes):
        act = (None, "relu", "relu6")[i % 3]
        c = dense_case(rng, batch, n_in, n_out, per_channel, act, with_bias=i % 4 != 1)
        want = dense_expected(c).reshape(-1)
        for fn, eff in (("et_dense_s8_ref", False), ("et_dense_s8", False), ("et_dense_s8", True)):
            got, _ = m4_dense_s8(m4, fn, c, eff, misalign=i % 4)
            assert (got == want).all(), f"{fn} eff={eff} shape={(batch, n_in, n_out)}"


def m4_dense_f32(m4: M4Runner, fn: str, x: np.ndarray, w: np.ndarray, b: np.ndarray,
                 lo: float, hi: float) -> tuple[np.ndarray, int]:
    m4.reset_heap()
    batch, n_in = x.shape
    n_out = w.shape[0]
    px, pw, pb = m4.alloc(x.tobytes()), m4.alloc(w.tobytes()), m4.alloc(b.tobytes())
    params = m4.alloc(struct.pack("<3i2f", batch, n_in, n_out, lo, hi))
    y = m4.alloc(bytes(4 * batch * n_out))
    status, count = m4.call(fn, params, px, pw, pb, y)
    assert status == 0
    return np.frombuffer(m4.read(y, 4 * batch * n_out), np.float32), count


@pytest.mark.cross
def test_m4_fpu_dense_f32_matches_numpy(m4: M4Runner) -> None:
    rng = np.random.default_rng(12)
    for i, (batch, n_in, n_out) in enumerate(DENSE_SHAPES + [(1, 40, 8), (2, 16, 5), (1, 24, 7)]):
        lo, hi = ((-3.4e38, 3.4e38), (0.0, 3.4e38), (0.0, 6.0))[i % 3]
        x = (rng.standard_normal((batch, n_in)) * 2).astype(np.float32)
        w = rng.standard_normal((n_out, n_in)).astype(np.float32)
        b = rng.standard_normal(n_out).astype(np.float32)
        for fn in ("et_dense_f32_ref", "et_dense_f32"):
            y, _ = m4_dense_f32(m4, fn, x, w, b, lo, hi)
            dense_f32_check(y, x, w, b, lo, hi)


# Goals from the firmware-export issue (instructions per MAC on a 256x256 layer, Cortex-M4).
INT8_GOAL = 1.65
F32_GOAL = 2.2


@pytest.mark.cross
def test_m4_instructions_per_mac_256x256(m4: M4Runner, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(256)
    macs = 256 * 256
    rows = []
    for per_channel in (False, True):
        c = dense_case(rng, 1, 256, 256, per_channel, "relu")
        want = dense_expected(c).reshape(-1)
        for fn, eff in (("et_dense_s8_ref", False), ("et_dense_s8", True), ("et_dense_s8", False)):
            got, count = m4_dense_s8(m4, fn, c, eff)
            assert (got == want).all()
            rows.append((f"{fn} {'per-channel' if per_channel else 'per-tensor'} eff_bias={eff}", count))
            if fn == "et_dense_s8":
                assert count / macs <= INT8_GOAL, rows[-1]
    x = rng.standard_normal((1, 256)).astype(np.float32)
    w = rng.standard_normal((256, 256)).astype(np.float32)
    b = rng.standard_normal(256).astype(np.float32)
    for fn in ("et_dense_f32_ref", "et_dense_f32"):
        y, count = m4_dense_f32(m4, fn, x, w, b, 0.0, 3.4e38)
        dense_f32_check(y, x, w, b, 0.0, 3.4e38)
        rows.append((fn, count))
        if fn == "et_dense_f32":
            assert count / macs <= F32_GOAL, rows[-1]
    with capsys.disabled():
        print("\nCortex-M4 (unicorn) instructions on a 256x256 dense layer:")
        for name, count in rows:
            print(f"  {name:55s} {count:8d}  {count / macs:.3f} instr/MAC")

"""Clustered dense kernels with bit-packed indices: firmware_export/include/et_cluster.h and
edgetrain/formats/packed.py.

* packed.py: pack/unpack round trip at every width and odd shapes, the layout's bit positions,
  sizes within the contract's bound, index_bits / packed_bytes and their errors, the pair table.
* Host (tests/c_cluster/cluster_driver.c; -O2 and ASan+UBSan, -ffp-contract=off): for 1, 2, 3 and
  4 bits, n_in 1, 7, 33, 64 (and 100, 256), n_out 1, 5, 10, batch 1 and 3, per-tensor and
  per-channel, with and without bias: et_dense_s8_cluster (with and without the pair table, with
  eff_bias) and et_dense_s8_cluster_ref equal et_dense_s8_ref on the expanded weights and the numpy
  int8 reference bit for bit; et_dense_f32_cluster and _ref equal et_dense_f32_ref on the expanded
  weights and a float32 emulation of its summation order bit for bit.
* Units: every argument check and status code, et_cluster_indices_check (an index >= k, a set
  padding bit), et_cluster_s8_pairs against packed.pair_table.
* Cortex-M4 (unicorn, the bench's image): the DSP paths (inline assembly at 4 bits, every
  unrolled remainder) are bit-exact too.
* The new sources cross-compile warning-free for Cortex-M3 and Cortex-M4F, reference nothing but
  the runtime and memcpy/memset, and use SMLAD on M4 only.
"""

from __future__ import annotations

import functools
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgetrain.errors import InvalidModelError
from edgetrain.formats import packed
from edgetrain.quantize import int8 as quant

from helpers import INC, M3, M4F, ROOT, SRC, compile_c, f32, i32, load_bench

DRIVER = ROOT / "tests" / "c_cluster" / "cluster_driver.c"
DRIVER_IO = ROOT / "tests" / "c"
STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2", "-ffp-contract=off"]
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-g"]
CROSS = ["-O2", "-Werror", "-Wall", "-Wextra", "-pedantic", "-std=c99", "-c"]

NEW_SOURCES = ["et_dense_f32_cluster.c", "et_dense_f32_cluster_ref.c", "et_dense_s8_cluster.c",
               "et_dense_s8_cluster_ref.c"]
LINKED = [*NEW_SOURCES, "et_dense_s8_ref.c", "et_dense_f32_ref.c", "et_status.c"]
F32_MAX = float(np.finfo(np.float32).max)

SHAPES = [(b, n_in, n_out) for n_in in (1, 7, 33, 64) for n_out in (1, 5, 10) for b in (1, 3)]
SHAPES += [(1, 100, 6), (2, 256, 9)]


# ---------------------------------------------------------------- packed.py


@pytest.mark.parametrize("bits", packed.BITS)
def test_pack_unpack_round_trip(bits: int) -> None:
    rng = np.random.default_rng(bits)
    for n_out, n_in in [(1, 1), (1, 2), (3, 3), (2, 5), (5, 7), (4, 31), (2, 32), (3, 33), (1, 97), (7, 256)]:
        idx = rng.integers(0, 1 << bits, (n_out, n_in))
        words = packed.pack_indices(idx, bits)
        assert words.dtype == np.uint32 and words.ndim == 1
        assert words.size * 4 == packed.packed_bytes(n_out, n_in, bits) == n_out * 4 * packed.row_words(n_in, bits)
        # The contract's bound: at most ceil(n_in * bits / 32) + 1 words per row.
        assert packed.row_words(n_in, bits) <= -(-n_in * bits // 32) + 1
        assert np.array_equal(packed.unpack_indices(words, bits, n_out, n_in), idx)
    # Indices filling the words exactly: 4 * bits * groups a multiple of 32 is the minimum.
    assert packed.row_words(256, bits) == 256 * bits // 32


def test_layout_bit_positions() -> None:
    """Inputs 0..7 at 4 bits: fields in the order 0, 2, 1, 3 per group of four, LSB first."""
    words = packed.pack_indices(np.array([[1, 2, 3, 4, 5, 6, 7, 8]]), 4)
    assert words.tolist() == [0x86754231]
    # 3 bits, 5 inputs: group 0 (12 bits) then input 4 in field 0 of group 1; padding 0.
    w3 = packed.pack_indices(np.array([[1, 2, 3, 4, 5]]), 3)
    assert w3.tolist() == [1 | 3 << 3 | 2 << 6 | 4 << 9 | 5 << 12]
    # Rows are word-aligned: a second row starts a new word.
    two = packed.pack_indices(np.array([[1], [1]]), 1)
    assert two.tolist() == [1, 1]
    # 3-bit groups straddle words: group 2 is at stream bits 24..35.
    idx = np.zeros((1, 12), np.int64)
    idx[0, 9] = 7  # group 2, input 1 -> field 2: bits 30..32
    w = packed.pack_indices(idx, 3)
    assert w.tolist() == [0xC000_0000, 0x1]


def test_index_bits_and_errors() -> None:
    assert [packed.index_bits(k) for k in (2, 3, 4, 5, 8, 9, 16, 17, 256)] == [1, 2, 2, 3, 3, 4, 4, 5, 8]
    for bad in (0, 1, 257, -3, 2.0, True):
        with pytest.raises(InvalidModelError) as e:
            packed.index_bits(bad)  # type: ignore[arg-type]
        assert e.value.hint
    for bad_bits in (0, 5, 8):
        with pytest.raises(InvalidModelError):
            packed.pack_indices(np.zeros((1, 4), np.int64), bad_bits)
        with pytest.raises(InvalidModelError):
            packed.packed_bytes(1, 4, bad_bits)
    with pytest.raises(InvalidModelError):
        packed.pack_indices(np.array([[0, 4]]), 2)  # out of range for 2 bits
    with pytest.raises(InvalidModelError):
        packed.pack_indices(np.array([[-1, 0]]), 2)
    with pytest.raises(InvalidModelError):
        packed.pack_indices(np.zeros(4, np.int64), 2)  # not 2-D
    with pytest.raises(InvalidModelError):
        packed.pack_indices(np.zeros((2, 4)), 2)  # not integer
    with pytest.raises(InvalidModelError):
        packed.unpack_indices(np.zeros(3, np.uint32), 4, 2, 8)  # wrong word count
    with pytest.raises(InvalidModelError):
        packed.packed_bytes(0, 4, 2)
    with pytest.raises(InvalidModelError):
        packed.pair_table(np.array([1, 2, 3], np.int8), 1)  # k > 2 ** bits
    with pytest.raises(InvalidModelError):
        packed.pair_table(np.array([1, 2], np.int16), 1)  # not int8


def test_pair_table() -> None:
    cb = np.array([-128, 5, 127], np.int8)
    t = packed.pair_table(cb, 2)
    assert t.dtype == np.uint32 and t.size == 16
    assert t[0 | 1 << 2] == (0xFF80 | 5 << 16)
    assert t[2 | 0 << 2] == (127 | 0xFF80 << 16)
    assert t[3] == 0xFF80 << 16  # index 3 >= k: lane 0
    assert packed.pair_table(np.arange(16, dtype=np.int8), 4).nbytes == 1024


# ---------------------------------------------------------------- host builds


@functools.lru_cache(maxsize=None)
def build(cc: str, sanitize: bool, out_dir: str) -> Path:
    exe = Path(out_dir) / ("cluster_driver" + ("_san" if sanitize else ""))
    cmd = [cc, *STRICT, *(SANITIZE if sanitize else []), f"-I{INC}", f"-I{DRIVER_IO}", str(DRIVER),
           *(str(SRC / s) for s in LINKED), "-lm", "-o", str(exe)]
    return compile_c(cmd, exe)


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("ccluster"))


@pytest.fixture(params=[False, True], ids=["O2", "asan-ubsan"])
def exe(request: pytest.FixtureRequest, host_cc: str, build_dir: str) -> Path:
    return build(host_cc, request.param, build_dir)


def run(exe: Path, op: str, payload: bytes, tmp_path: Path) -> bytes:
    inp, out = tmp_path / f"{op}.in", tmp_path / f"{op}.out"
    inp.write_bytes(payload)
    res = subprocess.run([str(exe), op, str(inp), str(out)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, f"{op} failed ({res.returncode}): {res.stdout}\n{res.stderr}"
    return out.read_bytes()


def s8_case(rng: np.random.Generator, bits: int, batch: int, n_in: int, n_out: int, per_channel: bool,
            act: str | None, with_bias: bool, k: int | None = None) -> dict:
    k = k if k is not None else int(rng.integers(2, (1 << bits) + 1))
    cb = rng.integers(-128, 128, k).astype(np.int8)
    idx = rng.integers(0, k, (n_out, n_in))
    w = cb[idx]
    in_zp = int(rng.integers(-128, 128))
    out_scale = float(rng.uniform(0.02, 0.2))
    out_zp = int(rng.integers(-128, 128))
    mults, shifts = quant.dense_requant_params(float(rng.uniform(0.01, 0.1)),
                                               rng.uniform(0.002, 0.02, n_out if per_channel else 1), out_scale)
    act_min, act_max = quant.activation_range(act, out_scale, out_zp)  # type: ignore[arg-type]
    bias = rng.integers(-20000, 20000, n_out).astype(np.int32) if with_bias else None
    return dict(bits=bits, k=k, cb=cb, idx=idx, w=w, x=rng.integers(-128, 128, (batch, n_in)).astype(np.int8),
                bias=bias, in_zp=in_zp, out_zp=out_zp, mults=mults, shifts=shifts, act_min=act_min,
                act_max=act_max, per_channel=per_channel, words=packed.pack_indices(idx, bits),
                pairs=packed.pair_table(cb, bits), eff=quant.effective_bias(bias, w, in_zp))


def s8_want(c: dict) -> np.ndarray:
    return quant.dense_s8_reference(c["x"], c["w"], c["bias"], c["in_zp"], c["out_zp"], c["mults"], c["shifts"],
                                    c["act_min"], c["act_max"])


def s8_payload(c: dict) -> bytes:
    batch, n_in = c["x"].shape
    n_out = c["w"].shape[0]
    head = i32(batch, n_in, n_out, -c["in_zp"], c["out_zp"], c["act_min"], c["act_max"], int(c["per_channel"]),
               c["bits"], c["k"], int(c["bias"] is not None))
    parts = [c["x"].tobytes(), c["cb"].tobytes(), c["words"].astype("<u4").tobytes(), c["w"].tobytes()]
    if c["bias"] is not None:
        parts.append(c["bias"].astype("<i4").tobytes())
    parts += [c["mults"].astype("<i4").tobytes(), c["shifts"].astype("<i4").tobytes(),
              c["eff"].astype("<i4").tobytes(), c["pairs"].astype("<u4").tobytes()]
    return head + b"".join(parts)


S8_VARIANTS = ("fast+table", "fast, no table", "fast+table+eff_bias", "ref", "et_dense_s8_ref expanded")


@pytest.mark.parametrize("bits", packed.BITS)
def test_s8_cluster_bit_exact(exe: Path, tmp_path: Path, bits: int) -> None:
    rng = np.random.default_rng(100 + bits)
    for i, (batch, n_in, n_out) in enumerate(SHAPES):
        act = (None, "relu", "relu6")[i % 3]
        k = (1 << bits) if i % 4 == 0 else None  # the full codebook, and smaller ones
        c = s8_case(rng, bits, batch, n_in, n_out, per_channel=i % 2 == 1, act=act, with_bias=i % 5 != 2, k=k)
        want = s8_want(c).reshape(-1)
        got = np.frombuffer(run(exe, "s8", s8_payload(c), tmp_path), np.int8).reshape(5, -1)
        for name, g in zip(S8_VARIANTS, got):
            assert np.array_equal(g, want), f"{name}: bits={bits} shape={(batch, n_in, n_out)} k={c['k']}"


def test_s8_cluster_saturates(exe: Path, tmp_path: Path) -> None:
    """Extreme codebooks and inputs: the largest accumulators, clamps at both int8 ends."""
    rng = np.random.default_rng(7)
    for bits in packed.BITS:
        c = s8_case(rng, bits, 2, 129, 6, per_channel=True, act=None, with_bias=True, k=2)
        c["cb"] = np.array([-128, 127], np.int8)
        c["idx"] = rng.integers(0, 2, c["idx"].shape)
        c["w"] = c["cb"][c["idx"]]
        c["x"] = np.where(rng.random(c["x"].shape) < 0.5, -128, 127).astype(np.int8)
        c["in_zp"] = 127
        c["words"], c["pairs"] = packed.pack_indices(c["idx"], bits), packed.pair_table(c["cb"], bits)
        c["eff"] = quant.effective_bias(c["bias"], c["w"], c["in_zp"])
        want = s8_want(c).reshape(-1)
        got = np.frombuffer(run(exe, "s8", s8_payload(c), tmp_path), np.int8).reshape(5, -1)
        assert set(np.unique(want).tolist()) & {-128, 127}
        for name, g in zip(S8_VARIANTS, got):
            assert np.array_equal(g, want), (name, bits)


def f32_case(rng: np.random.Generator, bits: int, batch: int, n_in: int, n_out: int, with_bias: bool) -> dict:
    k = int(rng.integers(2, (1 << bits) + 1))
    cb = rng.standard_normal(k).astype(np.float32)
    idx = rng.integers(0, k, (n_out, n_in))
    return dict(bits=bits, k=k, cb=cb, idx=idx, w=cb[idx], words=packed.pack_indices(idx, bits),
                x=(rng.standard_normal((batch, n_in)) * 2).astype(np.float32),
                bias=rng.standard_normal(n_out).astype(np.float32) if with_bias else None)


def f32_emulate(c: dict, lo: float, hi: float) -> np.ndarray:
    """et_dense_f32_ref's order in float32: acc = bias, then + x[i] * W[o][i] for i ascending."""
    x, w = c["x"], c["w"]
    acc = np.zeros((x.shape[0], w.shape[0]), np.float32) + (c["bias"] if c["bias"] is not None else np.float32(0))
    for i in range(x.shape[1]):
        acc = (acc + x[:, i : i + 1] * w[:, i]).astype(np.float32)
    return np.where(acc < np.float32(lo), np.float32(lo), np.where(acc > np.float32(hi), np.float32(hi), acc))


@pytest.mark.parametrize("bits", packed.BITS)
def test_f32_cluster_bit_exact(exe: Path, tmp_path: Path, bits: int) -> None:
    rng = np.random.default_rng(200 + bits)
    for i, (batch, n_in, n_out) in enumerate(SHAPES):
        lo, hi = ((-F32_MAX, F32_MAX), (0.0, F32_MAX), (-1.0, 1.5))[i % 3]
        c = f32_case(rng, bits, batch, n_in, n_out, with_bias=i % 5 != 2)
        head = i32(batch, n_in, n_out, bits, c["k"], int(c["bias"] is not None)) + f32(lo, hi)
        parts = [c["x"].tobytes(), c["cb"].tobytes(), c["words"].astype("<u4").tobytes(), c["w"].tobytes()]
        if c["bias"] is not None:
            parts.append(c["bias"].tobytes())
        got = np.frombuffer(run(exe, "f32", head + b"".join(parts), tmp_path), np.float32).reshape(3, -1)
        want = f32_emulate(c, lo, hi).reshape(-1)
        for name, g in zip(("fast", "ref", "et_dense_f32_ref expanded"), got):
            assert g.tobytes() == want.tobytes(), f"{name}: bits={bits} shape={(batch, n_in, n_out)}"


def test_units(exe: Path) -> None:
    res = subprocess.run([str(exe), "units"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and res.stdout.strip() == "units ok", res.stderr


@pytest.mark.parametrize("bits", packed.BITS)
def test_pair_table_c_matches_numpy(exe: Path, tmp_path: Path, bits: int) -> None:
    rng = np.random.default_rng(bits)
    for k in sorted({2, (1 << bits) // 2 + 1, 1 << bits}):
        cb = rng.integers(-128, 128, k).astype(np.int8)
        out = run(exe, "pairs", i32(bits, k) + cb.tobytes(), tmp_path)
        table = np.frombuffer(out[:-8], "<u4")
        assert np.array_equal(table, packed.pair_table(cb, bits))
        assert struct.unpack("<2i", out[-8:]) == (0, 3)  # ET_OK, then ET_ERR_BAD_PARAM for a changed entry


def check_status(exe: Path, tmp_path: Path, words: np.ndarray, n_out: int, n_in: int, bits: int, k: int) -> int:
    out = run(exe, "check", i32(n_out, n_in, bits, k, words.size) + words.astype("<u4").tobytes(), tmp_path)
    return struct.unpack("<i", out)[0]


@pytest.mark.parametrize("bits", packed.BITS)
def test_indices_check(exe: Path, tmp_path: Path, bits: int) -> None:
    rng = np.random.default_rng(300 + bits)
    ok, bad_param = 0, 3
    for n_out, n_in in [(3, 7), (2, 33), (1, 5)]:
        k = max(2, (1 << bits) - 1)
        idx = rng.integers(0, k, (n_out, n_in))
        words = packed.pack_indices(idx, bits)
        assert check_status(exe, tmp_path, words, n_out, n_in, bits, k) == ok
        if k < 1 << bits:
            over = idx.copy()
            over[-1, -1] = k  # one index >= k
            assert check_status(exe, tmp_path, packed.pack_indices(over, bits), n_out, n_in, bits, k) == bad_param
        # A set padding bit (past the last index of the last row).
        pad = words.copy()
        pad[-1] |= np.uint32(1 << 31)
        assert check_status(exe, tmp_path, pad, n_out, n_in, bits, k) == bad_param
        assert check_status(exe, tmp_path, words, n_out, n_in, bits, 1) == bad_param
        assert check_status(exe, tmp_path, words, n_out, n_in, bits, (1 << bits) + 1) == bad_param


# ---------------------------------------------------------------- cross builds


@pytest.mark.cross
@pytest.mark.parametrize("cpu", [M3, M4F], ids=["cortex-m3", "cortex-m4f"])
def test_new_sources_cross_compile_warning_free(arm_cc: str, tmp_path: Path, cpu: list[str]) -> None:
    nm = str(Path(arm_cc).with_name(Path(arm_cc).name.replace("gcc", "nm")))
    for name in NEW_SOURCES:
        obj = tmp_path / (Path(name).stem + ".o")
        res = subprocess.run([arm_cc, *cpu, *CROSS, f"-I{INC}", str(SRC / name), "-o", str(obj)],
                             capture_output=True, text=True)
        assert res.returncode == 0 and not res.stderr, f"{name}: {res.stderr}"
        undefined = subprocess.run([nm, "-u", str(obj)], capture_output=True, text=True, check=True).stdout.split()
        extra = [s for s in undefined if s != "U" and not s.startswith(("et_", "__aeabi_"))
                 and s not in ("memcpy", "memset")]
        assert not extra, f"{name} references {extra}"
        if cpu is M4F:
            assert not [s for s in undefined if s.startswith("__aeabi_")], (name, undefined)
    asm = subprocess.run([arm_cc, *cpu, *CROSS[:-1], f"-I{INC}", "-S", "-o", "-", str(SRC / "et_dense_s8_cluster.c")],
                         capture_output=True, text=True, check=True).stdout
    assert ("smlad" in asm) == (cpu is M4F)


# ---------------------------------------------------------------- Cortex-M4 (unicorn)


@pytest.fixture(scope="module")
def m4():  # type: ignore[no-untyped-def]
    pytest.importorskip("unicorn")
    bench = load_bench("cluster_kernel_cycles.py")
    return bench, bench.build_image()


@pytest.mark.cross
def test_m4_dsp_paths_bit_exact(m4) -> None:  # type: ignore[no-untyped-def]
    """The M4 build (inline assembly at 4 bits) on shapes that take every remainder of the unrolled
    loops (8/4/2/1 groups, 4/2/1 rows, n_in % 4), both table modes, eff_bias, batch 2."""
    bench, img = m4
    rng = np.random.default_rng(4)
    shapes = [(1, 1, 1), (1, 7, 3), (2, 33, 5), (1, 60, 7), (1, 100, 6), (2, 36, 2), (1, 44, 9), (1, 256, 4)]
    for bits in packed.BITS:
        for i, (batch, n_in, n_out) in enumerate(shapes):
            c = s8_case(rng, bits, batch, n_in, n_out, per_channel=i % 2 == 0, act=(None, "relu")[i % 2],
                        with_bias=i % 3 != 1)
            want = s8_want(c).reshape(-1)
            for variant in ("table", "no-table", "table+eff", "ref"):
                got, _ = bench.run_s8(img, c, variant)
                assert np.array_equal(got, want), (bits, (batch, n_in, n_out), variant)
            fc = f32_case(rng, bits, batch, n_in, n_out, with_bias=i % 3 != 1)
            y_fast, _ = bench.run_f32(img, fc, "et_dense_f32_cluster")
            y_ref, _ = bench.run_f32(img, fc, "et_dense_f32_cluster_ref")
            assert y_fast.tobytes() == y_ref.tobytes(), (bits, (batch, n_in, n_out))
            np.testing.assert_allclose(y_fast, f32_emulate(fc, -F32_MAX, F32_MAX).reshape(-1), rtol=1e-4, atol=1e-4)

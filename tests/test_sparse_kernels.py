"""Sparse C kernels (firmware_export/src/et_sparse_*.c) against numpy, on host and in QEMU.

Every case is encoded with edgetrain.formats.sparse (the arrays the generator emits), run by
tests/c_sparse/sparse_driver.c through the reference kernel and the fast per-format kernel, and
compared with the dense numpy result on the decoded matrix:

* int8: equal to ``quant.dense_s8_reference`` bit for bit (per-channel and per-tensor, with and
  without eff_bias, fused clamps);
* float32: within 1e-5 of the magnitude of the summed terms (sum |x * w| + |b|), builds with
  ``-ffp-contract=off``.

The same case file runs on host gcc (also under ASan+UBSan) and on QEMU stm32f405 (Cortex-M4F)
and stm32f205 (Cortex-M3). Edge cases: empty rows, a fully empty layer, gaps longer than the gap
field (fillers), uint16 indices, odd shapes, batch > 1, motif blocks.
"""
from __future__ import annotations

import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from edgetrain.device import build_firmware
from edgetrain.export.c.sparse import FORMAT_CODE
from edgetrain.quantize import int8 as quant
from edgetrain.formats.sparse import ENCODERS, encode_csr
from edgetrain.resources import firmware_dir

ROOT = Path(__file__).resolve().parent
DRIVER = ROOT / "c_sparse" / "sparse_driver.c"
FORMATS = ("csr", "coo", "delta8", "delta4", "bitmap", "csc", "grouped")
STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2"]
FLT_MAX = float(np.finfo(np.float32).max)  # what the generator emits for "no bound"
RELU = (0.0, FLT_MAX)
NONE = (-FLT_MAX, FLT_MAX)
TOL = 1e-5


def runtime_sources() -> list[Path]:
    src = firmware_dir() / "src"
    return sorted(src.glob("et_sparse_*.c")) + [src / "et_status.c"]


# ------------------------------------------------------------------------------------ cases


@dataclass
class Case:
    name: str
    dtype: str  # "f32" | "int8"
    fmt: str
    x: np.ndarray  # [batch, n_in]
    dense: np.ndarray  # [n_out, n_in], masked-out entries zero (what the kernels must compute)
    enc: object  # an Encoding (for motif: the CSR of the block grid)
    bias: np.ndarray | None
    block: tuple[int, int] = (1, 1)  # (block_rows, block_cols) for motif
    act: tuple = NONE  # float clamp, or int8 (act_min, act_max)
    q: dict | None = None  # int8: in_zp, out_zp, mults, shifts, per_channel, eff


def _pad(b: bytes) -> bytes:
    return b + b"\0" * (-len(b) % 4)


def serialize(cases: list[Case]) -> bytes:
    out = [b"ETS1", struct.pack("<I", len(cases))]
    for c in cases:
        arrays = list(c.enc.arrays().values())
        idx = arrays[:-1]
        values = arrays[-1]
        idx0 = idx[0].tobytes() if idx else b""
        idx1 = idx[1].tobytes() if len(idx) > 1 else b""
        widths = [a.itemsize for a in idx] + [0, 0]
        batch, n_in = c.x.shape
        n_out = c.dense.shape[0]
        head = [0 if c.dtype == "f32" else 1, FORMAT_CODE[c.fmt], batch, n_in, n_out, values.size,
                widths[0] if idx else 1, widths[1], c.block[0], c.block[1], len(idx0), len(idx1),
                int(c.bias is not None)]
        if c.dtype == "f32":
            tail = list(struct.unpack("<2i", struct.pack("<2f", *c.act))) + [0] * 5
        else:
            q = c.q
            assert q is not None
            tail = [c.act[0], c.act[1], -q["in_zp"], q["out_zp"], int(q["per_channel"]), int(q["eff"]), 0]
        out.append(struct.pack("<20i", *head, *tail))
        for blob in (c.x.tobytes(), idx0, idx1, values.tobytes()):
            out.append(_pad(blob))
        if c.bias is not None:
            out.append(c.bias.tobytes())
        if c.dtype == "int8":
            q = c.q
            out += [q["mults"].astype("<i4").tobytes(), q["shifts"].astype("<i4").tobytes()]
            if q["eff"]:
                out.append(quant.effective_bias(c.bias, c.dense, q["in_zp"]).tobytes())
    return b"".join(out)


def random_mask(rng: np.random.Generator, shape: tuple[int, int], density: float) -> np.ndarray:
    return rng.random(shape) < density


def make_case(rng: np.random.Generator, name: str, dtype: str, fmt: str, mask: np.ndarray, *,
              batch: int = 1, bias: bool = True, act: str | None = None, per_channel: bool = True,
              eff: bool = True) -> Case:
    n_out, n_in = mask.shape
    if dtype == "f32":
        w = rng.standard_normal(mask.shape).astype(np.float32)
        dense = np.where(mask, w, 0).astype(np.float32)
        enc = ENCODERS[fmt](w, mask, np.float32)
        x = (rng.standard_normal((batch, n_in)) * 2).astype(np.float32)
        b = rng.standard_normal(n_out).astype(np.float32) if bias else None
        lim = {None: NONE, "relu": RELU, "relu6": (0.0, 6.0)}[act]
        return Case(name, dtype, fmt, x, dense, enc, b, act=lim)
    w = rng.integers(-127, 128, mask.shape).astype(np.int8)
    dense = np.where(mask, w, 0).astype(np.int8)
    enc = ENCODERS[fmt](w.astype(np.float64), mask, np.int8)
    q = int8_quant(rng, n_out, per_channel, eff, act)
    x = rng.integers(-128, 128, (batch, n_in)).astype(np.int8)
    b = rng.integers(-20000, 20000, n_out).astype(np.int32) if bias else None
    return Case(name, dtype, fmt, x, dense, enc, b, act=q.pop("act"), q=q)


def int8_quant(rng: np.random.Generator, n_out: int, per_channel: bool, eff: bool, act: str | None) -> dict:
    out_scale = float(rng.uniform(0.02, 0.2))
    out_zp = int(rng.integers(-128, 128))
    w_scales = rng.uniform(0.002, 0.02, n_out if per_channel else 1)
    mults, shifts = quant.dense_requant_params(float(rng.uniform(0.01, 0.1)), w_scales, out_scale)
    return dict(in_zp=int(rng.integers(-128, 128)), out_zp=out_zp, mults=mults, shifts=shifts,
                per_channel=per_channel, eff=eff,
                act=quant.activation_range(act, out_scale, out_zp))  # type: ignore[arg-type]


def motif_case(rng: np.random.Generator, name: str, dtype: str, grid_mask: np.ndarray,
               block: tuple[int, int], *, batch: int = 1, act: str | None = None,
               per_channel: bool = False, eff: bool = True) -> Case:
    """A block-shared layer: grid_mask/values on the [n_out/br][n_in/bc] grid, expanded by kron."""
    br, bc = block
    ones = np.ones(block)
    if dtype == "f32":
        vals = rng.standard_normal(grid_mask.shape).astype(np.float32)
        dense = np.kron(np.where(grid_mask, vals, 0), ones).astype(np.float32)
        enc = encode_csr(vals, grid_mask, np.float32)
        base = make_case(rng, name, "f32", "csr", np.kron(grid_mask, ones).astype(bool), batch=batch, act=act)
        return Case(name, dtype, "motif", base.x, dense, enc, base.bias, block, base.act)
    vals = rng.integers(-127, 128, grid_mask.shape)
    dense = np.kron(np.where(grid_mask, vals, 0), ones).astype(np.int8)
    enc = encode_csr(vals.astype(np.float64), grid_mask, np.int8)
    base = make_case(rng, name, "int8", "csr", np.kron(grid_mask, ones).astype(bool), batch=batch,
                     act=act, per_channel=per_channel, eff=eff)
    return Case(name, dtype, "motif", base.x, dense, enc, base.bias, block, base.act, base.q)


def zero_inputs(c: Case) -> Case:
    """Half the inputs exactly zero (real value 0: the int8 zero point; -0.0 too for float), as
    after a ReLU; the CSC kernels skip those columns."""
    x = c.x.copy()
    x[:, ::2] = c.q["in_zp"] if c.q else 0.0
    if c.q is None:
        x[:, 1::6] = -0.0
    c.x = x
    return c


def build_cases(dtype: str) -> list[Case]:
    rng = np.random.default_rng(1234 if dtype == "f32" else 4321)
    cases: list[Case] = []
    empty_rows = random_mask(rng, (9, 21), 0.35)
    empty_rows[[0, 3, 4, 8]] = False  # first, consecutive and last rows empty
    long_gaps = np.zeros((6, 300), dtype=bool)  # gaps > 255 between entries: 8-bit fillers too
    long_gaps[0, 0] = long_gaps[0, 299] = long_gaps[3, 17] = long_gaps[5, 298] = True
    wide = random_mask(rng, (12, 300), 0.12)  # n_in > 255: uint16 cols; nnz > 255: uint16 row_ptr
    for fmt in FORMATS:
        cases += [
            make_case(rng, "random", dtype, fmt, random_mask(rng, (7, 13), 0.3)),
            make_case(rng, "empty-rows-relu", dtype, fmt, empty_rows, act="relu", batch=2),
            make_case(rng, "all-empty", dtype, fmt, np.zeros((5, 11), dtype=bool), act="relu6"),
            make_case(rng, "all-empty-nobias", dtype, fmt, np.zeros((3, 4), dtype=bool), bias=False),
            make_case(rng, "long-gaps", dtype, fmt, long_gaps, per_channel=False),
            make_case(rng, "uint16", dtype, fmt, wide, batch=2, eff=False),
            make_case(rng, "one-by-one", dtype, fmt, np.ones((1, 1), dtype=bool)),
            make_case(rng, "one-row", dtype, fmt, random_mask(rng, (1, 37), 0.5), bias=False),
            make_case(rng, "one-col", dtype, fmt, random_mask(rng, (17, 1), 0.5), act="relu"),
            make_case(rng, "full", dtype, fmt, np.ones((5, 19), dtype=bool), per_channel=False, eff=False),
            make_case(rng, "sparse-odd", dtype, fmt, random_mask(rng, (31, 67), 0.04), act="relu"),
            zero_inputs(make_case(rng, "zero-inputs", dtype, fmt, random_mask(rng, (40, 300), 0.2),
                                  act="relu", batch=2)),
            zero_inputs(make_case(rng, "tall-uint16", dtype, fmt, random_mask(rng, (300, 45), 0.1))),
        ]
    # Rows of every length 0..30 (the grouped float kernel has a two-row assembly loop per length
    # 0..24 and a generic one for odd first rows and longer rows): runs of 2 and 3 rows, and
    # shuffled into runs of one row; ReLU, no clamp and ReLU6.
    lengths = np.repeat(np.arange(31), 2)
    sorted_rows = np.arange(40)[None, :] < lengths[:, None]
    triples = np.arange(40)[None, :] < np.repeat(np.arange(31), 3)[:, None]
    shuffled = rng.permuted(sorted_rows[rng.permutation(len(lengths))], axis=1)
    for fmt in ("grouped", "csr"):
        cases += [
            make_case(rng, "all-lengths-relu", dtype, fmt, sorted_rows, act="relu", batch=2),
            make_case(rng, "odd-runs-relu", dtype, fmt, rng.permuted(triples, axis=1), act="relu"),
            make_case(rng, "all-lengths-none", dtype, fmt, sorted_rows),
            make_case(rng, "all-lengths-relu6", dtype, fmt, sorted_rows, act="relu6"),
            make_case(rng, "shuffled-lengths-relu", dtype, fmt, shuffled, act="relu", eff=False),
            make_case(rng, "shuffled-nobias", dtype, fmt, shuffled, act="relu", bias=False),
        ]
    grid = random_mask(rng, (6, 5), 0.4)
    grid[2] = False
    cases += [
        motif_case(rng, "motif-2x2", dtype, grid, (2, 2), batch=2),
        motif_case(rng, "motif-2x1-relu", dtype, grid, (2, 1), act="relu", per_channel=True),
        motif_case(rng, "motif-1x3", dtype, grid, (1, 3), eff=False),
        motif_case(rng, "motif-empty", dtype, np.zeros((3, 4), dtype=bool), (2, 2)),
        motif_case(rng, "motif-wide", dtype, random_mask(rng, (4, 150), 0.2), (2, 2)),
    ]
    return cases


# ------------------------------------------------------------------------------------ running


def parse_results(blob: bytes, cases: list[Case]) -> list[tuple[tuple[int, int, np.ndarray], ...]]:
    out, off = [], 0
    for c in cases:
        dt = np.float32 if c.dtype == "f32" else np.int8
        n = c.x.shape[0] * c.dense.shape[0]
        pair = []
        for _ in range(2):
            st, ins = struct.unpack_from("<2I", blob, off)
            off += 8
            y = np.frombuffer(blob, dt, n, off).reshape(c.x.shape[0], -1)
            off += n * np.dtype(dt).itemsize
            pair.append((st, ins, y))
        out.append(tuple(pair))
    assert off == len(blob), "results.bin longer than expected"
    return out


def expected(c: Case) -> np.ndarray:
    if c.dtype == "int8":
        q = c.q
        return quant.dense_s8_reference(c.x, c.dense, c.bias, q["in_zp"], q["out_zp"], q["mults"],
                                        q["shifts"], c.act[0], c.act[1])
    return np.clip(c.x.astype(np.float64) @ c.dense.T.astype(np.float64)
                   + (0 if c.bias is None else c.bias.astype(np.float64)), *c.act)


def check(cases: list[Case], results) -> None:
    for c, pair in zip(cases, results):
        want = expected(c)
        for which, (st, _, y) in zip(("ref", "fast"), pair):
            label = f"{c.dtype} {c.fmt} {c.name} ({which})"
            assert st == 0, f"{label}: status {st}"
            if c.dtype == "int8":
                np.testing.assert_array_equal(y, want, err_msg=label)
            else:
                b = 0 if c.bias is None else np.abs(c.bias.astype(np.float64))
                scale = np.abs(c.x.astype(np.float64)) @ np.abs(c.dense.T.astype(np.float64)) + b
                err = np.abs(y.astype(np.float64) - want)
                assert np.all(err <= TOL * scale + 1e-30), f"{label}: max err {err.max()}"


def run_cases(target: str, cases: list[Case], tmp: Path, *, sanitize: bool = False,
              timeout: float = 120) -> list:
    from edgetrain.device import qemu as qemu_runner

    fw = build_firmware(target, runtime_sources(), tmp / "build", parity=True, sanitize=sanitize,
                        main=DRIVER, name="sparse_driver")
    (tmp / "cases.bin").write_bytes(serialize(cases))
    cmd = [str(fw.path)] if fw.target.is_host else qemu_runner.command(fw)
    proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return parse_results((tmp / "results.bin").read_bytes(), cases)


# ------------------------------------------------------------------------------------ tests


def test_cases_cover_the_edge_cases() -> None:
    """The case list really contains what the module docstring promises."""
    for dtype in ("f32", "int8"):
        cases = build_cases(dtype)
        assert {c.fmt for c in cases} == set(FORMATS) | {"motif"}
        by = {(c.fmt, c.name): c for c in cases}
        for fmt in FORMATS:
            assert by[(fmt, "all-empty")].enc.arrays()["values"].size == 0
            assert (by[(fmt, "empty-rows-relu")].dense == 0).all(axis=1).sum() >= 4
        assert by[("delta8", "long-gaps")].enc.nbytes.fillers > 0
        assert by[("delta4", "long-gaps")].enc.nbytes.fillers > 0
        arr = by[("csr", "uint16")].enc.arrays()
        assert arr["cols"].dtype == np.uint16 and arr["row_ptr"].dtype == np.uint16
        assert by[("coo", "uint16")].enc.arrays()["cols"].dtype == np.uint16


@pytest.mark.parametrize("sanitize", [False, True], ids=["O2", "asan-ubsan"])
@pytest.mark.parametrize("dtype", ["f32", "int8"])
def test_host_parity(dtype: str, sanitize: bool, host_cc: str, tmp_path: Path) -> None:
    cases = build_cases(dtype)
    check(cases, run_cases("host", cases, tmp_path, sanitize=sanitize))


@pytest.mark.parametrize("dtype", ["f32", "int8"])
def test_qemu_stm32f405_parity(dtype: str, arm_cc: str, qemu: str, tmp_path: Path) -> None:
    cases = build_cases(dtype)
    results = run_cases("stm32f405", cases, tmp_path)
    check(cases, results)
    # The counter works: every fast kernel call on a non-empty case took instructions.
    assert all(pair[1][1] > 0 for pair in results)


def test_qemu_stm32f205_m3_parity(arm_cc: str, qemu: str, tmp_path: Path) -> None:
    """Cortex-M3 (soft float): both dtypes in one run to keep QEMU time short."""
    cases = build_cases("int8") + build_cases("f32")[::3]
    check(cases, run_cases("stm32f205", cases, tmp_path))


def test_host_rejects_bad_arguments(host_cc: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    good = make_case(rng, "bad-rowptr", "f32", "csr", random_mask(rng, (4, 6), 0.5))
    arr = good.enc.arrays()
    # row_ptr[n_out] != number of values: both kernels refuse instead of reading out of bounds.
    broken = type(good.enc)(shape=good.enc.shape, row_ptr=arr["row_ptr"].copy(), cols=arr["cols"],
                            values=arr["values"])
    broken.row_ptr[-1] += 1
    good.enc = broken
    results = run_cases("host", [good], tmp_path)
    assert [r[0] for r in results[0]] == [3, 3]  # ET_ERR_BAD_PARAM


@pytest.mark.parametrize("flags", [
    ["-mcpu=cortex-m3", "-mthumb", "-mfloat-abi=soft"],
    ["-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"],
], ids=["m3", "m4f"])
def test_sparse_sources_cross_compile_warning_free(flags: list[str], arm_cc: str, tmp_path: Path) -> None:
    inc = firmware_dir() / "include"
    for src in runtime_sources():
        res = subprocess.run([arm_cc, *flags, *STRICT, f"-I{inc}", "-c", str(src), "-o",
                              str(tmp_path / (src.stem + ".o"))], capture_output=True, text=True)
        assert res.returncode == 0, res.stderr

"""The C conv and pool kernels (et_conv.h, et_pool.h) against the numpy references.

* Host: tests/c_conv/conv_driver.c is built with gcc (strict warnings, -ffp-contract=off), once at
  -O2 and once under ASan+UBSan, from only the sources et_conv.h / et_pool.h name, and fed binary
  files. int8 results (reference and fast kernels, with and without eff_bias) must equal
  edgetrain.quantize.conv_reference bit for bit; float results agree with edgetrain.ops.conv /
  ops.pool (in float64) to 1e-5 of the magnitude of the summed terms.
* A layer-shape corpus: stride 1 and 2, same / valid / asymmetric explicit padding, dilation 2,
  one-channel first layers, odd sizes, depth multipliers 1 and 2, 1x1 pointwise (the dense fast
  path, stride 1 and 2), groups 2, conv1d (H = 1), a 1x1 input, and seeded random shapes.
  Depthwise cases also run through the general grouped kernels (OHWI weights with one channel
  per group), which must give the same result.
* The int8 oracle itself is checked against the float op rules on exact integer data, and the
  TFLite rounding choices against hand-computed values.
* Every argument check returns its status code, for every kernel it applies to; scratch sizes.
* Cross: the new sources compile warning-free for Cortex-M3 and Cortex-M4F; on Cortex-M4 (unicorn)
  the int8 conv kernels, which run their windows through et_dense_s8's SMLAD path, stay bit-exact.
"""
from __future__ import annotations

import functools
import struct
import zlib
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from edgetrain.export.c.abi import conv_scratch_bytes, depthwise_conv_s8_scratch_bytes
from edgetrain.ops.conv import Geometry, conv_forward, pad, windows
from edgetrain.ops.pool import AvgPoolOp, GlobalAvgPoolOp, MaxPoolOp
from edgetrain.quantize import conv_reference as cref
from edgetrain.quantize import int8 as quant

from helpers import INC, M3, M4F, ROOT, SRC, STRICT, build_parity_driver, f32, i32

DRIVER = ROOT / "tests" / "c_conv" / "conv_driver.c"
# What et_conv.h / et_pool.h say the kernels need: a missing file fails the link.
NEW_SOURCES = ["et_conv_geom.c", "et_conv_f32_ref.c", "et_conv_f32.c", "et_conv_s8_ref.c", "et_conv_s8.c",
               "et_pool_f32.c", "et_pool_s8.c"]
SOURCES = NEW_SOURCES + ["et_dense_f32.c", "et_dense_s8.c", "et_status.c"]

OK, NULL_ARG, BAD_SHAPE, BAD_PARAM = 0, 1, 2, 3
F32_MAX = 3.4e38


@functools.lru_cache(maxsize=None)
def build_driver(cc: str, sanitize: bool, out_dir: str) -> Path:
    exe = Path(out_dir) / ("conv_driver_san" if sanitize else "conv_driver")
    return build_parity_driver(cc, DRIVER, [SRC / s for s in SOURCES], exe, sanitize)


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("cconv"))


@pytest.fixture(params=[False, True], ids=["O2", "asan-ubsan"])
def driver(request: pytest.FixtureRequest, host_cc: str, build_dir: str) -> Path:
    return build_driver(host_cc, request.param, build_dir)




def array(a: np.ndarray | None, dtype: str) -> bytes:
    """A counted array for the driver; None passes NULL."""
    if a is None:
        return i32(-1)
    flat = np.ascontiguousarray(a, dtype=dtype).reshape(-1)
    return i32(flat.size) + flat.tobytes()


def run(driver: Path, op: str, payload: bytes, tmp_path: Path) -> tuple[int, int, bytes]:
    """(status, scratch bytes the kernel asked for, output bytes)."""
    inp, out = tmp_path / f"{op}.in", tmp_path / f"{op}.out"
    inp.write_bytes(payload)
    out.unlink(missing_ok=True)
    res = subprocess.run([str(driver), op, str(inp), str(out)], capture_output=True, text=True)
    assert res.returncode == 0 and "runtime error" not in res.stderr, f"{op} ({res.returncode}): {res.stderr}"
    data = out.read_bytes()
    status, scratch = struct.unpack("<2i", data[:8])
    return status, scratch, data[8:]


# --- cases ----------------------------------------------------------------------------------------


@dataclass
class Spec:
    """One conv layer: NHWC input shape (H = 1 for conv1d), kernel, C_out and attributes."""

    name: str
    x: tuple[int, int, int, int]
    kernel: tuple[int, int]
    cout: int
    stride: Any = 1
    dilation: Any = 1
    padding: Any = "valid"
    groups: int = 1
    conv1d: bool = False
    geo: Geometry = field(init=False)

    def __post_init__(self) -> None:
        if self.conv1d:  # the 1-D attributes, resolved as ops.conv does for conv1d
            g1 = cref.conv_geometry((self.x[2],), (self.kernel[1],), self.stride, self.dilation, self.padding)
            self.geo = g1
        else:
            self.geo = cref.conv_geometry(self.x[1:3], self.kernel, self.stride, self.dilation, self.padding)

    def w_shape(self) -> tuple[int, int, int, int]:
        return (*self.kernel, self.x[3] // self.groups, self.cout)

    def geom_ints(self) -> tuple[int, ...]:
        g = self.geo
        n = self.x[0]
        return (n, *g.in_hw, self.x[3], *g.out_hw, self.cout, *g.kernel, *g.stride, *g.dilation,
                *g.pads[0], *g.pads[1])


CORPUS = [
    Spec("3x3 s1 same", (2, 8, 8, 3), (3, 3), 4, padding="same"),
    Spec("3x3 s2 same odd 7x5", (1, 7, 5, 4), (3, 3), 6, stride=2, padding="same"),
    Spec("3x3 s2 valid", (2, 9, 9, 2), (3, 3), 5, stride=2),
    Spec("3x3 explicit asym pads", (1, 6, 7, 3), (3, 3), 4, padding=[[2, 0], [0, 1]]),
    Spec("2x4 stride (2,1) same", (1, 6, 9, 2), (2, 4), 3, stride=(2, 1), padding="same"),
    Spec("3x3 dilation 2 same", (1, 9, 8, 3), (3, 3), 4, dilation=2, padding="same"),
    Spec("3x3 dilation 2 valid s2", (1, 11, 10, 2), (3, 3), 3, stride=2, dilation=2),
    Spec("first layer 1ch 3x3", (2, 8, 8, 1), (3, 3), 8, padding="same"),
    Spec("first layer 1ch 5x5 s2", (1, 7, 5, 1), (5, 5), 4, stride=2, padding="same"),
    Spec("1x1 pointwise s1", (2, 5, 6, 8), (1, 1), 12),
    Spec("1x1 pointwise s2 odd", (1, 7, 5, 8), (1, 1), 6, stride=2),
    Spec("groups 2 3x3", (1, 6, 6, 4), (3, 3), 6, padding="same", groups=2),
    Spec("groups 2 1x1", (1, 5, 4, 6), (1, 1), 4, groups=2),
    Spec("depthwise m1", (2, 7, 7, 5), (3, 3), 5, padding="same", groups=5),
    Spec("depthwise m2 s2", (1, 6, 5, 3), (3, 3), 6, stride=2, padding="same", groups=3),
    Spec("depthwise m2 dilation 2", (1, 9, 9, 4), (3, 3), 8, dilation=2, padding=[[1, 2], [2, 0]], groups=4),
    Spec("depthwise m1 5x5 valid", (1, 8, 7, 6), (5, 5), 6, groups=6),
    # dilation 3 over a 2-wide input padded by 3: some windows have no in-bounds column at all.
    Spec("depthwise dilation 3 empty windows", (1, 3, 2, 4), (2, 2), 4, dilation=3, padding=[[3, 3], [3, 3]],
         groups=4),
    Spec("conv1d k5 s2 same", (2, 1, 20, 3), (1, 5), 5, stride=2, padding="same", conv1d=True),
    Spec("conv1d k3 dilation 2", (1, 1, 17, 4), (1, 3), 6, dilation=2, padding=[3, 1], conv1d=True),
    Spec("conv1d depthwise m2", (1, 1, 12, 3), (1, 3), 6, padding="same", groups=3, conv1d=True),
    Spec("tiny 1x1 input 1x1", (1, 1, 1, 3), (1, 1), 4),
    Spec("tiny 1x1 input 3x3 padded", (1, 1, 1, 3), (3, 3), 2, padding=[[1, 1], [1, 1]]),
    Spec("tiny 1x1 input depthwise", (2, 1, 1, 2), (3, 3), 4, padding="same", groups=2),
    # The two-pixel x two-channel int8 path's leftovers: an odd pixel count (the last pixel fills
    # both window slots), an odd out_c (the last channel pairs with itself), a window that is not a
    # multiple of 4 (the tail), an odd number of groups of four (the assembly loop's entry), more
    # than 32 output channels (several chunks), pointwise convs on the stack and over 64 channels
    # (the dense path), groups with odd channel counts.
    Spec("odd pixels odd out_c 3x3 5->7", (1, 5, 7, 5), (3, 3), 7, padding="same"),
    Spec("first layer 1ch 3x3 valid", (1, 9, 9, 1), (3, 3), 8),
    Spec("first layer 10x4 s2 same", (1, 13, 6, 1), (10, 4), 6, stride=2, padding="same"),
    Spec("3x3 -> 70 channels", (1, 4, 4, 6), (3, 3), 70, padding="same"),
    Spec("1x1 pointwise 70 inputs odd pixels", (1, 3, 3, 70), (1, 1), 5),
    Spec("1x1 pointwise odd pixels odd out_c", (2, 3, 5, 12), (1, 1), 9),
    Spec("groups 3 odd channels", (1, 5, 5, 6), (3, 3), 9, padding="same", groups=3),
    # The depthwise four-channel blocks: leftover channels, stride 2 interior runs, 5x5 (the general
    # tap loop), dilation 2, a kernel over the block path's 49 taps, a 3x3 kernel on a 2-wide input
    # (no interior column at all).
    Spec("depthwise m1 9ch s2 valid", (1, 9, 8, 9), (3, 3), 9, stride=2, groups=9),
    Spec("depthwise m1 16ch 5x5 same", (1, 7, 6, 16), (5, 5), 16, padding="same", groups=16),
    Spec("depthwise m1 dilation 2 same", (2, 8, 8, 8), (3, 3), 8, dilation=2, padding="same", groups=8),
    Spec("depthwise m1 8x8 kernel", (1, 13, 12, 4), (8, 8), 4, groups=4),
    Spec("depthwise m1 3x3 on 2-wide", (1, 6, 2, 4), (3, 3), 4, padding="same", groups=4),
    # the padded band of the four-channel blocks: odd widths, W below the kernel, stride 2, rows
    # skipped by a stride beyond the kernel, asymmetric pads, batches, leftover channels
    Spec("depthwise band 3x3 odd width 12ch", (1, 5, 7, 12), (3, 3), 12, padding="same", groups=12),
    Spec("depthwise band 3x3 s2 same 13ch batch 2", (2, 9, 7, 13), (3, 3), 13, stride=2, padding="same",
         groups=13),
    Spec("depthwise band 3x3 on 1-wide", (1, 5, 1, 8), (3, 3), 8, padding="same", groups=8),
    Spec("depthwise band 3x3 s2 asym pads", (1, 8, 8, 4), (3, 3), 4, stride=2, padding=[[0, 2], [1, 0]],
         groups=4),
    Spec("depthwise band 2x2 s3 skipped rows", (1, 10, 9, 8), (2, 2), 8, stride=3, groups=8),
    Spec("depthwise band 3x3 ds-cnn 25x5x20 batch 2", (2, 25, 5, 20), (3, 3), 20, padding="same", groups=20),
    Spec("depthwise band m2 3x3 same batch 2", (2, 5, 6, 4), (3, 3), 8, padding="same", groups=4),
    Spec("depthwise band 3x3 tall s2 asym pads", (1, 11, 6, 8), (3, 3), 8, stride=2, padding=[[2, 1], [0, 1]],
         groups=8),
    Spec("depthwise band 5x5 dilation 2 7ch", (1, 9, 8, 7), (5, 5), 7, dilation=2, padding="same", groups=7),
]


def random_specs(seed: int, n: int) -> list[Spec]:
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        kh, kw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        h, w = int(rng.integers(kh, 9)), int(rng.integers(kw, 9))
        groups = int(rng.choice([1, 1, 2, 3]))
        cin = groups * int(rng.integers(1, 4))
        cout = groups * int(rng.integers(1, 4))
        stride = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        dil = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        padding = str(rng.choice(["valid", "same"]))
        try:
            s = Spec(f"random {len(out)}", (int(rng.integers(1, 3)), h, w, cin), (kh, kw), cout, stride, dil,
                     padding, groups)
        except Exception:  # a window larger than the input: draw again
            continue
        out.append(s)
    return out


CORPUS += random_specs(2026, 6)
IDS = [s.name for s in CORPUS]


def specs(*names: str) -> list[Spec]:
    return [CORPUS[IDS.index(n)] for n in names]


def seed_of(name: str) -> int:
    return zlib.crc32(name.encode())


def float_case(s: Spec, rng: np.random.Generator, with_bias: bool = True
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    x = (rng.standard_normal(s.x) * 2).astype(np.float32)
    w = rng.standard_normal(s.w_shape()).astype(np.float32)
    b = rng.standard_normal(s.cout).astype(np.float32) if with_bias else None
    return x, w, b


def float_oracle(s: Spec, x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(y, scale) in float64: the op rule's forward, and the same over magnitudes (the bound on the
    float32 rounding error of any summation order)."""
    y = conv_forward(x.astype(np.float64), w.astype(np.float64), None if b is None else b.astype(np.float64),
                     s.geo, s.groups)
    scale = conv_forward(np.abs(x).astype(np.float64), np.abs(w).astype(np.float64),
                         None if b is None else np.abs(b).astype(np.float64), s.geo, s.groups)
    return y, scale


def conv_f32_payload(s: Spec, x: np.ndarray, wc: np.ndarray, b: np.ndarray | None, lo: float, hi: float,
                     groups: int | None = None, null_scratch: int = 0, geom: tuple[int, ...] | None = None,
                     n_out: int | None = None) -> bytes:
    g = s.geom_ints() if geom is None else geom
    n_y = int(np.prod(s.geo.out_hw)) * s.x[0] * s.cout if n_out is None else n_out
    return (i32(*g, s.groups if groups is None else groups) + f32(lo, hi) + i32(null_scratch)
            + array(x, "<f4") + array(wc, "<f4") + array(b, "<f4") + i32(n_y))


ACTS_F32 = [(-F32_MAX, F32_MAX), (0.0, F32_MAX), (0.0, 6.0)]


def conv_f32_ops(s: Spec, w: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """(driver op, weights in that kernel's C layout) for every kernel that runs this spec."""
    ops = [("conv_f32_ref", cref.to_c_conv_weights(w)), ("conv_f32", cref.to_c_conv_weights(w))]
    if s.groups == s.x[3]:
        ops += [("dw_f32_ref", cref.to_c_depthwise_weights(w)), ("dw_f32", cref.to_c_depthwise_weights(w))]
    return ops


@pytest.mark.parametrize("spec", CORPUS, ids=IDS)
def test_conv_f32_matches_numpy(driver: Path, tmp_path: Path, spec: Spec) -> None:
    rng = np.random.default_rng(seed_of(spec.name))
    i = CORPUS.index(spec)
    x, w, b = float_case(spec, rng, with_bias=i % 4 != 2)
    y64, scale = float_oracle(spec, x, w, b)
    lo, hi = ACTS_F32[i % 3]
    want = np.clip(y64, lo, hi)
    outs = {}
    for op, wc in conv_f32_ops(spec, w):
        status, _, out = run(driver, op, conv_f32_payload(spec, x, wc, b, lo, hi), tmp_path)
        assert status == OK, op
        got = outs[op] = np.frombuffer(out, np.float32).reshape(want.shape)
        assert np.all(np.abs(got - want) <= 1e-5 * scale + 1e-30), f"{op}: max err {np.abs(got - want).max()}"
    if "dw_f32" in outs:  # the fast depthwise kernel sums in the reference's order (no contraction here)
        assert (outs["dw_f32"] == outs["dw_f32_ref"]).all()


# --- int8 ---------------------------------------------------------------------------------------


@dataclass
class S8Case:
    x: np.ndarray
    w: np.ndarray  # numpy layout (kh, kw, C_in/groups, C_out)
    bias: np.ndarray | None
    in_zp: int
    out_zp: int
    mults: np.ndarray
    shifts: np.ndarray
    act_min: int
    act_max: int

    @property
    def per_channel(self) -> bool:
        return self.mults.size > 1


def s8_case(s: Spec, rng: np.random.Generator, per_channel: bool, act: str | None, with_bias: bool = True,
            gain: float = 60.0) -> S8Case:
    """Random int8 data with multipliers scaled so the outputs spread over the int8 range (some
    saturate): M = gain / max|acc| per channel (or per tensor), from the exact accumulators."""
    in_zp = int(rng.integers(-128, 128))
    x = rng.integers(-128, 128, s.x).astype(np.int8)
    w = rng.integers(-127, 128, s.w_shape()).astype(np.int8)
    acc = conv_forward((x.astype(np.float64) - in_zp), w.astype(np.float64), None, s.geo, s.groups)
    amax = np.abs(acc).reshape(-1, s.cout).max(axis=0) + 1.0
    bias = rng.uniform(-0.25, 0.25, s.cout) * amax if with_bias else None
    if per_channel:
        reals = gain / amax * rng.uniform(0.7, 1.3, s.cout)
    else:
        reals = np.array([gain / amax.max()])
    mults, shifts = quant.quantize_multipliers(reals)
    out_zp = int(rng.integers(-100, 100))
    out_scale = float(rng.uniform(0.02, 0.1))
    act_min, act_max = quant.activation_range(act, out_scale, out_zp)  # type: ignore[arg-type]
    return S8Case(x, w, None if bias is None else bias.astype(np.int32), in_zp, out_zp, mults, shifts,
                  act_min, act_max)


def s8_expected(s: Spec, c: S8Case) -> np.ndarray:
    return cref.conv2d_s8_reference(c.x, c.w, c.bias, s.geo, s.groups, c.in_zp, c.out_zp, c.mults, c.shifts,
                                    c.act_min, c.act_max)


def conv_s8_payload(s: Spec, c: S8Case, wc: np.ndarray, eff: bool, groups: int | None = None,
                    null_scratch: int = 0, geom: tuple[int, ...] | None = None, n_out: int | None = None,
                    offsets: tuple[int, int] | None = None, act: tuple[int, int] | None = None,
                    mults: np.ndarray | None | str = "case", shifts: np.ndarray | None | str = "case",
                    x: np.ndarray | None | str = "case") -> bytes:
    g = s.geom_ints() if geom is None else geom
    n_y = int(np.prod(s.geo.out_hw)) * s.x[0] * s.cout if n_out is None else n_out
    in_off, out_off = (-c.in_zp, c.out_zp) if offsets is None else offsets
    lo, hi = (c.act_min, c.act_max) if act is None else act
    eff_bias = cref.conv_effective_bias(c.bias, c.w, c.in_zp) if eff else None
    return (i32(*g, s.groups if groups is None else groups, in_off, out_off, lo, hi, int(c.per_channel),
                null_scratch)
            + array(c.x if isinstance(x, str) else x, "i1") + array(wc, "i1") + array(c.bias, "<i4")
            + array(c.mults if isinstance(mults, str) else mults, "<i4")
            + array(c.shifts if isinstance(shifts, str) else shifts, "<i4")
            + array(eff_bias, "<i4") + i32(n_y))


def conv_s8_ops(s: Spec, w: np.ndarray) -> list[tuple[str, np.ndarray, bool]]:
    """(driver op, weights in its C layout, eff_bias) for every int8 kernel that runs this spec."""
    ohwi = cref.to_c_conv_weights(w)
    ops = [("conv_s8_ref", ohwi, False), ("conv_s8", ohwi, False), ("conv_s8", ohwi, True)]
    if s.groups == s.x[3]:
        hwo = cref.to_c_depthwise_weights(w)
        ops += [("dw_s8_ref", hwo, False), ("dw_s8", hwo, False), ("dw_s8", hwo, True)]
    return ops


@pytest.mark.parametrize("spec", CORPUS, ids=IDS)
def test_conv_s8_bit_exact(driver: Path, tmp_path: Path, spec: Spec) -> None:
    """Per-channel and per-tensor requantization alternate over the corpus (both occur among the
    grouped, depthwise and pointwise cases, where the fast kernels offset the multipliers)."""
    i = CORPUS.index(spec)
    per_channel = i % 2 == 1
    rng = np.random.default_rng(seed_of(spec.name))
    c = s8_case(spec, rng, per_channel, (None, "relu", "relu6")[i % 3], with_bias=i % 4 != 1)
    want = s8_expected(spec, c)
    inside = (want > c.act_min) & (want < c.act_max)
    assert inside.mean() >= 0.1 or want.size < 16, "the case should not saturate"  # requantization exercised
    for op, wc, eff in conv_s8_ops(spec, c.w):
        status, _, out = run(driver, op, conv_s8_payload(spec, c, wc, eff), tmp_path)
        assert status == OK, op
        got = np.frombuffer(out, np.int8).reshape(want.shape)
        assert (got == want).all(), f"{op} eff={eff}: {np.count_nonzero(got != want)} of {want.size} differ"


@pytest.mark.parametrize("in_zp", [-128, 127])
@pytest.mark.parametrize("gain", [60.0, 3e6], ids=["M<1", "M>1"])
def test_conv_s8_large_multiplier_and_extreme_zero_points(driver: Path, tmp_path: Path, in_zp: int,
                                                          gain: float) -> None:
    """Zero points at the int8 ends, where the padded slots of the fast conv hold -128 or 127, and
    multipliers above 1 (shift > 0: et_mbqm's saturating left shift; most outputs saturate)."""
    for s in specs("3x3 s1 same", "depthwise m1", "tiny 1x1 input 3x3 padded", "depthwise m2 dilation 2",
                   "depthwise dilation 3 empty windows"):
        c = s8_case(s, np.random.default_rng(in_zp + 300), True, None, gain=gain)
        c = S8Case(c.x, c.w, c.bias, in_zp, c.out_zp, c.mults, c.shifts, c.act_min, c.act_max)
        if gain > 1e3:
            assert (c.shifts > 0).all()
        want = s8_expected(s, c)
        for op, wc, eff in conv_s8_ops(s, c.w):
            status, _, out = run(driver, op, conv_s8_payload(s, c, wc, eff), tmp_path)
            assert status == OK and (np.frombuffer(out, np.int8).reshape(want.shape) == want).all(), (op, eff)


def test_int8_oracle_agrees_with_the_float_op_rule() -> None:
    """conv2d_s8_reference's integer accumulation equals ops.conv's forward on the exact integer
    values (float64 holds them exactly), padding by the zero point included."""
    for s in CORPUS:
        c = s8_case(s, np.random.default_rng(7), True, None)
        acc = conv_forward(c.x.astype(np.float64) - c.in_zp, c.w.astype(np.float64),
                           None if c.bias is None else c.bias.astype(np.float64), s.geo, s.groups)
        acc64 = acc.astype(np.int64)
        assert (acc64 == acc).all()
        want = np.clip(quant.multiply_by_quantized_multiplier(acc64, c.mults, c.shifts) + c.out_zp,
                       c.act_min, c.act_max).astype(np.int8)
        assert (s8_expected(s, c) == want).all(), s.name


def test_effective_bias_and_layouts() -> None:
    w = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5).astype(np.int8)
    ohwi = cref.to_c_conv_weights(w)
    assert ohwi.shape == (5, 2, 3, 4) and ohwi[3, 1, 2, 0] == w[1, 2, 0, 3]
    dw = w[:, :, :1, :]
    assert (cref.to_c_depthwise_weights(dw)[1, 2] == dw[1, 2, 0]).all()
    eff = cref.conv_effective_bias(np.arange(5, dtype=np.int32), w, -3)
    assert (eff == np.arange(5) + 3 * w.astype(np.int64).sum(axis=(0, 1, 2))).all()
    with pytest.raises(ValueError):
        cref.to_c_depthwise_weights(w)


# --- pools ----------------------------------------------------------------------------------------


@dataclass
class PoolSpec:
    name: str
    x: tuple[int, int, int, int]
    pool: tuple[int, int]
    stride: Any = None
    padding: Any = "valid"
    geo: Geometry = field(init=False)

    def __post_init__(self) -> None:
        self.geo = cref.conv_geometry(self.x[1:3], self.pool, self.stride or self.pool, 1, self.padding)

    def geom_ints(self, **over: int) -> tuple[int, ...]:
        g = self.geo
        vals = dict(batch=self.x[0], in_h=g.in_hw[0], in_w=g.in_hw[1], in_c=self.x[3], out_h=g.out_hw[0],
                    out_w=g.out_hw[1], out_c=self.x[3], kernel_h=g.kernel[0], kernel_w=g.kernel[1],
                    stride_h=g.stride[0], stride_w=g.stride[1], dilation_h=1, dilation_w=1,
                    pad_top=g.pads[0][0], pad_bottom=g.pads[0][1], pad_left=g.pads[1][0],
                    pad_right=g.pads[1][1])
        vals.update(over)
        return tuple(vals.values())

    def n_out(self) -> int:
        return self.x[0] * int(np.prod(self.geo.out_hw)) * self.x[3]


POOLS = [
    PoolSpec("2x2 valid", (2, 8, 8, 3), (2, 2)),
    PoolSpec("2x2 same odd 7x5", (1, 7, 5, 4), (2, 2), padding="same"),
    PoolSpec("3x3 s2 same", (1, 9, 7, 2), (3, 3), 2, "same"),
    PoolSpec("3x3 s1 same", (1, 5, 6, 3), (3, 3), 1, "same"),
    PoolSpec("3x2 explicit asym", (2, 6, 7, 5), (3, 2), (2, 1), [[0, 2], [1, 0]]),
    PoolSpec("1-D pool 3 s2", (1, 1, 15, 4), (1, 3), (1, 2), "same"),
    PoolSpec("tiny 1x1 input", (1, 1, 1, 3), (2, 2), 1, [[1, 0], [0, 1]]),
]
POOL_IDS = [p.name for p in POOLS]


def pool_f32_oracle(p: PoolSpec, x: np.ndarray, kind: str) -> np.ndarray:
    x64 = x.astype(np.float64)
    if kind == "max":
        return windows(pad(x64, p.geo, -np.inf), p.geo).max(axis=(3, 4))
    counts = AvgPoolOp().counts(p.geo, np.float64)
    return windows(pad(x64, p.geo), p.geo).sum(axis=(3, 4)) / (p.geo.taps if counts is None else counts)


def test_pool_oracle_is_the_op_rule() -> None:
    """The float pool oracle (the ops.pool helpers, which also take explicit pads) equals the op
    rules' forward where the op attributes can express the geometry."""
    rng = np.random.default_rng(1)
    for p in POOLS:
        if isinstance(p.padding, list):
            continue
        x = rng.standard_normal(p.x).astype(np.float32)
        node = SimpleNamespace(name="p", attrs={"pool": list(p.pool), "stride": list(p.geo.stride),
                                                "padding": p.padding})
        for op, kind in ((MaxPoolOp(), "max"), (AvgPoolOp(), "avg")):
            got = op.forward(node, [x], {})
            np.testing.assert_allclose(got, pool_f32_oracle(p, x, kind), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("p", POOLS, ids=POOL_IDS)
def test_pools_f32_match_numpy(driver: Path, tmp_path: Path, p: PoolSpec) -> None:
    rng = np.random.default_rng(POOLS.index(p))
    x = (rng.standard_normal(p.x) * 3).astype(np.float32)
    for kind, op in (("max", "maxpool_f32"), ("avg", "avgpool_f32")):
        for lo, hi in ACTS_F32:
            want = np.clip(pool_f32_oracle(p, x, kind), lo, hi)
            status, _, out = run(driver, op, i32(*p.geom_ints()) + f32(lo, hi) + array(x, "<f4") + i32(p.n_out()),
                                 tmp_path)
            assert status == OK
            got = np.frombuffer(out, np.float32).reshape(want.shape)
            if kind == "max":
                assert (got == want).all()
            else:
                scale = pool_f32_oracle(p, np.abs(x), "avg")
                assert np.all(np.abs(got - want) <= 1e-5 * scale + 1e-30)


@pytest.mark.parametrize("p", POOLS, ids=POOL_IDS)
def test_pools_s8_bit_exact(driver: Path, tmp_path: Path, p: PoolSpec) -> None:
    rng = np.random.default_rng(100 + POOLS.index(p))
    x = rng.integers(-128, 128, p.x).astype(np.int8)
    for lo, hi in ((-128, 127), (-5, 127), (-20, 40)):
        for op, ref in (("maxpool_s8", cref.max_pool_s8_reference), ("avgpool_s8", cref.avg_pool_s8_reference)):
            want = ref(x, p.geo, lo, hi)
            status, _, out = run(driver, op, i32(*p.geom_ints(), lo, hi) + array(x, "i1") + i32(p.n_out()), tmp_path)
            assert status == OK
            assert (np.frombuffer(out, np.int8).reshape(want.shape) == want).all(), op


def test_avg_pool_s8_rounds_half_away_from_zero() -> None:
    """TFLite's AVERAGE_POOL_2D rounding, by hand: 3/2 -> 2, -3/2 -> -2, 5/3 -> 2, -5/3 -> -2, and
    a padded corner divides by its in-bounds count."""
    x = np.array([1, 2, -1, -2, 1, 2, 2, -1, -2, -2], np.int8).reshape(1, 1, 10, 1)
    g = cref.conv_geometry((1, 10), (1, 2), (1, 2))
    assert cref.avg_pool_s8_reference(x, g).reshape(-1).tolist() == [2, -2, 2, 1, -2]  # 1.5 -1.5 1.5 0.5 -2
    g3 = cref.conv_geometry((1, 9), (1, 3), (1, 3))
    x3 = np.array([1, 2, 2, -1, -2, -2, 0, 0, 1], np.int8).reshape(1, 1, 9, 1)
    assert cref.avg_pool_s8_reference(x3, g3).reshape(-1).tolist() == [2, -2, 0]
    gp = cref.conv_geometry((2, 2), (2, 2), (1, 1), 1, [[1, 0], [1, 0]])
    xp = np.array([7, 100, 100, 100], np.int8).reshape(1, 2, 2, 1)
    assert cref.avg_pool_s8_reference(xp, gp)[0, 0, 0, 0] == 7  # one in-bounds value, not 7/4


@pytest.mark.parametrize("shape", [(2, 4, 4, 3), (1, 1, 9, 5), (1, 1, 1, 4), (3, 7, 5, 2), (1, 25, 5, 64),
                                   (2, 20, 15, 7)],
                         ids=["4x4", "1-D", "1x1", "7x5", "25x5x64", "300 positions 7ch"])
def test_global_avg_pool(driver: Path, tmp_path: Path, shape: tuple[int, int, int, int]) -> None:
    rng = np.random.default_rng(shape[1] * 10 + shape[2])
    n, h, w, c = shape
    x = (rng.standard_normal(shape) * 2).astype(np.float32)
    for lo, hi in ACTS_F32:
        want = np.clip(GlobalAvgPoolOp().forward(None, [x.astype(np.float64)], {}), lo, hi)
        status, _, out = run(driver, "gap_f32", i32(n, h, w, c) + f32(lo, hi) + array(x, "<f4") + i32(n * c),
                             tmp_path)
        assert status == OK
        scale = np.abs(x.astype(np.float64)).mean(axis=(1, 2))
        assert np.all(np.abs(np.frombuffer(out, np.float32).reshape(n, c) - want) <= 1e-5 * scale + 1e-30)
    xq = rng.integers(-128, 128, shape).astype(np.int8)
    for in_scale, out_scale, in_zp, out_zp, act in ((0.05, 0.05, 3, 3, (-128, 127)), (0.05, 0.02, -128, 10, (10, 127)),
                                                    (0.1, 0.3, 127, -128, (-128, 127)), (0.02, 0.05, 0, -7, (-50, 50))):
        m, s = cref.global_avg_pool_s8_params(in_scale, out_scale)
        want = cref.global_avg_pool_s8_reference(xq, in_zp, out_zp, m, s, *act)
        status, _, out = run(driver, "gap_s8", i32(n, h, w, c, -in_zp, out_zp, m, s, *act) + array(xq, "i1")
                             + i32(n * c), tmp_path)
        assert status == OK
        assert (np.frombuffer(out, np.int8).reshape(n, c) == want).all(), (in_scale, out_scale)
        # It is a mean: the int8 result is within one code (plus the output rounding) of the real one.
        real = ((xq.astype(np.float64) - in_zp) * in_scale).mean(axis=(1, 2)) / out_scale + out_zp
        assert np.all(np.abs(want - np.clip(real, *act)) <= 1.01)


def test_global_avg_pool_s8_rounding_by_hand() -> None:
    """TFLite Micro's MEAN: the same quantization in and out takes the plain mean of the raw codes
    (truncated toward zero); otherwise 1 / count is folded into the requantization."""
    m, s = cref.global_avg_pool_s8_params(0.1, 0.1)
    assert (m, s) == (1 << 30, 1)
    x = np.array([[1, 2], [-1, -2]], np.int8).reshape(2, 1, 2, 1)
    assert cref.global_avg_pool_s8_reference(x, 0, 0, m, s).reshape(-1).tolist() == [1, -1]  # 1.5, -1.5
    x2 = np.array([5, 6], np.int8).reshape(1, 1, 2, 1)
    assert cref.global_avg_pool_s8_reference(x2, 4, 4, m, s).reshape(-1).tolist() == [5]  # 11 / 2
    # in 0.1 -> out 0.2: (2^30, 0) -> s = 1, (2^30, -1) for the 2 positions; sum (x - 4) = 3 -> 0.75 -> 1
    m2, s2 = cref.global_avg_pool_s8_params(0.1, 0.2)
    assert (m2, s2) == (1 << 30, 0) and cref.mean_multiplier(m2, s2, 2) == (1 << 30, -1)
    assert cref.global_avg_pool_s8_reference(x2, 4, 0, m2, s2).reshape(-1).tolist() == [1]
    assert cref.mean_multiplier(1 << 30, 1, 3) == ((1 << 31) // 3, 0)  # truncated: 715827882
    assert cref.mean_multiplier(1 << 30, -31, 125)[1] == -31  # s capped at 31 + shift


# --- argument checks -------------------------------------------------------------------------------

BASE = Spec("base", (1, 6, 5, 4), (3, 3), 4, stride=1, padding="same", groups=1)
BASE_DW = Spec("base dw", (1, 6, 5, 4), (3, 3), 8, stride=1, padding="same", groups=4)
GEOM_FIELDS = ["batch", "in_h", "in_w", "in_c", "out_h", "out_w", "out_c", "kernel_h", "kernel_w", "stride_h",
               "stride_w", "dilation_h", "dilation_w", "pad_top", "pad_bottom", "pad_left", "pad_right"]


def with_geom(s: Spec, **over: int) -> tuple[int, ...]:
    vals = dict(zip(GEOM_FIELDS, s.geom_ints()))
    vals.update(over)
    return tuple(vals.values())


# (id, geometry overrides, groups override (None: the spec's), expected status)
GEOM_CHECKS = [
    ("batch 0", dict(batch=0), None, BAD_SHAPE),
    ("in_h 0", dict(in_h=0), None, BAD_SHAPE),
    ("in_w negative", dict(in_w=-3), None, BAD_SHAPE),
    ("in_c 0", dict(in_c=0), None, BAD_SHAPE),
    ("out_c 0", dict(out_c=0), None, BAD_SHAPE),
    ("kernel_w 0", dict(kernel_w=0), None, BAD_SHAPE),
    ("stride 0", dict(stride_h=0), None, BAD_PARAM),
    ("dilation 0", dict(dilation_w=0), None, BAD_PARAM),
    ("negative pad", dict(pad_left=-1), None, BAD_PARAM),
    ("pad beyond the window", dict(pad_top=3, out_h=8), None, BAD_PARAM),
    ("pad beyond the dilated window", dict(dilation_h=2, pad_bottom=5, pad_top=0, out_h=7), None, BAD_PARAM),
    ("out_h off the formula", dict(out_h=5), None, BAD_SHAPE),
    ("out_w off the formula", dict(out_w=6), None, BAD_SHAPE),
    ("window larger than the padded input", dict(in_h=1, kernel_h=5, pad_top=1, pad_bottom=1, out_h=1), None,
     BAD_SHAPE),
    ("tensor beyond int32", dict(batch=1 << 26), None, BAD_SHAPE),
    ("groups 0", dict(), 0, BAD_PARAM),
    ("groups not dividing", dict(), 3, BAD_SHAPE),
]


def conv_ops_for_checks(depthwise: bool) -> list[str]:
    return ["dw_f32_ref", "dw_f32"] if depthwise else ["conv_f32_ref", "conv_f32"]


@pytest.mark.parametrize("check", GEOM_CHECKS, ids=[c[0] for c in GEOM_CHECKS])
def test_conv_argument_checks(driver: Path, tmp_path: Path, check: tuple) -> None:
    name, over, groups, want = check
    rng = np.random.default_rng(0)
    for s, dw in ((BASE, False), (BASE_DW, True)):
        if dw and groups == 3:
            groups = 2  # a depthwise groups != in_c is its own check below
            want_dw = BAD_PARAM
        else:
            want_dw = want
        expect = want_dw if dw else want
        x, w, b = float_case(s, rng)
        wc = cref.to_c_depthwise_weights(w) if dw else cref.to_c_conv_weights(w)
        for op in conv_ops_for_checks(dw):
            status, scratch, _ = run(driver, op, conv_f32_payload(s, x, wc, b, 0.0, 6.0, groups,
                                                                  geom=with_geom(s, **over)), tmp_path)
            assert status == expect, (op, name)
            if op == "conv_f32":
                assert scratch == -1
        c = s8_case(s, rng, True, None)
        wc8 = cref.to_c_depthwise_weights(c.w) if dw else cref.to_c_conv_weights(c.w)
        for op in (["dw_s8_ref", "dw_s8"] if dw else ["conv_s8_ref", "conv_s8"]):
            status, scratch, _ = run(driver, op, conv_s8_payload(s, c, wc8, op.endswith("s8"), groups,
                                                                 geom=with_geom(s, **over)), tmp_path)
            assert status == expect, (op, name)
            if op == "conv_s8":
                assert scratch == -1


# (id, payload overrides for the int8 kernels, expected status)
S8_CHECKS = [
    ("input_offset above 128", dict(offsets=(129, 0)), BAD_PARAM),
    ("input_offset below -127", dict(offsets=(-128, 0)), BAD_PARAM),
    ("output_offset above 127", dict(offsets=(0, 128)), BAD_PARAM),
    ("act_min above act_max", dict(act=(10, 5)), BAD_PARAM),
    ("act_min below -128", dict(act=(-129, 0)), BAD_PARAM),
    ("act_max above 127", dict(act=(0, 128)), BAD_PARAM),
    ("negative multiplier", dict(mults="neg"), BAD_PARAM),
    ("shift above 30", dict(shifts="big"), BAD_PARAM),
    ("shift below -31", dict(shifts="small"), BAD_PARAM),
    ("multipliers NULL", dict(mults=None), NULL_ARG),
    ("shifts NULL", dict(shifts=None), NULL_ARG),
    ("input NULL", dict(x=None), NULL_ARG),
]


@pytest.mark.parametrize("check", S8_CHECKS, ids=[c[0] for c in S8_CHECKS])
def test_conv_s8_argument_checks(driver: Path, tmp_path: Path, check: tuple) -> None:
    name, spec_over, want = check
    for s, dw in ((BASE, False), (BASE_DW, True)):
        c = s8_case(s, np.random.default_rng(1), True, None)
        over = dict(spec_over)
        if isinstance(over.get("mults"), str):  # one bad value, in the last channel
            over["mults"] = np.where(np.arange(s.cout) == s.cout - 1, -5, c.mults)
        if isinstance(over.get("shifts"), str):
            over["shifts"] = np.where(np.arange(s.cout) == 1, 31 if over["shifts"] == "big" else -32, c.shifts)
        wc = cref.to_c_depthwise_weights(c.w) if dw else cref.to_c_conv_weights(c.w)
        for op in (["dw_s8_ref", "dw_s8"] if dw else ["conv_s8_ref", "conv_s8"]):
            status, _, _ = run(driver, op, conv_s8_payload(s, c, wc, False, **over), tmp_path)
            assert status == want, (op, name)


def test_window_too_large_for_int8(driver: Path, tmp_path: Path) -> None:
    """A window of more than ET_CONV_S8_MAX_WINDOW values: BAD_SHAPE for int8 (the float kernels
    have no such bound)."""
    s = Spec("huge window", (1, 1, 1, 65793), (1, 1), 1)
    c = S8Case(np.zeros(s.x, np.int8), np.zeros(s.w_shape(), np.int8), None, 0, 0, np.array([1 << 30], np.int32),
               np.array([-1], np.int32), -128, 127)
    for op in ("conv_s8_ref", "conv_s8"):
        assert run(driver, op, conv_s8_payload(s, c, cref.to_c_conv_weights(c.w), False), tmp_path)[0] == BAD_SHAPE
    ok = Spec("largest window", (1, 1, 1, 65792), (1, 1), 1)
    c2 = S8Case(np.full(ok.x, 127, np.int8), np.full(ok.w_shape(), -127, np.int8), None, -128, 0,
                np.array([1 << 30], np.int32), np.array([-20], np.int32), -128, 127)
    want = s8_expected(ok, c2)
    for op in ("conv_s8_ref", "conv_s8"):
        status, _, out = run(driver, op, conv_s8_payload(ok, c2, cref.to_c_conv_weights(c2.w), False), tmp_path)
        assert status == OK and np.frombuffer(out, np.int8).tolist() == want.reshape(-1).tolist()


def test_depthwise_needs_groups_equal_channels(driver: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    x, w, b = float_case(BASE_DW, rng)
    for groups, want in ((1, BAD_PARAM), (2, BAD_PARAM), (4, OK)):
        for op in ("dw_f32_ref", "dw_f32"):
            payload = conv_f32_payload(BASE_DW, x, cref.to_c_depthwise_weights(w), b, 0.0, 6.0, groups)
            assert run(driver, op, payload, tmp_path)[0] == want, (op, groups)
    # out_c not a multiple of in_c
    status, _, _ = run(driver, "dw_f32_ref", conv_f32_payload(BASE_DW, x, cref.to_c_depthwise_weights(w), b, 0.0,
                                                             6.0, geom=with_geom(BASE_DW, out_c=6)), tmp_path)
    assert status == BAD_SHAPE


def test_float_clamp_checks(driver: Path, tmp_path: Path) -> None:
    x, w, b = float_case(BASE, np.random.default_rng(4))
    wc = cref.to_c_conv_weights(w)
    for lo, hi in ((1.0, 0.0), (float("nan"), 1.0), (0.0, float("nan"))):
        for op in ("conv_f32_ref", "conv_f32"):
            assert run(driver, op, conv_f32_payload(BASE, x, wc, b, lo, hi), tmp_path)[0] == BAD_PARAM
    for op in ("conv_f32_ref", "conv_f32"):  # NULL input, NULL weights
        assert run(driver, op, conv_f32_payload(BASE, None, wc, b, 0.0, 1.0), tmp_path)[0] == NULL_ARG
        assert run(driver, op, conv_f32_payload(BASE, x, None, b, 0.0, 1.0), tmp_path)[0] == NULL_ARG


def test_scratch_sizes_and_null_scratch(driver: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    for s in CORPUS:
        x, w, b = float_case(s, rng)
        pointwise = s.kernel == (1, 1) and s.groups == 1
        window = s.kernel[0] * s.kernel[1] * (s.x[3] // s.groups)
        status, scratch, _ = run(driver, "conv_f32", conv_f32_payload(s, x, cref.to_c_conv_weights(w), b,
                                                                      -F32_MAX, F32_MAX, null_scratch=1), tmp_path)
        assert scratch == (0 if pointwise else 4 * window), s.name
        assert status == (OK if pointwise else NULL_ARG), s.name
        c = s8_case(s, rng, False, None)
        status, scratch, _ = run(driver, "conv_s8", conv_s8_payload(s, c, cref.to_c_conv_weights(c.w), False,
                                                                    null_scratch=1), tmp_path)
        # int8: two int16 windows (the 2-pixel im2col) and one int8 window, plus word-alignment slack;
        # the exporter's twin formula agrees.
        assert scratch == (0 if pointwise else 5 * window + 3) == conv_scratch_bytes(*s.kernel, s.x[3], s.groups, 1)
        assert status == (OK if pointwise else NULL_ARG), s.name


def dw_scratch(s: Spec) -> int:
    """The exporter's twin of et_depthwise_conv_s8_scratch_bytes for a depthwise spec."""
    return depthwise_conv_s8_scratch_bytes(s.x[3], s.cout, s.kernel, s.geo.stride, s.geo.dilation, s.geo.out_hw)


def test_depthwise_s8_scratch_sizes_and_null_scratch(driver: Path, tmp_path: Path) -> None:
    """The int8 depthwise kernel's padded band: the C size and the exporter's formula agree, the
    driver hands over exactly that many bytes (ASan checks the band's bounds), and NULL is refused
    when it is needed."""
    rng = np.random.default_rng(6)
    seen = set()
    for s in CORPUS:
        if s.groups != s.x[3]:
            continue
        c = s8_case(s, rng, False, None)
        want = dw_scratch(s)
        multiplier1 = s.cout == s.x[3] and s.cout >= 4 and s.kernel[0] * s.kernel[1] <= 49
        span = (s.kernel[0] - 1) * s.geo.dilation[0] + 1
        band_w = (s.geo.out_hw[1] - 1) * s.geo.stride[1] + (s.kernel[1] - 1) * s.geo.dilation[1] + 1
        n = (2 * span - 1) * band_w * 4
        if s.kernel == (3, 3) and s.geo.dilation == (1, 1):  # the int16 pairs along the longer axis
            oh, ow = s.geo.out_hw
            n = max(n, 80 * ((oh - 1) * s.geo.stride[0] + 3 if oh > ow else band_w))
        assert want == (n + 3 if multiplier1 else 0), s.name
        wc = cref.to_c_depthwise_weights(c.w)
        status, scratch, _ = run(driver, "dw_s8", conv_s8_payload(s, c, wc, False, null_scratch=1), tmp_path)
        assert scratch == want, s.name
        assert status == (NULL_ARG if want else OK), s.name
        seen.add(bool(want))
    assert seen == {True, False}


POOL_CHECKS = [
    ("out_c other than in_c", dict(out_c=2), BAD_SHAPE),
    ("dilation 2", dict(dilation_h=2, out_h=3), BAD_PARAM),
    ("pad beyond the window", dict(pad_top=2, out_h=5), BAD_PARAM),
    ("out_w off the formula", dict(out_w=1), BAD_SHAPE),
    ("stride 0", dict(stride_w=0), BAD_PARAM),
    ("batch 0", dict(batch=0), BAD_SHAPE),
]


@pytest.mark.parametrize("check", POOL_CHECKS, ids=[c[0] for c in POOL_CHECKS])
def test_pool_argument_checks(driver: Path, tmp_path: Path, check: tuple) -> None:
    name, over, want = check
    p = POOLS[1]  # 2x2 same over 7x5x4: pads (0, 1) (0, 1), out 4x3
    x = np.zeros(p.x, np.float32)
    for op in ("maxpool_f32", "avgpool_f32"):
        status, _, _ = run(driver, op, i32(*p.geom_ints(**over)) + f32(0.0, 1.0) + array(x, "<f4") + i32(p.n_out()),
                           tmp_path)
        assert status == want, op
    for op in ("maxpool_s8", "avgpool_s8"):
        status, _, _ = run(driver, op, i32(*p.geom_ints(**over), 0, 1) + array(x.astype(np.int8), "i1")
                           + i32(p.n_out()), tmp_path)
        assert status == want, op


def test_pool_clamp_and_null_checks(driver: Path, tmp_path: Path) -> None:
    p = POOLS[0]
    x = np.zeros(p.x, np.float32)
    for op in ("maxpool_f32", "avgpool_f32"):
        assert run(driver, op, i32(*p.geom_ints()) + f32(2.0, 1.0) + array(x, "<f4") + i32(p.n_out()),
                   tmp_path)[0] == BAD_PARAM
        assert run(driver, op, i32(*p.geom_ints()) + f32(0.0, 1.0) + array(None, "<f4") + i32(p.n_out()),
                   tmp_path)[0] == NULL_ARG
    for op in ("maxpool_s8", "avgpool_s8"):
        for lo, hi in ((5, 4), (-129, 0), (0, 128)):
            assert run(driver, op, i32(*p.geom_ints(), lo, hi) + array(x.astype(np.int8), "i1") + i32(p.n_out()),
                       tmp_path)[0] == BAD_PARAM
    xq = np.zeros((1, 2, 2, 3), np.int8)
    good = dict(batch=1, h=2, w=2, c=3, in_off=0, out_off=0, m=1 << 30, s=1, lo=-128, hi=127)
    bad = [(dict(c=0), BAD_SHAPE), (dict(h=0), BAD_SHAPE), (dict(h=8388608, w=1), BAD_SHAPE),
           (dict(in_off=129), BAD_PARAM), (dict(out_off=-129), BAD_PARAM), (dict(m=-1), BAD_PARAM),
           (dict(s=31), BAD_PARAM), (dict(s=-32), BAD_PARAM), (dict(lo=3, hi=2), BAD_PARAM), (dict(), OK)]
    for over, want in bad:
        v = {**good, **over}
        assert run(driver, "gap_s8", i32(*v.values()) + array(xq, "i1") + i32(3), tmp_path)[0] == want, over
    xf = np.zeros((1, 2, 2, 3), np.float32)
    assert run(driver, "gap_f32", i32(1, 2, 2, 0) + f32(0, 1) + array(xf, "<f4") + i32(3), tmp_path)[0] == BAD_SHAPE
    assert run(driver, "gap_f32", i32(1, 2, 2, 3) + f32(1, 0) + array(xf, "<f4") + i32(3), tmp_path)[0] == BAD_PARAM
    assert run(driver, "gap_f32", i32(1, 2, 2, 3) + f32(0, 1) + array(None, "<f4") + i32(3), tmp_path)[0] == NULL_ARG


# --- cross compilation and Cortex-M4 ---------------------------------------------------------------


@pytest.mark.cross
@pytest.mark.parametrize("cpu", [M3, M4F], ids=["cortex-m3", "cortex-m4f"])
def test_conv_sources_cross_compile_warning_free(arm_cc: str, tmp_path: Path, cpu: list[str]) -> None:
    for name in NEW_SOURCES:
        res = subprocess.run([arm_cc, *STRICT, *cpu, f"-I{INC}", "-c", str(SRC / name),
                              "-o", str(tmp_path / (Path(name).stem + ".o"))], capture_output=True, text=True)
        assert res.returncode == 0 and not res.stderr, f"{name}: {res.stderr}"


class M4:
    """The conv kernels as a flat Cortex-M4F image in the unicorn emulator (as test_c_kernels'
    M4Runner does for dense): functions are called with registers set directly. cpu="m3" builds
    for Cortex-M3 (no DSP extension, soft float) and runs unicorn's Cortex-M3 model."""

    RAM, RAM_SIZE, RET = 0x2000_0000, 0x40_0000, 0x000F_FF00

    def __init__(self, arm_cc: str, out_dir: Path, cpu: str = "m4") -> None:
        from unicorn import UC_ARCH_ARM, UC_MODE_MCLASS, UC_MODE_THUMB, Uc
        from unicorn.arm_const import UC_CPU_ARM_CORTEX_M3, UC_CPU_ARM_CORTEX_M4

        elf, image = out_dir / "conv.elf", out_dir / "conv.bin"
        flags = M4F if cpu == "m4" else [*M3, "-mfloat-abi=soft"]
        # Production flags (-O2, fused multiply-add allowed); newlib for memcpy / memset.
        subprocess.run([arm_cc, *STRICT, *flags, f"-I{INC}", "-nostdlib", "-nostartfiles",
                        f"-Wl,-T,{ROOT / 'tests' / 'c' / 'unicorn_m4.ld'}", "-Wl,--no-warn-rwx-segments",
                        *(str(SRC / s) for s in SOURCES), "-lc", "-lgcc", "-o", str(elf)],
                       check=True, capture_output=True, text=True)
        subprocess.run([arm_cc.replace("gcc", "objcopy"), "-O", "binary", str(elf), str(image)], check=True)
        nm = subprocess.run([arm_cc.replace("gcc", "nm"), str(elf)], capture_output=True, text=True, check=True)
        self.symbols = {p[2]: int(p[0], 16) for p in (ln.split() for ln in nm.stdout.splitlines()) if len(p) == 3}
        self.uc = Uc(UC_ARCH_ARM, UC_MODE_THUMB | UC_MODE_MCLASS)
        self.uc.ctl_set_cpu_model(UC_CPU_ARM_CORTEX_M4 if cpu == "m4" else UC_CPU_ARM_CORTEX_M3)
        self.uc.mem_map(0, 0x10_0000)
        self.uc.mem_write(0, image.read_bytes())
        self.uc.mem_map(self.RAM, self.RAM_SIZE)
        self.next = self.RAM

    def alloc(self, data: bytes) -> int:
        addr = self.next
        self.uc.mem_write(addr, data)
        self.next = (addr + len(data) + 7) & ~7
        assert self.next < self.RAM + self.RAM_SIZE - 0x1000
        return addr

    def call(self, name: str, *args: int) -> int:
        from unicorn.arm_const import (UC_ARM_REG_LR, UC_ARM_REG_R0, UC_ARM_REG_R1, UC_ARM_REG_R2,
                                       UC_ARM_REG_R3, UC_ARM_REG_SP)

        sp = self.RAM + self.RAM_SIZE - 0x100
        if len(args) > 4:
            self.uc.mem_write(sp, struct.pack(f"<{len(args) - 4}I", *args[4:]))
        for reg, val in zip((UC_ARM_REG_R0, UC_ARM_REG_R1, UC_ARM_REG_R2, UC_ARM_REG_R3), args[:4]):
            self.uc.reg_write(reg, val)
        self.uc.reg_write(UC_ARM_REG_SP, sp)
        self.uc.reg_write(UC_ARM_REG_LR, self.RET | 1)
        self.uc.emu_start(self.symbols[name] | 1, self.RET)
        return self.uc.reg_read(UC_ARM_REG_R0)


@pytest.fixture(scope="module")
def m4(tmp_path_factory: pytest.TempPathFactory) -> M4:
    from conftest import require_tool

    pytest.importorskip("unicorn")
    return M4(require_tool("arm-none-eabi-gcc"), tmp_path_factory.mktemp("m4conv"))


@pytest.mark.cross
def test_m4_conv_s8_bit_exact(m4: M4) -> None:
    """On Cortex-M4 the int8 conv windows run through et_dense_s8's SMLAD path and the depthwise
    kernel through the M4 build of its C loop: both stay bit-exact with the numpy reference."""
    run_s8_on_cortex_m(m4, M4_S8_SPECS)


# The int8 shapes run on the Cortex-M cores: every fast path and its leftovers.
M4_S8_SPECS = ["3x3 s1 same", "3x3 s2 same odd 7x5", "3x3 explicit asym pads", "3x3 dilation 2 same",
               "1x1 pointwise s1", "1x1 pointwise s2 odd", "groups 2 3x3", "depthwise m1", "depthwise m2 s2",
               "depthwise m2 dilation 2", "depthwise dilation 3 empty windows", "conv1d k5 s2 same",
               "conv1d depthwise m2", "first layer 1ch 3x3", "first layer 1ch 5x5 s2", "tiny 1x1 input 3x3 padded",
               "odd pixels odd out_c 3x3 5->7", "first layer 1ch 3x3 valid", "first layer 10x4 s2 same",
               "3x3 -> 70 channels", "1x1 pointwise 70 inputs odd pixels", "1x1 pointwise odd pixels odd out_c",
               "groups 3 odd channels", "depthwise m1 9ch s2 valid", "depthwise m1 16ch 5x5 same",
               "depthwise m1 dilation 2 same", "depthwise m1 8x8 kernel", "depthwise m1 3x3 on 2-wide",
               "depthwise m1 5x5 valid", "depthwise band 3x3 odd width 12ch", "depthwise band 3x3 s2 same 13ch batch 2",
               "depthwise band 3x3 on 1-wide", "depthwise band 3x3 s2 asym pads", "depthwise band 2x2 s3 skipped rows",
               "depthwise band 3x3 ds-cnn 25x5x20 batch 2", "depthwise band m2 3x3 same batch 2",
               "depthwise band 5x5 dilation 2 7ch", "depthwise band 3x3 tall s2 asym pads"] + [f"random {i}" for i in range(6)]


def run_s8_on_cortex_m(m4: "M4", names: list[str]) -> None:
    """Every int8 conv kernel (reference, fast with and without eff_bias) on `names`, per-channel and
    per-tensor, with and without a fused ReLU and a bias, plus multipliers above 1 on some: bit-exact
    with the numpy reference."""
    for k, s in enumerate(specs(*names)):
        c = s8_case(s, np.random.default_rng(seed_of(s.name) + 7), k % 2 == 0, (None, "relu")[k % 2],
                    with_bias=k % 3 != 2, gain=3e6 if k % 7 == 3 else 60.0)
        want = s8_expected(s, c).reshape(-1)
        n_y = want.size
        for fn, wc, eff in conv_s8_ops(s, c.w):
            m4.next = m4.RAM
            name = {"conv_s8_ref": "et_conv_s8_ref", "conv_s8": "et_conv_s8", "dw_s8_ref": "et_depthwise_conv_s8_ref",
                    "dw_s8": "et_depthwise_conv_s8"}[fn]
            x, w = m4.alloc(c.x.tobytes()), m4.alloc(np.ascontiguousarray(wc).tobytes())
            bias = m4.alloc(c.bias.tobytes()) if c.bias is not None else 0
            mults, shifts = m4.alloc(c.mults.astype("<i4").tobytes()), m4.alloc(c.shifts.astype("<i4").tobytes())
            effp = m4.alloc(cref.conv_effective_bias(c.bias, c.w, c.in_zp).tobytes()) if eff else 0
            params = m4.alloc(struct.pack("<23i3I", *s.geom_ints(), s.groups, -c.in_zp, c.out_zp, c.act_min,
                                          c.act_max, int(c.per_channel), mults, shifts, effp))
            y = m4.alloc(bytes(n_y))
            # any alignment of the scratch: the kernel aligns its int16 part itself
            n_s = dw_scratch(s) if fn == "dw_s8" else 5 * int(np.prod(s.w_shape()[:3])) + 3
            scratch = m4.alloc(bytes(n_s + k % 4)) + k % 4
            if fn in ("conv_s8", "dw_s8"):
                status = m4.call(name, params, x, w, bias, y, scratch)
            else:
                status = m4.call(name, params, x, w, bias, y)
            assert status == OK, (s.name, fn)
            got = np.frombuffer(bytes(m4.uc.mem_read(y, n_y)), np.int8)
            assert (got == want).all(), (s.name, fn, eff)


@pytest.fixture(scope="module")
def m3(tmp_path_factory: pytest.TempPathFactory) -> M4:
    from conftest import require_tool

    pytest.importorskip("unicorn")
    return M4(require_tool("arm-none-eabi-gcc"), tmp_path_factory.mktemp("m3conv"), cpu="m3")


@pytest.mark.cross
def test_m3_conv_s8_bit_exact(m3: M4) -> None:
    """The Cortex-M3 build (no DSP extension: the portable multiply-accumulate loops, the Thumb-2
    requantization loop) is bit-exact on the same shapes as the M4 one."""
    with pytest.raises(KeyError):  # the DSP loop is not in this image
        m3.symbols["et_conv_s8_mac2x2"]
    run_s8_on_cortex_m(m3, M4_S8_SPECS)


@pytest.mark.cross
@pytest.mark.parametrize("cpu", ["m4", "m3"])
def test_cortex_m_global_avg_pool_s8_bit_exact(cpu: str, request: pytest.FixtureRequest) -> None:
    """The global average pool's int16-lane sums (SXTAB16 on M4, flushed every 256 positions) and
    its leftover channels, at the int8 extremes and on random data, more and fewer than 256
    positions."""
    mc: M4 = request.getfixturevalue(cpu)
    rng = np.random.default_rng(11)
    cases = [((1, 25, 5, 64), "random"), ((2, 20, 15, 7), "random"), ((1, 16, 32, 8), "min"),
             ((1, 16, 32, 5), "max"), ((1, 1, 257, 4), "min"), ((1, 3, 3, 6), "random")]
    for shape, kind in cases:
        n, h, w, c = shape
        if kind == "random":
            xq = rng.integers(-128, 128, shape).astype(np.int8)
        else:
            xq = np.full(shape, -128 if kind == "min" else 127, np.int8)
        for in_scale, out_scale, in_zp, out_zp, act in ((0.05, 0.05, 3, 3, (-128, 127)),
                                                        (0.05, 0.02, -128, 10, (10, 127)),
                                                        (0.1, 0.3, 127, -128, (-128, 127))):
            m, sh = cref.global_avg_pool_s8_params(in_scale, out_scale)
            want = cref.global_avg_pool_s8_reference(xq, in_zp, out_zp, m, sh, *act).reshape(-1)
            mc.next = mc.RAM
            px, y = mc.alloc(xq.tobytes()), mc.alloc(bytes(n * c))
            params = mc.alloc(struct.pack("<10i", n, h, w, c, -in_zp, out_zp, m, sh, *act))
            assert mc.call("et_global_avg_pool_s8", params, px, y) == OK
            got = np.frombuffer(bytes(mc.uc.mem_read(y, n * c)), np.int8)
            assert (got == want).all(), (shape, kind, in_scale, out_scale)


@pytest.mark.cross
def test_m4_conv_f32_matches_numpy(m4: M4) -> None:
    """The float conv on Cortex-M4F (et_dense_f32's VLDM/VFMA loop for the windows)."""
    for s in specs("3x3 s1 same", "1x1 pointwise s1", "groups 2 3x3", "depthwise m1", "conv1d k5 s2 same"):
        x, w, b = float_case(s, np.random.default_rng(seed_of(s.name)))
        y64, scale = float_oracle(s, x, w, b)
        for name, wc in (("et_conv_f32", cref.to_c_conv_weights(w)), ("et_conv_f32_ref", cref.to_c_conv_weights(w)))\
                + ((("et_depthwise_conv_f32", cref.to_c_depthwise_weights(w)),) if s.groups == s.x[3] else ()):
            m4.next = m4.RAM
            px, pw, pb = m4.alloc(x.tobytes()), m4.alloc(np.ascontiguousarray(wc).tobytes()), m4.alloc(b.tobytes())
            params = m4.alloc(struct.pack("<18i2f", *s.geom_ints(), s.groups, -F32_MAX, F32_MAX))
            y = m4.alloc(bytes(4 * y64.size))
            scratch = m4.alloc(bytes(4 * int(np.prod(s.w_shape()[:3]))))
            args = (params, px, pw, pb, y) + ((scratch,) if name == "et_conv_f32" else ())
            status = m4.call(name, *args)
            assert status == OK, (s.name, name)
            got = np.frombuffer(bytes(m4.uc.mem_read(y, 4 * y64.size)), np.float32).reshape(y64.shape)
            assert np.all(np.abs(got - y64) <= 1e-5 * scale + 1e-30), (s.name, name)

"""C kernels of leaky_relu, sigmoid, tanh and hard_swish (et_activation.h) against the numpy rules,
and the int8 lookup tables (edgetrain.quantize.int8.activation_lut_s8) against et_lut_s8.

* Host: tests/c_act/act_driver.c and the three new runtime sources are built with gcc (strict
  warnings, -ffp-contract=off), once normally and once under ASan+UBSan. Float forward results
  equal numpy float32 bit for bit where no libm call is involved (leaky_relu, hard_swish) and to
  ~1 ulp for sigmoid/tanh (expf/tanhf vs numpy's exp/tanh); backward results, computed from the
  same saved values with + - * / only, are bit-identical. int8 tables are exact by construction.
* Cross: every new source compiles warning-free for Cortex-M3 and Cortex-M4F, and on M4F uses
  single precision only.
"""
from __future__ import annotations

import functools
import math
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgetrain.quantize import int8 as quant
from edgetrain.ops import get_op
from edgetrain.ops.activations import LEAKY_RELU_ALPHA, hard_swish, leaky_relu, sigmoid, tanh
from edgetrain.ops.base import IN0, OUT

from helpers import INC, M3, M4F, ROOT, SRC, STRICT, build_parity_driver

DRIVER = ROOT / "tests" / "c_act" / "act_driver.c"
SOURCES = ["et_activation_f32.c", "et_activation_backward.c", "et_lut_s8.c"]
KINDS = ("leaky_relu", "sigmoid", "tanh", "hard_swish")
# Float forward: abs tolerance (values are in [-1, 1]) for the libm-based kinds; exact otherwise.
LIBM_TOL = 1e-6


@functools.lru_cache(maxsize=None)
def build_driver(cc: str, sanitize: bool, out_dir: str) -> Path:
    exe = Path(out_dir) / ("act_driver_san" if sanitize else "act_driver")
    return build_parity_driver(cc, DRIVER, [*(SRC / s for s in SOURCES), SRC / "et_status.c"], exe, sanitize)


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("actbuild"))


@pytest.fixture(params=[False, True], ids=["O2", "asan-ubsan"])
def driver(request: pytest.FixtureRequest, host_cc: str, build_dir: str) -> Path:
    return build_driver(host_cc, request.param, build_dir)


def run(driver: Path, op: str, payload: bytes, tmp_path: Path) -> bytes:
    inp, out = tmp_path / f"{op}.in", tmp_path / f"{op}.out"
    inp.write_bytes(payload)
    out.unlink(missing_ok=True)
    res = subprocess.run([str(driver), op, str(inp), str(out)], capture_output=True, text=True)
    assert res.returncode == 0 and "runtime error" not in res.stderr, f"{op} failed ({res.returncode}): {res.stderr}"
    return out.read_bytes()


def header(n: int, alpha: float) -> bytes:
    return struct.pack("<if", n, alpha)


def numpy_forward(kind: str, x: np.ndarray, alpha: float) -> np.ndarray:
    return leaky_relu(x, alpha) if kind == "leaky_relu" else {"sigmoid": sigmoid, "tanh": tanh,
                                                              "hard_swish": hard_swish}[kind](x)


def numpy_backward(kind: str, saved: np.ndarray, dy: np.ndarray, alpha: float) -> np.ndarray:
    from edgetrain.graph import Node

    node = Node("n", kind, ["x"], {}, {"alpha": alpha} if kind == "leaky_relu" else {})
    key = IN0 if kind == "hard_swish" else OUT
    (dx,), _ = get_op(kind).backward(node, dy, {key: saved}, {}, [True], set())
    return dx


def inputs(kind: str, rng: np.random.Generator) -> np.ndarray:
    """Random values over the interesting range plus the edges: kinks, zeros, large magnitudes."""
    special = [0.0, -0.0, 3.0, -3.0, 6.0, -6.0, 2.9999998, -2.9999998, 3.0000002, -3.0000002, 1e-3, -1e-3, 1e-30,
               -1e-30, 1e-40, -1e-40, 8.0, -8.0, 9.0, -9.0, 15.0, -15.0, 17.0, -17.0, 20.0, -20.0, 87.0, -87.0,
               88.7, -88.7, 89.0, -89.0, 104.0, -104.0, 1e4, -1e4, 1e30, -1e30, 3e38, -3e38]
    if kind != "hard_swish":  # hard_swish(-inf) is -inf * 0 = nan in both; not a value worth pinning
        special += [np.inf, -np.inf]
    x = np.concatenate([np.asarray(special, np.float32), (rng.standard_normal(3000) * 5).astype(np.float32),
                        rng.uniform(-1, 1, 1000).astype(np.float32), rng.uniform(-40, 40, 1000).astype(np.float32)])
    return x.astype(np.float32)


# --- float32 forward -------------------------------------------------------------------------------


FORWARD_CASES = [(k, LEAKY_RELU_ALPHA) for k in KINDS] + [("leaky_relu", 0.2), ("leaky_relu", 0.999)]


@pytest.mark.parametrize("kind, alpha", FORWARD_CASES)
def test_forward_matches_numpy(driver: Path, tmp_path: Path, kind: str, alpha: float) -> None:
    rng = np.random.default_rng(KINDS.index(kind) * 1000 + int(alpha * 1000))
    x = inputs(kind, rng)
    got = np.frombuffer(run(driver, kind, header(x.size, alpha) + x.tobytes(), tmp_path), np.float32)
    with np.errstate(over="ignore"):
        want = numpy_forward(kind, x, alpha)
    assert got.shape == want.shape
    if kind in ("leaky_relu", "hard_swish"):  # + - * / only: the same bits
        assert np.array_equal(got, want)
    else:
        assert np.all(np.isfinite(got)) and np.abs(got - want).max() <= LIBM_TOL
        f64 = x.astype(np.float64)
        exact = np.tanh(f64) if kind == "tanh" else np.exp(-np.logaddexp(0, -f64))
        assert np.abs(got - exact).max() <= LIBM_TOL  # and both are close to the true function
        if kind == "sigmoid":
            assert ((got >= 0) & (got <= 1)).all()


def test_forward_at_a_few_points(driver: Path, tmp_path: Path) -> None:
    x = np.array([-4.0, -3.0, -1.0, 0.0, 1.0, 3.0, 4.0], np.float32)

    def c(kind: str, alpha: float = 0.0) -> list[float]:
        return np.frombuffer(run(driver, kind, header(x.size, alpha) + x.tobytes(), tmp_path), np.float32).tolist()

    assert c("hard_swish") == pytest.approx([0, 0, -1 / 3, 0, 4 / 6, 3, 4], abs=1e-7)
    assert c("leaky_relu", 0.25) == [-1, -0.75, -0.25, 0, 1, 3, 4]
    assert c("sigmoid")[3] == 0.5 and c("tanh")[3] == 0.0
    assert c("sigmoid") == pytest.approx([1 / (1 + math.exp(-v)) for v in x.tolist()], abs=1e-7)


# --- float32 backward ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_backward_matches_numpy_bit_for_bit(driver: Path, tmp_path: Path, kind: str) -> None:
    rng = np.random.default_rng(KINDS.index(kind))
    alpha = 0.15
    x = inputs(kind, rng)
    x = x[np.isfinite(x) & (np.abs(x) < 1e6)]
    with np.errstate(over="ignore"):
        saved = x if kind == "hard_swish" else numpy_forward(kind, x, alpha)
    dy = (rng.standard_normal(x.size) * 3).astype(np.float32)
    payload = header(x.size, alpha) + saved.tobytes() + dy.tobytes()
    got = np.frombuffer(run(driver, f"{kind}_backward", payload, tmp_path), np.float32)
    want = numpy_backward(kind, saved, dy, alpha)
    assert want.dtype == np.float32
    assert np.array_equal(got, want)


def test_backward_regions(driver: Path, tmp_path: Path) -> None:
    x = np.array([-5.0, -3.0, -1.5, 0.0, 1.5, 3.0, 5.0], np.float32)
    dy = np.full(x.size, 2.0, np.float32)

    def c(op: str, saved: np.ndarray, alpha: float = 0.0) -> list[float]:
        out = run(driver, op, header(x.size, alpha) + saved.tobytes() + dy.tobytes(), tmp_path)
        return np.frombuffer(out, np.float32).tolist()

    assert c("hard_swish_backward", x) == pytest.approx([0, -1, 0, 1, 2, 3, 2], abs=1e-6)
    assert c("leaky_relu_backward", leaky_relu(x, 0.5), 0.5) == [1, 1, 1, 1, 2, 2, 2]
    assert c("sigmoid_backward", np.full(x.size, 0.5, np.float32)) == [0.5] * 7
    assert c("tanh_backward", np.zeros(x.size, np.float32)) == [2.0] * 7


def test_argument_checks(driver: Path, tmp_path: Path) -> None:
    """NULL pointers, n <= 0 and alpha outside (0, 1) (NaN too) are rejected before any write."""
    assert run(driver, "errors", b"", tmp_path) == b"ok"


# --- int8 lookup tables ----------------------------------------------------------------------------


def random_qparams(kind: str, rng: np.random.Generator) -> dict:
    fixed = quant.fixed_output_qparams(kind)
    out_scale, out_zp = fixed if fixed and rng.random() < 0.7 else (float(rng.uniform(0.005, 0.2)),
                                                                    int(rng.integers(-128, 128)))
    return dict(input_scale=float(rng.uniform(0.002, 0.3)), input_zero_point=int(rng.integers(-128, 128)),
                output_scale=out_scale, output_zero_point=out_zp,
                alpha=float(rng.uniform(0.01, 0.9)) if kind == "leaky_relu" else None)


@pytest.mark.parametrize("kind", KINDS)
def test_lut_s8_bit_exact_over_all_codes(driver: Path, tmp_path: Path, kind: str) -> None:
    rng = np.random.default_rng(100 + KINDS.index(kind))
    for _ in range(12):
        q = random_qparams(kind, rng)
        table = quant.activation_lut_s8(kind, **q)
        assert table.dtype == np.int8 and table.shape == (256,)
        x = np.concatenate([np.arange(-128, 128), rng.integers(-128, 128, 301)]).astype(np.int8)
        want = quant.lut_s8_reference(x, table)
        assert np.array_equal(want[:256], table)  # x + 128 indexing: all codes in order give the table
        got = np.frombuffer(run(driver, "lut", struct.pack("<i", x.size) + table.tobytes() + x.tobytes(),
                                tmp_path), np.int8)
        assert np.array_equal(got, want), q


def test_lut_s8_single_element(driver: Path, tmp_path: Path) -> None:
    table = np.arange(-128, 128)[::-1].astype(np.int8)  # table[x + 128] = ~x
    for v in (-128, -1, 0, 127):
        x = np.array([v], np.int8)
        got = np.frombuffer(run(driver, "lut", struct.pack("<i", 1) + table.tobytes() + x.tobytes(), tmp_path),
                            np.int8)
        assert got.tolist() == [~v] == quant.lut_s8_reference(x, table).tolist()


def lut_scalar(kind: str, s_in: float, z_in: int, s_out: float, z_out: int, alpha: float | None) -> list[int]:
    """TFLite's LUTPopulate literally, one code at a time, in numpy float32 scalars."""
    f32 = np.float32
    inv = f32(1) / f32(s_out)
    out = []
    for val in range(-128, 128):
        r = f32(s_in) * f32(val - z_in)
        if kind == "leaky_relu":
            t = r if r > 0 else f32(alpha) * r
        elif kind == "sigmoid":
            t = f32(1) / (f32(1) + np.exp(-r)) if r >= 0 else np.exp(r) / (f32(1) + np.exp(r))
        elif kind == "tanh":
            t = np.tanh(r)
        else:
            t = (r * min(max(r + f32(3), f32(0)), f32(6))) / f32(6)
        v = float(f32(t * inv))
        rounded = math.copysign(math.floor(abs(v) + 0.5), v)  # std::round on a float32 (exact in double)
        out.append(int(max(-128, min(127, rounded + z_out))))
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_lut_equals_lutpopulate_one_code_at_a_time(kind: str) -> None:
    rng = np.random.default_rng(7 + KINDS.index(kind))
    for _ in range(6):
        q = random_qparams(kind, rng)
        with np.errstate(over="ignore"):
            want = lut_scalar(kind, q["input_scale"], q["input_zero_point"], q["output_scale"],
                              q["output_zero_point"], q["alpha"])
        assert quant.activation_lut_s8(kind, **q).tolist() == want, q


@pytest.mark.parametrize("kind", KINDS)
def test_lut_dequantizes_to_the_float_function(kind: str) -> None:
    """Each entry is the float function quantized: within half an output step unless clamped."""
    rng = np.random.default_rng(30 + KINDS.index(kind))
    for _ in range(8):
        q = random_qparams(kind, rng)
        table = quant.activation_lut_s8(kind, **q).astype(np.int64)
        r = np.float32(q["input_scale"]) * (np.arange(-128, 128) - q["input_zero_point"]).astype(np.float32)
        f = numpy_forward(kind, r, q["alpha"] or 0.0).astype(np.float64)
        ideal = f / q["output_scale"] + q["output_zero_point"]
        inside = (ideal > -128.5) & (ideal < 127.5)
        assert np.all(np.abs(table - ideal)[inside] <= 0.5 + 1e-4)  # float32 product vs float64 quotient
        assert np.all(table[~inside & (ideal < 0)] == -128) and np.all(table[~inside & (ideal > 0)] == 127)
        if kind in ("sigmoid", "tanh", "leaky_relu"):
            assert np.all(np.diff(table) >= 0)  # monotone functions give monotone tables


def test_lut_rounds_half_away_from_zero() -> None:
    # leaky_relu with input step 0.5 onto output step 1: codes land exactly on k + 0.5
    t = quant.activation_lut_s8("leaky_relu", 0.5, 0, 1.0, 0, alpha=0.5)
    assert [int(t[128 + k]) for k in (1, 3, 5)] == [1, 2, 3]  # 0.5, 1.5, 2.5 -> 1, 2, 3 (rint: 0, 2, 2)
    assert [int(t[128 + k]) for k in (-2, -6, -10)] == [-1, -2, -3]  # -0.5, -1.5, -2.5 (alpha 0.5)
    # a value just below a half must not round up (float32 floor(x + 0.5) would)
    t = quant.activation_lut_s8("leaky_relu", float(np.float32(0.49999997)), 0, 1.0, 0, alpha=0.5)
    assert int(t[129]) == 0


def test_fixed_output_qparams() -> None:
    assert quant.fixed_output_qparams("sigmoid") == (1 / 256, -128)
    assert quant.fixed_output_qparams("tanh") == (1 / 128, 0)
    assert quant.fixed_output_qparams("leaky_relu") is None and quant.fixed_output_qparams("hard_swish") is None
    with pytest.raises(ValueError, match="no int8 table"):
        quant.fixed_output_qparams("relu")
    s = quant.activation_lut_s8("sigmoid", 0.1, 0, *quant.fixed_output_qparams("sigmoid"))
    assert s[0] == -128 and s[-1] == 127 and s[128] == 0  # sigmoid(0) = 0.5 -> code 0
    t = quant.activation_lut_s8("tanh", 0.1, 0, *quant.fixed_output_qparams("tanh"))
    assert t[0] == -128 and t[-1] == 127 and t[128] == 0  # tanh(12.7) = 1.0 -> 128, clamped to 127
    assert t[129] == 13  # tanh(0.1) * 128 = 12.77


@pytest.mark.parametrize("kwargs, needle", [
    (dict(kind="relu"), "no int8 table"),
    (dict(kind="sigmoid", alpha=0.1), "takes no alpha"),
    (dict(kind="leaky_relu", alpha=1.5), "alpha must be in"),
    (dict(kind="tanh", input_scale=0.0), "input_scale"),
    (dict(kind="tanh", input_scale=float("nan")), "input_scale"),
    (dict(kind="tanh", output_scale=1e-45), "output_scale"),
    (dict(kind="tanh", output_scale=1e39), "output_scale"),
    (dict(kind="tanh", input_zero_point=128), "input_zero_point"),
    (dict(kind="tanh", output_zero_point=1.5), "output_zero_point"),
    (dict(kind="hard_swish", input_scale=1e37, output_scale=1e-37), "overflows"),
])
def test_lut_argument_errors(kwargs: dict, needle: str) -> None:
    args = dict(input_scale=0.05, input_zero_point=0, output_scale=0.05, output_zero_point=0) | kwargs
    with pytest.raises(ValueError, match=needle):
        quant.activation_lut_s8(**args)


def test_lut_reference_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="256 int8"):
        quant.lut_s8_reference(np.zeros(3, np.int8), np.zeros(255, np.int8))
    with pytest.raises(ValueError, match="256 int8"):
        quant.lut_s8_reference(np.zeros(3, np.int8), np.zeros(256, np.int16))
    with pytest.raises(ValueError, match="int8"):
        quant.lut_s8_reference(np.zeros(3, np.int32), np.zeros(256, np.int8))
    x = np.array([[-128, 127], [0, 5]], np.int8)
    assert quant.lut_s8_reference(x, np.arange(-128, 128).astype(np.int8)).tolist() == x.tolist()  # identity


# --- cross compilation -----------------------------------------------------------------------------


@pytest.mark.parametrize("cpu", [M3, M4F], ids=["cortex-m3", "cortex-m4f"])
def test_sources_cross_compile_warning_free(arm_cc: str, tmp_path: Path, cpu: list[str]) -> None:
    extra = ["-Wdouble-promotion"] if cpu is M4F else []  # the M4F FPU is single precision
    for src in SOURCES:
        res = subprocess.run([arm_cc, *STRICT, *extra, *cpu, f"-I{INC}", "-c", str(SRC / src),
                              "-o", str(tmp_path / (Path(src).stem + ".o"))], capture_output=True, text=True)
        assert res.returncode == 0 and not res.stderr, f"{src}: {res.stderr}"
    asm = subprocess.run([arm_cc, *STRICT, *cpu, f"-I{INC}", "-S", "-o", "-", str(SRC / "et_activation_f32.c")],
                         capture_output=True, text=True, check=True).stdout
    assert "expf" in asm and "tanhf" in asm
    assert "__aeabi_d" not in asm  # no double-precision helper calls on either core
    if cpu is M4F:
        assert "vdiv.f32" in asm


def test_header_stands_alone_and_declares_the_api(host_cc: str, tmp_path: Path) -> None:
    """The header stands alone (includes what it uses) and declares exactly the documented API."""
    src = tmp_path / "probe.c"
    src.write_text('#include "et_activation.h"\n'
                   "static et_status (*const fs[])(const float *, float *, int32_t) = {\n"
                   "    et_sigmoid_f32, et_tanh_f32, et_hard_swish_f32, et_sigmoid_f32_backward,\n"
                   "    et_tanh_f32_backward, et_hard_swish_f32_backward};\n"
                   "static et_status (*const fa[])(const float *, float *, int32_t, float) = {\n"
                   "    et_leaky_relu_f32, et_leaky_relu_f32_backward};\n"
                   "static et_status (*const fl)(const int8_t *, int8_t *, int32_t, const int8_t[256]) = et_lut_s8;\n"
                   "int main(void) { return (fs[0] != 0) + (fa[0] != 0) + (fl != 0) - 3; }\n")
    res = subprocess.run([host_cc, *STRICT, f"-I{INC}", "-c", str(src), "-o", str(tmp_path / "probe.o")],
                         capture_output=True, text=True)
    assert res.returncode == 0 and not res.stderr, res.stderr

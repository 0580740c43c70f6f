"""The C conv and pool backward kernels (et_conv_train.h) against the numpy engine's gradients.

* Host: tests/c_conv_train/conv_train_driver.c, built strict (-ffp-contract=off), once at -O2
  and once under ASan+UBSan, fed binary files.
* Conv (grouped) and depthwise, fast and reference kernels, over a shape corpus (stride 2, same /
  valid / asymmetric pads, dilation, groups, depth multiplier 2, conv1d as H = 1, 1x1, a window
  reaching only padding at some taps, batch 3, channel counts the fast kernels take four at a
  time and then one by one): with plain SGD at lr = 1 the updated weights are
  w - dW, so dx, dW and db are all checked against `ops.conv.conv_backward` in float64, to 1e-5
  of the magnitude of the summed terms. SGD with momentum and Adam: the update equals the engine
  optimizer's on the engine's float32 gradient. Frozen weights stay bit-identical (dx and the
  bias still computed); a NULL dx or a missing bias skip that work.
* Max pool (ties: the first maximum of the window gets the gradient, as numpy's argmax), average
  pool (padding not counted), global average pool against ops.pool's backward rules.
* Every argument check returns its status on inconsistent dims and missing buffers.
* The new sources compile warning-free for Cortex-M3 and Cortex-M4F.
"""
from __future__ import annotations

import functools
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgetrain.engine.optim import SGD, Adam
from edgetrain.graph import Node
from edgetrain.ops.conv import Geometry, conv_backward, geometry
from edgetrain.ops.pool import AvgPoolOp, GlobalAvgPoolOp, MaxPoolOp

from helpers import INC, M3, M4F, ROOT, SRC, STRICT, build_parity_driver, f32, i32

DRIVER = ROOT / "tests" / "c_conv_train" / "conv_train_driver.c"
NEW_SOURCES = ["et_conv_f32_backward.c", "et_conv_f32_backward_ref.c", "et_pool_f32_backward.c"]
SOURCES = NEW_SOURCES + ["et_conv_geom.c", "et_optim.c", "et_status.c"]
OK, NULL_ARG, BAD_SHAPE, BAD_PARAM = 0, 1, 2, 3
F32_MAX = 3.4e38


@functools.lru_cache(maxsize=None)
def build_driver(cc: str, sanitize: bool, out_dir: str) -> Path:
    exe = Path(out_dir) / ("conv_train_driver_san" if sanitize else "conv_train_driver")
    return build_parity_driver(cc, DRIVER, [SRC / s for s in SOURCES], exe, sanitize)


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("cconvtrain"))


@pytest.fixture(params=[False, True], ids=["O2", "asan-ubsan"])
def driver(request: pytest.FixtureRequest, host_cc: str, build_dir: str) -> Path:
    return build_driver(host_cc, request.param, build_dir)


def array(a: np.ndarray | None) -> bytes:
    if a is None:
        return i32(-1)
    flat = np.ascontiguousarray(a, dtype="<f4").reshape(-1)
    return i32(flat.size) + flat.tobytes()


def run(driver: Path, op: str, payload: bytes, tmp_path: Path) -> tuple[int, np.ndarray]:
    inp, out = tmp_path / f"{op}.in", tmp_path / f"{op}.out"
    inp.write_bytes(payload)
    out.unlink(missing_ok=True)
    res = subprocess.run([str(driver), op, str(inp), str(out)], capture_output=True, text=True)
    assert res.returncode == 0 and "runtime error" not in res.stderr, f"{op} ({res.returncode}): {res.stderr}"
    data = out.read_bytes()
    return struct.unpack("<i", data[:4])[0], np.frombuffer(data[4:], "<f4")


# ---------------------------------------------------------------- cases

@dataclass
class Spec:
    name: str
    x: tuple[int, int, int, int]  # N, H, W, C (H = 1 for conv1d)
    kernel: tuple[int, int]
    cout: int
    stride: Any = 1
    dilation: Any = 1
    padding: Any = "valid"
    groups: int = 1

    @property
    def geo(self) -> Geometry:
        return geometry(self.x[1:3], self.kernel, {"stride": self.stride, "dilation": self.dilation,
                                                   "padding": self.padding}, self.name)

    @property
    def depthwise(self) -> bool:
        return self.groups > 1 and self.groups == self.x[3]

    def geom_ints(self, batch: int | None = None) -> tuple[int, ...]:
        g = self.geo
        return ((batch or self.x[0]), *g.in_hw, self.x[3], *g.out_hw, self.cout, *g.kernel, *g.stride,
                *g.dilation, *g.pads[0], *g.pads[1])

    def w_shape(self) -> tuple[int, int, int, int]:
        return (*self.kernel, self.x[3] // self.groups, self.cout)

    def to_c(self, w: np.ndarray) -> np.ndarray:
        return w.reshape(*self.kernel, self.cout) if self.depthwise else w.transpose(3, 0, 1, 2)

    def from_c(self, wc: np.ndarray) -> np.ndarray:
        if self.depthwise:
            return wc.reshape(self.w_shape())
        return wc.reshape(self.cout, *self.kernel, self.x[3] // self.groups).transpose(1, 2, 3, 0)


CORPUS = [
    Spec("3x3 s1 same", (2, 6, 6, 3), (3, 3), 4, padding="same"),
    Spec("3x3 s2 same odd", (1, 7, 5, 2), (3, 3), 3, stride=2, padding="same"),
    Spec("3x3 asym pads", (1, 5, 6, 2), (3, 3), 3, padding=[[2, 0], [0, 1]]),
    Spec("dilation 2 same", (1, 7, 7, 2), (3, 3), 2, dilation=2, padding="same"),
    Spec("first layer 1ch valid (bench)", (1, 8, 8, 1), (3, 3), 4),
    Spec("1x1 pointwise s2", (1, 5, 5, 4), (1, 1), 3, stride=2),
    Spec("groups 2", (1, 5, 5, 4), (3, 3), 6, padding="same", groups=2),
    Spec("depthwise m1", (2, 6, 5, 3), (3, 3), 3, padding="same", groups=3),
    Spec("depthwise m2 s2", (1, 6, 6, 2), (3, 3), 4, stride=2, padding="same", groups=2),
    Spec("depthwise dilation 3 padding-only taps", (1, 3, 2, 2), (2, 2), 2, dilation=3, padding=[[3, 3], [3, 3]],
         groups=2),
    Spec("conv1d k5 s2 same", (2, 1, 12, 3), (1, 5), 4, stride=2, padding="same"),
    Spec("batch 3", (3, 4, 4, 2), (2, 2), 3),
    # Four channels per pass in the fast kernels, then the rest one by one.
    Spec("3x3 6 channels s2 same", (2, 6, 5, 6), (3, 3), 3, stride=2, padding="same"),
    Spec("depthwise m1 6 channels", (2, 5, 6, 6), (3, 3), 6, padding="same", groups=6),
    Spec("depthwise m1 8 channels dilation 2", (1, 6, 6, 8), (3, 3), 8, dilation=2, padding=[[2, 1], [0, 2]],
         groups=8),
]
IDS = [s.name for s in CORPUS]


def tensors(spec: Spec, seed: int = 0):
    rng = np.random.default_rng(seed)
    g = spec.geo
    x = rng.normal(0, 1, spec.x).astype(np.float32)
    w = rng.normal(0, 0.5, spec.w_shape()).astype(np.float32)
    b = rng.normal(0, 0.5, spec.cout).astype(np.float32)
    dy = rng.normal(0, 1, (spec.x[0], *g.out_hw, spec.cout)).astype(np.float32)
    return x, w, b, dy


def conv_payload(spec: Spec, x, w, b, dy, *, opt: Any = "sgd1", w_train=1, b_train=1, want_dx=1,
                 geom: tuple[int, ...] | None = None, groups: int | None = None, act=(-F32_MAX, F32_MAX)) -> bytes:
    if opt is None:
        kind, floats = -1, [1.0, 0, 0, 0, 0, 0, 0, 0]
    elif opt == "sgd1":
        kind, floats = 0, [1.0, 0.0, 0.0, 0, 0, 0, 0, 0]
    elif isinstance(opt, SGD):
        kind, floats = 0, [opt.lr, opt.momentum, opt.weight_decay, 0, 0, 0, 0, 0]
    else:
        kind, floats = 1, [opt.lr, 0.0, opt.weight_decay, opt.beta1, opt.beta2, opt.eps, 1 - opt.beta1,
                           1 - opt.beta2]
    return (i32(*(geom or spec.geom_ints())) + i32(spec.groups if groups is None else groups) + f32(*act)
            + i32(kind) + f32(*floats) + i32(w_train, b_train, want_dx)
            + array(x) + array(dy) + array(None if w is None else spec.to_c(w)) + array(b))


def conv_op(spec: Spec, ref: bool) -> str:
    return ("dw" if spec.depthwise else "conv") + ("_ref" if ref else "")


def split_out(spec: Spec, out: np.ndarray, want_dx: bool, has_b: bool):
    n_x = int(np.prod(spec.x))
    n_w = int(np.prod(spec.w_shape()))
    dx = out[:n_x].reshape(spec.x) if want_dx else None
    off = n_x if want_dx else 0
    w = spec.from_c(out[off:off + n_w])
    b = out[off + n_w:] if has_b else None
    return dx, w, b


def grads64(spec: Spec, x, w, dy, absolute: bool = False):
    f = np.abs if absolute else (lambda a: a)
    return conv_backward(f(x.astype(np.float64)), f(w.astype(np.float64)), f(dy.astype(np.float64)), spec.geo,
                         spec.groups, True, True, True)


def close(got, want, mag, what, rtol=1e-5):
    err = np.abs(got.astype(np.float64) - want)
    bound = rtol * mag + 1e-30
    assert np.all(err <= bound), f"{what}: worst {np.max(err / np.maximum(bound, 1e-30)):.2f} x the bound"


# ---------------------------------------------------------------- conv and depthwise

@pytest.mark.parametrize("ref", [False, True], ids=["fast", "ref"])
@pytest.mark.parametrize("spec", CORPUS, ids=IDS)
def test_conv_backward_matches_numpy_gradients(driver, tmp_path, spec, ref):
    x, w, b, dy = tensors(spec)
    st, out = run(driver, conv_op(spec, ref), conv_payload(spec, x, w, b, dy), tmp_path)
    assert st == OK
    dx, w1, b1 = split_out(spec, out, True, True)
    dx64, dw64, db64 = grads64(spec, x, w, dy)
    mx, mw, mb = grads64(spec, x, w, dy, absolute=True)
    close(dx, dx64, mx, "dx")
    # lr = 1, no momentum or decay: the new weight is w - dW (the subtraction rounds once more).
    close(w1, w.astype(np.float64) - dw64, mw + np.abs(w), "dW")
    close(b1, b.astype(np.float64) - db64, mb + np.abs(b), "db")


@pytest.mark.parametrize("ref", [False, True], ids=["fast", "ref"])
@pytest.mark.parametrize("kind", ["momentum", "adam"])
@pytest.mark.parametrize("spec", [CORPUS[0], CORPUS[8], CORPUS[12], CORPUS[14]],
                         ids=[CORPUS[i].name for i in (0, 8, 12, 14)])
def test_update_equals_engine_optimizer(driver, tmp_path, spec, kind, ref):
    x, w, b, dy = tensors(spec, 3)
    opt = SGD(lr=0.05, momentum=0.9, weight_decay=1e-3) if kind == "momentum" else Adam(lr=2e-3, weight_decay=1e-3)
    st, out = run(driver, conv_op(spec, ref), conv_payload(spec, x, w, b, dy, opt=opt, want_dx=0), tmp_path)
    assert st == OK
    _, w1, b1 = split_out(spec, out, False, True)
    _, dw, db = conv_backward(x, w, dy, spec.geo, spec.groups, False, True, True)
    want_w, want_b = w.copy(), b.copy()
    opt.t = 1
    opt.update("w", want_w, dw.reshape(w.shape).astype(np.float32))
    opt.update("b", want_b, db.astype(np.float32))
    np.testing.assert_allclose(w1, want_w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b1, want_b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("ref", [False, True], ids=["fast", "ref"])
@pytest.mark.parametrize("spec", [CORPUS[2], CORPUS[7], CORPUS[13]], ids=[CORPUS[i].name for i in (2, 7, 13)])
def test_frozen_weights_bias_only_and_skipped_work(driver, tmp_path, spec, ref):
    """TinyTL's bias-only step: weights frozen (bit-identical, input not needed), dx from them,
    the bias updated. Then no bias and no dx, and nothing trainable with a NULL optimizer."""
    x, w, b, dy = tensors(spec, 5)
    op = conv_op(spec, ref)
    st, out = run(driver, op, conv_payload(spec, None, w, b, dy, w_train=0), tmp_path)
    assert st == OK
    dx, w1, b1 = split_out(spec, out, True, True)
    dx64, _, db64 = grads64(spec, x, w, dy)
    mx, _, mb = grads64(spec, x, w, dy, absolute=True)
    assert w1.tobytes() == w.tobytes()
    close(dx, dx64, mx, "dx")
    close(b1, b.astype(np.float64) - db64, mb + np.abs(b), "db")
    # Weights train, no bias, no dx.
    st, out = run(driver, op, conv_payload(spec, x, w, None, dy, want_dx=0), tmp_path)
    assert st == OK
    _, w2, _ = split_out(spec, out, False, False)
    _, dw64, _ = grads64(spec, x, w, dy)
    _, mw, _ = grads64(spec, x, w, dy, absolute=True)
    close(w2, w.astype(np.float64) - dw64, mw + np.abs(w), "dW")
    # Nothing trains: a NULL optimizer is allowed, dx only.
    st, out = run(driver, op, conv_payload(spec, None, w, None, dy, opt=None, w_train=0), tmp_path)
    assert st == OK
    close(split_out(spec, out, True, False)[0], dx64, mx, "dx, nothing trains")


def test_conv_argument_checks(driver, tmp_path):
    spec = CORPUS[0]
    dws = CORPUS[7]
    x, w, b, dy = tensors(spec)
    geom = list(spec.geom_ints())

    def status(s: Spec, *, ref=False, **kw) -> int:
        xs, ws, bs, dys = tensors(s)
        args = dict(x=xs, w=ws, b=bs, dy=dys)
        args.update({k: kw.pop(k) for k in list(kw) if k in args})
        return run(driver, conv_op(s, ref), conv_payload(s, args["x"], args["w"], args["b"], args["dy"], **kw),
                   tmp_path)[0]

    for ref in (False, True):
        bad_out = geom.copy()
        bad_out[4] += 1  # out_h inconsistent with the input, kernel and pads
        assert status(spec, ref=ref, geom=tuple(bad_out)) == BAD_SHAPE
        zero_c = geom.copy()
        zero_c[3] = 0
        assert status(spec, ref=ref, geom=tuple(zero_c)) == BAD_SHAPE
        assert status(spec, ref=ref, groups=2) == BAD_SHAPE  # 2 does not divide 3 input channels
        bad_stride = geom.copy()
        bad_stride[9] = 0
        assert status(spec, ref=ref, geom=tuple(bad_stride)) == BAD_PARAM
        assert status(spec, ref=ref, act=(1.0, 0.0)) == BAD_PARAM
        assert status(spec, ref=ref, dy=None) == NULL_ARG
        assert status(spec, ref=ref, w=None) == NULL_ARG
        assert status(spec, ref=ref, x=None) == NULL_ARG  # trainable weights need the input
        assert status(spec, ref=ref, opt=None) == NULL_ARG  # something trains: an optimizer is needed
        assert status(dws, ref=ref, groups=1) == BAD_PARAM  # depthwise kernels need groups == in_c
    assert status(spec, x=None, w_train=0) == OK


# ---------------------------------------------------------------- pools

def pool_node(kind: str, pool, stride, padding, in_shape) -> Node:
    n = Node("p", kind, ["x"], {}, {"pool": pool, "stride": stride, "padding": padding})
    n.attrs["in_shape"] = list(in_shape[1:])
    return n


POOLS = [((2, 6, 6, 3), 2, None, "valid"), ((1, 5, 7, 2), 3, 2, "same"), ((2, 5, 5, 2), 3, 1, "same"),
         ((1, 1, 9, 3), (1, 3), (1, 2), "same")]


@pytest.mark.parametrize("kind", ["max_pool", "avg_pool"])
@pytest.mark.parametrize("case", POOLS, ids=[f"{c[0]} pool {c[1]} stride {c[2]} {c[3]}" for c in POOLS])
def test_window_pool_backward_matches_numpy(driver, tmp_path, kind, case):
    shape, pool, stride, padding = case
    rng = np.random.default_rng(1)
    # Small integers: many ties inside windows, so the first-maximum rule is exercised.
    x = rng.integers(0, 3, shape).astype(np.float32)
    op = MaxPoolOp() if kind == "max_pool" else AvgPoolOp()
    node = pool_node(kind, pool, stride, padding, shape)
    geo = op.geo_of(node, shape)
    dy = rng.normal(0, 1, (shape[0], *geo.out_hw, shape[3])).astype(np.float32)
    want = op.backward(node, dy.astype(np.float64), {"in0": x.astype(np.float64)}, {}, [True], set())[0][0]
    (t, bo), (le, r) = geo.pads
    payload = (i32(shape[0], *geo.in_hw, shape[3], *geo.out_hw, shape[3], *geo.kernel, *geo.stride, 1, 1, t, bo,
                   le, r) + f32(-F32_MAX, F32_MAX) + array(x) + array(dy) + i32(int(np.prod(shape))))
    st, out = run(driver, "max" if kind == "max_pool" else "avg", payload, tmp_path)
    assert st == OK
    np.testing.assert_allclose(out.reshape(shape), want, rtol=1e-6, atol=1e-6)
    # Argument checks: out_c != in_c, dilation, missing buffers.
    bad = payload[:4 * 6] + i32(shape[3] + 1) + payload[4 * 7:]
    assert run(driver, "max", bad, tmp_path)[0] == BAD_SHAPE
    dil = payload[:4 * 11] + i32(2) + payload[4 * 12:]
    assert run(driver, "avg", dil, tmp_path)[0] in (BAD_PARAM, BAD_SHAPE)
    head = payload[:4 * 17 + 8]
    assert run(driver, "max", head + array(None) + array(dy) + i32(x.size), tmp_path)[0] == NULL_ARG
    assert run(driver, "avg", head + array(x) + array(dy) + i32(-1), tmp_path)[0] == NULL_ARG


def test_global_avg_pool_backward_matches_numpy(driver, tmp_path):
    shape = (3, 4, 5, 6)
    dy = np.random.default_rng(2).normal(0, 1, (3, 6)).astype(np.float32)
    node = Node("g", "global_avg_pool", ["x"], {}, {"in_shape": list(shape[1:])})
    want = GlobalAvgPoolOp().backward(node, dy, {}, {}, [True], set())[0][0]
    payload = i32(*shape) + f32(-F32_MAX, F32_MAX) + array(dy) + i32(int(np.prod(shape)))
    st, out = run(driver, "gap", payload, tmp_path)
    assert st == OK and out.tobytes() == np.ascontiguousarray(want, np.float32).tobytes()
    assert run(driver, "gap", i32(3, 0, 5, 6) + payload[16:], tmp_path)[0] == BAD_SHAPE
    assert run(driver, "gap", i32(*shape) + f32(1.0, 0.0) + payload[24:], tmp_path)[0] == BAD_PARAM
    assert run(driver, "gap", payload[:24] + array(None) + i32(10), tmp_path)[0] == NULL_ARG


# ---------------------------------------------------------------- cross compilation

@pytest.mark.parametrize("cpu", [M3, M4F], ids=["cortex-m3", "cortex-m4f"])
def test_conv_training_sources_cross_compile_warning_free(arm_cc, tmp_path, cpu):
    for name in NEW_SOURCES:
        cmd = [arm_cc, *STRICT, *cpu, f"-I{INC}", "-c", str(SRC / name), "-o", str(tmp_path / "x.o")]
        res = subprocess.run(cmd, capture_output=True, text=True)
        assert res.returncode == 0 and not res.stderr, f"{name}: {res.stderr}"

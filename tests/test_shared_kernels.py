"""Shared-weight (codebook + indices) dense kernels of the C runtime: firmware_export/include/et_shared.h.

* Parity with numpy's rule: tests/c_shared/shared_driver.c runs the forward and the fused
  backward + update of one shared layer for one or several steps (SGD, SGD+momentum+weight decay,
  Adam; batch 1 and 4; masked-out entries; no bias; a frozen codebook giving dx only, with a NULL
  input). Against a numpy model of the same math - y = x W^T + b with W = codebook[idx] * mask,
  dx = dy W, slot gradient ``np.bincount(idx[mask], weights=dW[mask], minlength=K)``, then the
  optimizer of edgetrain/engine/optim.py on the K slots - the slot values, the bias, y and dx agree
  within 1e-5 relative.
* Summation order, bit for bit: y, dx and the slot gradients equal a float32 numpy emulation of the
  orders et_shared.h states (forward k ascending; dx o ascending; per entry the batch sum, then
  entries row-major into the slots), computed from the codebook each step started from.
* The fast kernels equal the `_ref` kernels bit for bit (the build has -ffp-contract=off).
* Units (in C): status codes of every argument check, nothing updated on a bad index, the largest
  codebook, et_copy_f32, et_dense_f32_shared_scratch_bytes, et_shared_indices_check.
* Host builds run plainly and under ASan+UBSan; the new sources cross-compile warning-free for
  Cortex-M3 and Cortex-M4F and reference no symbol beyond the runtime, memset and float helpers.
"""
from __future__ import annotations

import dataclasses
import functools
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgetrain.engine.optim import SGD, Adam

from helpers import INC, M3, M4F, ROOT, SRC, compile_c

DRIVERS = ROOT / "tests" / "c_shared"
IO = ROOT / "tests" / "c_train"  # io.c: whole-file binary I/O of the training drivers

STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2", "-ffp-contract=off"]
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-g"]
CROSS = ["-O2", "-Werror", "-Wall", "-Wextra", "-pedantic", "-std=c99", "-c"]

NEW_SOURCES = ["et_dense_f32_shared.c", "et_dense_f32_shared_ref.c", "et_act_backward.c"]
# Only what the kernels need is linked, so a half-edited unrelated source cannot break this build.
LINKED = NEW_SOURCES + ["et_optim.c", "et_status.c"]
NONE = 0xFFFF
RTOL = 1e-5
UPDATE_RTOL = 1e-4  # of the change over the run, a difference of float32 values (their ulp / the change <~ 1e-5)
F32_MAX = float(np.finfo(np.float32).max)


@functools.lru_cache(maxsize=None)
def build(cc: str, sanitize: bool, out_dir: str) -> Path:
    exe = Path(out_dir) / ("shared_driver" + ("_san" if sanitize else ""))
    cmd = [cc, *STRICT, *(SANITIZE if sanitize else []), f"-I{INC}", f"-I{IO}", str(DRIVERS / "shared_driver.c"),
           str(IO / "io.c"), *(str(SRC / s) for s in LINKED), "-lm", "-o", str(exe)]
    return compile_c(cmd, exe)


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("cshared"))


@pytest.fixture(params=[False, True], ids=["O2", "asan-ubsan"])
def exe(request: pytest.FixtureRequest, host_cc: str, build_dir: str) -> Path:
    return build(host_cc, request.param, build_dir)


def run(exe: Path, *args: str) -> subprocess.CompletedProcess:
    res = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, f"{exe.name} {' '.join(args)} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}"
    return res


# ---------------------------------------------------------------- cases

@dataclasses.dataclass(frozen=True)
class Case:
    batch: int = 4
    n_in: int = 24
    n_out: int = 10       # 4 + 4 + 2: both the 4-row and the single-row forward paths
    k: int = 8
    steps: int = 5
    opt: str = "sgdm"     # sgd | sgdm (momentum + weight decay) | adam (with weight decay)
    train_cb: bool = True
    bias: str | None = "train"  # train | frozen | None (no bias)
    dx: bool = True
    masked: float = 0.3   # fraction of entries masked out (ET_SHARED_NONE)
    null_input: bool = False
    relu: bool = False
    unused_slot: bool = False  # the last slot is referenced by no entry


CASES = {
    "sgd-b1-1step": Case(batch=1, steps=1, opt="sgd"),
    "sgd-b4-1step": Case(steps=1, opt="sgd"),
    "sgd-b1-steps": Case(batch=1, opt="sgd"),
    "sgd-b4-steps": Case(opt="sgd"),
    "sgdm-wd-b1": Case(batch=1, steps=6),
    "sgdm-wd-b4": Case(steps=6),
    "adam-b1-1step": Case(batch=1, steps=1, opt="adam"),
    "adam-b1": Case(batch=1, steps=6, opt="adam"),
    "adam-b4": Case(steps=6, opt="adam"),
    "sgdm-b4-no-mask-relu": Case(masked=0.0, relu=True, n_out=7),
    "adam-b1-no-bias": Case(batch=1, opt="adam", bias=None, unused_slot=True),
    "sgdm-b4-no-bias-no-dx": Case(bias=None, dx=False, n_in=13, n_out=5),
    "adam-b4-frozen-bias": Case(opt="adam", bias="frozen", k=3),
    "frozen-cb-dx-only-b1": Case(batch=1, train_cb=False, bias=None, null_input=True),
    "frozen-cb-dx-only-b4": Case(train_cb=False, bias="frozen", null_input=True),
    "frozen-cb-bias-trains": Case(train_cb=False, null_input=True, opt="adam"),
    "tiny-k1": Case(batch=3, n_in=1, n_out=1, k=1, masked=0.0, opt="adam"),
    "sgdm-b4-wide": Case(n_in=70, n_out=33, k=16, steps=3),
}


@dataclasses.dataclass
class Data:
    x: np.ndarray     # [steps][batch][n_in]
    dy: np.ndarray    # [steps][batch][n_out]
    cb: np.ndarray    # [K]
    idx: np.ndarray   # [n_out][n_in] int, the slot of every entry (also under the mask)
    mask: np.ndarray  # [n_out][n_in] bool
    bias: np.ndarray | None


def make_data(c: Case, seed: int) -> Data:
    rng = np.random.default_rng(seed)
    f32 = np.float32
    x = rng.uniform(-1, 1, (c.steps, c.batch, c.n_in)).astype(f32)
    dy = rng.normal(0, 0.1, (c.steps, c.batch, c.n_out)).astype(f32)
    # Slot values away from zero, so "relative" is meaningful for every slot after a few steps.
    cb = (rng.choice([-1.0, 1.0], c.k) * rng.uniform(0.3, 1.0, c.k)).astype(f32)
    used = c.k - 1 if c.unused_slot else c.k
    idx = rng.integers(0, used, (c.n_out, c.n_in))
    mask = rng.random((c.n_out, c.n_in)) >= c.masked
    bias = None if c.bias is None else (rng.choice([-1.0, 1.0], c.n_out) * rng.uniform(0.1, 0.3, c.n_out)).astype(f32)
    return Data(x, dy, cb, idx, mask, bias)


def make_optimizer(c: Case):
    if c.opt == "sgd":
        return SGD(lr=0.05)
    if c.opt == "sgdm":
        return SGD(lr=0.05, momentum=0.9, weight_decay=1e-3)
    # A weight decay large enough to matter: Adam is scale-invariant, so a small L2 term moves a
    # slot by less than its ulp and a rule that dropped it would go unnoticed.
    return Adam(lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.05)


def write_inputs(d: Path, c: Case, data: Data, variant: int) -> None:
    opt = make_optimizer(c)
    adam = isinstance(opt, Adam)
    ints = [c.batch, c.n_in, c.n_out, c.k, c.steps, int(adam), int(c.train_cb), int(c.bias is not None),
            int(c.bias == "train"), int(c.dx), variant, int(c.null_input)]
    floats = [opt.lr, 0.0 if adam else opt.momentum, opt.weight_decay,
              # 1 - beta rounded from double, exactly as numpy's float32 arithmetic sees it.
              *((opt.beta1, opt.beta2, opt.eps, 1 - opt.beta1, 1 - opt.beta2) if adam else (0.0,) * 5),
              0.0 if c.relu else -F32_MAX, F32_MAX]
    (d / "config.bin").write_bytes(struct.pack("<12i10f", *ints, *floats))
    (d / "x.bin").write_bytes(data.x.tobytes())
    (d / "dy.bin").write_bytes(data.dy.tobytes())
    (d / "cb.bin").write_bytes(data.cb.tobytes())
    (d / "idx.bin").write_bytes(np.where(data.mask, data.idx, NONE).astype("<u2").tobytes())
    if data.bias is not None:
        (d / "bias.bin").write_bytes(data.bias.tobytes())


def run_c(exe: Path, d: Path, c: Case, data: Data, variant: int) -> dict[str, np.ndarray]:
    d.mkdir()
    write_inputs(d, c, data, variant)
    run(exe, "train", str(d))
    shapes = {"y": (c.steps, c.batch, c.n_out), "cb_hist": (c.steps, c.k), "out_cb": (c.k,)}
    if c.bias is not None:
        shapes |= {"bias_hist": (c.steps, c.n_out), "out_bias": (c.n_out,)}
    if c.dx:
        shapes["dx"] = (c.steps, c.batch, c.n_in)
    if c.train_cb:
        shapes["sg"] = (c.steps, c.k)
    return {k: np.fromfile(d / f"{k}.bin", np.float32).reshape(s) for k, s in shapes.items()}


# ---------------------------------------------------------------- numpy models

def effective(cb: np.ndarray, data: Data) -> np.ndarray:
    """W[o][k] = mask ? codebook[idx] : 0, C layout [n_out][n_in] (Param.effective())."""
    return np.where(data.mask, cb[data.idx], np.float32(0)).astype(np.float32)


def numpy_rule(c: Case, data: Data) -> dict[str, np.ndarray]:
    """The numpy engine's math: float64 forward and dx from the numpy trajectory's own codebook,
    float32 dW = dy^T x as Dense's backward, the slot gradient by np.bincount as
    Param.grad_to_storage, and the optimizers of edgetrain/engine/optim.py (Optimizer.step's order:
    t += 1, then every parameter)."""
    opt = make_optimizer(c)
    cb = data.cb.copy()
    bias = None if data.bias is None else data.bias.copy()
    lo = 0.0 if c.relu else -np.inf
    out: dict[str, list] = {"y": [], "dx": [], "sg": []}
    for s in range(c.steps):
        x, dy = data.x[s], data.dy[s]
        w = effective(cb, data).astype(np.float64)
        b64 = 0.0 if bias is None else bias.astype(np.float64)
        out["y"].append(np.maximum(x.astype(np.float64) @ w.T + b64, lo))
        out["dx"].append(dy.astype(np.float64) @ w)
        dw = dy.T @ x  # float32 [n_out][n_in]
        g = np.bincount(data.idx[data.mask], weights=dw[data.mask], minlength=c.k).astype(np.float32)
        out["sg"].append(g)
        opt.t += 1
        if c.train_cb:
            opt.update("codebook", cb, g)
        if c.bias == "train":
            opt.update("bias", bias, dy.sum(axis=0))
    res = {k: np.stack(v) for k, v in out.items()}
    res["out_cb"] = cb
    if bias is not None:
        res["out_bias"] = bias
    return res


def contract_orders(c: Case, data: Data, got: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The summation orders of et_shared.h in float32, step by step from the codebook (and bias)
    each C step started from: what the kernels must produce bit for bit."""
    f32 = np.float32
    lo = f32(0.0) if c.relu else f32(-F32_MAX)
    hi = f32(F32_MAX)
    out: dict[str, list] = {"y": [], "dx": [], "sg": []}
    for s in range(c.steps):
        x, dy = data.x[s], data.dy[s]
        w = effective(got["cb_hist"][s], data)
        # forward: acc = bias, then + x[k] W[o][k] for k ascending, masked entries skipped
        acc = np.zeros((c.batch, c.n_out), f32) + (got["bias_hist"][s] if c.bias is not None else f32(0))
        for k in range(c.n_in):
            acc = np.where(data.mask[:, k], acc + x[:, k:k + 1] * w[:, k], acc)
        out["y"].append(np.where(acc < lo, lo, np.where(acc > hi, hi, acc)))
        # dx: from 0, + dy[b][o] W[o][k] for o ascending, masked entries skipped
        dx = np.zeros((c.batch, c.n_in), f32)
        for o in range(c.n_out):
            dx = np.where(data.mask[o], dx + dy[:, o:o + 1] * w[o], dx)
        out["dx"].append(dx)
        # slot gradient: per entry the batch sum (b ascending, from 0), then entries row-major
        g_entry = np.zeros((c.n_out, c.n_in), f32)
        for b in range(c.batch):
            g_entry = g_entry + dy[b][:, None] * x[b][None, :]
        sg = np.zeros(c.k, f32)
        for o, k in zip(*np.nonzero(data.mask)):  # np.nonzero walks row-major
            sg[data.idx[o, k]] = f32(sg[data.idx[o, k]] + g_entry[o, k])
        out["sg"].append(sg)
    return {k: np.stack(v) for k, v in out.items()}


def rel_err(got: np.ndarray, want: np.ndarray) -> float:
    """Largest per-element relative error."""
    want64 = np.asarray(want, np.float64)
    return float(np.max(np.abs(got.astype(np.float64) - want64) / np.abs(want64)))


def scaled_err(got: np.ndarray, want: np.ndarray) -> float:
    """Largest per-element error relative to max(|element|, RMS of the tensor): sums that cancel
    to near zero (a y or dx element) are measured against the tensor's scale."""
    want64 = np.asarray(want, np.float64)
    floor = np.sqrt(np.mean(want64**2))
    return float(np.max(np.abs(got.astype(np.float64) - want64) / np.maximum(np.abs(want64), floor)))


# ---------------------------------------------------------------- tests

@pytest.mark.parametrize("name", list(CASES))
def test_shared_layer_training_matches_numpy(exe, tmp_path, name):
    c = CASES[name]
    data = make_data(c, seed=sorted(CASES).index(name))
    fast = run_c(exe, tmp_path / "fast", c, data, 0)
    ref = run_c(exe, tmp_path / "ref", c, data, 1)
    # The fast kernels follow the contract's orders exactly: bit-identical to the reference.
    for k in ref:
        assert fast[k].tobytes() == ref[k].tobytes(), f"{k}: fast and _ref kernels differ"
    got = fast
    for k, v in got.items():
        assert np.isfinite(v).all(), f"{k} not finite (slot_grad or dx not zeroed/overwritten?)"

    want = numpy_rule(c, data)
    errs = {"y": scaled_err(got["y"], want["y"])}
    if c.dx:
        errs["dx"] = scaled_err(got["dx"], want["dx"])
    if c.train_cb:
        errs["slots"] = rel_err(got["out_cb"], want["out_cb"])
        errs["slot_grad"] = scaled_err(got["sg"], want["sg"])
    if c.bias == "train":
        errs["bias"] = rel_err(got["out_bias"], want["out_bias"])
    # The total change of the slots (and bias) over the run, against numpy's: a much finer test of
    # the optimizer rule than the values, whose ulp (~3e-8 at 0.5) can exceed a small rule error
    # (Adam's weight-decay term moves a slot by ~1e-7 in these runs).
    upd = {}
    if c.train_cb:
        upd["slots"] = scaled_err(got["out_cb"].astype(np.float64) - data.cb, want["out_cb"].astype(np.float64) - data.cb)
    if c.bias == "train":
        upd["bias"] = scaled_err(got["out_bias"].astype(np.float64) - data.bias,
                                 want["out_bias"].astype(np.float64) - data.bias)
    print(f"\n{name}: max error vs numpy " + ", ".join(f"{k} {v:.1e}" for k, v in errs.items()) +
          "; of the updates " + ", ".join(f"{k} {v:.1e}" for k, v in upd.items()))
    for k, v in errs.items():
        assert v <= RTOL, f"{k}: error {v:.2e} > {RTOL}"
    for k, v in upd.items():
        assert v <= UPDATE_RTOL, f"{k} update: error {v:.2e} > {UPDATE_RTOL}"

    if c.train_cb:
        assert not np.array_equal(got["out_cb"], data.cb), "the codebook did not train"
        if c.unused_slot:
            assert np.all(got["sg"][:, -1] == 0.0)
    else:
        assert got["out_cb"].tobytes() == data.cb.tobytes(), "a frozen codebook changed"
    if c.bias == "frozen":
        assert got["out_bias"].tobytes() == data.bias.tobytes(), "a frozen bias changed"
    elif c.bias == "train":
        assert not np.array_equal(got["out_bias"], data.bias), "the bias did not train"

    exact = contract_orders(c, data, got)
    assert np.array_equal(got["y"], exact["y"]), "forward: not the contract's summation order"
    if c.dx:
        assert np.array_equal(got["dx"], exact["dx"]), "dx: not the contract's summation order"
    if c.train_cb:
        assert np.array_equal(got["sg"], exact["sg"]), "slot_grad: not the contract's summation order"


def test_units(exe):
    assert run(exe, "units").stdout.strip() == "units ok"


@pytest.mark.parametrize("cpu", [M3, M4F], ids=["cortex-m3", "cortex-m4f"])
def test_new_sources_cross_compile_warning_free(arm_cc, tmp_path, cpu):
    nm = str(Path(arm_cc).with_name(Path(arm_cc).name.replace("gcc", "nm")))
    for name in NEW_SOURCES:
        obj = tmp_path / (Path(name).stem + ".o")
        res = subprocess.run([arm_cc, *cpu, *CROSS, f"-I{INC}", str(SRC / name), "-o", str(obj)],
                             capture_output=True, text=True)
        assert res.returncode == 0 and not res.stderr, f"{name}: {res.stderr}"
        undefined = subprocess.run([nm, "-u", str(obj)], capture_output=True, text=True, check=True).stdout.split()
        # No malloc, no stdio: only the runtime, memset (GCC's zeroing loops) and, soft float, the
        # compiler's float helpers and sqrtf.
        extra = [s for s in undefined if s != "U" and not s.startswith(("et_", "__aeabi_"))
                 and s not in ("memset", "sqrtf")]
        assert not extra, f"{name} references {extra}"
        if cpu is M4F:
            assert not [s for s in undefined if s.startswith("__aeabi_") or s == "sqrtf"], (name, undefined)


def test_shared_adam_uses_vsqrt_on_m4f(arm_cc):
    """The shared kernels' Adam takes its square root with VSQRT.F32 (et_optim_impl.h), never sqrtf
    (the errno path) nor double precision."""
    for name in ("et_dense_f32_shared.c", "et_dense_f32_shared_ref.c"):
        res = subprocess.run([arm_cc, *M4F, *CROSS[:-1], f"-I{INC}", "-S", "-o", "-", str(SRC / name)],
                             capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
        assert "vsqrt.f32" in res.stdout, name
        assert "sqrtf" not in res.stdout and ".f64" not in res.stdout and "__aeabi_d" not in res.stdout, name

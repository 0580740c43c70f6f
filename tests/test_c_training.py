"""On-device training in the C runtime: backward kernels, optimizers, A/B weight storage,
divergence guard.

* Parity: tests/c_train/mlp_driver.c trains a 64-32-10 ReLU MLP with the runtime's kernels for 20
  steps (SGD+momentum, Adam; batch 1 and 8; fused, fused _ref and plain-gradient paths) and must
  equal edgetrain's numpy engine (`Trainer.train_step` on the same `Sequential`) within 1e-5
  relative on every parameter and every loss. A frozen first layer stays bit-identical.
* Power loss: tests/c_train/storage_driver.c cuts the power at every byte of a commit (erase,
  payload, header) on the RAM-backed NOR emulation, reboots and loads: always exactly the old or
  the new weights. After each cut the recovery is interrupted again (a second cut in the next
  commit, then a read error in the next load) before a clean commit must win. Erase cut points are
  sampled for the boards' real 16 KiB (STM32F405/F205) and 32 KiB (STM32F7) sectors (the driver
  says how); program cut points are all taken. Torn bytes: the interrupted byte, or the rest of
  its write unit / sector.
* Flash faults: read, erase and program errors (a transient failure at every callback call of a
  load and of a commit; persistent bad bytes in either bank's header and payload) and multi-bit
  flips and bursts: a load gives a stored commit or an error, never other bytes ("corrupt" = 0),
  and a commit after the fault clears succeeds.
* Divergence: tests/c_train/guard_driver.c injects a NaN batch and a huge learning rate; the guard
  rolls back to the last commit.
* Every host build runs once plainly and once under ASan+UBSan; every new runtime source compiles
  warning-free for Cortex-M3 and Cortex-M4F.
"""
from __future__ import annotations

import functools
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

from edgetrain.engine.optim import SGD, Adam
from edgetrain.engine.trainer import Trainer
from edgetrain.layers import Dense, Sequential

from helpers import INC, M3, M4F, ROOT, SRC, compile_c

DRIVERS = ROOT / "tests" / "c_train"

STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2", "-ffp-contract=off"]
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-g"]

# The sources this issue adds (the cross-compile check covers them; the whole runtime is linked).
TRAINING_SOURCES = ["et_optim.c", "et_dense_f32_backward.c", "et_dense_f32_backward_ref.c",
                    "et_act_backward.c", "et_loss.c", "et_crc32.c", "et_storage.c",
                    "et_storage_ram.c", "et_guard.c", "et_status.c"]

N_IN, N_HIDDEN, N_OUT, STEPS = 64, 32, 10, 20
RTOL = 1e-5
MODES = {"fused": 0, "fused_ref": 1, "plain": 2, "plain_ref": 3}


@functools.lru_cache(maxsize=None)
def build(cc: str, driver: str, sanitize: bool, out_dir: str) -> Path:
    exe = Path(out_dir) / (driver + ("_san" if sanitize else ""))
    helpers = [DRIVERS / "io.c"] + ([DRIVERS / "mlp.c"] if driver in ("mlp_driver", "guard_driver") else [])
    cmd = [cc, *STRICT, *(SANITIZE if sanitize else []), f"-I{INC}", f"-I{DRIVERS}",
           str(DRIVERS / f"{driver}.c"), *map(str, helpers), *map(str, sorted(SRC.glob("*.c"))),
           "-lm", "-o", str(exe)]
    return compile_c(cmd, exe)


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("ctrain"))


@pytest.fixture(params=[False, True], ids=["O2", "asan-ubsan"])
def sanitize(request: pytest.FixtureRequest) -> bool:
    return request.param


def run(exe: Path, *args: str) -> subprocess.CompletedProcess:
    res = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, f"{exe.name} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}"
    return res


# ---------------------------------------------------------------- parity with the numpy engine

def make_model(frozen1: bool, seed: int = 0):
    graph = Sequential([Dense(N_HIDDEN, activation="relu", trainable=not frozen1), Dense(N_OUT)],
                       input_shape=(N_IN,), seed=seed)
    rng = np.random.default_rng(seed + 1)
    # Non-zero biases so a bias mix-up cannot hide behind zeros.
    for name in ("dense1.bias", "dense2.bias"):
        graph.params[name].value = rng.uniform(-0.1, 0.1, graph.params[name].shape).astype(np.float32)
    return graph


def make_batches(batch: int, seed: int = 2):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, (STEPS, batch, N_IN)).astype(np.float32)
    y = rng.integers(0, N_OUT, (STEPS, batch)).astype(np.int32)
    return x, y


def make_optimizer(kind: str):
    if kind == "sgd":
        return SGD(lr=0.05, momentum=0.9, weight_decay=1e-3)
    return Adam(lr=2e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-3)


def c_params(graph) -> dict[str, np.ndarray]:
    """The graph's parameters in C layout: weights transposed to [n_out][n_in]."""
    return {"w1": graph.params["dense1.weight"].value.T, "b1": graph.params["dense1.bias"].value,
            "w2": graph.params["dense2.weight"].value.T, "b2": graph.params["dense2.bias"].value}


def write_config(d: Path, batch: int, opt, frozen1: bool, mode: str) -> None:
    is_adam = isinstance(opt, Adam)
    ints = [N_IN, N_HIDDEN, N_OUT, batch, STEPS, int(is_adam), int(frozen1), MODES[mode]]
    if is_adam:
        # 1 - beta rounded from double, exactly as numpy's float32 arithmetic sees it.
        floats = [opt.lr, 0.0, opt.weight_decay, opt.beta1, opt.beta2, opt.eps, 1 - opt.beta1, 1 - opt.beta2]
    else:
        floats = [opt.lr, opt.momentum, opt.weight_decay, 0.0, 0.0, 0.0, 0.0, 0.0]
    (d / "config.bin").write_bytes(struct.pack("<8i8f", *ints, *floats))


def train_numpy(graph, opt, x, y) -> list[float]:
    trainer = Trainer(graph, optimizer=opt, loss="cross_entropy", batch_size=x.shape[1], progress=False)
    return [trainer.train_step(x[s], y[s].astype(np.int64)) for s in range(STEPS)]


def rel_err(c: np.ndarray, ref: np.ndarray) -> float:
    """Largest per-element relative error (reported; weights near zero inflate it)."""
    return float(np.max(np.abs(c.astype(np.float64) - ref) / np.abs(ref.astype(np.float64))))


def scaled_err(c: np.ndarray, ref: np.ndarray) -> float:
    """Largest per-element error relative to max(|ref element|, RMS of the tensor)."""
    ref64 = ref.astype(np.float64)
    floor = np.sqrt(np.mean(ref64**2))
    return float(np.max(np.abs(c - ref64) / np.maximum(np.abs(ref64), floor)))


def assert_parity(c: np.ndarray, ref: np.ndarray, name: str) -> None:
    """1e-5 relative per element, where an element smaller than the tensor's RMS is measured
    against the RMS. Why the floor: a weight that an update has just pushed through zero (seen:
    |w| = 1e-5 in a tensor of RMS 0.2) is the difference of two O(0.1) numbers, so one float32 ulp
    of those (~1e-8), which a different but equally valid summation order (numpy's BLAS vs the C
    loops) shifts, is already 1e-3 of it. Pure per-element figures are printed alongside."""
    err = scaled_err(c, ref)
    assert err <= RTOL, f"{name}: error {err:.2e} (relative, RMS floor) > {RTOL}"


def run_parity(tmp_path: Path, exe: Path, kind: str, batch: int, frozen1: bool, mode: str):
    graph = make_model(frozen1)
    start = {k: v.copy() for k, v in c_params(graph).items()}
    x, y = make_batches(batch)
    opt = make_optimizer(kind)
    for name, arr in start.items():
        (tmp_path / f"{name}.bin").write_bytes(np.ascontiguousarray(arr, np.float32).tobytes())
    (tmp_path / "x.bin").write_bytes(x.tobytes())
    (tmp_path / "y.bin").write_bytes(y.tobytes())
    write_config(tmp_path, batch, opt, frozen1, mode)
    run(exe, str(tmp_path))
    losses_np = np.array(train_numpy(graph, opt, x, y), np.float64)
    want = c_params(graph)
    got = {k: np.fromfile(tmp_path / f"out_{k}.bin", np.float32).reshape(want[k].shape) for k in want}
    losses_c = np.fromfile(tmp_path / "losses.bin", np.float32)
    return start, want, got, losses_np, losses_c


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("batch", [1, 8])
@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_mlp_training_matches_numpy_engine(host_cc, build_dir, sanitize, tmp_path, kind, batch, mode):
    exe = build(host_cc, "mlp_driver", sanitize, build_dir)
    start, want, got, losses_np, losses_c = run_parity(tmp_path, exe, kind, batch, False, mode)
    print(f"\n{kind} batch {batch} {mode}: relative error (RMS floor / pure per element) " +
          ", ".join(f"{k} {scaled_err(got[k], want[k]):.1e}/{rel_err(got[k], want[k]):.1e}" for k in want) +
          f"; losses {rel_err(losses_c, losses_np):.1e}")
    for k in want:
        assert not np.array_equal(got[k], start[k]), f"{k} did not train"
        assert_parity(got[k], want[k], k)
    np.testing.assert_allclose(losses_c, losses_np, rtol=RTOL, atol=0)


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_frozen_first_layer_stays_bit_identical(host_cc, build_dir, sanitize, tmp_path, kind):
    exe = build(host_cc, "mlp_driver", sanitize, build_dir)
    start, want, got, losses_np, losses_c = run_parity(tmp_path, exe, kind, 8, True, "fused")
    for k in ("w1", "b1"):
        assert got[k].tobytes() == start[k].tobytes(), f"frozen {k} changed"
    for k in ("w2", "b2"):
        assert_parity(got[k], want[k], k)
    np.testing.assert_allclose(losses_c, losses_np, rtol=RTOL, atol=0)


# ---------------------------------------------------------------- standalone kernels

@pytest.mark.parametrize("batch,n_in,n_out", [(1, 13, 7), (5, 64, 10), (3, 1, 1)])
def test_backward_kernels_and_losses_match_numpy(host_cc, build_dir, sanitize, tmp_path, batch, n_in, n_out):
    from edgetrain.engine.losses import MSE, CrossEntropy
    from edgetrain.ops.activations import ReLU6Op, ReLUOp

    exe = build(host_cc, "kernels_driver", sanitize, build_dir)
    rng = np.random.default_rng(batch * 100 + n_in)
    f32 = lambda *shape: rng.normal(0, 1, shape).astype(np.float32)  # noqa: E731
    x, w, dy, target = f32(batch, n_in), f32(n_out, n_in), f32(batch, n_out), f32(batch, n_out)
    # relu6 outputs including both clamped values, so each mask edge is exercised.
    y6 = np.clip(f32(batch, n_out) * 4 + 2, 0, 6).astype(np.float32)
    y6.flat[0] = 0.0
    y6.flat[-1] = 6.0
    labels = rng.integers(0, n_out, batch).astype(np.int32)
    (tmp_path / "dims.bin").write_bytes(np.array([batch, n_in, n_out], np.int32).tobytes())
    (tmp_path / "in.bin").write_bytes(b"".join(a.tobytes() for a in (x, w, dy, y6, target, labels)))
    run(exe, str(tmp_path))
    out = np.fromfile(tmp_path / "out.bin", np.float32)
    sizes = [batch * n_in] * 2 + [n_out * n_in, n_out] * 3 + [batch * n_out] * 3 + [1, batch * n_out] * 3
    parts = np.split(out, np.cumsum(sizes)[:-1])
    x64, w64, dy64 = x.astype(np.float64), w.astype(np.float64), dy.astype(np.float64)
    dx, dw, db = dy64 @ w64, dy64.T @ x64, dy64.sum(axis=0)

    def close(got, want, what):
        scale = max(np.abs(want).max(), 1e-30)
        assert np.max(np.abs(got.astype(np.float64).ravel() - np.ravel(want))) <= 1e-6 * scale * max(1, batch), what

    close(parts[0], dx, "dx fast")
    close(parts[1], dx, "dx ref")
    close(parts[2], dw, "dW fast")
    close(parts[3], db, "db fast")
    close(parts[4], dw, "dW ref")
    close(parts[5], db, "db ref")
    close(parts[6], 2 * dw, "dW accumulated")
    close(parts[7], 2 * db, "db accumulated")
    # The masks are exact: equal to the numpy engine's own backward rules (numpy's dy * mask
    # gives -0.0 where C writes 0.0; equal as numbers).
    relu_dx = ReLUOp().backward(None, dy, {"out": y6}, {}, [True], set())[0][0]
    relu6_dx = ReLU6Op().backward(None, dy, {"out": y6}, {}, [True], set())[0][0]
    assert np.array_equal(parts[8], relu_dx.ravel())
    assert np.array_equal(parts[9], relu6_dx.ravel())
    assert parts[10].tobytes() == (dy + y6).tobytes()
    assert 0 < np.count_nonzero(parts[9]) < np.count_nonzero(parts[8])
    for k, (loss_fn, tgt) in enumerate([(MSE(), target), (MSE(), labels), (CrossEntropy(), labels)]):
        loss, grad = loss_fn(dy.copy(), tgt)
        np.testing.assert_allclose(parts[11 + 2 * k], [loss], rtol=1e-6, err_msg=type(loss_fn).__name__)
        np.testing.assert_allclose(parts[12 + 2 * k], grad.ravel(), rtol=1e-5, atol=1e-7,
                                   err_msg=type(loss_fn).__name__)


# ---------------------------------------------------------------- power-safe storage

def test_crc32_matches_zlib(host_cc, build_dir, sanitize, tmp_path):
    exe = build(host_cc, "storage_driver", sanitize, build_dir)
    data = np.random.default_rng(5).integers(0, 256, 1237, dtype=np.uint8).tobytes()
    (tmp_path / "data.bin").write_bytes(data)
    out = run(exe, "crc", str(tmp_path)).stdout.split()
    assert out == ["crc", f"0x{zlib.crc32(data):08x}"]


def test_storage_fixed_cases(host_cc, build_dir, sanitize):
    exe = build(host_cc, "storage_driver", sanitize, build_dir)
    assert run(exe, "units").stdout.strip() == "units ok"


def _cases(out: str) -> list[dict[str, str]]:
    return [dict(kv.split("=") for kv in line.split("#")[0].split()[1:])
            for line in out.splitlines() if line.startswith("cases ")]


# (write unit, erase size, torn): small sectors, then the boards' real ones: STM32F405/F205
# 16 KiB sectors programmed in 4-byte words, STM32F7 32 KiB sectors (8-byte programming).
@pytest.mark.parametrize("write_unit,erase_size,torn", [(1, 128, 0), (4, 256, 0), (4, 256, 1), (4, 256, 2),
                                                        (32, 1024, 1), (4, 16384, 1), (8, 32768, 2)])
def test_power_cut_at_every_byte_of_a_commit(host_cc, build_dir, sanitize, write_unit, erase_size, torn):
    exe = build(host_cc, "storage_driver", sanitize, build_dir)
    out = run(exe, "powercut", str(write_unit), str(erase_size), str(torn)).stdout
    lines = _cases(out)
    assert len(lines) == 3, out
    for line in out.splitlines():
        if line.startswith("cases "):
            print("\n" + line)
    for fields in lines:
        points, cuts = int(fields["points"]), int(fields["cuts"])
        erase, program = int(fields["erase"]), int(fields["program"])
        assert int(fields["mixed"]) == 0 and int(fields["recovery_bad"]) == 0 and int(fields["corrupt"]) == 0
        # Every byte erased or programmed by the commit is a cut point, plus the completed commit;
        # small erases are all taken, large ones sampled (every program byte still taken).
        assert points == erase + program + 1 and erase >= erase_size and program >= 32 + 4 * 163
        assert cuts == points if erase <= 4096 else program + 2048 <= cuts < points
        assert int(fields["old"]) + int(fields["new"]) == cuts
        assert int(fields["new"]) >= 1
        assert int(fields["recovery_cuts"]) == cuts == int(fields["read_fault_loads"])
        assert int(fields["recovery_old"]) + int(fields["recovery_new"]) == cuts
        assert int(fields["recovery_old"]) > 0 and int(fields["recovery_new"]) > 0


@pytest.mark.parametrize("write_unit,erase_size", [(4, 256), (4, 16384), (8, 32768)])
def test_flash_errors_and_bit_flips_never_load_other_bytes(host_cc, build_dir, sanitize, write_unit, erase_size):
    exe = build(host_cc, "storage_driver", sanitize, build_dir)
    out = run(exe, "faults", str(write_unit), str(erase_size)).stdout
    print("\n" + out)
    kinds = {line.split()[1].split("=")[1]: f for line, f in
             zip([ln for ln in out.splitlines() if ln.startswith("cases ")], _cases(out))}
    assert set(kinds) == {"load-transient", "commit-transient", "bad-range", "bit-flips"}
    for f in kinds.values():
        assert int(f["corrupt"]) == 0
        assert int(f.get("failed_recommits", 0)) == 0
    # Every callback call of a load and of a commit was failed once; some loads fell back.
    assert int(kinds["load-transient"]["calls"]) >= 8 and int(kinds["load-transient"]["fallbacks"]) > 0
    assert int(kinds["commit-transient"]["calls"]) >= 20
    assert int(kinds["bad-range"]["loads"]) == 90 and int(kinds["bit-flips"]["loads"]) == 3000
    total = next(line for line in out.splitlines() if line.startswith("faults total="))
    assert total.split()[2] == "corrupt=0"


# ---------------------------------------------------------------- divergence guard

def test_guard_verdicts_warm_up_bound_and_average(host_cc, build_dir, sanitize):
    """Warm-up: a loss is diverged above max_ratio x the initial loss (and min_loss), so growing
    losses (up to 4e14) no longer pass while the average forms; after it, the running average."""
    exe = build(host_cc, "guard_driver", sanitize, build_dir)
    assert run(exe, "-", "units").stdout.strip() == "units ok"


@pytest.mark.parametrize("scenario", ["nan", "lr"])
def test_divergence_rolls_back_to_last_commit(host_cc, build_dir, sanitize, tmp_path, scenario):
    exe = build(host_cc, "guard_driver", sanitize, build_dir)
    graph = make_model(False)
    for name, arr in c_params(graph).items():
        (tmp_path / f"{name}.bin").write_bytes(np.ascontiguousarray(arr, np.float32).tobytes())
    x, y = make_batches(8)
    (tmp_path / "x.bin").write_bytes(x.tobytes())
    (tmp_path / "y.bin").write_bytes(y.tobytes())
    out = run(exe, str(tmp_path), scenario).stdout
    print("\n" + out)
    diverged = [line for line in out.splitlines() if "diverged" in line]
    assert len(diverged) == 1 and "rollbacks 1" in out
    step = int(diverged[0].split()[1])
    # The NaN batch is caught at once; a huge step is caught by the next step's loss.
    assert step == (8 if scenario == "nan" else 9)
    if scenario == "nan":
        assert "loss nan" in diverged[0]
    # Training went on after the rollback.
    assert f"step {step + 1} loss" in out and "accepted" in out.splitlines()[-2]
    loaded = np.fromfile(tmp_path / "loaded.bin", np.float32)
    committed = np.fromfile(tmp_path / "committed.bin", np.float32)
    start = np.concatenate([np.ascontiguousarray(a).ravel() for a in c_params(graph).values()])
    assert np.isfinite(loaded).all()
    assert loaded.tobytes() == committed.tobytes()
    assert not np.array_equal(loaded, start)  # the commit after step 5, not the initial weights


# ---------------------------------------------------------------- cross compilation

@pytest.mark.parametrize("cpu", [M3, M4F], ids=["cortex-m3", "cortex-m4f"])
def test_training_sources_cross_compile_warning_free(arm_cc, tmp_path, cpu):
    for name in TRAINING_SOURCES:
        cmd = [arm_cc, *STRICT[:-1], *cpu, f"-I{INC}", "-c", str(SRC / name), "-o", str(tmp_path / "x.o")]
        res = subprocess.run(cmd, capture_output=True, text=True)
        assert res.returncode == 0 and not res.stderr, f"{name}: {res.stderr}"


def test_adam_uses_vsqrt_without_errno_path_on_m4f(arm_cc):
    """The fused Adam loop takes its square root with the single VSQRT.F32 instruction, never a
    call to sqrtf (the errno path) nor double precision."""
    res = subprocess.run([arm_cc, *STRICT[:-1], *M4F, f"-I{INC}", "-S", "-o", "-",
                          str(SRC / "et_dense_f32_backward.c")], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "vsqrt.f32" in res.stdout
    assert "sqrtf" not in res.stdout and ".f64" not in res.stdout and "__aeabi_d" not in res.stdout


# ---------------------------------------------------------------- instruction budget (QEMU)

def test_training_step_instruction_budget_on_stm32f405(arm_cc, qemu):
    """MLP 64-32-10, all layers trainable, batch 1, production flags (VFMA allowed), counted by
    the TIM2 instruction counter under `-icount shift=0` (instructions, not cycles). Budgets:
    SGD <= 70,000 and Adam <= 250,000 instructions per full training step."""
    from edgetrain.device.run import emulate

    rng = np.random.default_rng(0)
    modes = [0, 5, 0, 1, 1, 0, 2, 2, 0, 6]  # see tests/c_train/bench_model/model.c
    rows = []
    for m in modes:
        x = rng.uniform(0, 1, (8, N_IN)).astype(np.float32)
        y = rng.integers(0, N_OUT, 8).astype(np.int32)
        rows.append(np.frombuffer(struct.pack("<I", m) + y.tobytes() + x.tobytes(), np.uint8))
    result = emulate("stm32f405", [DRIVERS / "bench_model", SRC], np.stack(rows), np.float32, timeout=120)
    counts = dict(zip(["init", "forward", "i1", "sgd", "sgd2", "i2", "adam", "adam2", "i3", "last"],
                      result.instructions_per_inference.tolist()))
    print(f"\nstm32f405 instructions per step, batch 1: forward+loss {counts['forward']}, "
          f"SGD {counts['sgd']}, Adam {counts['adam']}, SGD last layer only {counts['last']}")
    assert np.isfinite(result.outputs[:, 0]).all()
    assert counts["sgd"] <= 70_000 and counts["sgd2"] <= 70_000
    assert counts["adam"] <= 250_000 and counts["adam2"] <= 250_000
    assert counts["forward"] < counts["last"] < counts["sgd"] < counts["adam"]

"""On-device fine-tuning: generated training code vs the numpy engine,
int8 frozen body + float head, training memory plan, budgets, warning-free C, CLI.

Every run goes through `finetune_on_device`: generated code, the fine-tuning harness, boot 1
trains and commits to the A/B banks in the device's flash image, boot 2 must load that bank.
Weights compared here are decoded from the flash image the device wrote.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgetrain.errors import BudgetExceededError
from edgetrain.export.c.train_plan import export_training_c, prepare_training
from edgetrain.export.c.train_program import DeviceTrainConfig
from edgetrain.device.finetune import finetune_on_device, reference_features, reference_finetune, reference_logits
from edgetrain.layers import Dense, Sequential, set_trainable
from edgetrain.quantize import run_int8

STEPS, RTOL = 20, 1e-5
STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2"]
M3 = ["-mcpu=cortex-m3", "-mthumb"]
M4F = ["-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"]


def mlp(widths: tuple[int, ...], seed: int = 0):
    *hidden, out = widths[1:]
    g = Sequential([*(Dense(h, activation="relu") for h in hidden), Dense(out)], input_shape=(widths[0],), seed=seed)
    rng = np.random.default_rng(seed + 1)
    for name, p in g.params.items():  # non-zero biases: a bias mix-up cannot hide behind zeros
        if name.endswith(".bias"):
            p.value = rng.uniform(-0.1, 0.1, p.shape).astype(np.float32)
    return g


def batches(batch: int, n_in: int = 64, n_out: int = 10, seed: int = 2):
    rng = np.random.default_rng(seed)
    return (rng.uniform(0, 1, (STEPS, batch, n_in)).astype(np.float32),
            rng.integers(0, n_out, (STEPS, batch)).astype(np.int32))


OPTIMIZERS = {"sgd": dict(optimizer="sgd", lr=0.05, momentum=0.9, weight_decay=1e-3),
              "adam": dict(optimizer="adam", lr=2e-3, weight_decay=1e-3)}


def scaled_err(c: np.ndarray, ref: np.ndarray) -> float:
    """Per element relative error, elements smaller than the tensor's RMS measured against the
    RMS (the criterion of tests/test_c_training.py: a weight an update just pushed through zero is
    the difference of two O(0.1) numbers, so summation order alone moves it by ~1e-3 of itself)."""
    ref64 = ref.astype(np.float64)
    return float(np.max(np.abs(c - ref64) / np.maximum(np.abs(ref64), np.sqrt(np.mean(ref64**2)))))


def rel_err(c: np.ndarray, ref: np.ndarray) -> float:
    ref64 = ref.astype(np.float64)
    return float(np.max(np.abs(c - ref64) / np.abs(ref64)))


def check_parity(rep, xs, ys, label: str) -> None:
    ref = reference_finetune(rep.program, xs, ys)
    print(f"\n{label} ({rep.ran_on}): relative error (RMS floor / pure) " +
          ", ".join(f"{k} {scaled_err(rep.weights[k], v):.1e}/{rel_err(rep.weights[k], v):.1e}"
                    for k, v in ref.weights.items()) +
          f"; losses {rel_err(np.asarray(rep.loss_curve), ref.losses):.1e}")
    for k, v in ref.weights.items():
        assert scaled_err(rep.weights[k], v) <= RTOL, k
    np.testing.assert_allclose(rep.loss_curve, ref.losses, rtol=RTOL, atol=0)
    assert rep.diverged_steps == 0
    # Boot 2 evaluated with the stored weights: its logits are the numpy model's after training.
    want = reference_logits(rep.program, xs.reshape(-1, xs.shape[-1]), ref.head)
    np.testing.assert_allclose(rep.logits_after, want, rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------- parity with the numpy engine

@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_generated_training_matches_numpy_on_host_asan(host_cc, kind, tmp_path):
    """Host build under ASan + UBSan, batch 8, all layers trainable."""
    g = mlp((64, 32, 10))
    xs, ys = batches(8)
    rep = finetune_on_device(g, "host", batches=(xs, ys), trainable="all", batch=8, sanitize=True,
                             **OPTIMIZERS[kind])
    # A sanitizer report aborts the run (-fno-sanitize-recover): finetune_on_device would raise.
    check_parity(rep, xs, ys, f"host asan {kind} batch 8")
    assert rep.stored_sequence == 1


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_generated_training_matches_numpy_on_qemu_stm32f405(arm_cc, qemu, kind):
    g = mlp((64, 32, 10))
    xs, ys = batches(1)
    rep = finetune_on_device(g, "stm32f405", batches=(xs, ys), trainable="all", batch=1, **OPTIMIZERS[kind])
    check_parity(rep, xs, ys, f"stm32f405 {kind} batch 1")
    assert rep.runner.startswith("QEMU") and len(rep.instructions_per_step) == STEPS
    # Budgets for 64-32-10, full network, batch 1, parity flags (no VFMA fusion).
    goal = 70_000 if kind == "sgd" else 250_000
    print(f"instructions per step: {rep.mean_instructions_per_step:,.0f} (goal {goal:,})")
    assert rep.mean_instructions_per_step <= goal


def test_frozen_layers_between_trainable_ones_stay_identical(host_cc):
    """Only the first layer trains: gradients flow through two frozen layers (input gradient
    only), whose weights stay const in flash; the model after boot 2 equals numpy's."""
    g = mlp((64, 24, 16, 10))
    xs, ys = batches(4)
    start = {k: p.value.copy() for k, p in g.params.items()}
    rep = finetune_on_device(g, "host", batches=(xs, ys), trainable=["dense1"], batch=4, **OPTIMIZERS["sgd"])
    assert sorted(rep.weights) == ["dense1.bias", "dense1.weight"]
    check_parity(rep, xs, ys, "host sgd, only dense1 trains")
    for k in ("dense2.weight", "dense2.bias", "dense3.weight", "dense3.bias"):
        assert rep.graph.params[k].value.tobytes() == start[k].tobytes()
    assert not np.array_equal(rep.graph.params["dense1.weight"].value, start["dense1.weight"])
    # The frozen layers are not stored: the bank holds only dense1.
    assert rep.memory.payload_bytes == (64 * 24 + 24) * 4


def test_bias_only_keeps_no_activations_for_weights(host_cc):
    g = mlp((64, 32, 10))
    xs, ys = batches(2)
    rep = finetune_on_device(g, "host", batches=(xs, ys), trainable="bias-only", batch=2, **OPTIMIZERS["adam"])
    check_parity(rep, xs, ys, "host adam bias-only")
    assert sorted(rep.weights) == ["dense1.bias", "dense2.bias"]


# ---------------------------------------------------------------- int8 frozen body + float head

@pytest.mark.parametrize("where", ["host", "stm32f405"])
def test_int8_body_float_head_matches_reference(host_cc, request, where):
    if where != "host":
        request.getfixturevalue("arm_cc")
        request.getfixturevalue("qemu")
    g = mlp((64, 48, 32, 10))
    rng = np.random.default_rng(7)
    calib = rng.uniform(0, 1, (64, 64)).astype(np.float32)
    xs, ys = batches(4)
    rep = finetune_on_device(g, where, batches=(xs, ys), trainable="last:1", batch=4, body="int8",
                             calib_x=calib, features=True, **OPTIMIZERS["sgd"])
    p = rep.program
    assert p.qbody is not None and p.input_ctype == "int8_t"
    # The int8 part: the body's int8 output on the device equals run_int8 bit for bit.
    x_eval = xs.reshape(-1, 64)
    want_q = run_int8(p.qbody, p.qbody.quantize_input(x_eval))
    assert rep.features is not None and rep.features.dtype == np.int8
    assert rep.features.tobytes() == want_q.tobytes()
    # Boundary dequantization bit-exact as well: the before-logits use it with the initial head.
    np.testing.assert_allclose(rep.logits_before, reference_logits(p, x_eval), rtol=1e-5, atol=1e-5)
    check_parity(rep, xs, ys, f"{where} int8 body + float head")
    assert sorted(rep.weights) == ["dense3.bias", "dense3.weight"]


# ---------------------------------------------------------------- memory plan and budgets

def test_training_arena_smaller_than_naive_sum_and_plan_is_valid():
    g = mlp((64, 32, 16, 10))
    set_trainable(g, "all")
    prog, rep, _ = prepare_training(g, "stm32f405", DeviceTrainConfig(batch=8, optimizer="adam"))
    print(f"\narena {rep.arena_bytes} B, naive {rep.naive_bytes} B "
          f"({rep.naive_activation_bytes} activations + {rep.param_grad_bytes} parameter gradients)")
    # Strictly smaller even without counting the parameter gradients the fused kernels avoid.
    assert rep.arena_bytes < rep.naive_activation_bytes < rep.naive_bytes
    assert rep.arena_bytes >= rep.arena_live_peak
    bufs = list(prog.plan.buffers.values())
    for i, a in enumerate(bufs):
        for b in bufs[i + 1:]:
            if a.overlaps_in_time(b):
                oa, ob = prog.plan.offsets[a.name], prog.plan.offsets[b.name]
                assert oa + a.size <= ob or ob + b.size <= oa, (a, b)
    # Only what a gradient needs is kept: no buffer for a frozen body, slots only for trainables.
    set_trainable(g, "last:1")
    prog1, rep1, _ = prepare_training(g, "stm32f405", DeviceTrainConfig(batch=8, optimizer="adam"))
    assert rep1.optimizer_state_bytes == 2 * (16 * 10 + 10) * 4
    assert rep1.arena_bytes < rep.arena_bytes


def test_int8_body_64_256_256_10_fits_stm32f405_ram():
    g = mlp((64, 256, 256, 10))
    set_trainable(g, "last:1")
    calib = np.random.default_rng(0).uniform(0, 1, (32, 64)).astype(np.float32)
    _, rep, _ = prepare_training(g, "stm32f405", DeviceTrainConfig(batch=8, optimizer="adam", body="int8"), calib)
    print(f"\n64-256-256-10 int8 body, adam, batch 8: {rep.ram_bytes:,} B RAM of {rep.ram_budget:,}")
    assert rep.ram_bytes <= 128 * 1024


def test_budget_is_checked_before_anything_is_written(tmp_path):
    g = mlp((64, 256, 256, 10))
    set_trainable(g, "all")
    out = tmp_path / "train_c"
    with pytest.raises(BudgetExceededError, match="does not fit stm32f405"):
        export_training_c(g, "stm32f405", out, DeviceTrainConfig(optimizer="adam", batch=8))
    assert not out.exists() and not list(tmp_path.iterdir())


@pytest.mark.parametrize("body", ["f32", "int8"])
def test_generated_code_cross_compiles_warning_free(arm_cc, tmp_path, body):
    g = mlp((64, 32, 16, 10))
    set_trainable(g, "last:2")
    calib = np.random.default_rng(0).uniform(0, 1, (32, 64)).astype(np.float32)
    exp = export_training_c(g, "stm32f405", tmp_path / "c", DeviceTrainConfig(optimizer="adam", batch=2, body=body), calib)
    d = exp.out_dir
    for cpu in (M3, M4F):
        for src in ("train_model.c", "train_model_data.c", "runtime/src/et_quant_boundary.c"):
            res = subprocess.run([arm_cc, *STRICT, *cpu, f"-I{d}", f"-I{d}/runtime/include", f"-I{d}/runtime/src",
                                  "-c", str(d / src), "-o", str(tmp_path / "x.o")], capture_output=True, text=True)
            assert res.returncode == 0 and not res.stderr, f"{src} {cpu}: {res.stderr}"


def test_reference_features_of_f32_body_and_before_accuracy(host_cc):
    """A float frozen body (--body f32) runs on the float kernels, forward only."""
    g = mlp((64, 32, 10))
    xs, ys = batches(1)
    rep = finetune_on_device(g, "host", batches=(xs, ys), trainable="last:1", body="f32", **OPTIMIZERS["adam"])
    np.testing.assert_allclose(rep.logits_before, reference_logits(rep.program, xs.reshape(-1, 64)),
                               rtol=1e-5, atol=1e-5)
    assert reference_features(rep.program, xs[0]).shape == (1, 32)
    check_parity(rep, xs, ys, "host adam f32 body")


# ---------------------------------------------------------------- CLI

def test_cli_finetune_json_and_saved_model(host_cc, tmp_path):
    from edgetrain.cli import main
    from edgetrain.data import load_data
    from edgetrain.engine.trainer import fit
    from edgetrain.formats.modelfile import load_model, save_model

    g = mlp((64, 16, 10))
    fit(g, load_data("digits"), epochs=3, batch_size=32, optimizer="adam", lr=0.003)
    save_model(g, tmp_path / "m.etm")
    res = subprocess.run(
        [str(Path(__import__("sys").executable).parent / "edgetrain"), "finetune", str(tmp_path / "m.etm"),
         "--target", "host", "--data", "digits:train", "--steps", "30", "--batch", "4", "--body", "int8",
         "--optimizer", "adam", "--lr", "0.003", "-o", str(tmp_path / "m2.etm"), "--json"],
        capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    d = json.loads(res.stdout)
    assert d["steps"] == 30 and len(d["loss_curve"]) == 30 and d["memory"]["frozen_body"] == "int8"
    assert 0 <= d["accuracy_before"] <= 1 and 0 <= d["accuracy_after"] <= 1
    g2 = load_model(tmp_path / "m2.etm")
    assert not np.array_equal(g2.params["dense2.weight"].value, g.params["dense2.weight"].value)
    assert g2.params["dense1.weight"].value.tobytes() == g.params["dense1.weight"].value.tobytes()
    # A user mistake: one line, a hint, exit 2.
    with pytest.raises(SystemExit) as exc:
        main(["finetune", str(tmp_path / "m.etm"), "--data", "digits:train", "--trainable", "nope"])
    assert exc.value.code == 2

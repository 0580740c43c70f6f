"""Time per training step: edgetrain's numpy engine vs ONNX Runtime training.

Same MLP 64-256-256-10, batch 32, plain SGD, cross-entropy, both single-threaded (numpy's BLAS via
threadpoolctl, ORT via intra/inter-op threads = 1). Prints a table and the ratio numpy / ORT.
Wall-clock timing, the two engines measured in alternating rounds; the median of 7 rounds each.
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from threadpoolctl import threadpool_info, threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import edgetrain as et  # noqa: E402
from edgetrain.engine.trainer import Trainer  # noqa: E402
from edgetrain.interop.onnx.ort_training import export_ort_artifacts, load_ort_training  # noqa: E402

STEPS, REPEATS, WARMUP = 300, 7, 30


def per_step(fn, steps: int) -> float:
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - t0) / steps


def timed_pair(a, b, steps: int) -> tuple[float, float]:
    """Median time per step of `a` and `b`, measured in alternating rounds so both see the same
    machine conditions (on a shared VM, measuring one after the other skews the ratio)."""
    for _ in range(WARMUP):
        a()
        b()
    ra, rb = [], []
    for _ in range(REPEATS):
        ra.append(per_step(a, steps))
        rb.append(per_step(b, steps))
    return statistics.median(ra), statistics.median(rb)


def main() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 64)).astype(np.float32)
    y = rng.integers(0, 10, 32)
    model = et.Sequential([et.Dense(256, "relu"), et.Dense(256, "relu"), et.Dense(10)], 64, seed=0)

    _, api = load_ort_training()
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as d:
        export_ort_artifacts(model, d, loss="cross_entropy", optimizer="sgd")
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        state = api.CheckpointState.load_checkpoint(str(Path(d) / "checkpoint"))
        module = api.Module(str(Path(d) / "training_model.onnx"), state, str(Path(d) / "eval_model.onnx"),
                            device="cpu", session_options=so)
        opt = api.Optimizer(str(Path(d) / "optimizer_model.onnx"), module)
        opt.set_learning_rate(0.01)
        module.train()
        y32 = y.astype(np.int64)

        def ort_step() -> None:
            module(x, y32)
            opt.step()
            module.lazy_reset_grad()

        with threadpool_limits(1):
            trainer = Trainer(model.copy(), et.SGD(0.01), progress=False)
            t_numpy, t_ort = timed_pair(lambda: trainer.train_step(x, y), ort_step, STEPS)
            blas = ", ".join(f"{i['internal_api']} {i.get('architecture', '')}" for i in threadpool_info())

    t = Table(title="training step, MLP 64-256-256-10, batch 32, SGD, 1 thread", title_justify="left")
    for c in ("engine", "time per step", "steps/s"):
        t.add_column(c, justify="right" if c != "engine" else "left")
    t.add_row(f"edgetrain numpy ({blas})", f"{t_numpy * 1e6:.0f} us", f"{1 / t_numpy:.0f}")
    t.add_row(f"onnxruntime-training {ort.__version__}", f"{t_ort * 1e6:.0f} us", f"{1 / t_ort:.0f}")
    Console(width=120).print(t)
    print(f"ratio numpy / onnxruntime-training: {t_numpy / t_ort:.2f}x (goal: <= 1.5x)")


if __name__ == "__main__":
    main()

"""Time per training step: edgetrain's numpy engine vs ONNX Runtime training.

Same MLP 64-256-256-10, batch 32, plain SGD, cross-entropy, both single-threaded (numpy's BLAS via
threadpoolctl, ORT via intra/inter-op threads = 1). Prints a table and the ratio numpy / ORT.
Wall-clock timing, the two engines measured in alternating rounds; the median of 7 rounds each.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from threadpoolctl import threadpool_info, threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import edgetrain as et  # noqa: E402
from edgetrain.engine.trainer import Trainer  # noqa: E402
from _step_timing import ort_sgd_step, timed_pair  # noqa: E402

STEPS, REPEATS, WARMUP = 300, 7, 30


def main() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 64)).astype(np.float32)
    y = rng.integers(0, 10, 32)
    model = et.Sequential([et.Dense(256, "relu"), et.Dense(256, "relu"), et.Dense(10)], 64, seed=0)

    with ort_sgd_step(model, x, y, 0.01) as (ort_step, ort_version):
        with threadpool_limits(1):
            trainer = Trainer(model.copy(), et.SGD(0.01), progress=False)
            t_numpy, t_ort = timed_pair(lambda: trainer.train_step(x, y), ort_step, STEPS, REPEATS, WARMUP)
            blas = ", ".join(f"{i['internal_api']} {i.get('architecture', '')}" for i in threadpool_info())

    t = Table(title="training step, MLP 64-256-256-10, batch 32, SGD, 1 thread", title_justify="left")
    for c in ("engine", "time per step", "steps/s"):
        t.add_column(c, justify="right" if c != "engine" else "left")
    t.add_row(f"edgetrain numpy ({blas})", f"{t_numpy * 1e6:.0f} us", f"{1 / t_numpy:.0f}")
    t.add_row(f"onnxruntime-training {ort_version}", f"{t_ort * 1e6:.0f} us", f"{1 / t_ort:.0f}")
    Console(width=120).print(t)
    print(f"ratio numpy / onnxruntime-training: {t_numpy / t_ort:.2f}x (goal: <= 1.5x)")


if __name__ == "__main__":
    main()

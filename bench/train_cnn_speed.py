"""Time per training step of a small CNN: edgetrain's numpy compiled step vs ONNX Runtime training.

Model 8x8x1 -> Conv2D 3x3 16 same relu -> DepthwiseConv2D 3x3 same relu -> Conv2D 1x1 32 relu ->
GlobalAvgPool -> Dense 10; batch 32, plain SGD, cross-entropy. Both engines single-threaded
(numpy's BLAS via threadpoolctl, ORT via intra/inter-op threads = 1), measured in alternating
rounds; the median of REPEATS rounds each. Prints a table and the ratio numpy / ORT (the issue's
goal: numpy within 1.5x of ORT). ``--steps N --repeats R`` shorten a run (the smoke test).
"""
from __future__ import annotations

import argparse
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

STEPS, REPEATS, WARMUP = 200, 7, 20
BATCH, LR = 32, 0.01
TITLE = "training step, CNN 8x8x1 conv3x3/16 - dw3x3 - conv1x1/32 - GAP - dense 10, batch 32, SGD, 1 thread"


def cnn(seed: int = 0) -> et.Graph:
    return et.Sequential([
        et.Conv2D(16, 3, padding="same", activation="relu"),
        et.DepthwiseConv2D(3, padding="same", activation="relu"),
        et.Conv2D(32, 1, activation="relu"),
        et.GlobalAvgPool(), et.Dense(10),
    ], input_shape=(8, 8, 1), seed=seed)


def measure(steps: int = STEPS, repeats: int = REPEATS, warmup: int = WARMUP) -> dict[str, object]:
    """Seconds per step of both engines on the same model and batch, plus a check that they train
    the same: the first step of each, from the same initial parameters, gives the same loss."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH, 8, 8, 1)).astype(np.float32)
    y = rng.integers(0, 10, BATCH)
    model = cnn()

    with ort_sgd_step(model, x, y, LR) as (ort_step, ort_version):
        first_ort = ort_step()  # the first step, from the initial parameters

        with threadpool_limits(1):
            trainer = Trainer(model.copy(), et.SGD(LR), progress=False)
            first_numpy = trainer.train_step(x, y)
            t_numpy, t_ort = timed_pair(lambda: trainer.train_step(x, y), ort_step, steps, repeats, warmup)
            blas = ", ".join(f"{i['internal_api']} {i.get('architecture', '')}" for i in threadpool_info())
    if not abs(first_numpy - first_ort) <= 1e-4 * max(1.0, abs(first_numpy)):
        raise RuntimeError(f"the engines train different models: first-step loss {first_numpy} (numpy) vs "
                           f"{first_ort} (ORT)")
    return {"numpy_s": t_numpy, "ort_s": t_ort, "ratio": t_numpy / t_ort, "blas": blas,
            "ort_version": ort_version, "first_loss_numpy": first_numpy, "first_loss_ort": first_ort}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=STEPS)
    ap.add_argument("--repeats", type=int, default=REPEATS)
    args = ap.parse_args(argv)
    r = measure(args.steps, args.repeats, min(WARMUP, args.steps))
    t = Table(title=TITLE, title_justify="left")
    for c in ("engine", "time per step", "steps/s"):
        t.add_column(c, justify="right" if c != "engine" else "left")
    t.add_row(f"edgetrain numpy compiled step ({r['blas']})", f"{r['numpy_s'] * 1e6:.0f} us",
              f"{1 / r['numpy_s']:.0f}")
    t.add_row(f"onnxruntime-training {r['ort_version']}", f"{r['ort_s'] * 1e6:.0f} us", f"{1 / r['ort_s']:.0f}")
    t.add_row("first-step loss (numpy / ORT)", f"{r['first_loss_numpy']:.6f} / {r['first_loss_ort']:.6f}", "")
    Console(width=140).print(t)
    print(f"ratio numpy / onnxruntime-training: {r['ratio']:.2f}x (goal: <= 1.5x)")


if __name__ == "__main__":
    main()

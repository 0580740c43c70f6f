"""What the training-speed benchmarks share: alternating-round timing and an ONNX Runtime training
step on artifacts edgetrain exports (SGD, cross-entropy, one thread)."""
from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from edgetrain.graph import Graph
from edgetrain.interop.onnx.ort_training import export_ort_artifacts, load_ort_training


def per_step(fn: Callable[[], object], steps: int) -> float:
    """Seconds per call of ``fn`` over ``steps`` calls."""
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - t0) / steps


def timed_pair(a: Callable[[], object], b: Callable[[], object], steps: int, repeats: int,
               warmup: int) -> tuple[float, float]:
    """Median time per step of `a` and `b`, measured in alternating rounds so both see the same
    machine conditions (on a shared VM, measuring one after the other skews the ratio)."""
    for _ in range(warmup):
        a()
        b()
    ra, rb = [], []
    for _ in range(repeats):
        ra.append(per_step(a, steps))
        rb.append(per_step(b, steps))
    return statistics.median(ra), statistics.median(rb)


@contextmanager
def ort_sgd_step(model: Graph, x: np.ndarray, y: np.ndarray, lr: float) -> Iterator[tuple[Callable[[], float], str]]:
    """(step, onnxruntime version): ``step()`` runs one ORT training step (forward, backward, SGD
    update) of ``model``'s exported artifacts on the batch (x, y) and returns its loss."""
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
        opt.set_learning_rate(lr)
        module.train()
        labels = y.astype(np.int64)

        def step() -> float:
            loss = module(x, labels)
            opt.step()
            module.lazy_reset_grad()
            return float(loss)

        yield step, ort.__version__

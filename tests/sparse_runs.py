"""The 64-512-512-10 digits runs shared by test_set.py and test_motif.py (each computed once per session).

Settings (the usual SET recipe): SGD lr 0.05, momentum 0.9, weight decay 1e-4, batch 32,
60 epochs, eps 5, zeta 0.3.
"""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass

from threadpoolctl import threadpool_limits

import edgetrain as et
from edgetrain.techniques.motif import apply_motif, motif_costs
from edgetrain.techniques.sparse_set import apply_set

SEEDS = (0, 1, 2)
EPOCHS = 60


@dataclass(frozen=True)
class Run:
    accuracy: float
    weights: int  # stored dense-layer weights (non-zeros under the masks)
    unique: int  # unique weights (shared motif blocks count once)
    multiplies: int  # per inference
    seconds: float


@functools.cache
def digits() -> et.Dataset:
    return et.load_data("digits")


def model(seed: int) -> et.Graph:
    return et.Sequential([et.Dense(512, "relu"), et.Dense(512, "relu"), et.Dense(10)], 64, seed=seed)


@functools.cache
def run(kind: str, seed: int) -> Run:
    m = model(seed)
    callbacks = []
    if kind == "set":
        callbacks.append(apply_set(m, eps=5, zeta=0.3, seed=seed))
    elif kind == "motif":
        callbacks.append(apply_motif(m, m=2, eps=5, zeta=0.3, seed=seed))
    t0 = time.perf_counter()
    # One BLAS thread: these 32-row matmuls gain nothing from two, and on a shared 2-core machine
    # OpenBLAS's spinning threads made a run 8x slower (13 s vs 1.6 s for 20 epochs, measured).
    with threadpool_limits(1):
        et.fit(m, digits(), epochs=EPOCHS, batch_size=32, optimizer=et.SGD(0.05, momentum=0.9, weight_decay=1e-4),
               seed=seed, callbacks=callbacks)
    seconds = time.perf_counter() - t0
    weights = sum(m.params[n.params["weight"]].nnz for n in m.nodes if n.op == "dense")
    costs = motif_costs(m)
    result = Run(et.accuracy(m, digits().test), weights, costs["unique_weights"], costs["multiplies"], seconds)
    print(f"\n  {kind:5s} seed {seed}: test accuracy {100 * result.accuracy:.2f}%, weights {weights}, "
          f"unique {result.unique}, multiplies {result.multiplies}, {seconds:.1f}s", end="")
    return result


DENSE_WEIGHTS = 64 * 512 + 512 * 512 + 512 * 10

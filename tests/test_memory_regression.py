"""Memory regression: the bytes the exporter plans for the benchmark models, pinned.

In the spirit of TensorFlow Lite Micro's memory_arena_threshold_test: for each benchmark model of
README.md's tables (bench/infer_cycles.py, bench/sparse.py, bench/finetune_cycles.py) the exporter's
own figures (no compiler involved) are pinned below, beside their meaning:

* inference (`prepare_model`'s MemoryReport): ``arena`` = the planned activation arena
  (ET_MODEL_ARENA_BYTES), ``data`` = model data in flash (weights, sparse indices, biases,
  quantization parameters, argument structs);
* fine-tuning (`prepare_training`'s TrainMemoryReport): ``arena`` = the planned training arena,
  ``state`` = RAM copies of the trainable parameters plus optimizer state.

A figure more than TOLERANCE above its pin fails: memory grew. A figure more than TOLERANCE below
fails too, as its own test, so the pins stay honest: update the pin to the new figure (the
failure message says which).

The figures depend on shapes and masks only, not on weight values, so the models are small
deterministic constructions: fixed seeds, no training (SET masks are the Erdős–Rényi masks
`apply_set` draws at the start: 10,610 stored weights (3.54%) for eps 5 on 64-512-512-10, as
after the benchmark's training), random calibration inputs for int8.
"""
from __future__ import annotations

import functools

import numpy as np
import pytest

import edgetrain as et
from edgetrain.export.c import prepare_model
from edgetrain.export.c.train_plan import prepare_training
from edgetrain.export.c.train_program import DeviceTrainConfig
from edgetrain.layers import set_trainable

TARGET = "stm32f405"
TOLERANCE = 0.03

# (model, dtype, sparse_format) -> {"arena": planned arena B, "data": model data (flash) B}
INFERENCE_PINS: dict[tuple[str, str, str], dict[str, int]] = {
    # bench/infer_cycles.py (README "Inference": model data column); arena = the two hidden tensors
    ("mlp_64_32_10", "f32", "dense"): {"arena": 128, "data": 9_680},
    ("mlp_64_32_10", "int8", "dense"): {"arena": 32, "data": 2_960},
    ("mlp_64_256_256_10", "f32", "dense"): {"arena": 2_048, "data": 340_068},
    ("mlp_64_256_256_10", "int8", "dense"): {"arena": 512, "data": 90_876},
    ("dense_256x256", "f32", "dense"): {"arena": 0, "data": 263_188},  # one layer: input to output, no arena
    ("dense_256x256", "int8", "dense"): {"arena": 0, "data": 68_652},
    # bench/sparse.py: SET 64-512-512-10, eps 5 (10,610 stored weights), every format and policy.
    # The last layer (10 outputs) is denser; "fast" keeps it dense. int8 CSC needs an int32 scratch.
    ("set_64_512_512_10", "f32", "auto"): {"arena": 4_096, "data": 55_564},  # delta8 (smallest)
    ("set_64_512_512_10", "f32", "fast"): {"arena": 4_096, "data": 88_872},  # grouped, dense last layer
    ("set_64_512_512_10", "f32", "grouped"): {"arena": 4_096, "data": 89_348},
    ("set_64_512_512_10", "f32", "csr"): {"arena": 4_096, "data": 67_158},
    ("set_64_512_512_10", "f32", "csc"): {"arena": 4_096, "data": 67_536},
    ("set_64_512_512_10", "f32", "coo"): {"arena": 4_096, "data": 83_694},
    ("set_64_512_512_10", "f32", "delta8"): {"arena": 4_096, "data": 57_534},
    ("set_64_512_512_10", "f32", "delta4"): {"arena": 4_096, "data": 117_880},  # fillers for long gaps
    ("set_64_512_512_10", "f32", "bitmap"): {"arena": 4_096, "data": 84_248},
    ("set_64_512_512_10", "int8", "auto"): {"arena": 1_024, "data": 31_807},
    ("set_64_512_512_10", "int8", "fast"): {"arena": 3_072, "data": 46_984},  # csc: + 2 KiB int32 scratch
    ("set_64_512_512_10", "int8", "grouped"): {"arena": 1_024, "data": 65_862},
    ("set_64_512_512_10", "int8", "csr"): {"arena": 1_024, "data": 43_672},
    ("set_64_512_512_10", "int8", "csc"): {"arena": 3_072, "data": 48_186},
    ("set_64_512_512_10", "int8", "coo"): {"arena": 1_024, "data": 60_208},
    ("set_64_512_512_10", "int8", "delta8"): {"arena": 1_024, "data": 33_940},
    ("set_64_512_512_10", "int8", "delta4"): {"arena": 1_024, "data": 50_507},
    ("set_64_512_512_10", "int8", "bitmap"): {"arena": 1_024, "data": 60_762},
}

# (model, trainable, optimizer, batch, body) -> {"arena": training arena B,
#                                                "state": trainable parameters + optimizer state B}
TRAINING_PINS: dict[tuple[str, str, str, int, str], dict[str, int]] = {
    # bench/finetune_cycles.py (README "On-device training": training arena column). SGD has
    # momentum 0.9 (one velocity per weight), Adam two moments: state = 2x or 3x the parameters.
    ("mlp_64_32_10", "all", "sgd", 1, "f32"): {"arena": 296, "state": 19_280},
    ("mlp_64_32_10", "all", "sgd", 8, "f32"): {"arena": 2_368, "state": 19_280},
    ("mlp_64_32_10", "all", "adam", 1, "f32"): {"arena": 296, "state": 28_920},
    ("mlp_64_32_10", "all", "adam", 8, "f32"): {"arena": 2_368, "state": 28_920},
    ("mlp_64_32_10", "last:1", "sgd", 1, "f32"): {"arena": 168, "state": 2_640},
    ("mlp_64_32_10", "last:1", "sgd", 8, "f32"): {"arena": 1_344, "state": 2_640},
    ("mlp_64_32_10", "last:1", "adam", 1, "f32"): {"arena": 168, "state": 3_960},
    ("mlp_64_32_10", "last:1", "adam", 8, "f32"): {"arena": 1_344, "state": 3_960},
    # int8 frozen body, float last layer: with the 8 KiB stack reservation, the README's training RAM
    ("mlp_64_256_256_10", "last:1", "adam", 8, "int8"): {"arena": 10_240, "state": 30_840},
}

SPARSE_FORMATS = ("auto", "fast", "grouped", "csr", "csc", "coo", "delta8", "delta4", "bitmap")
OPTIMIZERS = {"sgd": dict(optimizer="sgd", lr=0.01, momentum=0.9), "adam": dict(optimizer="adam", lr=1e-3)}


def mlp(widths: tuple[int, ...], name: str) -> et.Graph:
    *hidden, out = widths[1:]
    return et.Sequential([*(et.Dense(h, "relu") for h in hidden), et.Dense(out)], input_shape=widths[0], seed=0,
                         name=name)


@functools.lru_cache(maxsize=None)
def graph(name: str) -> et.Graph:
    if name == "dense_256x256":
        return et.Sequential([et.Dense(256)], input_shape=256, seed=0, name=name)
    if name == "set_64_512_512_10":
        from edgetrain.techniques.sparse_set import apply_set

        g = mlp((64, 512, 512, 10), name)
        apply_set(g, eps=5.0, zeta=0.3, seed=0)
        return g
    widths = tuple(int(w) for w in name.split("_")[1:])
    return mlp(widths, name)


def calibration(n_in: int) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((64, n_in)).astype(np.float32)


def inference_figures(model: str, dtype: str, fmt: str) -> dict[str, int]:
    g = graph(model)
    _, report, _ = prepare_model(g, TARGET, dtype, calibration(g.input_shape[0]) if dtype == "int8" else None,
                                 sparse_format=None if fmt == "dense" else fmt)
    return {"arena": report.arena_bytes, "data": report.data_bytes}


def training_figures(model: str, trainable: str, opt: str, batch: int, body: str) -> dict[str, int]:
    g = graph(model).copy()
    set_trainable(g, trainable)
    config = DeviceTrainConfig(batch=batch, body=body, **OPTIMIZERS[opt])  # type: ignore[arg-type]
    _, report, _ = prepare_training(g, TARGET, config, calibration(g.input_shape[0]) if body == "int8" else None)
    return {"arena": report.arena_bytes, "state": report.param_ram_bytes + report.optimizer_state_bytes}


@functools.lru_cache(maxsize=None)
def measured(kind: str, key: tuple) -> dict[str, int]:
    return inference_figures(*key) if kind == "inference" else training_figures(*key)


ROWS = [("inference", k, fig) for k in INFERENCE_PINS for fig in INFERENCE_PINS[k]] + \
       [("training", k, fig) for k in TRAINING_PINS for fig in TRAINING_PINS[k]]


def _id(row) -> str:
    kind, key, fig = row
    return "-".join(map(str, key)) + f"-{fig}"


def _pin(kind: str, key: tuple, fig: str) -> int:
    return (INFERENCE_PINS if kind == "inference" else TRAINING_PINS)[key][fig]


def grew(what: str, pin: int, now: int) -> str | None:
    """A message when ``now`` exceeds the pin by more than TOLERANCE, else None."""
    if now <= pin * (1 + TOLERANCE):
        return None
    change = f"{now / pin - 1:+.1%}" if pin else "from 0"
    return (f"{what}: {now:,} B, pinned {pin:,} B (+{now - pin:,} B, {change}): memory grew beyond "
            f"{TOLERANCE:.0%}; if that is intended, update the pin in tests/test_memory_regression.py")


def shrank(what: str, pin: int, now: int) -> str | None:
    """A message when ``now`` is below the pin by more than TOLERANCE, else None."""
    if now >= pin * (1 - TOLERANCE):
        return None
    return (f"{what}: {now:,} B, pinned {pin:,} B ({now / pin - 1:+.1%}): memory shrank by more than "
            f"{TOLERANCE:.0%}; update the pin in tests/test_memory_regression.py to {now}")


@pytest.mark.parametrize("row", ROWS, ids=_id)
def test_memory_does_not_grow(row) -> None:
    kind, key, fig = row
    problem = grew(f"{kind} {key} {fig}", _pin(kind, key, fig), measured(kind, key)[fig])
    assert problem is None, problem


@pytest.mark.parametrize("row", ROWS, ids=_id)
def test_pins_are_current(row) -> None:
    kind, key, fig = row
    problem = shrank(f"{kind} {key} {fig}", _pin(kind, key, fig), measured(kind, key)[fig])
    assert problem is None, problem


def test_tolerance_is_three_percent_both_ways() -> None:
    assert grew("x", 1000, 1030) is None and "grew" in grew("x", 1000, 1031)
    assert shrank("x", 1000, 970) is None and "to 969" in shrank("x", 1000, 969)
    assert grew("x", 0, 0) is None and "from 0" in grew("x", 0, 4)


def test_every_benchmark_model_is_pinned() -> None:
    models = {k[0] for k in INFERENCE_PINS}
    assert {"mlp_64_32_10", "mlp_64_256_256_10", "dense_256x256", "set_64_512_512_10"} <= models
    assert {(m, d) for m, d, _ in INFERENCE_PINS} >= {(m, d) for m in models for d in ("f32", "int8")
                                                       if m != "set_64_512_512_10"}
    assert {f for m, _, f in INFERENCE_PINS if m == "set_64_512_512_10"} == set(SPARSE_FORMATS)
    assert ("mlp_64_256_256_10", "last:1", "adam", 8, "int8") in TRAINING_PINS

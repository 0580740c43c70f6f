"""bench/infer_cycles.py and bench/train_cnn_speed.py keep working: their measurement functions on
the smallest case / a few steps only.

Structure and determinism, not speed: the goals are the benchmark's business (run the bench);
here a slower kernel must not fail a test, a broken bench must.
"""
from __future__ import annotations

import json

import pytest

from helpers import load_bench


@pytest.fixture(scope="module")
def bench():  # type: ignore[no-untyped-def]
    return load_bench("infer_cycles.py")


@pytest.mark.cross
def test_measure_mlp_64_32_10_int8(bench) -> None:  # type: ignore[no-untyped-def]
    # Two builds and runs: measure() raises if their counts differ or the output is not bit-exact.
    row = bench.measure("mlp_64_32_10", "int8", samples=3, runs=2)
    assert row["case"] == "mlp_64_32_10" and row["dtype"] == "int8" and row["samples"] == 3
    assert row["macs"] == 64 * 32 + 32 * 10
    assert row["bit_exact"] is True
    counts = row["instructions_per_sample"]
    assert len(counts) == 3 and all(isinstance(c, int) and c > 0 for c in counts)
    assert row["instructions_min"] == min(counts) and row["instructions_max"] == max(counts)
    assert row["instructions_per_mac"] == pytest.approx(row["instructions_per_inference"] / row["macs"])
    assert row["raw_weight_bytes"] == 64 * 32 + 32 * 10
    assert row["weight_bytes"] >= row["raw_weight_bytes"]
    assert row["model_data_bytes"] >= row["weight_bytes"]
    assert row["code_bytes"] > 0 and row["image_flash_bytes"] > row["model_data_bytes"]
    assert row["data_bss_bytes"] >= row["arena_bytes"] > 0
    # Same build again gives the same counts (QEMU -icount is deterministic).
    again = bench.measure("mlp_64_32_10", "int8", samples=3)
    assert again["instructions_per_sample"] == counts

    checks = bench.goals([row])
    names = [c["goal"] for c in checks]
    assert "MLP 64-32-10 int8 instr/inference" in names
    assert all(isinstance(c["met"], bool) for c in checks)
    json.dumps({"rows": [row], "goals": checks})  # the --json output must serialise


def test_train_cnn_speed_times_both_engines_on_the_same_model() -> None:
    """bench/train_cnn_speed.py with a few steps: both engines run, train the same CNN (measure()
    raises when their first-step losses differ) and the ratio is what the table prints."""
    import importlib.util

    from helpers import ROOT

    spec = importlib.util.spec_from_file_location("bench_train_cnn_speed", ROOT / "bench" / "train_cnn_speed.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    r = mod.measure(steps=3, repeats=1, warmup=1)
    assert r["numpy_s"] > 0 and r["ort_s"] > 0
    assert r["ratio"] == pytest.approx(r["numpy_s"] / r["ort_s"])
    assert abs(r["first_loss_numpy"] - r["first_loss_ort"]) <= 1e-4

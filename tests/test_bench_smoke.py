"""bench/infer_cycles.py keeps working: its measurement function on the smallest case only.

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

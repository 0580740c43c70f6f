"""bench/sparse.py keeps working: its measuring function on a tiny SET model only.

Structure and determinism, not speed: the goals are the benchmark's business.
"""
from __future__ import annotations

import json

import pytest

from helpers import load_bench


@pytest.fixture(scope="module")
def bench():  # type: ignore[no-untyped-def]
    return load_bench("sparse.py")


@pytest.mark.cross
def test_measure_tiny_set_model(bench) -> None:  # type: ignore[no-untyped-def]
    g = bench.trained("set", hidden=(16,), epochs=2, eps=2.0)
    dense = bench.trained("dense", hidden=(16,), epochs=2)
    row = bench.measure(g, "f32", "csr", samples=3)  # raises if the device disagrees with numpy
    assert row["format"] == "csr" and row["dtype"] == "f32" and row["samples"] == 3
    assert set(row["layer_formats"].values()) == {"csr"}
    assert row["stored_weights"] == bench.stored_weights(g) < 64 * 16 + 16 * 10
    counts = row["instructions_per_sample"]
    assert len(counts) == 3 and all(isinstance(c, int) and c > 0 for c in counts)
    assert row["instructions_per_stored_weight"] == pytest.approx(
        row["instructions_per_inference"] / row["stored_weights"])
    assert row["weight_bytes"] == row["weight_index_bytes"] + row["weight_value_bytes"]
    assert row["image_flash_bytes"] > row["model_data_bytes"] >= row["weight_bytes"] > 0
    assert 0.0 <= row["accuracy"] <= 1.0
    # QEMU -icount is deterministic: a second build and run counts the same.
    assert bench.measure(g, "f32", "csr", samples=3)["instructions_per_sample"] == counts

    rows = [row, bench.measure(dense, "f32", None, samples=3), bench.measure(g, "int8", "auto", samples=3)]
    assert rows[1]["format"] == "dense" and rows[2]["format"] == "auto"
    checks = bench.goals(rows)
    assert "float32 CSR: instructions per stored weight" in [c["goal"] for c in checks]
    assert all(isinstance(c["met"], bool) for c in checks)
    json.dumps({"rows": rows, "goals": checks})  # --json must serialise


@pytest.mark.cross
def test_finetune_vs_inference_tiny_set_model(bench) -> None:  # type: ignore[no-untyped-def]
    g = bench.trained("set", hidden=(16,), epochs=2, eps=2.0)
    inf = bench.measure(g, "f32", "auto", samples=3)
    head_dense = bench.measure(bench.dense_head(g), "f32", "auto", samples=3)
    assert head_dense["layer_formats"]["dense2"] == "dense" and inf["layer_formats"] != {}
    row = bench.finetune_vs_inference(g, "f32", inf, head_dense, samples=3)
    assert row["samples"] == 3 and row["body_layers"] == ["dense1"]
    assert row["trainable"] == ["dense2.weight", "dense2.bias"]
    # The frozen body is stored as the inference export stores it (same format, same bytes).
    assert row["finetune_body_data_bytes"] == row["inference_body_data_bytes"] > 0
    assert row["finetune_flash_bytes"] > row["inference_flash_bytes"] > 0
    assert row["finetune_forward_instructions"] > 0 and row["finetune_step_instructions"] > 0
    assert row["forward_ratio_dense_head"] == pytest.approx(
        row["finetune_forward_instructions"] / row["dense_head_inference_instructions"])
    checks = bench.finetune_goals([row])
    assert len(checks) == 2 and all(isinstance(c["met"], bool) for c in checks)
    json.dumps({"finetune_vs_inference": [row], "goals": checks})  # --json must serialise

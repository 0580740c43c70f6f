"""bench/cqkd.py keeps working: the whole bench with --quick --json (one seed, a few epochs).

Structure and sane values, not the targets: those are the benchmark's business (run the bench).
"""

from __future__ import annotations

import json

import pytest
from helpers import load_bench


@pytest.fixture(scope="module")
def bench():  # type: ignore[no-untyped-def]
    """bench/cqkd.py as a module (skipped, failed in CI, when stm32f405 cannot run here)."""
    return load_bench("cqkd.py")


@pytest.mark.cross
def test_quick_json_has_every_row_with_sane_values(bench, capsys) -> None:  # type: ignore[no-untyped-def]
    """One --quick --json run: every row, accuracies in [0, 1], clustered flash below int8's, the
    storage each row must get, instruction counts of the rows --quick measures on QEMU."""
    assert bench.main(["--quick", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["qemu"]["ran"] is True and out["settings"]["seeds"] == 1 and out["settings"]["quick"] is True
    rows = {r["key"]: r for r in out["rows"]}
    assert set(rows) == {*bench.DIGITS_ROWS, *bench.K4_ROWS, *bench.SMALL_ROWS}
    for r in rows.values():
        for acc in ("accuracy_float_math", "accuracy_int8"):
            s = r[acc]
            if s is not None:
                assert 0.0 <= s["mean"] <= 1.0 and len(s["per_seed"]) == 1 and s["std"] == 0.0
    assert rows["float32"]["accuracy_int8"] is None and rows["int8"]["accuracy_float_math"] is None
    assert rows["float32"]["accuracy_float_math"]["mean"] > 0.5  # a few epochs learn digits

    int8 = rows["int8"]["export"]
    assert {p: int8[p]["weight_flash_bytes"] for p in bench.POLICIES} == {"fast": 84480, "auto": 84480}
    assert [layer["format"] for layer in int8["fast"]["layers"]] == ["dense"] * 3
    for key in ("cl16", "cq16", "setcq16", "cl4", "cq4_nokd", "cq4_kd"):
        for policy, m in rows[key]["export"].items():
            assert 0 < m["weight_flash_bytes"] < int8[policy]["weight_flash_bytes"], (key, policy)
            assert m["weight_flash_bytes"] == sum(layer["weights"] for layer in m["layers"])
            assert m["flash_ratio_vs_int8"] == pytest.approx(
                m["weight_flash_bytes"] / int8[policy]["weight_flash_bytes"]
            )
    cq = rows["cq16"]["export"]
    assert [layer["format"] for layer in cq["fast"]["layers"]] == ["cluster4"] * 3
    # auto keeps the table where it is a small share of the indices (64->256, 256->256), not on 256->10
    assert [layer["format"] for layer in cq["auto"]["layers"]] == ["cluster4", "cluster4", "cluster4 no table"]
    assert cq["fast"]["arena_bytes"] == int8["fast"]["arena_bytes"]
    assert rows["cq4_kd"]["index_bits"] == "2" and rows["cq16"]["index_bits"] == "4"
    assert all(layer["format"] == "cluster2" for layer in rows["cq4_kd"]["export"]["fast"]["layers"])
    # masked + clustered: stored by the sparse formats, not as packed indices
    assert not any(layer["format"].startswith("cluster") for layer in rows["setcq16"]["export"]["fast"]["layers"])
    assert 0 < rows["setcq16"]["density"] < 0.5

    for key in bench.QUICK_QEMU:
        for m in rows[key]["export"].values():
            assert isinstance(m["instructions_per_inference"], float) and m["instructions_per_inference"] > 0, key
            assert m["qemu_samples"] == bench.QEMU_SAMPLES
    assert cq["fast"]["instructions_ratio_vs_int8"] == pytest.approx(
        cq["fast"]["instructions_per_inference"] / int8["fast"]["instructions_per_inference"]
    )
    assert rows["cl16"]["export"]["fast"]["instructions_per_inference"] is None  # not on QEMU with --quick

    for r in rows.values():
        if "kd_gain" in r:
            assert -1.0 <= r["kd_gain"]["mean"] <= 1.0
    assert {c["verdict"] for c in out["claim"]} <= {"reproduced", "refuted", "smaller gain than claimed"}
    assert len(out["claim"]) == 2 * len(bench.SMALL_KS)
    assert len(out["goals"]) == 2 + 3 * len(bench.POLICIES)
    assert all(isinstance(g["met"], bool) for g in out["goals"])
    assert out["seconds"] > 0 and out["notes"]

"""C export of clustered dense layers: packed indices + codebook in flash, read inside the MAC loop.

One model, 64-48-30-10 with every weight clustered (dense1 k=16 -> 4 bits, dense2 k=8 -> 3 bits,
dense3 k=4 -> 2 bits), exported in float32 and int8 and run on host gcc (fast and reference
kernels, under ASan/UBSan) and on the emulated STM32F405: int8 bit-exact with the numpy int8
reference, float32 within 1e-5 of numpy.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pytest

import edgetrain as et
from edgetrain.device import build_firmware, run_firmware
from edgetrain.export.c import ExportResult, export_c
from edgetrain.formats.packed import packed_bytes
from edgetrain.model_report import info_dict
from edgetrain.quantize import int8_reference
from edgetrain.techniques.cqkd import cluster_weights

from codegen_models import digits

TOL = 1e-5
CLUSTERS = {"dense1": 16, "dense2": 8, "dense3": 4}
BITS = {"dense1": 4, "dense2": 3, "dense3": 2}


@functools.lru_cache(maxsize=None)
def clustered_model() -> et.Graph:
    d = digits()
    g = et.Sequential([et.Dense(48, "relu"), et.Dense(30, "relu"), et.Dense(10)], input_shape=d.n_features,
                      seed=0, name="clustered")
    et.fit(g, d, epochs=6, optimizer="adam", lr=3e-3, seed=0)
    cluster_weights(g, layer_clusters=CLUSTERS, seed=0)
    return g


def weight(g: et.Graph, layer: str) -> et.Param:
    return next(g.params[n.params["weight"]] for n in g.nodes if n.name == layer)


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ExportResult]:
    d = digits()
    root = tmp_path_factory.mktemp("cluster_exports")
    out = {}
    for dtype in ("f32", "int8"):
        for policy in ("auto", "fast", "dense"):
            out[f"{policy}-{dtype}"] = export_c(clustered_model(), "stm32f405", root / f"{policy}-{dtype}", dtype,
                                                d.train.x, sparse_format=policy)
    return out


def check_outputs(res: ExportResult, outputs: np.ndarray) -> None:
    x = digits().test.x
    if res.qmodel is not None:
        np.testing.assert_array_equal(outputs, int8_reference(res.qmodel, x))
    else:
        np.testing.assert_allclose(outputs, et.predict(res.program.lowered.graph, x), rtol=TOL, atol=TOL)


def layer_rows(res: ExportResult) -> dict[str, dict]:
    report = json.loads((res.out_dir / "memory_report.json").read_text())
    return {row["layer"]: row for row in report["layers"]}


def test_clustered_layers_are_stored_as_packed_indices(exports) -> None:
    for dtype in ("f32", "int8"):
        rows = layer_rows(exports[f"fast-{dtype}"])
        for layer, bits in BITS.items():
            w = weight(clustered_model(), layer)
            n_in, n_out = w.value.shape
            assert rows[layer]["format"] == f"cluster{bits}", rows[layer]
            assert rows[layer]["weight_index"] == packed_bytes(n_out, n_in, bits)
            codebook = CLUSTERS[layer] * (4 if dtype == "f32" else 1)
            pairs = 4 * 2 ** (2 * bits) if dtype == "int8" else 0
            assert rows[layer]["weight_values"] == codebook + pairs
        data = (exports[f"fast-{dtype}"].out_dir / "model_data.c").read_text()
        # no dense weight matrix is stored, nor any buffer of a layer's size decoded at run time
        assert "_weights[" not in data and "_cluster_idx_words" in data
        dense_rows = layer_rows(exports[f"dense-{dtype}"])
        assert all(dense_rows[layer]["format"] == "dense" for layer in BITS)
        assert exports[f"fast-{dtype}"].report.arena_bytes == exports[f"dense-{dtype}"].report.arena_bytes
    assert {k: r["format"] for k, r in layer_rows(exports["auto-f32"]).items()} == {
        k: r["format"] for k, r in layer_rows(exports["fast-f32"]).items()}
    # auto takes the fewest bytes per layer: never more than the table-backed or the dense storage
    auto = layer_rows(exports["auto-int8"])
    fast = layer_rows(exports["fast-int8"])
    for layer in BITS:
        assert auto[layer]["weights"] <= fast[layer]["weights"]
        assert auto[layer]["weights"] <= layer_rows(exports["dense-int8"])[layer]["weights"]


# auto-f32 stores what fast-f32 does (no table in float32); the reference kernels once per dtype.
@pytest.mark.parametrize("key,ref", [("fast-f32", False), ("fast-f32", True), ("fast-int8", False),
                                     ("fast-int8", True), ("auto-int8", False)])
def test_host_parity_under_sanitizers(exports, key: str, ref: bool, tmp_path: Path, host_cc: str) -> None:
    res = exports[key]
    fw = build_firmware("host", res.out_dir, tmp_path / "b", parity=True, sanitize=True,
                        defines={"ET_FORCE_REF": 1} if ref else None)
    check_outputs(res, run_firmware(fw, res.prepare_input(digits().test.x), res.output_dtype, timeout=120).outputs)


@pytest.mark.parametrize("key", ["fast-f32", "fast-int8", "auto-int8"])
def test_qemu_parity(exports, key: str, tmp_path: Path, qemu: str) -> None:
    res = exports[key]
    fw = build_firmware("stm32f405", res.out_dir, tmp_path / "b", parity=True)
    x = digits().test.x[:200]
    outputs = run_firmware(fw, res.prepare_input(x), res.output_dtype, timeout=300).outputs
    if res.qmodel is not None:
        np.testing.assert_array_equal(outputs, int8_reference(res.qmodel, x))
    else:
        np.testing.assert_allclose(outputs, et.predict(res.program.lowered.graph, x), rtol=TOL, atol=TOL)


def test_info_shows_clustered_layers() -> None:
    info = info_dict(clustered_model())
    rows = {r["layer"]: r for r in info["clustered"]}
    assert {layer: rows[layer]["bits"] for layer in BITS} == BITS
    assert all(rows[layer]["clusters"] == CLUSTERS[layer] for layer in BITS)


def test_a_forced_sparse_format_leaves_unmasked_clustered_layers_packed(exports, tmp_path: Path) -> None:
    """A sparse format names the storage of masked layers; an unmasked clustered one stays packed
    exactly as ``auto`` stores it."""
    res = export_c(clustered_model(), "stm32f405", tmp_path / "csr", "int8", digits().train.x, sparse_format="csr")
    formats = {layer: row["format"] for layer, row in layer_rows(res).items()}
    assert formats == {layer: row["format"] for layer, row in layer_rows(exports["auto-int8"]).items()}
    assert all(formats[layer].startswith("cluster") for layer in BITS)

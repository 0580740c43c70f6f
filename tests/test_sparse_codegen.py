"""Generated C for masked (SET, motif) models: format choice, byte report, parity, warnings.

* ``export_c`` stores every masked dense layer in the smallest format of the matrix it emits (or a
  forced one) and calls the matching sparse kernel; motif layers use the motif kernel;
* the memory report's index / value bytes equal the emitted arrays (``arm-none-eabi-nm -S`` of the
  compiled model_data.c), fillers counted;
* the generated firmware matches numpy: int8 bit for bit against ``int8_reference``, float32 within
  1e-5 (parity builds), with the fast and the reference (``ET_FORCE_REF``) kernels, on host (also
  ASan+UBSan) and in QEMU stm32f405; it compiles with -Werror for Cortex-M3 and M4F.
"""
from __future__ import annotations

import functools
import subprocess
from pathlib import Path

import numpy as np
import pytest

import edgetrain as et
from edgetrain.device import build_firmware, run_firmware
from edgetrain.errors import ConfigError, ExportError
from edgetrain.export.c import ExportResult, export_c
from edgetrain.export.c.sparse import FAST_DENSE_ABOVE
from edgetrain.formats.sparse import all_encodings
from edgetrain.quantize import int8_reference
from edgetrain.techniques.motif import apply_motif
from edgetrain.techniques.sparse_set import apply_set

from codegen_models import digits

TOL = 1e-5
# Two exports cover every format: three masked layers each.
MIXES = {"mix-a": {"dense1": "csr", "dense2": "delta8", "dense3": "bitmap"},
         "mix-b": {"dense1": "coo", "dense2": "delta4", "dense3": "dense"}}


@functools.lru_cache(maxsize=None)
def set_model() -> et.Graph:
    """64-48-30-10 with SET masks (eps 3), trained briefly; dense3 is ~35% dense."""
    d = digits()
    g = et.Sequential([et.Dense(48, "relu"), et.Dense(30, "relu"), et.Dense(10)], input_shape=d.n_features,
                      seed=0, name="setmlp")
    evo = apply_set(g, eps=3, seed=0)
    et.fit(g, d, epochs=6, optimizer="adam", lr=3e-3, seed=0, callbacks=[evo])
    return g


@functools.lru_cache(maxsize=None)
def motif_model() -> et.Graph:
    d = digits()
    g = et.Sequential([et.Dense(48, "relu"), et.Dense(10)], input_shape=d.n_features, seed=1, name="motif")
    evo = apply_motif(g, m=2, eps=4, seed=0)
    et.fit(g, d, epochs=6, optimizer="adam", lr=3e-3, seed=0, callbacks=[evo])
    return g


def weight(g: et.Graph, layer: str):
    return next(g.params[n.params["weight"]] for n in g.nodes if n.name == layer)


@functools.lru_cache(maxsize=None)
def empty_layer_model() -> et.Graph:
    """dense2 keeps no weight at all (its output is the bias) and dense1 has empty rows."""
    g = set_model().copy()
    w1, w2 = weight(g, "dense1"), weight(g, "dense2")
    w1.mask[:, :5] = False  # outputs 0..4 of dense1: empty rows in C layout
    w1.value *= w1.mask
    w2.mask[...] = False
    w2.value[...] = 0.0
    return g


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ExportResult]:
    d = digits()
    root = tmp_path_factory.mktemp("sparse_exports")
    out: dict[str, ExportResult] = {}
    for dtype in ("f32", "int8"):
        out[f"auto-{dtype}"] = export_c(set_model(), "stm32f405", root / f"auto-{dtype}", dtype, d.train.x)
        for mix, fmts in MIXES.items():
            out[f"{mix}-{dtype}"] = export_c(set_model(), "stm32f405", root / f"{mix}-{dtype}", dtype,
                                             d.train.x, sparse_format=fmts)
        out[f"motif-{dtype}"] = export_c(motif_model(), "stm32f405", root / f"motif-{dtype}", dtype, d.train.x)
        out[f"empty-{dtype}"] = export_c(empty_layer_model(), "stm32f405", root / f"empty-{dtype}", dtype,
                                         d.train.x, per_channel=False)
        out[f"fast-{dtype}"] = export_c(set_model(), "stm32f405", root / f"fast-{dtype}", dtype, d.train.x,
                                        sparse_format="fast")
        for fmt in ("csc", "grouped"):
            out[f"empty-{fmt}-{dtype}"] = export_c(empty_layer_model(), "stm32f405", root / f"empty-{fmt}-{dtype}",
                                                   dtype, d.train.x, sparse_format=fmt)
    return out


def run(res: ExportResult, target: str, tmp: Path, *, ref: bool = False, sanitize: bool = False):
    fw = build_firmware(target, res.out_dir, tmp / f"b-{target}-{ref}-{sanitize}", parity=True,
                        sanitize=sanitize, defines={"ET_FORCE_REF": 1} if ref else None)
    return run_firmware(fw, res.prepare_input(digits().test.x), res.output_dtype, timeout=120)


def check_outputs(res: ExportResult, outputs: np.ndarray) -> None:
    x = digits().test.x
    if res.qmodel is not None:
        np.testing.assert_array_equal(outputs, int8_reference(res.qmodel, x))
    else:
        np.testing.assert_allclose(outputs, et.predict(res.program.lowered.graph, x), rtol=TOL, atol=TOL)


# ------------------------------------------------------------------------- choice and report

def test_auto_picks_the_smallest_format_per_layer(exports) -> None:
    for dtype in ("f32", "int8"):
        res = exports[f"auto-{dtype}"]
        for lm in res.report.layers:
            ls = res.program.storage[lm.layer]
            assert lm.format == ls.format and ls.alternatives
            assert ls.nbytes.total == min(ls.alternatives.values())
            assert lm.op == ("dense" if ls.format == "dense" else f"dense/{ls.format}")
        assert any(lm.format not in ("dense",) for lm in res.report.layers)
    # `edgetrain info` predicts both exports' choices and byte counts.
    from edgetrain.model_report import sparse_rows

    info = {r["layer"]: r for r in sparse_rows(set_model())}
    for dtype, fmt_key, bytes_key in (("f32", "format", "bytes"), ("int8", "int8_format", "int8_bytes")):
        for lm in exports[f"auto-{dtype}"].report.layers:
            assert (info[lm.layer][fmt_key], info[lm.layer][bytes_key]) == (lm.format, lm.weights), (dtype, lm.layer)


def test_forced_formats_and_kernels(exports) -> None:
    for mix, fmts in MIXES.items():
        for dtype in ("f32", "int8"):
            res = exports[f"{mix}-{dtype}"]
            kind = "f32" if dtype == "f32" else "s8"
            assert {lm.layer: lm.format for lm in res.report.layers} == fmts
            model_c = (res.out_dir / "model.c").read_text()
            for layer, fmt in fmts.items():
                if fmt == "dense":
                    assert f"ET_DENSE_{kind.upper()}(&et_p_{layer}" in model_c
                else:
                    suffix = fmt.rstrip("84") if fmt.startswith("delta") else fmt
                    assert f"ET_SPARSE_{kind.upper()}({suffix}, &et_p_{layer}" in model_c
                    assert f"et_sparse_{kind}_{suffix}" in res.program.kernels()


def test_fast_policy_uses_the_fastest_kernels(exports) -> None:
    """"fast": row-grouped CSR for float32 ReLU layers with short rows, else input-driven CSC (the
    output layer, int8), dense above FAST_DENSE_ABOVE stored fraction; float32 hidden units are
    sorted by fan-in first, so a grouped layer has one run per distinct row length."""
    for dtype in ("f32", "int8"):
        res = exports[f"fast-{dtype}"]
        kind = "f32" if dtype == "f32" else "s8"
        for lm in res.report.layers:
            ls = res.program.storage[lm.layer]
            fastest = "grouped" if dtype == "f32" and lm.layer != "dense3" else "csc"
            want = "dense" if ls.nnz > FAST_DENSE_ABOVE * ls.encoding.shape[0] * ls.encoding.shape[1] else fastest
            assert lm.format == want, (dtype, lm.layer)
        assert lm.format == "csc"  # dense3: no ReLU, so no grouped assembly loop
        assert any(lm.format == "grouped" for lm in res.report.layers) == (dtype == "f32")
        assert f"et_sparse_{kind}_csc" in res.program.kernels()
    for layer, ls in exports["fast-f32"].program.storage.items():
        if ls.format == "grouped":
            lengths = ls.encoding.runs.reshape(-1, 2)[:, 0]
            assert len(lengths) == len(set(lengths.tolist())) > 1
    # Sorting hidden units leaves the model's function (and its output order) as it was.
    x = digits().test.x
    sorted_graph = exports["fast-f32"].program.lowered.graph
    assert not np.array_equal(weight(sorted_graph, "dense1").mask, weight(set_model(), "dense1").mask)
    np.testing.assert_allclose(et.predict(sorted_graph, x), et.predict(set_model(), x), rtol=1e-5, atol=1e-5)


def test_fast_format_rule() -> None:
    """grouped only where its assembly loops run: float32, ReLU, >= 90% of the weights in rows of
    at most 24; everything else gets CSC."""
    from edgetrain.export.c.sparse import fastest_sparse_format

    short = np.arange(40)[None, :] < np.full((100, 1), 20)  # 100 rows of 20
    assert fastest_sparse_format(short, np.float32, "relu") == "grouped"
    assert fastest_sparse_format(short, np.int8, "relu") == "csc"
    assert fastest_sparse_format(short, np.float32, None) == "csc"
    assert fastest_sparse_format(short, np.float32, "relu6") == "csc"
    mixed = short.copy()
    mixed[:2] = np.arange(40) < 40  # 2 rows of 40: 80 of 2,040 weights (3.9%) in long rows
    assert fastest_sparse_format(mixed, np.float32, "relu") == "grouped"
    mixed[:6] = True  # 6 rows of 40: 240 of 2,120 (11.3%)
    assert fastest_sparse_format(mixed, np.float32, "relu") == "csc"


def test_motif_layers_use_the_motif_kernel(exports) -> None:
    for dtype in ("f32", "int8"):
        res = exports[f"motif-{dtype}"]
        st = res.program.storage
        assert st["dense1"].format == "motif" and st["dense1"].block == (2, 2)
        assert st["dense2"].format == "motif" and st["dense2"].block == (1, 2)  # class layer: m x 1
        # One value per active block: a quarter (half) of the stored weights.
        assert st["dense1"].encoding.arrays()["values"].size * 4 == st["dense1"].nnz
        assert st["dense2"].encoding.arrays()["values"].size * 2 == st["dense2"].nnz
        assert "ET_SPARSE_" + ("F32" if dtype == "f32" else "S8") + "_MOTIF(" in (res.out_dir / "model.c").read_text()
        # The group sums live in the planned arena, alive only during their layer.
        assert "dense1:scratch" in res.program.plan.buffers


def test_motif_falls_back_when_blocks_are_not_shared(tmp_path: Path) -> None:
    g = motif_model().copy()
    p = weight(g, "dense1")
    p.codebook = None
    p.indices = None
    p.value = p.value + np.random.default_rng(0).normal(0, 1e-3, p.value.shape).astype(np.float32)
    p.value *= p.mask
    res = export_c(g, "stm32f405", tmp_path / "m", "f32")
    assert res.program.storage["dense1"].format != "motif"  # values differ inside blocks
    with pytest.raises(ExportError, match="motif"):
        export_c(g, "stm32f405", tmp_path / "m2", "f32", sparse_format={"dense1": "motif"})


def test_bad_sparse_format_options(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown sparse format"):
        export_c(set_model(), "stm32f405", tmp_path / "a", "f32", sparse_format="zip")
    with pytest.raises(ConfigError, match="unknown dense layers"):
        export_c(set_model(), "stm32f405", tmp_path / "b", "f32", sparse_format={"dens1": "csr"})
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_report_matches_encoders_and_fillers(exports) -> None:
    res = exports["mix-b-int8"]  # delta4 on int8: short gap field, fillers appear
    for lm in res.report.layers:
        ls = res.program.storage[lm.layer]
        assert (lm.weight_index, lm.weight_values, lm.fillers) == (ls.nbytes.index, ls.nbytes.value,
                                                                   ls.nbytes.fillers)
        assert lm.weights == lm.weight_index + lm.weight_values
    d2 = next(lm for lm in res.report.layers if lm.layer == "dense2")
    assert d2.fillers > 0
    # And the encoders agree with edgetrain info's view of the same layer (float32 values).
    w = weight(set_model(), "dense2")
    f32 = exports["mix-b-f32"].program.storage["dense2"]
    assert f32.nbytes == all_encodings(w.effective().T, w.mask.T, np.float32)["delta4"].nbytes
    doc = res.report.to_dict()["layers"]
    assert {"format", "weight_index", "weight_values", "fillers", "nnz"} <= set(doc[0])


def test_reported_bytes_equal_compiled_symbol_sizes(exports, arm_cc: str, tmp_path: Path) -> None:
    """Sizes of the compiled arrays (nm -S), summed per layer, are the report's index/value bytes."""
    nm = arm_cc.replace("gcc", "nm")
    for key in ("auto-f32", "mix-a-int8", "mix-b-f32", "motif-int8", "empty-f32"):
        res = exports[key]
        obj = tmp_path / f"{key}.o"
        subprocess.run([arm_cc, "-mcpu=cortex-m4", "-mthumb", "-std=c99", "-O2", "-c",
                        str(res.out_dir / "model_data.c"), "-o", str(obj)], check=True)
        sizes = {}
        for line in subprocess.run([nm, "-S", str(obj)], capture_output=True, text=True,
                                   check=True).stdout.splitlines():
            parts = line.split()
            if len(parts) == 4:
                sizes[parts[3]] = int(parts[1], 16)
        for lm in res.report.layers:
            arrays = [a for a in res.program.arrays if a.layer == lm.layer]
            index = sum(sizes[a.name] for a in arrays if a.role.startswith("idx_"))
            values = sum(sizes[a.name] for a in arrays if a.role == "weights")
            assert (index, values) == (lm.weight_index, lm.weight_values), (key, lm.layer)


# ------------------------------------------------------------------------- builds and parity

@pytest.mark.parametrize("key", ["auto-f32", "auto-int8", "mix-a-f32", "mix-a-int8", "mix-b-f32",
                                 "mix-b-int8", "motif-f32", "motif-int8", "empty-f32", "empty-int8",
                                 "fast-f32", "fast-int8", "empty-csc-f32", "empty-csc-int8",
                                 "empty-grouped-f32", "empty-grouped-int8"])
def test_host_parity_fast_and_ref(key: str, exports, host_cc: str, tmp_path: Path) -> None:
    res = exports[key]
    check_outputs(res, run(res, "host", tmp_path).outputs)
    check_outputs(res, run(res, "host", tmp_path, ref=True).outputs)


@pytest.mark.parametrize("key", ["mix-a-int8", "mix-b-f32", "motif-f32", "empty-int8", "fast-f32",
                                 "fast-int8"])
def test_host_parity_under_sanitizers(key: str, exports, host_cc: str, tmp_path: Path) -> None:
    res = exports[key]
    check_outputs(res, run(res, "host", tmp_path, sanitize=True).outputs)


@pytest.mark.parametrize("key", ["mix-a-f32", "mix-b-int8", "motif-int8", "motif-f32", "fast-f32",
                                 "fast-int8", "empty-csc-f32", "empty-grouped-f32", "empty-grouped-int8"])
def test_qemu_stm32f405_parity(key: str, exports, arm_cc: str, qemu: str, tmp_path: Path) -> None:
    res = exports[key]
    result = run(res, "stm32f405", tmp_path)
    check_outputs(res, result.outputs)
    assert result.instructions_per_inference is not None


def test_qemu_stm32f405_reference_kernels(exports, arm_cc: str, qemu: str, tmp_path: Path) -> None:
    res = exports["mix-a-int8"]
    check_outputs(res, run(res, "stm32f405", tmp_path, ref=True).outputs)


@pytest.mark.parametrize("target", ["stm32f205", "stm32f405"])
def test_generated_sparse_code_compiles_warning_free(target: str, exports, arm_cc: str, tmp_path: Path) -> None:
    # build_firmware compiles with -std=c99 -Wall -Wextra -Werror -pedantic: any warning fails.
    for key in ("mix-a-f32", "mix-b-int8", "motif-f32", "motif-int8", "empty-f32", "fast-f32", "fast-int8"):
        for ref in (False, True):
            fw = build_firmware(target, exports[key].out_dir, tmp_path / f"{key}-{ref}",
                                defines={"ET_FORCE_REF": 1} if ref else None)
            assert fw.sizes.text > 0

"""`export tflite --compression lut`: TFLite Micro's LUT compression of a clustered model's int8
weights (`edgetrain.interop.tflite.lut`), written with TFLM's own compression tool and run in TFLM's
own interpreter (which has the DECODE operator compiled in).

Contracts:
* a clustered (k = 16 / k = 4) digits MLP compresses every clustered FULLY_CONNECTED weight with
  4-bit / 2-bit indices; the file is smaller, keeps edgetrain's metadata, and its value tables and
  packed indices decode (numpy) to exactly the uncompressed int8 weights;
* TFLM runs the compressed file and gives the uncompressed file's outputs bit for bit on the
  digits test split (and edgetrain's numpy int8 reference); a corrupted value table changes them, so
  the interpreter really decodes the LUT;
* refused, nothing written: no clustered layer, a codebook beyond 16 entries (ExportError), float32
  (ConfigError); the CLI exits 2 with one error line.
The tflite-micro package is a test dependency: without it these tests skip outside CI and fail in CI.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

import edgetrain as et
from edgetrain.errors import ConfigError, ExportError
from edgetrain.interop.tflite import build_tflite, export_tflite
from edgetrain.interop.tflite.lut import decode_lut, lut_available
from edgetrain.interop.tflite.reader import read_tflite
from edgetrain.interop.tflite.verify import run_tflite_micro, tflite_micro_available
from edgetrain.quantize.reference import int8_reference
from edgetrain.techniques.cqkd import cluster_weights

from helpers import assert_user_error, run_cli


@pytest.fixture(scope="module")
def tflm() -> None:
    for available in (lut_available, tflite_micro_available):
        ok, why = available()
        if not ok:
            if os.environ.get("CI"):
                pytest.fail(f"CI must run the TFLite Micro LUT checks: {why}")
            pytest.skip(why)


@pytest.fixture(scope="module")
def data() -> et.Dataset:
    return et.load_data("digits")


@pytest.fixture(scope="module")
def trained(data: et.Dataset) -> et.Graph:
    """The 64-32-10 digits MLP, 3 epochs, unclustered."""
    g = et.Sequential([et.Dense(32, "relu"), et.Dense(10)], input_shape=data.n_features, seed=0, name="lut_mlp")
    et.fit(g, data, epochs=3, optimizer="adam", lr=3e-3, seed=0)
    g.meta["preprocess"] = data.preprocess()
    return g


def clustered(g: et.Graph, k: int) -> et.Graph:
    c = g.copy()
    cluster_weights(c, clusters=k, seed=0)
    return c


@pytest.fixture(scope="module")
def models(trained: et.Graph) -> dict[int, et.Graph]:
    return {k: clustered(trained, k) for k in (16, 4)}


@pytest.mark.parametrize("k,bits", [(16, 4), (4, 2)])
def test_lut_file_is_smaller_and_decodes_to_the_int8_weights(k, bits, models, data, tflm) -> None:  # noqa: ANN001
    plain = build_tflite(models[k], "int8", calib_x=data.train.x)
    lut = build_tflite(models[k], "int8", calib_x=data.train.x, compression="lut")
    assert lut.compression == "lut" and len(lut.data) < len(plain.data)
    assert [(t.name, t.bits, t.values) for t in lut.lut] == [("dense1/weights", bits, k), ("dense2/weights", bits, k)]
    assert all(t.lut_bytes < t.dense_bytes for t in lut.lut)
    assert lut.operators == ("TFLM_DECODE", "FULLY_CONNECTED") * 2
    dense = {t.name: t for t in read_tflite(plain.data).tensors}
    decoded = decode_lut(lut.data)
    assert sorted(decoded) == ["dense1/weights", "dense2/weights"]
    for name, w in decoded.items():
        assert w.dtype == np.int8
        np.testing.assert_array_equal(w, dense[name].const_data)
    assert read_tflite(lut.data).metadata["edgetrain"] == read_tflite(plain.data).metadata["edgetrain"]


def test_tflite_micro_runs_the_lut_model_bit_for_bit(models, data, tflm) -> None:  # noqa: ANN001
    g = models[16]
    plain = build_tflite(g, "int8", calib_x=data.train.x)
    lut = build_tflite(g, "int8", calib_x=data.train.x, compression="lut")
    x = plain.prepare_input(data.test.x)
    want = run_tflite_micro(plain.data, x)
    got = run_tflite_micro(lut.data, x)
    assert len(np.unique(want)) > 8
    np.testing.assert_array_equal(got, want)
    ref = int8_reference(lut.qmodel, data.test.x)
    np.testing.assert_array_equal(got.reshape(ref.shape), ref)
    # a reversed value table in the file changes the outputs: TFLM decodes the LUT, it does not skip it
    model = read_tflite(lut.data)
    dec = next(op for op in model.operators if op.custom == "TFLM_DECODE")
    anc = model.tensors[dec.inputs[1]].const_data.tobytes()
    assert lut.data.count(anc) == 1
    table = anc[16:]
    broken = lut.data.replace(anc, anc[:16] + table[::-1])
    assert not np.array_equal(run_tflite_micro(broken, x), want)


def test_lut_refuses_what_it_cannot_compress_and_writes_nothing(trained, models, data, tmp_path: Path,  # noqa: ANN001
                                                                 tflm) -> None:
    out = tmp_path / "m.tflite"
    with pytest.raises(ExportError, match="needs a clustered layer") as e:
        export_tflite(trained, out, "int8", calib_x=data.train.x, compression="lut")
    assert "cluster" in e.value.hint
    with pytest.raises(ExportError, match="32-entry codebook, more values than the 16"):
        export_tflite(clustered(trained, 32), out, "int8", calib_x=data.train.x, compression="lut")
    with pytest.raises(ConfigError, match="needs --dtype int8"):
        export_tflite(models[16], out, "f32", compression="lut")
    with pytest.raises(ConfigError, match="unknown compression"):
        build_tflite(models[16], "int8", calib_x=data.train.x, compression="zip")  # type: ignore[arg-type]
    assert not out.exists()


def test_cli_export_tflite_compression_lut(trained, models, tmp_path: Path, tflm) -> None:  # noqa: ANN001
    etm = et.save_model(models[16], tmp_path / "c16.etm")
    r = run_cli("export", "tflite", etm, "-o", tmp_path / "lut.tflite", "--compression", "lut", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["compression"] == "lut" and doc["bytes"] == (tmp_path / "lut.tflite").stat().st_size
    assert [t["bits"] for t in doc["lut_tensors"]] == [4, 4] and doc["operators"][0] == "TFLM_DECODE"
    chk = doc["tflite_micro_check"]
    assert chk["ran"] and chk["samples"] == 540 and chk["samples_differing"] == 0
    plain = run_cli("export", "tflite", etm, "-o", tmp_path / "plain.tflite", "--no-check", "--json")
    assert plain.returncode == 0, plain.stderr
    assert json.loads(plain.stdout)["compression"] == "none"
    assert doc["bytes"] < (tmp_path / "plain.tflite").stat().st_size
    bad = run_cli("export", "tflite", et.save_model(trained, tmp_path / "plain.etm"), "-o", tmp_path / "bad.tflite",
                  "--compression", "lut")
    assert_user_error(bad, "--compression lut", "clustered layer")
    assert len([ln for ln in bad.stderr.splitlines() if ln.startswith("error: ")]) == 1
    assert not (tmp_path / "bad.tflite").exists()

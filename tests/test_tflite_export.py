"""The .tflite export (`edgetrain.interop.tflite`), executed in TensorFlow Lite Micro's own
interpreter (the tflite-micro package: TFLM's reference kernels) and in LiteRT's reference
kernels (ai-edge-litert).

Contracts:
* int8: TFLite Micro gives exactly edgetrain's numpy int8 reference (and so the C runtime, which
  equals it bit for bit) on every sample: the digits MLP, a residual MLP, a SET-sparse MLP (dense
  in the .tflite), the digits CNN, a depthwise CNN with a global pool, a 1-D CNN, folded batch_norm,
  explicit padding (PAD), stride, dilation, depth multipliers;
* LiteRT's reference kernels agree exactly on conv, depthwise and pool layers and within 1 LSB on
  one FULLY_CONNECTED (its reference FC rounds in float; across layers an LSB can grow);
* float32: within 1e-5 of numpy in both.
The packages are test dependencies: without them these tests skip outside CI and fail in CI.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import edgetrain as et
from edgetrain.errors import ConfigError, UnsupportedOpError
from edgetrain.interop.tflite import build_tflite, export_tflite
from edgetrain.interop.tflite.verify import litert_available, run_litert, run_tflite_micro, tflite_micro_available
from edgetrain.layers import Conv2D, DepthwiseConv2D, GlobalAvgPool, MaxPool2D
from edgetrain.quantize.reference import int8_reference

from cnn_models import MODELS, randomize, samples
from codegen_models import digits, mlp_64_32_10, residual_model


def _need(available) -> None:  # noqa: ANN001
    ok, why = available()
    if not ok:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the TFLite checks: {why}")
        pytest.skip(why)


@pytest.fixture(scope="module")
def tflm() -> None:
    _need(tflite_micro_available)


@pytest.fixture(scope="module")
def litert() -> None:
    _need(litert_available)


def set_mlp() -> et.Graph:
    """A SET-sparse 64-128-10 MLP (masked dense weights)."""
    from edgetrain.techniques.sparse_set import apply_set

    g = et.Sequential([et.Dense(128, "relu"), et.Dense(10)], input_shape=64, seed=3, name="set_mlp")
    d = digits()
    et.fit(g, d, epochs=4, optimizer="adam", lr=3e-3, callbacks=[apply_set(g, eps=5, zeta=0.3, seed=0)], seed=0)
    g.meta["preprocess"] = d.preprocess()
    return g


def padded_cnn() -> et.Graph:
    """Explicit asymmetric padding (a PAD before a VALID conv), stride 2, dilation 2, a depth
    multiplier of 2, a same-padded max pool and a global pool with a fused relu."""
    g = et.Sequential([
        Conv2D(6, 3, stride=(2, 1), padding=[[0, 2], [1, 0]], activation="relu6"),
        Conv2D(8, 3, padding="same", dilation=2, activation="relu"),
        DepthwiseConv2D(3, depth_multiplier=2, stride=2, padding="same"),
        MaxPool2D(2, stride=1, padding="same"), GlobalAvgPool(), et.ReLU(), et.Dense(5)],
        input_shape=(11, 9, 3), seed=4, name="padded")
    return randomize(g, 4)


def cases() -> dict[str, tuple[et.Graph, np.ndarray]]:
    d = digits()
    out = {"mlp": (mlp_64_32_10(), d.test.x), "residual": (residual_model(), d.test.x),
           "set": (set_mlp(), d.test.x), "digits_cnn": (MODELS["digits_cnn"](), d.test.x)}
    for key in ("dw_cnn", "conv1d", "bn_cnn"):
        g = MODELS[key]()
        out[key] = (g, samples(g, 96))
    g = padded_cnn()
    out["padded"] = (g, samples(g, 64))
    return out


CASES = ["mlp", "residual", "set", "digits_cnn", "dw_cnn", "conv1d", "bn_cnn", "padded"]


@pytest.fixture(scope="module")
def models() -> dict[str, tuple[et.Graph, np.ndarray]]:
    return cases()


@pytest.mark.parametrize("key", CASES)
def test_tflite_micro_equals_the_numpy_int8_reference_on_every_sample(key: str, models, tflm) -> None:
    g, x = models[key]
    res = build_tflite(g, "int8", calib_x=x[:128])
    expected = int8_reference(res.qmodel, x)
    got = run_tflite_micro(res.data, res.prepare_input(x))
    assert len(np.unique(expected)) > 8
    np.testing.assert_array_equal(got.reshape(expected.shape), expected)


@pytest.mark.parametrize("key", CASES)
def test_float32_tflite_agrees_with_numpy(key: str, models, tflm, litert) -> None:
    g, x = models[key]
    res = build_tflite(g, "f32")
    expected = et.predict(g, x[:64])
    for run in (run_tflite_micro, run_litert):
        got = run(res.data, res.prepare_input(x[:64])).reshape(expected.shape)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("key", ["dw_cnn", "conv1d", "bn_cnn", "padded"])
def test_litert_equals_int8_on_conv_and_pool_models(key: str, models, litert) -> None:
    # each of these has exactly one FULLY_CONNECTED, last: compare the tensor before it exactly
    g, x = models[key]
    head = g.outputs[0]
    body = g.copy()
    last = body.node(head)
    body.outputs = [last.inputs[0]]
    body.nodes.remove(last)
    for role in list(last.params.values()):
        del body.params[role]
    res = build_tflite(body, "int8", calib_x=x[:64])
    got = run_litert(res.data, res.prepare_input(x))
    np.testing.assert_array_equal(got.reshape(len(x), -1), int8_reference(res.qmodel, x).reshape(len(x), -1))


def test_litert_fully_connected_is_within_one_lsb(models, litert) -> None:
    g = et.Sequential([et.Dense(10)], input_shape=64, seed=0, name="fc")
    x = digits().test.x
    res = build_tflite(g, "int8", calib_x=x[:128])
    got = run_litert(res.data, res.prepare_input(x)).astype(np.int32)
    diff = np.abs(got - int8_reference(res.qmodel, x).astype(np.int32))
    assert diff.max() <= 1


def test_file_structure(models, tmp_path: Path) -> None:
    import tflite

    g, x = models["digits_cnn"]
    res = export_tflite(g, tmp_path / "m.tflite", "int8", calib_x=x[:64])
    data = (tmp_path / "m.tflite").read_bytes()
    assert data == res.data and data[4:8] == b"TFL3"
    m = tflite.Model.GetRootAsModel(data, 0)
    assert m.Version() == 3 and m.Buffers(0).DataLength() == 0
    for i in range(m.OperatorCodesLength()):
        oc = m.OperatorCodes(i)
        assert oc.DeprecatedBuiltinCode() == min(oc.BuiltinCode(), 127)
    sg = m.Subgraphs(0)
    t_in, t_out = sg.Tensors(sg.Inputs(0)), sg.Tensors(sg.Outputs(0))
    assert t_in.Type() == tflite.TensorType.INT8 and t_out.Type() == tflite.TensorType.INT8
    assert t_in.Quantization().Scale(0) == np.float32(res.qmodel.input.scale)
    assert t_in.Quantization().ZeroPoint(0) == res.qmodel.input.zero_point
    # per-channel conv weights: one scale per output channel on dimension 0, values equal ours
    conv = next(sg.Tensors(j) for j in range(sg.TensorsLength()) if sg.Tensors(j).Name() == b"conv2d1/weights")
    q = res.qmodel.steps[[s.name for s in res.qmodel.steps].index("conv2d1")]
    assert conv.Quantization().ScaleLength() == 16 and conv.Quantization().QuantizedDimension() == 0
    raw = m.Buffers(conv.Buffer()).DataAsNumpy().view(np.int8).reshape(16, 3, 3, 1)
    np.testing.assert_array_equal(raw, q.weights.transpose(3, 0, 1, 2))
    # every constant's data starts on a 16-byte boundary of the file (TFLite Micro reads it in place)
    base = np.frombuffer(data, np.uint8).ctypes.data
    for i in range(1, m.BuffersLength()):
        if m.Buffers(i).DataLength():
            assert (m.Buffers(i).DataAsNumpy().ctypes.data - base) % 16 == 0, i
    meta = {m.Metadata(i).Name(): m.Metadata(i).Buffer() for i in range(m.MetadataLength())}
    doc = json.loads(m.Buffers(meta[b"edgetrain"]).DataAsNumpy().tobytes())
    assert doc["dtype"] == "int8" and len(doc["preprocess"]["mean"]) == 64 and doc["input"] == "standardised"


def test_refusals_name_the_layer(tmp_path: Path) -> None:
    grouped = et.Sequential([Conv2D(4, 3, groups=2), GlobalAvgPool(), et.Dense(2)], input_shape=(6, 6, 4),
                            name="grouped")
    with pytest.raises(UnsupportedOpError, match="conv2d 'conv2d1'.*grouped"):
        build_tflite(grouped, "f32")
    sig = et.Sequential([et.Dense(4), et.Sigmoid(), et.Dense(2)], input_shape=3, name="sig")
    with pytest.raises(UnsupportedOpError, match="int8 sigmoid"):
        build_tflite(sig, "int8", calib_x=np.ones((4, 3), np.float32))
    assert build_tflite(sig, "f32").operators == ("FULLY_CONNECTED", "LOGISTIC", "FULLY_CONNECTED")
    with pytest.raises(ConfigError, match="calibration"):
        build_tflite(sig, "int8")


def test_never_overwrites_a_file_it_did_not_write(tmp_path: Path) -> None:
    g = mlp_64_32_10()
    x = digits().train.x[:32]
    foreign = tmp_path / "notes.tflite"
    foreign.write_text("mine")
    with pytest.raises(ConfigError, match="not a .tflite file edgetrain wrote"):
        export_tflite(g, foreign, "int8", calib_x=x)
    assert foreign.read_text() == "mine"
    ours = tmp_path / "m.tflite"
    export_tflite(g, ours, "int8", calib_x=x)
    export_tflite(g, ours, "f32")  # replacing its own earlier output is fine
    assert ours.read_bytes() == build_tflite(g, "f32").data


def test_cli_export_tflite_checks_in_tflite_micro(tmp_path: Path, tflm) -> None:
    model = et.save_model(MODELS["digits_cnn"](), tmp_path / "cnn.etm")
    r = subprocess.run([sys.executable, "-m", "edgetrain", "export", "tflite", str(model), "-o",
                        str(tmp_path / "cnn.tflite"), "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["operators"][:2] == ["RESHAPE", "CONV_2D"] and doc["dtype"] == "int8"
    chk = doc["tflite_micro_check"]
    assert chk["ran"] and chk["samples"] == 540 and chk["samples_differing"] == 0
    bad = subprocess.run([sys.executable, "-m", "edgetrain", "export", "tflite", str(model), "-o",
                          str(model)], capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


@pytest.mark.parametrize("key", ["mlp", "residual", "set", "digits_cnn"])
def test_tflite_micro_equals_the_c_runtime_on_host_and_qemu(key: str, models, tflm, host_cc: str, arm_cc: str,
                                                            qemu: str, tmp_path: Path) -> None:
    """The same integer model three ways, every sample of the digits test split: TensorFlow Lite
    Micro on the .tflite, the C export on host gcc and on QEMU stm32f405."""
    from edgetrain.device import build_firmware, run_firmware
    from edgetrain.export.c import export_c

    g, x = models[key]
    res = build_tflite(g, "int8", calib_x=x[:128])
    xq = res.prepare_input(x)
    expected = run_tflite_micro(res.data, xq)
    c = export_c(g, "stm32f405", tmp_path / "c", dtype="int8", qmodel=res.qmodel)
    for target in ("host", "stm32f405"):
        fw = build_firmware(target, c.out_dir, tmp_path / target, parity=True)
        got = run_firmware(fw, xq, np.int8, timeout=600).outputs.astype(np.int8)
        np.testing.assert_array_equal(got.reshape(expected.shape), expected, err_msg=target)


def test_the_file_alone_tells_how_to_feed_raw_samples(models, tflm) -> None:
    """A runtime that knows only the .tflite: its metadata's statistics and `prepare` rule plus the
    input tensor's quantization turn raw samples into exactly the int8 inputs edgetrain feeds, and
    TFLite Micro then gives edgetrain's int8 outputs and accuracy."""
    import json as _json

    from edgetrain.data_split import apply_preprocess
    from edgetrain.interop.tflite.reader import read_tflite

    g, x = models["mlp"]
    d = digits()
    res = build_tflite(g, "int8", calib_x=x[:128])
    model = read_tflite(res.data)
    doc = _json.loads(model.metadata["edgetrain"])
    assert "round_half_to_even" in doc["prepare"]
    mean, std = (np.asarray(doc["preprocess"][k], np.float32) for k in ("mean", "std"))
    raw = (x * std + mean).astype(np.float32)  # the test split as the sensor gave it
    t = model.tensors[model.inputs[0]]
    standardised = (raw - mean) / std
    q = np.clip(np.rint(standardised.astype(np.float64) / float(t.scale[0])) + int(t.zero_point[0]), -128, 127)
    fed = q.astype(np.int8)
    ours = res.prepare_input(apply_preprocess(raw, g.meta["preprocess"]))
    np.testing.assert_array_equal(fed, ours.reshape(fed.shape))
    got = run_tflite_micro(res.data, fed).reshape(len(x), -1)
    expected = int8_reference(res.qmodel, apply_preprocess(raw, g.meta["preprocess"]))
    np.testing.assert_array_equal(got, expected)
    assert (got.argmax(1) == d.test.y).mean() == (expected.argmax(1) == d.test.y).mean() > 0.9

"""`import_tflite` / `edgetrain import tflite`: the round trip Graph -> .tflite -> Graph keeps every
integer weight, bias and quantization parameter (int8) and every float weight (float32); a model
as TensorFlow's converter writes it (full-integer: int8 I/O, per-channel weights, int32 biases,
fused ReLU; scales and zero points that are not edgetrain's) imports and runs in the C runtime
with TensorFlow Lite Micro's outputs bit for bit; broken files get one clear error.

TensorFlow itself is not installed here: `converter_like` builds that file with edgetrain's
flatbuffer writer, with the structure and quantization layout the converter produces.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tflite.ActivationFunctionType import ActivationFunctionType
from tflite.BuiltinOperator import BuiltinOperator as Op
from tflite.BuiltinOptions import BuiltinOptions

import edgetrain as et
from edgetrain.device import build_firmware, run_firmware
from edgetrain.errors import ModelFileError, UnsupportedOpError
from edgetrain.export.c import export_c
from edgetrain.interop.tflite import build_tflite, import_tflite
from edgetrain.interop.tflite.flatbuffer import ModelSpec, Operator, Quantization, Tensor, serialize
from edgetrain.interop.tflite.verify import run_tflite_micro, tflite_micro_available
from edgetrain.quantize import QPool, from_graph
from edgetrain.quantize.model import QWeighted
from edgetrain.quantize.reference import int8_reference, run_int8

from codegen_models import digits, mlp_64_32_10
from test_tflite_export import CASES, cases


@pytest.fixture(scope="module")
def tflm() -> None:
    ok, why = tflite_micro_available()
    if not ok:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the TFLite checks: {why}")
        pytest.skip(why)


@pytest.fixture(scope="module")
def models():
    return cases()


def integer_model(qm):  # noqa: ANN001, ANN201
    """Everything the int8 kernels compute with, step by step (names aside)."""
    out = []
    for q in qm.steps:
        if isinstance(q, QWeighted):
            out.append((type(q).__name__, q.weights.tobytes(), None if q.bias is None else q.bias.tobytes(),
                        q.multipliers.tolist(), q.shifts.tolist(), q.input_zero_point, q.output_zero_point,
                        q.act_min, q.act_max))
        elif isinstance(q, QPool):
            out.append(("QPool", q.kind, q.act_min, q.act_max, q.input_zero_point, q.output_zero_point,
                        q.multiplier, q.shift))
    return out


@pytest.mark.parametrize("key", CASES)
def test_int8_round_trip_keeps_the_integer_model(key: str, models) -> None:
    g, x = models[key]
    res = build_tflite(g, "int8", calib_x=x[:128])
    back = import_tflite(res.data)
    qm = from_graph(back)
    assert integer_model(qm) == integer_model(res.qmodel)
    assert (qm.input.scale, qm.input.zero_point) == (res.qmodel.input.scale, res.qmodel.input.zero_point)
    np.testing.assert_array_equal(int8_reference(qm, x), int8_reference(res.qmodel, x))
    assert back.meta["preprocess"]["mean"] == g.meta["preprocess"]["mean"] if "preprocess" in g.meta else True


def test_float_round_trip_of_the_float_only_operators() -> None:
    """LOGISTIC, TANH, LEAKY_RELU (its alpha), HARD_SWISH and SOFTMAX come back as themselves."""
    g = et.Sequential([et.Dense(8), et.Sigmoid(), et.Dense(8), et.Tanh(), et.Dense(8), et.LeakyReLU(0.2),
                       et.Dense(8), et.HardSwish(), et.Dense(4), et.Softmax()], input_shape=6, seed=3, name="acts")
    back = import_tflite(build_tflite(g, "f32").data)
    assert [n.op for n in back.nodes] == [n.op for n in g.nodes]
    assert next(n for n in back.nodes if n.op == "leaky_relu").attrs["alpha"] == pytest.approx(0.2)
    x = np.random.default_rng(0).normal(size=(16, 6)).astype(np.float32)
    np.testing.assert_allclose(et.predict(back, x), et.predict(g, x), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("key", CASES)
def test_float_round_trip_keeps_the_weights(key: str, models) -> None:
    g, x = models[key]
    back = import_tflite(build_tflite(g, "f32").data)
    np.testing.assert_allclose(et.predict(back, x), et.predict(g, x), rtol=1e-5, atol=1e-5)
    ours = sorted(p.effective().astype(np.float32).tobytes() for p in g.params.values() if p.name.endswith(".weight"))
    theirs = sorted(p.value.tobytes() for p in back.params.values() if p.name.endswith(".weight"))
    if not any(n.op == "batch_norm" for n in g.nodes):  # folded weights differ by construction
        assert ours == theirs  # the same float32 values in the same order (conv1d as height 1)


def converter_like(seed: int = 0) -> bytes:
    """A full-integer model the way TensorFlow's converter writes it: int8 input and output,
    CONV_2D (SAME, fused RELU, per-channel int8 filter OHWI, int32 bias), MAX_POOL_2D, RESHAPE,
    two FULLY_CONNECTED with per-channel weights and int32 biases (the first with a fused RELU),
    zero points and scales of its own."""
    rng = np.random.default_rng(seed)
    s = ModelSpec("converter_like", description="MLIR Converted.")

    def act(name: str, shape, scale: float, zp: int) -> int:  # noqa: ANN001
        return s.add_tensor(Tensor(name, tuple(shape), np.dtype(np.int8), None,
                                   Quantization(np.array([scale], np.float32), np.array([zp], np.int64))))

    def weights(name: str, shape, axis: int) -> tuple[int, np.ndarray]:  # noqa: ANN001
        n = shape[axis]
        scales = rng.uniform(0.002, 0.02, n).astype(np.float32)
        q = rng.integers(-127, 128, shape).astype(np.int8)
        return s.constant(name, q, Quantization(scales, np.zeros(n, np.int64), axis)), scales

    def bias(name: str, in_scale: float, w_scales: np.ndarray) -> int:
        b = rng.integers(-4000, 4000, w_scales.size).astype(np.int32)
        sc = (np.float64(in_scale) * w_scales.astype(np.float64)).astype(np.float32)
        return s.constant(name, b, Quantization(sc, np.zeros(sc.size, np.int64), 0))

    x = act("serving_default_input:0", (1, 8, 8, 1), 0.05, -3)
    w1, s1 = weights("sequential/conv2d/Conv2D", (4, 3, 3, 1), 0)
    b1 = bias("sequential/conv2d/BiasAdd/ReadVariableOp", 0.05, s1)
    c1 = act("sequential/conv2d/Relu", (1, 8, 8, 4), 0.03, -128)

    def conv_opts(b):  # noqa: ANN001, ANN202
        import tflite
        tflite.Conv2DOptionsStart(b)
        tflite.Conv2DOptionsAddPadding(b, 0)  # SAME
        tflite.Conv2DOptionsAddStrideW(b, 1)
        tflite.Conv2DOptionsAddStrideH(b, 1)
        tflite.Conv2DOptionsAddFusedActivationFunction(b, ActivationFunctionType.RELU)
        tflite.Conv2DOptionsAddDilationWFactor(b, 1)
        tflite.Conv2DOptionsAddDilationHFactor(b, 1)
        return tflite.Conv2DOptionsEnd(b)
    s.add_operator(Operator(Op.CONV_2D, [x, w1, b1], [c1], BuiltinOptions.Conv2DOptions, conv_opts))
    p1 = act("sequential/max_pooling2d/MaxPool", (1, 4, 4, 4), 0.03, -128)

    def pool_opts(b):  # noqa: ANN001, ANN202
        import tflite
        tflite.Pool2DOptionsStart(b)
        tflite.Pool2DOptionsAddPadding(b, 1)  # VALID
        tflite.Pool2DOptionsAddStrideW(b, 2)
        tflite.Pool2DOptionsAddStrideH(b, 2)
        tflite.Pool2DOptionsAddFilterWidth(b, 2)
        tflite.Pool2DOptionsAddFilterHeight(b, 2)
        return tflite.Pool2DOptionsEnd(b)
    s.add_operator(Operator(Op.MAX_POOL_2D, [c1], [p1], BuiltinOptions.Pool2DOptions, pool_opts))
    shape = s.constant("sequential/flatten/Const", np.array([-1, 64], np.int32))
    f = act("sequential/flatten/Reshape", (1, 64), 0.03, -128)
    s.add_operator(Operator(Op.RESHAPE, [p1, shape], [f]))

    def fc_opts(fused: int):  # noqa: ANN202
        def write(b):  # noqa: ANN001, ANN202
            import tflite
            tflite.FullyConnectedOptionsStart(b)
            tflite.FullyConnectedOptionsAddFusedActivationFunction(b, fused)
            return tflite.FullyConnectedOptionsEnd(b)
        return write
    w2, s2 = weights("sequential/dense/MatMul", (16, 64), 0)
    b2 = bias("sequential/dense/BiasAdd/ReadVariableOp", 0.03, s2)
    h = act("sequential/dense/Relu", (1, 16), 0.05, -128)
    s.add_operator(Operator(Op.FULLY_CONNECTED, [f, w2, b2], [h], BuiltinOptions.FullyConnectedOptions,
                            fc_opts(ActivationFunctionType.RELU)))
    w3, s3 = weights("sequential/dense_1/MatMul", (10, 16), 0)
    b3 = bias("sequential/dense_1/BiasAdd/ReadVariableOp", 0.05, s3)
    y = act("StatefulPartitionedCall:0", (1, 10), 0.1, 5)
    s.add_operator(Operator(Op.FULLY_CONNECTED, [h, w3, b3], [y], BuiltinOptions.FullyConnectedOptions,
                            fc_opts(ActivationFunctionType.NONE)))
    s.inputs, s.outputs = [x], [y]
    return serialize(s)


def test_converter_like_model_runs_in_c_as_in_tflite_micro(tflm, host_cc: str, tmp_path: Path) -> None:
    data = converter_like()
    g = import_tflite(data, name="converted")
    assert [n.op for n in g.nodes] == ["conv2d", "relu", "max_pool", "flatten", "dense", "relu", "dense"]
    qm = from_graph(g)
    xq = np.random.default_rng(1).integers(-128, 128, (64, 8, 8, 1)).astype(np.int8)
    expected = run_tflite_micro(data, xq)
    np.testing.assert_array_equal(run_int8(qm, xq), expected)
    assert len(np.unique(expected)) > 16
    res = export_c(g, "host", tmp_path / "c", dtype="int8")  # the file's quantization, no calibration
    fw = build_firmware("host", res.out_dir, tmp_path / "b", parity=True)
    out = run_firmware(fw, xq, np.int8, timeout=120).outputs.astype(np.int8)
    np.testing.assert_array_equal(out, expected)


def test_converter_like_model_on_qemu(tflm, arm_cc: str, qemu: str, tmp_path: Path) -> None:
    data = converter_like(seed=2)
    g = import_tflite(data)
    xq = np.random.default_rng(3).integers(-128, 128, (16, 8, 8, 1)).astype(np.int8)
    res = export_c(g, "stm32f405", tmp_path / "c", dtype="int8")
    fw = build_firmware("stm32f405", res.out_dir, tmp_path / "b", parity=True)
    out = run_firmware(fw, xq, np.int8, timeout=300).outputs.astype(np.int8)
    np.testing.assert_array_equal(out, run_tflite_micro(data, xq))


# ---------------------------------------------------------------- broken and unsupported files

def _ok_file() -> bytes:
    return build_tflite(et.Sequential([et.Dense(4, "relu"), et.Dense(3)], input_shape=5, seed=0), "f32").data


def test_truncated_random_and_foreign_bytes_are_one_line_errors(tmp_path: Path) -> None:
    good = _ok_file()
    rng = np.random.default_rng(0)
    bad = {"empty": b"", "truncated": good[: len(good) // 3], "random": rng.bytes(4096),
           "wrong identifier": good[:4] + b"ONNX" + good[8:], "random tail": good[:64] + rng.bytes(2048)}
    for what, data in bad.items():
        with pytest.raises(ModelFileError) as err:
            import_tflite(data)
        assert "\n" not in str(err.value) and err.value.hint, what


def test_index_and_shape_corruption_is_caught() -> None:
    s = ModelSpec("bad")
    x = s.add_tensor(Tensor("x", (1, 3), np.dtype(np.float32)))
    w = s.constant("w", np.ones((2, 3), np.float32))
    y = s.add_tensor(Tensor("y", (1, 2), np.dtype(np.float32)))
    s.inputs, s.outputs = [x], [y]
    s.add_operator(Operator(Op.FULLY_CONNECTED, [x, w, 7], [y]))  # tensor 7 does not exist
    with pytest.raises(ModelFileError, match="refers to tensor 7 of 3"):
        import_tflite(serialize(s))
    s.operators[0].inputs = [x, w, -1]
    s.tensors[1] = Tensor("w", (2, 4), np.dtype(np.float32), np.ones((2, 3), np.float32))  # shape vs data
    with pytest.raises(ModelFileError, match="needs 32"):
        import_tflite(serialize(s))
    s.tensors[1] = Tensor("w", (2, 3), np.dtype(np.float32), buffer=99)  # a buffer index out of range
    with pytest.raises(ModelFileError, match="names buffer 99 of"):
        import_tflite(serialize(s))


def test_unsupported_operators_and_types_name_the_operator() -> None:
    s = ModelSpec("concat")
    x = s.add_tensor(Tensor("x", (1, 3), np.dtype(np.float32)))
    y = s.add_tensor(Tensor("y", (1, 6), np.dtype(np.float32)))
    s.inputs, s.outputs = [x], [y]
    s.add_operator(Operator(Op.CONCATENATION, [x, x], [y]))
    with pytest.raises(UnsupportedOpError, match=r"CONCATENATION \(operator 0\), tensor 1 'y'"):
        import_tflite(serialize(s))
    q = Quantization(np.array([0.1], np.float32), np.array([0], np.int64))
    for dtype, message in ((np.int16, "holds int16 activations"), (np.int8, None)):
        m = ModelSpec("types")
        a = m.add_tensor(Tensor("a", (1, 3), np.dtype(dtype), None, q if dtype == np.int16 else None))
        b = m.add_tensor(Tensor("b", (1, 3), np.dtype(dtype), None, q))
        m.inputs, m.outputs = [a], [b]
        m.add_operator(Operator(Op.RELU, [a], [b]))
        with pytest.raises(UnsupportedOpError, match=message or "tensor 0 'a' has no per-tensor int8 quantization"):
            import_tflite(serialize(m))


def test_cli_import_tflite(tmp_path: Path, tflm) -> None:
    f = tmp_path / "converted.tflite"
    f.write_bytes(converter_like())
    out = tmp_path / "m.etm"
    r = subprocess.run([sys.executable, "-m", "edgetrain", "import", "tflite", str(f), "-o", str(out), "--json"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["dtype"] == "int8" and doc["input"] == [8, 8, 1] and doc["layers"] == 7
    assert from_graph(et.load_model(out)).input.zero_point == -3
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"\x00" * 64)
    r = subprocess.run([sys.executable, "-m", "edgetrain", "import", "tflite", str(junk), "-o",
                        str(tmp_path / "j.etm")], capture_output=True, text=True)
    assert r.returncode == 2 and "not a TFLite model" in r.stderr and "Traceback" not in r.stderr


def test_imported_int8_model_fine_tunes_on_the_emulated_board(arm_cc: str, qemu: str, tmp_path: Path) -> None:
    """A trained int8 model as a .tflite file, imported (its quantization kept), adapts its float
    head to digits shifted by one column inside the emulated STM32F405 over an int8 body that is
    the file's own integer model; accuracy is measured after a reboot from the stored bank."""
    import importlib.util

    from edgetrain.device.finetune import finetune_on_device

    spec = importlib.util.spec_from_file_location("shift", Path(__file__).resolve().parent.parent / "examples"
                                                  / "finetune_shifted_data.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    d = digits()
    imported = import_tflite(build_tflite(mlp_64_32_10(), "int8", calib_x=d.train.x).data)

    def shifted(x: np.ndarray) -> np.ndarray:
        return ((mod.shift_columns(x * d.std + d.mean, 1) - d.mean) / d.std).astype(np.float32)

    rep = finetune_on_device(imported, "stm32f405", shifted(d.train.x), d.train.y, steps=300, batch=8,
                             trainable="last:1", body="int8", optimizer="adam", lr=0.01,
                             x_eval=shifted(d.test.x), y_eval=d.test.y)
    assert "netduinoplus2" in rep.runner and not rep.final_rolled_back
    print(f"\nimported .tflite, shifted digits: {rep.accuracy_before:.3f} -> {rep.accuracy_after:.3f}")
    assert rep.accuracy_after >= rep.accuracy_before + 0.10, (rep.accuracy_before, rep.accuracy_after)
    body = rep.program.qbody
    assert (body.input.scale, body.input.zero_point) == (from_graph(imported).input.scale,
                                                         from_graph(imported).input.zero_point)


def test_cli_info_reads_a_tflite_file(tmp_path: Path) -> None:
    f = tmp_path / "converted.tflite"
    f.write_bytes(converter_like())
    r = subprocess.run([sys.executable, "-m", "edgetrain", "info", str(f), "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    tensors = {t["name"]: t for t in doc["tflite_tensors"]}
    assert tensors["serving_default_input:0"]["zero_point"] == -3
    assert tensors["sequential/dense/MatMul"]["channels"] == 16  # per-channel weights
    r = subprocess.run([sys.executable, "-m", "edgetrain", "info", str(f)], capture_output=True, text=True)
    assert r.returncode == 0 and "conv2d1" in r.stdout and "StatefulPartitionedCall:0" in r.stdout

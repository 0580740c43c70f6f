"""An ONNX model that standardises its raw input first (`Div(Sub(x, mean), std)`: what `export
onnx` writes, and what other tools write for a normalisation inside the model) imports with those
statistics as the model's preprocessing: the round trip edgetrain -> ONNX -> edgetrain keeps them
bit for bit, a channels-first model's statistics follow its input to channels-last, and raw inputs
through edgetrain give what onnxruntime gives on the ONNX model."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

import edgetrain as et
from edgetrain.data_split import apply_preprocess
from edgetrain.interop.onnx import export_onnx
from edgetrain.interop.onnx.importer import import_onnx

from cnn_models import depthwise_cnn
from codegen_models import digits, mlp_64_32_10


def ort_run(path_or_bytes: Path | bytes, x: np.ndarray) -> np.ndarray:
    source = str(path_or_bytes) if isinstance(path_or_bytes, Path) else path_or_bytes
    sess = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def test_edgetrain_onnx_round_trip_keeps_the_standardisation(tmp_path: Path) -> None:
    d = digits()
    cnn = depthwise_cnn().copy()  # (8, 8, 1) input, per-value statistics of its own
    rng = np.random.default_rng(5)
    cnn.meta["preprocess"] = {"mean": rng.normal(0, 2, 64).astype(np.float32).tolist(),
                              "std": rng.uniform(0.5, 3, 64).astype(np.float32).tolist()}
    for g in (mlp_64_32_10(), cnn):
        export_onnx(g, tmp_path / g.name)
        back = import_onnx(tmp_path / g.name / "model.onnx")
        for key in ("mean", "std"):
            assert np.array_equal(np.float32(back.meta["preprocess"][key]), np.float32(g.meta["preprocess"][key]))
        assert [n.op for n in back.nodes if n.op in ("sub", "div")] == []
        x = d.test.x[:50]
        xs = (x * np.float32(g.meta["preprocess"]["std"]) + np.float32(g.meta["preprocess"]["mean"])).astype(np.float32)
        xs = xs.reshape(50, *g.input_shape)  # raw values
        ref = ort_run(tmp_path / g.name / "model.onnx", xs)
        got = et.predict(back, apply_preprocess(xs.reshape(50, -1), back.meta["preprocess"]).reshape(xs.shape))
        assert np.abs(got - ref).max() <= 1e-4


def test_a_channels_first_normalisation_follows_the_input_to_channels_last() -> None:
    """(N, 2, 4, 5) with per-channel mean / std shaped (1, 2, 1, 1), then a conv: the imported model
    takes (N, 4, 5, 2) and its statistics are per value in that layout."""
    rng = np.random.default_rng(0)
    mean = np.asarray([0.5, -1.0], np.float32).reshape(1, 2, 1, 1)
    std = np.asarray([2.0, 0.25], np.float32).reshape(1, 2, 1, 1)
    nodes = [helper.make_node("Sub", ["x", "mean"], ["c"], name="centre"),
             helper.make_node("Div", ["c", "std"], ["s"], name="scale"),
             helper.make_node("Conv", ["s", "w", "b"], ["y0"], name="conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["y0"], ["y1"], name="relu"),
             helper.make_node("Flatten", ["y1"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "dw", "db"], ["y"], name="dense", transB=1)]
    inits = [numpy_helper.from_array(mean, "mean"), numpy_helper.from_array(std, "std"),
             numpy_helper.from_array(rng.standard_normal((3, 2, 3, 3)).astype(np.float32) * 0.3, "w"),
             numpy_helper.from_array(rng.standard_normal(3).astype(np.float32) * 0.3, "b"),
             numpy_helper.from_array(rng.standard_normal((4, 60)).astype(np.float32) * 0.3, "dw"),
             numpy_helper.from_array(rng.standard_normal(4).astype(np.float32) * 0.3, "db")]
    graph = helper.make_graph(nodes, "normalised", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 4, 5])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    g = import_onnx(model)
    assert g.input_shape == (4, 5, 2)
    assert np.float32(g.meta["preprocess"]["mean"]).reshape(4, 5, 2)[..., 1].tolist() == [[-1.0] * 5] * 4
    assert np.float32(g.meta["preprocess"]["std"]).reshape(4, 5, 2)[..., 0].tolist() == [[2.0] * 5] * 4
    x = (rng.standard_normal((7, 2, 4, 5)) * 3).astype(np.float32)
    ref = ort_run(model.SerializeToString(), x)
    x_last = np.ascontiguousarray(np.moveaxis(x, 1, -1)).reshape(7, -1)
    got = et.predict(g, apply_preprocess(x_last, g.meta["preprocess"]).reshape(7, 4, 5, 2))
    assert np.abs(got - ref).max() <= 1e-4


def test_other_fronts_are_not_standardisation() -> None:
    """A Sub whose constant is not a sample's shape, or a Sub not followed by a Div, stays a node (and
    is refused as an unsupported op, as before) rather than being taken for a standardisation."""
    import pytest

    from edgetrain.errors import UnsupportedOpError

    def model(mean_shape: tuple[int, ...], second: str) -> object:
        nodes = [helper.make_node("Sub", ["x", "m"], ["c"], name="centre"),
                 helper.make_node(second, ["c", "s"], ["y0"], name="scale"),
                 helper.make_node("Gemm", ["y0", "w", "b"], ["y"], name="dense", transB=1)]
        inits = [numpy_helper.from_array(np.ones(mean_shape, np.float32), "m"),
                 numpy_helper.from_array(np.full((6,), 2.0, np.float32), "s"),
                 numpy_helper.from_array(np.ones((3, 6), np.float32), "w"),
                 numpy_helper.from_array(np.zeros(3, np.float32), "b")]
        graph = helper.make_graph(nodes, "m", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 6])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])], inits)
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        m.ir_version = 8
        return m

    assert "preprocess" in import_onnx(model((6,), "Div")).meta
    for bad in (model((2, 6), "Div"), model((6,), "Mul")):
        with pytest.raises(UnsupportedOpError, match="Sub"):
            import_onnx(bad)

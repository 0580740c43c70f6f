"""ONNX import: round trips, models in other exporters' style, and bad files."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import edgetrain as et
from edgetrain.interop.onnx import build_inference_model
from edgetrain.interop.onnx.importer import import_onnx

from helpers import assert_user_error, digits, run_cli  # noqa: F401  (digits: fixture)


def ort_run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def test_round_trip_through_files_gives_identical_predictions(tmp_path, digits):
    model = et.Sequential([et.Dense(32, "relu"), et.Residual([et.Dense(32, use_bias=False), et.ReLU6(), et.Dense(32)]),
                           et.Dense(10), et.Softmax()], input_shape=64, seed=4)
    et.fit(model, et.Split(digits.train.x[:300], digits.train.y[:300]), epochs=2)
    et.save_model(model, tmp_path / "m.etm")
    assert run_cli("export", "onnx", tmp_path / "m.etm", "-o", tmp_path / "x").returncode == 0
    r = run_cli("import", "onnx", tmp_path / "x" / "model.onnx", "-o", tmp_path / "back.etm")
    assert r.returncode == 0, r.stderr
    back = et.load_model(tmp_path / "back.etm")
    assert [(n.name, n.op, n.params) for n in back.nodes] == [(n.name, n.op, n.params) for n in model.nodes]
    assert np.array_equal(et.predict(back, digits.test.x), et.predict(model, digits.test.x))


def pytorch_style_mlp(seed=0) -> onnx.ModelProto:
    """What torch.onnx.export writes for Flatten -> Linear -> ReLU -> Linear on (N, 1, 8, 8) images."""
    rng = np.random.default_rng(seed)
    w1 = (rng.standard_normal((32, 64)) * 0.1).astype(np.float32)  # torch Linear stores (out, in)
    w2 = (rng.standard_normal((10, 32)) * 0.1).astype(np.float32)
    inits = [numpy_helper.from_array(w1, "fc1.weight"), numpy_helper.from_array(np.zeros(32, np.float32), "fc1.bias"),
             numpy_helper.from_array(w2, "fc2.weight"), numpy_helper.from_array(np.zeros(10, np.float32), "fc2.bias")]
    nodes = [
        helper.make_node("Flatten", ["input.1"], ["/flatten/Flatten_output_0"], name="/flatten/Flatten", axis=1),
        helper.make_node("Gemm", ["/flatten/Flatten_output_0", "fc1.weight", "fc1.bias"], ["/fc1/Gemm_output_0"],
                         name="/fc1/Gemm", alpha=1.0, beta=1.0, transB=1),
        helper.make_node("Relu", ["/fc1/Gemm_output_0"], ["/relu/Relu_output_0"], name="/relu/Relu"),
        helper.make_node("Gemm", ["/relu/Relu_output_0", "fc2.weight", "fc2.bias"], ["logits"], name="/fc2/Gemm",
                         alpha=1.0, beta=1.0, transB=1),
    ]
    graph = helper.make_graph(nodes, "main_graph",
                              [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, ["batch_size", 1, 8, 8])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch_size", 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="pytorch")
    model.ir_version = 8
    return model


def test_pytorch_style_model_imports_and_fine_tunes(digits):
    onnx_model = pytorch_style_mlp()
    graph = import_onnx(onnx_model)
    assert graph.input_shape == (1, 8, 8)
    assert [n.op for n in graph.nodes] == ["flatten", "dense", "relu", "dense"]
    assert [n.name for n in graph.nodes][1:] == ["fc1", "relu_Relu", "fc2"]
    assert graph.params["fc1.weight"].shape == (64, 32)
    x = digits.test.x.reshape(-1, 1, 8, 8)
    assert np.abs(et.predict(graph, x) - ort_run(onnx_model, x)).max() <= 1e-5
    before = float((et.predict(graph, x).argmax(1) == digits.test.y).mean())
    train = et.Split(digits.train.x[:400].reshape(-1, 1, 8, 8), digits.train.y[:400])
    history = et.fit(graph, train, epochs=6, optimizer="adam", lr=3e-3)
    after = float((et.predict(graph, x).argmax(1) == digits.test.y).mean())
    assert history.epochs[-1]["loss"] < history.epochs[0]["loss"]
    assert after > max(0.8, before + 0.3)
    # and it exports again as an ordinary edgetrain model
    assert np.abs(ort_run(build_inference_model(graph), x) - et.predict(graph, x)).max() <= 1e-5


def other_exporter_style() -> onnx.ModelProto:
    """Opset 10: MatMul + Add, Clip with attributes, Reshape-to-flat through a Constant, Identity,
    a residual Add, Softmax, and initializers also listed as graph inputs."""
    rng = np.random.default_rng(1)
    w1 = rng.standard_normal((16, 8)).astype(np.float32) * 0.3
    w2 = rng.standard_normal((8, 8)).astype(np.float32) * 0.3
    w3 = rng.standard_normal((8, 3)).astype(np.float32) * 0.3
    inits = [numpy_helper.from_array(w1, "W1"), numpy_helper.from_array(np.full(8, 0.1, np.float32), "B1"),
             numpy_helper.from_array(w2, "W2"), numpy_helper.from_array(w3, "W3"),
             numpy_helper.from_array(np.float32(0.5) * np.ones((1, 3), np.float32), "B3")]
    nodes = [
        helper.make_node("Constant", [], ["shape"], value=numpy_helper.from_array(np.array([0, -1], np.int64))),
        helper.make_node("Reshape", ["x", "shape"], ["flat"], name="reshape"),
        helper.make_node("MatMul", ["flat", "W1"], ["mm1"], name="mm1"),
        helper.make_node("Add", ["mm1", "B1"], ["h1"], name="bias1"),
        helper.make_node("Clip", ["h1"], ["a1"], name="clip", min=0.0, max=6.0),
        helper.make_node("MatMul", ["a1", "W2"], ["mm2"], name="mm2"),
        helper.make_node("Relu", ["mm2"], ["a2"], name="relu"),
        helper.make_node("Add", ["a1", "a2"], ["res"], name="residual"),
        helper.make_node("Identity", ["res"], ["res_id"], name="id"),
        helper.make_node("MatMul", ["res_id", "W3"], ["mm3"], name="mm3"),
        helper.make_node("Add", ["B3", "mm3"], ["logits"], name="bias3"),
        helper.make_node("Softmax", ["logits"], ["probs"], name="softmax", axis=1),
    ]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4, 4])]
    inputs += [helper.make_tensor_value_info(t.name, TensorProto.FLOAT, list(t.dims)) for t in inits]
    graph = helper.make_graph(nodes, "keras_like", inputs, [helper.make_tensor_value_info("probs", TensorProto.FLOAT,
                                                                                          ["N", 3])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 10)])
    model.ir_version = 5
    return model


def test_matmul_add_clip_reshape_constant_identity_softmax():
    onnx_model = other_exporter_style()
    graph = import_onnx(onnx_model)
    assert [n.op for n in graph.nodes] == ["flatten", "dense", "relu6", "dense", "relu", "add", "identity", "dense",
                                           "softmax"]
    assert "bias" in graph.node("mm1").params and "bias" in graph.node("mm3").params
    assert "bias" not in graph.node("mm2").params
    x = np.random.default_rng(2).standard_normal((50, 4, 4)).astype(np.float32) * 3
    assert np.abs(et.predict(graph, x) - ort_run(onnx_model, x)).max() <= 1e-5


def bad_model(kind: str) -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 64])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])
    if kind == "conv_lstm":
        nodes = [helper.make_node("ConvTranspose", ["x", "w"], ["c"], name="conv1"),
                 helper.make_node("Relu", ["c"], ["r"], name="relu1"),
                 helper.make_node("LSTM", ["r", "W", "R"], ["y"], name="lstm1", hidden_size=10)]
        inits = [numpy_helper.from_array(np.zeros((4, 1, 3), np.float32), n) for n in ("w", "W", "R")]
    elif kind == "shape_mismatch":
        nodes = [helper.make_node("Gemm", ["x", "fc.weight", "fc.bias"], ["y"], name="fc", transB=1)]
        inits = [numpy_helper.from_array(np.zeros((10, 32), np.float32), "fc.weight"),
                 numpy_helper.from_array(np.zeros(10, np.float32), "fc.bias")]
    elif kind == "dynamic":
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "features"])
        nodes = [helper.make_node("Relu", ["x"], ["y"], name="r")]
        inits = []
    elif kind == "clip_range":
        nodes = [helper.make_node("Clip", ["x", "lo", "hi"], ["y"], name="clip")]
        inits = [numpy_helper.from_array(np.float32(-1), "lo"), numpy_helper.from_array(np.float32(1), "hi")]
    graph = helper.make_graph(nodes, "bad", [x], [y], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    return model


def test_unsupported_ops_are_listed_together(tmp_path):
    with pytest.raises(et.UnsupportedOpError) as e:
        import_onnx(bad_model("conv_lstm"))
    assert "ConvTranspose (node conv1)" in str(e.value) and "LSTM (node lstm1)" in str(e.value)
    onnx.save(bad_model("conv_lstm"), str(tmp_path / "cl.onnx"))
    r = run_cli("import", "onnx", tmp_path / "cl.onnx", "-o", tmp_path / "m.etm")
    assert_user_error(r, "ConvTranspose (node conv1)", "LSTM (node lstm1)")
    assert "hint: edgetrain imports" in r.stderr
    assert not (tmp_path / "m.etm").exists()


def test_initializer_shape_disagreeing_with_its_use(tmp_path):
    with pytest.raises(et.InvalidModelError, match=r"initializer 'fc.weight' of Gemm 'fc' has shape \(10, 32\)"):
        import_onnx(bad_model("shape_mismatch"))
    onnx.save(bad_model("shape_mismatch"), str(tmp_path / "s.onnx"))
    assert_user_error(run_cli("import", "onnx", tmp_path / "s.onnx", "-o", tmp_path / "m.etm"), "fc.weight",
                      "width 64")


def test_dynamic_feature_dims_and_odd_clips_are_clear_errors():
    with pytest.raises(et.InvalidModelError, match="dynamic size 'features' at axis 1"):
        import_onnx(bad_model("dynamic"))
    with pytest.raises(et.UnsupportedOpError, match=r"clips to \[-1.0, 1.0\]"):
        import_onnx(bad_model("clip_range"))


def test_truncated_and_non_onnx_files(tmp_path):
    good = build_inference_model(et.Sequential([et.Dense(8, "relu"), et.Dense(3)], input_shape=4)).SerializeToString()
    (tmp_path / "trunc.onnx").write_bytes(good[: len(good) // 2])
    (tmp_path / "notes.onnx").write_text("this is a text file, not a model\n" * 20)
    for name in ("trunc.onnx", "notes.onnx"):
        with pytest.raises(et.ModelFileError):
            import_onnx(tmp_path / name)
        r = run_cli("import", "onnx", tmp_path / name, "-o", tmp_path / "m.etm")
        assert_user_error(r, name)
    assert_user_error(run_cli("import", "onnx", tmp_path / "missing.onnx", "-o", tmp_path / "m.etm"), "does not exist")
    assert not (tmp_path / "m.etm").exists()


def _clustered_mlp(masked: bool) -> et.Graph:
    """64 -> 16 -> 10 with its first weight on a 4-entry codebook (and a mask when ``masked``)."""
    model = et.Sequential([et.Dense(16, "relu"), et.Dense(10)], input_shape=64, seed=1)
    p = next(iter(model.params.values()))
    p.codebook = np.linspace(p.value.min(), p.value.max(), 4).astype(np.float32)
    p.indices = np.abs(p.value[..., None] - p.codebook).argmin(-1)
    if masked:
        p.mask = (np.arange(p.value.size).reshape(p.value.shape) % 3 != 0).astype(np.float32)
    return model


@pytest.mark.parametrize("masked", [False, True], ids=["clustered", "clustered+masked"])
def test_compact_weight_subgraph_imports_as_the_weight_it_computes(digits, masked):
    """edgetrain's own export stores a clustered weight as codebook + uint8 indices (Cast, Gather) and
    multiplies by the mask: the importer folds that subgraph into the weight numpy computes."""
    model = _clustered_mlp(masked)
    onnx_model = build_inference_model(model)
    assert {"Cast", "Gather"} <= {n.op_type for n in onnx_model.graph.node}
    assert ("Mul" in {n.op_type for n in onnx_model.graph.node}) == masked
    back = import_onnx(onnx_model)
    x = digits.test.x[:200]
    out = {g: et.forward(g, x)[0][g.outputs[0]] for g in (back, model)}
    np.testing.assert_allclose(out[back], out[model], atol=1e-5)
    assert np.array_equal(et.predict(back, x), et.predict(model, x))
    w_in = next(iter(model.params.values()))
    assert any(np.array_equal(p.value, w_in.effective()) for p in back.params.values())


def _weight_subgraph_model(nodes: list, inits: list) -> onnx.ModelProto:
    """input(4) -> Gemm with weight 'w' computed by ``nodes`` from ``inits`` -> output(2)."""
    gemm = helper.make_node("Gemm", ["input", "w"], ["output"], name="fc")
    graph = helper.make_graph([*nodes, gemm], "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 4])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 2])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def test_weight_subgraph_refusals_are_clear():
    codebook = numpy_helper.from_array(np.array([-1.0, 0.5, 2.0], np.float32), "cb")
    idx = numpy_helper.from_array(np.array([[0, 1], [2, 0], [1, 1], [0, 2]], np.uint8), "idx")
    wide = helper.make_node("Cast", ["idx"], ["idx64"], to=TensorProto.INT64)
    ok = _weight_subgraph_model([wide, helper.make_node("Gather", ["cb", "idx64"], ["w"], axis=0)], [codebook, idx])
    assert np.array_equal(next(iter(import_onnx(ok).params.values())).value,
                          np.array([-1.0, 0.5, 2.0], np.float32)[numpy_helper.to_array(idx)])
    bad_idx = numpy_helper.from_array(np.array([[0, 1], [3, 0], [1, 1], [0, 2]], np.uint8), "idx")
    with pytest.raises(et.InvalidModelError, match="index is out of range for an axis of 3"):
        import_onnx(_weight_subgraph_model([wide, helper.make_node("Gather", ["cb", "idx64"], ["w"])],
                                           [codebook, bad_idx]))
    to_half = helper.make_node("Cast", ["idx"], ["idx64"], to=TensorProto.FLOAT16)
    with pytest.raises(et.UnsupportedOpError, match="Cast only of shapes and of a weight's indices, to INT64 or INT32"):
        import_onnx(_weight_subgraph_model([to_half, helper.make_node("Gather", ["cb", "idx64"], ["w"])],
                                           [codebook, idx]))
    w = numpy_helper.from_array(np.ones((4, 2), np.float32), "w0")
    mask = numpy_helper.from_array(np.ones((3, 2), np.float32), "m")
    with pytest.raises(et.InvalidModelError, match=r"shapes \(4, 2\) and \(3, 2\) do not broadcast"):
        import_onnx(_weight_subgraph_model([helper.make_node("Mul", ["w0", "m"], ["w"])], [w, mask]))
    stored = helper.make_tensor("idx", TensorProto.UINT8, [4, 2], [0, 1, 2, 0, 1, 300, 0, 2])
    with pytest.raises(et.InvalidModelError, match=r"UINT8 stores values outside \[0, 255\]"):
        import_onnx(_weight_subgraph_model([wide, helper.make_node("Gather", ["cb", "idx64"], ["w"])],
                                           [codebook, stored]))


def test_mul_of_data_is_refused_with_what_is_imported():
    scale = numpy_helper.from_array(np.full((1, 4), 2.0, np.float32), "s")
    w = numpy_helper.from_array(np.ones((4, 2), np.float32), "w")
    mul = helper.make_node("Mul", ["input", "s"], ["scaled"], name="scale")
    gemm = helper.make_node("Gemm", ["scaled", "w"], ["output"], name="fc")
    graph = helper.make_graph([mul, gemm], "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 4])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 2])], [scale, w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    with pytest.raises(et.UnsupportedOpError, match="Mul node 'scale' multiplies a data tensor"):
        import_onnx(model)

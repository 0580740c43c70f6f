"""ONNX import of the patterns PyTorch's exporter writes around an MLP (`import_patterns`).

torch is not a dependency, so each model is built with onnx.helper the way ``torch.onnx.export``
(TorchScript exporter, eval mode, ``dynamic_axes`` on the batch) writes it: node and tensor names,
Constant nodes for small shapes, initializer names from the module's state dict, the attributes it
sets. Each accepted model must agree with onnxruntime on random inputs and train a step; each
refused one must end, through the CLI too, as one ``error:`` line naming the node and a hint.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

import edgetrain as et
from edgetrain.errors import InvalidModelError, UnsupportedOpError
from edgetrain.interop.onnx.importer import import_onnx

from helpers import assert_user_error, run_cli
from test_fuzz_onnx_import import _edit as fuzz_edit  # the structural edits of the importer's fuzz test

IMAGE = [1, 8, 8]  # one 8x8 grey image per sample, flattened to 64 features


def ort_run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def make(nodes: list[onnx.NodeProto], inits: list[onnx.TensorProto], in_dims: list[Any], out_dims: list[Any],
         opset: int = 17, name: str = "main_graph", inp: str = "input", out: str = "output") -> onnx.ModelProto:
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info(inp, TensorProto.FLOAT, in_dims)],
                              [helper.make_tensor_value_info(out, TensorProto.FLOAT, out_dims)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="pytorch",
                              producer_version="2.4.0")
    model.ir_version = 8
    return model


def const(name: str, value: Any, out: str | None = None) -> onnx.NodeProto:
    """A Constant node as torch writes one: ``/Constant_k`` producing ``/Constant_k_output_0``."""
    return helper.make_node("Constant", [], [out or f"{name}_output_0"], name=name,
                            value=numpy_helper.from_array(np.asarray(value, np.int64)))


def linear(rng: np.random.Generator, name: str, n_in: int, n_out: int, bias: bool = True) -> list[onnx.TensorProto]:
    """A torch.nn.Linear's state: weight (out, in), bias (out,)."""
    out = [numpy_helper.from_array((rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)).astype(np.float32),
                                   f"{name}.weight")]
    if bias:
        out.append(numpy_helper.from_array((rng.standard_normal(n_out) * 0.1).astype(np.float32), f"{name}.bias"))
    return out


def gemm(name: str, x: str, out: str | None = None, bias: bool = True) -> onnx.NodeProto:
    ins = [x, f"{name}.weight"] + ([f"{name}.bias"] if bias else [])
    return helper.make_node("Gemm", ins, [out or f"/{name}/Gemm_output_0"], name=f"/{name}/Gemm", alpha=1.0,
                            beta=1.0, transB=1)


# ---------------------------------------------------------------- (a) Linear -> BatchNorm1d -> ReLU -> Linear

def batch_norm_state(rng: np.random.Generator, name: str, c: int) -> list[onnx.TensorProto]:
    """A trained BatchNorm1d: weight (gamma), bias (beta), running_mean, running_var."""
    return [numpy_helper.from_array(rng.uniform(0.5, 2.0, c).astype(np.float32), f"{name}.weight"),
            numpy_helper.from_array((rng.standard_normal(c) * 0.3).astype(np.float32), f"{name}.bias"),
            numpy_helper.from_array((rng.standard_normal(c) * 0.5).astype(np.float32), f"{name}.running_mean"),
            numpy_helper.from_array(rng.uniform(0.2, 3.0, c).astype(np.float32), f"{name}.running_var")]


def bn_node(name: str, x: str, opset: int, out: str | None = None) -> onnx.NodeProto:
    """torch's batch_norm symbolic: epsilon, momentum = 1 - torch momentum, training_mode=0 from opset 14."""
    attrs: dict[str, Any] = {"epsilon": 1e-5, "momentum": 0.9}
    if opset >= 14:
        attrs["training_mode"] = 0
    return helper.make_node("BatchNormalization",
                            [x, f"{name}.weight", f"{name}.bias", f"{name}.running_mean", f"{name}.running_var"],
                            [out or f"/{name}/BatchNormalization_output_0"], name=f"/{name}/BatchNormalization",
                            **attrs)


def linear_bn_relu_linear(opset: int = 17, fc1: str = "gemm", seed: int = 0) -> onnx.ModelProto:
    """``nn.Sequential``-like module: fc1 = Linear(12, 16), bn = BatchNorm1d(16), ReLU, fc2 = Linear(16, 3).

    ``fc1``: "gemm" (what torch writes), "gemm_no_bias" (Linear(bias=False)), "matmul_add" (how
    other exporters spell a dense layer) or "matmul" (no bias)."""
    rng = np.random.default_rng(seed)
    inits = linear(rng, "fc1", 12, 16, bias=fc1 in ("gemm", "matmul_add"))
    if fc1.startswith("matmul"):  # MatMul takes the weight as (in, out)
        inits[0] = numpy_helper.from_array(numpy_helper.to_array(inits[0]).T.copy(), "fc1.weight")
        nodes = [helper.make_node("MatMul", ["input", "fc1.weight"], ["/fc1/MatMul_output_0"], name="/fc1/MatMul")]
        h = "/fc1/MatMul_output_0"
        if fc1 == "matmul_add":
            nodes.append(helper.make_node("Add", [h, "fc1.bias"], ["/fc1/Add_output_0"], name="/fc1/Add"))
            h = "/fc1/Add_output_0"
    else:
        nodes = [gemm("fc1", "input", bias=fc1 == "gemm")]
        h = "/fc1/Gemm_output_0"
    inits += batch_norm_state(rng, "bn", 16) + linear(rng, "fc2", 16, 3)
    nodes += [bn_node("bn", h, opset),
              helper.make_node("Relu", ["/bn/BatchNormalization_output_0"], ["/relu/Relu_output_0"],
                               name="/relu/Relu"),
              gemm("fc2", "/relu/Relu_output_0", out="output")]
    return make(nodes, inits, ["batch_size", 12], ["batch_size", 3], opset=opset)


# ---------------------------------------------------------------- (b), (c) flatten through shape subgraphs

def head(rng: np.random.Generator, x: str) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """fc1 = Linear(64, 16) -> ReLU -> fc2 = Linear(16, 10), reading the flattened ``x``."""
    nodes = [gemm("fc1", x), helper.make_node("Relu", ["/fc1/Gemm_output_0"], ["/relu/Relu_output_0"],
                                              name="/relu/Relu"),
             gemm("fc2", "/relu/Relu_output_0", out="output")]
    return nodes, linear(rng, "fc1", 64, 16) + linear(rng, "fc2", 16, 10)


def view_flatten(opset: int = 17, seed: int = 1) -> onnx.ModelProto:
    """``x.view(x.size(0), -1)``: Shape -> Gather(0) -> Unsqueeze -> Concat with [-1] -> Reshape.

    Unsqueeze takes its axes as an input from opset 13 (a Constant), as an attribute before."""
    rng = np.random.default_rng(seed)
    nodes = [helper.make_node("Shape", ["input"], ["/Shape_output_0"], name="/Shape"),
             const("/Constant", 0),
             helper.make_node("Gather", ["/Shape_output_0", "/Constant_output_0"], ["/Gather_output_0"],
                              name="/Gather", axis=0)]
    if opset >= 13:
        nodes += [const("/Constant_1", [0], out="onnx::Unsqueeze_7"),
                  helper.make_node("Unsqueeze", ["/Gather_output_0", "onnx::Unsqueeze_7"], ["/Unsqueeze_output_0"],
                                   name="/Unsqueeze")]
    else:
        nodes.append(helper.make_node("Unsqueeze", ["/Gather_output_0"], ["/Unsqueeze_output_0"], name="/Unsqueeze",
                                      axes=[0]))
    nodes += [const("/Constant_2", [-1]),
              helper.make_node("Concat", ["/Unsqueeze_output_0", "/Constant_2_output_0"], ["/Concat_output_0"],
                               name="/Concat", axis=0),
              helper.make_node("Reshape", ["input", "/Concat_output_0"], ["/Reshape_output_0"], name="/Reshape",
                               **({"allowzero": 0} if opset >= 14 else {}))]
    more, inits = head(rng, "/Reshape_output_0")
    return make(nodes + more, inits, ["batch_size", *IMAGE], ["batch_size", 10], opset=opset)


def slice_flatten(opset: int = 17, start_dim: int = 1, seed: int = 2, cast: bool = False) -> onnx.ModelProto:
    """torch's flatten helper (``symbolic_helper._flatten_helper``): Shape -> Slice(0, start_dim) ->
    Concat with [-1] -> Reshape. Slice bounds are Constant inputs from opset 10, attributes before.
    ``start_dim=0`` is ``torch.flatten(x)``, which merges the batch axis. ``cast`` adds the Cast to
    int64 some exporters put on shapes."""
    rng = np.random.default_rng(seed)
    nodes = [helper.make_node("Shape", ["input"], ["/Shape_output_0"], name="/Shape")]
    if opset >= 10:
        nodes += [const("/Constant", [0]), const("/Constant_1", [0]), const("/Constant_2", [start_dim]),
                  helper.make_node("Slice", ["/Shape_output_0", "/Constant_1_output_0", "/Constant_2_output_0",
                                             "/Constant_output_0"], ["/Slice_output_0"], name="/Slice")]
    else:
        nodes.append(helper.make_node("Slice", ["/Shape_output_0"], ["/Slice_output_0"], name="/Slice", axes=[0],
                                      starts=[0], ends=[start_dim]))
    piece = "/Slice_output_0"
    if cast:
        nodes.append(helper.make_node("Cast", [piece], ["/Cast_output_0"], name="/Cast", to=TensorProto.INT64))
        piece = "/Cast_output_0"
    nodes += [const("/Constant_3", [-1]),
              helper.make_node("Concat", [piece, "/Constant_3_output_0"], ["/Concat_output_0"], name="/Concat",
                               axis=0),
              helper.make_node("Reshape", ["input", "/Concat_output_0"], ["/Reshape_output_0"], name="/Reshape")]
    more, inits = head(rng, "/Reshape_output_0")
    return make(nodes + more, inits, ["batch_size", *IMAGE], ["batch_size", 10], opset=opset)


def shape_start_end_flatten(seed: int = 3) -> onnx.ModelProto:
    """The same flatten as the newer exporter writes it: Shape(start=0, end=1) -> Concat with [64]."""
    rng = np.random.default_rng(seed)
    nodes = [helper.make_node("Shape", ["input"], ["sym_size"], name="/Shape", start=0, end=1),
             const("/Constant", [64], out="val_1"),
             helper.make_node("Concat", ["sym_size", "val_1"], ["shape"], name="/Concat", axis=0),
             helper.make_node("Reshape", ["input", "shape"], ["/Reshape_output_0"], name="/Reshape", allowzero=0)]
    more, inits = head(rng, "/Reshape_output_0")
    return make(nodes + more, inits, ["batch_size", *IMAGE], ["batch_size", 10], opset=18)


# ---------------------------------------------------------------- (d) dynamic shapes

def view_batch_last(seed: int = 4) -> onnx.ModelProto:
    """``x.view(-1, x.size(0))``: the batch size becomes a feature size, so the shape is dynamic."""
    m = view_flatten(seed=seed)
    concat = next(n for n in m.graph.node if n.op_type == "Concat")
    concat.input[:] = [concat.input[1], concat.input[0]]
    return m


def gather_of_data(seed: int = 5) -> onnx.ModelProto:
    """A Reshape target read from the data itself (Gather on the input, Cast to int64)."""
    m = view_flatten(seed=seed)
    gather = next(n for n in m.graph.node if n.op_type == "Gather")
    gather.input[0] = "input"
    return m


ACCEPTED = {
    "linear_bn_relu_linear": linear_bn_relu_linear,
    "linear_bn_opset9": lambda: linear_bn_relu_linear(opset=9),
    "linear_no_bias_bn": lambda: linear_bn_relu_linear(fc1="gemm_no_bias"),
    "matmul_add_bn": lambda: linear_bn_relu_linear(fc1="matmul_add"),
    "matmul_bn": lambda: linear_bn_relu_linear(fc1="matmul"),
    "view_flatten": view_flatten,
    "view_flatten_opset11": lambda: view_flatten(opset=11),
    "slice_flatten": slice_flatten,
    "slice_flatten_opset9": lambda: slice_flatten(opset=9),
    "slice_flatten_cast": lambda: slice_flatten(cast=True),
    "shape_start_end_flatten": shape_start_end_flatten,
}
EXPECTED_OPS = {name: ["dense", "relu", "dense"] if "bn" in name else ["flatten", "dense", "relu", "dense"]
                for name in ACCEPTED}


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_pattern_imports_agrees_with_onnxruntime_and_trains(name: str) -> None:
    onnx_model = ACCEPTED[name]()
    onnx.checker.check_model(onnx_model, full_check=True)
    graph = import_onnx(onnx_model)
    assert [n.op for n in graph.nodes] == EXPECTED_OPS[name]
    rng = np.random.default_rng(7)
    in_shape = graph.input_shape
    x = (rng.standard_normal((33, *in_shape)) * 2).astype(np.float32)
    assert np.abs(et.predict(graph, x) - ort_run(onnx_model, x)).max() <= 1e-4
    n_out = 3 if "bn" in name else 10
    before = {k: p.value.copy() for k, p in graph.params.items()}
    history = et.fit(graph, et.Split(x[:32], rng.integers(0, n_out, 32)), epochs=1, batch_size=32)
    assert np.isfinite(history.epochs[-1]["loss"])
    assert all(not np.array_equal(before[k], p.value) for k, p in graph.params.items())


def test_batch_norm_fold_matches_the_formula() -> None:
    """y = gamma * (x W + b - mean) / sqrt(var + eps) + beta, stored in the one dense layer."""
    m = linear_bn_relu_linear()
    consts = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in m.graph.initializer}
    graph = import_onnx(m)
    dense = graph.nodes[0]
    assert dense.name == "fc1" and set(dense.params) == {"weight", "bias"}
    assert not any(k.startswith("bn") for k in graph.params)
    s = consts["bn.weight"] / np.sqrt(consts["bn.running_var"] + 1e-5)
    np.testing.assert_allclose(graph.params["fc1.weight"].value, consts["fc1.weight"].T * s, rtol=1e-6)
    np.testing.assert_allclose(graph.params["fc1.bias"].value,
                               (consts["fc1.bias"] - consts["bn.running_mean"]) * s + consts["bn.bias"],
                               rtol=1e-6, atol=1e-7)


def test_static_batch_constant_reshape_is_a_flatten() -> None:
    """Exported without dynamic_axes, torch folds the shape subgraph into a constant [B, 64]."""
    m = view_flatten()
    m.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 4
    m.graph.output[0].type.tensor_type.shape.dim[0].dim_value = 4
    reshape = next(n for n in m.graph.node if n.op_type == "Reshape")
    m.graph.initializer.append(numpy_helper.from_array(np.array([4, 64], np.int64), "folded_shape"))
    reshape.input[1] = "folded_shape"
    graph = import_onnx(m)
    assert [n.op for n in graph.nodes] == ["flatten", "dense", "relu", "dense"]
    x = np.random.default_rng(0).standard_normal((4, *IMAGE)).astype(np.float32)
    assert np.abs(et.predict(graph, x) - ort_run(m, x)).max() <= 1e-4
    # with a symbolic batch, [4, 64] is not the batch size: refused
    m.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "batch_size"
    with pytest.raises(UnsupportedOpError, match="/Reshape"):
        import_onnx(m)


# ---------------------------------------------------------------- refusals

def bn_after_relu() -> onnx.ModelProto:
    """Linear -> ReLU -> BatchNorm1d: nothing to fold the normalization into."""
    m = linear_bn_relu_linear()
    gemm1, bn, relu, gemm2 = (onnx.NodeProto.FromString(n.SerializeToString()) for n in m.graph.node)
    relu.input[0], bn.input[0], gemm2.input[0] = gemm1.output[0], relu.output[0], bn.output[0]
    del m.graph.node[:]
    m.graph.node.extend([gemm1, relu, bn, gemm2])
    return m


def bn_shared_dense() -> onnx.ModelProto:
    """The dense output also feeds a residual Add, so the layer cannot absorb the normalization."""
    m = linear_bn_relu_linear()
    m.graph.node.insert(3, helper.make_node("Add", ["/relu/Relu_output_0", "/fc1/Gemm_output_0"], ["res"],
                                            name="/res/Add"))
    m.graph.node[4].input[0] = "res"
    return m


def bn_stats_not_constant() -> onnx.ModelProto:
    m = linear_bn_relu_linear()
    m.graph.node.insert(0, helper.make_node("Relu", ["input"], ["computed_mean"], name="/mean/Relu"))
    m.graph.node[2].input[3] = "computed_mean"
    return m


def bn_on_3d() -> onnx.ModelProto:
    """BatchNorm1d on (N, C, L): the convolutional form."""
    rng = np.random.default_rng(0)
    nodes = [bn_node("bn", "input", 17, out="output")]
    return make(nodes, batch_norm_state(rng, "bn", 4), ["batch_size", 4, 5], ["batch_size", 4, 5])


def bn_training_mode() -> onnx.ModelProto:
    m = linear_bn_relu_linear()
    next(a for a in m.graph.node[1].attribute if a.name == "training_mode").i = 1
    return m


BN = "BatchNormalization node '/bn/BatchNormalization'"
#: name -> (model, error class, what the message must say: the node and why)
REFUSED: dict[str, tuple[Any, type, list[str]]] = {
    # (d) the shape really is dynamic
    "view_batch_last": (view_batch_last, UnsupportedOpError, ["Reshape node '/Reshape'", "batch size at axis 1"]),
    "torch_flatten_start_dim_0": (lambda: slice_flatten(start_dim=0), UnsupportedOpError,
                                  ["Reshape node '/Reshape'", "merged into the features"]),
    "gather_of_data": (gather_of_data, UnsupportedOpError, ["Gather node '/Gather'", "computed from the input data"]),
    # BatchNormalization that is not the inference form after a dense layer
    "bn_after_relu": (bn_after_relu, UnsupportedOpError, [BN, "output of a relu node"]),
    "bn_shared_dense": (bn_shared_dense, UnsupportedOpError, [BN, "which other nodes also read"]),
    "bn_stats_not_constant": (bn_stats_not_constant, UnsupportedOpError,
                              [BN, "mean 'computed_mean' is not a constant"]),
    "bn_on_3d": (bn_on_3d, UnsupportedOpError, [BN, "(batch, 4, 5)"]),
    "bn_training_mode": (bn_training_mode, UnsupportedOpError, [BN, "training_mode=1"]),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_in_memory_and_through_the_cli(name: str, tmp_path: Path) -> None:
    build, error, needles = REFUSED[name]
    with pytest.raises(error) as e:
        import_onnx(build())
    assert all(n in str(e.value) for n in needles), str(e.value)
    assert e.value.hint
    onnx.save(build(), str(tmp_path / "m.onnx"))
    r = run_cli("import", "onnx", tmp_path / "m.onnx", "-o", tmp_path / "out.etm")
    assert_user_error(r, *needles)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith("hint: "), r.stderr
    assert not (tmp_path / "out.etm").exists()


def test_dynamic_refusals_say_why() -> None:
    with pytest.raises(UnsupportedOpError, match=r"batch size at axis 1") as e:
        import_onnx(view_batch_last())
    assert "nn.Flatten" in e.value.hint
    with pytest.raises(UnsupportedOpError, match=r"to \[-1\] is not a flatten .*merged into the features"):
        import_onnx(slice_flatten(start_dim=0))
    with pytest.raises(UnsupportedOpError, match=r"computed from the input data"):
        import_onnx(gather_of_data())
    with pytest.raises(UnsupportedOpError, match=r"shape \(batch, 4, 5\); only \(batch, channels\)") as e:
        import_onnx(bn_on_3d())
    assert "after a Conv" in e.value.hint


def test_shape_values_are_not_data() -> None:
    """A shape value used as a layer input, or as a graph output, is refused, not converted."""
    m = view_flatten()
    m.graph.node[-1].input[0] = "/Concat_output_0"
    with pytest.raises(UnsupportedOpError, match="only as Reshape targets"):
        import_onnx(m)
    m = view_flatten()
    m.graph.output[0].name = "/Concat_output_0"
    del m.graph.node[-4:]
    with pytest.raises(InvalidModelError, match="graph output"):
        import_onnx(m)


def _with(build: Any, edit: Any) -> onnx.ModelProto:
    m = build()
    edit(m)
    return m


def _node(m: onnx.ModelProto, op: str) -> onnx.NodeProto:
    return next(n for n in m.graph.node if n.op_type == op)


BAD_SHAPE_OPS: dict[str, tuple[Any, type, str]] = {
    "cast_to_float": (lambda m: _node(m, "Cast").attribute[0].__setattr__("i", TensorProto.FLOAT),
                      UnsupportedOpError, "casts to FLOAT"),
    "slice_attrs_at_opset_17": (lambda m: _node(m, "Slice").attribute.append(helper.make_attribute("starts", [0])),
                                InvalidModelError, "3 to 5 inputs"),
    "slice_step_0": (lambda m: (m.graph.node.insert(0, const("/steps", [0])), _node(m, "Slice").input.append(
        "/steps_output_0")), InvalidModelError, "step 0"),
    "concat_axis_1": (lambda m: _node(m, "Concat").attribute[0].__setattr__("i", 1), InvalidModelError, "axis 1"),
}


@pytest.mark.parametrize("name", sorted(BAD_SHAPE_OPS))
def test_malformed_shape_ops_are_named(name: str) -> None:
    edit, error, fragment = BAD_SHAPE_OPS[name]
    with pytest.raises(error, match=fragment) as e:
        import_onnx(_with(lambda: slice_flatten(cast=True), edit))
    assert e.value.hint


def test_float_constant_in_a_shape_op_is_refused() -> None:
    m = view_flatten()
    _node(m, "Gather").input[1] = "fidx"
    m.graph.initializer.append(numpy_helper.from_array(np.float32(0), "fidx"))
    with pytest.raises(UnsupportedOpError, match=r"Gather node '/Gather': constant 'fidx' is FLOAT"):
        import_onnx(m)


# ---------------------------------------------------------------- bounded fuzzing of the new seeds

SEEDS = [linear_bn_relu_linear(), view_flatten(), slice_flatten(cast=True), view_flatten(opset=11),
         slice_flatten(opset=9)]


@st.composite
def mutated(draw: st.DrawFn) -> onnx.ModelProto:
    m = onnx.ModelProto()
    m.CopyFrom(SEEDS[draw(st.integers(0, len(SEEDS) - 1))])
    for _ in range(draw(st.integers(1, 3))):
        if not m.graph.node:
            break
        if draw(st.booleans()):
            n = m.graph.node[draw(st.integers(0, len(m.graph.node) - 1))]
            if n.op_type == "Constant":  # shape constants: odd values and ranks
                n.attribute[0].t.CopyFrom(numpy_helper.from_array(
                    np.asarray(draw(st.sampled_from([[], [5], [-3], [0, 0], [2**40], [[1]], 7, [-1, -1]])),
                               np.int64)))
            else:
                n.op_type = draw(st.sampled_from(["Shape", "Gather", "Slice", "Concat", "Unsqueeze", "Squeeze",
                                                  "Cast", "BatchNormalization", "Identity", "Reshape"]))
        else:
            fuzz_edit(m, draw)
    return m


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(model=mutated())
def test_mutated_pattern_models_end_as_edgetrain_errors(model: onnx.ModelProto) -> None:
    try:
        import_onnx(model)
    except et.EdgetrainError as e:
        assert str(e) and "\n" not in str(e)

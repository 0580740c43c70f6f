"""The ONNX importer's pre-conversion checks (`edgetrain.interop.onnx.import_checks`).

Each bad model is a small valid Gemm model with one thing broken; it must end as the named
`edgetrain.errors` class with a one-line message containing the fragment (which names the node or
initializer) and a non-empty hint. Good models, including the edge cases the checks must not
refuse (symbolic batch, scalar-broadcast bias, shape-(1,) Clip bounds, legacy attributes), still
import unchanged.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
import onnx
import pytest
from onnx import AttributeProto, TensorProto, helper, numpy_helper

import edgetrain as et
from edgetrain import limits
from edgetrain.errors import InvalidModelError, ModelFileError, UnsupportedOpError
from edgetrain.interop.onnx import import_checks
from edgetrain.interop.onnx.importer import import_onnx

from helpers import assert_user_error, run_cli

F, U = 4, 3  # input features, units


def model(nodes: list[onnx.NodeProto] | None = None, inits: list[onnx.TensorProto] | None = None,
          opset: int = 17, x_dims: list[Any] | None = None) -> onnx.ModelProto:
    """x (N, 4) -> Gemm fc (transB=1, 3 units) -> y, unless other nodes/initializers are given."""
    rng = np.random.default_rng(0)
    if inits is None:
        inits = [numpy_helper.from_array(rng.standard_normal((U, F)).astype(np.float32), "fc.weight"),
                 numpy_helper.from_array(np.full(U, 0.5, np.float32), "fc.bias")]
    if nodes is None:
        nodes = [helper.make_node("Gemm", ["x", "fc.weight", "fc.bias"], ["y"], name="fc", transB=1)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_dims or ["N", F])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", U])], inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 9
    return m


def edited(edit: Callable[[onnx.ModelProto], Any], **kw: Any) -> Callable[[], onnx.ModelProto]:
    def build() -> onnx.ModelProto:
        m = model(**kw)
        edit(m)
        return m
    return build


def w(m: onnx.ModelProto) -> onnx.TensorProto:
    return m.graph.initializer[0]


def set_attr(m: onnx.ModelProto, name: str, value: Any) -> None:
    m.graph.node[0].attribute.append(helper.make_attribute(name, value))


def clip_model(lo: np.ndarray, hi: np.ndarray) -> onnx.ModelProto:
    nodes = [helper.make_node("Gemm", ["x", "fc.weight", "fc.bias"], ["h"], name="fc", transB=1),
             helper.make_node("Clip", ["h", "lo", "hi"], ["y"], name="clip")]
    m = model(nodes)
    m.graph.initializer.extend([numpy_helper.from_array(lo, "lo"), numpy_helper.from_array(hi, "hi")])
    return m


def matmul_model(weight: np.ndarray, bias: np.ndarray | None = None) -> onnx.ModelProto:
    nodes = [helper.make_node("MatMul", ["x", "W"], ["m" if bias is not None else "y"], name="mm")]
    inits = [numpy_helper.from_array(weight, "W")]
    if bias is not None:
        nodes.append(helper.make_node("Add", ["m", "B"], ["y"], name="bias_add"))
        inits.append(numpy_helper.from_array(bias, "B"))
    return model(nodes, inits)


def _bytes_swap(old: bytes, new: bytes) -> Callable[[], onnx.ModelProto]:
    """A model whose serialized bytes have ``old`` replaced (how invalid UTF-8 gets into a string field)."""
    def build() -> onnx.ModelProto:
        raw = model().SerializeToString()
        assert old in raw
        return onnx.ModelProto.FromString(raw.replace(old, new))
    return build


BAD: dict[str, tuple[Callable[[], onnx.ModelProto], type, str]] = {
    # opsets and domains
    "opset_99": (lambda: model(opset=99), UnsupportedOpError, "opset 99"),
    "opset_23": (lambda: model(opset=23), UnsupportedOpError, "opset 23"),
    "opset_0": (lambda: model(opset=0), InvalidModelError, "opset 0"),
    "unknown_domain": (edited(lambda m: m.opset_import.append(helper.make_opsetid("com.example", 1))),
                       UnsupportedOpError, "'com.example'"),
    "node_in_custom_domain": (edited(lambda m: setattr(m.graph.node[0], "domain", "com.microsoft")),
                              UnsupportedOpError, "com.microsoft.Gemm (node fc)"),
    "no_default_opset": (edited(lambda m: (m.opset_import.__delitem__(slice(None)),
                                           m.opset_import.append(helper.make_opsetid("ai.onnx.ml", 3)))),
                         InvalidModelError, "no opset for the default"),
    "opset_twice": (edited(lambda m: m.opset_import.append(helper.make_opsetid("ai.onnx", 17))),
                    InvalidModelError, "twice"),
    # initializers
    "dims_lie": (edited(lambda m: w(m).dims.__setitem__(slice(None), [1000, 1000])), InvalidModelError,
                 "initializer 'fc.weight' holds 48 bytes"),
    "dims_huge": (edited(lambda m: w(m).dims.__setitem__(slice(None), [2**40, 2**40])), InvalidModelError,
                  "initializer 'fc.weight' declares"),
    "dims_negative": (edited(lambda m: w(m).dims.__setitem__(slice(None), [-3, -4])), InvalidModelError,
                      "initializer 'fc.weight' has a negative dimension"),
    "raw_data_short": (edited(lambda m: setattr(w(m), "raw_data", w(m).raw_data[:5])), InvalidModelError,
                       "initializer 'fc.weight' holds 5 bytes of raw data, but its dims [3, 4] of FLOAT need 48"),
    "float_data_short": (edited(lambda m: (w(m).CopyFrom(helper.make_tensor("fc.weight", TensorProto.FLOAT, [U, F],
                                                                           [0.1] * (U * F))),
                                           w(m).float_data.__delitem__(slice(5, None)))),
                         InvalidModelError, "initializer 'fc.weight' stores 5 values, but its dims [3, 4] declare 12"),
    "values_twice": (edited(lambda m: w(m).float_data.extend([1.0] * 12)), InvalidModelError, "also stores values"),
    "elem_type_99": (edited(lambda m: setattr(w(m), "data_type", 99)), UnsupportedOpError,
                     "initializer 'fc.weight' has element type 99"),
    "elem_type_float16": (edited(lambda m: setattr(w(m), "data_type", TensorProto.FLOAT16)), UnsupportedOpError,
                          "element type FLOAT16; edgetrain imports tensors of float32, float64, int64, int32, int8 and uint8"),
    "elem_type_string": (edited(lambda m: w(m).CopyFrom(helper.make_tensor("fc.weight", TensorProto.STRING, [1],
                                                                           [b"a"]))),
                         UnsupportedOpError, "element type STRING"),
    "nan_initializer": (edited(lambda m: setattr(w(m), "raw_data", np.full(U * F, np.nan, np.float32).tobytes())),
                        InvalidModelError, "initializer 'fc.weight' holds NaN or infinite values"),
    "inf_bias": (edited(lambda m: m.graph.initializer[1].CopyFrom(
        numpy_helper.from_array(np.array([0, np.inf, 0], np.float32), "fc.bias"))),
        InvalidModelError, "initializer 'fc.bias' holds NaN or infinite values (first at flat index 1)"),
    "too_many_elements": (edited(lambda m: None), InvalidModelError, "MAX_DATA_ELEMENTS"),  # limit lowered below
    "duplicate_initializer": (edited(lambda m: m.graph.initializer.append(m.graph.initializer[1])),
                              InvalidModelError, "initializer 'fc.bias' is defined twice"),
    "int8_out_of_range": (edited(lambda m: m.graph.initializer.append(
        helper.make_tensor("q", TensorProto.INT8, [2], [1, 300]))), InvalidModelError, "outside [-128, 127]"),
    "constant_nan": (lambda: model([helper.make_node("Constant", [], ["wc"], name="c", value_floats=[np.nan] * 12),
                                    helper.make_node("MatMul", ["x", "wc"], ["y"], name="mm")], []),
                     InvalidModelError, "'value_floats' is NaN"),
    # ops, attributes, node signatures
    "op_type_not_utf8": (_bytes_swap(b"Gemm", b"\xff\xfe\xfd\xfc"), UnsupportedOpError,
                         "op type of model.graph.node[0] ('fc')"),
    "node_name_not_utf8": (_bytes_swap(b"\x1a\x02fc", b"\x1a\x02\xc3\x28"), InvalidModelError,
                           "model.graph.node[0].name"),
    "unknown_op": (lambda: model([helper.make_node("ConvTranspose", ["x", "fc.weight"], ["y"], name="conv")]),
                   UnsupportedOpError, "ConvTranspose (node conv)"),
    "unknown_attribute": (edited(lambda m: set_attr(m, "gamma", 1.0)), UnsupportedOpError,
                          "Gemm node 'fc' has attribute 'gamma'"),
    "attribute_wrong_type": (edited(lambda m: set_attr(m, "alpha", "two")), InvalidModelError,
                             "attribute 'alpha' has type STRING; ONNX Gemm needs FLOAT"),
    "attribute_nan": (edited(lambda m: set_attr(m, "beta", float("nan"))), InvalidModelError,
                      "attribute 'beta' is NaN or infinite"),
    "transB_2": (edited(lambda m: setattr(m.graph.node[0].attribute[0], "i", 2)), InvalidModelError,
                 "transB=2"),
    "attribute_twice": (edited(lambda m: set_attr(m, "transB", 1)), InvalidModelError, "sets attribute 'transB' twice"),
    "attribute_undefined_type": (edited(lambda m: setattr(m.graph.node[0].attribute[0], "type",
                                                          AttributeProto.UNDEFINED)),
                                 InvalidModelError, "has type UNDEFINED"),
    "gemm_missing_weight": (lambda: model([helper.make_node("Gemm", ["x"], ["y"], name="fc")]), InvalidModelError,
                            "Gemm node 'fc' has 1 inputs; ONNX Gemm takes 2 to 3"),
    "gemm_empty_weight_name": (lambda: model([helper.make_node("Gemm", ["x", ""], ["y"], name="fc")]),
                               InvalidModelError, "leaves a required input empty"),
    "two_outputs": (lambda: model([helper.make_node("Gemm", ["x", "fc.weight"], ["y", "y2"], name="fc", transB=1)]),
                    InvalidModelError, "Gemm node 'fc' has 2 outputs"),
    "zero_unit_gemm": (lambda: model(inits=[numpy_helper.from_array(np.zeros((0, F), np.float32), "fc.weight"),
                                            numpy_helper.from_array(np.zeros(0, np.float32), "fc.bias")]),
                       InvalidModelError, "Gemm node 'fc' has 0 units"),
    "zero_unit_matmul": (lambda: matmul_model(np.zeros((F, 0), np.float32)), InvalidModelError,
                         "MatMul node 'mm' has 0 units"),
    "weight_rank_3": (lambda: matmul_model(np.zeros((F, U, 1), np.float32)), InvalidModelError, "has rank 3"),
    "weight_int64": (lambda: matmul_model(np.zeros((F, U), np.int64)), InvalidModelError,
                     "weight 'W' of MatMul node 'mm' has element type INT64"),
    "bias_wrong_length": (edited(lambda m: m.graph.initializer[1].CopyFrom(
        numpy_helper.from_array(np.zeros(7, np.float32), "fc.bias"))),
        InvalidModelError, "bias 'fc.bias' of Gemm node 'fc' has shape (7,), which does not fit its 3 units"),
    "bias_2d_batch": (edited(lambda m: m.graph.initializer[1].CopyFrom(
        numpy_helper.from_array(np.zeros((2, U), np.float32), "fc.bias"))), InvalidModelError, "shape (2, 3)"),
    "matmul_add_bias_wrong": (lambda: matmul_model(np.zeros((F, U), np.float32), np.zeros(5, np.float32)),
                              InvalidModelError, "bias of 'bias_add' has shape (5,)"),
    "clip_vector_bounds": (lambda: clip_model(np.zeros(3, np.float32), np.full(3, 6, np.float32)), InvalidModelError,
                           "Clip node 'clip': min 'lo' has shape (3,); ONNX Clip bounds must be scalars"),
    "clip_bound_2x1": (lambda: clip_model(np.float32(0), np.full((1, 1), 6, np.float32)), InvalidModelError,
                       "max 'hi' has shape (1, 1)"),
    "reshape_float_shape": (lambda: model([helper.make_node("Reshape", ["x", "s"], ["r"], name="rs"),
                                           helper.make_node("Gemm", ["r", "fc.weight", "fc.bias"], ["y"], name="fc",
                                                            transB=1)],
                                          model().graph.initializer[:] + [
                                              numpy_helper.from_array(np.array([0, -1], np.float32), "s")]),
                            InvalidModelError, "Reshape node 'rs': shape 's' is FLOAT"),
    "softmax_axis_out_of_range": (lambda: model([helper.make_node("Gemm", ["x", "fc.weight", "fc.bias"], ["h"],
                                                                  name="fc", transB=1),
                                                 helper.make_node("Softmax", ["h"], ["y"], name="sm", axis=5)]),
                                  UnsupportedOpError, "over axis 5"),
    "gemm_alpha_overflow": (edited(lambda m: set_attr(m, "alpha", 3e38)), InvalidModelError,
                            "NaN or infinite once scaled"),
    "float64_beyond_float32": (lambda: matmul_model(np.full((F, U), 1e300)), InvalidModelError,
                               "NaN or infinite once scaled"),
    # the data input
    "no_graph_input": (edited(lambda m: m.graph.input.__delitem__(slice(None))), InvalidModelError,
                       "0 data inputs (none)"),
    "symbolic_input_width": (lambda: model(x_dims=["N", "features"]), InvalidModelError,
                             "input 'x' has a dynamic size 'features' at axis 1"),
    "unknown_input_width": (edited(lambda m: m.graph.input[0].type.tensor_type.shape.dim[1].Clear()),
                            InvalidModelError, "dynamic size 'unknown' at axis 1"),
    "zero_input_width": (lambda: model(x_dims=["N", 0]), InvalidModelError, "dynamic size '0' at axis 1"),
    "input_elem_type_99": (edited(lambda m: setattr(m.graph.input[0].type.tensor_type, "elem_type", 99)),
                           InvalidModelError, "input 'x' has element type 99"),
    "input_not_tensor": (edited(lambda m: m.graph.input[0].type.CopyFrom(
        helper.make_sequence_type_proto(helper.make_tensor_type_proto(TensorProto.FLOAT, [1, F])))),
        InvalidModelError, "input 'x' is not a tensor"),
    "input_width_over_max_units": (lambda: model(x_dims=["N", 2**40]), InvalidModelError, "MAX_UNITS"),
    # graph shape
    "no_nodes": (edited(lambda m: m.graph.node.__delitem__(slice(None))), InvalidModelError, "no nodes"),
    "no_outputs": (edited(lambda m: m.graph.output.__delitem__(slice(None))), InvalidModelError, "no outputs"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_model_is_refused(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    build, error, fragment = BAD[case]
    if case == "too_many_elements":
        monkeypatch.setenv(limits.env_name("MAX_DATA_ELEMENTS"), "10")
    with pytest.raises(error) as e:
        import_onnx(build())
    message = str(e.value)
    assert fragment in message, message
    assert "\n" not in message and e.value.hint


LIMITS = [("MAX_UNITS", 6, "MatMul node 'mm' has 8 units, more than MAX_UNITS=6", 40),
          ("MAX_UNITS", 3, "input 'x' has 4 features (shape (4,)), more than MAX_UNITS=3", 40),
          ("MAX_PARAMETERS", 39, "40 weights and biases, more than MAX_PARAMETERS=39", 40),
          ("MAX_LAYERS", 2, "3 nodes, more than MAX_LAYERS=2", 40),
          ("MAX_DATA_ELEMENTS", 31, "initializer 'W' declares 32 elements", 40)]


@pytest.mark.parametrize("name,value,fragment,params", LIMITS)
def test_limits_refuse_with_the_limit_hint(name: str, value: int, fragment: str, params: int,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    m = matmul_model(np.ones((F, 8), np.float32), np.ones(8, np.float32))
    m.graph.node[1].output[0] = "h"
    m.graph.node.append(helper.make_node("Relu", ["h"], ["y"], name="relu"))
    assert import_onnx(m).num_params() == params
    monkeypatch.setenv(limits.env_name(name), str(value))
    with pytest.raises(InvalidModelError) as e:
        import_onnx(m)
    assert fragment in str(e.value), str(e.value)
    assert e.value.hint == limits.over_limit_hint(name)


# ---------------------------------------------------------------- files

def test_file_problems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = model().SerializeToString()
    (tmp_path / "trunc.onnx").write_bytes(good[: len(good) - 7])
    (tmp_path / "garbage.onnx").write_bytes(np.random.default_rng(5).bytes(3000))
    (tmp_path / "dir.onnx").mkdir()
    cases = {"trunc.onnx": "not a readable ONNX model (DecodeError)", "garbage.onnx": "garbage.onnx",
             "dir.onnx": "is a directory", "missing.onnx": "does not exist"}
    for name, fragment in cases.items():
        with pytest.raises(ModelFileError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
            import_onnx(tmp_path / name)
    (tmp_path / "good.onnx").write_bytes(good)
    monkeypatch.setenv(limits.env_name("MAX_FILE_BYTES"), str(len(good) - 1))
    with pytest.raises(ModelFileError) as e:
        import_onnx(tmp_path / "good.onnx")
    assert "more than MAX_FILE_BYTES" in str(e.value) and e.value.hint == limits.over_limit_hint("MAX_FILE_BYTES")
    monkeypatch.setenv(limits.env_name("MAX_FILE_BYTES"), str(len(good)))
    assert import_onnx(tmp_path / "good.onnx").num_params() == 15


def test_fifo_is_not_read(tmp_path: Path) -> None:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    os.mkfifo(tmp_path / "pipe.onnx")
    with pytest.raises(ModelFileError, match="not a regular file"):
        import_onnx(tmp_path / "pipe.onnx")  # would block forever if opened


def test_invalid_utf8_external_data_location_is_refused_before_any_path_use(tmp_path: Path) -> None:
    m = model()
    t = w(m)
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    t.external_data.add(key="location", value="weights.bin")
    raw = m.SerializeToString().replace(b"weights.bin", b"weight\xff.bin")
    (tmp_path / "m.onnx").write_bytes(raw)
    with pytest.raises(InvalidModelError, match=r"external_data\[0\]\.value .* not valid UTF-8"):
        import_onnx(tmp_path / "m.onnx")


def test_cli_reports_one_error_line_and_hint(tmp_path: Path) -> None:
    m = model()
    w(m).dims[:] = [1000, 1000]
    onnx.save(m, str(tmp_path / "lie.onnx"))
    r = run_cli("import", "onnx", tmp_path / "lie.onnx", "-o", tmp_path / "m.etm")
    assert_user_error(r, "initializer 'fc.weight'", "need 4000000")
    assert "hint: " in r.stderr
    assert not (tmp_path / "m.etm").exists()


# ---------------------------------------------------------------- good models still import

def test_checks_accept_the_edge_cases_that_are_valid() -> None:
    """What the checks must not refuse: symbolic batch, a scalar or (1, units) bias, Clip bounds of
    shape () or (1,), opset 22, a declared-but-unused ai.onnx.ml domain, legacy broadcast attributes,
    float64 and int64 constants, value_floats Constants."""
    scalar_bias = model(inits=[numpy_helper.from_array(np.ones((U, F), np.float32), "fc.weight"),
                               numpy_helper.from_array(np.float32(2.0), "fc.bias")])
    g = import_onnx(scalar_bias)
    assert np.array_equal(g.params["fc.bias"].value, np.full(U, 2.0, np.float32))
    row_bias = model(inits=[numpy_helper.from_array(np.ones((U, F), np.float32), "fc.weight"),
                            numpy_helper.from_array(np.arange(U, dtype=np.float32)[None], "fc.bias")])
    assert import_onnx(row_bias).params["fc.bias"].value.tolist() == [0, 1, 2]
    assert [n.op for n in import_onnx(clip_model(np.zeros(1, np.float32), np.full(1, 6, np.float32))).nodes] == \
        ["dense", "relu6"]
    assert [n.op for n in import_onnx(clip_model(np.float32(0), np.float32(6))).nodes] == ["dense", "relu6"]
    m = model(opset=22)
    m.opset_import.append(helper.make_opsetid("ai.onnx.ml", 3))
    assert import_onnx(m).num_params() == 15
    legacy = model(opset=6)
    legacy.graph.node[0].attribute.append(helper.make_attribute("broadcast", 1))
    assert import_onnx(legacy).num_params() == 15
    f64 = import_onnx(matmul_model(np.ones((F, U)), np.ones(U)))
    assert {p.value.dtype for p in f64.params.values()} == {np.dtype(np.float32)} and len(f64.params) == 2
    const = model([helper.make_node("Constant", [], ["wc"], name="c", value_floats=[0.5] * (F * U)),
                   helper.make_node("Constant", [], ["shape"], name="s", value_ints=[F, U]),
                   helper.make_node("Reshape", ["x", "flat"], ["r"], name="rs"),
                   helper.make_node("MatMul", ["r", "W"], ["y"], name="mm")],
                  [numpy_helper.from_array(np.ones((F, U), np.float32), "W"),
                   numpy_helper.from_array(np.array([0, -1], np.int64), "flat")])
    assert [n.op for n in import_onnx(const).nodes] == ["flatten", "dense"]


def test_reshape_allowzero_is_not_a_flatten() -> None:
    nodes = [helper.make_node("Reshape", ["x", "s"], ["r"], name="rs", allowzero=1),
             helper.make_node("Gemm", ["r", "fc.weight", "fc.bias"], ["y"], name="fc", transB=1)]
    inits = model().graph.initializer[:] + [numpy_helper.from_array(np.array([0, -1], np.int64), "s")]
    with pytest.raises(UnsupportedOpError, match="Reshape node 'rs'"):
        import_onnx(model(nodes, inits, opset=14))
    nodes[0].attribute[0].i = 0
    assert [n.op for n in import_onnx(model(nodes, inits, opset=14)).nodes] == ["flatten", "dense"]


def test_valid_model_imports_identically() -> None:
    m = model()
    g = import_onnx(m)
    assert [(n.name, n.op) for n in g.nodes] == [("fc", "dense")]
    wt = numpy_helper.to_array(w(m))
    assert np.array_equal(g.params["fc.weight"].value, wt.T)
    x = np.random.default_rng(3).standard_normal((5, F)).astype(np.float32)
    assert np.allclose(et.predict(g, x), x @ wt.T + 0.5, atol=1e-6)


def test_checks_module_is_called_before_conversion(monkeypatch: pytest.MonkeyPatch) -> None:
    """import_onnx runs check_model on the model it converts (the contract the converter relies on)."""
    seen: list[str] = []
    real = import_checks.check_model
    monkeypatch.setattr(import_checks, "check_model", lambda m, label="<model>": (seen.append(label), real(m, label)))
    import_onnx(model())
    assert seen == ["<model>"]

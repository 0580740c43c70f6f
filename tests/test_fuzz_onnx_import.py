"""Bounded fuzzing of the ONNX importer: whatever the bytes or the structure, only EdgetrainError.

Two generators start from one valid small MLP (Flatten -> Gemm -> Relu -> MatMul + Add -> Clip ->
Softmax, with a Constant and an Identity):

- `test_mutated_bytes`: flips, inserts, deletes and truncates bytes of the serialized model and
  imports the result from a file (what ``edgetrain import onnx FILE`` does);
- `test_mutated_structure`: edits the ModelProto (dims, element types, op types, attribute types and
  values, dropped or renamed inputs, NaN values, raw data lengths, opsets, input shapes) and imports
  it in memory.

The property: `import_onnx` either returns a graph or raises an `EdgetrainError` subclass. Crashing
inputs found while writing the checks are kept as explicit regression cases at the end
(`REGRESSIONS`, with the error class each must raise now), so they run even when hypothesis
draws something else. The example counts keep
each test to a few seconds; ``EDGETRAIN_FUZZ_EXAMPLES`` raises them for a longer local run.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import AttributeProto, TensorProto, helper, numpy_helper

from edgetrain.errors import EdgetrainError
from edgetrain.interop.onnx.importer import import_onnx

EXAMPLES = int(os.environ.get("EDGETRAIN_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def mlp() -> onnx.ModelProto:
    """A valid model touching most of what the importer maps."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((6, 8)).astype(np.float32), "fc1.weight"),
             numpy_helper.from_array(np.zeros(6, np.float32), "fc1.bias"),
             numpy_helper.from_array(rng.standard_normal((6, 3)).astype(np.float32), "W2"),
             numpy_helper.from_array(np.full(3, 0.1, np.float32), "B2"),
             numpy_helper.from_array(np.float32(0.0), "lo"), numpy_helper.from_array(np.float32(6.0), "hi")]
    nodes = [helper.make_node("Flatten", ["x"], ["flat"], name="flatten", axis=1),
             helper.make_node("Gemm", ["flat", "fc1.weight", "fc1.bias"], ["h"], name="fc1", transB=1, alpha=1.0),
             helper.make_node("Relu", ["h"], ["a"], name="relu"),
             helper.make_node("Constant", [], ["W2c"], name="const", value=inits[2]),
             helper.make_node("Identity", ["W2c"], ["W2i"], name="ident"),
             helper.make_node("MatMul", ["a", "W2i"], ["m"], name="mm"),
             helper.make_node("Add", ["m", "B2"], ["z"], name="bias"),
             helper.make_node("Clip", ["z", "lo", "hi"], ["c"], name="clip"),
             helper.make_node("Softmax", ["c"], ["y"], name="softmax", axis=-1)]
    del inits[2]
    graph = helper.make_graph(nodes, "fuzz", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    return model


SEED = mlp()
SEED_BYTES = SEED.SerializeToString()


def outcome(source: Any) -> str:
    """Import ``source``: "ok" or the EdgetrainError class name; anything else propagates (a crash)."""
    try:
        import_onnx(source)
    except EdgetrainError as e:
        assert str(e) and "\n" not in str(e), repr(str(e))  # one-line message
        return type(e).__name__
    return "ok"


def test_seed_model_imports():
    assert outcome(SEED) == "ok"


# ---------------------------------------------------------------- (a) bytes

@st.composite
def mutated_bytes(draw: st.DrawFn) -> bytes:
    data = bytearray(SEED_BYTES)
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]))
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set":
            data[i] = draw(st.sampled_from([0x00, 0x01, 0x7F, 0x80, 0xFF, draw(st.integers(0, 255))]))
        elif kind == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[i:i + draw(st.integers(1, 8))]
        else:
            del data[i:]
    return bytes(data)


@FUZZ
@given(raw=mutated_bytes())
def test_mutated_bytes(raw: bytes, tmp_path: Path) -> None:
    p = tmp_path / "m.onnx"
    p.write_bytes(raw)
    outcome(p)


# ---------------------------------------------------------------- (b) structure

DTYPES = [TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.INT64, TensorProto.INT32, TensorProto.INT8,
          TensorProto.UINT8, TensorProto.FLOAT16, TensorProto.BFLOAT16, TensorProto.STRING, TensorProto.BOOL,
          TensorProto.UNDEFINED, 99, -1]
OPS = ["Gemm", "MatMul", "Add", "Relu", "Clip", "LeakyRelu", "Sigmoid", "Tanh", "HardSwish", "Flatten", "Reshape",
       "Softmax", "Identity", "Constant", "Conv", "MaxPool", "AveragePool", "GlobalAveragePool", "Pad", "Transpose",
       "BatchNormalization", "ConstantOfShape", "ConvTranspose", "", "Relu\n"]
DIMS = st.lists(st.sampled_from([0, 1, 2, 3, 6, 8, -1, 2**31, 2**62]) | st.integers(-3, 20), max_size=4)
FLOATS = st.sampled_from([0.0, 1.0, -1.0, 0.5, 6.0, float("nan"), float("inf"), -float("inf"), 1e38, 3e38, 1e-45])


def _tensor(m: onnx.ModelProto, draw: st.DrawFn) -> onnx.TensorProto:
    pool = list(m.graph.initializer) + [a.t for n in m.graph.node for a in n.attribute if a.HasField("t")]
    return pool[draw(st.integers(0, len(pool) - 1))]


def _node(m: onnx.ModelProto, draw: st.DrawFn) -> onnx.NodeProto:
    return m.graph.node[draw(st.integers(0, len(m.graph.node) - 1))]


def _edit(m: onnx.ModelProto, draw: st.DrawFn) -> None:
    kind = draw(st.sampled_from(["dims", "dtype", "op", "attr_value", "attr_type", "attr_add", "drop_input",
                                 "rename_input", "nan", "raw", "opset", "input_shape", "input_type", "drop_node",
                                 "outputs", "domain", "dup_init"]))
    g = m.graph
    if kind == "dims":
        t = _tensor(m, draw)
        t.dims[:] = draw(DIMS)
    elif kind == "dtype":
        _tensor(m, draw).data_type = draw(st.sampled_from(DTYPES))
    elif kind == "op":
        _node(m, draw).op_type = draw(st.sampled_from(OPS))
    elif kind in ("attr_value", "attr_type", "attr_add"):
        n = _node(m, draw)
        if kind == "attr_add" or not n.attribute:
            name = draw(st.sampled_from(["alpha", "beta", "transA", "transB", "axis", "min", "max", "value_float",
                                         "value_ints", "allowzero", "bogus"]))
            n.attribute.append(helper.make_attribute(name, draw(st.sampled_from([0, 1, 2, -1])) if
                                                     draw(st.booleans()) else draw(FLOATS)))
            return
        a = n.attribute[draw(st.integers(0, len(n.attribute) - 1))]
        if kind == "attr_type":
            a.type = draw(st.sampled_from([AttributeProto.INT, AttributeProto.FLOAT, AttributeProto.STRING,
                                           AttributeProto.TENSOR, AttributeProto.INTS, AttributeProto.GRAPH,
                                           AttributeProto.UNDEFINED]))
        else:
            a.i = draw(st.sampled_from([0, 1, 2, -1, -3, 5, 2**62]))
            a.f = draw(FLOATS)
    elif kind == "drop_input":
        n = _node(m, draw)
        if n.input:
            del n.input[draw(st.integers(0, len(n.input) - 1))]
    elif kind == "rename_input":
        n = _node(m, draw)
        if n.input:
            n.input[draw(st.integers(0, len(n.input) - 1))] = draw(st.sampled_from(["", "x", "nowhere", "lo", "h",
                                                                                   "fc1.bias", "y"]))
    elif kind == "nan":
        t = _tensor(m, draw)
        if t.data_type == TensorProto.FLOAT and t.raw_data and len(t.raw_data) % 4 == 0:
            v = np.frombuffer(t.raw_data, np.float32).copy()
            v[draw(st.integers(0, v.size - 1))] = draw(FLOATS)
            t.raw_data = v.tobytes()
    elif kind == "raw":
        t = _tensor(m, draw)
        cut = draw(st.integers(0, len(t.raw_data)))
        t.raw_data = t.raw_data[:cut] if draw(st.booleans()) else t.raw_data + bytes(cut)
        if draw(st.booleans()):
            t.float_data.extend([1.0] * draw(st.integers(0, 3)))
    elif kind == "opset":
        m.opset_import[0].version = draw(st.sampled_from([0, 1, 6, 10, 13, 22, 23, 99, -5]))
    elif kind == "input_shape":
        dims = g.input[0].type.tensor_type.shape.dim
        d = dims[draw(st.integers(0, len(dims) - 1))]
        if draw(st.booleans()):
            d.dim_param = draw(st.sampled_from(["n", "", "batch"]))
        else:
            d.dim_value = draw(st.sampled_from([0, 1, 7, 8, 2**40, -2]))
    elif kind == "input_type":
        g.input[0].type.tensor_type.elem_type = draw(st.sampled_from(DTYPES))
    elif kind == "drop_node":
        del g.node[draw(st.integers(0, len(g.node) - 1))]
    elif kind == "outputs":
        g.output[0].name = draw(st.sampled_from(["x", "h", "lo", "nowhere", ""]))
    elif kind == "domain":
        _node(m, draw).domain = draw(st.sampled_from(["com.microsoft", "ai.onnx", "ai.onnx.ml"]))
    elif kind == "dup_init":
        g.initializer.append(g.initializer[draw(st.integers(0, len(g.initializer) - 1))])


@st.composite
def mutated_models(draw: st.DrawFn) -> onnx.ModelProto:
    m = onnx.ModelProto()
    m.CopyFrom(SEED)
    for _ in range(draw(st.integers(1, 3))):
        if not m.graph.node:
            break
        _edit(m, draw)
    return m


@FUZZ
@given(model=mutated_models())
def test_mutated_structure(model: onnx.ModelProto) -> None:
    outcome(model)


# ---------------------------------------------------------------- (c) a convolutional seed

def cnn() -> onnx.ModelProto:
    """A valid small CNN touching the spatial ops: Pad -> Conv -> BatchNormalization -> Relu -> MaxPool ->
    depthwise Conv (SAME_UPPER) -> AveragePool -> Conv1x1 -> GlobalAveragePool -> Flatten -> Gemm."""
    rng = np.random.default_rng(1)

    def f32(name: str, *shape: int) -> onnx.TensorProto:
        return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32) * 0.3, name)

    inits = [numpy_helper.from_array(np.asarray([0, 0, 1, 1, 0, 0, 1, 0], np.int64), "pads"),
             f32("c1.w", 4, 2, 3, 3), f32("c1.b", 4),
             numpy_helper.from_array(np.ones(4, np.float32), "bn.s"), f32("bn.b", 4), f32("bn.m", 4),
             numpy_helper.from_array(np.full(4, 0.5, np.float32), "bn.v"),
             f32("dw.w", 4, 1, 3, 3), f32("pw.w", 6, 4, 1, 1), f32("fc.w", 3, 6), f32("fc.b", 3)]
    nodes = [helper.make_node("Pad", ["x", "pads"], ["p"], name="pad", mode="constant"),
             helper.make_node("Conv", ["p", "c1.w", "c1.b"], ["c1"], name="conv1", kernel_shape=[3, 3],
                              pads=[1, 0, 0, 1], strides=[1, 1], dilations=[1, 1], group=1),
             helper.make_node("BatchNormalization", ["c1", "bn.s", "bn.b", "bn.m", "bn.v"], ["n1"], name="bn",
                              epsilon=1e-5),
             helper.make_node("Relu", ["n1"], ["r1"], name="relu"),
             helper.make_node("MaxPool", ["r1"], ["m1"], name="maxpool", kernel_shape=[2, 2], strides=[2, 2],
                              pads=[0, 0, 0, 0], ceil_mode=0),
             helper.make_node("Conv", ["m1", "dw.w"], ["d1"], name="dwconv", auto_pad="SAME_UPPER", group=4),
             helper.make_node("AveragePool", ["d1"], ["a1"], name="avgpool", kernel_shape=[2, 2], strides=[1, 1],
                              count_include_pad=0),
             helper.make_node("Conv", ["a1", "pw.w"], ["c2"], name="pwconv", kernel_shape=[1, 1]),
             helper.make_node("GlobalAveragePool", ["c2"], ["g"], name="gap"),
             helper.make_node("Flatten", ["g"], ["f"], name="flatten", axis=1),
             helper.make_node("Gemm", ["f", "fc.w", "fc.b"], ["y"], name="fc", transB=1)]
    graph = helper.make_graph(nodes, "fuzzcnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                                 ["N", 2, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    return model


CNN_SEED = cnn()
WINDOW_ATTRS = ["kernel_shape", "strides", "dilations", "pads", "group", "auto_pad", "ceil_mode", "storage_order",
                "count_include_pad", "mode", "perm", "epsilon"]
WINDOW_VALUES = st.sampled_from([0, 1, 2, 3, -1, 7, 2**31, 2**62]) | st.integers(-2, 9)


def _cnn_edit(m: onnx.ModelProto, draw: st.DrawFn) -> None:
    """A window attribute set to a hostile value (lengths, ranges, types, strings), else a generic edit."""
    if not draw(st.booleans()):
        _edit(m, draw)
        return
    n = _node(m, draw)
    name = draw(st.sampled_from(WINDOW_ATTRS))
    for i, a in enumerate(n.attribute):
        if a.name == name:
            del n.attribute[i]
            break
    kind = draw(st.sampled_from(["ints", "int", "string", "float"]))
    if kind == "ints":
        value: Any = draw(st.lists(WINDOW_VALUES, max_size=6))
        if not value:
            value = [0]
    elif kind == "int":
        value = draw(WINDOW_VALUES)
    elif kind == "string":
        value = draw(st.sampled_from(["SAME_UPPER", "SAME_LOWER", "VALID", "NOTSET", "reflect", "constant", "x"]))
    else:
        value = draw(FLOATS)
    n.attribute.append(helper.make_attribute(name, value))


def torch_pad_conv() -> onnx.ModelProto:
    """``nn.ZeroPad2d((1, 2, 0, 1)) -> nn.Conv2d(2, 3, 3)`` as torch.onnx.export (opset 17) writes it: the
    pads computed by ConstantOfShape -> Concat -> Reshape -> Slice -> Transpose -> Reshape -> Cast."""
    def const(i: int, value: Any) -> onnx.NodeProto:
        return helper.make_node("Constant", [], [f"k{i}"], name=f"/0/Constant_{i}",
                                value=numpy_helper.from_array(np.asarray(value)))

    nodes = [const(0, np.asarray([4], np.int64)), const(1, np.asarray([1, 2, 0, 1], np.int64)),
             helper.make_node("ConstantOfShape", ["k0"], ["zeros"], name="/0/ConstantOfShape",
                              value=numpy_helper.from_array(np.zeros(1, np.int64))),
             helper.make_node("Concat", ["k1", "zeros"], ["cat"], name="/0/Concat", axis=0),
             const(2, np.asarray([-1, 2], np.int64)),
             helper.make_node("Reshape", ["cat", "k2"], ["pairs"], name="/0/Reshape", allowzero=0),
             const(3, np.asarray([0], np.int64)), const(4, np.asarray([-1], np.int64)),
             const(5, np.asarray([-9223372036854775807], np.int64)), const(6, np.asarray([-1], np.int64)),
             helper.make_node("Slice", ["pairs", "k4", "k5", "k3", "k6"], ["rev"], name="/0/Slice"),
             helper.make_node("Transpose", ["rev"], ["tr"], name="/0/Transpose", perm=[1, 0]),
             const(7, np.asarray([-1], np.int64)),
             helper.make_node("Reshape", ["tr", "k7"], ["flat"], name="/0/Reshape_1", allowzero=0),
             helper.make_node("Cast", ["flat"], ["pads"], name="/0/Cast", to=TensorProto.INT64),
             const(8, np.float32(0.0)),
             helper.make_node("Pad", ["x", "pads", "k8"], ["p"], name="/0/Pad", mode="constant"),
             helper.make_node("Conv", ["p", "1.weight", "1.bias"], ["y"], name="/1/Conv", kernel_shape=[3, 3],
                              pads=[0, 0, 0, 0], strides=[1, 1], dilations=[1, 1], group=1)]
    rng = np.random.default_rng(2)
    inits = [numpy_helper.from_array(rng.standard_normal((3, 2, 3, 3)).astype(np.float32), "1.weight"),
             numpy_helper.from_array(rng.standard_normal(3).astype(np.float32), "1.bias")]
    graph = helper.make_graph(nodes, "main_graph", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                                    ["N", 2, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, 7, 9])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


PAD_SEED = torch_pad_conv()


def test_torch_pad_seed_imports_as_one_padded_conv():
    g = import_onnx(PAD_SEED)
    assert [n.op for n in g.nodes] == ["conv2d"] and g.nodes[0].attrs["padding"] == [[0, 1], [1, 2]]


@st.composite
def mutated_cnns(draw: st.DrawFn) -> onnx.ModelProto:
    m = onnx.ModelProto()
    m.CopyFrom(CNN_SEED if draw(st.booleans()) else PAD_SEED)
    for _ in range(draw(st.integers(1, 3))):
        if not m.graph.node:
            break
        _cnn_edit(m, draw)
    return m


def test_cnn_seed_imports():
    assert outcome(CNN_SEED) == "ok" and outcome(PAD_SEED) == "ok"


@FUZZ
@given(model=mutated_cnns())
def test_mutated_cnn_structure(model: onnx.ModelProto) -> None:
    outcome(model)


# ---------------------------------------------------------------- regressions

def _seed_with(edit: Callable[[onnx.ModelProto], Any]) -> onnx.ModelProto:
    m = onnx.ModelProto()
    m.CopyFrom(SEED)
    edit(m)
    return m


def _attr(m: onnx.ModelProto, node: int, name: str) -> AttributeProto:
    return next(a for a in m.graph.node[node].attribute if a.name == name)


#: Inputs found while writing the checks, with the error now expected. Before them (commit 332fd85)
#: each one either crashed the importer (CRASH: the exception and where), imported silently
#: (ACCEPTED), or was refused only by onnx.checker or by a later, misleading error (BACKSTOP).
REGRESSIONS: dict[str, tuple[Callable[[onnx.ModelProto], Any], str]] = {
    # CRASH ValueError in numpy_helper.to_array (reshape of the stored values to the declared dims)
    "raw_data_short": (lambda m: setattr(m.graph.initializer[0], "raw_data", b"\0" * 5), "InvalidModelError"),
    "dims_lie": (lambda m: m.graph.initializer[0].dims.__setitem__(slice(None), [100, 100]), "InvalidModelError"),
    # CRASH TypeError "only length-1 arrays can be converted" in _op_Clip's float() of a vector bound
    "clip_vector": (lambda m: m.graph.initializer[3].CopyFrom(numpy_helper.from_array(np.zeros(3, np.float32), "lo")),
                    "InvalidModelError"),
    # CRASH ValueError in TensorProto.DataType.Name(99) while wording the input's error
    "input_elem_99": (lambda m: setattr(m.graph.input[0].type.tensor_type, "elem_type", 99), "InvalidModelError"),
    # CRASH KeyError in helper.tensor_dtype_to_np_dtype (numpy_helper.to_array of type 99)
    "init_elem_99": (lambda m: setattr(m.graph.initializer[0], "data_type", 99), "UnsupportedOpError"),
    # CRASH TypeError in re.sub on the graph name: upb returns invalid UTF-8 strings as bytes
    "graph_name_not_utf8": (lambda m: None, "InvalidModelError"),
    # ACCEPTED: NaN weights imported as they were
    "nan_weight": (lambda m: setattr(m.graph.initializer[0], "raw_data",
                                     np.full(48, np.nan, np.float32).tobytes()), "InvalidModelError"),
    # ACCEPTED: alpha 3e38 overflowed the weights to inf
    "alpha_overflow": (lambda m: setattr(_attr(m, 1, "alpha"), "f", 3e38), "InvalidModelError"),
    # ACCEPTED: Softmax axis=5 on a rank-2 tensor was taken for the last axis (5 % 2 == 1)
    "softmax_axis_5": (lambda m: setattr(_attr(m, 8, "axis"), "i", 5), "UnsupportedOpError"),
    # ACCEPTED: opset 99
    "opset_99": (lambda m: setattr(m.opset_import[0], "version", 99), "UnsupportedOpError"),
    # BACKSTOP (onnx.checker): missing input / output, which the converter indexes (IndexError)
    "gemm_one_input": (lambda m: m.graph.node[1].input.__delitem__(slice(1, None)), "InvalidModelError"),
    "relu_no_output": (lambda m: m.graph.node[2].output.__delitem__(slice(None)), "InvalidModelError"),
    # BACKSTOP (onnx.checker): a STRING transB is truthy, so the converter would transpose
    "transB_string": (lambda m: (setattr(_attr(m, 1, "transB"), "type", AttributeProto.STRING),
                                 setattr(_attr(m, 1, "transB"), "s", b"no")), "InvalidModelError"),
    # BACKSTOP (onnx.checker): an UNDEFINED attribute type makes onnx.helper.get_attribute_value raise
    "attr_undefined": (lambda m: setattr(_attr(m, 0, "axis"), "type", AttributeProto.UNDEFINED), "InvalidModelError"),
    # ACCEPTED: an INT8 bias stored as int32_data 1000 was wrapped to -24 by numpy_helper and added
    "int8_out_of_range": (lambda m: m.graph.initializer[2].CopyFrom(
        helper.make_tensor("B2", TensorProto.INT8, [3], [1000, 0, 0])), "InvalidModelError"),
    # BACKSTOP (misleading later error about the next layer's shape): 0 units, a 2**40-wide input
    "zero_units": (lambda m: (m.graph.initializer[0].CopyFrom(numpy_helper.from_array(np.zeros((0, 8), np.float32),
                                                                                       "fc1.weight")),
                              m.graph.initializer[1].CopyFrom(numpy_helper.from_array(np.zeros(0, np.float32),
                                                                                      "fc1.bias"))),
                   "InvalidModelError"),
    "input_width_huge": (lambda m: setattr(m.graph.input[0].type.tensor_type.shape.dim[2], "dim_value", 2**40),
                         "InvalidModelError"),
}


def _bytes_model(name: str) -> bytes:
    """Regressions that need byte-level edits (invalid UTF-8 cannot be set through the Python API)."""
    raw = SEED.SerializeToString()
    if name == "graph_name_not_utf8":
        return raw.replace(b"fuzz", b"\xff\xfezz")
    raise KeyError(name)


@pytest.mark.parametrize("name", sorted(REGRESSIONS))
def test_regression(name: str, tmp_path: Path) -> None:
    edit, expected = REGRESSIONS[name]
    if name == "graph_name_not_utf8":
        p = tmp_path / "m.onnx"
        p.write_bytes(_bytes_model(name))
        assert outcome(p) == expected
        return
    assert outcome(_seed_with(edit)) == expected

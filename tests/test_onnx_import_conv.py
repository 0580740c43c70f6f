"""ONNX import of convolutional models (`edgetrain.interop.onnx.import_conv`).

Two sources of models:

- PyTorch: each model is exported in the test set-up with the legacy (TorchScript) exporter,
  ``torch.onnx.export(model.eval(), x, f, dynamo=False, dynamic_axes=<batch>)``, once, in one
  subprocess (`torch_exports`; this module never imports torch, so it is collected without it), and
  the exported graph is checked to contain the ONNX ops the case means to test. The imported edgetrain model
  takes channels-last data: on random inputs ``x`` (N, C, H, W), its output on ``x.transpose(0, 2,
  3, 1)`` must agree with onnxruntime running the file and with torch on ``x`` (max abs error <=
  1e-4; convolutional outputs compared channels-last).
- onnx.helper: a tf2onnx-style model with an NHWC input transposed to NCHW, auto_pad, and the
  models edgetrain refuses, which must fail through ``edgetrain import onnx`` with exit 2, one
  ``error:`` line naming the node, and a hint.

torch is only in the test extra (to export reference models): the torch cases skip when it is not
importable, and fail in CI (``CI`` set), as missing tools do (tests/conftest.py).
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import edgetrain as et
from edgetrain.errors import EdgetrainError, InvalidModelError, UnsupportedOpError
from edgetrain.interop.onnx.importer import import_onnx

from helpers import assert_user_error, run_cli

TOL = 1e-4


def require_torch() -> None:
    """Skip (or fail in CI) when torch is not installed, like `conftest.require_tool` for tools.

    Only looks for it: torch is imported by the export subprocess (`torch_exports`)."""
    if importlib.util.find_spec("torch") is None:
        reason = "torch is not installed (pip install -e '.[test]')"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the ONNX conv import tests but {reason}")
        pytest.skip(reason)


def ort_run(model_bytes: bytes, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def channels_last(a: np.ndarray) -> np.ndarray:
    """(N, C, *S) -> (N, *S, C); a (N, F) array as it is."""
    return np.ascontiguousarray(np.moveaxis(a, 1, -1)) if a.ndim > 2 else a


# ---------------------------------------------------------------- PyTorch models (exported in a subprocess)

#: name -> (input shape (C, ...) or (F,), export options, ONNX ops the exported graph must contain).
#: The modules themselves are built by `torch_models` (in the export subprocess).
TORCH_CASES: dict[str, tuple[tuple[int, ...], dict[str, Any], list[str]]] = {
    "conv_relu_maxpool_flatten_linear": ((3, 8, 8), {}, ["Conv", "MaxPool", "Flatten", "Gemm"]),
    "depthwise_conv": ((3, 8, 8), {}, ["Conv", "Clip"]),
    "conv1d_stride_padding_dilation": ((2, 16), {}, ["Conv", "Tanh"]),
    # the exporter otherwise fuses BatchNormalization into the Conv before it
    "linear_batchnorm1d_relu": ((12,), {"training": "PRESERVE"}, ["Gemm", "BatchNormalization"]),
    "conv_batchnorm2d": ((2, 8, 8), {"training": "PRESERVE"}, ["Conv", "BatchNormalization"]),
    "conv1d_batchnorm1d": ((3, 16), {"training": "PRESERVE"}, ["Conv", "BatchNormalization"]),
    "view_size0_minus1": ((1, 8, 8), {}, ["Shape", "Gather", "Concat", "Reshape"]),
    "avg_pool_valid_and_same": ((2, 8, 8), {}, ["AveragePool"]),
    "adaptive_avg_pool_squeeze": ((2, 9, 9), {}, ["GlobalAveragePool", "Squeeze"]),
    "global_avg_pool_flatten": ((3, 7, 7), {}, ["GlobalAveragePool", "Flatten"]),
    "global_avg_pool1d_view": ((3, 10), {}, ["GlobalAveragePool", "Reshape"]),
    "zero_pad2d_conv": ((2, 8, 8), {}, ["Pad", "ConstantOfShape", "Conv"]),
    "f_pad_conv": ((2, 6, 7), {}, ["Pad", "Conv"]),
    "conv_output": ((2, 7, 8), {}, ["Conv", "LeakyRelu"]),
}
#: name -> (input shape, what the refusal must say): torch layers edgetrain cannot import.
TORCH_REFUSED: dict[str, tuple[tuple[int, ...], str]] = {
    "maxpool_ceil_mode": ((2, 8, 8), "ceil_mode=1"),
    "maxpool_padding_1": ((2, 8, 8), "edgetrain pools pad 'same'"),
    "avgpool_counts_padding": ((2, 8, 8), "count_include_pad=1"),
    "zero_pad_3_before_3x3": ((2, 8, 8), "at most (kernel - 1) * dilation"),
    # y.size(1) of a conv output is C (ONNX's (N, C, H, W)), not edgetrain's H: named with C = 3
    "reshape_to_n_c_rest": ((2, 8, 7), "to ['N', 3, -1] is not a flatten of (batch, 3, 6, 5)"),
}


def torch_models(torch: Any) -> dict[str, Any]:
    """The modules of `TORCH_CASES` and `TORCH_REFUSED` (called with torch imported, in the subprocess)."""
    nn, F = torch.nn, torch.nn.functional

    class View(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.pool, self.fc = nn.Conv2d(1, 3, 3), nn.MaxPool2d(2), nn.Linear(3 * 3 * 3, 4)

        def forward(self, x: Any) -> Any:
            y = self.pool(self.conv(x).relu())
            return self.fc(y.view(y.size(0), -1))

    class GlobalPool(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.gap, self.fc = nn.Conv2d(2, 6, 3, stride=2), nn.AdaptiveAvgPool2d(1), nn.Linear(6, 3)

        def forward(self, x: Any) -> Any:
            return self.fc(self.gap(self.conv(x)).squeeze(-1).squeeze(-1))

    class GlobalPoolView(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.gap, self.fc = nn.Conv1d(3, 4, 3), nn.AdaptiveAvgPool1d(1), nn.Linear(4, 2)

        def forward(self, x: Any) -> Any:
            y = self.gap(self.conv(x))
            return self.fc(y.view(y.size(0), -1))

    class FPad(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(2, 3, 3, padding=(1, 0))

        def forward(self, x: Any) -> Any:
            # F.pad (left, right, top, bottom) plus the conv's own padding: at most 2 per side in total.
            return self.conv(F.pad(x, (1, 2, 1, 0)))

    class Partial(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(2, 3, 3)

        def forward(self, x: Any) -> Any:
            y = self.conv(x)
            return y.reshape(y.size(0), y.size(1), -1)

    return {
        "conv_relu_maxpool_flatten_linear": nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                                          nn.Flatten(), nn.Linear(4 * 4 * 4, 5)),
        "depthwise_conv": nn.Sequential(nn.Conv2d(3, 6, 3, stride=2, padding=1, groups=3), nn.ReLU6(),
                                        nn.Conv2d(6, 4, 1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 3)),
        "conv1d_stride_padding_dilation": nn.Sequential(nn.Conv1d(2, 4, 5, stride=2, padding=2), nn.ReLU(),
                                                        nn.Conv1d(4, 3, 3, padding=2, dilation=2), nn.Tanh(),
                                                        nn.Flatten(), nn.Linear(3 * 8, 4)),
        "linear_batchnorm1d_relu": nn.Sequential(nn.Linear(12, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3)),
        "conv_batchnorm2d": nn.Sequential(nn.Conv2d(2, 4, 3, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
                                          nn.Conv2d(4, 4, 3, groups=4), nn.BatchNorm2d(4), nn.Flatten(),
                                          nn.Linear(4 * 4 * 4, 3)),
        "conv1d_batchnorm1d": nn.Sequential(nn.Conv1d(3, 5, 3), nn.BatchNorm1d(5), nn.ReLU(), nn.Flatten(),
                                            nn.Linear(5 * 14, 2)),
        "view_size0_minus1": View(),
        # AvgPool2d(3, 1, 1, count_include_pad=False) pads like 'same' and leaves padding out of the mean.
        "avg_pool_valid_and_same": nn.Sequential(nn.Conv2d(2, 3, 3), nn.AvgPool2d(2), nn.Conv2d(3, 4, 1),
                                                 nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False),
                                                 nn.Flatten(), nn.Linear(4 * 3 * 3, 2)),
        "adaptive_avg_pool_squeeze": GlobalPool(),
        "global_avg_pool_flatten": nn.Sequential(nn.Conv2d(3, 5, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                                 nn.Linear(5, 2)),
        "global_avg_pool1d_view": GlobalPoolView(),
        "zero_pad2d_conv": nn.Sequential(nn.ZeroPad2d((1, 2, 0, 1)), nn.Conv2d(2, 3, 3), nn.ReLU(), nn.Flatten(),
                                         nn.Linear(3 * 7 * 9, 2)),
        "f_pad_conv": FPad(),
        "conv_output": nn.Sequential(nn.Conv2d(2, 3, 3, stride=(1, 2), padding=(2, 1), dilation=(2, 1)),
                                     nn.LeakyReLU(0.1)),
        # refused
        "maxpool_ceil_mode": nn.Sequential(nn.Conv2d(2, 3, 3), nn.MaxPool2d(2, ceil_mode=True)),
        "maxpool_padding_1": nn.Sequential(nn.Conv2d(2, 3, 3), nn.MaxPool2d(3, stride=2, padding=1)),
        "avgpool_counts_padding": nn.Sequential(nn.Conv2d(2, 3, 3), nn.AvgPool2d(3, stride=1, padding=1)),
        "zero_pad_3_before_3x3": nn.Sequential(nn.ZeroPad2d(3), nn.Conv2d(2, 3, 3)),
        "reshape_to_n_c_rest": Partial(),
    }


def export_all(out: str) -> None:
    """Export every torch case to ``out``: ``<name>.onnx``, the inputs ``<name>.x.npy`` (N, C, ...) and
    torch's outputs ``<name>.y.npy``; plus the first Linear weight of the flatten case. Run by
    `torch_exports` in a subprocess."""
    import torch

    out_dir = Path(out)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    shapes = {**{k: v[0] for k, v in TORCH_CASES.items()}, **{k: v[0] for k, v in TORCH_REFUSED.items()}}
    for name, model in torch_models(torch).items():
        model.eval()
        for m in model.modules():  # trained-looking statistics, so that a fold that ignored them would disagree
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                c = m.num_features
                with torch.no_grad():
                    m.weight.copy_(torch.from_numpy(rng.uniform(0.5, 2.0, c).astype(np.float32)))
                    m.bias.copy_(torch.from_numpy(rng.normal(0, 0.5, c).astype(np.float32)))
                    m.running_mean.copy_(torch.from_numpy(rng.normal(0, 0.5, c).astype(np.float32)))
                    m.running_var.copy_(torch.from_numpy(rng.uniform(0.3, 2.0, c).astype(np.float32)))
        options = dict(TORCH_CASES[name][1]) if name in TORCH_CASES else {}
        if options.get("training") == "PRESERVE":
            options["training"] = torch.onnx.TrainingMode.PRESERVE
        shape = shapes[name]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, torch.zeros((2, *shape)), str(out_dir / f"{name}.onnx"), dynamo=False,
                              input_names=["input"], output_names=["output"], opset_version=17,
                              dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}}, **options)
        x = rng.standard_normal((7, *shape)).astype(np.float32)
        with torch.no_grad():
            y = model(torch.from_numpy(x)).numpy()
        np.save(out_dir / f"{name}.x.npy", x)
        np.save(out_dir / f"{name}.y.npy", y)
        if name == "conv_relu_maxpool_flatten_linear":
            np.save(out_dir / f"{name}.fc.npy", model[4].weight.detach().numpy())


@pytest.fixture(scope="module")
def torch_exports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory of the torch cases exported by `export_all`, run once in a subprocess."""
    require_torch()
    out = tmp_path_factory.mktemp("torch_exports")
    code = "import sys, test_onnx_import_conv as t; t.export_all(sys.argv[1])"
    r = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True,
                       cwd=Path(__file__).parent)
    assert r.returncode == 0, r.stderr[-3000:]
    return out


@pytest.mark.parametrize("name", sorted(TORCH_CASES))
def test_pytorch_model_imports_and_agrees(name: str, torch_exports: Path) -> None:
    shape, _, ops = TORCH_CASES[name]
    data = (torch_exports / f"{name}.onnx").read_bytes()
    exported = [n.op_type for n in onnx.load_from_string(data).graph.node]
    assert all(op in exported for op in ops), (ops, exported)  # the ONNX ops this case is about
    graph = import_onnx(onnx.load_from_string(data))
    assert not any(n.op in ("batch_norm", "reshape") for n in graph.nodes)  # folded, not imported as nodes
    x = np.load(torch_exports / f"{name}.x.npy")
    ref_ort = channels_last(ort_run(data, x))
    ref_torch = channels_last(np.load(torch_exports / f"{name}.y.npy"))
    if len(shape) > 1:
        assert graph.input_shape == (*shape[1:], shape[0])  # channels-last input
    y = et.predict(graph, channels_last(x))
    assert y.shape == ref_ort.shape or y.shape == ref_ort.reshape(len(x), -1).shape
    err_ort = float(np.abs(y.reshape(ref_ort.shape) - ref_ort).max())
    err_torch = float(np.abs(y.reshape(ref_torch.shape) - ref_torch).max())
    assert err_ort <= TOL and err_torch <= TOL, (err_ort, err_torch)


def test_the_dense_rows_follow_edgetrain_flatten_order(torch_exports: Path) -> None:
    """Without the row permutation the first dense layer would read (C, H, W) features in (H, W, C) order:
    the imported weight is the ONNX weight with its rows moved, not the ONNX weight itself."""
    name = "conv_relu_maxpool_flatten_linear"
    graph = import_onnx(str(torch_exports / f"{name}.onnx"))
    dense = graph.node(next(n.name for n in graph.nodes if n.op == "dense"))
    w = graph.params[dense.params["weight"]].value
    w_onnx = np.load(torch_exports / f"{name}.fc.npy").T  # (C*H*W, out) in (C, H, W) order
    assert not np.allclose(w, w_onnx)
    c, h, wd = 4, 4, 4
    expect = w_onnx.reshape(c, h, wd, -1).transpose(1, 2, 0, 3).reshape(c * h * wd, -1)
    assert np.array_equal(w, expect)


def test_cli_names_the_channels_last_input(tmp_path: Path, torch_exports: Path) -> None:
    path = torch_exports / "conv_relu_maxpool_flatten_linear.onnx"
    r = run_cli("import", "onnx", path, "-o", tmp_path / "m.etm", "--json")
    assert r.returncode == 0, r.stderr
    assert "channels-last (N, 8, 8, 3)" in r.stdout and "(N, 3, 8, 8)" in r.stdout
    loaded = et.load_model(str(tmp_path / "m.etm"))
    assert loaded.input_shape == (8, 8, 3)
    assert "channels-last" in loaded.meta["imported_from"]["input_layout"]


@pytest.mark.parametrize("name", sorted(TORCH_REFUSED))
def test_refused_torch_exports(name: str, torch_exports: Path) -> None:
    """What PyTorch writes for layers edgetrain cannot import is refused, naming the node."""
    needle = TORCH_REFUSED[name][1]
    with pytest.raises(EdgetrainError) as e:
        import_onnx(str(torch_exports / f"{name}.onnx"))
    assert needle in str(e.value) and "node '/" in str(e.value) and e.value.hint, str(e.value)


# ---------------------------------------------------------------- hand-built models

def make(nodes: list[onnx.NodeProto], inits: list[onnx.TensorProto], in_dims: list[Any], out_dims: list[Any],
         opset: int = 17) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_dims)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_dims)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="test")
    model.ir_version = 8
    return model


def tensor(rng: np.random.Generator, name: str, *shape: int, scale: float = 0.3) -> onnx.TensorProto:
    return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)


def ints(name: str, values: list[int]) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(values, np.int64), name)


def tf2onnx_style() -> onnx.ModelProto:
    """An NHWC input transposed to NCHW, a SAME_UPPER strided Conv, back to NHWC, flattened into MatMul + Add."""
    rng = np.random.default_rng(3)
    nodes = [helper.make_node("Transpose", ["x"], ["x_nchw"], name="to_nchw", perm=[0, 3, 1, 2]),
             helper.make_node("Conv", ["x_nchw", "conv/w", "conv/b"], ["c"], name="conv", auto_pad="SAME_UPPER",
                              strides=[2, 2], kernel_shape=[3, 3]),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("Transpose", ["r"], ["r_nhwc"], name="to_nhwc", perm=[0, 2, 3, 1]),
             helper.make_node("Reshape", ["r_nhwc", "flat_shape"], ["f"], name="flatten"),
             helper.make_node("MatMul", ["f", "dense/w"], ["m"], name="dense"),
             helper.make_node("Add", ["m", "dense/b"], ["y"], name="dense_bias")]
    inits = [tensor(rng, "conv/w", 4, 2, 3, 3), tensor(rng, "conv/b", 4), ints("flat_shape", [-1, 4 * 4 * 4]),
             tensor(rng, "dense/w", 64, 3), tensor(rng, "dense/b", 3)]
    return make(nodes, inits, ["N", 7, 8, 2], ["N", 3])


def test_tf2onnx_nhwc_input_with_transpose() -> None:
    m = tf2onnx_style()
    graph = import_onnx(m)
    assert graph.input_shape == (7, 8, 2)  # the ONNX input itself: NHWC, no layout change for the user
    assert [n.op for n in graph.nodes] == ["conv2d", "relu", "flatten", "dense"]
    x = np.random.default_rng(4).standard_normal((6, 7, 8, 2)).astype(np.float32)
    assert np.abs(et.predict(graph, x) - ort_run(m.SerializeToString(), x)).max() <= TOL


def pool_model(op: str, **attrs: Any) -> onnx.ModelProto:
    """Conv (auto_pad as given) -> a pool (as given) on a (N, 2, 7, 9) input; the output is (N, C, H, W)."""
    rng = np.random.default_rng(5)
    conv_pad = attrs.pop("conv_auto_pad", "VALID")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", auto_pad=conv_pad, kernel_shape=[3, 3]),
             helper.make_node(op, ["c"], ["y"], name="pool", **attrs)]
    return make(nodes, [tensor(rng, "w", 3, 2, 3, 3)], ["N", 2, 7, 9], ["N", 3, "h", "w"])


AGREEING: dict[str, Callable[[], onnx.ModelProto]] = {
    "conv_same_upper_maxpool_same_upper": lambda: pool_model("MaxPool", conv_auto_pad="SAME_UPPER",
                                                             kernel_shape=[2, 2], strides=[2, 2],
                                                             auto_pad="SAME_UPPER"),
    "conv_valid_averagepool_valid": lambda: pool_model("AveragePool", kernel_shape=[2, 3], strides=[1, 2],
                                                       auto_pad="VALID"),
    # explicit pads that equal 'same' for this input (7x9 after a SAME conv, kernel 2, stride 2: end pads 1, 1)
    "maxpool_explicit_pads_equal_to_same": lambda: pool_model("MaxPool", conv_auto_pad="SAME_UPPER",
                                                              kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 1, 1]),
    "averagepool_same_counts_input_only": lambda: pool_model("AveragePool", conv_auto_pad="SAME_UPPER",
                                                             kernel_shape=[3, 3], auto_pad="SAME_UPPER",
                                                             count_include_pad=0),
    "global_average_pool_output": lambda: pool_model("GlobalAveragePool"),
    # SAME_UPPER is resolved on the Pad's output, then both paddings become one explicit padding
    "pad_then_same_upper_conv": lambda: make(
        [helper.make_node("Pad", ["x", "pads"], ["p"], name="pad"),
         helper.make_node("Conv", ["p", "w"], ["y"], name="conv", auto_pad="SAME_UPPER", strides=[2, 1],
                          kernel_shape=[3, 3])],
        [tensor(np.random.default_rng(12), "w", 3, 2, 3, 3), ints("pads", [0, 0, 1, 0, 0, 0, 0, 1])],
        ["N", 2, 7, 9], ["N", 3, "h", "w"]),
}


def reduce_mean_model(nhwc: bool, keepdims: int, opset: int = 17) -> onnx.ModelProto:
    """Conv -> ReduceMean over the spatial axes -> (Flatten) -> Gemm; with ``nhwc`` the Conv is wrapped in
    Transposes, its weight transposed in the graph, and the mean is over axes 1, 2 of the NHWC tensor (as
    edgetrain's own export writes them)."""
    rng = np.random.default_rng(15)
    axes = [1, 2] if nhwc else [2, 3]
    nodes = [helper.make_node("Transpose", ["x"], ["xc"], name="to_nchw", perm=[0, 3, 1, 2])] if nhwc else []
    if nhwc:  # the weight kept (kh, kw, C_in, C_out) and transposed in the graph, as edgetrain exports it
        nodes.append(helper.make_node("Transpose", ["w_hwio"], ["w"], name="weight_oihw", perm=[3, 2, 0, 1]))
    nodes.append(helper.make_node("Conv", ["xc" if nhwc else "x", "w"], ["c"], name="conv", kernel_shape=[3, 3]))
    if nhwc:
        nodes.append(helper.make_node("Transpose", ["c"], ["cl"], name="to_nhwc", perm=[0, 2, 3, 1]))
    src = "cl" if nhwc else "c"
    inits = [tensor(rng, "w_hwio", 3, 3, 2, 4) if nhwc else tensor(rng, "w", 4, 2, 3, 3), tensor(rng, "fw", 3, 4),
             tensor(rng, "fb", 3)]
    if opset >= 18:
        nodes.append(helper.make_node("ReduceMean", [src, "axes"], ["m"], name="mean", keepdims=keepdims))
        inits.append(ints("axes", axes))
    else:
        nodes.append(helper.make_node("ReduceMean", [src], ["m"], name="mean", axes=axes, keepdims=keepdims))
    if keepdims:
        nodes.append(helper.make_node("Flatten", ["m"], ["f"], name="flatten"))
    nodes.append(helper.make_node("Gemm", ["f" if keepdims else "m", "fw", "fb"], ["y"], name="fc", transB=1))
    return make(nodes, inits, ["N", 7, 9, 2] if nhwc else ["N", 2, 7, 9], ["N", 3], opset=opset)


@pytest.mark.parametrize("nhwc,keepdims,opset", [(True, 0, 17), (True, 1, 18), (False, 1, 17), (False, 0, 18)])
def test_reduce_mean_over_the_spatial_axes_is_a_global_pool(nhwc: bool, keepdims: int, opset: int) -> None:
    m = reduce_mean_model(nhwc, keepdims, opset)
    graph = import_onnx(m)
    assert "global_avg_pool" in [n.op for n in graph.nodes]
    x = np.random.default_rng(16).standard_normal((5, 7, 9, 2) if nhwc else (5, 2, 7, 9)).astype(np.float32)
    y = et.predict(graph, x if nhwc else channels_last(x))
    assert np.abs(y - ort_run(m.SerializeToString(), x)).max() <= TOL


def test_reduce_mean_over_other_axes_is_refused() -> None:
    m = reduce_mean_model(False, 0)
    next(a for n in m.graph.node if n.op_type == "ReduceMean" for a in n.attribute if a.name == "axes").ints[:] = [1, 2]
    with pytest.raises(UnsupportedOpError, match=r"ReduceMean node 'mean' averages axes \[1, 2\]") as e:
        import_onnx(m)
    assert "GlobalAveragePool" in e.value.hint


@pytest.mark.parametrize("name", sorted(AGREEING))
def test_hand_built_models_agree_with_onnxruntime(name: str) -> None:
    m = AGREEING[name]()
    graph = import_onnx(m)
    x = np.random.default_rng(6).standard_normal((5, 2, 7, 9)).astype(np.float32)
    ref = ort_run(m.SerializeToString(), x)
    y = et.predict(graph, channels_last(x))
    assert np.abs(y - channels_last(ref).reshape(y.shape)).max() <= TOL


def residual_cnn(opset: int) -> onnx.ModelProto:
    """Pad -> Conv -> BatchNormalization -> Relu -> Conv -> Add (residual) -> MaxPool -> GlobalAveragePool
    -> Squeeze -> Gemm, in the spelling of ``opset`` (Pad's pads and Squeeze's axes are attributes in old
    opsets, inputs in new ones; BatchNormalization has ``spatial`` before opset 9)."""
    rng = np.random.default_rng(10)
    bn = [tensor(rng, n, 3) for n in ("s", "b", "m")] + [numpy_helper.from_array(np.full(3, 0.7, np.float32), "v")]
    inits = [tensor(rng, "w", 3, 2, 3, 3), tensor(rng, "cb", 3), tensor(rng, "w2", 3, 3, 3, 3), tensor(rng, "fw", 4, 3),
             tensor(rng, "fb", 4), *bn]
    pads = [0, 0, 1, 1, 0, 0, 1, 0]
    if opset < 11:
        pad = helper.make_node("Pad", ["x"], ["p"], name="pad", mode="constant", pads=pads)
    else:
        pad = helper.make_node("Pad", ["x", "pads"], ["p"], name="pad", mode="constant")
        inits.append(ints("pads", pads))
    if opset < 13:
        squeeze = helper.make_node("Squeeze", ["g"], ["sq"], name="squeeze", axes=[2, 3])
    else:
        squeeze = helper.make_node("Squeeze", ["g", "axes"], ["sq"], name="squeeze")
        inits.append(ints("axes", [2, 3]))
    nodes = [pad,
             helper.make_node("Conv", ["p", "w", "cb"], ["c"], name="conv", kernel_shape=[3, 3], pads=[0, 0, 1, 0]),
             helper.make_node("BatchNormalization", ["c", "s", "b", "m", "v"], ["n"], name="bn", epsilon=1e-3,
                              **({"spatial": 1} if opset < 9 else {})),
             helper.make_node("Relu", ["n"], ["r"], name="relu"),
             helper.make_node("Conv", ["r", "w2"], ["c2"], name="conv2", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["c2", "r"], ["res"], name="residual"),
             helper.make_node("MaxPool", ["res"], ["mp"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("GlobalAveragePool", ["mp"], ["g"], name="gap"), squeeze,
             helper.make_node("Gemm", ["sq", "fw", "fb"], ["y"], name="fc", transB=1)]
    return make(nodes, inits, ["N", 2, 8, 8], ["N", 4], opset=opset)


@pytest.mark.parametrize("opset", [7, 10, 13, 17])
def test_residual_cnn_in_old_and_new_opsets(opset: int) -> None:
    m = residual_cnn(opset)
    graph = import_onnx(m)
    assert [n.op for n in graph.nodes] == ["conv2d", "relu", "conv2d", "add", "max_pool", "global_avg_pool",
                                           "flatten", "dense"]
    assert graph.nodes[0].attrs["padding"] == [[1, 2], [1, 0]]  # Pad's (1, 1) + (1, 0) and the Conv's own
    x = np.random.default_rng(11).standard_normal((5, 2, 8, 8)).astype(np.float32)
    assert np.abs(et.predict(graph, channels_last(x)) - ort_run(m.SerializeToString(), x)).max() <= TOL


def test_imported_cnn_trains_and_round_trips(tmp_path: Path) -> None:
    """The imported graph is an ordinary trainable edgetrain model: one epoch changes every parameter,
    and the saved model file gives the same outputs."""
    graph = import_onnx(residual_cnn(17))
    rng = np.random.default_rng(13)
    x = rng.standard_normal((32, *graph.input_shape)).astype(np.float32)
    before = {k: p.value.copy() for k, p in graph.params.items()}
    history = et.fit(graph, et.Split(x, rng.integers(0, 4, 32)), epochs=1, batch_size=16)
    assert np.isfinite(history.epochs[-1]["loss"])
    assert all(not np.array_equal(before[k], p.value) for k, p in graph.params.items())
    et.save_model(graph, str(tmp_path / "m.etm"))
    loaded = et.load_model(str(tmp_path / "m.etm"))
    assert np.array_equal(et.predict(loaded, x), et.predict(graph, x))


# ---------------------------------------------------------------- refusals

def conv_model(*extra: onnx.NodeProto, conv_attrs: dict[str, Any] | None = None, weight_from: str | None = None,
               extra_inits: list[onnx.TensorProto] | None = None) -> onnx.ModelProto:
    """x (N, 2, 8, 8) -> Conv 'conv' (3x3, 3 channels, output 'c') -> the ``extra`` nodes, the last writing y;
    an extra node whose output is the conv's weight ``weight_from`` runs before it."""
    rng = np.random.default_rng(7)
    weight = weight_from or "w"
    before = [n for n in extra if n.output[0] == weight]
    after = [n for n in extra if n.output[0] != weight]
    conv = helper.make_node("Conv", ["x", weight, "b"], ["c" if after else "y"], name="conv",
                            **(conv_attrs or {"kernel_shape": [3, 3]}))
    inits = [tensor(rng, "w", 3, 2, 3, 3), tensor(rng, "b", 3)] + list(extra_inits or [])
    return make(before + [conv] + after, inits, ["N", 2, 8, 8], ["N", 3, 6, 6])


def view_batch_last_after_conv() -> onnx.ModelProto:
    """Reshape to (-1, N): the batch size lands on a feature axis, so the target is dynamic."""
    nodes = [helper.make_node("Shape", ["x"], ["s"], name="shape"),
             helper.make_node("Gather", ["s", "zero"], ["n"], name="gather", axis=0),
             helper.make_node("Unsqueeze", ["n", "axes0"], ["n1"], name="unsqueeze"),
             helper.make_node("Concat", ["minus1", "n1"], ["target"], name="concat", axis=0),
             helper.make_node("Reshape", ["c", "target"], ["y"], name="dynamic_reshape")]
    return conv_model(*nodes, extra_inits=[numpy_helper.from_array(np.int64(0), "zero"), ints("axes0", [0]),
                                           ints("minus1", [-1])])


def indices_output() -> onnx.ModelProto:
    m = conv_model(helper.make_node("MaxPool", ["c"], ["y", "idx"], name="pool_with_indices", kernel_shape=[2, 2]))
    m.graph.output.append(helper.make_tensor_value_info("idx", TensorProto.INT64, ["N", 3, 3, 3]))
    return m


def pad_model(pads: list[int], then: str = "Conv") -> onnx.ModelProto:
    rng = np.random.default_rng(8)
    nodes = [helper.make_node("Pad", ["x", "pads"], ["p"], name="pad", mode="constant")]
    if then == "Conv":
        nodes.append(helper.make_node("Conv", ["p", "w"], ["y"], name="conv", kernel_shape=[3, 3]))
    else:
        nodes.append(helper.make_node("MaxPool", ["p"], ["y"], name="pool", kernel_shape=[2, 2]))
    return make(nodes, [tensor(rng, "w", 3, 2, 3, 3), ints("pads", pads)], ["N", 2, 8, 8], ["N", 3, "h", "w"])


def flat_output() -> onnx.ModelProto:
    return conv_model(helper.make_node("Flatten", ["c"], ["y"], name="flatten"))


REFUSED: dict[str, tuple[Callable[[], onnx.ModelProto], type, list[str]]] = {
    "maxpool_ceil_mode": (lambda: conv_model(helper.make_node("MaxPool", ["c"], ["y"], name="pool", kernel_shape=[2, 2],
                                                              ceil_mode=1)),
                          UnsupportedOpError, ["MaxPool node 'pool'", "ceil_mode=1"]),
    "conv_same_lower": (lambda: conv_model(conv_attrs={"kernel_shape": [3, 3], "auto_pad": "SAME_LOWER"}),
                        UnsupportedOpError, ["Conv node 'conv'", "SAME_LOWER"]),
    "conv_weight_not_constant": (lambda: conv_model(helper.make_node("Relu", ["x"], ["wx"], name="relu"),
                                                    weight_from="wx"),
                                 InvalidModelError, ["Conv node 'conv'", "weight 'wx' must be an initializer"]),
    "conv_pads_too_large": (lambda: conv_model(conv_attrs={"kernel_shape": [3, 3], "pads": [3, 0, 0, 0]}),
                            UnsupportedOpError, ["Conv node 'conv'", "at most (kernel - 1) * dilation"]),
    "dynamic_reshape": (view_batch_last_after_conv, UnsupportedOpError,
                        ["Reshape node 'dynamic_reshape'", "batch size at axis 1"]),
    "interior_transpose": (lambda: conv_model(helper.make_node("Transpose", ["c"], ["y"], name="swap_hw",
                                                               perm=[0, 1, 3, 2])),
                           UnsupportedOpError, ["Transpose node 'swap_hw'", "NHWC data becomes NCHW"]),
    "maxpool_pads_not_same": (lambda: conv_model(helper.make_node("MaxPool", ["c"], ["y"], name="pool",
                                                                  kernel_shape=[3, 3], strides=[2, 2],
                                                                  pads=[1, 1, 1, 1])),
                              UnsupportedOpError, ["MaxPool node 'pool'", "pads [[1, 1], [1, 1]]"]),
    "averagepool_counts_padding": (lambda: conv_model(helper.make_node("AveragePool", ["c"], ["y"], name="pool",
                                                                       kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                                                                       count_include_pad=1)),
                                   UnsupportedOpError, ["AveragePool node 'pool'", "count_include_pad=1"]),
    "maxpool_indices": (indices_output, UnsupportedOpError, ["MaxPool node 'pool_with_indices'", "Indices"]),
    "maxpool_dilations": (lambda: conv_model(helper.make_node("MaxPool", ["c"], ["y"], name="pool",
                                                              kernel_shape=[2, 2], dilations=[2, 2])),
                          UnsupportedOpError, ["MaxPool node 'pool'", "dilations"]),
    "pad_too_large_for_conv": (lambda: pad_model([0, 0, 3, 0, 0, 0, 0, 0]), UnsupportedOpError,
                               ["Conv node 'conv' with Pad node 'pad'", "at most (kernel - 1) * dilation"]),
    "pad_before_maxpool": (lambda: pad_model([0, 0, 1, 1, 0, 0, 1, 1], then="MaxPool"), UnsupportedOpError,
                           ["MaxPool node 'pool' reads the output of Pad node 'pad'"]),
    "pad_channels": (lambda: pad_model([0, 1, 0, 0, 0, 0, 0, 0]), UnsupportedOpError,
                     ["Pad node 'pad'", "batch or channel axis"]),
    "pad_reflect": (lambda: _set_mode(pad_model([0, 0, 1, 1, 0, 0, 1, 1]), b"reflect"), UnsupportedOpError,
                    ["Pad node 'pad'", "mode 'reflect'"]),
    "flattened_map_as_output": (flat_output, UnsupportedOpError, ["graph output 'y'", "flattened (C, H, W)"]),
    # (N, C, 1, 1) is held as (N, C): a softmax over ONNX's last axis (of size 1) is not one over C
    "softmax_of_pooled_map": (lambda: conv_model(helper.make_node("GlobalAveragePool", ["c"], ["g"], name="gap"),
                                                 helper.make_node("Softmax", ["g"], ["y"], name="softmax", axis=-1)),
                              UnsupportedOpError, ["Softmax node 'softmax'", "not of feature maps"]),
    "softmax_of_feature_map": (lambda: conv_model(helper.make_node("Softmax", ["c"], ["y"], name="softmax",
                                                                   axis=-1)),
                               UnsupportedOpError, ["Softmax node 'softmax'", "not of feature maps"]),
    "conv3d": (lambda: make([helper.make_node("Conv", ["x", "w"], ["y"], name="conv3d")],
                            [tensor(np.random.default_rng(0), "w", 2, 1, 2, 2, 2)], ["N", 1, 4, 4, 4],
                            ["N", 2, 3, 3, 3]),
               UnsupportedOpError, ["Conv node 'conv3d'", "1-D and 2-D convolutions"]),
}


def _set_mode(m: onnx.ModelProto, mode: bytes) -> onnx.ModelProto:
    next(a for a in m.graph.node[0].attribute if a.name == "mode").s = mode
    return m


#: The refusals also run through ``edgetrain import onnx`` (a process each, so not all of them: the
#: CLI prints every EdgetrainError the same way).
THROUGH_CLI = ("maxpool_ceil_mode", "conv_same_lower", "conv_weight_not_constant", "dynamic_reshape",
               "interior_transpose", "pad_too_large_for_conv", "maxpool_indices")


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_naming_the_node(name: str) -> None:
    build, error, needles = REFUSED[name]
    with pytest.raises(error) as e:
        import_onnx(build())
    assert all(n in str(e.value) for n in needles), str(e.value)
    assert e.value.hint and "\n" not in str(e.value)


@pytest.mark.parametrize("name", THROUGH_CLI)
def test_refused_through_the_cli(name: str, tmp_path: Path) -> None:
    build, _, needles = REFUSED[name]
    onnx.save(build(), str(tmp_path / "m.onnx"))
    r = run_cli("import", "onnx", tmp_path / "m.onnx", "-o", tmp_path / "out.etm")
    assert_user_error(r, *needles)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith("hint: "), r.stderr
    assert not (tmp_path / "out.etm").exists()


# ---------------------------------------------------------------- hostile geometry

def _conv(name: str, w: onnx.TensorProto, in_dims: list[Any], *extra: onnx.NodeProto,
          inits: list[onnx.TensorProto] | None = None, **attrs: Any) -> onnx.ModelProto:
    x = extra[-1].output[0] if extra else "x"
    return make([*extra, helper.make_node("Conv", [x, w.name], ["y"], name=name, **attrs)], [w, *(inits or [])],
                in_dims, ["N", "c", "h", "w"])


def hostile() -> dict[str, tuple[onnx.ModelProto, type, str]]:
    """Valid or nearly valid models whose claimed sizes would make edgetrain allocate huge arrays once run:
    each is refused at import, before anything of that size exists."""
    rng = np.random.default_rng(9)
    w2 = tensor(rng, "w", 2, 2, 2, 2)
    return {
        # 'same' padding of a kernel dilated by 10**6: the padded copy of one 8x8 sample would hold 2 * 10**12
        "dilated_same": (_conv("c", w2, ["N", 2, 8, 8], auto_pad="SAME_UPPER", dilations=[10**6, 10**6]),
                         InvalidModelError, "padded input holds"),
        "dilated_pads": (_conv("c", w2, ["N", 2, 8, 8], pads=[999_999] * 4, dilations=[10**6, 10**6]),
                         InvalidModelError, "more than MAX_UNITS"),
        "pool_kernel_huge_same": (make([helper.make_node("Conv", ["x", "w"], ["c"], name="c"),
                                        helper.make_node("MaxPool", ["c"], ["y"], name="p", auto_pad="SAME_UPPER",
                                                         kernel_shape=[10**6, 10**6])],
                                       [tensor(rng, "w", 2, 2, 1, 1)], ["N", 2, 8, 8], ["N", 2, 8, 8]),
                                  InvalidModelError, "MaxPool node 'p': its padded input holds"),
        "conv_output_too_wide": (_conv("c", tensor(rng, "w", 20_000, 2, 1, 1), ["N", 2, 8, 8]), InvalidModelError,
                                 "Conv node 'c' outputs 1280000 values per sample"),
        "pads_2_62": (_conv("c", tensor(rng, "w", 2, 2, 3, 3), ["N", 2, 8, 8],
                            helper.make_node("Pad", ["x", "pads"], ["p"], name="pad"),
                            inits=[ints("pads", [0, 0, 2**62, 0, 0, 0, 0, 0])]),
                      UnsupportedOpError, "Conv node 'c' with Pad node 'pad' pads"),
        "constant_of_shape_2_40": (_conv("c", tensor(rng, "w", 2, 2, 3, 3), ["N", 2, 8, 8],
                                         helper.make_node("Constant", [], ["s"], name="k", value_ints=[2**40]),
                                         helper.make_node("ConstantOfShape", ["s"], ["z"], name="cos"),
                                         helper.make_node("Pad", ["x", "z"], ["p"], name="pad")),
                                   UnsupportedOpError, "ConstantOfShape node 'cos' makes a tensor of shape"),
        "window_larger_than_input": (make([helper.make_node("Conv", ["x", "w"], ["c"], name="c"),
                                           helper.make_node("AveragePool", ["c"], ["y"], name="p",
                                                            kernel_shape=[10**6, 1])],
                                          [tensor(rng, "w", 2, 2, 1, 1)], ["N", 2, 8, 8], ["N", 2, 8, 8]),
                                     InvalidModelError, "AveragePool node 'p'"),
        "stride_over_limit": (_conv("c", w2, ["N", 2, 8, 8], strides=[2**40, 1]), InvalidModelError,
                              "strides [1099511627776, 1] holds 1099511627776"),
        # a pads list of 10**6 entries is refused by its size, before any list is made of it
        "pads_10_6_entries": (_conv("c", tensor(rng, "w", 2, 2, 3, 3), ["N", 2, 8, 8],
                                    helper.make_node("Pad", ["x", "pads"], ["p"], name="pad"),
                                    inits=[numpy_helper.from_array(np.zeros(10**6, np.int64), "pads")]),
                              InvalidModelError, "Pad node 'pad': pads 'pads' is int64 of shape (1000000,)"),
        "pads_float": (_conv("c", tensor(rng, "w", 2, 2, 3, 3), ["N", 2, 8, 8],
                             helper.make_node("Pad", ["x", "pads"], ["p"], name="pad"),
                             inits=[numpy_helper.from_array(np.zeros(8, np.float32), "pads")]),
                       InvalidModelError, "pads 'pads' is float32"),
        "kernel_shape_disagrees": (_conv("c", w2, ["N", 2, 8, 8], kernel_shape=[3, 3]), InvalidModelError,
                                   "kernel_shape [3, 3] disagrees with its weight"),
    }


@pytest.mark.parametrize("name", sorted(hostile()))
def test_hostile_geometry_is_refused_before_allocation(name: str) -> None:
    model, error, needle = hostile()[name]
    with pytest.raises(error) as e:
        import_onnx(model)
    assert needle in str(e.value) and "\n" not in str(e.value), str(e.value)


# ---------------------------------------------------------------- structural checks (import_checks)

def _attr_model(op: str, **attrs: Any) -> onnx.ModelProto:
    """Conv 'conv' -> ``op`` 'n' with ``attrs`` (or the Conv itself with them when ``op`` is Conv)."""
    rng = np.random.default_rng(14)
    if op == "Conv":
        nodes = [helper.make_node("Conv", ["x", "w", "b"], ["y"], name="n", **attrs)]
    else:
        nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv"),
                 helper.make_node(op, ["c"], ["y"], name="n", **attrs)]
    return make(nodes, [tensor(rng, "w", 4, 2, 3, 3), tensor(rng, "b", 4)], ["N", 2, 8, 8], ["N", 4, "h", "w"])


STRUCTURE: dict[str, tuple[Callable[[], onnx.ModelProto], type, str]] = {
    "strides_and_dilations_disagree": (lambda: _attr_model("MaxPool", kernel_shape=[2, 2], strides=[1, 1, 1]),
                                       InvalidModelError, "disagree on the number of spatial axes"),
    "pads_odd": (lambda: _attr_model("MaxPool", kernel_shape=[2, 2], pads=[0, 0, 1]), InvalidModelError,
                 "odd number of entries"),
    "negative_pad": (lambda: _attr_model("Conv", pads=[0, -1, 0, 0]), InvalidModelError, "holds -1"),
    "zero_stride": (lambda: _attr_model("AveragePool", kernel_shape=[2, 2], strides=[0, 1]), InvalidModelError,
                    "holds 0"),
    "auto_pad_unknown": (lambda: _attr_model("Conv", auto_pad="SAME"), InvalidModelError,
                         "auto_pad 'SAME' is not one of"),
    "auto_pad_and_pads": (lambda: _attr_model("Conv", auto_pad="VALID", pads=[1, 1, 1, 1]), InvalidModelError,
                          "sets both auto_pad=VALID and pads"),
    "pool_without_kernel": (lambda: _attr_model("MaxPool", strides=[1, 1]), InvalidModelError, "has no kernel_shape"),
    "group_zero": (lambda: _attr_model("Conv", group=0), InvalidModelError, "group=0"),
    "group_not_dividing": (lambda: _attr_model("Conv", group=3), InvalidModelError,
                           "group=3 does not divide the 4 output channels"),
    "ceil_mode_2": (lambda: _attr_model("MaxPool", kernel_shape=[2, 2], ceil_mode=2), InvalidModelError,
                    "ceil_mode=2; it must be 0 or 1"),
    "axes_attribute_huge": (lambda: make([helper.make_node("GlobalAveragePool", ["x"], ["g"], name="gap"),
                                          helper.make_node("Squeeze", ["g"], ["y"], name="n", axes=[2] * 10**5)],
                                         [], ["N", 2, 8, 8], ["N", 2], opset=11),
                            InvalidModelError, "attribute 'axes' lists 100000 values"),
    "storage_order_1": (lambda: _attr_model("MaxPool", kernel_shape=[2, 2], storage_order=1), UnsupportedOpError,
                        "storage_order=1"),
    "conv_bias_wrong_length": (lambda: _bias_model(5), InvalidModelError, "bias 'b' of Conv node 'n' has shape (5,)"),
    "conv_weight_int": (lambda: _int_weight_model(), InvalidModelError, "element type INT64"),
    "transpose_perm_not_permutation": (lambda: _attr_model("Transpose", perm=[0, 1, 1, 3]), InvalidModelError,
                                       "is not a permutation of the axes"),
    "pad_value_nonzero": (lambda: make([helper.make_node("Pad", ["x"], ["p"], name="n", pads=[0, 0, 1, 1, 0, 0, 1, 1],
                                                         value=1.0),
                                        helper.make_node("Conv", ["p", "w"], ["y"], name="conv")],
                                       [tensor(np.random.default_rng(0), "w", 3, 2, 3, 3)], ["N", 2, 8, 8],
                                       ["N", 3, 8, 8], opset=10),
                          UnsupportedOpError, "Pad node 'n' pads with 1.0"),
    "pad_spelling": (lambda: make([helper.make_node("Pad", ["x"], ["p"], name="n", pads=[0, 0, 1, 1, 0, 0, 1, 1]),
                                   helper.make_node("Conv", ["p", "w"], ["y"], name="conv")],
                                  [tensor(np.random.default_rng(0), "w", 3, 2, 3, 3)], ["N", 2, 8, 8],
                                  ["N", 3, 8, 8]),
                     InvalidModelError, "does not take its pads as opset 17 needs"),
    "constant_of_shape_float": (lambda: make([helper.make_node("Constant", [], ["s"], name="k", value_ints=[8]),
                                              helper.make_node("ConstantOfShape", ["s"], ["z"], name="n",
                                                               value=numpy_helper.from_array(np.zeros(1, np.float32))),
                                              helper.make_node("Pad", ["x", "z"], ["p"], name="pad"),
                                              helper.make_node("Conv", ["p", "w"], ["y"], name="conv")],
                                             [tensor(np.random.default_rng(0), "w", 3, 2, 3, 3)], ["N", 2, 8, 8],
                                             ["N", 3, 6, 6]),
                                UnsupportedOpError, "ConstantOfShape node 'n': its value is FLOAT"),
}


def _bias_model(n: int) -> onnx.ModelProto:
    m = _attr_model("Conv")
    m.graph.initializer[1].CopyFrom(tensor(np.random.default_rng(0), "b", n))
    return m


def _int_weight_model() -> onnx.ModelProto:
    m = _attr_model("Conv")
    m.graph.initializer[0].CopyFrom(numpy_helper.from_array(np.ones((4, 2, 3, 3), np.int64), "w"))
    return m


@pytest.mark.parametrize("name", sorted(STRUCTURE))
def test_structural_checks_name_the_node(name: str) -> None:
    build, error, needle = STRUCTURE[name]
    with pytest.raises(error) as e:
        import_onnx(build())
    assert needle in str(e.value) and e.value.hint and "\n" not in str(e.value), str(e.value)

"""ONNX import: models written by other exporters (PyTorch, Keras converters, edgetrain) into a Graph.

Supported: Gemm (any transB, alpha, beta), MatMul (+ Add of a bias), Relu, Clip as ReLU6 or ReLU,
LeakyRelu (alpha in (0, 1)), Sigmoid, Tanh, HardSwish, Flatten, Reshape that flattens, Softmax over
the last axis, Add of two tensors (residual), Identity, Constant, and initializers that are also
listed as graph inputs (old exporters). Convolutional models (`import_conv`): Conv (1-D, 2-D,
grouped, depthwise), MaxPool, AveragePool, GlobalAveragePool, zero Pad folded into the Conv after
it, and Transpose at the NHWC / NCHW boundary; such a model imports with a **channels-last input**
((N, H, W, C) / (N, L, C) where the ONNX model takes (N, C, H, W) / (N, C, L); see
docs/onnx_import.md), its weights converted so that it computes the same function (including the
rows of the dense layer after a flatten). PyTorch export patterns folded at import time
(`import_patterns`): BatchNormalization after a dense or conv layer (into its weight and bias),
the Shape / Gather / Slice / Concat / Unsqueeze / Squeeze / Cast subgraphs that compute a
Reshape's target, and the small integer constant subgraphs computing Pad's pads (evaluated as
constants; they never become graph nodes). A ``Div(Sub(input, mean), std)`` front of constants
becomes the model's input standardisation (`import_prelude`), as `export onnx` writes it.
Everything else is reported at once, with the node names, before anything is converted.

Before converting, `import_checks.check_model` proves the model well-formed (text, opsets,
stored tensors against their dims, node signatures, the input, layer shapes, size limits): every
bad model ends as one `edgetrain.errors` error, never another exception or a silently wrong graph.

Tensors stored as external data are read only from regular files inside the model file's directory,
reached without symlinks, and only the byte range the tensor needs (`load_onnx_file`).
"""

from __future__ import annotations

import math
import os
import re
import stat
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from ... import limits
from ...errors import InvalidModelError, ModelFileError, UnsupportedOpError
from ...graph import Graph, Node, Param
from ...ops import get_op
from . import import_checks as checks
from . import import_patterns as patterns
from .import_checks import SUPPORTED  # noqa: F401  (re-exported: tests and callers read importer.SUPPORTED)
from .import_conv import Layout, SpatialOps, flatten_order, permute_rows
from .import_prelude import split_input_standardisation

_SIMPLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


def load_onnx_file(path: str | Path) -> onnx.ModelProto:
    """Parse an ONNX file; anything unreadable becomes one `ModelFileError`.

    External data is loaded by `load_external_data` (never by onnx itself, which follows any
    path and symlink a model names)."""
    path = Path(path)
    checks.check_file(path)
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # noqa: BLE001 (protobuf raises DecodeError, RuntimeWarning-wrapped errors, ValueError...)
        raise ModelFileError(
            f"{path} is not a readable ONNX model ({type(e).__name__})",
            hint="the file may be truncated or not an ONNX file; re-export it",
        ) from None
    if not model.HasField("graph") or not model.graph.node or not model.opset_import:
        # Protobuf happily parses many non-ONNX byte strings into a near-empty message.
        raise ModelFileError(
            f"{path} does not contain an ONNX graph", hint="the file may be truncated or not an ONNX file; re-export it"
        )
    # Names and locations must be text, and tensor dims sane, before external data is read by them.
    checks.check_text(model, str(path))
    checks.check_tensor_headers(model)
    load_external_data(model, path.parent, str(path))
    return model


EXTERNAL_HINT = (
    "an external-data file must be a regular file inside the model's directory, named by a relative "
    "path without '..' and reached without symlinks; re-export the model or save it with its data "
    "inside (onnx.save_model(..., save_as_external_data=False))"
)
MAX_TENSOR_BYTES = 2**31 - 1  # what a protobuf bytes field (TensorProto.raw_data) can hold


def _all_tensors(model: onnx.ModelProto) -> Iterator[onnx.TensorProto]:
    """Every TensorProto of the model: initializers, sparse ones, node attributes, subgraphs, functions."""

    def of_graph(g: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
        yield from g.initializer
        for sp in g.sparse_initializer:
            yield from (sp.values, sp.indices)
        for n in g.node:
            yield from of_node(n)

    def of_node(n: onnx.NodeProto) -> Iterator[onnx.TensorProto]:
        for a in n.attribute:
            if a.HasField("t"):
                yield a.t
            yield from a.tensors
            if a.HasField("sparse_tensor"):
                yield from (a.sparse_tensor.values, a.sparse_tensor.indices)
            for sp in a.sparse_tensors:
                yield from (sp.values, sp.indices)
            if a.HasField("g"):
                yield from of_graph(a.g)
            for g in a.graphs:
                yield from of_graph(g)

    yield from of_graph(model.graph)
    for f in model.functions:
        for n in f.node:
            yield from of_node(n)


def _tensor_bytes(t: onnx.TensorProto) -> int | None:
    """Bytes of raw data the tensor's type and shape need; None for types raw data cannot hold."""
    n = math.prod(int(d) for d in t.dims)
    packed4 = {getattr(onnx.TensorProto, k) for k in ("INT4", "UINT4", "FLOAT4E2M1") if hasattr(onnx.TensorProto, k)}
    if t.data_type in packed4:
        return (n + 1) // 2
    if t.data_type in (onnx.TensorProto.UNDEFINED, onnx.TensorProto.STRING):
        return None
    try:
        return n * onnx.helper.tensor_dtype_to_np_dtype(t.data_type).itemsize
    except (KeyError, ValueError, TypeError):
        return None


def load_external_data(model: onnx.ModelProto, base_dir: str | Path | None, label: str = "<model>") -> None:
    """Read every tensor stored as external data into the model, after checking where it points.

    A tensor's ``location`` must be a relative path without ``..`` naming a regular file inside
    ``base_dir`` (the model file's directory), with no symlink on the way (each component is
    checked with lstat, the file is opened with O_NOFOLLOW); ``offset`` and ``length`` must lie in
    the file and the bytes must be exactly what the tensor's type and shape need. Anything else is
    a `ModelFileError`, before a byte is read. ``base_dir=None`` (a model given in memory) refuses
    external data altogether.
    """
    base = os.path.realpath(base_dir) if base_dir is not None else None
    for t in _all_tensors(model):
        if t.data_location != onnx.TensorProto.EXTERNAL:
            continue
        what = f"{label}: tensor {t.name!r}"
        if base is None:
            raise ModelFileError(
                f"{what} keeps its data in an external file; import the model from its file "
                "path so the file can be found and checked",
                hint=EXTERNAL_HINT,
            )
        info = {e.key: e.value for e in t.external_data}
        location = info.get("location", "")
        path = _external_path(location, base, what)
        offset = _nonnegative(info.get("offset", "0"), "offset", what)
        length = _nonnegative(info["length"], "length", what) if "length" in info else None
        need = _tensor_bytes(t)
        if need is None:
            raise ModelFileError(
                f"{what} of type {onnx.TensorProto.DataType.Name(t.data_type)} cannot be stored as external data",
                hint=EXTERNAL_HINT,
            )
        data = _read_range(path, offset, length, need, what, location)
        t.raw_data = data
        del t.external_data[:]
        t.data_location = onnx.TensorProto.DEFAULT


def _nonnegative(text: str, key: str, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise ModelFileError(f"{what}: external-data {key} {text!r} is not a non-negative integer", hint=EXTERNAL_HINT)
    return value


def _external_path(location: str, base: str, what: str) -> str:
    """The checked absolute path of an external-data file (see `load_external_data`)."""
    if not location or "\x00" in location:
        raise ModelFileError(f"{what}: external data has no usable location ({location!r})", hint=EXTERNAL_HINT)
    if os.path.isabs(location) or location.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", location):
        raise ModelFileError(f"{what}: external data location {location!r} is an absolute path", hint=EXTERNAL_HINT)
    parts = [p for p in re.split(r"[/\\]+", location) if p not in ("", ".")]
    if ".." in parts:
        raise ModelFileError(
            f"{what}: external data location {location!r} goes up out of the model's directory", hint=EXTERNAL_HINT
        )
    if not parts:
        raise ModelFileError(f"{what}: external data location {location!r} names no file", hint=EXTERNAL_HINT)
    current = base
    for i, part in enumerate(parts):
        current = os.path.join(current, part)
        try:
            st = os.lstat(current)
        except OSError:
            raise ModelFileError(
                f"{what}: external data file {location!r} does not exist next to the model", hint=EXTERNAL_HINT
            ) from None
        if stat.S_ISLNK(st.st_mode):
            raise ModelFileError(
                f"{what}: external data location {location!r} goes through a symlink ({'/'.join(parts[: i + 1])})",
                hint=EXTERNAL_HINT,
            )
        last = i == len(parts) - 1
        if (not last and not stat.S_ISDIR(st.st_mode)) or (last and not stat.S_ISREG(st.st_mode)):
            raise ModelFileError(
                f"{what}: external data location {location!r} is not a regular file", hint=EXTERNAL_HINT
            )
    real = os.path.realpath(current)
    if os.path.commonpath([real, base]) != base:  # pragma: no cover - excluded by the checks above
        raise ModelFileError(
            f"{what}: external data location {location!r} is outside the model's directory", hint=EXTERNAL_HINT
        )
    return current


def _read_range(path: str, offset: int, length: int | None, need: int, what: str, location: str) -> bytes:
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as e:
        raise ModelFileError(
            f"{what}: cannot open external data {location!r} ({e.strerror})", hint=EXTERNAL_HINT
        ) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ModelFileError(
                f"{what}: external data location {location!r} is not a regular file", hint=EXTERNAL_HINT
            )
        size = st.st_size
        if length is None:
            length = max(size - offset, 0)
        if offset > size or offset + length > size:
            raise ModelFileError(
                f"{what}: external data range (offset {offset}, length {length}) lies beyond the "
                f"end of {location!r} ({size} bytes)",
                hint="the data file may be truncated or belong to another model; re-export it",
            )
        if length != need:
            raise ModelFileError(
                f"{what}: external data holds {length} bytes but the tensor's type and shape need {need}",
                hint="the data file may belong to another model; re-export it",
            )
        if length > MAX_TENSOR_BYTES:
            raise ModelFileError(f"{what}: external data of {length} bytes is too large to import")
        chunks, pos = [], offset
        while pos < offset + length:
            chunk = os.pread(fd, min(1 << 24, offset + length - pos), pos)
            if not chunk:
                raise ModelFileError(f"{what}: external data file {location!r} shrank while being read")
            chunks.append(chunk)
            pos += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def import_onnx(source: str | Path | onnx.ModelProto, name: str | None = None) -> Graph:
    """Convert an ONNX model (file path or ModelProto) into a validated, all-trainable `Graph`."""
    if isinstance(source, onnx.ModelProto):
        model, label = source, "<model>"
        if any(t.data_location == onnx.TensorProto.EXTERNAL for t in _all_tensors(model)):
            model = onnx.ModelProto()
            model.CopyFrom(source)  # the caller's proto is not modified
            load_external_data(model, None)
    else:
        model, label = load_onnx_file(source), str(source)
    try:  # a malformed model is the checks' to report, with their message
        standardisation = split_input_standardisation(model)
    except Exception:  # noqa: BLE001
        standardisation = None
    if standardisation is not None:
        model = standardisation[0]
    checks.check_model(model, label)
    try:
        onnx.checker.check_model(model)
    except Exception as e:  # noqa: BLE001 (the checker raises ValidationError and others; any means invalid)
        raise ModelFileError(
            f"{label} is not a valid ONNX model: {str(e).splitlines()[0]}",
            hint="the file may be truncated or produced by a broken exporter",
        ) from None
    converter = _Converter(model, name or _default_name(model, source))
    graph = converter.run()
    graph.meta["imported_from"] = {
        "file": label,
        "producer": model.producer_name,
        "opset": _opset(model),
        "ir_version": model.ir_version,
    }
    if converter.input_layout_text:  # a convolutional model: the input became channels-last (`import_conv`)
        graph.meta["imported_from"]["input_layout"] = converter.input_layout_text
    if standardisation is not None:
        graph.meta["preprocess"] = _preprocess(*standardisation[1:], channels_last=bool(converter.input_layout_text))
    return graph


def _preprocess(mean: np.ndarray, std: np.ndarray, *, channels_last: bool) -> dict[str, Any]:
    """The model's ``preprocess`` from an imported input standardisation (`import_prelude`), in the
    imported input's layout (a channels-first ONNX input became channels-last, so its statistics
    move the channel axis last too), flattened row-major as a trained model stores them."""
    if channels_last:
        mean, std = np.moveaxis(mean, 0, -1), np.moveaxis(std, 0, -1)
    return {
        "mean": mean.reshape(-1).tolist(),
        "std": std.reshape(-1).tolist(),
        "imported": "input standardisation (Sub, Div) of the ONNX model",
    }


def _default_name(model: onnx.ModelProto, source: Any) -> str:
    if model.graph.name:
        return re.sub(r"\W+", "_", model.graph.name).strip("_") or "model"
    return Path(source).stem if not isinstance(source, onnx.ModelProto) else "model"


def _opset(model: onnx.ModelProto) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def _finite(value: np.ndarray, what: str, label: str) -> np.ndarray:
    """``value`` if every element is finite (a parameter as edgetrain stores it, float32)."""
    if not np.isfinite(value).all():
        raise InvalidModelError(
            f"the {what} of {label!r} is NaN or infinite once scaled and stored as float32",
            hint="the weights (or Gemm alpha/beta) are too large for float32; fix the model",
        )
    return value


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


#: Ops whose output has the layout of their (first) input: they act on each value, or on all alike.
_ELEMENTWISE = ("relu", "relu6", "leaky_relu", "sigmoid", "tanh", "hard_swish", "identity", "add")


class _Converter(SpatialOps):
    def __init__(self, model: onnx.ModelProto, name: str) -> None:
        self.model = model
        self.opset = _opset(model)
        g = model.graph
        self.consts: dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t) for t in g.initializer}
        # Values of shape ops, computed at import time (`import_patterns.evaluate`); they may hold
        # the symbolic batch size, so they are kept apart from the constants weights are read from.
        self.shape_values: dict[str, np.ndarray] = {}
        self.batch: int | None = None  # the input's declared batch size, when it is static
        self.env: dict[str, str] = {}  # ONNX tensor -> edgetrain tensor
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.uses = Counter(t for n in g.node for t in n.input if t) + Counter(o.name for o in g.output)
        self.names: set[str] = set()  # edgetrain tensor names handed out so far
        # ONNX data tensor -> its layout, where that is not the edgetrain tensor's own shape (`import_conv`).
        self.layouts: dict[str, Layout] = {}
        self.pads: dict[str, tuple[str, list[tuple[int, int]], str]] = {}  # Pad nodes waiting for their Conv
        self.input_layout_text = ""
        self.graph = Graph(self._inputs(), name=name)
        self.bias_free: set[str] = set()  # dense nodes (from MatMul) an Add may still give a bias

    # -- inputs -------------------------------------------------------------------------------
    def _inputs(self) -> dict[str, tuple[int, ...]]:
        v, dims = checks.data_input(self.model)  # one float32 input with fixed feature sizes
        first = v.type.tensor_type.shape.dim[0]
        self.batch = int(first.dim_value) if first.HasField("dim_value") and first.dim_value > 0 else None
        name = self._unique(v.name)
        self.env[v.name] = name
        et_dims, layout = self.input_layout(v.name, dims)
        self.shapes[name] = et_dims
        if layout is not None:
            self.layouts[v.name] = layout
            self.input_layout_text = (
                f"channels-last (N, {', '.join(map(str, et_dims))}); the ONNX model takes "
                f"(N, {', '.join(map(str, dims))})"
            )
        return {name: et_dims}

    # -- helpers ------------------------------------------------------------------------------
    def _unique(self, raw: str) -> str:
        base = raw if _SIMPLE.match(raw) else re.sub(r"\W+", "_", raw).strip("_") or "t"
        name, i = base, 1
        while name in self.names:
            i += 1
            name = f"{base}_{i}"
        self.names.add(name)
        return name

    def _node_name(self, node: onnx.NodeProto) -> str:
        out = node.output[0]
        return self._unique(out if _SIMPLE.match(out) else (node.name or node.op_type.lower()))

    def _layout(self, t: str) -> Layout:
        """The layout of ONNX data tensor ``t`` (`import_conv.Layout`): its own shape unless recorded."""
        return self.layouts.get(t) or Layout(self.shapes[self.env[t]])

    def _tensor(self, node: onnx.NodeProto, i: int) -> str:
        return self._data(node, node.input[i])

    def _data(self, node: onnx.NodeProto, t: str) -> str:
        """The edgetrain tensor of ONNX data tensor ``t``, read by ``node``; refused when ``t`` is not data."""
        if t in self.pads and node.op_type != "Conv":
            raise UnsupportedOpError(
                f"{node.op_type} node {checks.show(node.name or node.output[0])} reads the output "
                f"of Pad node {self.pads[t][2]}; edgetrain folds Pad only into the Conv that "
                "reads it",
                hint=checks.PAD_HINT,
            )
        if t in self.shape_values:
            raise UnsupportedOpError(
                f"{node.op_type} node {node.name or node.output[0]!r}: input {t!r} is a shape "
                "computed from other shapes; edgetrain uses such values only as Reshape "
                "targets",
                hint=patterns.DYNAMIC_HINT,
            )
        if t not in self.env:
            kind = "a constant" if t in self.consts else "not produced by any earlier node"
            raise InvalidModelError(
                f"{node.op_type} node {node.name or node.output[0]!r}: input {t!r} is {kind}; "
                "edgetrain needs a data tensor here"
            )
        return self.env[t]

    def _const(self, node: onnx.NodeProto, i: int, what: str) -> np.ndarray:
        t = node.input[i] if i < len(node.input) else ""
        if t not in self.consts:
            raise InvalidModelError(
                f"{node.op_type} node {node.name or node.output[0]!r}: {what} {t!r} must be an initializer or Constant",
                hint="fold constants before exporting",
            )
        return self.consts[t]

    def _int_const(self, node: onnx.NodeProto, i: int, what: str) -> np.ndarray:
        """Input ``i`` of ``node`` as an int64 array: an integer constant or a shape value without the batch size."""
        t = node.input[i] if i < len(node.input) else ""
        v = self._known_int(t)
        label = checks.show(node.name or node.output[0])
        if v is None:
            raise UnsupportedOpError(
                f"{node.op_type} node {label}: {what} {checks.show(t)} is not an integer constant known at import time",
                hint=patterns.FOLD_HINT,
            )
        # Pads and axes list at most two entries per axis: checked before anything is made of their values.
        if v.dtype.kind not in "iu" or v.ndim > 1 or v.size > patterns.MAX_FOLDED:
            raise InvalidModelError(
                f"{node.op_type} node {label}: {what} {checks.show(t)} is {v.dtype} of shape "
                f"{tuple(v.shape)}; it must be a 1-D integer list of at most "
                f"{patterns.MAX_FOLDED} entries",
                hint=checks.REEXPORT_HINT,
            )
        return v

    def _known_int(self, t: str) -> np.ndarray | None:
        """``t``'s value when it is a constant known at import time (not data, not holding the batch size)."""
        if t in self.consts:
            return self.consts[t]
        if t in self.shape_values:
            v = self.shape_values[t]
            if any(x is patterns.BATCH for x in v.flat):
                return None
            return np.asarray([int(x) for x in v.flat], np.int64).reshape(v.shape)
        return None

    def _fold(self, node: onnx.NodeProto) -> None:
        """A node on integer constants only, evaluated now (`import_patterns.fold_constant`)."""
        label = checks.show(node.name or node.output[0])
        values = []
        for t in node.input:
            v = self._known_int(t) if t else None
            if t and v is None:
                raise UnsupportedOpError(
                    f"{node.op_type} node {label}: input {checks.show(t)} is not a constant known at import time",
                    hint=patterns.FOLD_HINT,
                )
            values.append(v)
        a = _attrs(node)
        if node.op_type == "ConstantOfShape" and "value" in a:
            a["value"] = numpy_helper.to_array(a["value"])
        self.consts[node.output[0]] = patterns.fold_constant(node.op_type, values, a, self.opset, label)

    def _add(
        self,
        onnx_node: onnx.NodeProto,
        op: str,
        inputs: list[str],
        params: dict[str, Param] | None = None,
        name: str | None = None,
        attrs: dict[str, Any] | None = None,
    ) -> str:
        name = name or self._node_name(onnx_node)
        for p in (params or {}).values():
            self.graph.add_param(p)
        node = Node(name, op, inputs, {r: p.name for r, p in (params or {}).items()}, dict(attrs or {}))
        label = checks.show(onnx_node.name or onnx_node.output[0])
        try:
            shape = get_op(op).infer_shape(node, [self.shapes[t] for t in inputs], params or {})
        except InvalidModelError as e:  # said of the edgetrain node: say which ONNX node it came from
            raise type(e)(f"{onnx_node.op_type} node {label}: {e}", hint=e.hint) from None
        cap = limits.limit("MAX_UNITS")
        if math.prod(shape) > cap:  # checked before any activation of that size exists
            raise InvalidModelError(
                f"{onnx_node.op_type} node {label} "
                f"outputs {math.prod(shape)} values per sample (shape {shape}), more than "
                f"MAX_UNITS={cap}",
                hint=limits.over_limit_hint("MAX_UNITS"),
            )
        self.shapes[name] = shape
        self.graph.add_node(node)
        self.env[onnx_node.output[0]] = name
        if op in _ELEMENTWISE and onnx_node.input[0] in self.layouts:
            self.layouts[onnx_node.output[0]] = self.layouts[onnx_node.input[0]]
        return name

    _finite_param = staticmethod(lambda value, what, label: _finite(value, what, label))

    # -- conversion ---------------------------------------------------------------------------
    def run(self) -> Graph:
        for node in self.model.graph.node:
            getattr(self, f"_op_{node.op_type}")(node)
        outs = []
        for o in self.model.graph.output:
            if o.name in self.pads:
                raise UnsupportedOpError(
                    f"graph output {checks.show(o.name)} is the output of Pad node "
                    f"{self.pads[o.name][2]}; edgetrain folds Pad only into a Conv after it",
                    hint=checks.PAD_HINT,
                )
            if o.name not in self.env:
                raise InvalidModelError(f"graph output {o.name!r} is a constant or not computed from the input")
            if self._layout(o.name).order is not None:
                raise UnsupportedOpError(
                    f"graph output {checks.show(o.name)} is a flattened (C, H, W) feature map, "
                    "whose values edgetrain holds in (H, W, C) order",
                    hint="end the model "
                    "with a dense layer (its weight rows are reordered on import) or flatten "
                    "a channels-last tensor",
                )
            outs.append(self.env[o.name])
        self.graph.outputs = outs
        self.graph.validate()
        return self.graph

    def _dense(
        self, node: onnx.NodeProto, weight: np.ndarray, bias: np.ndarray | None, w_name: str, transposed: bool
    ) -> str:
        x = self._tensor(node, 0)
        lay = self._layout(node.input[0])
        shape = lay.onnx
        label = node.name or node.output[0]
        if len(shape) != 1 or len(self.shapes[x]) != 1:
            raise InvalidModelError(
                f"{node.op_type} node {label!r} needs a 2-D input (batch, features); its input "
                f"has shape (batch, {', '.join(map(str, shape))})",
                hint="flatten first",
            )
        if weight.ndim != 2:
            raise InvalidModelError(
                f"initializer {w_name!r} of {node.op_type} {label!r} has rank {weight.ndim}; "
                "a weight matrix needs rank 2"
            )
        if weight.shape[0] != shape[0]:
            raise InvalidModelError(
                f"initializer {w_name!r} of {node.op_type} {label!r} has shape "
                f"{tuple(weight.T.shape if transposed else weight.shape)}"
                f"{' (transB=1)' if transposed else ''}, which does not fit an input of width {shape[0]}"
            )
        # PyTorch and edgetrain name weights "<layer>.weight": reuse the layer name when there is one.
        layer = w_name[: -len(".weight")] if w_name.endswith(".weight") else ""
        name = self._unique(layer) if _SIMPLE.match(layer) else self._node_name(node)
        # alpha (Gemm) or a float64 weight beyond float32's range would store inf: refuse instead.
        with np.errstate(over="ignore", invalid="ignore"):
            w32 = weight.astype(np.float32)
        # After a flattened (C, H, W) feature map the rows follow edgetrain's (H, W, C) order.
        w32 = permute_rows(w32, lay.order)
        params = {"weight": Param(f"{name}.weight", _finite(w32, f"weight {w_name!r}", label))}
        if bias is not None:
            params["bias"] = Param(f"{name}.bias", self._bias(bias, weight.shape[1], label))
        return self._add(node, "dense", [x], params, name=name)

    def _bias(self, c: np.ndarray, n_out: int, label: str) -> np.ndarray:
        try:
            with np.errstate(over="ignore", invalid="ignore"):
                b = np.broadcast_to(np.asarray(c, np.float32), (1, n_out)).reshape(n_out).copy()
        except ValueError:
            raise InvalidModelError(
                f"bias of {label!r} has shape {tuple(c.shape)}, which does not fit {n_out} outputs"
            ) from None
        return _finite(b, "bias", label)

    def _op_Gemm(self, node: onnx.NodeProto) -> None:
        a = _attrs(node)
        if a.get("transA", 0):
            raise InvalidModelError(f"Gemm node {node.name!r} uses transA=1; edgetrain needs (batch, features) input")
        b = self._const(node, 1, "weight B")
        w = b.T if a.get("transB", 0) else b
        with np.errstate(over="ignore", invalid="ignore"):  # overflow to inf is refused by _dense / _bias
            w = w * np.float32(a.get("alpha", 1.0))
            c = (
                self._const(node, 2, "bias C") * np.float32(a.get("beta", 1.0))
                if len(node.input) > 2 and node.input[2]
                else None
            )
            w = np.ascontiguousarray(w, np.float32)
        self._dense(node, w, c, node.input[1], bool(a.get("transB", 0)))

    def _op_MatMul(self, node: onnx.NodeProto) -> None:
        name = self._dense(node, self._const(node, 1, "weight"), None, node.input[1], False)
        self.bias_free.add(name)

    def _op_Add(self, node: onnx.NodeProto) -> None:
        a, b = node.input[0], node.input[1]
        if a in self.env and b in self.env:
            xa, xb = self._data(node, a), self._data(node, b)
            if not self._layout(a).same_as(self._layout(b)):
                raise UnsupportedOpError(
                    f"Add node {checks.show(node.name or node.output[0])} adds tensors whose "
                    "values edgetrain holds in different orders (one is a flattened feature "
                    "map, or channels-last)",
                    hint="add tensors of the same kind",
                )
            self._add(node, "add", [xa, xb])
            return
        t, c = (a, b) if a in self.env else (b, a)
        src = self.env.get(t)
        if src in self.bias_free and c in self.consts and self.uses[t] == 1:
            # MatMul + Add(bias) is how many exporters spell a dense layer: fold the bias into it.
            dense = self.graph.node(src)
            n_out = self.shapes[src][0]
            bias = Param(f"{src}.bias", self._bias(self.consts[c], n_out, node.name or node.output[0]))
            self.graph.add_param(bias)
            dense.params["bias"] = bias.name
            self.bias_free.discard(src)
            self.env[node.output[0]] = src
            return
        raise UnsupportedOpError(
            f"Add node {node.name or node.output[0]!r} adds a constant to a tensor that is not "
            "the sole output of a MatMul; only bias adds and residual adds are supported"
        )

    def _op_Relu(self, node: onnx.NodeProto) -> None:
        self._add(node, "relu", [self._tensor(node, 0)])

    def _op_Clip(self, node: onnx.NodeProto) -> None:
        a = _attrs(node)
        lo = a.get("min", -np.inf)
        hi = a.get("max", np.inf)
        # import_checks proved constant bounds scalar (shape () or (1,)); .item() reads either.
        if len(node.input) > 1 and node.input[1]:
            lo = float(self._const(node, 1, "min").item())
        if len(node.input) > 2 and node.input[2]:
            hi = float(self._const(node, 2, "max").item())
        if lo == 0 and hi == 6:
            self._add(node, "relu6", [self._tensor(node, 0)])
        elif lo == 0 and hi == np.inf:
            self._add(node, "relu", [self._tensor(node, 0)])
        else:
            raise UnsupportedOpError(
                f"Clip node {node.name or node.output[0]!r} clips to [{lo}, {hi}]; only "
                "[0, 6] (ReLU6) and [0, inf) (ReLU) are supported"
            )

    def _op_LeakyRelu(self, node: onnx.NodeProto) -> None:
        alpha = float(_attrs(node).get("alpha", 0.01))  # the ONNX default
        if not 0.0 < alpha < 1.0:
            raise UnsupportedOpError(
                f"LeakyRelu node {node.name or node.output[0]!r} has alpha={alpha}; only 0 < alpha < 1 is supported"
            )
        # ONNX stores alpha as float32: keep its shortest decimal spelling (0.01, not 0.009999999776),
        # which rounds to the same float32, so an exported model imports with the attribute it had.
        self._add(node, "leaky_relu", [self._tensor(node, 0)], attrs={"alpha": float(str(np.float32(alpha)))})

    def _op_Sigmoid(self, node: onnx.NodeProto) -> None:
        self._add(node, "sigmoid", [self._tensor(node, 0)])

    def _op_Tanh(self, node: onnx.NodeProto) -> None:
        self._add(node, "tanh", [self._tensor(node, 0)])

    def _op_HardSwish(self, node: onnx.NodeProto) -> None:
        self._add(node, "hard_swish", [self._tensor(node, 0)])

    def _op_Flatten(self, node: onnx.NodeProto) -> None:
        axis = _attrs(node).get("axis", 1)
        if axis != 1:
            raise UnsupportedOpError(f"Flatten node {node.name!r} uses axis={axis}; only axis=1 is supported")
        self._flatten(node)

    def _flatten(self, node: onnx.NodeProto) -> None:
        """A flatten to (batch, features); a channels-last input records the order of its features."""
        x = self._tensor(node, 0)
        lay = self._layout(node.input[0])
        order = flatten_order(self.shapes[x]) if lay.channels_last else lay.order
        self._add(node, "flatten", [x])
        if order is not None:
            self.layouts[node.output[0]] = Layout((math.prod(lay.onnx),), order=order)

    def _op_Reshape(self, node: onnx.NodeProto) -> None:
        if node.input[0] not in self.env:  # a reshape of constants (torch's pads computation)
            self._fold(node)
            return
        self._tensor(node, 0)  # checks the data input exists
        label = node.name or node.output[0]
        allowzero = bool(_attrs(node).get("allowzero", 0))
        if node.input[1] in self.shape_values:  # computed by a shape subgraph (x.view(x.size(0), -1))
            keeps, rest = patterns.reshape_target(self.shape_values[node.input[1]], checks.show(label), self.batch)
            shown = ["N", *rest] if keeps else rest
        else:
            target = [int(v) for v in self._const(node, 1, "shape").ravel()]
            # A leading 0 copies the batch size (unless allowzero=1, where it means an empty axis);
            # so does the input's own batch size when the model was exported with a static one.
            keeps = bool(target) and ((target[0] == 0 and not allowzero) or target[0] == self.batch)
            rest, shown = (target[1:] if keeps else target), target
        onnx_shape = self._layout(node.input[0]).onnx
        width = math.prod(onnx_shape)
        flat = rest in ([-1], [width]) if keeps else rest == [-1, width]
        if not flat:
            why = (
                f"only a flatten to (batch, {width}) is imported"
                if keeps
                else "the first axis of the target is not the batch size, so the batch would be merged into the "
                "features"
            )
            raise UnsupportedOpError(
                f"Reshape node {label!r} to {shown} is not a flatten of "
                f"(batch, {', '.join(map(str, onnx_shape))}): {why}",
                hint="flatten with nn.Flatten() or x.view(x.size(0), -1) (torch.flatten(x, 1)); "
                "other reshapes are not imported",
            )
        self._flatten(node)

    def _op_Softmax(self, node: onnx.NodeProto) -> None:
        x = self._tensor(node, 0)
        lay = self._layout(node.input[0])
        rank = len(lay.onnx) + 1
        axis = _attrs(node).get("axis", -1 if self.opset >= 13 else 1)
        # The ONNX tensor's last axis must be edgetrain's: not so for a feature map (channels-first in
        # ONNX) or a pooled (N, C, 1, 1) held as (N, C).
        same_axes = not lay.channels_last and len(lay.onnx) == len(self.shapes[x])
        if not -rank <= axis < rank or axis % rank != rank - 1 or not same_axes:
            raise UnsupportedOpError(
                f"Softmax node {node.name or node.output[0]!r} over axis {axis} of a rank-{rank} "
                "tensor; only the last axis is supported"
                + ("" if same_axes else " (of (batch, features), not of feature maps)"),
                hint="flatten before the softmax",
            )
        self._add(node, "softmax", [x])
        if node.input[0] in self.layouts:  # a permutation of the features commutes with softmax
            self.layouts[node.output[0]] = Layout((math.prod(lay.onnx),), order=lay.order)

    def _op_Identity(self, node: onnx.NodeProto) -> None:
        if node.input[0] in self.shape_values:
            self.shape_values[node.output[0]] = self.shape_values[node.input[0]]
            return
        if node.input[0] in self.consts:
            self.consts[node.output[0]] = self.consts[node.input[0]]
            return
        self._add(node, "identity", [self._tensor(node, 0)])

    def _op_Constant(self, node: onnx.NodeProto) -> None:
        a = _attrs(node)
        if "value" in a:
            value = numpy_helper.to_array(a["value"])
        elif "value_float" in a or "value_floats" in a:
            value = np.asarray(a.get("value_float", a.get("value_floats")), np.float32)
        elif "value_int" in a or "value_ints" in a:
            value = np.asarray(a.get("value_int", a.get("value_ints")), np.int64)
        else:
            raise UnsupportedOpError(
                f"Constant node {node.name or node.output[0]!r} uses {sorted(a)}; only numeric values are supported"
            )
        self.consts[node.output[0]] = value

    # -- PyTorch export patterns (import_patterns) ----------------------------------------------
    def _shape_op(self, node: onnx.NodeProto) -> None:
        """Shape, Gather, Slice, Concat, Unsqueeze, Squeeze, Cast: evaluated now, never a graph node.

        On integer constants only they are folded (`_fold`); a Squeeze of data is a flatten."""
        label = checks.show(node.name or node.output[0])
        if node.op_type == "Squeeze" and node.input[0] in self.env:
            self._squeeze(node)
            return
        if node.op_type in checks.WEIGHT_OPS and self._weight_subgraph(node):
            return
        if (
            node.op_type != "Shape"
            and all(self._known_int(t) is not None for t in node.input if t)
            and any(self._known_int(t).ndim > 1 for t in node.input if t)  # type: ignore[union-attr]  # known: the line above
        ):
            self._fold(node)  # a tensor of constants, not a shape (torch's pads computation)
            return

        def value(t: str) -> np.ndarray | None:
            if t in self.shape_values:
                return self.shape_values[t]
            if t in self.consts:
                return patterns.as_shape_value(self.consts[t], f"input {checks.show(t)}", label, node.op_type)
            return None

        def dims(t: str) -> tuple[Any, ...] | None:
            if t in self.env:  # the ONNX shape (channels-first for a feature map), not edgetrain's
                return (patterns.BATCH, *self._layout(t).onnx)
            for known in (self.shape_values, self.consts):
                if t in known:
                    return tuple(known[t].shape)
            return None

        operands = patterns.Operands(value, dims, lambda t: t in self.env)
        self.shape_values[node.output[0]] = patterns.evaluate(
            node.op_type, list(node.input), _attrs(node), self.opset, label, operands
        )

    def _weight_subgraph(self, node: onnx.NodeProto) -> bool:
        """Fold ``node`` (`import_patterns.fold_weight`) when it computes a weight from constants;
        False (nothing done) when some input is not a constant or it is shape arithmetic."""
        if not all(t in self.consts for t in node.input):
            return False
        values = [self.consts[t] for t in node.input]
        if not patterns.is_weight_subgraph(values):
            return False
        label = checks.show(node.name or node.output[0])
        self.consts[node.output[0]] = patterns.fold_weight(node.op_type, values, _attrs(node), label)
        return True

    def _op_Mul(self, node: onnx.NodeProto) -> None:
        if self._weight_subgraph(node):
            return
        raise UnsupportedOpError(
            f"Mul node {checks.show(node.name or node.output[0])} multiplies a data tensor; edgetrain "
            "imports Mul only between constants (a masked weight, folded at import time)",
            hint=checks.SUPPORTED_HINT,
        )

    _op_Shape = _op_Gather = _op_Slice = _op_Concat = _op_Unsqueeze = _op_Squeeze = _op_Cast = _shape_op

    def _op_ConstantOfShape(self, node: onnx.NodeProto) -> None:
        self._fold(node)

    def _squeeze(self, node: onnx.NodeProto) -> None:
        """Squeeze of data: (N, C, 1, 1) after GlobalAveragePool (or a 1x1 feature map) to (N, C)."""
        label = checks.show(node.name or node.output[0])
        lay = self._layout(node.input[0])
        rank = len(lay.onnx) + 1
        if self.opset < 13:
            axes = [int(v) for v in _attrs(node).get("axes", [])]
        else:
            axes = (
                [int(v) for v in self._int_const(node, 1, "axes").ravel()]
                if len(node.input) > 1 and node.input[1]
                else []
            )
        if not axes:
            raise UnsupportedOpError(
                f"Squeeze node {label} names no axes, so it would squeeze a batch of 1 too",
                hint="squeeze named axes (x.squeeze(-1)) or flatten (torch.flatten(x, 1))",
            )
        norm = sorted({a + rank if a < 0 else a for a in axes})
        if len(norm) != len(axes) or any(not 1 <= a < rank or lay.onnx[a - 1] != 1 for a in norm):
            raise UnsupportedOpError(
                f"Squeeze node {label} squeezes axes {axes} of a (batch, "
                f"{', '.join(map(str, lay.onnx))}) tensor; edgetrain imports a Squeeze only of "
                "feature axes of size 1",
                hint="flatten with torch.flatten(x, 1)",
            )
        kept = tuple(d for i, d in enumerate(lay.onnx, start=1) if i not in norm)
        if len(kept) == 1:
            self._flatten(node)  # (batch, C): a flatten of the 1-position map
            return
        if lay.channels_last or len(self.shapes[self.env[node.input[0]]]) != 1:
            raise UnsupportedOpError(
                f"Squeeze node {label} leaves a (batch, {', '.join(map(str, kept))}) tensor; "
                "edgetrain imports a Squeeze only down to (batch, features)",
                hint="flatten with torch.flatten(x, 1)",
            )
        self.env[node.output[0]] = self.env[node.input[0]]
        self.layouts[node.output[0]] = Layout(kept, order=lay.order)

    def _op_BatchNormalization(self, node: onnx.NodeProto) -> None:
        """Inference-mode batch normalization folded into the dense or conv layer it follows.

        Only ``dense / conv -> BatchNormalization`` where the layer's output has no other consumer
        (its weight and bias are rewritten) and the four statistics are constants. A conv's output
        channel is the last axis of its edgetrain weight, as a dense layer's is."""
        label = node.name or node.output[0]
        hint = (
            "BatchNormalization is imported only directly after a Gemm or MatMul (+ Add) layer, on its "
            "(batch, channels) output, or after a Conv, on its (batch, channels, ...) output, where it is "
            "folded into the layer's weight and bias"
        )
        if self.opset < 7:
            raise UnsupportedOpError(
                f"BatchNormalization node {label!r} uses opset {self.opset}, where it may run in training mode",
                hint="re-export the model in eval mode with opset 9 or newer",
            )
        a = _attrs(node)
        if a.get("training_mode", 0):
            raise UnsupportedOpError(
                f"BatchNormalization node {label!r} has training_mode=1 (batch statistics)",
                hint="export the model in eval mode (model.eval() before torch.onnx.export)",
            )
        src = self._tensor(node, 0)
        lay = self._layout(node.input[0])
        shape = lay.onnx
        if len(shape) != 1 and not lay.channels_last:
            raise UnsupportedOpError(
                f"BatchNormalization node {label!r} normalizes a tensor of shape "
                f"(batch, {', '.join(map(str, shape))}); only (batch, channels) after a dense "
                "layer or a Conv output is imported",
                hint=hint,
            )
        dense = self.graph.node(src) if src in {n.name for n in self.graph.nodes} else None
        layers = ("dense",) if len(shape) == 1 else ("conv2d", "conv1d")
        if dense is None or dense.op not in layers or self.uses[node.input[0]] != 1:
            what = "the graph input" if dense is None else f"a {dense.op} node ({src!r})"
            why = (
                f"the output of {what}, not of a {'dense layer' if len(shape) == 1 else 'Conv'}"
                if dense is None or dense.op not in layers
                else f"the output of {dense.op} layer {src!r}, which other nodes also read"
            )
            raise UnsupportedOpError(f"BatchNormalization node {label!r} normalizes {why}", hint=hint)
        stats = []
        for i, role in enumerate(("scale", "B", "mean", "var"), start=1):
            t = node.input[i]
            if t not in self.consts:
                raise UnsupportedOpError(
                    f"BatchNormalization node {label!r}: {role} {t!r} is not a constant initializer",
                    hint="export the model in eval mode, with constant folding",
                )
            stats.append(self.consts[t])  # shapes are checked against the layer by fold_batch_norm
        weight = self.graph.params[dense.params["weight"]]
        bias = self.graph.params[dense.params["bias"]] if "bias" in dense.params else None
        scale, beta, mean, var = stats
        w, b = patterns.fold_batch_norm(
            weight.value,
            bias.value if bias is not None else None,
            scale,
            beta,
            mean,
            var,
            float(a.get("epsilon", 1e-5)),
            label,
        )
        with np.errstate(over="ignore", invalid="ignore"):  # overflow to inf is refused by _finite
            w32, b32 = w.astype(np.float32), b.astype(np.float32)
        weight.value = _finite(w32, "weight folded with BatchNormalization", label)
        if bias is None:
            bias = self.graph.add_param(
                Param(f"{src}.bias", _finite(b32, "bias folded with BatchNormalization", label))
            )
            dense.params["bias"] = bias.name
        else:
            bias.value = _finite(b32, "bias folded with BatchNormalization", label)
        self.bias_free.discard(src)  # a later Add of a constant is not a bias of this layer
        self.env[node.output[0]] = src
        if node.input[0] in self.layouts:
            self.layouts[node.output[0]] = self.layouts[node.input[0]]

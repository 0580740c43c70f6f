"""Checks an ONNX model must pass before `importer` converts it.

Contract: every function here either returns or raises an `edgetrain.errors` error with a one-line
message naming the offending node, tensor or field and a hint; nothing else escapes, and nothing
is allocated in proportion to what a tensor *claims* to hold before that claim is checked against
the limits (`edgetrain.limits`) and against the bytes actually stored.

- `ModelFileError`: the file itself (missing, a directory, too large, not protobuf, corrupt text).
- `UnsupportedOpError`: valid ONNX that edgetrain cannot import (an op, attribute, opset, domain or
  element type it does not implement).
- `InvalidModelError`: an inconsistent model (dims that disagree with the stored data, NaN weights,
  a bias that does not fit its layer, a missing input, sizes over a limit).

`onnx.checker` accepts several of these (dims that lie, NaN values, opset 99, unknown element
types), so the importer runs these checks first and the checker only as a backstop.

Order of `check_model`: text -> opsets -> size of the graph -> op types -> tensors -> node
signatures -> the data input -> shape ops -> layer shapes and limits. Each step may rely on the earlier ones
(for example the tensor checks read names the text check has proven to be `str`).
"""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from onnx import AttributeProto, TensorProto

from ... import limits
from ...errors import InvalidModelError, ModelFileError, UnsupportedOpError

#: The newest default-domain opset the importer was written for (ONNX 1.17). Later opsets may
#: change the semantics of an op this module maps, so they are refused rather than guessed at.
MAX_OPSET = 22
#: Operator domains a model may declare. Nodes must still use the default domain: the others are
#: accepted only as declarations (exporters list ai.onnx.ml even when no node uses it).
KNOWN_DOMAINS = ("", "ai.onnx", "ai.onnx.ml", "ai.onnx.preview.training")
DEFAULT_DOMAINS = ("", "ai.onnx")
#: numpy's own limit on array rank; no supported op needs more than a handful of axes.
MAX_RANK = 32
#: Longest name quoted in a message: hostile files may carry megabyte-long names.
_SHOW = 80

REEXPORT_HINT = "the file is corrupt or was written by a broken exporter; re-export the model"
#: Element types of stored tensors the importer needs (weights float32/float64, shapes int64,
#: plus the integer types exporters use for small constants), with their numpy dtype.
ELEMENT_TYPES: dict[int, np.dtype] = {
    TensorProto.FLOAT: np.dtype("<f4"),
    TensorProto.DOUBLE: np.dtype("<f8"),
    TensorProto.INT64: np.dtype("<i8"),
    TensorProto.INT32: np.dtype("<i4"),
    TensorProto.INT8: np.dtype("<i1"),
    TensorProto.UINT8: np.dtype("<u1"),
}
ELEMENT_TYPE_NAMES = "float32, float64, int64, int32, int8 and uint8"
#: The typed field that holds a tensor's values when it has no raw_data (INT8 is widened to int32).
_TYPED_FIELD: dict[int, str] = {
    TensorProto.FLOAT: "float_data",
    TensorProto.DOUBLE: "double_data",
    TensorProto.INT64: "int64_data",
    TensorProto.INT32: "int32_data",
    TensorProto.INT8: "int32_data",
    TensorProto.UINT8: "int32_data",
}
#: The range of the types stored widened in int32_data, checked before they are narrowed.
_NARROW: dict[int, tuple[int, int]] = {TensorProto.INT8: (-128, 127), TensorProto.UINT8: (0, 255)}
_VALUE_FIELDS = ("float_data", "double_data", "int32_data", "int64_data", "uint64_data", "string_data")
FLOAT_TYPES = (TensorProto.FLOAT, TensorProto.DOUBLE)


@dataclass(frozen=True)
class OpSpec:
    """What the importer accepts of one ONNX op: input count range and attributes by type."""

    min_inputs: int
    max_inputs: int
    attrs: dict[str, int]


_I, _F, _T, _IS = AttributeProto.INT, AttributeProto.FLOAT, AttributeProto.TENSOR, AttributeProto.INTS
_S = AttributeProto.STRING
#: ``consumed_inputs`` (opsets 1-5) was an optimisation hint with no effect on the result.
_LEGACY = {"consumed_inputs": AttributeProto.INTS}
#: Ops the importer evaluates as constants (shape arithmetic, `import_patterns.evaluate`); their
#: opset-dependent spellings (attributes or inputs) are checked by `check_shape_ops`.
SHAPE_OPS = ("Cast", "Concat", "Gather", "Shape", "Slice", "Squeeze", "Unsqueeze")
#: Ops on (N, C, H, W) / (N, C, L) tensors (`import_conv`); a model with any of them imports with a
#: channels-last input (see `import_conv` for the layout contract).
SPATIAL_OPS = ("AveragePool", "Conv", "GlobalAveragePool", "MaxPool", "Pad")  # (ReduceMean may be spatial too)
#: The windowed ops' attributes (ONNX spelling): checked by `check_window_attributes`.
_WINDOW = {"auto_pad": _S, "dilations": _IS, "kernel_shape": _IS, "pads": _IS, "strides": _IS}
OPS: dict[str, OpSpec] = {
    # broadcast/axis: the opset < 7 spelling of a broadcast bias add (axis checked in check_attribute_values).
    "Add": OpSpec(2, 2, {"broadcast": _I, "axis": _I, **_LEGACY}),
    "AveragePool": OpSpec(1, 1, {**_WINDOW, "ceil_mode": _I, "count_include_pad": _I}),
    # Folded into the dense layer before it; spatial (opsets 7-8) changes nothing on (N, C) inputs.
    "BatchNormalization": OpSpec(5, 5, {"epsilon": _F, "momentum": _F, "training_mode": _I, "spatial": _I, **_LEGACY}),
    "Cast": OpSpec(1, 1, {"to": _I}),
    "Clip": OpSpec(1, 3, {"min": _F, "max": _F, **_LEGACY}),
    # A shape has at most MAX_RANK entries, so no Concat of shapes needs more pieces.
    "Concat": OpSpec(1, MAX_RANK, {"axis": _I}),
    # Evaluated at import time on small integer constants (the pads subgraph torch writes before Pad).
    "ConstantOfShape": OpSpec(1, 1, {"value": _T}),
    # Folded, with the BatchNormalization and Pad around it, into one conv2d / conv1d.
    "Conv": OpSpec(2, 3, {**_WINDOW, "group": _I}),
    "Constant": OpSpec(
        0,
        0,
        {
            "value": _T,
            "value_float": _F,
            "value_floats": AttributeProto.FLOATS,
            "value_int": _I,
            "value_ints": AttributeProto.INTS,
        },
    ),
    "Flatten": OpSpec(1, 1, {"axis": _I}),
    "Gather": OpSpec(2, 2, {"axis": _I}),
    "Gemm": OpSpec(2, 3, {"alpha": _F, "beta": _F, "transA": _I, "transB": _I, "broadcast": _I}),
    "GlobalAveragePool": OpSpec(1, 1, {}),
    "HardSwish": OpSpec(1, 1, {}),
    "Identity": OpSpec(1, 1, {}),
    "LeakyRelu": OpSpec(1, 1, {"alpha": _F, **_LEGACY}),
    "MatMul": OpSpec(2, 2, {}),
    # Only between constants: a masked weight (weight x mask), folded at import time.
    "Mul": OpSpec(2, 2, {}),
    "MaxPool": OpSpec(1, 1, {**_WINDOW, "ceil_mode": _I, "storage_order": _I}),
    # pads/value are attributes before opset 11 and inputs (with axes from opset 18) from it on.
    "Pad": OpSpec(1, 4, {"mode": _S, "pads": _IS, "value": _F}),
    # The mean over the spatial axes (global average pooling; edgetrain's own export writes it so).
    "ReduceMean": OpSpec(1, 2, {"axes": _IS, "keepdims": _I, "noop_with_empty_axes": _I}),
    "Relu": OpSpec(1, 1, dict(_LEGACY)),
    "Reshape": OpSpec(2, 2, {"allowzero": _I}),
    "Shape": OpSpec(1, 1, {"start": _I, "end": _I}),
    "Sigmoid": OpSpec(1, 1, dict(_LEGACY)),
    # starts/ends/axes are attributes before opset 10 and inputs (with steps) from it on.
    "Slice": OpSpec(1, 5, {"starts": _IS, "ends": _IS, "axes": _IS}),
    "Softmax": OpSpec(1, 1, {"axis": _I}),
    # axes is an attribute before opset 13 and an input from it on.
    "Squeeze": OpSpec(1, 2, {"axes": _IS}),
    "Tanh": OpSpec(1, 1, dict(_LEGACY)),
    "Transpose": OpSpec(1, 1, {"perm": _IS}),
    "Unsqueeze": OpSpec(1, 2, {"axes": _IS}),
}
SUPPORTED = tuple(sorted(OPS))
SUPPORTED_HINT = f"edgetrain imports: {', '.join(SUPPORTED)}"


# ---------------------------------------------------------------- naming things in messages


def show(text: Any) -> str:
    """``text`` quoted for a one-line message: repr (escapes newlines), cut to a readable length."""
    r = repr(text)
    return r if len(r) <= _SHOW else r[: _SHOW - 4] + "...'"


def node_label(node: onnx.NodeProto, i: int) -> str:
    """How messages name node ``i``: its name, else its first output, else its position."""
    return show(node.name or (node.output[0] if node.output else "") or f"#{i}")


def dtype_name(code: int) -> str:
    """The ONNX name of element type ``code``; never raises for codes ONNX does not define."""
    try:
        return TensorProto.DataType.Name(code)
    except ValueError:
        return f"{code} (not an ONNX element type)"


def attr_type_name(code: int) -> str:
    """The name of ONNX attribute type ``code`` (``unknown type <code>`` for an unknown code)."""
    try:
        return AttributeProto.AttributeType.Name(code)
    except ValueError:
        return f"unknown type {code}"


def _elements(dims: Any) -> int:
    """Elements of a shape, in Python integers (no overflow, whatever the dims say)."""
    return math.prod(int(d) for d in dims)


# ---------------------------------------------------------------- the file


def check_file(path: Path) -> None:
    """``path`` is a regular file no larger than MAX_FILE_BYTES (checked before a byte is read)."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        raise ModelFileError(f"ONNX file {path} does not exist") from None
    if stat.S_ISDIR(st.st_mode):
        raise ModelFileError(f"ONNX file {path} is a directory", hint="give the path of the .onnx file itself")
    if not stat.S_ISREG(st.st_mode):
        raise ModelFileError(f"ONNX file {path} is not a regular file", hint="give the path of a saved .onnx file")
    cap = limits.limit("MAX_FILE_BYTES")
    if st.st_size > cap:
        raise ModelFileError(
            f"ONNX file {path} has {st.st_size} bytes, more than MAX_FILE_BYTES={cap}",
            hint=limits.over_limit_hint("MAX_FILE_BYTES"),
        )


def check_text(model: onnx.ModelProto, label: str) -> None:
    """Every string field of the model is valid UTF-8.

    The upb protobuf runtime hands back a proto2 string field that is not valid UTF-8 as `bytes`,
    which would reach the importer's string handling (regular expressions, paths, JSON metadata).
    An op type is reported as unsupported, anything else as an invalid model."""
    stack: list[tuple[Message, str]] = [(model, "model")]
    while stack:
        msg, where = stack.pop()
        for field, value in msg.ListFields():
            if field.type == FieldDescriptor.TYPE_MESSAGE:
                if _repeated(field):
                    stack.extend((m, f"{where}.{field.name}[{i}]") for i, m in enumerate(value))
                else:
                    stack.append((value, f"{where}.{field.name}"))
            elif field.type == FieldDescriptor.TYPE_STRING:
                values = value if _repeated(field) else [value]
                for i, v in enumerate(values):
                    if isinstance(v, str):
                        continue
                    at = f"{where}.{field.name}" + (f"[{i}]" if _repeated(field) else "")
                    if isinstance(msg, onnx.NodeProto) and field.name == "op_type":
                        named = f" ({show(msg.name)})" if isinstance(msg.name, str) and msg.name else ""
                        raise UnsupportedOpError(
                            f"{label}: the op type of {at[: -len('.op_type')]}{named}, "
                            f"{show(bytes(v))}, is not valid UTF-8 text",
                            hint=SUPPORTED_HINT,
                        )
                    raise InvalidModelError(
                        f"{label}: {at} ({show(bytes(v))}) is not valid UTF-8 text", hint=REEXPORT_HINT
                    )


def _repeated(field: FieldDescriptor) -> bool:
    """Whether a protobuf field is repeated (``label`` is gone from protobuf 6; ``is_repeated`` is new)."""
    rep = getattr(field, "is_repeated", None)
    return bool(rep) if rep is not None else field.label == FieldDescriptor.LABEL_REPEATED


# ---------------------------------------------------------------- opsets and graph size


def check_opsets(model: onnx.ModelProto) -> None:
    """One default-domain opset between 1 and MAX_OPSET; only known domains declared."""
    seen: set[str] = set()
    for o in model.opset_import:
        domain = "" if o.domain == "ai.onnx" else o.domain
        if domain in seen:
            raise InvalidModelError(
                f"the model declares the opset of domain {show(o.domain)} twice", hint=REEXPORT_HINT
            )
        seen.add(domain)
        if o.domain not in KNOWN_DOMAINS:
            raise UnsupportedOpError(
                f"the model uses the operator domain {show(o.domain)}, which edgetrain does not import",
                hint=f"export with standard ONNX ops only; {SUPPORTED_HINT}",
            )
        if o.domain in DEFAULT_DOMAINS:
            if o.version > MAX_OPSET:
                raise UnsupportedOpError(
                    f"the model uses ONNX opset {o.version}; edgetrain imports opsets 1 to {MAX_OPSET}",
                    hint=f"re-export the model with opset {MAX_OPSET} or "
                    "older (torch.onnx.export(..., opset_version=17))",
                )
            if o.version < 1:
                raise InvalidModelError(
                    f"the model declares ONNX opset {o.version}; opsets start at 1", hint=REEXPORT_HINT
                )
    if "" not in seen:
        raise InvalidModelError("the model declares no opset for the default ONNX domain", hint=REEXPORT_HINT)


def check_graph_size(model: onnx.ModelProto) -> None:
    """At least one node and one output, at most MAX_LAYERS nodes, unique initializer names."""
    g = model.graph
    cap = limits.limit("MAX_LAYERS")
    if len(g.node) > cap:
        raise InvalidModelError(
            f"the ONNX graph has {len(g.node)} nodes, more than MAX_LAYERS={cap}",
            hint=limits.over_limit_hint("MAX_LAYERS"),
        )
    if not g.node:
        raise InvalidModelError("the ONNX graph has no nodes", hint=REEXPORT_HINT)
    if not g.output:
        raise InvalidModelError("the ONNX graph has no outputs", hint=REEXPORT_HINT)
    names: set[str] = set()
    for t in g.initializer:
        if t.name in names:
            raise InvalidModelError(f"initializer {show(t.name)} is defined twice", hint=REEXPORT_HINT)
        names.add(t.name)


def check_op_types(model: onnx.ModelProto) -> None:
    """Every node is a supported op of the default domain; all the others are listed at once."""
    bad: dict[str, list[str]] = {}
    for i, node in enumerate(model.graph.node):
        op = node.op_type if node.domain in DEFAULT_DOMAINS else f"{node.domain}.{node.op_type}"
        if op not in OPS:
            bad.setdefault(op, []).append(node.name or f"#{i}")
    if bad:

        def names(ns: list[str]) -> str:
            shown = ", ".join(n if n.isprintable() and len(n) <= _SHOW else show(n) for n in ns[:10])
            return shown + (f" and {len(ns) - 10} more" if len(ns) > 10 else "")

        listing = "; ".join(
            f"{op if op.isprintable() and len(op) <= _SHOW else show(op)} (node {names(ns)})"
            for op, ns in sorted(bad.items())[:20]
        )
        more = f"; and {len(bad) - 20} more op types" if len(bad) > 20 else ""
        raise UnsupportedOpError(f"unsupported ONNX ops: {listing}{more}", hint=SUPPORTED_HINT)


# ---------------------------------------------------------------- stored tensors


def stored_tensors(model: onnx.ModelProto) -> Iterator[tuple[onnx.TensorProto, str]]:
    """The tensors the importer decodes, each with how messages name it: initializers and the
    ``value`` of Constant and ConstantOfShape nodes (no other supported op takes a tensor attribute)."""
    for t in model.graph.initializer:
        yield t, f"initializer {show(t.name)}"
    for i, node in enumerate(model.graph.node):
        if node.op_type in ("Constant", "ConstantOfShape"):
            for a in node.attribute:
                if a.name == "value" and a.HasField("t"):
                    yield a.t, f"the value of {node.op_type} node {node_label(node, i)}"


def check_tensor_header(t: onnx.TensorProto, what: str) -> int:
    """A supported element type and sane dims; returns the element count. Reads no values."""
    if t.data_type not in ELEMENT_TYPES:
        raise UnsupportedOpError(
            f"{what} has element type {dtype_name(t.data_type)}; edgetrain imports tensors of {ELEMENT_TYPE_NAMES}",
            hint="convert the weights to float32 before exporting (dequantize a quantized model)",
        )
    if len(t.dims) > MAX_RANK:
        raise InvalidModelError(f"{what} has rank {len(t.dims)}, more than {MAX_RANK}", hint=REEXPORT_HINT)
    if any(d < 0 for d in t.dims):
        raise InvalidModelError(f"{what} has a negative dimension (dims {show(list(t.dims))})", hint=REEXPORT_HINT)
    n = _elements(t.dims)
    cap = limits.limit("MAX_DATA_ELEMENTS")
    if n > cap:
        raise InvalidModelError(
            f"{what} declares {n} elements (dims {show(list(t.dims))}), more than MAX_DATA_ELEMENTS={cap}",
            hint=limits.over_limit_hint("MAX_DATA_ELEMENTS"),
        )
    if t.HasField("segment"):
        raise UnsupportedOpError(
            f"{what} is a segment of a larger tensor, which edgetrain does not import", hint=REEXPORT_HINT
        )
    if t.data_location not in (TensorProto.DEFAULT, TensorProto.EXTERNAL):
        raise InvalidModelError(f"{what} has an unknown data location {t.data_location}", hint=REEXPORT_HINT)
    return n


def check_tensor_headers(model: onnx.ModelProto) -> None:
    """`check_tensor_header` of every stored tensor: run before external data is read."""
    for t, what in stored_tensors(model):
        check_tensor_header(t, what)


def stored_values(t: onnx.TensorProto, what: str) -> np.ndarray:
    """The values a tensor stores, flat, after checking they are exactly what its dims declare.

    A view of raw_data or a copy of the typed field, never larger than the bytes the model holds."""
    n = check_tensor_header(t, what)
    dtype = ELEMENT_TYPES[t.data_type]
    if t.data_location == TensorProto.EXTERNAL:  # the importer loads external data first
        raise ModelFileError(f"{what} still refers to external data", hint=REEXPORT_HINT)
    typed = _TYPED_FIELD[t.data_type]
    stray = [f for f in _VALUE_FIELDS if f != typed and len(getattr(t, f))]
    if t.HasField("raw_data"):
        stray += [typed] if len(getattr(t, typed)) else []
    if stray:
        raise InvalidModelError(
            f"{what} of type {dtype_name(t.data_type)} also stores values in {', '.join(stray)}", hint=REEXPORT_HINT
        )
    shape = show(list(t.dims))
    if t.HasField("raw_data"):
        need = n * dtype.itemsize
        if len(t.raw_data) != need:
            raise InvalidModelError(
                f"{what} holds {len(t.raw_data)} bytes of raw data, but its dims {shape} of "
                f"{dtype_name(t.data_type)} need {need}",
                hint=REEXPORT_HINT,
            )
        return np.frombuffer(t.raw_data, dtype=dtype)
    field = getattr(t, typed)
    if len(field) != n:
        raise InvalidModelError(
            f"{what} stores {len(field)} values, but its dims {shape} declare {n}", hint=REEXPORT_HINT
        )
    narrow = _NARROW.get(t.data_type)
    values = np.asarray(field, dtype=np.int64 if narrow else dtype)
    if narrow and values.size and (values.min() < narrow[0] or values.max() > narrow[1]):
        raise InvalidModelError(
            f"{what} of type {dtype_name(t.data_type)} stores values outside [{narrow[0]}, {narrow[1]}]",
            hint=REEXPORT_HINT,
        )
    return values.astype(dtype)


def check_tensor_values(model: onnx.ModelProto) -> None:
    """Every stored tensor holds exactly its declared elements, and float ones hold no NaN/inf."""
    for t, what in stored_tensors(model):
        values = stored_values(t, what)
        if t.data_type in FLOAT_TYPES and values.size and not np.isfinite(values).all():
            first = int(np.flatnonzero(~np.isfinite(values))[0])
            raise InvalidModelError(
                f"{what} holds NaN or infinite values (first at flat index {first})",
                hint="the exporter wrote non-finite weights; fix or retrain the model",
            )


# ---------------------------------------------------------------- nodes


def check_node_signatures(model: onnx.ModelProto) -> None:
    """Input/output counts and attribute names and types of every node (op types already checked)."""
    for i, node in enumerate(model.graph.node):
        spec, label = OPS[node.op_type], node_label(node, i)
        if not spec.min_inputs <= len(node.input) <= spec.max_inputs:
            want = (
                f"{spec.min_inputs}"
                if spec.min_inputs == spec.max_inputs
                else f"{spec.min_inputs} to {spec.max_inputs}"
            )
            raise InvalidModelError(
                f"{node.op_type} node {label} has {len(node.input)} inputs; ONNX {node.op_type} takes {want}",
                hint=REEXPORT_HINT,
            )
        if any(not t for t in node.input[: spec.min_inputs]):
            raise InvalidModelError(f"{node.op_type} node {label} leaves a required input empty", hint=REEXPORT_HINT)
        if node.op_type == "MaxPool" and len(node.output) == 2 and node.output[1]:
            raise UnsupportedOpError(
                f"MaxPool node {label} also outputs the Indices of its maxima, which edgetrain does not import",
                hint="export the pool without return_indices=True",
            )
        if not (len(node.output) == 1 or (node.op_type == "MaxPool" and len(node.output) == 2)) or not node.output[0]:
            raise InvalidModelError(
                f"{node.op_type} node {label} has {len(node.output)} outputs "
                f"({show(list(node.output))}); edgetrain imports {node.op_type} with one named "
                "output",
                hint=REEXPORT_HINT,
            )
        seen: set[str] = set()
        for a in node.attribute:
            if a.name in seen:
                raise InvalidModelError(
                    f"{node.op_type} node {label} sets attribute {show(a.name)} twice", hint=REEXPORT_HINT
                )
            seen.add(a.name)
            if a.name not in spec.attrs:
                known = ", ".join(sorted(spec.attrs)) or "none"
                raise UnsupportedOpError(
                    f"{node.op_type} node {label} has attribute {show(a.name)}, which edgetrain "
                    f"does not import (it imports {node.op_type} with: {known})",
                    hint=SUPPORTED_HINT,
                )
            if a.ref_attr_name:
                raise UnsupportedOpError(
                    f"{node.op_type} node {label}: attribute {show(a.name)} refers to a function attribute",
                    hint=REEXPORT_HINT,
                )
            if a.type != spec.attrs[a.name]:
                raise InvalidModelError(
                    f"{node.op_type} node {label}: attribute {show(a.name)} has type "
                    f"{attr_type_name(a.type)}; ONNX {node.op_type} needs "
                    f"{attr_type_name(spec.attrs[a.name])}",
                    hint=REEXPORT_HINT,
                )
        check_attribute_values(node, label)


def check_attribute_values(node: onnx.NodeProto, label: str) -> None:
    """Float attributes are finite; flags and the legacy Add axis hold values the importer maps."""
    a = {x.name: x for x in node.attribute}
    for x in a.values():
        # Lists other than a Constant's values name axes or sizes per axis: two per axis at most.
        n = len(x.ints) + len(x.floats)
        if node.op_type != "Constant" and n > 2 * MAX_RANK:
            raise InvalidModelError(
                f"{node.op_type} node {label}: attribute {show(x.name)} lists {n} values, more "
                f"than 2 * {MAX_RANK} (two per axis)",
                hint=REEXPORT_HINT,
            )
        floats = [x.f] if x.type == AttributeProto.FLOAT else list(x.floats) if x.type == AttributeProto.FLOATS else []
        if floats and not np.isfinite(np.asarray(floats, np.float64)).all():
            raise InvalidModelError(
                f"{node.op_type} node {label}: attribute {show(x.name)} is NaN or infinite", hint=REEXPORT_HINT
            )
    for flag in ("transA", "transB", "allowzero", "broadcast", "training_mode", "spatial"):
        if flag in a and a[flag].i not in (0, 1):
            raise InvalidModelError(
                f"{node.op_type} node {label}: attribute {flag}={a[flag].i}; it must be 0 or 1", hint=REEXPORT_HINT
            )
    if node.op_type == "Add" and "axis" in a and a["axis"].i not in (1, -1):
        raise UnsupportedOpError(
            f"Add node {label} broadcasts along axis {a['axis'].i}; only a bias add along "
            "the feature axis (1) is supported"
        )
    if node.op_type == "BatchNormalization" and "training_mode" in a and a["training_mode"].i:
        raise UnsupportedOpError(
            f"BatchNormalization node {label} has training_mode=1 (batch statistics); "
            "edgetrain imports inference-mode batch normalization",
            hint="export the model in eval mode (model.eval() before torch.onnx.export)",
        )
    if node.op_type == "Cast":
        if "to" not in a:
            raise InvalidModelError(f"Cast node {label} has no 'to' attribute; ONNX Cast needs one", hint=REEXPORT_HINT)
        if a["to"].i not in (TensorProto.INT64, TensorProto.INT32):
            raise UnsupportedOpError(
                f"Cast node {label} casts to {dtype_name(a['to'].i)}; edgetrain imports Cast "
                "only of shapes and of a weight's indices, to INT64 or INT32",
                hint=SUPPORTED_HINT,
            )
    if node.op_type == "Constant" and len(a) != 1:
        raise InvalidModelError(
            f"Constant node {label} sets {len(a)} value attributes; ONNX Constant takes exactly one", hint=REEXPORT_HINT
        )
    if node.op_type in ("Conv", "MaxPool", "AveragePool"):
        check_window_attributes(node, label, a)
    elif node.op_type == "Pad":
        mode = a["mode"].s if "mode" in a else b"constant"
        if mode != b"constant":
            raise UnsupportedOpError(
                f"Pad node {label} uses mode {show(_text(mode))}; edgetrain imports only "
                "constant zero padding (folded into the Conv after it)",
                hint=PAD_HINT,
            )
        if "value" in a and a["value"].f != 0.0:
            raise UnsupportedOpError(
                f"Pad node {label} pads with {a['value'].f}; edgetrain imports only zero padding", hint=PAD_HINT
            )
        if "pads" in a and len(a["pads"].ints) > 2 * MAX_RANK:
            raise InvalidModelError(
                f"Pad node {label} has {len(a['pads'].ints)} pads, more than 2 * {MAX_RANK}", hint=REEXPORT_HINT
            )
    elif node.op_type == "Transpose" and "perm" in a:
        perm = list(a["perm"].ints)
        if len(perm) > MAX_RANK or sorted(perm) != list(range(len(perm))):
            raise InvalidModelError(
                f"Transpose node {label}: perm {show(perm)} is not a permutation of the axes", hint=REEXPORT_HINT
            )
    elif node.op_type == "ConstantOfShape" and "value" in a:
        t = a["value"].t
        if _elements(t.dims) != 1 or t.data_type not in (TensorProto.INT64, TensorProto.INT32):
            raise UnsupportedOpError(
                f"ConstantOfShape node {label}: its value is {dtype_name(t.data_type)} of shape "
                f"{show(list(t.dims))}; edgetrain evaluates ConstantOfShape only with one "
                "integer value (a pads computation)",
                hint=SUPPORTED_HINT,
            )


#: What the window attributes of Conv, MaxPool and AveragePool may say (ONNX defaults in brackets).
PAD_HINT = (
    "pad with zeros (nn.ZeroPad2d, F.pad with mode='constant') directly before a Conv, by at most "
    "(kernel - 1) * dilation per side together with the Conv's own padding"
)
AUTO_PADS = (b"NOTSET", b"SAME_UPPER", b"VALID", b"SAME_LOWER")


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def check_window_attributes(node: onnx.NodeProto, label: str, a: dict[str, AttributeProto]) -> None:
    """kernel_shape, strides, dilations and pads of Conv / MaxPool / AveragePool: lengths that agree
    (one per spatial axis, pads two), sizes in range (kernel, stride, dilation >= 1, pads >= 0, none
    above MAX_UNITS, so no geometry computed from them is huge); the auto_pad, ceil_mode,
    storage_order and count_include_pad values edgetrain maps. SAME_LOWER, ceil_mode=1,
    storage_order=1 and pool dilations other than 1 are valid ONNX that edgetrain does not import."""
    op, cap = node.op_type, limits.limit("MAX_UNITS")
    lengths: dict[str, int] = {}
    for name, minimum in (("kernel_shape", 1), ("strides", 1), ("dilations", 1), ("pads", 0)):
        if name not in a:
            continue
        values = list(a[name].ints)
        if not values or len(values) > 2 * MAX_RANK:
            raise InvalidModelError(
                f"{op} node {label}: attribute {name} has {len(values)} entries", hint=REEXPORT_HINT
            )
        if any(v < minimum or v > cap for v in values):
            bad = next(v for v in values if v < minimum or v > cap)
            raise InvalidModelError(
                f"{op} node {label}: {name} {show(values)} holds {bad}; each must be between "
                f"{minimum} and MAX_UNITS={cap}",
                hint=REEXPORT_HINT,
            )
        lengths[name] = len(values) // 2 if name == "pads" else len(values)
        if name == "pads" and len(values) % 2:
            raise InvalidModelError(
                f"{op} node {label}: pads {show(values)} has an odd number of entries; ONNX pads "
                "list a begin and an end per spatial axis",
                hint=REEXPORT_HINT,
            )
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{k} for {v} axes" for k, v in lengths.items())
        raise InvalidModelError(
            f"{op} node {label}: its attributes disagree on the number of spatial axes ({listed})", hint=REEXPORT_HINT
        )
    if op != "Conv" and "kernel_shape" not in a:
        raise InvalidModelError(f"{op} node {label} has no kernel_shape; ONNX {op} needs one", hint=REEXPORT_HINT)
    auto = a["auto_pad"].s if "auto_pad" in a else b"NOTSET"
    if auto not in AUTO_PADS:
        raise InvalidModelError(
            f"{op} node {label}: auto_pad {show(_text(auto))} is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID",
            hint=REEXPORT_HINT,
        )
    if auto == b"SAME_LOWER":
        raise UnsupportedOpError(
            f"{op} node {label} uses auto_pad=SAME_LOWER (the extra padding first), which edgetrain does not import",
            hint="use SAME_UPPER (TensorFlow's 'same') or explicit pads",
        )
    if auto != b"NOTSET" and "pads" in a and any(a["pads"].ints):
        raise InvalidModelError(
            f"{op} node {label} sets both auto_pad={_text(auto)} and pads; ONNX allows one", hint=REEXPORT_HINT
        )
    if "group" in a and not 1 <= a["group"].i <= cap:
        raise InvalidModelError(
            f"{op} node {label}: group={a['group'].i}; it must be between 1 and the channels", hint=REEXPORT_HINT
        )
    for flag in ("ceil_mode", "storage_order", "count_include_pad"):
        if flag in a and a[flag].i not in (0, 1):
            raise InvalidModelError(
                f"{op} node {label}: attribute {flag}={a[flag].i}; it must be 0 or 1", hint=REEXPORT_HINT
            )
    if "ceil_mode" in a and a["ceil_mode"].i:
        raise UnsupportedOpError(
            f"{op} node {label} uses ceil_mode=1 (a partial window at the end), which edgetrain does not import",
            hint="export the pool with ceil_mode=False",
        )
    if "storage_order" in a and a["storage_order"].i:
        raise UnsupportedOpError(
            f"{op} node {label} uses storage_order=1 (column-major indices), which edgetrain does not import",
            hint="export the pool without indices",
        )
    if op != "Conv" and "dilations" in a and any(d != 1 for d in a["dilations"].ints):
        raise UnsupportedOpError(
            f"{op} node {label} uses dilations {show(list(a['dilations'].ints))}; edgetrain "
            "imports pools without dilation",
            hint="export the pool with dilation=1",
        )


# ---------------------------------------------------------------- the data input


def data_input(model: onnx.ModelProto) -> tuple[onnx.ValueInfoProto, tuple[int, ...]]:
    """The one graph input that is not an initializer, and its feature dims (after the batch axis).

    The batch axis may be symbolic; every other axis needs a fixed positive size, and the features
    (their product) may not exceed MAX_UNITS."""
    consts = {t.name for t in model.graph.initializer}
    real = [v for v in model.graph.input if v.name not in consts]
    if len(real) != 1:
        listed = ", ".join(show(v.name) for v in real[:10]) or "none"
        raise InvalidModelError(f"the ONNX graph has {len(real)} data inputs ({listed}); edgetrain needs exactly one")
    v = real[0]
    if v.type.WhichOneof("value") != "tensor_type":
        raise InvalidModelError(f"input {show(v.name)} is not a tensor; edgetrain needs a float32 tensor")
    tt = v.type.tensor_type
    if tt.elem_type != TensorProto.FLOAT:
        raise InvalidModelError(
            f"input {show(v.name)} has element type {dtype_name(tt.elem_type)}; edgetrain needs float32"
        )
    if not tt.HasField("shape") or len(tt.shape.dim) < 2:
        rank = len(tt.shape.dim) if tt.HasField("shape") else "unknown"
        raise InvalidModelError(f"input {show(v.name)} has rank {rank}; edgetrain needs (batch, features...)")
    if len(tt.shape.dim) > MAX_RANK:
        raise InvalidModelError(f"input {show(v.name)} has rank {len(tt.shape.dim)}, more than {MAX_RANK}")
    dims = []
    for axis, d in enumerate(tt.shape.dim[1:], start=1):
        if not d.HasField("dim_value") or d.dim_value <= 0:
            what = d.dim_param or ("0" if d.HasField("dim_value") and d.dim_value == 0 else "unknown")
            raise InvalidModelError(
                f"input {show(v.name)} has a dynamic size {show(what)} at axis {axis}; only "
                "the batch axis (0) may be dynamic",
                hint="re-export the model with fixed feature sizes",
            )
        dims.append(int(d.dim_value))
    cap = limits.limit("MAX_UNITS")
    if _elements(dims) > cap:
        raise InvalidModelError(
            f"input {show(v.name)} has {_elements(dims)} features (shape {tuple(dims)}), more than MAX_UNITS={cap}",
            hint=limits.over_limit_hint("MAX_UNITS"),
        )
    return v, tuple(dims)


def check_inputs(model: onnx.ModelProto) -> None:
    """See `data_input`."""
    data_input(model)


# ---------------------------------------------------------------- layers


@dataclass(frozen=True)
class _Const:
    dims: tuple[int, ...]
    dtype: int


def _constants(model: onnx.ModelProto) -> dict[str, _Const]:
    """Shape and element type of every tensor known before the input arrives: initializers,
    Constant outputs and Identity copies of them (what the converter treats as constants)."""
    out = {t.name: _Const(tuple(t.dims), t.data_type) for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant" and len(node.attribute) == 1:
            a = node.attribute[0]
            if a.name == "value":
                out[node.output[0]] = _Const(tuple(a.t.dims), a.t.data_type)
            elif a.name in ("value_float", "value_int"):
                out[node.output[0]] = _Const((), TensorProto.FLOAT if a.name == "value_float" else TensorProto.INT64)
            else:
                n = len(a.floats) if a.name == "value_floats" else len(a.ints)
                out[node.output[0]] = _Const((n,), TensorProto.FLOAT if a.name == "value_floats" else TensorProto.INT64)
        elif node.op_type == "Identity" and node.input[0] in out:
            out[node.output[0]] = out[node.input[0]]
        elif is_weight_node(node, out) and (result := _weight_node_result(node, out)) is not None:
            out[node.output[0]] = result
    return out


#: Ops the importer folds when they compute a weight from constants (`is_weight_node`): the subgraph
#: an exporter writes for a weight stored compactly (a clustered weight: ``Cast`` of uint8 indices,
#: ``Gather`` from the codebook; a masked one: ``Mul`` by the mask).
WEIGHT_OPS = ("Cast", "Gather", "Mul")


def computes_weight(inputs: Iterable[tuple[bool, int]]) -> bool:
    """Whether a `WEIGHT_OPS` node whose inputs are all constants, given as (holds values no shape
    holds: float or uint8, element count) pairs, computes a weight rather than shape arithmetic:
    some input is such a tensor or is larger than any shape or pads list (2 x MAX_RANK values)."""
    return any(not_shape or n > 2 * MAX_RANK for not_shape, n in inputs)


def is_weight_node(node: onnx.NodeProto, consts: dict[str, _Const]) -> bool:
    """Whether ``node`` computes a weight from the constants ``consts`` (`computes_weight`)."""
    if node.op_type not in WEIGHT_OPS or not node.input or not all(t in consts for t in node.input):
        return False
    return computes_weight(
        (consts[t].dtype in (*FLOAT_TYPES, TensorProto.UINT8), _elements(consts[t].dims)) for t in node.input
    )


def _weight_node_result(node: onnx.NodeProto, consts: dict[str, _Const]) -> _Const | None:
    """The shape and type of a weight node's result, as far as they can be known without values;
    None when its inputs do not fit (the converter, which folds the values, says why)."""
    ins = [consts[t] for t in node.input]
    attrs = {a.name: a.i for a in node.attribute if a.type == AttributeProto.INT}
    if node.op_type == "Cast":
        return _Const(ins[0].dims, attrs.get("to", ins[0].dtype))
    if node.op_type == "Gather":
        if len(ins) != 2 or not ins[0].dims or not -len(ins[0].dims) <= attrs.get("axis", 0) < len(ins[0].dims):
            return None
        axis = attrs.get("axis", 0) % len(ins[0].dims)
        return _Const((*ins[0].dims[:axis], *ins[1].dims, *ins[0].dims[axis + 1 :]), ins[0].dtype)
    try:
        return _Const(tuple(np.broadcast_shapes(*(c.dims for c in ins))), ins[0].dtype)
    except ValueError:
        return None


def check_layers(model: onnx.ModelProto) -> None:
    """Dense and conv weights and biases, Clip bounds and Reshape shapes that are constants have the
    shape and type their op needs; no dense layer has 0 or more than MAX_UNITS units; the dense and
    conv layers together have at most MAX_PARAMETERS weights and biases. (Operands that are not constants are refused
    by the converter, which needs their values.)"""
    consts = _constants(model)
    unit_cap = limits.limit("MAX_UNITS")
    params = 0
    for i, node in enumerate(model.graph.node):
        label, op = node_label(node, i), node.op_type
        if op in ("Gemm", "MatMul"):
            w = consts.get(node.input[1])
            if w is None:
                continue
            _need_float(w, f"weight {show(node.input[1])} of {op} node {label}")
            if len(w.dims) != 2:
                raise InvalidModelError(
                    f"initializer {show(node.input[1])} of {op} {label} has rank {len(w.dims)}; "
                    "a weight matrix needs rank 2"
                )
            trans = op == "Gemm" and any(a.name == "transB" and a.i for a in node.attribute)
            fan_in, units = (w.dims[1], w.dims[0]) if trans else w.dims
            if units == 0 or fan_in == 0:
                raise InvalidModelError(
                    f"{op} node {label} has {units} units and {fan_in} inputs (weight "
                    f"{show(node.input[1])} of shape {w.dims}{' with transB=1' if trans else ''})",
                    hint="a dense layer needs at least one unit and one input; re-export the model",
                )
            if units > unit_cap:
                raise InvalidModelError(
                    f"{op} node {label} has {units} units, more than MAX_UNITS={unit_cap}",
                    hint=limits.over_limit_hint("MAX_UNITS"),
                )
            params += fan_in * units
            if op == "Gemm" and len(node.input) > 2 and node.input[2] in consts:
                c = consts[node.input[2]]
                _need_float(c, f"bias {show(node.input[2])} of Gemm node {label}")
                if not _fits_bias(c.dims, units):
                    raise InvalidModelError(
                        f"bias {show(node.input[2])} of Gemm node {label} has shape {c.dims}, "
                        f"which does not fit its {units} units",
                        hint=REEXPORT_HINT,
                    )
                params += _elements(c.dims)
        elif op == "Conv":
            params += _check_conv_weight(node, label, consts)
        elif op == "Add":
            for t in node.input:
                if t in consts:
                    _need_float(consts[t], f"constant {show(t)} of Add node {label}")
                    params += _elements(consts[t].dims)
        elif op == "Clip":
            for j, what in ((1, "min"), (2, "max")):
                if len(node.input) > j and node.input[j] in consts:
                    c = consts[node.input[j]]
                    _need_float(c, f"{what} {show(node.input[j])} of Clip node {label}")
                    if c.dims not in ((), (1,)):
                        raise InvalidModelError(
                            f"Clip node {label}: {what} {show(node.input[j])} has shape {c.dims}; "
                            "ONNX Clip bounds must be scalars",
                            hint="give Clip a single min and max value (a scalar initializer)",
                        )
        elif op == "BatchNormalization":
            lengths = set()
            for t, role in zip(node.input[1:], ("scale", "B", "mean", "var")):
                if t in consts:
                    c = consts[t]
                    _need_float(c, f"{role} {show(t)} of BatchNormalization node {label}")
                    if len(c.dims) != 1:
                        raise InvalidModelError(
                            f"BatchNormalization node {label}: {role} {show(t)} has shape "
                            f"{c.dims}; ONNX BatchNormalization needs 1-D statistics",
                            hint=REEXPORT_HINT,
                        )
                    lengths.add(c.dims[0])
            if len(lengths) > 1:
                raise InvalidModelError(
                    f"BatchNormalization node {label}: its statistics have different lengths "
                    f"({', '.join(map(str, sorted(lengths)))})",
                    hint=REEXPORT_HINT,
                )
        elif op == "Reshape" and node.input[1] in consts:
            c = consts[node.input[1]]
            if c.dtype != TensorProto.INT64 or len(c.dims) != 1:
                raise InvalidModelError(
                    f"Reshape node {label}: shape {show(node.input[1])} is "
                    f"{dtype_name(c.dtype)} of shape {c.dims}; ONNX Reshape needs a 1-D int64 "
                    "shape",
                    hint=REEXPORT_HINT,
                )
    cap = limits.limit("MAX_PARAMETERS")
    if params > cap:
        raise InvalidModelError(
            f"the model's dense and conv layers have {params} weights and biases, more than MAX_PARAMETERS={cap}",
            hint=limits.over_limit_hint("MAX_PARAMETERS"),
        )


def check_shape_ops(model: onnx.ModelProto) -> None:
    """Shape ops and Pad use the spelling of the model's opset: Pad takes its pads as an attribute
    before opset 11 and as an input from it on; Slice takes starts/ends as attributes before
    opset 10 and as inputs (3 to 5) from it on; Unsqueeze and Squeeze take axes as an attribute
    before opset 13 and as an input from it on. Their constant operands are integer shapes (0-D or
    1-D, at most MAX_RANK entries); the values themselves are checked when the converter
    evaluates them."""
    opset = next((o.version for o in model.opset_import if o.domain in DEFAULT_DOMAINS), 0)
    consts = _constants(model)
    for i, node in enumerate(model.graph.node):
        op, label = node.op_type, node_label(node, i)
        attrs = {a.name for a in node.attribute}
        if op == "Pad":
            # pads (and value) are attributes before opset 11; inputs from it on, axes (a 4th) from 18.
            ok = (
                len(node.input) == 1 and "pads" in attrs
                if opset < 11
                else 2 <= len(node.input) <= (4 if opset >= 18 else 3) and not attrs - {"mode"}
            )
            if not ok:
                need = (
                    "a pads attribute and one input"
                    if opset < 11
                    else "the pads as its second input, no pads or value attribute"
                )
                raise InvalidModelError(
                    f"Pad node {label} does not take its pads as opset {opset} needs ({need})", hint=REEXPORT_HINT
                )
        if op not in SHAPE_OPS:
            continue
        if op == "Slice":
            if opset < 10 and (len(node.input) != 1 or not {"starts", "ends"} <= attrs):
                raise InvalidModelError(
                    f"Slice node {label} needs one input and starts/ends attributes in opset {opset}",
                    hint=REEXPORT_HINT,
                )
            if opset >= 10 and (len(node.input) < 3 or attrs):
                raise InvalidModelError(
                    f"Slice node {label} needs 3 to 5 inputs (data, starts, ends, axes, steps) "
                    f"and no attributes in opset {opset}",
                    hint=REEXPORT_HINT,
                )
        elif op in ("Unsqueeze", "Squeeze"):
            need_input = op == "Unsqueeze" and opset >= 13
            if (opset < 13 and (len(node.input) != 1 or (op == "Unsqueeze" and "axes" not in attrs))) or (
                opset >= 13 and (attrs or (need_input and len(node.input) != 2))
            ):
                spelling = "axes as an attribute" if opset < 13 else "axes as its second input"
                raise InvalidModelError(
                    f"{op} node {label} does not take {spelling}, as opset {opset} needs", hint=REEXPORT_HINT
                )
        if op == "Shape" or is_weight_node(node, consts):
            continue  # reads only the dims of its input, whatever it holds; or folds a weight
        for t in node.input:
            c = consts.get(t)
            if c is None:
                continue
            if (
                c.dtype not in (TensorProto.INT64, TensorProto.INT32, TensorProto.INT8)
                or len(c.dims) > 1
                or _elements(c.dims) > MAX_RANK
            ):
                raise UnsupportedOpError(
                    f"{op} node {label}: constant {show(t)} is {dtype_name(c.dtype)} of shape "
                    f"{c.dims}; edgetrain evaluates {op} only on integer shapes (0-D or 1-D, at "
                    f"most {MAX_RANK} entries)",
                    hint=SUPPORTED_HINT,
                )


def _check_conv_weight(node: onnx.NodeProto, label: str, consts: dict[str, _Const]) -> int:
    """A constant Conv weight (C_out, C_in / group, k...) of a 1-D or 2-D convolution with positive dims,
    agreeing with kernel_shape and group, and a bias of C_out; returns their element count. (A weight
    that is not a constant is refused by the converter, which needs its values.)"""
    w = consts.get(node.input[1])
    if w is None:
        return 0
    what = f"weight {show(node.input[1])} of Conv node {label}"
    _need_float(w, what)
    if len(w.dims) not in (3, 4):
        cls = UnsupportedOpError if len(w.dims) > 4 else InvalidModelError
        raise cls(
            f"{what} has shape {w.dims}; edgetrain imports 1-D and 2-D convolutions (weights (C_out, "
            "C_in/group, k) and (C_out, C_in/group, kh, kw))",
            hint="3-D convolutions are not imported" if len(w.dims) > 4 else REEXPORT_HINT,
        )
    if any(d <= 0 for d in w.dims):
        raise InvalidModelError(f"{what} has shape {w.dims}; every axis needs at least one entry", hint=REEXPORT_HINT)
    a = {x.name: x for x in node.attribute}
    if "kernel_shape" in a and tuple(a["kernel_shape"].ints) != w.dims[2:]:
        raise InvalidModelError(
            f"Conv node {label}: kernel_shape {show(list(a['kernel_shape'].ints))} disagrees with "
            f"its weight of shape {w.dims}",
            hint=REEXPORT_HINT,
        )
    for name in ("strides", "dilations"):
        if name in a and len(a[name].ints) != len(w.dims) - 2:
            raise InvalidModelError(
                f"Conv node {label}: {name} has {len(a[name].ints)} entries for a {len(w.dims) - 2}-D convolution",
                hint=REEXPORT_HINT,
            )
    if "pads" in a and len(a["pads"].ints) != 2 * (len(w.dims) - 2):
        raise InvalidModelError(
            f"Conv node {label}: pads has {len(a['pads'].ints)} entries for a "
            f"{len(w.dims) - 2}-D convolution (two per axis)",
            hint=REEXPORT_HINT,
        )
    group = a["group"].i if "group" in a else 1
    if w.dims[0] % group:
        raise InvalidModelError(
            f"Conv node {label}: group={group} does not divide the {w.dims[0]} output channels of its weight",
            hint=REEXPORT_HINT,
        )
    n = _elements(w.dims)
    if len(node.input) > 2 and node.input[2] in consts:
        c = consts[node.input[2]]
        _need_float(c, f"bias {show(node.input[2])} of Conv node {label}")
        if c.dims != (w.dims[0],):
            raise InvalidModelError(
                f"bias {show(node.input[2])} of Conv node {label} has shape {c.dims}; its weight "
                f"has {w.dims[0]} output channels",
                hint=REEXPORT_HINT,
            )
        n += w.dims[0]
    return n


def _need_float(c: _Const, what: str) -> None:
    if c.dtype not in FLOAT_TYPES:
        raise InvalidModelError(
            f"{what} has element type {dtype_name(c.dtype)}; it must be float32 (or float64, converted)",
            hint="dequantize the model before exporting it",
        )


def _fits_bias(dims: tuple[int, ...], units: int) -> bool:
    """Whether a bias of shape ``dims`` broadcasts to one row of ``units`` (what the converter stores)."""
    return len(dims) <= 2 and all(d == 1 for d in dims[:-1]) and (not dims or dims[-1] in (1, units))


# ---------------------------------------------------------------- all of it


def check_model(model: onnx.ModelProto, label: str = "<model>") -> None:
    """Every check above, in dependency order; external data must already be loaded."""
    check_text(model, label)
    check_opsets(model)
    check_graph_size(model)
    check_op_types(model)
    check_tensor_values(model)
    check_node_signatures(model)
    check_inputs(model)
    check_shape_ops(model)
    check_layers(model)

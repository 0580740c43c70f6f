"""A .tflite file decoded into plain Python data, every structural check done on the way.

`read_tflite` parses the flatbuffer with the `tflite` schema package's readers into `TFModel`
(tensors with their constant data and quantization, operators with their options) and refuses,
with a one-line `ModelFileError`, what it cannot trust: a wrong file identifier, truncated or
random bytes, a buffer or tensor index out of range, constant data whose size disagrees with the
tensor's shape and type, more than one subgraph, dynamic shapes. Which ops and types the importer
can convert is `importer`'s business.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tflite
from tflite.BuiltinOperator import BuiltinOperator
from tflite.TensorType import TensorType

from ...errors import ModelFileError
from .flatbuffer import FILE_IDENTIFIER

NUMPY_TYPES = {
    TensorType.FLOAT32: np.float32,
    TensorType.INT8: np.int8,
    TensorType.INT32: np.int32,
    TensorType.INT64: np.int64,
    TensorType.INT16: np.int16,
    TensorType.UINT8: np.uint8,
}
TYPE_NAMES = {v: k for k, v in vars(TensorType).items() if not k.startswith("_")}
OP_NAMES = {v: k for k, v in vars(BuiltinOperator).items() if not k.startswith("_")}
#: The options table class of each builtin operator the importer reads options of.
OPTIONS = {
    BuiltinOperator.FULLY_CONNECTED: tflite.FullyConnectedOptions,
    BuiltinOperator.CONV_2D: tflite.Conv2DOptions,
    BuiltinOperator.DEPTHWISE_CONV_2D: tflite.DepthwiseConv2DOptions,
    BuiltinOperator.MAX_POOL_2D: tflite.Pool2DOptions,
    BuiltinOperator.AVERAGE_POOL_2D: tflite.Pool2DOptions,
    BuiltinOperator.MEAN: tflite.ReducerOptions,
    BuiltinOperator.ADD: tflite.AddOptions,
    BuiltinOperator.SOFTMAX: tflite.SoftmaxOptions,
    BuiltinOperator.LEAKY_RELU: tflite.LeakyReluOptions,
    BuiltinOperator.RESHAPE: tflite.ReshapeOptions,
}
MAX_FILE_BYTES = 1 << 31


@dataclass
class TFTensor:
    """One tensor as read: shape, TensorType, constant ``data`` (None for activations) and quantization
    (``scale`` / ``zero_point`` None when absent; ``axis`` is the quantized dimension)."""

    index: int
    name: str
    shape: tuple[int, ...]
    type: int
    data: np.ndarray | None  # constant tensors
    scale: np.ndarray | None  # float32 per tensor or per channel
    zero_point: np.ndarray | None
    axis: int

    @property
    def type_name(self) -> str:
        """The TensorType's name (FLOAT32, INT8, ...), or its number when the schema does not name it."""
        return TYPE_NAMES.get(self.type, str(self.type))

    @property
    def quantized(self) -> bool:
        """Whether the tensor carries at least one quantization scale."""
        return self.scale is not None and self.scale.size > 0

    @property
    def const_data(self) -> np.ndarray:
        """``data`` of a constant tensor (the importer's ``constant`` refuses the others)."""
        assert self.data is not None, f"tensor {self.index} is not a constant"
        return self.data

    @property
    def qscale(self) -> np.ndarray:
        """``scale`` of a quantized tensor (see `quantized`)."""
        assert self.scale is not None, f"tensor {self.index} is not quantized"
        return self.scale

    @property
    def qzero_point(self) -> np.ndarray:
        """``zero_point`` of a quantized tensor (see `quantized`)."""
        assert self.zero_point is not None, f"tensor {self.index} is not quantized"
        return self.zero_point


@dataclass
class TFOperator:
    """One operator as read: its builtin code (or custom name), input and output tensor indices (-1: an
    omitted optional input) and its options table when the importer reads it."""

    index: int
    code: int  # BuiltinOperator
    custom: str | None
    inputs: list[int]
    outputs: list[int]
    options: Any = None  # the options table (tflite.Conv2DOptions, ...) or None

    @property
    def name(self) -> str:
        """The custom code, else the builtin operator's name (``operator N`` for a code the schema does not name)."""
        return self.custom if self.custom else OP_NAMES.get(self.code, f"operator {self.code}")


@dataclass
class TFModel:
    """The decoded model: the one subgraph's tensors and operators in file order, its input and output
    tensor indices, the metadata (name -> bytes) and the description; ``label`` names the file in messages."""

    label: str
    tensors: list[TFTensor]
    operators: list[TFOperator]
    inputs: list[int]
    outputs: list[int]
    metadata: dict[str, bytes] = field(default_factory=dict)
    description: str = ""


def read_tflite(source: str | Path | bytes) -> TFModel:
    """The decoded model of a .tflite file (path) or its bytes."""
    if isinstance(source, (bytes, bytearray)):
        data, label = bytes(source), "<tflite bytes>"
    else:
        label = str(source)
        try:
            size = Path(source).stat().st_size
            if size > MAX_FILE_BYTES:
                raise ModelFileError(
                    f"{label}: {size:,} bytes is beyond a .tflite's 2 GiB", hint="flatbuffers files hold at most 2 GiB"
                )
            data = Path(source).read_bytes()
        except OSError as e:
            raise ModelFileError(f"cannot read {label}: {e.strerror or e}", hint="check the path") from None
    if len(data) < 8 or data[4:8] != FILE_IDENTIFIER:
        found = data[4:8] if len(data) >= 8 else b""
        raise ModelFileError(
            f"{label} is not a TFLite model: file identifier {found!r}, expected {FILE_IDENTIFIER!r}",
            hint="give a .tflite file written by TensorFlow's converter or edgetrain export tflite",
        )
    try:
        return _decode(data, label)
    except ModelFileError:
        raise
    except (IndexError, struct.error, ValueError, UnicodeDecodeError, TypeError, OverflowError) as e:
        raise ModelFileError(
            f"{label} is truncated or corrupt ({type(e).__name__} while reading the flatbuffer)",
            hint="re-create the file; it does not parse as a TFLite model",
        ) from None


def _decode(data: bytes, label: str) -> TFModel:
    m = tflite.Model.GetRootAsModel(data, 0)
    if m.SubgraphsLength() != 1:
        raise ModelFileError(
            f"{label} has {m.SubgraphsLength()} subgraphs; edgetrain imports models with one",
            hint="control flow (WHILE, IF) and multi-signature models are not supported",
        )
    n_buffers = m.BuffersLength()
    buffers = []
    for i in range(n_buffers):
        b = m.Buffers(i)
        if b.Offset() > 1:  # the data lives after the flatbuffer (files over 2 GiB)
            raise ModelFileError(f"{label}: buffer {i} is stored outside the flatbuffer", hint="not supported")
        buffers.append(b.DataAsNumpy().tobytes() if b.DataLength() else b"")
    codes = []
    for i in range(m.OperatorCodesLength()):
        oc = m.OperatorCodes(i)
        custom = oc.CustomCode()
        codes.append((max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode()), custom.decode() if custom else None))
    sg = m.Subgraphs(0)
    tensors = [_tensor(sg.Tensors(i), i, buffers, label) for i in range(sg.TensorsLength())]
    n = len(tensors)
    operators = []
    for i in range(sg.OperatorsLength()):
        op = sg.Operators(i)
        if not 0 <= op.OpcodeIndex() < len(codes):
            raise ModelFileError(
                f"{label}: operator {i} names operator code {op.OpcodeIndex()} of {len(codes)}",
                hint="the file is corrupt",
            )
        code, custom = codes[op.OpcodeIndex()]
        ins = [int(v) for v in op.InputsAsNumpy()] if op.InputsLength() else []
        outs = [int(v) for v in op.OutputsAsNumpy()] if op.OutputsLength() else []
        for t in ins + outs:
            if not -1 <= t < n or (t == -1 and t in outs):
                raise ModelFileError(f"{label}: operator {i} refers to tensor {t} of {n}", hint="the file is corrupt")
        options = None
        if code in OPTIONS and op.BuiltinOptions() is not None:
            options = OPTIONS[code]()
            table = op.BuiltinOptions()
            options.Init(table.Bytes, table.Pos)
        operators.append(TFOperator(i, code, custom, ins, outs, options))
    inputs = [int(v) for v in sg.InputsAsNumpy()] if sg.InputsLength() else []
    outputs = [int(v) for v in sg.OutputsAsNumpy()] if sg.OutputsLength() else []
    for t in inputs + outputs:
        if not 0 <= t < n:
            raise ModelFileError(
                f"{label}: the subgraph's input/output tensor {t} is not one of its {n} tensors",
                hint="the file is corrupt",
            )
    metadata = {}
    for i in range(m.MetadataLength()):
        md = m.Metadata(i)
        if 0 <= md.Buffer() < n_buffers and md.Name():
            metadata[md.Name().decode()] = buffers[md.Buffer()]
    desc = m.Description()
    return TFModel(label, tensors, operators, inputs, outputs, metadata, desc.decode() if desc else "")


def _tensor(t, index: int, buffers: list[bytes], label: str) -> TFTensor:
    name = (t.Name() or b"").decode()
    shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
    where = f"{label}: tensor {index} ({name!r})"
    if t.ShapeSignatureLength():
        sig = tuple(int(d) for d in t.ShapeSignatureAsNumpy())
        if any(d < 0 for d in sig[1:]):
            raise ModelFileError(
                f"{where} has a dynamic shape {sig}",
                hint="edgetrain imports fixed shapes only (convert with a fixed input size)",
            )
    if any(d < 0 for d in shape):
        raise ModelFileError(f"{where} has a negative dimension in {shape}", hint="the file is corrupt")
    buf = t.Buffer()
    if not 0 <= buf < len(buffers):
        raise ModelFileError(f"{where} names buffer {buf} of {len(buffers)}", hint="the file is corrupt")
    data = None
    if buffers[buf]:
        dtype = NUMPY_TYPES.get(t.Type())
        if dtype is None:
            raise ModelFileError(
                f"{where} holds constant data of type {TYPE_NAMES.get(t.Type(), t.Type())}",
                hint="edgetrain reads float32, int8, int32 and int64 constants",
            )
        want = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        if len(buffers[buf]) != want:
            raise ModelFileError(
                f"{where}: its buffer holds {len(buffers[buf])} bytes but shape {shape} of "
                f"{TYPE_NAMES.get(t.Type())} needs {want}",
                hint="the file is corrupt",
            )
        data = np.frombuffer(buffers[buf], dtype=np.dtype(dtype).newbyteorder("<")).astype(dtype).reshape(shape)
    scale = zp = None
    axis = 0
    q = t.Quantization()
    if q is not None and q.ScaleLength():
        scale = q.ScaleAsNumpy().astype(np.float32)
        zp = q.ZeroPointAsNumpy().astype(np.int64) if q.ZeroPointLength() else np.zeros(scale.size, np.int64)
        axis = int(q.QuantizedDimension())
        if zp.size != scale.size or not np.all(np.isfinite(scale)) or np.any(scale <= 0):
            raise ModelFileError(
                f"{where} has invalid quantization (scales {scale.size}, zero points {zp.size}; "
                "scales must be finite and > 0)",
                hint="the file is corrupt",
            )
    return TFTensor(index, name, shape, int(t.Type()), data, scale, zp, axis)

"""A TFLite model as plain Python data, and its serialization with the `tflite` schema package's
flatbuffer builders (no TensorFlow).

`ModelSpec` collects tensors, operators and metadata; `serialize` writes the flatbuffer:

* file identifier ``TFL3``, schema version 3, one subgraph;
* buffer 0 is the empty buffer every activation tensor points at; each constant tensor has its
  own buffer, its data aligned to 16 bytes (TFLite Micro reads int32 and float data in place);
* each operator code carries both ``builtin_code`` and ``deprecated_builtin_code`` (the code
  itself below 127, else 127, the schema's placeholder), as TFLite's own writer does;
* quantization: ``scale`` (float32) and ``zero_point`` (int64) vectors, ``quantized_dimension``
  for per-channel weights;
* metadata entries name a buffer of bytes (edgetrain writes JSON: the input standardisation and
  the class names).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import flatbuffers
import numpy as np
import tflite
from tflite.BuiltinOperator import BuiltinOperator
from tflite.TensorType import TensorType

FILE_IDENTIFIER = b"TFL3"
SCHEMA_VERSION = 3
DATA_ALIGNMENT = 16
#: numpy dtype -> TFLite TensorType
TENSOR_TYPES = {
    np.dtype(np.float32): TensorType.FLOAT32,
    np.dtype(np.int8): TensorType.INT8,
    np.dtype(np.int32): TensorType.INT32,
    np.dtype(np.int64): TensorType.INT64,
    np.dtype(np.int16): TensorType.INT16,
}
#: deprecated_builtin_code's placeholder for codes it cannot hold (schema: PLACEHOLDER_FOR_GREATER_OP_CODES)
PLACEHOLDER_CODE = 127


@dataclass(frozen=True)
class Quantization:
    """A tensor's TFLite quantization, ``real = scale * (q - zero_point)``: one scale per tensor, or one
    per channel along dimension ``axis``."""

    scale: np.ndarray  # float32, one per tensor or per channel
    zero_point: np.ndarray  # int64
    axis: int = 0  # quantized_dimension (per-channel only)


@dataclass
class Tensor:
    """One tensor of the subgraph: an activation (``data`` None, written to point at the empty buffer 0)
    or a constant whose ``data`` gets its own buffer."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    data: np.ndarray | None = None  # constant tensors only
    quantization: Quantization | None = None
    buffer: int | None = None  # an explicit buffer index (only to write broken files for tests)


#: A builder callback writing an operator's options table; returns its offset.
Options = Callable[[flatbuffers.Builder], int]


@dataclass
class Operator:
    """One builtin operator: its code, input and output tensor indices and the writer of its options table."""

    code: int  # BuiltinOperator
    inputs: list[int]  # tensor indices (-1: an omitted optional input)
    outputs: list[int]
    options_type: int = 0  # BuiltinOptions
    options: Options | None = None


@dataclass
class ModelSpec:
    """The model to serialize: one subgraph's tensors and operators (in execution order), its input and
    output tensor indices, and metadata entries (name -> bytes)."""

    name: str
    tensors: list[Tensor] = field(default_factory=list)
    operators: list[Operator] = field(default_factory=list)
    inputs: list[int] = field(default_factory=list)
    outputs: list[int] = field(default_factory=list)
    metadata: dict[str, bytes] = field(default_factory=dict)
    description: str = "edgetrain"

    def add_tensor(self, tensor: Tensor) -> int:
        """Append ``tensor``; returns its index."""
        self.tensors.append(tensor)
        return len(self.tensors) - 1

    def constant(self, name: str, data: np.ndarray, quantization: Quantization | None = None) -> int:
        """Append a constant tensor holding ``data`` (made C-contiguous), optionally quantized; returns its index."""
        a = np.ascontiguousarray(data)
        return self.add_tensor(Tensor(name, tuple(a.shape), a.dtype, a, quantization))

    def add_operator(self, op: Operator) -> None:
        """Append ``op`` after the operators already added (the subgraph runs them in that order)."""
        self.operators.append(op)

    def opcodes(self) -> list[int]:
        """Distinct operator codes in first-use order (the model's operator_codes table)."""
        return list(dict.fromkeys(op.code for op in self.operators))


def _vector(
    b: flatbuffers.Builder,
    start: Callable[[flatbuffers.Builder, int], None],
    items: list[int],
    prepend: Callable[[int], None],
) -> int:
    start(b, len(items))
    for item in reversed(items):
        prepend(item)
    return b.EndVector()


def _int32s(b: flatbuffers.Builder, start, items: list[int]) -> int:
    return _vector(b, start, [int(i) for i in items], b.PrependInt32)


def _offsets(b: flatbuffers.Builder, start, items: list[int]) -> int:
    return _vector(b, start, items, b.PrependUOffsetTRelative)


def _aligned_bytes(b: flatbuffers.Builder, data: bytes) -> int:
    b.Prep(DATA_ALIGNMENT, len(data))  # the data's first byte lands on a 16-byte boundary
    return b.CreateByteVector(data)


def _quantization(b: flatbuffers.Builder, q: Quantization) -> int:
    scale = np.asarray(q.scale, np.float32).reshape(-1)
    zp = np.asarray(q.zero_point, np.int64).reshape(-1)
    tflite.QuantizationParametersStartScaleVector(b, scale.size)
    for v in reversed(scale):
        b.PrependFloat32(float(v))
    scale_off = b.EndVector()
    tflite.QuantizationParametersStartZeroPointVector(b, zp.size)
    for v in reversed(zp):
        b.PrependInt64(int(v))
    zp_off = b.EndVector()
    tflite.QuantizationParametersStart(b)
    tflite.QuantizationParametersAddScale(b, scale_off)
    tflite.QuantizationParametersAddZeroPoint(b, zp_off)
    tflite.QuantizationParametersAddQuantizedDimension(b, int(q.axis))
    return tflite.QuantizationParametersEnd(b)


def serialize(spec: ModelSpec) -> bytes:
    """The .tflite bytes of ``spec``."""
    b = flatbuffers.Builder(1024)
    # Buffers: 0 is empty; then one per constant tensor, then one per metadata entry.
    buffer_data: list[bytes | None] = [None]
    tensor_buffer: list[int] = []
    for t in spec.tensors:
        if t.buffer is not None:
            tensor_buffer.append(t.buffer)
        elif t.data is None:
            tensor_buffer.append(0)
        else:
            tensor_buffer.append(len(buffer_data))
            buffer_data.append(np.ascontiguousarray(t.data).astype(t.data.dtype.newbyteorder("<")).tobytes())
    metadata_buffer = {}
    for name, data in spec.metadata.items():
        metadata_buffer[name] = len(buffer_data)
        buffer_data.append(data)
    data_offsets = [None if d is None else _aligned_bytes(b, d) for d in buffer_data]
    buffers = []
    for off in data_offsets:
        tflite.BufferStart(b)
        if off is not None:
            tflite.BufferAddData(b, off)
        buffers.append(tflite.BufferEnd(b))

    tensors = []
    for t, buf in zip(spec.tensors, tensor_buffer):
        name = b.CreateString(t.name)
        shape = _int32s(b, tflite.TensorStartShapeVector, list(t.shape))
        quant = _quantization(b, t.quantization) if t.quantization is not None else None
        tflite.TensorStart(b)
        tflite.TensorAddShape(b, shape)
        tflite.TensorAddType(b, TENSOR_TYPES[np.dtype(t.dtype)])
        tflite.TensorAddBuffer(b, buf)
        tflite.TensorAddName(b, name)
        if quant is not None:
            tflite.TensorAddQuantization(b, quant)
        tensors.append(tflite.TensorEnd(b))

    codes = spec.opcodes()
    operators = []
    for op in spec.operators:
        ins = _int32s(b, tflite.OperatorStartInputsVector, op.inputs)
        outs = _int32s(b, tflite.OperatorStartOutputsVector, op.outputs)
        opts = op.options(b) if op.options is not None else None
        tflite.OperatorStart(b)
        tflite.OperatorAddOpcodeIndex(b, codes.index(op.code))
        tflite.OperatorAddInputs(b, ins)
        tflite.OperatorAddOutputs(b, outs)
        if opts is not None:
            tflite.OperatorAddBuiltinOptionsType(b, op.options_type)
            tflite.OperatorAddBuiltinOptions(b, opts)
        operators.append(tflite.OperatorEnd(b))

    t_vec = _offsets(b, tflite.SubGraphStartTensorsVector, tensors)
    i_vec = _int32s(b, tflite.SubGraphStartInputsVector, spec.inputs)
    o_vec = _int32s(b, tflite.SubGraphStartOutputsVector, spec.outputs)
    op_vec = _offsets(b, tflite.SubGraphStartOperatorsVector, operators)
    sg_name = b.CreateString(spec.name)
    tflite.SubGraphStart(b)
    tflite.SubGraphAddTensors(b, t_vec)
    tflite.SubGraphAddInputs(b, i_vec)
    tflite.SubGraphAddOutputs(b, o_vec)
    tflite.SubGraphAddOperators(b, op_vec)
    tflite.SubGraphAddName(b, sg_name)
    subgraph = tflite.SubGraphEnd(b)

    opcode_offsets = []
    for code in codes:
        tflite.OperatorCodeStart(b)
        tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, PLACEHOLDER_CODE))
        tflite.OperatorCodeAddBuiltinCode(b, code)
        tflite.OperatorCodeAddVersion(b, 1)
        opcode_offsets.append(tflite.OperatorCodeEnd(b))

    metadata = []
    for name, buf in metadata_buffer.items():
        n = b.CreateString(name)
        tflite.MetadataStart(b)
        tflite.MetadataAddName(b, n)
        tflite.MetadataAddBuffer(b, buf)
        metadata.append(tflite.MetadataEnd(b))

    codes_vec = _offsets(b, tflite.ModelStartOperatorCodesVector, opcode_offsets)
    sg_vec = _offsets(b, tflite.ModelStartSubgraphsVector, [subgraph])
    buf_vec = _offsets(b, tflite.ModelStartBuffersVector, buffers)
    md_vec = _offsets(b, tflite.ModelStartMetadataVector, metadata) if metadata else None
    desc = b.CreateString(spec.description)
    tflite.ModelStart(b)
    tflite.ModelAddVersion(b, SCHEMA_VERSION)
    tflite.ModelAddOperatorCodes(b, codes_vec)
    tflite.ModelAddSubgraphs(b, sg_vec)
    tflite.ModelAddDescription(b, desc)
    tflite.ModelAddBuffers(b, buf_vec)
    if md_vec is not None:
        tflite.ModelAddMetadata(b, md_vec)
    b.Finish(tflite.ModelEnd(b), file_identifier=FILE_IDENTIFIER)
    return bytes(b.Output())


__all__ = ["BuiltinOperator", "ModelSpec", "Operator", "Quantization", "Tensor", "serialize"]

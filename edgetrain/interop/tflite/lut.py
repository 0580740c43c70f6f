"""TFLite Micro's LUT compression of a clustered model's int8 weights (``export tflite --compression lut``).

A clustered layer's int8 weights take at most k distinct values (one weight scale per clustered layer,
`quantize.rules.weight_per_channel`), so TFLM's LUT compression stores each such tensor as a value
table (its distinct int8 values) plus packed ``bits``-wide indices: 4 bits for k = 16, 2 for k = 4.
The compression itself is TFLM's own Python tool (``tflite_micro.compression.compress``, package
``tflite-micro``): it rewrites every compressed tensor as packed UINT8 indices, adds an ancillary
tensor (the 16-byte DECODE common metadata and the value table) and inserts a ``TFLM_DECODE`` custom
operator before each consumer. At run time DECODE expands the weights into the tensor arena, so the
file shrinks but the arena grows by the largest decoded weight tensor (digits 64-256-256-10, k = 16:
file 90,848 -> 49,408 B, TFLM arena 1,984 -> 68,144 B; bench/cqkd_tflm_lut.py), unless the application
gives TFLM a separate decompression region (the interpreter's ``alt_decompression_memory_size``).

Only the weights of clustered layers (``Param.codebook`` set) are compressed; other layers stay dense.
`compress_lut` refuses (`ExportError`) a model with no clustered layer and a clustered layer whose
int8 weights take more than ``2**MAX_INDEX_BITS`` values, and checks its own output: `decode_lut`
expands every DECODE input with numpy and the result must equal the uncompressed weights exactly.
TFLM's Python interpreter (``tflite_micro.runtime``, as installed with the package) has the DECODE
operator compiled in, so the compressed file also runs there (`verify.run_tflite_micro`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ...errors import ConfigError, ExportError
from ...graph import Graph
from ...quantize import QuantizedModel
from .reader import NUMPY_TYPES, TFModel, TFTensor, read_tflite

#: The widest index edgetrain asks for: 16 values (k = 16). TFLM's LUT accepts up to 7 bits.
MAX_INDEX_BITS = 4
#: TFLM's DECODE custom operator.
DECODE_OP = "TFLM_DECODE"
#: The DECODE common metadata header (decode type, version, reserved, 12 bytes of LUT parameters).
DCM_BYTES = 16
_LUT_TYPE = 0  # DCM byte 0: LUT decompression
_PER_TENSOR_AXIS = 0xF  # LUT params byte, bits 7-4: one value table for the whole tensor


@dataclass(frozen=True)
class LutTensor:
    """One LUT-compressed weight tensor: its name in the file, index bits, distinct values (the value
    table's length), the dense int8 bytes and the bytes it takes compressed (packed indices + DCM +
    value table)."""

    name: str
    bits: int
    values: int
    dense_bytes: int
    lut_bytes: int


@dataclass(frozen=True)
class LutExport:
    """What `compress_lut` produces: the compressed file's bytes, the compressed tensors and the file's
    operator names in execution order (a ``TFLM_DECODE`` before each consumer of a compressed tensor)."""

    data: bytes
    tensors: tuple[LutTensor, ...]
    operators: tuple[str, ...]


def lut_available() -> tuple[bool, str]:
    """(True, '') when TFLite Micro's compression tools import, else (False, why)."""
    try:
        from tflite_micro import compression  # noqa: F401
    except Exception as e:  # noqa: BLE001 - any import failure means "not here"
        return False, f"the tflite-micro package is not importable ({type(e).__name__}: {e})"
    return True, ""


def clustered_weight_names(qmodel: QuantizedModel) -> list[str]:
    """The .tflite tensor names (``<layer>/weights``) of the weights of the clustered layers of ``qmodel``,
    in execution order."""
    graph = qmodel.graph
    names = []
    for st in qmodel.lowered.steps:
        pname = st.node.params.get("weight")
        if pname is not None and graph.params[pname].codebook is not None:
            names.append(f"{st.name}/weights")
    return names


def index_bits(values: int) -> int:
    """The fewest index bits that address ``values`` table entries (at least 1)."""
    return max(1, (values - 1).bit_length())


def clustered_layers(graph: Graph) -> dict[str, int]:
    """The layers of ``graph`` whose weight is clustered (``Param.codebook`` set) and their codebook sizes."""
    out = {}
    for node in graph.nodes:
        pname = node.params.get("weight")
        if pname is not None and graph.params[pname].codebook is not None:
            out[node.name] = int(np.asarray(graph.params[pname].codebook).size)
    return out


def check_lut_graph(graph: Graph) -> dict[str, int]:
    """The checks `compress_lut` can make before quantizing (the CLI's, before it loads calibration data):
    TFLM's compression tools import (`ConfigError`), ``graph`` has a clustered layer and none with a codebook
    beyond ``2**MAX_INDEX_BITS`` entries (`ExportError`). Returns `clustered_layers`."""
    ok, why = lut_available()
    if not ok:
        raise ConfigError(
            f"--compression lut needs TFLite Micro's compression tools: {why}", hint="pip install tflite-micro"
        )
    layers = clustered_layers(graph)
    if not layers:
        raise ExportError(
            f"--compression lut needs a clustered layer; {graph.name} has none (its int8 weights take up to 256 "
            "values each)",
            hint="cluster the dense weights first (CQKD: [techniques.cqkd], or cluster_weights(graph, clusters=16))",
        )
    for layer, k in layers.items():
        if k > 2**MAX_INDEX_BITS:
            raise ExportError(
                f"--compression lut: {layer}'s weight has a {k}-entry codebook, more values than the "
                f"{2**MAX_INDEX_BITS} a {MAX_INDEX_BITS}-bit LUT index holds",
                hint="cluster the layer with k <= 16 (clusters = 16)",
            )
    return layers


def compress_lut(data: bytes, qmodel: QuantizedModel) -> LutExport:
    """LUT-compress the clustered layers' int8 weights of the .tflite ``data`` (built from ``qmodel``)
    with TFLM's compression tool: the new file and what was compressed. Each tensor gets the fewest
    index bits its distinct values need (4 for k = 16, 2 for k = 4), one value table for the whole
    tensor. Refused (`ExportError`, nothing written): no clustered layer, or a clustered weight whose
    int8 values are more than ``2**MAX_INDEX_BITS`` (k > 16, or a masked k = 16 layer, which also
    stores 0). The result is checked: its DECODE inputs, expanded with numpy (`decode_lut`), equal the
    uncompressed weights."""
    check_lut_graph(qmodel.graph)
    from tflite_micro import compression
    from tflite_micro.tensorflow.lite.micro.compression import spec

    names = clustered_weight_names(qmodel)
    model = read_tflite(data)
    by_name = {t.name: t for t in model.tensors}
    specs, planned = [], []
    for name in names:
        t = by_name.get(name)
        if t is None or t.data is None:  # pragma: no cover - the export writes every weight
            raise ExportError(f"--compression lut: no constant tensor {name!r} in the .tflite")
        n = int(np.unique(t.data).size)
        if n > 2**MAX_INDEX_BITS:
            raise ExportError(
                f"--compression lut: {name} takes {n} distinct int8 values, more than the "
                f"{2**MAX_INDEX_BITS} a {MAX_INDEX_BITS}-bit index holds",
                hint="cluster the layer with k <= 16 (a masked layer also stores 0: k <= 15)",
            )
        bits = index_bits(n)
        packed = (t.data.size * bits + 7) // 8
        planned.append(LutTensor(name, bits, n, int(t.data.nbytes), packed + DCM_BYTES + n * t.data.itemsize))
        specs.append(spec.Tensor(0, t.index, [spec.LookUpTableCompression(bits, spec.PerTensor())]))
    with warnings.catch_warnings():  # its "expansion" warning: a tiny tensor may grow (LutTensor shows it)
        warnings.simplefilter("ignore", UserWarning)
        out = bytes(compression.compress(data, specs))
    operators = _check(model, out, names)
    return LutExport(out, tuple(planned), operators)


def decode_lut(source: bytes | TFModel) -> dict[str, np.ndarray]:
    """Every tensor a ``TFLM_DECODE`` operator of a .tflite (its bytes, or as read) produces, expanded with
    numpy from its packed indices and value table (per-tensor LUT only), by the name of the encoded tensor."""
    model = source if isinstance(source, TFModel) else read_tflite(source)
    out: dict[str, np.ndarray] = {}
    for op in model.operators:
        if op.custom != DECODE_OP:
            continue
        for k, dst in enumerate(op.outputs):
            enc, anc = (model.tensors[i] for i in op.inputs[2 * k : 2 * k + 2])
            out[enc.name] = _expand(enc.const_data, anc.const_data, model.tensors[dst], enc.name)
    return out


def _expand(encoded: np.ndarray, ancillary: np.ndarray, target: TFTensor, name: str) -> np.ndarray:
    anc = ancillary.tobytes()
    if len(anc) < DCM_BYTES or anc[0] != _LUT_TYPE or anc[5] >> 4 != _PER_TENSOR_AXIS:
        raise ExportError(f"{name}: its DECODE ancillary data is not a per-tensor LUT")
    bits, stride = anc[5] & 0x7, anc[6]
    dtype = np.dtype(NUMPY_TYPES[target.type])
    table = np.frombuffer(anc[DCM_BYTES : DCM_BYTES + stride * dtype.itemsize], dtype)
    count = int(np.prod(target.shape, dtype=np.int64))
    # TFLM packs the indices big-endian: the first index in the top bits of the first byte
    flat = np.unpackbits(encoded.astype(np.uint8))[: count * bits].reshape(count, bits)
    idx = flat @ (1 << np.arange(bits - 1, -1, -1))
    if idx.size and int(idx.max()) >= stride:
        raise ExportError(f"{name}: a LUT index is beyond its {stride}-entry value table")
    return table[idx].reshape(target.shape)


def _check(dense: TFModel, compressed: bytes, names: Sequence[str]) -> tuple[str, ...]:
    """The compressed file's operator names, once it is seen to decode to the dense weights exactly."""
    model = read_tflite(compressed)
    decoded = decode_lut(model)
    by_name = {t.name: t for t in dense.tensors}
    for name in names:
        if name not in decoded or not np.array_equal(decoded[name], by_name[name].const_data):
            raise ExportError(  # pragma: no cover - TFLM's tool left it dense or wrote it wrong
                f"--compression lut: {name} does not decode from a LUT to its int8 weights",
                hint="report this as a bug, with the model file",
            )
    return tuple(op.name for op in model.operators)

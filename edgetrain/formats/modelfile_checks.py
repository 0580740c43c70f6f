"""Checks of an .etm model file, one function per concern, run by `modelfile.load_model`.

Contract: every check raises `ModelFileError` with a one-line message that starts with the file's
name and says what is wrong, and runs BEFORE the data it guards is used: member sizes before a
member is read, .npy headers before an array is allocated, the description's types before a
`Graph` is built. Nothing here trusts the file: sizes come from `edgetrain.limits`, and names
taken from the file are shown through `show` so a hostile one cannot break the message's line.

Order of use (see `modelfile.load_model`): `check_path` -> `check_members` -> `read_member`
(description) -> `parse_document` -> `check_header` -> `check_document` -> per array
`read_npy_header` + `check_array_header` -> `check_array_totals` -> `build_array` ->
`check_array_values` -> `check_attachments` / `check_qparams` per parameter.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import limits
from ..errors import ModelFileError
from ..graph import BLOCK_SHARED

#: Array kinds a parameter may store (the order `save_model` writes them in).
ARRAY_KINDS = ("value", "mask", "codebook", "indices")
#: Quantization widths a parameter's qparams may declare: what `quantize.int8.qrange` supports
#: (2..16 bits) plus the int32 biases of int8 dense layers.
SUPPORTED_BITS = frozenset(range(2, 17)) | {32}
#: Zero points of activations (graph meta "quantization"): int8 tensors.
ACTIVATION_BITS = 8
#: Largest .npy header accepted (numpy's own default of `read_array_header_*`).
MAX_NPY_HEADER = 10_000
#: Bytes read per call when reading a member: bounds the memory of one read step.
READ_CHUNK = 1 << 20
#: Largest magnitude of a statistic or scale: the C exports and apply_preprocess hold them as
#: float32, where a larger (finite) JSON number becomes infinity.
FLOAT32_MAX = float(np.finfo(np.float32).max)

# dtype kinds each array kind may have: parameter values and codebooks are floats (Param converts
# them to float32/float64), masks booleans, cluster indices integers. Complex, string, object
# and structured arrays never occur in a file save_model wrote.
_ALLOWED_KINDS = {"value": "f", "mask": "b", "codebook": "f", "indices": "iu"}
_FLOAT_SIZES = (2, 4, 8)  # float16/32/64; longdouble is platform-dependent and never written


# ------------------------------------------------------------------------------------ messages


def show(value: Any, width: int = 60) -> str:
    """A name or value from the file as message text: as it is when short and printable, else its
    repr (shortened). Keeps the message on one line whatever the file holds."""
    if (
        isinstance(value, str)
        and value.isprintable()
        and len(value) <= width
        and value.strip() == value
        and value != ""
    ):
        return value
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def fail(path: Path, what: str, hint: str | None = None) -> ModelFileError:
    """The error for file ``path``: "<file>: <what>" (returned, for ``raise fail(...)``)."""
    return ModelFileError(f"{show(str(path), 200)}: {what}", hint=hint)


def _type_name(value: Any) -> str:
    return (
        "null"
        if value is None
        else {dict: "object", list: "list", str: "string", bool: "boolean", int: "integer", float: "number"}.get(
            type(value), type(value).__name__
        )
    )


def is_int(value: Any) -> bool:
    """A JSON integer (bool excluded: ``True`` is an int to Python, never a size to us)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """Whether ``value`` is an int or float (bool excluded)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _over(path: Path, subject: str, value: int, name: str) -> ModelFileError:
    """The error for a size over limit ``name``: "<subject> is <value>, over the limit <name>=<limit>"."""
    return fail(path, f"{subject} is {value}, over the limit {name}={limits.limit(name)}", limits.over_limit_hint(name))


# ------------------------------------------------------------------------------- file and zip


def check_path(path: Path) -> None:
    """The path names an existing regular file no larger than MAX_FILE_BYTES."""
    if not path.exists():
        raise ModelFileError(f"model file {show(str(path), 200)} does not exist")
    if path.is_dir():
        raise fail(path, "is a directory, not a model file", hint="give the path of an .etm file")
    if not path.is_file():
        raise fail(path, "is not a regular file", hint="give the path of an .etm file")
    size = path.stat().st_size
    if size > limits.limit("MAX_FILE_BYTES"):
        raise _over(path, "the file size in bytes", size, "MAX_FILE_BYTES")


def check_members(z: zipfile.ZipFile, path: Path) -> dict[str, zipfile.ZipInfo]:
    """The zip's members by name, after checking what their headers declare (nothing is read):
    unique names, no encryption, each declared uncompressed size and their sum within
    MAX_FILE_BYTES (a zip bomb is refused here, in microseconds, not after decompressing it)."""
    limit = limits.limit("MAX_FILE_BYTES")
    members: dict[str, zipfile.ZipInfo] = {}
    total = 0
    for info in z.infolist():
        if info.filename in members:
            raise fail(path, f"holds the entry {show(info.filename)} twice")
        members[info.filename] = info
        if info.flag_bits & 0x1:
            raise fail(path, f"entry {show(info.filename)} is encrypted")
        if info.file_size > limit:
            raise _over(
                path, f"the uncompressed size entry {show(info.filename)} declares", info.file_size, "MAX_FILE_BYTES"
            )
        total += info.file_size
    if total > limit:
        raise _over(path, "the entries' total uncompressed size", total, "MAX_FILE_BYTES")
    return members


def read_member(z: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> bytearray:
    """The member's bytes, read in chunks and never more than its (already checked) declared size:
    a header that lies about the size cannot make the read grow. The CRC is checked by zipfile
    when the member's end is reached (BadZipFile, handled by the loader)."""
    size = info.file_size
    buf = bytearray()
    with z.open(info) as f:
        while len(buf) <= size:
            chunk = f.read(min(READ_CHUNK, size + 1 - len(buf)))
            if not chunk:
                break
            buf += chunk
    if len(buf) != size:
        raise fail(path, f"entry {show(info.filename)} holds {len(buf)} bytes, its header declares {size}")
    return buf


# ---------------------------------------------------------------------------- the description


def parse_document(raw: bytes | bytearray, path: Path) -> Any:
    """The JSON description: strict UTF-8, then JSON (nesting too deep for the parser is refused)."""
    try:
        text = bytes(raw).decode("utf-8")
    except UnicodeDecodeError as e:
        raise fail(path, f"the description edgetrain.json is not UTF-8 text (byte {e.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise fail(
            path, f"the description edgetrain.json is not valid JSON ({e.msg}, line {e.lineno} column {e.colno})"
        ) from None
    except (RecursionError, ValueError) as e:  # nesting beyond the parser's stack; an over-long integer
        raise fail(path, f"the description edgetrain.json cannot be parsed ({type(e).__name__})") from None


def check_header(doc: Any, path: Path, format_name: str, format_version: int) -> None:
    """An object naming the edgetrain format, with a version this edgetrain reads."""
    if not isinstance(doc, dict):
        raise fail(path, f"the description is a JSON {_type_name(doc)}, not an object; not an edgetrain model file")
    if doc.get("format") != format_name:
        raise fail(path, f"is not an edgetrain model file (format {show(doc.get('format'))})")
    version = doc.get("version")
    if version is None:
        raise fail(path, "missing format version")
    if not is_int(version):
        raise fail(path, f"format version {show(version)} is not an integer")
    if version < 1:
        raise fail(path, f"invalid format version {version} (versions start at 1)")
    if version > format_version:
        raise fail(
            path,
            f"uses model format version {version}; this edgetrain reads up to {format_version}",
            hint="upgrade edgetrain to load this model",
        )


def _field(
    obj: dict[str, Any],
    key: str,
    types: type | tuple[type, ...],
    where: str,
    path: Path,
    required: bool = True,
    default: Any = None,
) -> Any:
    """``obj[key]`` checked to be of ``types`` (bool never counts as int)."""
    if key not in obj:
        if required:
            raise fail(path, f"{where} has no {key!r}")
        return default
    value = obj[key]
    ok = isinstance(value, types) and not (
        isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,))
    )
    if not ok:
        want = "/".join(
            _type_name(t()) if t is not type(None) else "null"
            for t in (types if isinstance(types, tuple) else (types,))
        )
        raise fail(path, f"{where}: {key!r} must be a JSON {want}, got {_type_name(value)}")
    return value


def _string_list(value: Any, where: str, path: Path) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise fail(path, f"{where} must be a list of names, got {show(value)}")
    return value


def check_shape(value: Any, where: str, path: Path) -> tuple[int, ...]:
    """A shape from the description: a list of positive integers, their product within MAX_UNITS."""
    if not isinstance(value, list) or not value:
        raise fail(path, f"{where} must be a non-empty list of sizes, got {show(value)}")
    for d in value:
        if not is_int(d):
            raise fail(path, f"{where} holds {show(d)}; sizes must be integers")
        if d < 1:
            raise fail(path, f"{where} holds {d}; sizes must be positive")
    size = math.prod(value)
    if size > limits.limit("MAX_UNITS"):
        raise _over(path, f"the feature count of {where}", size, "MAX_UNITS")
    return tuple(value)


def check_document(doc: dict[str, Any], path: Path) -> None:
    """Every field the loader uses has the type it needs; op kinds are known; the layer count is
    within MAX_LAYERS. Structure (wiring, shapes against parameters) is left to `Graph.validate`."""
    from ..ops import OPS  # the registry as extended at load time (register_op)

    _field(doc, "name", str, "the model", path, required=False)
    inputs = _field(doc, "inputs", dict, "the model", path)
    if not inputs:
        raise fail(path, "the model has no inputs")
    for name, shape in inputs.items():
        check_shape(shape, f"the shape of input {show(name)}", path)
    outputs = _string_list(_field(doc, "outputs", list, "the model", path), "the model's outputs", path)
    if not outputs:
        raise fail(path, "the model has no outputs")
    nodes = _field(doc, "nodes", list, "the model", path)
    if len(nodes) > limits.limit("MAX_LAYERS"):
        raise _over(path, "the number of layers", len(nodes), "MAX_LAYERS")
    for i, node in enumerate(nodes):
        check_node(node, i, path, OPS)
    params = _field(doc, "params", list, "the model", path)
    seen: set[str] = set()
    for i, entry in enumerate(params):
        check_param_entry(entry, i, path)
        if entry["name"] in seen:
            raise fail(path, f"parameter {show(entry['name'])} is described twice")
        seen.add(entry["name"])
    meta = _field(doc, "meta", dict, "the model", path, required=False, default={})
    check_graph_meta(meta, inputs, path)


def check_node(node: Any, i: int, path: Path, ops: Iterable[str]) -> None:
    """One node: name, known op kind, inputs a list of names, params role -> name, attrs a dict."""
    if not isinstance(node, dict):
        raise fail(path, f"node {i} is a JSON {_type_name(node)}, not an object")
    name = _field(node, "name", str, f"node {i}", path)
    where = f"node {show(name)}"
    op = _field(node, "op", str, where, path)
    if op not in ops:
        raise fail(path, f"{where} has unknown op kind {show(op)}", hint=f"supported: {', '.join(sorted(ops))}")
    _string_list(_field(node, "inputs", list, where, path), f"the inputs of {where}", path)
    roles = _field(node, "params", dict, where, path)
    for role, pname in roles.items():
        if not isinstance(pname, str):
            raise fail(path, f"{where}: parameter of role {show(role)} must be a name, got {show(pname)}")
    _field(node, "attrs", dict, where, path)


def check_param_entry(entry: Any, i: int, path: Path) -> None:
    """One parameter's description: name, trainable flag, array kinds, entries, meta, qparams' types."""
    if not isinstance(entry, dict):
        raise fail(path, f"parameter {i} is a JSON {_type_name(entry)}, not an object")
    name = _field(entry, "name", str, f"parameter {i}", path)
    where = f"parameter {show(name)}"
    _field(entry, "trainable", bool, where, path)
    arrays = _string_list(_field(entry, "arrays", list, where, path), f"the arrays of {where}", path)
    unknown = [a for a in arrays if a not in ARRAY_KINDS]
    if unknown:
        raise fail(
            path, f"{where} lists unknown array kind {show(unknown[0])}", hint=f"array kinds: {', '.join(ARRAY_KINDS)}"
        )
    if len(set(arrays)) != len(arrays):
        raise fail(path, f"{where} lists an array kind twice")
    if "value" not in arrays:
        raise fail(path, f"{where} has no value array")
    if ("codebook" in arrays) != ("indices" in arrays):
        raise fail(path, f"{where}: codebook and indices must be stored together")
    entries = _field(entry, "entries", (dict, type(None)), where, path, required=False)
    for kind, member in (entries or {}).items():
        if kind not in ARRAY_KINDS or not isinstance(member, str):
            raise fail(
                path, f"{where}: entries must map array kinds to zip entry names, got {show(kind)}: {show(member)}"
            )
    meta = _field(entry, "meta", dict, where, path, required=False, default={})
    check_param_meta(meta, where, path)
    q = _field(entry, "qparams", (dict, type(None)), where, path, required=False)
    if q is not None:
        for key in ("scale", "zero_point", "bits", "axis"):
            if key not in q:
                raise fail(path, f"{where}: qparams have no {key!r}")


def check_param_meta(meta: dict[str, Any], where: str, path: Path) -> None:
    """The parameter metadata edgetrain reads: the block-sharing hint (current or old key), a
    positive block size or a [b_in, b_out] pair of them (see `export.c.sparse._motif_shape`)."""
    for key in (BLOCK_SHARED, "motif"):
        if key not in meta:
            continue
        b = meta[key]
        pair = b if isinstance(b, list) else [b, b]
        if len(pair) != 2 or not all(is_int(v) and v >= 1 for v in pair):
            raise fail(
                path,
                f"{where}: block-sharing hint {key!r} must be a positive block size or [b_in, b_out], got {show(b)}",
            )


def _finite_numbers(value: Any, where: str, path: Path) -> list[float]:
    if not isinstance(value, list) or not all(is_number(v) for v in value):
        raise fail(path, f"{where} must be a list of numbers, got {show(value)}")
    if not all(math.isfinite(v) for v in value):
        raise fail(path, f"{where} holds NaN or infinity")
    if not all(abs(v) <= FLOAT32_MAX for v in value):
        raise fail(path, f"{where} holds a value beyond the float32 range")
    return [float(v) for v in value]


def check_graph_meta(meta: dict[str, Any], inputs: dict[str, Any], path: Path) -> None:
    """The model metadata edgetrain reads back: the input standardisation ("preprocess"), the class
    count and the int8 activation quantization. Other keys (history, provenance) are free-form."""
    pre = meta.get("preprocess")
    if pre is not None:
        if not isinstance(pre, dict):
            raise fail(path, f"meta.preprocess must be an object, got {_type_name(pre)}")
        if pre:  # an empty one means "no standardisation", as a missing one
            mean = _finite_numbers(pre.get("mean"), "meta.preprocess.mean", path)
            std = _finite_numbers(pre.get("std"), "meta.preprocess.std", path)
            if len(mean) != len(std):
                raise fail(path, f"meta.preprocess: {len(mean)} means but {len(std)} standard deviations")
            if not all(s > 0 for s in std):
                raise fail(path, "meta.preprocess.std holds a standard deviation <= 0")
            if len(inputs) == 1:
                features = math.prod(next(iter(inputs.values())))
                if len(mean) != features:
                    raise fail(
                        path, f"meta.preprocess has {len(mean)} means but the model input has {features} features"
                    )
            if "source" in pre and not isinstance(pre["source"], str):
                raise fail(path, f"meta.preprocess.source must be a string, got {_type_name(pre['source'])}")
    if "n_classes" in meta and not (is_int(meta["n_classes"]) and meta["n_classes"] >= 1):
        raise fail(path, f"meta.n_classes must be a positive integer, got {show(meta['n_classes'])}")
    names = meta.get("class_names")
    # Class names map text labels to class ids (edgetrain.data_labels): one distinct name per id.
    if names is not None and (
        not isinstance(names, list) or not all(isinstance(n, str) and n for n in names) or len(set(names)) != len(names)
    ):
        raise fail(path, "meta.class_names must be a list of distinct, non-empty names")
    quant = meta.get("quantization")
    if quant is not None:
        if not isinstance(quant, dict):
            raise fail(path, f"meta.quantization must be an object, got {_type_name(quant)}")
        if "activations" in quant:
            check_activation_qparams(quant, path)


def check_activation_qparams(quant: dict[str, Any], path: Path) -> None:
    """meta.quantization as `quantize.ptq.from_graph` reads it: tensor -> [scale, zero_point]
    (finite scale > 0, an int8 zero point), a per_channel flag and a method name."""
    acts = quant["activations"]
    if not isinstance(acts, dict):
        raise fail(path, f"meta.quantization.activations must be an object, got {_type_name(acts)}")
    lo, hi = qrange(ACTIVATION_BITS)
    for t, v in acts.items():
        where = f"meta.quantization.activations[{show(t)}]"
        if not (isinstance(v, list) and len(v) == 2 and is_number(v[0]) and is_int(v[1])):
            raise fail(path, f"{where} must be [scale, zero_point], got {show(v)}")
        if not (math.isfinite(v[0]) and 0 < v[0] <= FLOAT32_MAX):
            raise fail(path, f"{where}: scale {v[0]} must be finite and > 0 (within the float32 range)")
        if not lo <= v[1] <= hi:
            raise fail(path, f"{where}: zero point {v[1]} is outside the int8 range [{lo}, {hi}]")
    if not isinstance(quant.get("per_channel"), bool):
        raise fail(path, f"meta.quantization.per_channel must be true or false, got {show(quant.get('per_channel'))}")
    if not isinstance(quant.get("method"), str):
        raise fail(path, f"meta.quantization.method must be a string, got {show(quant.get('method'))}")


def qrange(bits: int) -> tuple[int, int]:
    """Signed integer range of ``bits`` bits (as `quantize.int8.qrange`, extended to int32)."""
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


# --------------------------------------------------------------------------------------- arrays


@dataclass(frozen=True)
class NpyHeader:
    """What an .npy header declares, and where its data starts."""

    shape: tuple[int, ...]
    fortran_order: bool
    dtype: np.dtype
    offset: int

    @property
    def count(self) -> int:
        """Elements the header declares: the product of ``shape``."""
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        """Data bytes the header declares: ``count`` times the dtype's item size."""
        return self.count * self.dtype.itemsize


def read_npy_header(buf: bytes | bytearray, where: str, path: Path) -> NpyHeader:
    """Parse an .npy header (versions 1.0 and 2.0) without touching the data. Refuses a bad magic,
    an over-long header and object dtypes (pickles are never loaded)."""
    f = io.BytesIO(bytes(buf[: 12 + MAX_NPY_HEADER]))
    try:
        version = np.lib.format.read_magic(f)
        # max_header_size exists since numpy 1.24 but only newer stubs declare it: passed through
        # a mapping, so the call type-checks against either.
        limit: dict[str, Any] = {"max_header_size": MAX_NPY_HEADER}
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f, **limit)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f, **limit)
        else:
            raise fail(path, f"{where} uses .npy format version {version[0]}.{version[1]}; edgetrain reads 1.0 and 2.0")
    except ModelFileError:
        raise
    except (ValueError, TypeError, SyntaxError, OverflowError, EOFError) as e:  # numpy's header checks
        raise fail(path, f"{where} is not a valid .npy array ({type(e).__name__}: {show(str(e), 80)})") from None
    return NpyHeader(tuple(shape), bool(fortran), dtype, f.tell())


def check_array_header(h: NpyHeader, kind: str, where: str, path: Path) -> None:
    """Before anything is allocated: a plain dtype fit for the array kind, non-negative sizes,
    at most MAX_DATA_ELEMENTS elements and MAX_FILE_BYTES bytes."""
    dt = h.dtype
    if dt.hasobject:
        raise fail(path, f"{where} holds Python objects; edgetrain never loads pickled arrays")
    if dt.fields is not None or dt.subdtype is not None:
        raise fail(path, f"{where} has a structured dtype ({show(str(dt))})")
    if dt.kind not in _ALLOWED_KINDS[kind] or (dt.kind == "f" and dt.itemsize not in _FLOAT_SIZES):
        want = {"f": "a float", "b": "a boolean", "iu": "an integer"}[_ALLOWED_KINDS[kind]]
        raise fail(path, f"{where} has dtype {show(str(dt))}; {kind} arrays must be {want} array")
    if any(d < 0 for d in h.shape):
        raise fail(path, f"{where} declares a negative size in shape {h.shape}")
    if h.count > limits.limit("MAX_DATA_ELEMENTS"):
        raise _over(path, f"the element count {where} declares (shape {h.shape})", h.count, "MAX_DATA_ELEMENTS")
    if h.nbytes > limits.limit("MAX_FILE_BYTES"):
        raise _over(path, f"the byte size {where} declares (shape {h.shape})", h.nbytes, "MAX_FILE_BYTES")


def check_array_totals(value_headers: dict[str, NpyHeader], path: Path) -> None:
    """Over the parameters' value arrays, still from the headers: every dimension (a layer's units)
    within MAX_UNITS, their element total within MAX_PARAMETERS."""
    for name, h in value_headers.items():
        for d in h.shape:
            if d > limits.limit("MAX_UNITS"):
                raise _over(path, f"a layer size of parameter {show(name)} (shape {h.shape})", d, "MAX_UNITS")
    total = sum(h.count for h in value_headers.values())
    if total > limits.limit("MAX_PARAMETERS"):
        raise _over(path, "the model's parameter count", total, "MAX_PARAMETERS")


def build_array(buf: bytearray, h: NpyHeader, where: str, path: Path) -> np.ndarray:
    """The array over the member's bytes (no copy; writable, as np.load's). The data must be
    exactly what the header declares: short data is truncation, extra data is corruption."""
    have = len(buf) - h.offset
    if have != h.nbytes:
        raise fail(path, f"{where} holds {have} data bytes; its header (shape {h.shape}, {h.dtype}) needs {h.nbytes}")
    if h.count == 0:
        arr = np.empty(h.shape, h.dtype, order="F" if h.fortran_order else "C")
    else:
        flat = np.frombuffer(buf, h.dtype, h.count, h.offset)
        if not flat.flags.aligned:  # a crafted header length can misalign the data
            flat = flat.copy()
        # numpy's read_array: a Fortran-order array is the transpose of its reversed shape.
        arr = flat.reshape(h.shape[::-1]).transpose() if h.fortran_order else flat.reshape(h.shape)
    return arr


def check_array_values(arr: np.ndarray, kind: str, what: str, path: Path) -> None:
    """Float arrays hold no NaN or infinity (a non-finite weight poisons every output)."""
    if arr.dtype.kind != "f" or arr.size == 0:
        return
    if np.isnan(arr).any():
        raise fail(
            path,
            f"{what} holds NaN",
            hint="retrain or re-export the model; a NaN weight means training diverged (lower the learning rate)",
        )
    if np.isinf(arr).any():
        raise fail(
            path,
            f"{what} holds infinity",
            hint="retrain or re-export the model; an infinite weight means training diverged (lower the learning rate)",
        )


def check_attachments(name: str, arrays: dict[str, np.ndarray], path: Path) -> None:
    """Mask and cluster attachments fit the value: a mask of its shape; indices of its shape (with
    the codebook's trailing dimensions) pointing into the codebook."""
    value = arrays["value"]
    where = f"parameter {show(name)}"
    mask = arrays.get("mask")
    if mask is not None and mask.shape != value.shape:
        raise fail(path, f"{where}: mask has shape {mask.shape}, the value has {value.shape}")
    codebook, indices = arrays.get("codebook"), arrays.get("indices")
    if codebook is None:
        return
    assert indices is not None  # the description check refuses a codebook stored without indices
    if codebook.ndim < 1:
        raise fail(path, f"{where}: the codebook must have at least one dimension")
    if indices.shape + codebook.shape[1:] != value.shape:
        raise fail(
            path,
            f"{where}: indices of shape {indices.shape} over a codebook of shape {codebook.shape} "
            f"do not give the value's shape {value.shape}",
        )
    if indices.size and (int(indices.min()) < 0 or int(indices.max()) >= codebook.shape[0]):
        raise fail(
            path,
            f"{where}: cluster indices range over [{int(indices.min())}, {int(indices.max())}] but the "
            f"codebook has {codebook.shape[0]} entries",
        )


def check_qparams(q: dict[str, Any], shape: tuple[int, ...], name: str, path: Path) -> None:
    """Affine quantization parameters of a parameter of ``shape``: bits in SUPPORTED_BITS, axis
    None or valid for the rank, scale finite > 0 with one entry per slice along the axis (one when
    per tensor), zero points integers in the range of ``bits``, as many as scales."""
    where = f"qparams of {show(name)}"
    bits, axis = q["bits"], q["axis"]
    if not is_int(bits) or bits not in SUPPORTED_BITS:
        raise fail(path, f"{where}: bits {show(bits)} is not supported (2 to 16, or 32)")
    if axis is not None and not is_int(axis):
        raise fail(path, f"{where}: axis must be an integer or null, got {show(axis)}")
    if axis is not None and not -len(shape) <= axis < len(shape):
        raise fail(path, f"{where}: axis {axis} is out of range for a tensor of rank {len(shape)}")
    scale = q["scale"] if isinstance(q["scale"], list) else [q["scale"]]
    zero = q["zero_point"] if isinstance(q["zero_point"], list) else [q["zero_point"]]
    if not all(is_number(s) for s in scale):
        raise fail(path, f"{where}: scale must be a number or a list of numbers, got {show(q['scale'])}")
    if not all(math.isfinite(s) and 0 < s <= FLOAT32_MAX for s in scale):
        raise fail(path, f"{where}: scales must be finite and > 0 (within the float32 range)")
    if not all(is_int(z) for z in zero):
        raise fail(path, f"{where}: zero points must be integers, got {show(q['zero_point'])}")
    lo, hi = qrange(bits)
    if not all(lo <= z <= hi for z in zero):
        raise fail(path, f"{where}: a zero point is outside the {bits}-bit range [{lo}, {hi}]")
    want = 1 if axis is None else shape[axis]
    if len(scale) != want:
        raise fail(
            path,
            f"{where}: {len(scale)} scales, expected {want}" + ("" if axis is None else f" (the size of axis {axis})"),
        )
    if len(zero) != len(scale):
        raise fail(path, f"{where}: {len(zero)} zero points for {len(scale)} scales")

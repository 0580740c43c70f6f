"""The C ABI between the Python exporter and the C runtime (firmware_export), described once.

Every fact the Python side relies on about the C side lives here and nowhere else:

* the argument structs generated code fills in (`STRUCTS`): C type, header, ordered fields, and
  their layout on a data model (`layout`, `struct_bytes`; Cortex-M by default);
* `struct_initializer`, which renders a struct definition with C99 designated initializers, so a
  field order change in a header cannot silently shift values into the wrong fields;
* the enums generated code and the host read (`ENUMS`: sparse formats, optimizer kinds, status
  codes, guard verdicts) and the sparse-kernel limits (`FORMAT_CODE`, `GROUPED_ASM_MAX_ROW`);
* the scratch each kernel needs (`scratch_bytes`, the mirror of et_sparse.h's
  ``et_sparse_*_scratch_bytes``);
* the A/B storage bank header (`STORAGE_HEADER` and friends, et_storage.h);
* the emulation / fine-tuning harness exit statuses and file magics (templates/emulate).

tests/test_c_abi.py renders `probe_source` (compile-time checks of every struct's field offsets
and sizes and every constant against the real headers) and compiles it for the host and for
Cortex-M3/M4F, so a header edit not mirrored here breaks the test instead of the firmware.
"""

from __future__ import annotations

import numbers
import re
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import cast

from ...errors import ExportError
from .arrays import literal

# ---------------------------------------------------------------- data models


@dataclass(frozen=True)
class DataModel:
    """What decides a struct's layout on one compiler and target: the pointer width, and whether
    enums are "short" (AAPCS bare-metal, arm-none-eabi's default: an enum takes the smallest
    integer type that holds its values) or always int-sized."""

    name: str
    pointer_bytes: int
    short_enums: bool


CORTEX_M = DataModel("cortex-m", 4, True)  # arm-none-eabi-gcc: the targets the structs are sized for
ILP32 = DataModel("ilp32", 4, False)  # e.g. gcc -m32 on x86
LP64 = DataModel("lp64", 8, False)  # 64-bit Linux / macOS hosts (tests)

_SCALARS = {"int8_t": 1, "uint8_t": 1, "int16_t": 2, "uint16_t": 2, "int32_t": 4, "uint32_t": 4, "float": 4, "int": 4}

# ---------------------------------------------------------------- enums

ENUMS: dict[str, dict[str, int]] = {
    "et_sparse_format": {
        "ET_SPARSE_CSR": 1,
        "ET_SPARSE_COO": 2,
        "ET_SPARSE_DELTA8": 3,
        "ET_SPARSE_DELTA4": 4,
        "ET_SPARSE_BITMAP": 5,
        "ET_SPARSE_MOTIF": 6,
        "ET_SPARSE_CSC": 7,
        "ET_SPARSE_GROUPED": 8,
    },
    "et_optim_kind": {"ET_OPTIM_SGD": 0, "ET_OPTIM_ADAM": 1},
    "et_status": {
        "ET_OK": 0,
        "ET_ERR_NULL_ARG": 1,
        "ET_ERR_BAD_SHAPE": 2,
        "ET_ERR_BAD_PARAM": 3,
        "ET_ERR_STORAGE_IO": 4,
        "ET_ERR_STORAGE_EMPTY": 5,
        "ET_ERR_STORAGE_LAYOUT": 6,
        "ET_ERR_STORAGE_FULL": 7,
        "ET_ERR_STORAGE_VERIFY": 8,
        "ET_ERR_NON_FINITE": 9,
        "ET_STATUS_COUNT": 10,
    },
    "et_guard_verdict": {"ET_GUARD_ACCEPT": 0, "ET_GUARD_DIVERGED": 1},
}
ENUM_HEADERS = {
    "et_sparse_format": "et_sparse.h",
    "et_optim_kind": "et_optim.h",
    "et_status": "et_status.h",
    "et_guard_verdict": "et_guard.h",
}
STATUS = ENUMS["et_status"]

# et_sparse_format of every stored (non-dense) format name of edgetrain.formats.sparse.
SPARSE_FORMAT_ENUM = {
    "csr": "ET_SPARSE_CSR",
    "coo": "ET_SPARSE_COO",
    "delta8": "ET_SPARSE_DELTA8",
    "delta4": "ET_SPARSE_DELTA4",
    "bitmap": "ET_SPARSE_BITMAP",
    "motif": "ET_SPARSE_MOTIF",
    "csc": "ET_SPARSE_CSC",
    "grouped": "ET_SPARSE_GROUPED",
}
FORMAT_CODE = {name: ENUMS["et_sparse_format"][enum] for name, enum in SPARSE_FORMAT_ENUM.items()}
# et_sparse.h ET_GROUPED_ASM_MAX_ROW: et_sparse_grouped.c runs rows of up to this many weights in
# assembly (ReLU layers, Cortex-M4F); longer rows take its C loop.
GROUPED_ASM_MAX_ROW = 24


def enum_bytes(enum: str, model: DataModel = CORTEX_M) -> int:
    """Size in bytes of C enum ``enum`` under ``model`` (4 unless the ABI uses short enums)."""
    if not model.short_enums:
        return 4
    lo, hi = min(ENUMS[enum].values()), max(ENUMS[enum].values())
    for size in (1, 2, 4):
        if (lo >= 0 and hi < 2 ** (8 * size)) or (-(2 ** (8 * size - 1)) <= lo and hi < 2 ** (8 * size - 1)):
            return size
    return 4  # pragma: no cover - no enum here needs more


# ---------------------------------------------------------------- structs


@dataclass(frozen=True)
class Field:
    """One member of a runtime struct: its name and its C type, as declared in the header."""

    name: str
    ctype: str  # "int32_t", "float", "const int32_t *", "et_optim_kind", a struct type, ...

    @property
    def is_pointer(self) -> bool:
        """Whether the member's C type is a pointer (ends with ``*``)."""
        return self.ctype.endswith("*")


@dataclass(frozen=True)
class StructABI:
    """One runtime struct: ``ctype`` is its typedef name, declared in ``header``."""

    ctype: str
    header: str
    fields: tuple[Field, ...]

    @property
    def field_names(self) -> tuple[str, ...]:
        """The struct's member names, in declaration order."""
        return tuple(f.name for f in self.fields)


def _struct(ctype: str, header: str, *fields: str) -> StructABI:
    """``fields``: "C type name" declarations in order, e.g. "const int32_t * shifts"."""
    out = []
    for decl in fields:
        t, name = decl.rsplit(" ", 1)
        out.append(Field(name, t.strip()))
    return StructABI(ctype, header, tuple(out))


STRUCTS: dict[str, StructABI] = {
    s.ctype: s
    for s in (
        _struct(
            "et_dense_f32_params",
            "et_dense.h",
            "int32_t batch",
            "int32_t n_in",
            "int32_t n_out",
            "float act_min",
            "float act_max",
        ),
        _struct(
            "et_dense_s8_params",
            "et_dense.h",
            "int32_t batch",
            "int32_t n_in",
            "int32_t n_out",
            "int32_t input_offset",
            "int32_t output_offset",
            "int32_t act_min",
            "int32_t act_max",
            "int32_t per_channel",
            "const int32_t * multipliers",
            "const int32_t * shifts",
            "const int32_t * eff_bias",
        ),
        _struct(
            "et_add_s8_params",
            "et_elementwise.h",
            "int32_t input1_offset",
            "int32_t input2_offset",
            "int32_t output_offset",
            "int32_t left_shift",
            "int32_t input1_multiplier",
            "int32_t input1_shift",
            "int32_t input2_multiplier",
            "int32_t input2_shift",
            "int32_t output_multiplier",
            "int32_t output_shift",
            "int32_t act_min",
            "int32_t act_max",
        ),
        # Window geometry shared by the conv and pool kernels (nested in their argument structs).
        _struct(
            "et_conv_geom",
            "et_conv.h",
            "int32_t batch",
            "int32_t in_h",
            "int32_t in_w",
            "int32_t in_c",
            "int32_t out_h",
            "int32_t out_w",
            "int32_t out_c",
            "int32_t kernel_h",
            "int32_t kernel_w",
            "int32_t stride_h",
            "int32_t stride_w",
            "int32_t dilation_h",
            "int32_t dilation_w",
            "int32_t pad_top",
            "int32_t pad_bottom",
            "int32_t pad_left",
            "int32_t pad_right",
        ),
        _struct(
            "et_conv_f32_params", "et_conv.h", "et_conv_geom geom", "int32_t groups", "float act_min", "float act_max"
        ),
        _struct(
            "et_conv_s8_params",
            "et_conv.h",
            "et_conv_geom geom",
            "int32_t groups",
            "int32_t input_offset",
            "int32_t output_offset",
            "int32_t act_min",
            "int32_t act_max",
            "int32_t per_channel",
            "const int32_t * multipliers",
            "const int32_t * shifts",
            "const int32_t * eff_bias",
        ),
        _struct("et_pool_f32_params", "et_pool.h", "et_conv_geom geom", "float act_min", "float act_max"),
        _struct("et_pool_s8_params", "et_pool.h", "et_conv_geom geom", "int32_t act_min", "int32_t act_max"),
        _struct(
            "et_global_pool_f32_params",
            "et_pool.h",
            "int32_t batch",
            "int32_t in_h",
            "int32_t in_w",
            "int32_t channels",
            "float act_min",
            "float act_max",
        ),
        _struct(
            "et_global_pool_s8_params",
            "et_pool.h",
            "int32_t batch",
            "int32_t in_h",
            "int32_t in_w",
            "int32_t channels",
            "int32_t input_offset",
            "int32_t output_offset",
            "int32_t multiplier",
            "int32_t shift",
            "int32_t act_min",
            "int32_t act_max",
        ),
        _struct(
            "et_sparse_weights",
            "et_sparse.h",
            "int32_t format",
            "int32_t n_entries",
            "int32_t idx0_bytes",
            "int32_t idx1_bytes",
            "int32_t block_rows",
            "int32_t block_cols",
            "const void * idx0",
            "const void * idx1",
            "const void * values",
        ),
        _struct("et_cluster_indices", "et_cluster.h", "const uint32_t * words", "int32_t bits", "int32_t k"),
        _struct("et_sgd_params", "et_optim.h", "float lr", "float momentum", "float weight_decay"),
        _struct(
            "et_adam_params",
            "et_optim.h",
            "float lr",
            "float beta1",
            "float beta2",
            "float eps",
            "float weight_decay",
            "float one_minus_beta1",
            "float one_minus_beta2",
        ),
        _struct(
            "et_adam_step", "et_optim.h", "int32_t t", "float bc1", "float bc2", "float step_size", "float inv_bc2"
        ),
        _struct(
            "et_optimizer",
            "et_optim.h",
            "et_optim_kind kind",
            "et_sgd_params sgd",
            "et_adam_params adam",
            "et_adam_step step",
        ),
        _struct(
            "et_param_f32",
            "et_optim.h",
            "float * value",
            "float * m",
            "float * v",
            "int32_t trainable",
            "const uint8_t * mask",
        ),
        _struct("et_storage_segment", "et_storage.h", "void * data", "uint32_t size"),
        _struct(
            "et_storage_info",
            "et_storage.h",
            "uint32_t sequence",
            "int32_t bank",
            "int32_t valid_banks",
            "uint32_t erase_count_a",
            "uint32_t erase_count_b",
        ),
    )
}


def _describe(ctype: str) -> StructABI:
    try:
        return STRUCTS[ctype]
    except KeyError:
        raise ExportError(
            f"no ABI description of C struct {ctype!r}", hint="known: " + ", ".join(sorted(STRUCTS))
        ) from None


def type_size_align(
    ctype: str, model: DataModel = CORTEX_M, structs: Mapping[str, StructABI] | None = None
) -> tuple[int, int]:
    """(sizeof, alignment) of a field type on ``model``."""
    structs = STRUCTS if structs is None else structs
    if ctype.endswith("*"):
        return model.pointer_bytes, model.pointer_bytes
    if ctype in _SCALARS:
        return _SCALARS[ctype], _SCALARS[ctype]
    if ctype in ENUMS:
        n = enum_bytes(ctype, model)
        return n, n
    if ctype in structs:
        fields = layout(ctype, model, structs)
        align = max(type_size_align(f.ctype, model, structs)[1] for f in structs[ctype].fields)
        end = fields[-1][1] + fields[-1][2]
        return -(-end // align) * align, align
    raise ExportError(f"no size known for C type {ctype!r}")


def layout(
    ctype: str, model: DataModel = CORTEX_M, structs: Mapping[str, StructABI] | None = None
) -> list[tuple[str, int, int]]:
    """(field, offset, size) of every field of ``ctype`` on ``model``, by the C rules every target
    here follows: each field at the next multiple of its alignment, in declaration order."""
    structs = STRUCTS if structs is None else structs
    s = structs[ctype] if ctype in structs else _describe(ctype)
    out, off = [], 0
    for f in s.fields:
        size, align = type_size_align(f.ctype, model, structs)
        off = -(-off // align) * align
        out.append((f.name, off, size))
        off += size
    return out


def struct_bytes(ctype: str, model: DataModel = CORTEX_M) -> int:
    """sizeof(``ctype``) on ``model`` (default: the Cortex-M targets): what its static const
    definition costs in flash."""
    _describe(ctype)
    return type_size_align(ctype, model)[0]


# Argument structs of the inference kernels and their flash cost (program.py's names).
PTR_BYTES = CORTEX_M.pointer_bytes
STRUCT_BYTES = {k: struct_bytes(k) for k in ("et_dense_f32_params", "et_dense_s8_params", "et_add_s8_params")}
WEIGHTS_STRUCT_BYTES = struct_bytes("et_sparse_weights")

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
Value = str | int | float | Mapping[str, object]


def struct_initializer(
    ctype: str, name: str, values: Mapping[str, object] | Iterable[tuple[str, object]], storage: str = "static const"
) -> str:
    """The definition ``<storage> <ctype> <name> = {.field = value, ...};`` in C99 designated
    initializers, fields in declaration order.

    ``values`` maps every field to a value, each exactly once (a mapping, or (field, value) pairs);
    a missing, unknown or repeated field raises ExportError. A ``str`` is C text, used as is
    (``"FLT_MAX"``, ``"NULL"``, an array name); an int or float becomes an exact literal of the
    field's type (`arrays.literal`); 0 in a pointer field is ``NULL``; an int in an enum field
    becomes its enumerator's name; a nested struct field takes a mapping of its own fields.
    ``storage`` is the declaration's prefix (``"static"``, ``""``...)."""
    if not _IDENT.match(name):
        raise ExportError(f"{name!r} is not a C identifier")
    body = _initializer_body(_describe(ctype), values, ctype)
    prefix = f"{storage} " if storage else ""
    return f"{prefix}{ctype} {name} = {body};"


def _initializer_body(s: StructABI, values: Mapping[str, object] | Iterable[tuple[str, object]], where: str) -> str:
    pairs = list(values.items()) if isinstance(values, Mapping) else list(values)
    given: dict[str, object] = {}
    for key, v in pairs:
        if key in given:
            raise ExportError(f"{where}: field {key!r} is given twice")
        given[key] = v
    names = s.field_names
    unknown = [k for k in given if k not in names]
    missing = [k for k in names if k not in given]
    if unknown or missing:
        parts = ([f"unknown field(s) {', '.join(unknown)}"] if unknown else []) + (
            [f"missing field(s) {', '.join(missing)}"] if missing else []
        )
        raise ExportError(f"{where}: " + "; ".join(parts), hint=f"{s.ctype} fields: {', '.join(names)}")
    items = [f".{f.name} = {_value(f, given[f.name], f'{where}.{f.name}')}" for f in s.fields]
    return "{" + ", ".join(items) + "}"


def _value(f: Field, value: object, where: str) -> str:
    """``value`` (a `Value`; anything else is refused) as the C text of field ``f``."""
    v = value
    if isinstance(v, str):
        if not v.strip():
            raise ExportError(f"{where}: empty C expression")
        return v
    if f.ctype in STRUCTS:
        if not isinstance(v, Mapping):
            raise ExportError(f"{where}: a {f.ctype} field takes a mapping of its fields or C text")
        return _initializer_body(STRUCTS[f.ctype], v, where)
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise ExportError(f"{where}: cannot render {v!r} as C")
    v = cast(float, v)  # a numbers.Real (numpy scalars included), which mypy cannot narrow to
    if f.is_pointer:
        if v == 0:
            return "NULL"
        raise ExportError(f"{where}: a pointer field takes a name or 0, not {v!r}")
    if f.ctype in ENUMS:
        if isinstance(v, numbers.Integral):
            by_value = {val: key for key, val in ENUMS[f.ctype].items()}
            if int(v) in by_value:
                return by_value[int(v)]
        raise ExportError(f"{where}: {v!r} is no {f.ctype} value")
    if f.ctype == "float":
        try:
            return literal(v, "float")
        except ValueError as exc:
            raise ExportError(f"{where}: {exc}") from None
    if not isinstance(v, numbers.Integral):
        if float(v) != int(v):
            raise ExportError(f"{where}: {f.ctype} field needs an integer, got {v!r}")
        v = int(v)
    size = _SCALARS[f.ctype]
    lo, hi = (0, 2 ** (8 * size) - 1) if f.ctype.startswith("u") else (-(2 ** (8 * size - 1)), 2 ** (8 * size - 1) - 1)
    if not lo <= int(v) <= hi:
        raise ExportError(f"{where}: {v} does not fit {f.ctype}")
    return literal(int(v), f.ctype)


# ---------------------------------------------------------------- kernel scratch

# Kernels that take a caller-owned scratch buffer -> (size function in et_sparse.h, bytes per element,
# what one element is for). Mirrors et_sparse_*_scratch_bytes.
SCRATCH_KERNELS = {
    "et_sparse_f32_motif": ("et_sparse_f32_motif_scratch_bytes", 4, "group"),
    "et_sparse_s8_motif": ("et_sparse_s8_motif_scratch_bytes", 4, "group"),
    "et_sparse_s8_csc": ("et_sparse_s8_csc_scratch_bytes", 4, "output"),
}
_DIMS = ("batch", "n_in", "n_out", "block_rows", "block_cols")
INT32_MAX = 2**31 - 1


def scratch_bytes(kernel: str, **dims: int) -> int:
    """Scratch bytes ``kernel`` needs for one call, as its C ``<kernel>_scratch_bytes`` returns
    them: motif kernels one float / int32 group sum per block column (``n_in / block_cols``), the
    int8 CSC kernel one int32 accumulator per output (``n_out``). Independent of the batch (the
    kernels reuse the buffer per sample).

    ``dims``: ``n_in``, ``n_out`` (required), ``block_rows``, ``block_cols``, ``batch`` (default
    1). Shapes the kernel rejects (where C returns -1) raise ExportError."""
    if kernel not in SCRATCH_KERNELS:
        raise ExportError(
            f"{kernel!r} takes no scratch buffer", hint="kernels with scratch: " + ", ".join(SCRATCH_KERNELS)
        )
    unknown = sorted(set(dims) - set(_DIMS))
    if unknown:
        raise ExportError(f"unknown dimension(s) {', '.join(unknown)} for {kernel}", hint="use " + ", ".join(_DIMS))
    missing = [d for d in ("n_in", "n_out") if d not in dims]
    if missing:
        raise ExportError(f"{kernel} scratch needs {', '.join(missing)}")
    d = {"batch": 1, "block_rows": 1, "block_cols": 1, **{k: int(v) for k, v in dims.items()}}
    _, elem, per = SCRATCH_KERNELS[kernel]
    bad = [k for k in _DIMS if d[k] < 1]
    if per == "output" and (d["block_rows"], d["block_cols"]) != (1, 1):
        bad.append("block_rows/block_cols (CSC blocks are 1 x 1)")
    if not bad and per == "group" and (d["n_in"] % d["block_cols"] or d["n_out"] % d["block_rows"]):
        bad.append("n_in/n_out not multiples of the block")
    count = d["n_in"] // max(d["block_cols"], 1) if per == "group" else d["n_out"]
    if not bad and count > INT32_MAX // elem:
        bad.append("size beyond int32")
    if bad:
        raise ExportError(f"{kernel} rejects {d}: {', '.join(bad)}")
    return count * elem


def conv_scratch_bytes(kernel_h: int, kernel_w: int, in_c: int, groups: int, elem_bytes: int = 4) -> int:
    """Scratch bytes of ``et_conv_f32`` (``elem_bytes`` 4) / ``et_conv_s8`` (1), as
    ``et_conv_*_scratch_bytes`` return them for arguments the kernel accepts: 0 for a 1x1 kernel
    with groups 1 (the pointwise paths need none), else for float32 one window of one group,
    ``kernel_h * kernel_w * in_c / groups`` floats, and for int8 two windows widened to int16 (the
    two-pixel im2col) and one int8 window, plus 3 bytes to word-align them: ``5 * window + 3``.
    Independent of the batch; the depthwise kernels need none. Raises ExportError where C returns
    -1 for these values."""
    kh, kw, c, g = (int(v) for v in (kernel_h, kernel_w, in_c, groups))
    if min(kh, kw, c, g) < 1 or c % g:
        raise ExportError(f"conv scratch: kernel {kh}x{kw}, {c} input channels, groups {g} is rejected by the kernel")
    if kh == 1 and kw == 1 and g == 1:
        return 0
    window = kh * kw * (c // g)
    n = 5 * window + 3 if int(elem_bytes) == 1 else window * int(elem_bytes)
    if n > INT32_MAX:
        raise ExportError(f"conv scratch of {n} bytes is beyond int32")
    return n


def depthwise_conv_s8_scratch_bytes(
    in_c: int,
    out_c: int,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    out_hw: tuple[int, int],
) -> int:
    """Scratch bytes of ``et_depthwise_conv_s8``, as ``et_depthwise_conv_s8_scratch_bytes`` returns
    them for arguments the kernel accepts: 0 unless the depth multiplier is 1, ``out_c >= 4`` and
    the kernel has at most 49 taps (the four-channel block path); then its padded band,
    ``(2 * span - 1) * band_w * 4 + 3`` bytes with ``span = (kernel_h - 1) * dilation_h + 1`` and
    ``band_w = (out_w - 1) * stride_w + (kernel_w - 1) * dilation_w + 1`` (int8 words of four
    channels), and for a 3x3 kernel with dilation 1 at least ``5 * 16 * L + 3`` with
    ``L = (out_h - 1) * stride_h + 3`` when ``out_h > out_w`` else ``band_w`` (the Cortex-M4 int16
    pair layout, along the longer output axis; every build reserves it). Independent of the batch;
    the float depthwise kernel needs none. Raises ExportError where C returns -1 for these values."""
    cin, cout, (kh, kw), (dh, dw) = int(in_c), int(out_c), kernel, dilation
    (stride_h, sw), (out_h, ow) = (int(v) for v in stride), (int(v) for v in out_hw)
    if min(cin, cout, kh, kw, stride_h, sw, dh, dw, out_h, ow) < 1 or cout % cin:
        raise ExportError(f"depthwise scratch: {cin} -> {cout} channels, kernel {kh}x{kw} is rejected by the kernel")
    if cout != cin or cout < 4 or kh * kw > 49:
        return 0
    n = (2 * ((kh - 1) * dh + 1) - 1) * ((ow - 1) * sw + (kw - 1) * dw + 1) * 4  # the int8 layout
    if (kh, kw, dh, dw) == (3, 3, 1, 1):  # room for the int16 pair layout along the longer output axis
        oh, sh = int(out_h), int(stride_h)
        n = max(n, 5 * 16 * ((oh - 1) * sh + 3 if oh > ow else (ow - 1) * sw + 3))
    n += 3
    if n > INT32_MAX:
        raise ExportError(f"depthwise scratch of {n} bytes is beyond int32")
    return n


SHARED_MAX_SLOTS = 0xFFFF  # et_shared.h ET_SHARED_MAX_SLOTS
SHARED_NONE = 0xFFFF  # et_shared.h ET_SHARED_NONE: the index of a masked-out entry


def shared_scratch_bytes(n_slots: int) -> int:
    """Bytes of the slot-gradient scratch of the shared-weight backward kernels, as
    ``et_dense_f32_shared_scratch_bytes`` returns them: one float per codebook slot, whatever the
    batch and layer shape. Raises ExportError where C returns -1 (n_slots outside
    1..SHARED_MAX_SLOTS)."""
    if not 1 <= int(n_slots) <= SHARED_MAX_SLOTS:
        raise ExportError(
            f"a shared weight needs 1..{SHARED_MAX_SLOTS} codebook slots, got {n_slots}", hint="use fewer clusters"
        )
    return 4 * int(n_slots)


# ---------------------------------------------------------------- storage bank header (et_storage.h)

STORAGE_MAGIC = 0x42575445  # ET_STORAGE_MAGIC, "ETWB" little-endian
STORAGE_VERSION = 1  # ET_STORAGE_VERSION
STORAGE_HEADER_BYTES = 32  # ET_STORAGE_HEADER_BYTES
STORAGE_MAX_WRITE_UNIT = 32  # ET_STORAGE_MAX_WRITE_UNIT
# The header's fields in order (little-endian); the CRC covers bytes 0..27 then the payload.
# erase_count_a / erase_count_b (bytes 20 and 24, reserved and 0 in banks written before they
# existed, same format version): how many times each bank has been erased for a commit, as the
# commit that wrote this header knew it (a lower bound: erases of interrupted commits are lost).
# The CRC detects corruption, not tampering (no key is involved).
STORAGE_HEADER_FIELDS = (
    "magic",
    "version",
    "header_bytes",
    "sequence",
    "payload_len",
    "layout_tag",
    "erase_count_a",
    "erase_count_b",
    "crc",
)
STORAGE_HEADER = struct.Struct("<IHHIIIIII")
STORAGE_CRC_OFFSET = STORAGE_HEADER.size - 4
assert STORAGE_HEADER.size == STORAGE_HEADER_BYTES

# ---------------------------------------------------------------- harness (templates/emulate, templates/finetune)

# enum et_harness_status (et_harness.h), enum et_finetune_status (et_harness.h), and the fault
# handlers' statuses (et_hio.h ET_HIO_EXIT_*).
HARNESS_STATUS = {
    "ET_HARNESS_OK": 0,
    "ET_HARNESS_NO_INPUT": 2,
    "ET_HARNESS_BAD_HEADER": 3,
    "ET_HARNESS_SIZE_MISMATCH": 4,
    "ET_HARNESS_SHORT_READ": 5,
    "ET_HARNESS_NO_OUTPUT": 6,
    "ET_HARNESS_WRITE_FAILED": 7,
    "ET_HARNESS_MODEL_FAILED": 8,
    "ET_HARNESS_COUNTER_STUCK": 9,
    "ET_HARNESS_NON_FINITE_INPUT": 12,
}
FINETUNE_STATUS = {"ET_FT_NO_BANK": 10, "ET_FT_COMMIT_FAILED": 11}
FAULT_STATUS = {
    "ET_HIO_EXIT_HARDFAULT": 71,
    "ET_HIO_EXIT_MEMMANAGE": 72,
    "ET_HIO_EXIT_BUSFAULT": 73,
    "ET_HIO_EXIT_USAGEFAULT": 74,
}
# Not a harness status: what the C library (abort), a sanitizer, or plain semihosting SYS_EXIT ends with.
RUNTIME_ERROR_STATUS = 1

EXIT_MEANINGS: dict[int, str] = {
    HARNESS_STATUS["ET_HARNESS_OK"]: "ok",
    RUNTIME_ERROR_STATUS: "runtime error (sanitizer report, abort, or semihosting exit without a status)",
    HARNESS_STATUS["ET_HARNESS_NO_INPUT"]: "the harness could not open inputs.bin",
    HARNESS_STATUS["ET_HARNESS_BAD_HEADER"]: "inputs.bin has no ETI1 header",
    HARNESS_STATUS["ET_HARNESS_SIZE_MISMATCH"]: "input sample size differs from the model's ET_MODEL_INPUT_BYTES",
    HARNESS_STATUS["ET_HARNESS_SHORT_READ"]: "inputs.bin ended before its sample count",
    HARNESS_STATUS["ET_HARNESS_NO_OUTPUT"]: "the harness could not create outputs.bin",
    HARNESS_STATUS["ET_HARNESS_WRITE_FAILED"]: "writing outputs.bin failed",
    HARNESS_STATUS["ET_HARNESS_MODEL_FAILED"]: "et_model_infer returned a non-zero status",
    HARNESS_STATUS["ET_HARNESS_COUNTER_STUCK"]: "the instruction counter does not advance",
    HARNESS_STATUS["ET_HARNESS_NON_FINITE_INPUT"]: "an input sample holds NaN or +-inf (ET_ERR_NON_FINITE)",
    FAULT_STATUS["ET_HIO_EXIT_HARDFAULT"]: "HardFault on the target",
    FAULT_STATUS["ET_HIO_EXIT_MEMMANAGE"]: "MemManage fault on the target",
    FAULT_STATUS["ET_HIO_EXIT_BUSFAULT"]: "BusFault on the target",
    FAULT_STATUS["ET_HIO_EXIT_USAGEFAULT"]: "UsageFault on the target",
}
# The fine-tuning harness reads other files, so some shared statuses mean something else there.
FINETUNE_EXIT_MEANINGS: dict[int, str] = {
    FINETUNE_STATUS["ET_FT_NO_BANK"]: "no valid stored bank to boot from",
    FINETUNE_STATUS["ET_FT_COMMIT_FAILED"]: "commit to the storage bank failed",
    HARNESS_STATUS["ET_HARNESS_BAD_HEADER"]: "a data file has a bad header",
    HARNESS_STATUS["ET_HARNESS_SIZE_MISMATCH"]: "sample size differs from the model",
}

# The 4-byte magic at the start of each exchanged file -> its #define in et_harness.h.
INPUTS_MAGIC = b"ETI1"
OUTPUTS_MAGIC = b"ETO1"
EVAL_MAGIC = b"ETE1"
TRAIN_MAGIC = b"ETT1"
RESULT_MAGIC = b"ETF1"
IO_MAGICS = {
    "ET_HARNESS_INPUTS_MAGIC": INPUTS_MAGIC,
    "ET_HARNESS_OUTPUTS_MAGIC": OUTPUTS_MAGIC,
    "ET_FT_EVAL_MAGIC": EVAL_MAGIC,
    "ET_FT_TRAIN_MAGIC": TRAIN_MAGIC,
    "ET_FT_RESULT_MAGIC": RESULT_MAGIC,
}

# ---------------------------------------------------------------- the probe


def probe_constants() -> dict[str, int]:
    """#define / enumerator name -> value: every integer constant the probe checks."""
    out: dict[str, int] = {}
    for values in ENUMS.values():
        out.update(values)
    out.update(HARNESS_STATUS)
    out.update(FINETUNE_STATUS)
    out.update(FAULT_STATUS)
    out.update(
        ET_STORAGE_MAGIC=STORAGE_MAGIC,
        ET_STORAGE_VERSION=STORAGE_VERSION,
        ET_STORAGE_HEADER_BYTES=STORAGE_HEADER_BYTES,
        ET_STORAGE_MAX_WRITE_UNIT=STORAGE_MAX_WRITE_UNIT,
        ET_GROUPED_ASM_MAX_ROW=GROUPED_ASM_MAX_ROW,
    )
    return out


def probe_source(
    model: DataModel = CORTEX_M,
    structs: Mapping[str, StructABI] | None = None,
    constants: Mapping[str, int] | None = None,
) -> str:
    """A C99 file that compiles only if the headers match this module on ``model``: for each
    struct, the offset and size of every field and the sizeof; every enumerator, #define and
    enum size. Its function ``et_abi_probe_strings`` returns how many file magics differ (string
    contents are no integer constant expression, so they are checked when it runs).

    ``structs`` / ``constants`` replace the descriptions (to prove that a wrong one fails)."""
    structs = STRUCTS if structs is None else structs
    constants = probe_constants() if constants is None else constants
    headers = sorted({s.header for s in structs.values()} | set(ENUM_HEADERS.values()) | {"et_kernels.h"})
    lines = [
        f"/* ABI probe for data model {model.name} (pointer {model.pointer_bytes} B, "
        f"{'short' if model.short_enums else 'int-sized'} enums), generated by edgetrain/export/c/abi.py. */",
        "#include <stddef.h>",
        "#include <stdint.h>",
        "",
        *[f'#include "{h}"' for h in headers],
        '#include "et_harness.h"',
        '#include "et_hio.h"',
        "",
        "#define ET_ABI_CHECK(name, cond) typedef char et_abi_##name[(cond) ? 1 : -1]",
        "",
    ]
    for s in structs.values():
        types = {f.name: f.ctype for f in s.fields}
        for fname, off, size in layout(s.ctype, model, structs):
            member = f"(({s.ctype} *)0)->{fname}"
            lines.append(f"ET_ABI_CHECK({s.ctype}__{fname}__offset, offsetof({s.ctype}, {fname}) == {off});")
            lines.append(f"ET_ABI_CHECK({s.ctype}__{fname}__size, sizeof({member}) == {size});")
            # Comparing pointers to incompatible types is a constraint violation (an error with
            # -Werror), so this compiles only when the field has exactly the described type.
            lines.append(f"ET_ABI_CHECK({s.ctype}__{fname}__type, sizeof(&{member} == ({types[fname]} *)0) != 0);")
        lines.append(
            f"ET_ABI_CHECK({s.ctype}__sizeof, sizeof({s.ctype}) == {type_size_align(s.ctype, model, structs)[0]});"
        )
        lines.append("")
    for enum in ENUMS:
        lines.append(f"ET_ABI_CHECK({enum}__sizeof, sizeof({enum}) == {enum_bytes(enum, model)});")
    for key, value in constants.items():
        lines.append(f"ET_ABI_CHECK({key}, ({key}) == {value}{'u' if value > INT32_MAX else ''});")
    lines += [
        "",
        "static int et_abi_same4(const char *a, const char *b)",
        "{",
        "    return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3] && a[4] == '\\0';",
        "}",
        "",
        "int et_abi_probe_strings(void);",
        "int et_abi_probe_strings(void)",
        "{",
        "    int wrong = 0;",
    ]
    for key, magic in IO_MAGICS.items():
        lines.append(f'    wrong += !et_abi_same4({key}, "{magic.decode("ascii")}");')
    lines += ["    return wrong;", "}", ""]
    return "\n".join(lines)

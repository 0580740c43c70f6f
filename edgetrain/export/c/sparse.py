"""Storage format and kernel choice for masked dense layers (the C side of sparse models).

A dense node whose weight `Param` carries a ``mask`` is stored in the smallest lossless format
(`formats.sparse.choose_format`, on the C layout ``[n_out][n_in]`` and the value dtype actually
emitted: float32, or the int8 weights after quantization) and run by the matching
``et_sparse_*`` kernel. When the smallest format is ``dense`` the ordinary dense kernel runs.

Block-shared layers (``meta[BLOCK_SHARED] = [b_in, b_out]``, `edgetrain.graph.BLOCK_SHARED`, set by a
block-sharing technique such as `techniques.motif`; a bare ``m`` means ``m x m``) use the motif
kernel when the emitted matrix really is block-shared: every
``b_out x b_in`` block (C layout) fully masked with one value, or fully masked out. int8 per-channel
quantization scales each output row separately, which breaks sharing across outputs; then
``1 x b_in`` blocks (sharing along the inputs only) are tried. If neither holds, the layer falls back
to the ordinary formats. The motif kernel stores the block grid as CSR (one value per block).

``sparse_format`` (an export option) is a policy or a forced format, for every masked layer or as a
``{layer: name}`` mapping. Unmasked layers are always dense.

* ``"auto"`` (the default): the smallest format by bytes (flash is what a microcontroller runs out
  of first; ties go to the simpler kernel).
* ``"fast"``: the fastest kernel. float32 ReLU layers whose rows are short (at least 90 % of the
  weights in rows of at most 24): ``grouped``, row-grouped CSR whose Cortex-M4F kernel has an
  assembly loop per row length; the exporter first sorts hidden units by fan-in
  (`transforms.reorder`; same function) so that each layer is a few runs of equal-length rows.
  Other layers and int8: ``csc``, the input-driven kernel that skips zero inputs (a ReLU output
  has many). Both cost more flash than ``auto`` (``grouped`` stores 32-bit column indices). A layer
  whose masked fraction is above ``FAST_DENSE_ABOVE`` stays dense; block-shared layers keep the
  motif kernel under both policies. ``bench/sparse.py`` measures the policies.
* a format name (``"csr"``, ``"csc"``, ``"bitmap"``, ...) or ``"motif"``: forced.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...errors import ConfigError, ExportError
from ...formats.sparse import ENCODERS, ByteReport, Encoding, all_encodings, choose_format, encode_csr
from ...graph import BLOCK_SHARED
from .abi import FORMAT_CODE, GROUPED_ASM_MAX_ROW, WEIGHTS_STRUCT_BYTES  # noqa: F401 (re-exported)

SparseOption = str | Mapping[str, str] | None
CHOICES = ("auto", "fast", "motif", *ENCODERS)
# The fast kernel suffix of every non-dense format (FORMAT_CODE, its et_sparse_format code: abi).
KERNEL_SUFFIX = {
    "csr": "csr",
    "coo": "coo",
    "delta8": "delta",
    "delta4": "delta",
    "bitmap": "bitmap",
    "motif": "motif",
    "csc": "csc",
    "grouped": "grouped",
}
# "fast" policy: above this stored fraction the dense kernel (no index loads, no scatter) wins.
FAST_DENSE_ABOVE = 0.5
# Rows longer than GROUPED_ASM_MAX_ROW (abi) take et_sparse_grouped.c's C loop, slower than CSC, so
# "fast" wants nearly all weights in short rows.
GROUPED_ASM_SHARE = 0.9
# Runtime source of every sparse kernel (firmware_export/src).
SPARSE_SOURCES = {
    **{f"et_sparse_{k}_ref": "et_sparse_ref.c" for k in ("f32", "s8")},
    **{
        f"et_sparse_{k}_{f}": f"et_sparse_{'csr' if f == 'coo' else f}.c"
        for k in ("f32", "s8")
        for f in ("csr", "coo", "delta", "bitmap", "motif", "csc", "grouped")
    },
}


@dataclass(frozen=True)
class LayerStorage:
    """How one dense layer's weight is stored and which kernel family runs it."""

    format: str  # "dense", a formats.sparse name, or "motif"
    encoding: Encoding  # for motif: the CSR of the block grid
    nnz: int  # stored weights of the expanded matrix (dense: all)
    block: tuple[int, int] = (1, 1)  # (block_rows, block_cols), C layout
    alternatives: dict[str, int] = field(default_factory=dict)  # format -> total bytes

    @property
    def sparse(self) -> bool:
        """Whether a sparse kernel runs the layer (any format but ``dense``)."""
        return self.format != "dense"

    @property
    def nbytes(self) -> ByteReport:
        """Index and value bytes of the stored encoding."""
        return self.encoding.nbytes


def resolve_option(option: SparseOption, layer: str) -> str:
    """The sparse format named for ``layer`` by ``option`` (one name for every layer, a per-layer
    mapping, or None: ``auto``); ConfigError for an unknown format."""
    if option is None:
        return "auto"
    name = option if isinstance(option, str) else option.get(layer, "auto")
    if name not in CHOICES:
        raise ConfigError(
            f"unknown sparse format {name!r} for layer {layer!r}", hint="use one of: " + ", ".join(CHOICES)
        )
    return name


def wants_sorted_units(option: SparseOption) -> bool:
    """Whether some layer may use the ``grouped`` format, which runs fastest on sorted units."""
    names = [option] if option is None or isinstance(option, str) else list(option.values())
    return any(n in ("fast", "grouped") for n in names)


def check_option(option: SparseOption, layers: list[str]) -> None:
    """Reject unknown names and mappings that name no dense layer (a typo would silently do nothing)."""
    if option is None or isinstance(option, str):
        resolve_option(option, "")
        return
    unknown = sorted(set(option) - set(layers))
    if unknown:
        raise ConfigError(
            f"sparse_format names unknown dense layers: {', '.join(unknown)}", hint="dense layers: " + ", ".join(layers)
        )
    for layer in option:
        resolve_option(option, layer)


def _motif_shape(meta: Mapping[str, Any]) -> tuple[int, int] | None:
    """(block_rows, block_cols) in C layout from meta[BLOCK_SHARED] ([b_in, b_out] or m)."""
    m = meta.get(BLOCK_SHARED)
    if m is None:
        return None
    b_in, b_out = (int(m), int(m)) if np.ndim(m) == 0 else (int(m[0]), int(m[1]))
    return b_out, b_in


def _is_block_shared(values: np.ndarray, mask: np.ndarray, block: tuple[int, int]) -> bool:
    br, bc = block
    n_out, n_in = values.shape
    if n_out % br or n_in % bc:
        return False
    grid = (n_out // br, br, n_in // bc, bc)
    m = mask.reshape(grid)
    full, empty = np.asarray(m.all(axis=(1, 3))), ~m.any(axis=(1, 3))
    if not np.all(full | empty):
        return False
    v = values.reshape(grid)
    first = v[:, :1, :, :1]
    return bool(np.all((v == first) | ~full[:, None, :, None]))


def motif_block(values: np.ndarray, mask: np.ndarray, meta: Mapping[str, Any]) -> tuple[int, int] | None:
    """The block shape the motif kernel can use for this emitted matrix, or None."""
    shape = _motif_shape(meta)
    if shape is None:
        return None
    for block in dict.fromkeys([shape, (1, shape[1])]):  # shared across outputs, else inputs only
        if block != (1, 1) and _is_block_shared(values, mask, block):
            return block
    return None


def fastest_sparse_format(mask: np.ndarray, vdtype: type, activation: str | None) -> str:
    """The "fast" policy's kernel for a masked layer below FAST_DENSE_ABOVE: ``grouped`` where its
    assembly loops run (float32, ReLU, at least GROUPED_ASM_SHARE of the weights in rows of at most
    GROUPED_ASM_MAX_ROW), else the input-driven ``csc``."""
    if vdtype != np.float32 or activation != "relu":
        return "csc"
    lengths = mask.sum(axis=1)
    short = lengths[lengths <= GROUPED_ASM_MAX_ROW].sum()
    return "grouped" if short >= GROUPED_ASM_SHARE * lengths.sum() else "csc"


def choose_storage(
    values: np.ndarray,
    mask: np.ndarray | None,
    meta: Mapping[str, Any],
    forced: str,
    layer: str,
    activation: str | None = None,
) -> LayerStorage:
    """Storage of one layer. ``values`` is the emitted matrix in C layout (float32 or int8 ints),
    ``mask`` the C-layout mask or None (unmasked: dense), ``forced`` from `resolve_option`,
    ``activation`` the fused clamp ("relu", "relu6" or None; the "fast" policy looks at it)."""
    vdtype = np.int8 if values.dtype == np.int8 else np.float32
    if mask is None:
        enc = ENCODERS["dense"](values, np.ones(values.shape, bool), vdtype)
        return LayerStorage("dense", enc, values.size)
    mask = np.asarray(mask, bool)
    encs = all_encodings(values, mask, vdtype)
    sizes = {name: e.nbytes.total for name, e in encs.items()}
    nnz = int(mask.sum())
    block = motif_block(values, mask, meta) if forced in ("auto", "fast", "motif") else None
    if block is not None:
        br, bc = block
        grid_enc = encode_csr(values[::br, ::bc], mask[::br, ::bc], vdtype)
        sizes["motif"] = grid_enc.nbytes.total
        return LayerStorage("motif", grid_enc, nnz, block, sizes)
    if forced == "motif":
        raise ExportError(
            f"layer {layer!r}: sparse_format 'motif' needs a block-shared weight "
            f"(meta[{BLOCK_SHARED!r}] and every block all-zero or constant)"
        )
    if forced == "fast":
        dense = nnz > FAST_DENSE_ABOVE * mask.size
        enc = encs["dense" if dense else fastest_sparse_format(mask, vdtype, activation)]
    else:
        enc = choose_format(values, mask, vdtype) if forced == "auto" else encs[forced]
    return LayerStorage(enc.format, enc, nnz, alternatives=sizes)


def weights_struct(name: str, storage: LayerStorage, arrays: list[str | None]) -> str:
    """``static const et_sparse_weights`` definition; ``arrays`` = emitted names in arrays() order
    (None for a zero-length array, which C99 cannot define: the pointer is NULL)."""
    enc = storage.encoding
    arrs = list(enc.arrays().values())
    idx, ptrs = arrs[:-1], [a if a is not None else "NULL" for a in arrays]
    idx_ptrs, values_ptr = ptrs[:-1], ptrs[-1]
    idx0 = idx_ptrs[0] if idx else "NULL"
    idx1 = idx_ptrs[1] if len(idx) > 1 else "NULL"
    width0 = idx[0].itemsize if idx else 1
    width1 = idx[1].itemsize if len(idx) > 1 else 0
    n_entries = int(arrs[-1].size)
    return (
        f"static const et_sparse_weights {name} = {{{FORMAT_CODE[storage.format]}, {n_entries}, "
        f"{width0}, {width1}, {storage.block[0]}, {storage.block[1]}, {idx0}, {idx1}, {values_ptr}}};"
    )

"""Lossless compact storage for a masked 2-D weight matrix, laid out the way the C runtime reads it.

Input layout
------------
Every encoder takes the matrix in **C layout: row-major ``[n_out][n_in]``**, one row per output
neuron. The Python model keeps a dense layer's weights as ``[n_in, n_out]``; pass ``W.T`` (and
``mask.T``) here. Positions are numbered row-major: ``p = row * n_cols + col``.

What is stored
--------------
The **mask is the truth**: every position where ``mask`` is true is stored, even when its weight is
exactly ``0.0`` (a connection that training may still move away from zero), and no position where
``mask`` is false is stored, whatever the matrix holds there. ``decode()`` therefore returns
``where(mask, matrix, 0)`` in the value dtype, and ``stored_mask()`` returns the stored positions
(equal to ``mask`` for COO, CSR and bitmap; see the delta-offset notes for fillers). When ``mask``
is ``None`` the non-zeros of ``matrix`` are the mask.

Every encoding is a small frozen dataclass whose numpy array fields are exactly the C arrays the
code generator emits (``arrays()`` lists them in emission order with their dtypes). Shape and
counts (``n_rows``, ``n_cols``, ``nnz``, ``n_entries``) are emitted as constants/kernel arguments,
not as arrays, so they are not part of the byte count. ``nbytes`` splits the total into index and
value bytes and always equals the sum of the arrays' ``.nbytes`` (what ``sizeof`` reports in C).
An all-zero mask yields zero-length arrays in some formats; C99 has no zero-length arrays, so the
generator must emit a null pointer (or skip the layer) for those.

Values are ``float32`` (other float inputs are cast; the engine trains in float32) or ``int8``
(already quantized integers; the scale and zero point live elsewhere, and anything else raises).

Formats (registry ``ENCODERS``, name -> encoder)
------------------------------------------------
``dense``   ``values[n_rows*n_cols]`` row-major.
``coo``     ``rows[nnz]``, ``cols[nnz]``, ``values[nnz]``, sorted row-major.
``csr``     ``row_ptr[n_rows+1]``, ``cols[nnz]``, ``values[nnz]``.
``csc``     ``col_ptr[n_cols+1]``, ``row_offsets[nnz]``, ``values[nnz]``: column-major (column by
            column, rows ascending); ``row_offsets`` hold ``4 * row``, the byte offset of the row in
            a 4-byte accumulator array. For the input-driven kernel that skips zero inputs.
``delta8``  ``gaps[n_entries]`` (uint8) + ``values[n_entries]``: see ``DeltaEncoding``.
``delta4``  ``gaps[ceil(n_entries/2)]`` (uint8, two 4-bit gaps per byte) + ``values[n_entries]``.
``bitmap``  ``bits[ceil(n_rows*n_cols/8)]`` (uint8) + ``values[nnz]``.
``grouped`` ``runs[2*n_runs]``, ``cols[nnz]`` (always uint32), ``values[nnz]``: CSR whose rows are
            described by runs of equal length instead of a row pointer; see ``GroupedEncoding``.

Index widths follow the shape: an index array is uint8 when its largest possible value fits in
uint8 (``n_rows - 1`` for row indices, ``4 * (n_rows - 1)`` for CSC row offsets, ``n_cols - 1`` for
column indices, ``nnz`` for ``row_ptr`` and ``col_ptr``, ``max(n_rows, n_cols)`` for ``runs``),
else uint16, else uint32. ``grouped`` is the exception: its column indices are always uint32.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Protocol

import numpy as np
import numpy.typing as npt

from edgetrain.errors import ExportError

__all__ = [
    "ENCODERS",
    "BitmapEncoding",
    "ByteReport",
    "CooEncoding",
    "CscEncoding",
    "CsrEncoding",
    "DeltaEncoding",
    "DenseEncoding",
    "Encoding",
    "GroupedEncoding",
    "all_encodings",
    "choose_format",
    "index_dtype",
]

VALUE_DTYPES = (np.dtype(np.float32), np.dtype(np.int8))


@dataclass(frozen=True)
class ByteReport:
    """Byte breakdown of one encoding; ``index + value == total == sum of the arrays' nbytes``.

    ``fillers`` is the number of filler entries (delta-offset only); their gap and value bytes are
    already inside ``index`` and ``value``.
    """

    index: int
    value: int
    fillers: int = 0

    @property
    def total(self) -> int:
        """All bytes of the encoding: index plus value."""
        return self.index + self.value


def index_dtype(max_value: int) -> np.dtype:
    """Smallest unsigned C index type that holds ``max_value`` (uint8, uint16 or uint32)."""
    for dt in (np.uint8, np.uint16, np.uint32):
        if max_value <= np.iinfo(dt).max:
            return np.dtype(dt)
    raise ExportError(
        f"index value {max_value} does not fit in uint32",
        hint="split the layer; edgetrain targets microcontrollers",
    )


class Encoding(Protocol):
    """What every format's dataclass offers (the C emitter and ``edgetrain info`` rely on it)."""

    @property
    def shape(self) -> tuple[int, int]:
        """(n_rows, n_cols) of the encoded matrix, in C layout ``[n_out][n_in]``."""

    @property
    def format(self) -> str:
        """Registry name of the format: a key of ``ENCODERS`` (``delta8`` / ``delta4`` for the delta stream)."""

    def arrays(self) -> dict[str, np.ndarray]:
        """The C arrays to emit, name -> array, in emission order with their emitted dtypes and lengths."""

    @property
    def nbytes(self) -> ByteReport:
        """Index and value bytes of :meth:`arrays` (their sum is what ``sizeof`` reports in C)."""

    @property
    def nnz(self) -> int:
        """Stored positions, delta-offset fillers excluded."""

    def decode(self) -> np.ndarray:
        """The dense ``[n_rows, n_cols]`` matrix in the value dtype, zeros where nothing is stored."""

    def stored_mask(self) -> np.ndarray:
        """Boolean ``[n_rows, n_cols]``: the positions that occupy a stored entry (delta fillers included)."""


class _Base:
    """Shared behaviour: byte report from the arrays, stored mask from the decoded positions."""

    _format: ClassVar[str]
    if TYPE_CHECKING:
        values: np.ndarray  # every format's dataclass has its values array (declared here for the type checker only)
    # Names of the array fields holding indices (gaps, bitmaps count as index bytes); the rest hold
    # values. Listed in emission order.
    _index_fields: ClassVar[tuple[str, ...]]
    _value_fields: ClassVar[tuple[str, ...]] = ("values",)
    shape: tuple[int, int]

    @property
    def format(self) -> str:
        """Registry name of the format (a key of ``ENCODERS``)."""
        return self._format

    def arrays(self) -> dict[str, np.ndarray]:
        """The C arrays to emit, name -> array (dtype and length exactly as emitted)."""
        names = self._index_fields + self._value_fields
        return {name: getattr(self, name) for name in names}

    @property
    def nbytes(self) -> ByteReport:
        return ByteReport(
            index=sum(int(getattr(self, n).nbytes) for n in self._index_fields),
            value=sum(int(getattr(self, n).nbytes) for n in self._value_fields),
            fillers=self._fillers(),
        )

    def _fillers(self) -> int:
        return 0

    @property
    def value_dtype(self) -> np.dtype:
        return np.dtype(self.values.dtype)

    def _positions(self) -> np.ndarray:
        """Flat row-major positions of the stored values, in ``values`` order."""
        raise NotImplementedError

    def decode(self) -> np.ndarray:
        """The dense ``[n_rows, n_cols]`` matrix in the value dtype (zeros where nothing is stored)."""
        out = np.zeros(self.shape[0] * self.shape[1], dtype=self.value_dtype)
        out[self._positions()] = self.values
        return out.reshape(self.shape)

    def stored_mask(self) -> np.ndarray:
        """Boolean ``[n_rows, n_cols]``: positions that occupy a stored entry."""
        out = np.zeros(self.shape[0] * self.shape[1], dtype=bool)
        out[self._positions()] = True
        return out.reshape(self.shape)

    @property
    def nnz(self) -> int:
        """Stored positions, delta-offset fillers excluded (for dense: every position)."""
        return int(self.values.size) - self._fillers()


# --------------------------------------------------------------------------------------------- #
# Input normalisation


def _prepare(
    matrix: np.ndarray, mask: np.ndarray | None, value_dtype: npt.DTypeLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate inputs; return (values cast to value_dtype, flat bool mask, flat stored positions)."""
    matrix = np.asarray(matrix)
    if matrix.ndim != 2:
        raise ExportError(f"sparse formats take a 2-D matrix, got shape {matrix.shape}")
    if 0 in matrix.shape:
        raise ExportError(f"cannot encode a matrix with an empty dimension: {matrix.shape}")
    dt = np.dtype(value_dtype)
    if dt not in VALUE_DTYPES:
        raise ExportError(f"value dtype must be float32 or int8, got {dt}")
    if mask is None:
        mask = matrix != 0
    mask = np.asarray(mask)
    if mask.shape != matrix.shape:
        raise ExportError(f"mask shape {mask.shape} differs from matrix shape {matrix.shape}")
    mask = mask.astype(bool)
    if dt == np.int8:
        # Quantization happens elsewhere; silently rounding or wrapping here would not be lossless.
        kept = matrix[mask]
        if kept.size and (
            not np.all(np.isfinite(kept)) or np.any(kept != np.round(kept)) or kept.min() < -128 or kept.max() > 127
        ):
            raise ExportError(
                "int8 storage needs integer weights in [-128, 127]",
                hint="quantize the layer before encoding it",
            )
    # Zero the masked-out positions before casting so garbage there (NaN, out-of-range) cannot warn.
    values = np.ascontiguousarray(np.where(mask, matrix, 0).astype(dt))
    flat_mask = mask.reshape(-1)
    return values, flat_mask, np.flatnonzero(flat_mask)


# --------------------------------------------------------------------------------------------- #
# Dense


@dataclass(frozen=True, eq=False)
class DenseEncoding(_Base):
    """All ``n_rows * n_cols`` values row-major; masked-out positions hold 0."""

    _format: ClassVar[str] = "dense"
    _index_fields: ClassVar[tuple[str, ...]] = ()
    shape: tuple[int, int]
    values: np.ndarray  # value dtype, [n_rows * n_cols]

    def _positions(self) -> np.ndarray:
        return np.arange(self.values.size)


def encode_dense(matrix: np.ndarray, mask: np.ndarray | None, value_dtype: npt.DTypeLike) -> DenseEncoding:
    values, flat_mask, _ = _prepare(matrix, mask, value_dtype)
    flat = np.where(flat_mask, values.reshape(-1), np.zeros((), values.dtype))
    return DenseEncoding(shape=values.shape, values=flat.astype(values.dtype))


# --------------------------------------------------------------------------------------------- #
# COO


@dataclass(frozen=True, eq=False)
class CooEncoding(_Base):
    """Triplets sorted row-major: ``rows[k], cols[k], values[k]``."""

    _format: ClassVar[str] = "coo"
    _index_fields: ClassVar[tuple[str, ...]] = ("rows", "cols")
    shape: tuple[int, int]
    rows: np.ndarray  # index_dtype(n_rows - 1), [nnz]
    cols: np.ndarray  # index_dtype(n_cols - 1), [nnz]
    values: np.ndarray  # value dtype, [nnz]

    def _positions(self) -> np.ndarray:
        return self.rows.astype(np.int64) * self.shape[1] + self.cols


def encode_coo(matrix: np.ndarray, mask: np.ndarray | None, value_dtype: npt.DTypeLike) -> CooEncoding:
    values, _, pos = _prepare(matrix, mask, value_dtype)
    n_rows, n_cols = values.shape
    rows, cols = np.divmod(pos, n_cols)
    return CooEncoding(
        shape=values.shape,
        rows=rows.astype(index_dtype(max(n_rows - 1, 0))),
        cols=cols.astype(index_dtype(max(n_cols - 1, 0))),
        values=values.reshape(-1)[pos],
    )


# --------------------------------------------------------------------------------------------- #
# CSR


@dataclass(frozen=True, eq=False)
class CsrEncoding(_Base):
    """Row ``r`` holds entries ``row_ptr[r] <= k < row_ptr[r+1]`` at columns ``cols[k]``."""

    _format: ClassVar[str] = "csr"
    _index_fields: ClassVar[tuple[str, ...]] = ("row_ptr", "cols")
    shape: tuple[int, int]
    row_ptr: np.ndarray  # index_dtype(nnz), [n_rows + 1]
    cols: np.ndarray  # index_dtype(n_cols - 1), [nnz]
    values: np.ndarray  # value dtype, [nnz]

    def _positions(self) -> np.ndarray:
        rows = np.repeat(np.arange(self.shape[0]), _counts(self.row_ptr))
        return rows * self.shape[1] + self.cols


def encode_csr(matrix: np.ndarray, mask: np.ndarray | None, value_dtype: npt.DTypeLike) -> CsrEncoding:
    values, flat_mask, pos = _prepare(matrix, mask, value_dtype)
    n_rows, n_cols = values.shape
    per_row = flat_mask.reshape(n_rows, n_cols).sum(axis=1)
    row_ptr = np.concatenate([[0], np.cumsum(per_row)])
    return CsrEncoding(
        shape=values.shape,
        row_ptr=row_ptr.astype(index_dtype(pos.size)),
        cols=(pos % n_cols).astype(index_dtype(max(n_cols - 1, 0))),
        values=values.reshape(-1)[pos],
    )


# --------------------------------------------------------------------------------------------- #
# CSC


@dataclass(frozen=True, eq=False)
class CscEncoding(_Base):
    """Column ``c`` holds entries ``col_ptr[c] <= k < col_ptr[c+1]``, at rows
    ``row_offsets[k] // 4`` (ascending); ``values`` are in column-major order.

    Rows are stored as byte offsets (``4 * row``: float32 outputs or int32 accumulators) because the
    C kernel adds them to the output address directly: on Cortex-M4 one ``UXTAH``/``UXTAB`` turns a
    packed pair (or quad) of offsets into an address. The kernel walks the inputs and scatters each
    non-zero input into the rows of its column, so zero inputs cost almost nothing.
    """

    _format: ClassVar[str] = "csc"
    _index_fields: ClassVar[tuple[str, ...]] = ("col_ptr", "row_offsets")
    shape: tuple[int, int]
    col_ptr: np.ndarray  # index_dtype(nnz), [n_cols + 1]
    row_offsets: np.ndarray  # index_dtype(4 * (n_rows - 1)), [nnz], 4 * row
    values: np.ndarray  # value dtype, [nnz]

    @property
    def rows(self) -> np.ndarray:
        """Row index of every entry (``row_offsets // 4``)."""
        return self.row_offsets.astype(np.int64) // 4

    def _positions(self) -> np.ndarray:
        cols = np.repeat(np.arange(self.shape[1]), _counts(self.col_ptr))
        return self.rows * self.shape[1] + cols


def encode_csc(matrix: np.ndarray, mask: np.ndarray | None, value_dtype: npt.DTypeLike) -> CscEncoding:
    values, flat_mask, _ = _prepare(matrix, mask, value_dtype)
    n_rows, n_cols = values.shape
    mask_t = flat_mask.reshape(n_rows, n_cols).T  # [n_cols][n_rows]
    pos_t = np.flatnonzero(mask_t.reshape(-1))  # column-major order
    cols, rows = np.divmod(pos_t, n_rows)
    col_ptr = np.concatenate([[0], np.cumsum(mask_t.sum(axis=1))])
    return CscEncoding(
        shape=values.shape,
        col_ptr=col_ptr.astype(index_dtype(pos_t.size)),
        row_offsets=(4 * rows).astype(index_dtype(4 * max(n_rows - 1, 0))),
        values=np.ascontiguousarray(values[rows, cols]),
    )


# --------------------------------------------------------------------------------------------- #
# Grouped (row runs)


@dataclass(frozen=True, eq=False)
class GroupedEncoding(_Base):
    """Row-major entries like CSR, with the rows described as runs of equal length.

    ``runs`` holds pairs ``(length, count)``: the next ``count`` rows each store ``length`` entries
    (rows in their natural order; a run covers consecutive rows). ``cols`` and ``values`` are CSR's,
    but ``cols`` is always uint32.

    Why: the fast Cortex-M4F kernel runs one straight-line loop per run, specialised for the run's
    length, so a row costs no loop set-up or leftover handling; and it loads six 32-bit column
    indices with one LDM straight into the registers of the gathers (16-bit indices would need an
    unpack instruction per entry). Runs are long when rows are sorted by length: the C exporter
    reorders hidden units that way (`edgetrain.transforms.reorder`), which changes no result.
    """

    _format: ClassVar[str] = "grouped"
    _index_fields: ClassVar[tuple[str, ...]] = ("runs", "cols")
    shape: tuple[int, int]
    runs: np.ndarray  # index_dtype(max(n_rows, n_cols)), [2 * n_runs]: (length, count) pairs
    cols: np.ndarray  # uint32, [nnz]
    values: np.ndarray  # value dtype, [nnz]

    def row_lengths(self) -> np.ndarray:
        """Stored entries of each row, expanded from the runs (int64, ``[n_rows]``)."""
        pairs = self.runs.astype(np.int64).reshape(-1, 2)
        return np.repeat(pairs[:, 0], pairs[:, 1])

    def _positions(self) -> np.ndarray:
        rows = np.repeat(np.arange(self.shape[0]), self.row_lengths())
        return rows * self.shape[1] + self.cols


def encode_grouped(matrix: np.ndarray, mask: np.ndarray | None, value_dtype: npt.DTypeLike) -> GroupedEncoding:
    values, flat_mask, pos = _prepare(matrix, mask, value_dtype)
    n_rows, n_cols = values.shape
    per_row = flat_mask.reshape(n_rows, n_cols).sum(axis=1)
    starts = np.flatnonzero(np.diff(per_row, prepend=-1))  # first row of every run
    counts = np.diff(np.append(starts, n_rows))
    runs = np.stack([per_row[starts], counts], axis=1).reshape(-1)
    return GroupedEncoding(
        shape=values.shape,
        runs=runs.astype(index_dtype(max(n_rows, n_cols))),
        cols=(pos % n_cols).astype(np.uint32),
        values=values.reshape(-1)[pos],
    )


# --------------------------------------------------------------------------------------------- #
# Delta-offset stream


@dataclass(frozen=True, eq=False)
class DeltaEncoding(_Base):
    """Row-major stream of ``(gap, value)`` entries with fixed-width gaps (8 or 4 bits).

    Gap convention: ``gap`` = number of positions skipped since the previous entry, i.e. entry ``i``
    sits at ``p_i = p_{i-1} + 1 + gap_i`` with ``p_{-1} = -1`` (the first entry's gap is its flat
    position). ``gap = 0`` means "the next position". A gap field of ``b`` bits holds at most
    ``G = 2**b - 1`` (255 or 15).

    Filler rule: while the remaining gap exceeds ``G`` the encoder emits a filler ``(G, 0)``; a
    filler is an ordinary entry that lands on a (masked-out) position and stores value 0, so it
    advances the cursor by ``G + 1`` and the kernel needs no special case (it multiplies by 0). A
    real gap ``g`` thus costs ``g // (G + 1)`` fillers. No fillers follow the last entry: the kernel
    stops after ``n_entries`` (= ``len(values)``) entries.

    4-bit packing: entry ``2k`` is the low nibble of ``gaps[k]``, entry ``2k+1`` the high nibble;
    with an odd entry count the last high nibble is 0 and unused.

    Mask caveat: a filler ``(G, 0)`` looks exactly like a stored weight equal to 0 at gap ``G``, so
    ``stored_mask()`` (derived from the arrays alone) counts fillers as stored positions. Values
    decode exactly; ``n_fillers`` records how many entries are fillers.
    """

    _format: ClassVar[str] = "delta"
    _index_fields: ClassVar[tuple[str, ...]] = ("gaps",)
    shape: tuple[int, int]
    gap_bits: int  # 8 or 4
    gaps: np.ndarray  # uint8, [n_entries] (8-bit) or [ceil(n_entries / 2)] (4-bit)
    values: np.ndarray  # value dtype, [n_entries], fillers hold 0
    n_fillers: int = field(default=0)

    @property
    def format(self) -> str:
        """``delta8`` or ``delta4``, by the gap width."""
        return f"delta{self.gap_bits}"

    @property
    def n_entries(self) -> int:
        """Entries in the stream, fillers included (``len(values)``)."""
        return int(self.values.size)

    def _fillers(self) -> int:
        return self.n_fillers

    def unpacked_gaps(self) -> np.ndarray:
        """One gap per entry (uint8), undoing the 4-bit packing."""
        if self.gap_bits == 8:
            return self.gaps
        pairs = np.stack([self.gaps & 0x0F, self.gaps >> 4], axis=1).reshape(-1)
        return pairs[: self.n_entries]

    def _positions(self) -> np.ndarray:
        return np.cumsum(self.unpacked_gaps().astype(np.int64) + 1) - 1


def encode_delta(
    matrix: np.ndarray,
    mask: np.ndarray | None,
    value_dtype: npt.DTypeLike,
    gap_bits: int = 8,
) -> DeltaEncoding:
    if gap_bits not in (4, 8):
        raise ExportError(f"delta-offset gaps are 4 or 8 bits wide, got {gap_bits}")
    values, _, pos = _prepare(matrix, mask, value_dtype)
    max_gap = (1 << gap_bits) - 1
    # Real gaps (positions skipped), then how many fillers each one needs.
    real_gaps = np.diff(pos, prepend=-1) - 1
    fillers_before = real_gaps // (max_gap + 1)
    # Each real entry expands into its fillers followed by itself; build that stream vectorised.
    counts = fillers_before + 1
    n_entries = int(counts.sum())
    gaps = np.full(n_entries, max_gap, dtype=np.int64)
    stream_values = np.zeros(n_entries, dtype=values.dtype)
    real_idx = np.cumsum(counts) - 1  # the real entry is the last of its group
    gaps[real_idx] = real_gaps - fillers_before * (max_gap + 1)
    stream_values[real_idx] = values.reshape(-1)[pos]
    packed: np.ndarray = gaps.astype(np.uint8)
    if gap_bits == 4:
        if n_entries % 2:
            packed = np.append(packed, np.uint8(0))
        packed = (packed[0::2] | (packed[1::2] << 4)).astype(np.uint8)
    return DeltaEncoding(
        shape=values.shape,
        gap_bits=gap_bits,
        gaps=packed,
        values=stream_values,
        n_fillers=int(fillers_before.sum()),
    )


# --------------------------------------------------------------------------------------------- #
# Bitmap


@dataclass(frozen=True, eq=False)
class BitmapEncoding(_Base):
    """One bit per row-major position + the stored values in position order.

    Position ``p`` is bit ``p & 7`` (LSB first) of ``bits[p >> 3]``; the bitmap runs continuously
    across rows (rows are not padded to a byte), trailing bits of the last byte are 0.
    """

    _format: ClassVar[str] = "bitmap"
    _index_fields: ClassVar[tuple[str, ...]] = ("bits",)
    shape: tuple[int, int]
    bits: np.ndarray  # uint8, [ceil(n_rows * n_cols / 8)]
    values: np.ndarray  # value dtype, [nnz]

    def _positions(self) -> np.ndarray:
        n = self.shape[0] * self.shape[1]
        return np.flatnonzero(np.unpackbits(self.bits, count=n, bitorder="little"))


def encode_bitmap(matrix: np.ndarray, mask: np.ndarray | None, value_dtype: npt.DTypeLike) -> BitmapEncoding:
    values, flat_mask, pos = _prepare(matrix, mask, value_dtype)
    return BitmapEncoding(
        shape=values.shape,
        bits=np.packbits(flat_mask, bitorder="little"),
        values=values.reshape(-1)[pos],
    )


# --------------------------------------------------------------------------------------------- #
# Registry and chooser

Encoder = Callable[[np.ndarray, "np.ndarray | None", "npt.DTypeLike"], Encoding]

# Order matters: on equal size the chooser keeps the earlier one (simpler, faster kernels first).
ENCODERS: dict[str, Encoder] = {
    "dense": encode_dense,
    "csr": encode_csr,
    "bitmap": encode_bitmap,
    "delta8": functools.partial(encode_delta, gap_bits=8),
    "delta4": functools.partial(encode_delta, gap_bits=4),
    "coo": encode_coo,
    "csc": encode_csc,
    "grouped": encode_grouped,
}


def all_encodings(matrix: np.ndarray, mask: np.ndarray | None, value_dtype: npt.DTypeLike) -> dict[str, Encoding]:
    """Every format's encoding of the layer, keyed by registry name (for ``edgetrain info``)."""
    return {name: enc(matrix, mask, value_dtype) for name, enc in ENCODERS.items()}


def choose_format(matrix: np.ndarray, mask: np.ndarray | None, value_dtype: npt.DTypeLike) -> Encoding:
    """The smallest encoding by total bytes; ties go to the earlier entry of ``ENCODERS``."""
    encodings = all_encodings(matrix, mask, value_dtype)
    # min() keeps the first of equal keys, so registry order breaks ties.
    return min(encodings.values(), key=lambda e: e.nbytes.total)


def _counts(pointers: np.ndarray) -> npt.NDArray[np.int64]:
    """Entries per row (or column) of a compressed pointer array, as int64 (numpy's stubs type a
    bare ``np.diff`` of an untyped array loosely; the arithmetic is the same)."""
    p = np.asarray(pointers, dtype=np.int64)
    return p[1:] - p[:-1]

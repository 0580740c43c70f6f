"""Bit-packed cluster indices, laid out exactly as the C clustered dense kernels read them.

A clustered (weight-clustered) dense weight is a codebook of ``k`` values and one index per entry,
``W[o][i] = codebook[index[o][i]]``. The C kernels (``firmware_export/include/et_cluster.h``) read
the indices packed at ``bits = index_bits(k)`` bits each, inside their multiply-accumulate loop.

Layout (the C header is the contract; this module implements it):

* indices in the **C layout** ``[n_out][n_in]`` (the Python model keeps ``[n_in][n_out]``: pass
  the transpose);
* every row has its own ``row_words(n_in, bits)`` little-endian ``uint32`` words, rows one after
  the other; a row is a bit stream, least significant bit first (stream bit ``s`` is bit ``s % 32``
  of word ``s // 32``);
* inputs go in groups of four: group ``g`` holds inputs ``4g .. 4g+3`` in ``4 * bits`` stream bits
  from bit ``4 * bits * g``, its four ``bits``-wide fields (lowest first) holding the indices of
  inputs ``4g, 4g+2, 4g+1, 4g+3``; that puts the two weights one SMLAD multiplies with the even
  (odd) bytes of an SXTB16-widened input word in one ``2 * bits``-bit "pair key";
* the fields of inputs past ``n_in`` and the bits after the last group are 0.

``pair_table`` builds the optional int8 table the Cortex-M4 kernel looks pair keys up in.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from edgetrain.errors import InvalidModelError

#: Index widths the C kernels implement.
BITS = (1, 2, 3, 4)
#: Field of input ``4g + j`` inside its group (et_cluster.h: P = {0, 2, 1, 3}).
_FIELD = np.array([0, 2, 1, 3], np.int64)


#: The most entries a clustered weight's codebook may have (an int8 layer has at most 256 distinct weights).
MAX_CODEBOOK = 256


def index_bits(k: int) -> int:
    """Bits per index for a codebook of ``k`` entries: ``ceil(log2 k)``, at least 1.

    ``k`` must be in 2..256 (an int8 layer has at most 256 distinct weights); the C kernels take
    1 to 4 bits, i.e. ``k <= 16``.
    """
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 2 <= int(k) <= MAX_CODEBOOK:
        raise InvalidModelError(
            f"a clustered weight needs a codebook of 2 to 256 entries, got {k!r}",
            hint="cluster the layer into at least 2 and at most 256 values (16 for the packed C kernels)",
        )
    return max(1, (int(k) - 1).bit_length())


def _check_bits(bits: int) -> int:
    if isinstance(bits, bool) or not isinstance(bits, int | np.integer) or int(bits) not in BITS:
        raise InvalidModelError(
            f"packed cluster indices take 1, 2, 3 or 4 bits, got {bits!r}",
            hint="use index_bits(k) for a codebook of at most 16 entries",
        )
    return int(bits)


def _check_shape(n_out: int, n_in: int) -> None:
    if n_out < 1 or n_in < 1:
        raise InvalidModelError(f"a clustered weight needs n_out, n_in >= 1, got [{n_out}][{n_in}]")


def row_words(n_in: int, bits: int) -> int:
    """``uint32`` words of one packed row (``ET_CLUSTER_ROW_WORDS``): ``ceil(ceil(n_in/4)*bits/8)``."""
    bits = _check_bits(bits)
    _check_shape(1, n_in)
    return ((n_in + 3) // 4 * bits + 7) // 8


def packed_bytes(n_out: int, n_in: int, bits: int) -> int:
    """Bytes of the packed indices of an ``[n_out][n_in]`` weight (what ``sizeof`` gives in C)."""
    _check_shape(n_out, n_in)
    return 4 * n_out * row_words(n_in, bits)


def _positions(n_in: int, bits: int) -> npt.NDArray[np.int64]:
    """Stream bit offset of every input's field."""
    i = np.arange(n_in, dtype=np.int64)
    return (i // 4) * 4 * bits + _FIELD[i % 4] * bits


def pack_indices(indices: npt.ArrayLike, bits: int) -> npt.NDArray[np.uint32]:
    """Pack ``[n_out][n_in]`` integer indices (each in ``0 .. 2**bits - 1``) into the C kernels'
    ``uint32`` words: ``n_out * row_words(n_in, bits)`` of them, row after row (flat array)."""
    bits = _check_bits(bits)
    idx = np.asarray(indices)
    if idx.ndim != 2 or not np.issubdtype(idx.dtype, np.integer):
        raise InvalidModelError(
            f"cluster indices must be a 2-D integer array [n_out][n_in], got {idx.dtype} {idx.shape}"
        )
    n_out, n_in = idx.shape
    _check_shape(n_out, n_in)
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= 1 << bits):
        raise InvalidModelError(
            f"cluster indices must lie in 0..{(1 << bits) - 1} at {bits} bits, got {int(idx.min())}..{int(idx.max())}",
            hint="use index_bits(k) bits for a codebook of k entries",
        )
    rw = row_words(n_in, bits)
    # Scatter every field's bits into a [n_out][rw * 32] bit matrix, then pack it LSB first.
    stream = np.zeros((n_out, rw * 32), np.uint8)
    pos = _positions(n_in, bits)
    v = idx.astype(np.int64)
    for b in range(bits):
        stream[:, pos + b] = (v >> b) & 1
    words = np.packbits(stream.reshape(n_out, rw, 32), axis=2, bitorder="little").view("<u4")
    return np.ascontiguousarray(words.reshape(-1).astype(np.uint32))


def unpack_indices(words: npt.ArrayLike, bits: int, n_out: int, n_in: int) -> npt.NDArray[np.int64]:
    """Inverse of ``pack_indices``: the ``[n_out][n_in]`` indices (int64) of packed words."""
    bits = _check_bits(bits)
    _check_shape(n_out, n_in)
    rw = row_words(n_in, bits)
    w = np.asarray(words)
    if w.size != n_out * rw:
        raise InvalidModelError(
            f"packed indices of [{n_out}][{n_in}] at {bits} bits are {n_out * rw} words, got {w.size}"
        )
    w32 = np.ascontiguousarray(w.reshape(n_out, rw).astype("<u4"))
    stream = np.unpackbits(w32.view(np.uint8).reshape(n_out, rw * 4), axis=1, bitorder="little")
    pos = _positions(n_in, bits)
    out = np.zeros((n_out, n_in), np.int64)
    for b in range(bits):
        out |= stream[:, pos + b].astype(np.int64) << b
    return out


def pair_table_bytes(bits: int) -> int:
    """Bytes of `pair_table` at ``bits`` bits per index (``2**(2*bits)`` uint32 words)."""
    return 4 << (2 * _check_bits(bits))


def pair_table(codebook_s8: npt.ArrayLike, bits: int) -> npt.NDArray[np.uint32]:
    """The optional int8 pair table of ``et_dense_s8_cluster``: ``2**(2*bits)`` ``uint32`` words,
    entry ``a | b << bits`` holding ``codebook[a]`` and ``codebook[b]`` as int16 in its low and high
    halves (0 for an index past the codebook). 1 KiB at 4 bits, 256 bytes at 3."""
    bits = _check_bits(bits)
    cb = np.asarray(codebook_s8)
    if cb.ndim != 1 or cb.dtype != np.int8:
        raise InvalidModelError(f"the pair table needs a 1-D int8 codebook, got {cb.dtype} {cb.shape}")
    if not 2 <= cb.size <= 1 << bits:
        raise InvalidModelError(f"a {bits}-bit codebook has 2 to {1 << bits} entries, got {cb.size}")
    n = 1 << bits
    lane = np.zeros(n, np.int64)
    lane[: cb.size] = cb.astype(np.int64)
    lane &= 0xFFFF
    keys = np.arange(n * n, dtype=np.int64)
    return (lane[keys & (n - 1)] | (lane[keys >> bits] << 16)).astype(np.uint32)

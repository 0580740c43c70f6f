"""C storage of clustered dense weights: packed indices and the codebook (et_cluster.h).

A dense weight with a one-dimensional codebook of k <= 16 entries and no mask is stored as its
indices packed at ``bits = ceil(log2 k)`` bits per weight (`formats.packed`) plus the codebook:
float32 values for a float32 export; for int8, the codebook quantized with the layer's one weight
scale (a clustered weight is quantized per tensor, `quantize.rules.weight_per_channel`), so the
int8 weights the kernel computes are exactly the quantized model's, and the kernel's pair table
(two int16 weights per pair of indices for SMLAD, 2^(2 bits) words) beside it in flash. The kernels
read the indices inside their MAC loop: no decoded weight matrix exists in RAM.

Left to the other storages: a clustered weight that is also masked (the sparse formats store its
values), a codebook of more than 16 entries (stored as a dense matrix), and the trainable head of
a training program (the shared-weight kernels, whose codebook trains).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ...errors import ExportError
from ...formats.packed import BITS as PACKED_BITS
from ...formats.packed import index_bits, pack_indices, packed_bytes, pair_table
from ...formats.sparse import ENCODERS, ByteReport, Encoding
from ...graph import Param
from .sparse import LayerStorage

#: The widest packed index the kernels read (et_cluster.h: ET_CLUSTER_MAX_BITS).
CLUSTER_MAX_BITS = max(PACKED_BITS)
#: The largest share of a layer's packed index bytes an int8 pair table may add under the
#: ``auto`` policy (at 4 bits a 64->256 layer keeps its 1 KiB table beside 8 KiB of indices; a
#: 256->10 layer, 1.25 KiB of indices, drops it).
TABLE_SHARE = 0.125
#: Bytes of et_cluster_indices (a pointer and two int32_t; 32-bit targets).
INDICES_STRUCT_BYTES = 12


def clustered_storage_applies(param: Param) -> bool:
    """Whether ``param`` is stored as packed indices: a clustered, unmasked weight whose
    one-dimensional codebook has 2..16 entries."""
    if param.codebook is None or param.mask is not None:
        return False
    cb = np.asarray(param.codebook)
    return cb.ndim == 1 and 2 <= cb.size <= 2**CLUSTER_MAX_BITS


@dataclass(frozen=True)
class ClusterEncoding:
    """One clustered layer as the C arrays hold it: ``words`` (packed indices, C layout
    [n_out][n_in]), ``codebook`` (float32 or int8) and, for int8, the ``pairs`` table."""

    shape: tuple[int, int]
    bits: int
    indices: np.ndarray  # [n_out][n_in], the unpacked indices (for decode)
    words: np.ndarray
    codebook: np.ndarray
    pairs: np.ndarray | None

    @property
    def format(self) -> str:
        """The storage name ``edgetrain export c`` reports: ``cluster`` and the index width, and
        ``no table`` for an int8 layer at 3 or 4 bits stored without its pair table."""
        slow = self.codebook.dtype == np.int8 and self.bits >= 3 and self.pairs is None
        return f"cluster{self.bits}" + (" no table" if slow else "")

    @property
    def k(self) -> int:
        """Codebook entries."""
        return int(self.codebook.size)

    def arrays(self) -> dict[str, np.ndarray]:
        """The C arrays, name -> array: the packed words, the codebook, the pair table (int8)."""
        out = {"words": self.words, "codebook": self.codebook}
        if self.pairs is not None:
            out["pairs"] = self.pairs
        return out

    @property
    def nbytes(self) -> ByteReport:
        """Index bytes (the packed words) and value bytes (codebook and pair table)."""
        values = self.codebook.nbytes + (0 if self.pairs is None else self.pairs.nbytes)
        return ByteReport(int(self.words.nbytes), int(values))

    @property
    def nnz(self) -> int:
        """Every weight is stored (as an index)."""
        return int(self.indices.size)

    def decode(self) -> np.ndarray:
        """The expanded [n_out][n_in] matrix in the codebook's dtype."""
        return self.codebook[self.indices]

    def stored_mask(self) -> np.ndarray:
        """All true: a packed layout stores every entry."""
        return np.ones(self.shape, bool)


def encode_cluster(param: Param, emitted: np.ndarray, weight_scale: float | None) -> ClusterEncoding:
    """The packed storage of clustered ``param``. ``emitted`` is the matrix the export would store
    otherwise (C layout; float32, or the quantized model's int8 weights), ``weight_scale`` the int8
    layer's one weight scale (None for float32). ExportError when the codebook does not reproduce
    ``emitted`` exactly (a weight quantized per channel, or values changed after clustering)."""
    idx = np.ascontiguousarray(np.asarray(param.indices, np.int64).T)
    k = int(np.asarray(param.codebook).size)
    if idx.min() < 0 or idx.max() >= k:
        raise ExportError(f"{param.name}: an index is outside its codebook of {k} entries", hint="re-cluster the layer")
    bits = index_bits(k)
    if weight_scale is None:
        codebook = np.ascontiguousarray(np.asarray(param.codebook, np.float32).ravel())
        pairs = None
    else:
        codebook = np.clip(np.rint(np.asarray(param.codebook, np.float64) / weight_scale), -127, 127).astype(np.int8)
        pairs = pair_table(codebook, bits)
    if not np.array_equal(codebook[idx], emitted):
        raise ExportError(
            f"{param.name}: the codebook does not reproduce the layer's weights",
            hint="quantize clustered layers per tensor (the default for them), or re-cluster the layer",
        )
    words = pack_indices(idx, bits)
    assert words.nbytes == packed_bytes(idx.shape[0], idx.shape[1], bits)
    return ClusterEncoding((int(idx.shape[0]), int(idx.shape[1])), bits, idx, words, codebook, pairs)


def is_cluster(storage: LayerStorage | None) -> bool:
    """Whether a layer's chosen storage is packed clustered indices."""
    return storage is not None and isinstance(storage.encoding, ClusterEncoding)


def choose_cluster_storage(param: Param, emitted: np.ndarray, weight_scale: float | None, policy: str) -> LayerStorage:
    """Storage of a clustered layer (`clustered_storage_applies`): its packed indices (int8: with
    the pair table, or without it at 3 and 4 bits, where the kernel then looks each weight up in
    the codebook, slower), or the dense matrix. ``policy`` ``auto`` takes the fewest bytes, except
    that it keeps an int8 pair table costing at most `TABLE_SHARE` of the layer's index bytes (the
    table-free kernel looks every weight up, several times the instructions, to save the table's
    bytes); ``fast`` the pair table whenever it exists, ``dense`` the dense matrix. A forced sparse
    format (``csr``, ...) names the storage of masked layers; on this unmasked one it means
    ``auto``, as an unmasked layer is never sparse."""
    enc = encode_cluster(param, emitted, weight_scale)
    dense = ENCODERS["dense"](emitted, np.ones(emitted.shape, bool), emitted.dtype.type)
    options: dict[str, Encoding] = {"dense": dense, enc.format: enc}
    if enc.pairs is not None and enc.bits >= 3:
        tableless = replace(enc, pairs=None)
        options[tableless.format] = tableless
    sizes = {name: e.nbytes.total for name, e in options.items()}
    if policy == "dense":
        chosen = "dense"
    elif policy == "fast":
        chosen = enc.format
    else:
        chosen = min(sizes, key=lambda name: (sizes[name], name != enc.format))
        if (
            enc.pairs is not None
            and enc.pairs.nbytes <= TABLE_SHARE * enc.words.nbytes
            and sizes[enc.format] < sizes["dense"]
        ):
            chosen = enc.format  # the table is a small share of the layer: keep the fast kernel
    return LayerStorage(chosen, options[chosen], int(emitted.size), alternatives=sizes)

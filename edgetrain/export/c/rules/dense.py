"""C lowering of ``dense``: float32 and int8 (dense, sparse and motif storage), and the
shared-weight forward (codebook + indices) the trainable head uses for clustered weights."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ....errors import UnsupportedOpError
from ....graph import Param
from ....quantize.model import QDense
from ....transforms.lowering import Step
from ..abi import SHARED_MAX_SLOTS, SHARED_NONE, struct_bytes
from ..cluster import ClusterEncoding, is_cluster
from ..sparse import KERNEL_SUFFIX, SPARSE_SOURCES, WEIGHTS_STRUCT_BYTES, LayerStorage, weights_struct
from .base import Call, CRule, Lowering, float_clamp, struct_definition

F32_PARAMS, S8_PARAMS = "et_dense_f32_params", "et_dense_s8_params"


def shared_indices(param: Param) -> np.ndarray:
    """A clustered weight's indices in the C layout [n_out][n_in] as uint16, masked-out entries
    ET_SHARED_NONE (et_shared.h: the mask lives in the indices)."""
    n_slots = int(np.asarray(param.codebook).size)
    if not 1 <= n_slots <= SHARED_MAX_SLOTS:
        raise UnsupportedOpError(
            f"{param.name}: a codebook of {n_slots} entries is outside the C runtime's 1..{SHARED_MAX_SLOTS}",
            hint="use fewer clusters",
        )
    idx = np.asarray(param.indices, np.int64)
    if idx.min() < 0 or idx.max() >= n_slots:
        raise UnsupportedOpError(
            f"{param.name}: an index is outside its codebook of {n_slots} entries", hint="re-cluster the layer"
        )
    c = idx.astype(np.uint16)
    if param.mask is not None:
        c = np.where(param.mask, c, np.uint16(SHARED_NONE)).astype(np.uint16)
    return np.ascontiguousarray(c.T)


def c_weight(param: Param) -> np.ndarray:
    """The effective weight in the C layout [n_out][n_in] (the graph stores [n_in][n_out])."""
    return np.ascontiguousarray(np.asarray(param.effective(), np.float32).T)


class DenseRule(CRule):
    """The C calls of a dense step: et_dense_* on a dense weight, et_sparse_* on the sparse storage
    chosen for a masked one, et_dense_f32_shared on a clustered trainable head."""

    kinds = ("dense",)
    sources: ClassVar[dict[str, str]] = {
        "et_dense_f32": "et_dense_f32.c",
        "et_dense_f32_ref": "et_dense_f32_ref.c",
        "et_dense_s8": "et_dense_s8.c",
        "et_dense_s8_ref": "et_dense_s8_ref.c",
        "et_dense_f32_shared": "et_dense_f32_shared.c",
        "et_dense_f32_cluster": "et_dense_f32_cluster.c",
        "et_dense_f32_cluster_ref": "et_dense_f32_cluster_ref.c",
        "et_dense_s8_cluster": "et_dense_s8_cluster.c",
        "et_dense_s8_cluster_ref": "et_dense_s8_cluster_ref.c",
        "et_dense_f32_shared_ref": "et_dense_f32_shared_ref.c",
        # the shared-weight backward + update kernels (training head) live beside the forward
        "et_dense_f32_shared_backward_update": "et_dense_f32_shared.c",
        "et_dense_f32_shared_backward_update_ref": "et_dense_f32_shared_ref.c",
        **SPARSE_SOURCES,
    }

    def f32(self, lw: Lowering, st: Step) -> Call:
        """The float32 dense call (dense, sparse or shared-weight storage as chosen for the
        layer)."""
        params = lw.graph.node_params(st.node)
        wp = params["weight"]
        lid = lw.ident(st.name)
        w = c_weight(wp)
        n_out, n_in = w.shape
        lo, hi = float_clamp(st.activation)
        names = lw.struct_names(lid)
        structs = tuple(
            struct_definition(F32_PARAMS, n, {"batch": b, "n_in": n_in, "n_out": n_out, "act_min": lo, "act_max": hi})
            for n, b in zip(names, lw.batches)
        )
        nbytes = struct_bytes(F32_PARAMS) * len(names)
        x, y = lw.where(st.inputs[0]), lw.where(st.output)
        ls = lw.storage.get(st.name)
        if is_cluster(ls):
            assert ls is not None
            b_name = self._bias(lw, params, lid, st.name)
            return _cluster_call(lw, "f32", st, ls, names, x, b_name, y, structs, nbytes)
        if wp.codebook is not None and lw.shared_weights:
            codebook = np.ascontiguousarray(np.asarray(wp.codebook, np.float32).ravel())
            idx_name = lw.array(lid, st.name, "indices", shared_indices(wp))
            cb_name = lw.value_of(wp, "codebook", codebook, lid, st.name)
            b_name = self._bias(lw, params, lid, st.name)
            stmts = tuple(f"st = ET_DENSE_F32_SHARED(&{n}, {x}, {cb_name}, {idx_name}, {b_name}, {y});" for n in names)
            return Call(
                st.name,
                "dense/shared",
                ("et_dense_f32_shared", "et_dense_f32_shared_ref"),
                stmts,
                st.inputs,
                st.output,
                structs,
                nbytes,
                arg_structs=names,
                operands={"codebook": cb_name, "indices": idx_name, "n_slots": str(codebook.size), "bias": b_name},
            )
        if ls is None or not ls.sparse:
            w_name = lw.value_of(wp, "weights", w, lid, st.name)
            b_name = self._bias(lw, params, lid, st.name)
            stmts = tuple(f"st = ET_DENSE_F32(&{n}, {x}, {w_name}, {b_name}, {y});" for n in names)
            return Call(
                st.name,
                "dense",
                ("et_dense_f32", "et_dense_f32_ref"),
                stmts,
                st.inputs,
                st.output,
                structs,
                nbytes,
                arg_structs=names,
                operands={"weights": w_name, "bias": b_name},
            )
        b_name = self._bias(lw, params, lid, st.name)
        wname, wstruct = _sparse_arrays(lw, lid, st.name, ls)
        return _sparse_call(lw, "f32", st, ls, names, wname, wstruct, x, b_name, y, structs, nbytes)

    @staticmethod
    def _bias(lw: Lowering, params: dict[str, Param], lid: str, layer: str) -> str:
        if "bias" not in params:
            return "NULL"
        bp = params["bias"]
        return lw.value_of(bp, "bias", np.asarray(bp.effective(), np.float32), lid, layer)

    def s8(self, lw: Lowering, st: Step, q: QDense) -> Call:  # type: ignore[override]
        """The int8 dense call with the quantized step's weights (or their sparse storage), bias and
        requantization."""
        lid = lw.ident(q.name)
        x, y = lw.where(q.input), lw.where(q.output)
        ls = lw.storage[q.name]
        w_name = lw.array(lid, q.name, "weights", q.weights) if not ls.sparse else ""
        eb_name = lw.array(lid, q.name, "eff_bias", q.eff_bias)
        # The reference kernel takes the plain bias (it ignores eff_bias); the array only exists in
        # ET_FORCE_REF builds so the fast build carries no dead bytes. The int8 CSC kernel needs
        # the plain bias too (it adds the input offset per column).
        b_cond = None if ls.format == "csc" else lw.force_ref_condition
        b_name = lw.array(lid, q.name, "bias", q.bias, b_cond) if q.bias is not None else "NULL"
        m_name = lw.array(lid, q.name, "multipliers", q.multipliers)
        s_name = lw.array(lid, q.name, "shifts", q.shifts)
        names = lw.struct_names(lid)
        structs = tuple(
            struct_definition(
                S8_PARAMS,
                n,
                {
                    "batch": b,
                    "n_in": q.n_in,
                    "n_out": q.n_out,
                    "input_offset": -q.input_zero_point,
                    "output_offset": q.output_zero_point,
                    "act_min": q.act_min,
                    "act_max": q.act_max,
                    "per_channel": 1 if q.per_channel else 0,
                    "multipliers": m_name,
                    "shifts": s_name,
                    "eff_bias": eb_name,
                },
            )
            for n, b in zip(names, lw.batches)
        )
        nbytes = struct_bytes(S8_PARAMS) * len(names)
        if is_cluster(ls):
            return _cluster_call(lw, "s8", st, ls, names, x, b_name, y, structs, nbytes)
        if not ls.sparse:
            stmts = tuple(f"st = ET_DENSE_S8(&{n}, {x}, {w_name}, {b_name}, {y});" for n in names)
            return Call(
                q.name,
                "dense",
                ("et_dense_s8", "et_dense_s8_ref"),
                stmts,
                (q.input,),
                q.output,
                structs,
                nbytes,
                arg_structs=names,
            )
        wname, wstruct = _sparse_arrays(lw, lid, q.name, ls)
        return _sparse_call(lw, "s8", st, ls, names, wname, wstruct, x, b_name, y, structs, nbytes)


def _cluster_call(
    lw: Lowering,
    kind: str,
    st: Step,
    ls: LayerStorage,
    pnames: tuple[str, ...],
    x: str,
    bias: str,
    out: str,
    pstructs: tuple[str, ...],
    pbytes: int,
) -> Call:
    """The et_dense_{f32,s8}_cluster call of a layer stored as packed indices (export/c/cluster.py):
    the packed words, the codebook, the int8 pair table (NULL when not stored) and their
    et_cluster_indices struct."""
    enc = ls.encoding
    assert isinstance(enc, ClusterEncoding)
    lid = lw.ident(f"{st.name}_cluster")
    words = lw.array(lid, st.name, "idx_words", enc.words)
    codebook = lw.array(lid, st.name, "codebook", enc.codebook)
    pairs = lw.array(lid, st.name, "pairs", enc.pairs) if enc.pairs is not None else "NULL"
    ci = f"et_ci_{lid}"
    ci_struct = struct_definition("et_cluster_indices", ci, {"words": words, "bits": enc.bits, "k": enc.k})
    if kind == "f32":
        stmts = tuple(f"st = ET_DENSE_F32_CLUSTER(&{p}, {x}, {codebook}, &{ci}, {bias}, {out});" for p in pnames)
    else:
        stmts = tuple(
            f"st = ET_DENSE_S8_CLUSTER(&{p}, {x}, {codebook}, &{ci}, {pairs}, {bias}, {out});" for p in pnames
        )
    return Call(
        st.name,
        f"dense/{ls.format}",
        (f"et_dense_{kind}_cluster", f"et_dense_{kind}_cluster_ref"),
        stmts,
        st.inputs,
        st.output,
        (*pstructs, ci_struct),
        pbytes + struct_bytes("et_cluster_indices"),
        arg_structs=pnames,
    )


def _sparse_arrays(lw: Lowering, lid: str, layer: str, ls: LayerStorage) -> tuple[str, str]:
    """Emit a sparse layer's index and value arrays; return its et_sparse_weights name and definition."""
    names: list[str | None] = []
    for field_name, values in ls.encoding.arrays().items():
        role = "weights" if field_name == "values" else f"idx_{field_name}"
        names.append(lw.array(lid, layer, role, values) if values.size else None)  # C99: no empty arrays
    wname = f"et_w_{lid}"
    return wname, weights_struct(wname, ls, names)


def _sparse_call(
    lw: Lowering,
    kind: str,
    st: Step,
    ls: LayerStorage,
    pnames: tuple[str, ...],
    wname: str,
    wstruct: str,
    x: str,
    bias: str,
    out: str,
    pstructs: tuple[str, ...],
    pbytes: int,
) -> Call:
    suffix = KERNEL_SUFFIX[ls.format]
    fast, ref = f"et_sparse_{kind}_{suffix}", f"et_sparse_{kind}_ref"
    macro = f"ET_SPARSE_{kind.upper()}"
    scratch = None
    if ls.format == "motif" or (ls.format == "csc" and kind == "s8"):
        scratch = lw.scratch(st.name)
        stmts = tuple(
            f"st = {macro}_{ls.format.upper()}(&{p}, &{wname}, {x}, {bias}, {out}, {scratch});" for p in pnames
        )
    else:
        stmts = tuple(f"st = {macro}({suffix}, &{p}, &{wname}, {x}, {bias}, {out});" for p in pnames)
    return Call(
        st.name,
        f"dense/{ls.format}",
        (fast, ref),
        stmts,
        st.inputs,
        st.output,
        (*pstructs, wstruct),
        pbytes + WEIGHTS_STRUCT_BYTES,
        scratch=f"{st.name}:scratch" if scratch else None,
        arg_structs=pnames,
    )


def scratch_bytes(ls: LayerStorage, dtype: str, n_in: int) -> int:
    """Bytes of a dense step's scratch buffer (0: none): the motif kernels keep n_in / block_cols
    float or int32 group sums, the int8 CSC kernel its n_out int32 accumulators."""
    if ls.format == "motif":
        return 4 * (n_in // ls.block[1])
    if ls.format == "csc" and dtype == "int8":
        return 4 * int(ls.encoding.shape[0])
    return 0

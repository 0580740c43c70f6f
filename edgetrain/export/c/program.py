"""The C program of one model: data arrays, kernel calls with their argument structs, and the
memory plan. Rendering (`emit`) and the memory report (`report`) both read this one object."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ...errors import ExportError
from ...graph import Graph
from ...quantize import QAdd, QAlias, QClamp, QDense, QuantizedModel, lower_graph
from ...quantize.lowering import Lowered
from .arrays import DataArray, c_identifier, literal
from .plan import Buffer, MemoryPlan, plan_memory
from .sparse import (KERNEL_SUFFIX, WEIGHTS_STRUCT_BYTES, LayerStorage, SparseOption, check_option,
                     choose_storage, resolve_option, weights_struct)

Dtype = Literal["f32", "int8"]
ELEM = {"f32": ("float", 4), "int8": ("int8_t", 1)}
PTR_BYTES = 4  # argument structs are sized for 32-bit targets (the microcontrollers)
FORCE_REF = "ET_FORCE_REF"

# sizeof of each argument struct on a 32-bit target (int32 fields, 4-byte pointers).
STRUCT_BYTES = {"et_dense_f32_params": 5 * 4, "et_dense_s8_params": 8 * 4 + 3 * PTR_BYTES,
                "et_add_s8_params": 12 * 4}


@dataclass
class Call:
    """One kernel call in et_model_infer. ``statement`` is C with the status assignment."""

    layer: str
    op: str
    kernels: tuple[str, ...]  # runtime functions it may call (fast and reference)
    statement: str
    inputs: tuple[str, ...]
    output: str
    struct: str | None = None  # static const definition of its argument struct
    struct_bytes: int = 0


@dataclass
class Program:
    name: str
    dtype: Dtype
    lowered: Lowered
    arrays: list[DataArray]
    calls: list[Call]
    plan: MemoryPlan
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    qmodel: QuantizedModel | None
    force_ref: bool = False
    macs: dict[str, int] = field(default_factory=dict)
    storage: dict[str, LayerStorage] = field(default_factory=dict)  # dense layer -> weight storage

    @property
    def elem_type(self) -> str:
        return ELEM[self.dtype][0]

    @property
    def elem_bytes(self) -> int:
        return ELEM[self.dtype][1]

    @property
    def input_bytes(self) -> int:
        return int(np.prod(self.input_shape)) * self.elem_bytes

    @property
    def output_bytes(self) -> int:
        return int(np.prod(self.output_shape)) * self.elem_bytes

    def kernels(self) -> set[str]:
        return {k for c in self.calls for k in c.kernels}


def build_program(
    graph: Graph,
    dtype: Dtype,
    qmodel: QuantizedModel | None = None,
    *,
    force_ref: bool = False,
    sparse_format: SparseOption = None,
) -> Program:
    """Lower ``graph`` (float) or ``qmodel`` (int8) to calls, arrays and a memory plan.

    Masked dense layers get a sparse storage format and kernel (see `sparse`); ``sparse_format``
    forces one (a name, or ``{layer: name}``)."""
    if dtype == "int8":
        if qmodel is None:
            raise ExportError("int8 export needs a quantized model")
        lowered = qmodel.lowered
    elif dtype == "f32":
        lowered = lower_graph(graph, drop_final_softmax=False)
    else:
        raise ExportError(f"unknown dtype {dtype!r}", hint="use f32 or int8")
    elem_type, elem_bytes = ELEM[dtype]
    layer_storage = _choose_storage(graph, lowered, qmodel if dtype == "int8" else None, sparse_format)
    # The motif kernels need n_in / block_cols float or int32 group sums while they run.
    scratch_bytes = {name: 4 * (lowered.size(_dense_input(lowered, name)) // s.block[1])
                     for name, s in layer_storage.items() if s.format == "motif"}
    # The int8 CSC kernel accumulates its n_out outputs in int32 before requantizing.
    if dtype == "int8":
        scratch_bytes.update({name: 4 * s.encoding.shape[0]
                              for name, s in layer_storage.items() if s.format == "csc"})
    plan, storage = _plan(lowered, elem_bytes, elem_type, scratch_bytes)
    taken: set[str] = set()
    arrays: list[DataArray] = []
    calls: list[Call] = []

    def arr(layer_id: str, layer: str, role: str, values: np.ndarray, condition: str | None = None) -> str:
        name = c_identifier(f"et_model_{layer_id}_{role}", taken)
        arrays.append(DataArray(name, np.ascontiguousarray(values), layer, role, condition))
        return name

    if dtype == "f32":
        for st in lowered.steps:
            if st.kind == "alias":
                continue
            lid = c_identifier(st.name, taken)
            ins = tuple(storage[lowered.alias_root(t)] for t in st.inputs)
            out = storage[lowered.alias_root(st.output)]
            n = lowered.size(st.output)
            if st.kind == "dense":
                params = graph.node_params(st.node)
                w = np.asarray(params["weight"].effective(), np.float32).T  # kernels want [n_out][n_in]
                ls = layer_storage[st.name]
                w_name = arr(lid, st.name, "weights", w) if not ls.sparse else ""
                b_name = arr(lid, st.name, "bias", np.asarray(params["bias"].effective(), np.float32)) \
                    if "bias" in params else "NULL"
                lo, hi = _float_clamp(st.activation)
                sname = f"et_p_{lid}"
                struct = (f"static const et_dense_f32_params {sname} = {{1, {w.shape[1]}, {w.shape[0]}, "
                          f"{lo}, {hi}}};")
                if not ls.sparse:
                    calls.append(Call(st.name, "dense", ("et_dense_f32", "et_dense_f32_ref"),
                                      f"st = ET_DENSE_F32(&{sname}, {ins[0]}, {w_name}, {b_name}, {out});",
                                      st.inputs, st.output, struct, STRUCT_BYTES["et_dense_f32_params"]))
                else:
                    wname = _sparse_arrays(arr, lid, st.name, ls)
                    calls.append(_sparse_call("f32", st.name, ls, sname, wname, ins[0], b_name, out,
                                              storage.get(f"{st.name}:scratch"), st.inputs, st.output,
                                              struct, STRUCT_BYTES["et_dense_f32_params"]))
            elif st.kind == "add":
                lo, hi = _float_clamp(st.activation)
                calls.append(Call(st.name, "add", ("et_add_f32",),
                                  f"st = et_add_f32({ins[0]}, {ins[1]}, {out}, {n}, {lo}, {hi});",
                                  st.inputs, st.output))
            elif st.kind in ("relu", "relu6"):
                fn = f"et_{st.kind}_f32"
                calls.append(Call(st.name, st.kind, (fn,), f"st = {fn}({ins[0]}, {out}, {n});",
                                  st.inputs, st.output))
            elif st.kind == "softmax":
                calls.append(Call(st.name, "softmax", ("et_softmax_f32",),
                                  f"st = et_softmax_f32({ins[0]}, {out}, {n});", st.inputs, st.output))
            else:  # pragma: no cover - lowering only produces the kinds above
                raise ExportError(f"cannot emit {st.kind}")
    else:
        assert qmodel is not None
        for q in qmodel.steps:
            if isinstance(q, QAlias):
                continue
            lid = c_identifier(q.name, taken)
            out = storage[lowered.alias_root(q.output)]
            if isinstance(q, QDense):
                x = storage[lowered.alias_root(q.input)]
                ls = layer_storage[q.name]
                w_name = arr(lid, q.name, "weights", q.weights) if not ls.sparse else ""
                eb_name = arr(lid, q.name, "eff_bias", q.eff_bias)
                # The reference kernel takes the plain bias (it ignores eff_bias); the array only
                # exists in ET_FORCE_REF builds so the fast build carries no dead bytes.
                # The int8 CSC kernel needs the plain bias too (it adds the input offset per column).
                b_cond = None if ls.format == "csc" else FORCE_REF
                b_name = (arr(lid, q.name, "bias", q.bias, b_cond) if q.bias is not None else "NULL")
                m_name = arr(lid, q.name, "multipliers", q.multipliers)
                s_name = arr(lid, q.name, "shifts", q.shifts)
                sname = f"et_p_{lid}"
                struct = (f"static const et_dense_s8_params {sname} = {{1, {q.n_in}, {q.n_out}, "
                          f"{-q.input_zero_point}, {q.output_zero_point}, {q.act_min}, {q.act_max}, "
                          f"{1 if q.per_channel else 0}, {m_name}, {s_name}, {eb_name}}};")
                if not ls.sparse:
                    calls.append(Call(q.name, "dense", ("et_dense_s8", "et_dense_s8_ref"),
                                      f"st = ET_DENSE_S8(&{sname}, {x}, {w_name}, {b_name}, {out});",
                                      (q.input,), q.output, struct, STRUCT_BYTES["et_dense_s8_params"]))
                else:
                    wname = _sparse_arrays(arr, lid, q.name, ls)
                    calls.append(_sparse_call("s8", q.name, ls, sname, wname, x, b_name, out,
                                              storage.get(f"{q.name}:scratch"), (q.input,), q.output,
                                              struct, STRUCT_BYTES["et_dense_s8_params"]))
            elif isinstance(q, QAdd):
                a, b = (storage[lowered.alias_root(t)] for t in q.inputs)
                p = q.params
                fields = [p.input1_offset, p.input2_offset, p.output_offset, p.left_shift,
                          p.input1_multiplier, p.input1_shift, p.input2_multiplier, p.input2_shift,
                          p.output_multiplier, p.output_shift, p.act_min, p.act_max]
                sname = f"et_p_{lid}"
                struct = (f"static const et_add_s8_params {sname} = {{"
                          + ", ".join(literal(v, "int32_t") for v in fields) + "};")
                calls.append(Call(q.name, "add", ("et_add_s8",),
                                  f"st = et_add_s8(&{sname}, {a}, {b}, {out}, {q.size});",
                                  q.inputs, q.output, struct, STRUCT_BYTES["et_add_s8_params"]))
            elif isinstance(q, QClamp):
                x = storage[lowered.alias_root(q.input)]
                if q.kind == "relu":
                    stmt = f"st = et_relu_s8({x}, {out}, {q.size}, {q.zero_point});"
                else:
                    stmt = f"st = et_relu6_s8({x}, {out}, {q.size}, {q.zero_point}, {q.six_q});"
                calls.append(Call(q.name, q.kind, (f"et_{q.kind}_s8",), stmt, (q.input,), q.output))
    macs = graph.macs()
    return Program(graph.name, dtype, lowered, arrays, calls, plan,
                   tuple(lowered.shapes[lowered.input]), tuple(lowered.shapes[lowered.output]),
                   qmodel, force_ref, {c.layer: macs.get(c.layer, 0) for c in calls}, layer_storage)


def _dense_input(lowered: Lowered, name: str) -> str:
    return next(st.inputs[0] for st in lowered.steps if st.name == name)


def _choose_storage(graph: Graph, lowered: Lowered, qmodel: QuantizedModel | None,
                    option: SparseOption) -> dict[str, LayerStorage]:
    """Storage of every dense layer, from the matrix actually emitted (float32, or int8)."""
    dense = [st for st in lowered.steps if st.kind == "dense"]
    check_option(option, [st.name for st in dense])
    qdense = {q.name: q for q in qmodel.steps if isinstance(q, QDense)} if qmodel is not None else {}
    out = {}
    for st in dense:
        weight = lowered.graph.node_params(st.node)["weight"]
        if qmodel is not None:
            values = qdense[st.name].weights
        else:
            values = np.asarray(graph.node_params(st.node)["weight"].effective(), np.float32).T
        mask = None if weight.mask is None else np.asarray(weight.mask, bool).T
        out[st.name] = choose_storage(values, mask, weight.meta, resolve_option(option, st.name), st.name,
                                      st.activation)
    return out


def _sparse_arrays(arr, lid: str, layer: str, ls: LayerStorage) -> tuple[str, str]:
    """Emit a sparse layer's index and value arrays; return its et_sparse_weights name and definition."""
    names: list[str | None] = []
    for field_name, values in ls.encoding.arrays().items():
        role = "weights" if field_name == "values" else f"idx_{field_name}"
        names.append(arr(lid, layer, role, values) if values.size else None)  # C99: no empty arrays
    wname = f"et_w_{lid}"
    return wname, weights_struct(wname, ls, names)


def _sparse_call(kind: str, layer: str, ls: LayerStorage, pname: str, w: tuple[str, str], x: str, bias: str,
                 out: str, scratch: str | None, inputs: tuple[str, ...], output: str, pstruct: str,
                 pbytes: int) -> Call:
    wname, wstruct = w
    suffix = KERNEL_SUFFIX[ls.format]
    fast, ref = f"et_sparse_{kind}_{suffix}", f"et_sparse_{kind}_ref"
    macro = f"ET_SPARSE_{kind.upper()}"
    if ls.format == "motif" or (ls.format == "csc" and kind == "s8"):
        stmt = f"st = {macro}_{ls.format.upper()}(&{pname}, &{wname}, {x}, {bias}, {out}, {scratch});"
    else:
        stmt = f"st = {macro}({suffix}, &{pname}, &{wname}, {x}, {bias}, {out});"
    struct = pstruct + "\n" + wstruct
    return Call(layer, f"dense/{ls.format}", (fast, ref), stmt, inputs, output, struct,
                pbytes + WEIGHTS_STRUCT_BYTES)


def _float_clamp(activation: str | None) -> tuple[str, str]:
    if activation == "relu":
        return "0.0f", "FLT_MAX"
    if activation == "relu6":
        return "0.0f", "6.0f"
    return "-FLT_MAX", "FLT_MAX"


def _plan(lowered: Lowered, elem_bytes: int, elem_type: str,
          scratch: dict[str, int] | None = None) -> tuple[MemoryPlan, dict[str, str]]:
    """Buffers for every kernel-written tensor except the output; C expressions for all roots.

    ``scratch`` (step name -> bytes) adds a buffer ``<step>:scratch`` alive during that step only
    (float or int32 elements: the motif kernels' group sums)."""
    out_root = lowered.alias_root(lowered.output)
    index = {}
    last: dict[str, int] = {}
    scratch_step: dict[str, int] = {}
    # Step numbers count kernel calls only (aliases run no code), matching model.c's comments.
    for i, st in enumerate(s for s in lowered.steps if s.kind != "alias"):
        index[st.output] = i
        scratch_step[st.name] = i
        for t in st.inputs:
            last[lowered.alias_root(t)] = i
    buffers = [Buffer(t, lowered.size(t) * elem_bytes, i, max(last.get(t, i), i))
               for t, i in index.items() if t != out_root]
    extra = [Buffer(f"{name}:scratch", size, scratch_step[name], scratch_step[name])
             for name, size in (scratch or {}).items()]
    plan = plan_memory(buffers + extra)
    storage = {lowered.input: "x", out_root: "y"}
    for b in buffers:
        storage[b.name] = f"ET_ARENA({elem_type}, {plan.offsets[b.name]})"
    scratch_type = "float" if elem_type == "float" else "int32_t"
    for b in extra:
        storage[b.name] = f"ET_ARENA({scratch_type}, {plan.offsets[b.name]})"
    return plan, storage

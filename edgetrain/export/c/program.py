"""The C program of one model: data arrays, kernel calls with their argument structs, and the
memory plan. Rendering (`emit`) and the memory report (`report`) both read this one object."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...errors import ExportError
from ...graph import Graph
from ...quantize import QDense, QStep, QuantizedModel
from ...transforms.fold_batch_norm import fold_for_kernels
from ...transforms.lowering import Lowered, lower_graph
from . import raw_input
from .arrays import DataArray, c_identifier
from .cluster import choose_cluster_storage, clustered_storage_applies
from .plan import Buffer, MemoryPlan, plan_memory
from .rules import Call, Lowering, check_supported, lower_calls
from .rules.base import ELEM, Dtype
from .rules.conv import CONV_KINDS, conv_scratch
from .rules.dense import scratch_bytes
from .sparse import LayerStorage, SparseOption, check_option, choose_storage, resolve_option

FORCE_REF = "ET_FORCE_REF"


@dataclass
class Program:
    """One model lowered for C: its data arrays, kernel calls, memory plan, I/O shapes and, per
    dense layer, the weight storage; built by `build_program`."""

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
    # The input standardisation (mean, std) et_model_input_from_raw applies (`raw_input`), or None.
    standardisation: tuple[np.ndarray, np.ndarray] | None = None
    class_names: list[str] | None = None  # the model's class names (meta["class_names"]), if any

    @property
    def elem_type(self) -> str:
        """The C type of an activation element: "float" or "int8_t"."""
        return ELEM[self.dtype][0]

    @property
    def elem_bytes(self) -> int:
        """The size in bytes of one activation element (4 for f32, 1 for int8)."""
        return ELEM[self.dtype][1]

    @property
    def input_bytes(self) -> int:
        """The size in bytes of one input sample."""
        return int(np.prod(self.input_shape)) * self.elem_bytes

    @property
    def output_bytes(self) -> int:
        """The size in bytes of one output sample."""
        return int(np.prod(self.output_shape)) * self.elem_bytes

    def kernels(self) -> set[str]:
        """Every runtime function the calls may invoke (fast and reference variants)."""
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
        graph = fold_for_kernels(graph)
        lowered = lower_graph(graph, drop_final_softmax=False)
    else:
        raise ExportError(f"unknown dtype {dtype!r}", hint="use f32 or int8")
    check_supported([st.kind for st in lowered.steps])
    elem_type, elem_bytes = ELEM[dtype]
    layer_storage = choose_layer_storage(graph, lowered, qmodel if dtype == "int8" else None, sparse_format)
    scratch_bytes = step_scratch_bytes(lowered, layer_storage, dtype)
    plan, storage = _plan(lowered, elem_bytes, elem_type, scratch_bytes)
    taken: set[str] = set()
    arrays: list[DataArray] = []

    def arr(layer_id: str, layer: str, role: str, values: np.ndarray, condition: str | None = None) -> str:
        name = c_identifier(f"et_model_{layer_id}_{role}", taken)
        arrays.append(DataArray(name, np.ascontiguousarray(values), layer, role, condition))
        return name

    lw = Lowering(
        dtype,
        graph,
        lowered,
        _qsteps(qmodel) if dtype == "int8" else {},
        (1,),
        where=lambda t: storage[lowered.alias_root(t)],
        scratch=lambda step: storage.get(f"{step}:scratch"),
        array=arr,
        taken=taken,
        storage=layer_storage,
        force_ref_condition=FORCE_REF,
    )
    calls = lower_calls(lw)
    macs = graph.macs()
    input_shape = tuple(lowered.shapes[lowered.input])
    return Program(
        graph.name,
        dtype,
        lowered,
        arrays,
        calls,
        plan,
        input_shape,
        tuple(lowered.shapes[lowered.output]),
        qmodel,
        force_ref,
        {c.layer: macs.get(c.layer, 0) for c in calls},
        layer_storage,
        raw_input.standardisation(graph.meta, int(np.prod(input_shape))),
        class_names_of(graph, int(np.prod(lowered.shapes[lowered.output]))),
    )


def class_names_of(graph: Graph, n_out: int) -> list[str] | None:
    """The model's class names when there is one per output value."""
    names = graph.meta.get("class_names")
    return [str(n) for n in names] if isinstance(names, list) and len(names) == n_out else None


def _qsteps(qmodel: QuantizedModel | None) -> dict[str, QStep]:
    return {q.name: q for q in qmodel.steps} if qmodel is not None else {}


def step_scratch_bytes(lowered: Lowered, layer_storage: dict[str, LayerStorage], dtype: str) -> dict[str, int]:
    """Step name -> bytes of its kernel's scratch buffer, for the steps that need one."""
    out = {}
    for name, ls in layer_storage.items():
        n = scratch_bytes(ls, dtype, lowered.size(_dense_input(lowered, name)))
        if n:
            out[name] = n
    for st in lowered.steps:
        if st.kind in CONV_KINDS:
            n = conv_scratch(lowered, st, dtype)  # et_conv_*_scratch_bytes of the fast kernel
            if n:
                out[st.name] = n
    return out


def scratch_ctype(lowered: Lowered, step: str, elem_type: str) -> str:
    """The element type of a step's scratch: the conv kernels' im2col window is of the model's
    element type; the other scratch users keep float (f32) or int32 (int8) sums."""
    kind = next(st.kind for st in lowered.steps if st.name == step)
    if kind in CONV_KINDS:
        return elem_type
    return "float" if elem_type == "float" else "int32_t"


def _dense_input(lowered: Lowered, name: str) -> str:
    return next(st.inputs[0] for st in lowered.steps if st.name == name)


def choose_layer_storage(
    graph: Graph, lowered: Lowered, qmodel: QuantizedModel | None, option: SparseOption
) -> dict[str, LayerStorage]:
    """Storage of every dense layer, from the matrix actually emitted (float32, or int8): packed
    indices for a clustered one (`cluster.choose_cluster_storage`), else dense or sparse."""
    dense = [st for st in lowered.steps if st.kind == "dense"]
    check_option(option, [st.name for st in dense])
    qdense = {q.name: q for q in qmodel.steps if isinstance(q, QDense)} if qmodel is not None else {}
    out = {}
    for st in dense:
        weight = lowered.graph.node_params(st.node)["weight"]
        if qmodel is not None:
            values: np.ndarray = qdense[st.name].weights
        else:
            values = np.asarray(graph.node_params(st.node)["weight"].effective(), np.float32).T
        policy = resolve_option(option, st.name)
        if clustered_storage_applies(weight):
            scale = float(qdense[st.name].weight_scales[0]) if qmodel is not None else None
            out[st.name] = choose_cluster_storage(weight, values, scale, policy)
            continue
        mask = None if weight.mask is None else np.asarray(weight.mask, bool).T
        out[st.name] = choose_storage(values, mask, weight.meta, policy, st.name, st.activation)
    return out


def _plan(
    lowered: Lowered, elem_bytes: int, elem_type: str, scratch: dict[str, int] | None = None
) -> tuple[MemoryPlan, dict[str, str]]:
    """Buffers for every kernel-written tensor except the output; C expressions for all roots.

    ``scratch`` (step name -> bytes) adds a buffer ``<step>:scratch`` alive during that step only
    (`scratch_ctype`: the motif kernels' group sums, a conv's im2col window)."""
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
    buffers = [
        Buffer(t, lowered.size(t) * elem_bytes, i, max(last.get(t, i), i)) for t, i in index.items() if t != out_root
    ]
    extra = [
        Buffer(f"{name}:scratch", size, scratch_step[name], scratch_step[name])
        for name, size in (scratch or {}).items()
    ]
    plan = plan_memory(buffers + extra)
    storage = {lowered.input: "x", out_root: "y"}
    for b in buffers:
        storage[b.name] = f"ET_ARENA({elem_type}, {plan.offsets[b.name]})"
    for b in extra:
        ctype = scratch_ctype(lowered, b.name.rsplit(":", 1)[0], elem_type)
        storage[b.name] = f"ET_ARENA({ctype}, {plan.offsets[b.name]})"
    return plan, storage

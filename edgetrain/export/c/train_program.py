"""The on-device training program of one model, derived from its backward schedule.

    split = split_model(graph)                        # frozen body | trainable head
    tp = build_train_program(graph, TrainConfig(batch=1, body="int8"), calib_x=x)
    tp.plan, tp.naive_bytes, tp.ops                   # what train_emit renders

How the program is derived (architecture principle 3, TECHNIQUES section 7):

* ``derive_backward`` on the model says which nodes need a backward step. The nodes before the
  first of them are the **body**: frozen, run forward only, keep no activations for training. With
  ``body="int8"`` the body is quantized (PTQ) and runs on the int8 kernels, bit-exact with
  ``int8_reference``; its output is dequantized into float features at the boundary. The rest is
  the **head**, run in float32.
* The head's forward keeps exactly the values its backward steps save (``BackwardStep.saves``):
  a dense layer's input only when its weight trains, a ReLU's output only when a gradient flows
  through it.
* The backward walks the schedule's steps in order. A dense step is one fused backward + update
  call (``et_dense_f32_backward_update``): its update is applied as soon as its gradient exists,
  so no weight-gradient buffer is ever allocated. Its input gradient is produced only when the
  schedule asks for it (``need_dx``); ReLU backward runs in place on that buffer; the loss
  gradient overwrites the logits in place.
* Every buffer (body activations, features, head activations, logits, input gradients) is a
  lifetime interval over the op list; ``plan_memory`` places them in one arena. The naive sum is
  what a library without lifetime reuse and without fused updates would need: every buffer on
  its own, plus one gradient buffer per trainable parameter.
* Optimizer state (velocity, or Adam's m and v) exists only for trainable parameters.
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from ...engine.autodiff import BackwardSchedule, derive_backward
from ...errors import ConfigError, ExportError, UnsupportedOpError
from ...graph import Graph, Node
from ...quantize import QAdd, QAlias, QClamp, QDense, QuantizedModel, lower_graph, quantize_model
from .arrays import DataArray, c_identifier, literal
from .plan import Buffer, MemoryPlan, align_up, plan_memory
from .program import _float_clamp

BodyKind = Literal["int8", "f32"]
HEAD_OPS = ("dense", "relu", "relu6", "flatten", "identity")
FLOAT = 4


@dataclass(frozen=True)
class TrainConfig:
    """What the generated code trains with. ``one_minus_beta*`` are derived (rounded from double,
    as numpy sees them)."""

    optimizer: Literal["sgd", "adam"] = "sgd"
    lr: float = 0.01
    momentum: float = 0.0
    weight_decay: float = 0.0
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    batch: int = 1
    body: BodyKind = "f32"
    # Divergence guard (et_guard): loss non-finite, or > max_ratio x running mean and > min_loss.
    guard_max_ratio: float = 10.0
    guard_min_loss: float = 4.0
    guard_decay: float = 0.9
    guard_warmup: int = 4

    def __post_init__(self) -> None:
        if self.optimizer not in ("sgd", "adam"):
            raise ConfigError(f"unknown optimizer {self.optimizer!r}", hint="use sgd or adam")
        if not self.lr > 0:
            raise ConfigError(f"learning rate must be positive, got {self.lr}")
        if not 0 <= self.momentum < 1:
            raise ConfigError(f"momentum must be in [0, 1), got {self.momentum}")
        if self.batch < 1:
            raise ConfigError(f"batch must be at least 1, got {self.batch}")
        if self.body not in ("int8", "f32"):
            raise ConfigError(f"unknown body kind {self.body!r}", hint="use int8 or f32")

    def engine_optimizer(self):
        """The numpy engine's optimizer with the same rule and hyper-parameters."""
        from ...engine.optim import SGD, Adam

        if self.optimizer == "adam":
            return Adam(self.lr, self.beta1, self.beta2, self.eps, self.weight_decay)
        return SGD(self.lr, self.momentum, self.weight_decay)

    def to_dict(self) -> dict[str, object]:
        d: dict[str, object] = {"optimizer": self.optimizer, "lr": self.lr, "weight_decay": self.weight_decay,
                                "batch": self.batch, "body": self.body}
        if self.optimizer == "sgd":
            d["momentum"] = self.momentum
        else:
            d.update(beta1=self.beta1, beta2=self.beta2, eps=self.eps)
        return d


# ---------------------------------------------------------------- frozen body | trainable head

@dataclass
class ModelSplit:
    """``body``: the frozen prefix as its own graph (None when the first layer trains);
    ``head``: the rest, whose input is the boundary tensor; ``dropped_softmax``: a final softmax
    left out because training works on logits (softmax does not change the argmax)."""

    body: Graph | None
    head: Graph
    boundary: str
    schedule: BackwardSchedule
    dropped_softmax: str | None = None


def _subgraph(graph: Graph, nodes: list[Node], input_name: str, output: str, name: str) -> Graph:
    shapes = graph.shapes()
    used = {p for n in nodes for p in n.params.values()}
    params = [graph.params[p] for p in graph.params if p in used]
    sub = Graph({input_name: shapes[input_name]}, nodes, params, [output], name=name,
                meta=dict(graph.meta))
    return sub.copy()


def split_model(graph: Graph) -> ModelSplit:
    """Cut ``graph`` (a chain, one input, one output) before the first node needing a backward
    step. Parameters keep their ``trainable`` flags (see ``layers.set_trainable``)."""
    if len(graph.outputs) != 1:
        raise ExportError(f"fine-tuning needs exactly one graph output, {graph.name!r} has {len(graph.outputs)}")
    nodes = list(graph.nodes)
    output, dropped = graph.output_name, None
    if nodes and nodes[-1].name == output and nodes[-1].op == "softmax":
        dropped, output = nodes[-1].name, nodes[-1].inputs[0]
        nodes = nodes[:-1]
    work = Graph(dict(graph.inputs), nodes, [graph.params[p] for n in nodes for p in n.params.values()],
                 [output], name=graph.name, meta=dict(graph.meta))
    schedule = derive_backward(work)
    if not schedule.trainable:
        raise ConfigError(f"nothing to train in {graph.name!r}: every parameter is frozen",
                          hint="choose --trainable last:1, bias-only or layer names")
    in_schedule = {s.node.name for s in schedule.steps}
    first = next(i for i, n in enumerate(nodes) if n.name in in_schedule)
    body_nodes, head_nodes = nodes[:first], nodes[first:]
    boundary = head_nodes[0].inputs[0]
    produced = {graph.input_name} | {n.name for n in body_nodes}
    head_made = {boundary}
    for n in head_nodes:
        if n.op not in HEAD_OPS:
            raise UnsupportedOpError(f"on-device training does not support {n.op} ({n.name!r}) in the trainable part",
                                     hint=f"trainable layers may use: {', '.join(HEAD_OPS)}; freeze it "
                                          "(e.g. --trainable last:1) so it runs in the body")
        for t in n.inputs:
            if t not in head_made:
                raise UnsupportedOpError(f"{n.name!r} reads {t!r} from before the trainable part: "
                                         "only chains are supported for fine-tuning")
        head_made.add(n.name)
    if boundary not in produced:  # pragma: no cover - a topologically ordered chain
        raise ExportError(f"cannot find the boundary tensor {boundary!r}")
    body = (_subgraph(graph, body_nodes, graph.input_name, boundary, f"{graph.name}_body")
            if body_nodes else None)
    head = _subgraph(work, head_nodes, boundary, output, f"{graph.name}_head") if body_nodes else work.copy()
    return ModelSplit(body, head, boundary, derive_backward(head), dropped)


# ---------------------------------------------------------------- the program

@dataclass
class TrainParam:
    """A head parameter in C: trainable ones live in RAM (initialised from flash), frozen ones
    stay const in flash. ``c_value``: [n_out][n_in] for weights (C layout)."""

    name: str  # graph parameter name
    ident: str
    c_value: np.ndarray
    trainable: bool
    transpose: bool  # weight: graph stores [n_in][n_out]
    data_name: str = ""  # const array: initial value (trainable) or the value itself (frozen)
    mask: np.ndarray | None = None  # C layout; a sparse layer keeps its pattern while training
    mask_name: str = ""  # const bitmap array (bit i & 7 of byte i >> 3), see et_param_f32.mask

    @property
    def size(self) -> int:
        return int(self.c_value.size)

    @property
    def nbytes(self) -> int:
        return self.size * FLOAT


@dataclass
class TrainOp:
    """One call in the training step (or the forward pass). ``train`` uses batch-B argument
    structs, ``infer`` (forward ops only) batch 1. ``reads``/``writes`` name arena buffers."""

    phase: Literal["body", "forward", "loss", "backward"]
    layer: str
    train: str
    infer: str | None
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    comment: str


@dataclass
class TrainProgram:
    name: str
    config: TrainConfig
    split: ModelSplit
    qbody: QuantizedModel | None
    input_shape: tuple[int, ...]
    input_ctype: str  # float | int8_t
    n_classes: int
    feature_size: int  # body output elements per sample (0 without body)
    feature_ctype: str  # int8_t | float
    params: list[TrainParam]
    arrays: list[DataArray]  # const data (body weights, head init values, quant params)
    structs: list[str]
    ops: list[TrainOp]
    buffers: dict[str, Buffer]
    plan: MemoryPlan
    storage: dict[str, str]  # buffer / tensor -> C expression
    boundary_scale: float | None
    boundary_zero_point: int | None
    macs: int = 0
    notes: list[str] = field(default_factory=list)

    # -- sizes -------------------------------------------------------------------------------
    @property
    def input_count(self) -> int:
        return math.prod(self.input_shape)

    @property
    def input_bytes(self) -> int:
        return self.input_count * (1 if self.input_ctype == "int8_t" else FLOAT)

    @property
    def trainable(self) -> list[TrainParam]:
        return [p for p in self.params if p.trainable]

    @property
    def payload_bytes(self) -> int:
        return sum(p.nbytes for p in self.trainable)

    @property
    def slots_per_param(self) -> int:
        if self.config.optimizer == "adam":
            return 2
        return 1 if self.config.momentum != 0 else 0

    @property
    def optimizer_state_bytes(self) -> int:
        return self.payload_bytes * self.slots_per_param

    @property
    def naive_activation_bytes(self) -> int:
        """Every training buffer of this schedule on its own (no lifetime reuse)."""
        return sum(b.size for b in self.buffers.values())

    @property
    def param_grad_bytes(self) -> int:
        """What separate gradient buffers for the trainable parameters would take (the fused
        kernels never allocate them)."""
        return self.payload_bytes

    @property
    def naive_bytes(self) -> int:
        return self.naive_activation_bytes + self.param_grad_bytes

    @property
    def layout_tag(self) -> int:
        """Identifies the stored parameter set: a bank of another layout is refused at load."""
        desc = ";".join(f"{p.name}:{p.size}" for p in self.trainable)
        return zlib.crc32(f"{self.name}|{desc}".encode()) & 0xFFFFFFFF

    def segment_layout(self) -> list[tuple[str, tuple[int, ...], bool]]:
        """(parameter name, C-layout shape, transposed) of each stored segment, in order."""
        return [(p.name, tuple(p.c_value.shape), p.transpose) for p in self.trainable]


def build_train_program(graph: Graph, config: TrainConfig, calib_x: ArrayLike | None = None,
                        *, per_channel: bool = True, qbody: QuantizedModel | None = None) -> TrainProgram:
    """Derive the training program of ``graph`` (trainable flags already set)."""
    split = split_model(graph)
    if len(graph.input_shape) != 1 and split.body is None:
        raise UnsupportedOpError("fine-tuning needs a flat input when the first layer trains")
    B = config.batch
    taken: set[str] = set()
    arrays: list[DataArray] = []
    structs: list[str] = []
    ops: list[TrainOp] = []
    sizes: dict[str, int] = {}  # buffer -> bytes (batch B)
    storage: dict[str, str] = {}
    notes: list[str] = []
    if split.dropped_softmax:
        notes.append(f"final softmax {split.dropped_softmax!r} not run: training and evaluation use logits")

    def arr(prefix: str, layer: str, role: str, values: np.ndarray, condition: str | None = None) -> str:
        name = c_identifier(f"et_train_{prefix}_{role}", taken)
        arrays.append(DataArray(name, np.ascontiguousarray(values), layer, role, condition))
        return name

    def buf(name: str, nbytes: int) -> str:
        sizes[name] = nbytes
        return name

    input_ctype = "float"
    feature_size, feature_ctype = 0, "float"
    boundary_scale: float | None = None
    boundary_zp: int | None = None
    macs = 0

    # ---- body (frozen, forward only)
    head_input = "x"
    if split.body is not None:
        body = split.body
        feature_size = math.prod(body.shapes()[split.boundary])
        if config.body == "int8":
            if qbody is None:
                if calib_x is None:
                    raise ConfigError("an int8 body needs calibration data (calib_x / --calib)")
                qbody = quantize_model(body, calib_x, per_channel=per_channel)
            input_ctype, feature_ctype = "int8_t", "int8_t"
            _int8_body(qbody, B, arr, buf, ops, structs, storage, taken)
            out = qbody.output
            boundary_scale, boundary_zp = float(np.float32(out.scale)), int(out.zero_point)
            feat_q = storage[qbody.lowered.alias_root(qbody.lowered.output)]
            buf("features", B * feature_size * FLOAT)
            storage["features"] = "features"
            ops.append(TrainOp(
                "body", "boundary",
                f"st = et_dequantize_s8_f32({_expr(feat_q)}, {_expr('features')}, {B * feature_size}, "
                f"{boundary_zp}, {literal(boundary_scale, 'float')});",
                f"st = et_dequantize_s8_f32({_expr(feat_q)}, {_expr('features')}, {feature_size}, "
                f"{boundary_zp}, {literal(boundary_scale, 'float')});",
                (feat_q,), ("features",), "dequantize the int8 features for the float head"))
            head_input = "features"
        else:
            qbody = None
            head_input = _f32_body(body, B, arr, buf, ops, structs, storage, taken)
            feature_ctype = "float"
        macs += sum(body.macs().values())
    elif config.body == "int8":
        notes.append("--body int8 ignored: the first layer trains, so there is no frozen body")

    # ---- head forward (float)
    head = split.head
    lowered = lower_graph(head)
    schedule = split.schedule
    saved = schedule.saved
    params: dict[str, TrainParam] = {}
    head_storage: dict[str, str] = {lowered.input: head_input}
    fwd_struct: dict[str, tuple[str, str]] = {}
    for st in lowered.steps:
        if st.kind == "alias":
            continue
        lid = c_identifier(st.name, taken)
        src = head_storage[lowered.alias_root(st.inputs[0])]
        n = lowered.size(st.output)
        out = buf(f"a_{lid}", B * n * FLOAT)
        head_storage[st.output] = out
        if st.kind == "dense":
            node_params = head.node_params(st.node)
            w = np.asarray(node_params["weight"].effective(), np.float32).T
            for role, p in node_params.items():
                value = w if role == "weight" else np.asarray(p.effective(), np.float32)
                ident = c_identifier(f"{lid}_{role}", taken)
                mask = None if p.mask is None else (p.mask.T if role == "weight" else p.mask)
                params[p.name] = TrainParam(p.name, ident, np.ascontiguousarray(value), p.trainable,
                                            role == "weight", mask=mask)
            lo, hi = _float_clamp(st.activation)
            s_train, s_one = f"et_tp_{lid}", f"et_tp1_{lid}"
            structs.append(f"static const et_dense_f32_params {s_train} = {{{B}, {w.shape[1]}, {w.shape[0]}, "
                           f"{lo}, {hi}}};")
            if B != 1:
                structs.append(f"static const et_dense_f32_params {s_one} = {{1, {w.shape[1]}, {w.shape[0]}, "
                               f"{lo}, {hi}}};")
            else:
                s_one = s_train
            fwd_struct[st.name] = (s_train, s_one)
            w_id = params[node_params["weight"].name].ident
            b_expr = f"et_train_value_{params[node_params['bias'].name].ident}" if "bias" in node_params else "NULL"
            call = "et_dense_f32(&{s}, {x}, et_train_value_{w}, {b}, {y});"
            ops.append(TrainOp("forward", st.name,
                               "st = " + call.format(s=s_train, x=_expr(src), w=w_id, b=b_expr, y=_expr(out)),
                               "st = " + call.format(s=s_one, x=_expr(src), w=w_id, b=b_expr, y=_expr(out)),
                               (src,), (out,), f"dense {st.name}" + (f" + {st.activation}" if st.activation else "")))
            macs += int(w.size)
        elif st.kind in ("relu", "relu6"):
            fn = f"et_{st.kind}_f32"
            ops.append(TrainOp("forward", st.name, f"st = {fn}({_expr(src)}, {_expr(out)}, {B * n});",
                               f"st = {fn}({_expr(src)}, {_expr(out)}, {n});", (src,), (out,), st.kind))
        else:
            raise UnsupportedOpError(f"on-device training cannot run {st.kind} {st.name!r}")
    logits = head_storage[lowered.alias_root(lowered.output)]
    n_classes = lowered.size(lowered.output)
    ops.append(TrainOp("loss", "loss",
                       f"st = et_softmax_xent_f32({_expr(logits)}, labels, {B}, {n_classes}, loss, "
                       f"{_expr(logits)});", None, (logits,), (logits,),
                       "softmax cross-entropy; dlogits overwrite the logits"))

    # ---- backward: walk the derived schedule
    def fwd(tensor: str) -> str:
        return head_storage[lowered.alias_root(tensor)]

    grad: dict[str, str] = {head.output_name: logits}
    for bs in schedule.steps:
        node = bs.node
        if node.op in ("flatten", "identity"):
            grad[node.inputs[0]] = grad[node.name]
            continue
        dy = grad[node.name]
        if node.op in ("relu", "relu6"):
            y = fwd(node.name)
            assert "out" in saved.get(node.name, set())
            n = math.prod(head.shapes()[node.name])
            ops.append(TrainOp("backward", node.name, f"st = et_{node.op}_f32_backward({_expr(y)}, {_expr(dy)}, {B * n});",
                               None, (y, dy), (dy,), f"{node.op} backward in place (mask from its output)"))
            grad[node.inputs[0]] = dy
        elif node.op == "dense":
            lid = c_identifier(f"bw_{node.name}", taken)
            s_train = fwd_struct[node.name][0]
            w_p = params[node.params["weight"]]
            b_p = params.get(node.params.get("bias", ""))
            x_in = fwd(node.inputs[0])
            keeps_input = "in0" in saved.get(node.name, set())
            reads: list[str] = [dy]
            if keeps_input:
                reads.append(x_in)
            writes: tuple[str, ...] = ()
            dx = "NULL"
            if bs.need_dx[0]:
                n_in = w_p.c_value.shape[1]
                dx_name = buf(f"g_{lid}", B * n_in * FLOAT)
                grad[node.inputs[0]] = dx_name
                dx, writes = _expr(dx_name), (dx_name,)
            b_arg = f"&et_train_param_{b_p.ident}" if b_p is not None else "NULL"
            what = [r for r in bs.need_dparams] + (["dx"] if bs.need_dx[0] else [])
            ops.append(TrainOp(
                "backward", node.name,
                f"st = ET_DENSE_BWD(&{s_train}, &et_train_opt, {_expr(x_in) if keeps_input else 'NULL'}, "
                f"{_expr(dy)}, &et_train_param_{w_p.ident}, {b_arg}, {dx});",
                None, tuple(reads), writes,
                f"dense {node.name} backward: {', '.join(what) or 'nothing'}; update applied now"))
        else:  # pragma: no cover - split_model checked the ops
            raise UnsupportedOpError(f"no C backward for {node.op}")

    # ---- memory plan over the op list
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for i, op in enumerate(ops):
        for b in op.writes:
            first.setdefault(b, i)
            last[b] = max(last.get(b, i), i)
        for b in op.reads:
            if b in sizes:
                first.setdefault(b, i)
                last[b] = max(last.get(b, i), i)
    buffers = [Buffer(b, align_up(sizes[b]), first[b], last[b]) for b in sizes if b in first]
    plan = plan_memory(buffers)
    for b in plan.buffers:
        storage[b] = f"ET_TRAIN_ARENA({_ctype_of(b, input_ctype, feature_ctype)}, {plan.offsets[b]})"
    for p in params.values():
        p.data_name = arr(p.ident, p.name, "init" if p.trainable else "frozen", p.c_value)
        if p.trainable and p.mask is not None:
            bits = np.packbits(np.ascontiguousarray(p.mask, dtype=bool).ravel(), bitorder="little")
            p.mask_name = arr(p.ident, p.name, "mask", bits.astype(np.uint8))
    return TrainProgram(
        graph.name, config, split, qbody, tuple(graph.input_shape), input_ctype, n_classes, feature_size,
        feature_ctype, list(params.values()), arrays, structs, ops, plan.buffers, plan, storage,
        boundary_scale, boundary_zp, macs, notes)


def _ctype_of(buffer: str, input_ctype: str, feature_ctype: str) -> str:
    # int8 body activations are named q_*; everything else in the arena is float32.
    return "int8_t" if buffer.startswith("q_") else "float"


def _expr(name: str) -> str:
    """C name of a buffer: arena buffers are ET_B_<name> macros (train_model.c), ``x`` is the
    caller's input."""
    if name in ("x",):
        return name
    return f"ET_B_{name}"


def _int8_body(qm: QuantizedModel, B: int, arr, buf, ops: list[TrainOp], structs: list[str],
               storage: dict[str, str], taken: set[str]) -> None:
    low = qm.lowered
    storage[low.input] = "x"

    def where(t: str) -> str:
        return storage[low.alias_root(t)]

    for q in qm.steps:
        if isinstance(q, QAlias):
            continue
        lid = c_identifier(q.name, taken)
        out = buf(f"q_{lid}", B * qm.tensors[q.output].size)
        storage[q.output] = out
        if isinstance(q, QDense):
            w = arr(lid, q.name, "weights_s8", q.weights)
            eb = arr(lid, q.name, "eff_bias", q.eff_bias)
            b = arr(lid, q.name, "bias_s32", q.bias, "ET_FORCE_REF") if q.bias is not None else "NULL"
            m = arr(lid, q.name, "multipliers", q.multipliers)
            s = arr(lid, q.name, "shifts", q.shifts)
            tail = (f"{q.n_in}, {q.n_out}, {-q.input_zero_point}, {q.output_zero_point}, {q.act_min}, "
                    f"{q.act_max}, {1 if q.per_channel else 0}, {m}, {s}, {eb}}};")
            structs.append(f"static const et_dense_s8_params et_tq_{lid} = {{{B}, {tail}")
            one = f"et_tq_{lid}"
            if B != 1:
                one = f"et_tq1_{lid}"
                structs.append(f"static const et_dense_s8_params {one} = {{1, {tail}")
            x = where(q.input)
            stmt = "st = ET_DENSE_S8(&{s}, {x}, {w}, {b}, {y});"
            ops.append(TrainOp("body", q.name, stmt.format(s=f"et_tq_{lid}", x=_expr(x), w=w, b=b, y=_expr(out)),
                               stmt.format(s=one, x=_expr(x), w=w, b=b, y=_expr(out)), (x,), (out,),
                               f"int8 dense {q.name} (frozen)"))
        elif isinstance(q, QClamp):
            x = where(q.input)
            extra = f", {q.six_q}" if q.kind == "relu6" else ""
            fn = f"et_{q.kind}_s8"
            ops.append(TrainOp("body", q.name,
                               f"st = {fn}({_expr(x)}, {_expr(out)}, {B * q.size}, {q.zero_point}{extra});",
                               f"st = {fn}({_expr(x)}, {_expr(out)}, {q.size}, {q.zero_point}{extra});",
                               (x,), (out,), f"int8 {q.kind} (frozen)"))
        elif isinstance(q, QAdd):
            a, b2 = (where(t) for t in q.inputs)
            p = q.params
            fields = [p.input1_offset, p.input2_offset, p.output_offset, p.left_shift, p.input1_multiplier,
                      p.input1_shift, p.input2_multiplier, p.input2_shift, p.output_multiplier,
                      p.output_shift, p.act_min, p.act_max]
            structs.append(f"static const et_add_s8_params et_tq_{lid} = {{"
                           + ", ".join(literal(v, "int32_t") for v in fields) + "};")
            ops.append(TrainOp("body", q.name,
                               f"st = et_add_s8(&et_tq_{lid}, {_expr(a)}, {_expr(b2)}, {_expr(out)}, {B * q.size});",
                               f"st = et_add_s8(&et_tq_{lid}, {_expr(a)}, {_expr(b2)}, {_expr(out)}, {q.size});",
                               (a, b2), (out,), f"int8 add {q.name} (frozen)"))


def _f32_body(body: Graph, B: int, arr, buf, ops: list[TrainOp], structs: list[str],
              storage: dict[str, str], taken: set[str]) -> str:
    """Frozen float prefix: its weights stay const in flash. Returns the boundary buffer."""
    low = lower_graph(body)
    storage[low.input] = "x"

    def where(t: str) -> str:
        return storage[low.alias_root(t)]

    for st in low.steps:
        if st.kind == "alias":
            continue
        lid = c_identifier(st.name, taken)
        n = low.size(st.output)
        out = buf(f"f_{lid}", B * n * FLOAT)
        storage[st.output] = out
        x = where(st.inputs[0])
        if st.kind == "dense":
            ps = body.node_params(st.node)
            w = np.asarray(ps["weight"].effective(), np.float32).T
            w_name = arr(lid, st.name, "weights_f32", w)
            b_name = arr(lid, st.name, "bias_f32", np.asarray(ps["bias"].effective(), np.float32)) \
                if "bias" in ps else "NULL"
            lo, hi = _float_clamp(st.activation)
            tail = f"{w.shape[1]}, {w.shape[0]}, {lo}, {hi}}};"
            structs.append(f"static const et_dense_f32_params et_tb_{lid} = {{{B}, {tail}")
            one = f"et_tb_{lid}"
            if B != 1:
                one = f"et_tb1_{lid}"
                structs.append(f"static const et_dense_f32_params {one} = {{1, {tail}")
            stmt = "st = ET_DENSE_F32(&{s}, {x}, {w}, {b}, {y});"
            ops.append(TrainOp("body", st.name, stmt.format(s=f"et_tb_{lid}", x=_expr(x), w=w_name, b=b_name, y=_expr(out)),
                               stmt.format(s=one, x=_expr(x), w=w_name, b=b_name, y=_expr(out)), (x,), (out,),
                               f"float dense {st.name} (frozen)"))
        elif st.kind in ("relu", "relu6"):
            fn = f"et_{st.kind}_f32"
            ops.append(TrainOp("body", st.name, f"st = {fn}({_expr(x)}, {_expr(out)}, {B * n});",
                               f"st = {fn}({_expr(x)}, {_expr(out)}, {n});", (x,), (out,), f"{st.kind} (frozen)"))
        else:
            raise UnsupportedOpError(f"the float body cannot run {st.kind} {st.name!r}",
                                     hint="use --body int8 or make the layer trainable")
    return where(low.output)

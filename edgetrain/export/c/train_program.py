"""The on-device training program of one model, derived from its backward schedule.

    split = split_model(graph)                        # frozen body | trainable head
    tp = build_train_program(graph, DeviceTrainConfig(batch=1, body="int8"), calib_x=x)
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
* Convolutions and pools train the same way (rules.train, et_conv_train.h): a conv step is one
  fused backward + update call (each weight updated after one pass over the outputs its tap
  reaches), a pool step writes its input gradient. A batch_norm is folded into the conv or dense
  before it first (`transforms.fold_batch_norm`; its statistics and affine are frozen), so the
  program trains the folded layer; a trainable or unfoldable batch_norm is refused by name.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from ...deprecation import renamed
from ...engine.autodiff import BackwardSchedule, derive_backward
from ...engine.walk import walk_backward
from ...errors import ConfigError, ExportError, UnsupportedOpError
from ...graph import Graph, Node, Param
from ...quantize import QuantizedModel, from_graph, quantize_model
from ...transforms.fold_batch_norm import fold_batch_norm
from ...transforms.lowering import Lowered, lower_graph
from . import raw_input
from .arrays import DataArray, c_identifier, literal
from .plan import Buffer, MemoryPlan, align_up, plan_memory
from .program import choose_layer_storage, class_names_of, scratch_ctype, step_scratch_bytes
from .rules import Lowering, check_supported, lower_calls
from .rules.base import Dtype
from .rules.train import TRAIN_RULES, TrainBackward

BodyKind = Literal["int8", "f32"]
FLOAT = 4
# The globals train_emit derives from a parameter's ident (its RAM copy, optimizer slots, descriptor).
PARAM_SYMBOLS = ("{}", "et_train_value_{}", "et_train_m_{}", "et_train_v_{}", "et_train_param_{}")


@dataclass(frozen=True)
class DeviceTrainConfig:
    """What the generated on-device training code trains with (the optimizer, batch and frozen
    body of the C program; `edgetrain.config.TrainConfig` is the host training config).
    ``one_minus_beta*`` are derived (rounded from double, as numpy sees them)."""

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
        """The settings as plain data: optimizer, learning rate, weight decay, batch and body, plus
        momentum for sgd or beta1, beta2 and eps for adam (the guard settings are left out)."""
        d: dict[str, object] = {
            "optimizer": self.optimizer,
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "batch": self.batch,
            "body": self.body,
        }
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
    sub = Graph({input_name: shapes[input_name]}, nodes, params, [output], name=name, meta=dict(graph.meta))
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
    work = Graph(
        dict(graph.inputs),
        nodes,
        [graph.params[p] for n in nodes for p in n.params.values()],
        [output],
        name=graph.name,
        meta=dict(graph.meta),
    )
    schedule = derive_backward(work)
    if not schedule.trainable:
        raise ConfigError(
            f"nothing to train in {graph.name!r}: every parameter is frozen",
            hint="choose --trainable last:1, bias-only or layer names",
        )
    in_schedule = {s.node.name for s in schedule.steps}
    first = next(i for i, n in enumerate(nodes) if n.name in in_schedule)
    body_nodes, head_nodes = nodes[:first], nodes[first:]
    boundary = head_nodes[0].inputs[0]
    produced = {graph.input_name} | {n.name for n in body_nodes}
    head_made = {boundary}
    for n in head_nodes:
        if n.op not in TRAIN_RULES:
            raise UnsupportedOpError(
                f"on-device training does not support {n.op} ({n.name!r}) in the trainable part",
                hint=f"trainable layers may use: {', '.join(sorted(TRAIN_RULES))}; freeze it "
                "(e.g. --trainable last:1) so it runs in the body",
            )
        for t in n.inputs:
            if t not in head_made:
                raise UnsupportedOpError(
                    f"{n.name!r} reads {t!r} from before the trainable part",
                    hint="the trainable part may read only the first trainable layer's "
                    "input and its own tensors: train from an earlier layer",
                )
        head_made.add(n.name)
    if boundary not in produced:  # pragma: no cover - a topologically ordered chain
        raise ExportError(f"cannot find the boundary tensor {boundary!r}")
    body = _subgraph(graph, body_nodes, graph.input_name, boundary, f"{graph.name}_body") if body_nodes else None
    head = _subgraph(work, head_nodes, boundary, output, f"{graph.name}_head") if body_nodes else work.copy()
    return ModelSplit(body, head, boundary, derive_backward(head), dropped)


# ---------------------------------------------------------------- the program


@dataclass
class TrainParam:
    """A head parameter in C: trainable ones live in RAM (initialised from flash), frozen ones
    stay const in flash. ``c_value``: [n_out][n_in] for weights (C layout); for a shared
    (clustered) weight its K codebook slot values, which are all that is stored and trained (the
    graph parameter's ``codebook``; its indices are constant data of the layer's call)."""

    name: str  # graph parameter name
    ident: str
    c_value: np.ndarray
    trainable: bool
    transpose: bool  # a weight (its C layout differs from the graph's, see ``layout``)
    data_name: str = ""  # const array: initial value (trainable) or the value itself (frozen)
    mask: np.ndarray | None = None  # C layout; a sparse layer keeps its pattern while training
    mask_name: str = ""  # const bitmap array (bit i & 7 of byte i >> 3), see et_param_f32.mask
    shared: bool = False  # c_value is a codebook (graph: Param.codebook, not Param.value)
    # How c_value sits against the graph's array: "T" dense [n_out][n_in] (graph [n_in][n_out]),
    # "ohwi" conv [C_out][kh][kw][C_in/g] (graph (kh, kw, C_in/g, C_out), conv1d without kh),
    # "hwo" depthwise [kh][kw][C_out] (graph (kh, kw, 1, C_out)); "" the same order.
    layout: str = ""
    graph_shape: tuple[int, ...] = ()

    def to_graph(self, c: np.ndarray) -> np.ndarray:
        """A C-layout array of this parameter (shape of c_value) in the graph's layout."""
        c = np.asarray(c).reshape(self.c_value.shape)
        if self.layout == "T":
            return np.ascontiguousarray(c.T)
        if self.layout == "ohwi":
            c = c.transpose(1, 2, 3, 0)
        return np.ascontiguousarray(c.reshape(self.graph_shape or c.shape))

    def to_c(self, g: np.ndarray) -> np.ndarray:
        """A graph-layout array of this parameter (e.g. its mask) in the C layout."""
        if self.layout == "T":
            return np.ascontiguousarray(np.asarray(g).T)
        if self.layout == "ohwi":
            o, kh, kw, ci = self.c_value.shape
            return np.ascontiguousarray(np.asarray(g).reshape(kh, kw, ci, o).transpose(3, 0, 1, 2))
        return np.ascontiguousarray(np.asarray(g).reshape(self.c_value.shape))

    @property
    def size(self) -> int:
        """The number of values stored for the parameter (a shared weight: its codebook size)."""
        return int(self.c_value.size)

    @property
    def nbytes(self) -> int:
        """The bytes of its float32 values in C."""
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
    kernels: tuple[str, ...] = ()  # runtime functions of a lowered call (fast and reference)


@dataclass
class TrainProgram:
    """The C program of on-device training: the frozen body and trainable head, parameters, const
    arrays, the ops of the training step and forward pass, and the arena plan; built by
    `build_train_program`."""

    name: str
    config: DeviceTrainConfig
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
    graph: Graph | None = None  # the graph trained (batch_norm folded), whose parameters these are

    # -- sizes -------------------------------------------------------------------------------
    @property
    def input_count(self) -> int:
        """The number of input values per sample."""
        return math.prod(self.input_shape)

    @property
    def input_bytes(self) -> int:
        """The bytes of one input sample (int8 or float32 elements, as ``input_ctype``)."""
        return self.input_count * (1 if self.input_ctype == "int8_t" else FLOAT)

    @property
    def trainable(self) -> list[TrainParam]:
        """The trainable parameters, in ``params`` order (the order of the stored segments)."""
        return [p for p in self.params if p.trainable]

    @property
    def standardisation(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The input standardisation et_train_input_from_raw applies (`raw_input`), or None."""
        return None if self.graph is None else raw_input.standardisation(self.graph.meta, self.input_count)

    @property
    def class_names(self) -> list[str] | None:
        """The model's class names (one per logit), or None."""
        return None if self.graph is None else class_names_of(self.graph, self.n_classes)

    def device_input(self, x: Any) -> np.ndarray:
        """Float samples (standardised) -> what the generated code takes (int8-quantized for an
        int8 body)."""
        x = np.asarray(x, np.float32)
        if self.qbody is not None:
            return self.qbody.quantize_input(x)
        return np.ascontiguousarray(x)

    @property
    def payload_bytes(self) -> int:
        """The bytes of the trainable parameters' values: their RAM copies and a bank's payload."""
        return sum(p.nbytes for p in self.trainable)

    @property
    def slots_per_param(self) -> int:
        """Optimizer state slots per trainable value: 2 for adam, 1 for sgd with momentum, else 0."""
        if self.config.optimizer == "adam":
            return 2
        return 1 if self.config.momentum != 0 else 0

    @property
    def optimizer_state_bytes(self) -> int:
        """The bytes of the optimizer's state, one float per slot per trainable value."""
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
        """The training buffers without reuse plus separate parameter gradients."""
        return self.naive_activation_bytes + self.param_grad_bytes

    @property
    def layout_tag(self) -> int:
        """Identifies the stored parameter set: a bank of another layout is refused at load."""
        desc = ";".join(f"{p.name}:{p.size}" for p in self.trainable)
        return zlib.crc32(f"{self.name}|{desc}".encode()) & 0xFFFFFFFF

    def segment_layout(self) -> list[tuple[str, tuple[int, ...], str]]:
        """(parameter name, C-layout shape, layout: see `TrainParam.layout`) of each stored
        segment, in order. A shared weight's segment is its codebook (shape (K,), layout "")."""
        return [(p.name, tuple(p.c_value.shape), p.layout) for p in self.trainable]


def build_train_program(
    graph: Graph,
    config: DeviceTrainConfig,
    calib_x: ArrayLike | None = None,
    *,
    per_channel: bool = True,
    qbody: QuantizedModel | None = None,
) -> TrainProgram:
    """Derive the training program of ``graph`` (trainable flags already set).

    The frozen body and the head's forward are lowered by the same code as the inference program
    (`rules.lower_calls`): the body keeps its sparse formats and accepts every op the inference
    exporter accepts. The head's backward is the engine's one walk (`engine.walk`) with this
    backend's gradient rules (`rules.train`)."""
    graph, folded = fold_frozen_batch_norm(graph)
    split = split_model(graph)
    B = config.batch
    batches = (B,) if B == 1 else (B, 1)
    taken: set[str] = set()
    arrays: list[DataArray] = []
    ops: list[TrainOp] = []
    sizes: dict[str, int] = {}  # buffer -> bytes (batch B)
    storage: dict[str, str] = {}
    notes: list[str] = []
    if split.dropped_softmax:
        notes.append(f"final softmax {split.dropped_softmax!r} not run: training and evaluation use logits")
    if folded:
        notes.append(
            f"batch_norm {', '.join(folded)} folded into the layer before: the model trained (and returned) has none"
        )

    def arr(prefix: str, layer: str, role: str, values: np.ndarray, condition: str | None = None) -> str:
        name = c_identifier(f"et_train_{prefix}_{role}", taken)
        arrays.append(DataArray(name, np.ascontiguousarray(values), layer, role, condition))
        return name

    input_ctype = "float"
    feature_size, feature_ctype = 0, "float"
    boundary_scale: float | None = None
    boundary_zp: int | None = None
    macs = 0
    structs: list[str] = []

    # ---- body (frozen, forward only): the inference lowering, placed in the training arena
    head_input = "x"
    if split.body is not None:
        body = split.body
        feature_size = math.prod(body.shapes()[split.boundary])
        dtype: Dtype
        if config.body == "int8":
            if qbody is None and imported_quantization(body):
                qbody = from_graph(body)  # an imported integer model (a .tflite's) is never re-quantized
            if qbody is None:
                if calib_x is None:
                    raise ConfigError("an int8 body needs calibration data (calib_x / --calib)")
                qbody = quantize_model(body, calib_x, per_channel=per_channel)
            input_ctype, feature_ctype = "int8_t", "int8_t"
            lowered, dtype, prefix = qbody.lowered, "int8", "q_"
        else:
            qbody = None
            lowered, dtype, prefix = lower_graph(body), "f32", "f_"
        layer_storage = choose_layer_storage(body, lowered, qbody, None)
        body_ops, body_out = _lower_into_arena(
            body,
            lowered,
            dtype,
            qbody,
            layer_storage,
            batches,
            prefix,
            "et_tb_" if dtype == "f32" else "et_tq_",
            arr,
            taken,
            sizes,
            structs,
        )
        ops.extend(body_ops)
        if qbody is not None:  # the int8 body (dtype "int8")
            out = qbody.output
            boundary_scale, boundary_zp = float(np.float32(out.scale)), int(out.zero_point)
            sizes["features"] = B * feature_size * FLOAT
            ops.append(
                TrainOp(
                    "body",
                    "boundary",
                    f"st = et_dequantize_s8_f32({buffer_expr(body_out)}, {buffer_expr('features')}, "
                    f"{B * feature_size}, "
                    f"{boundary_zp}, {literal(boundary_scale, 'float')});",
                    f"st = et_dequantize_s8_f32({buffer_expr(body_out)}, {buffer_expr('features')}, {feature_size}, "
                    f"{boundary_zp}, {literal(boundary_scale, 'float')});",
                    (body_out,),
                    ("features",),
                    "dequantize the int8 features for the float head",
                )
            )
            head_input = "features"
        else:
            head_input = body_out
        macs += sum(body.macs().values())
    elif config.body == "int8":
        notes.append("--body int8 ignored: the first layer trains, so there is no frozen body")

    # ---- head forward (float32, weights in RAM when trainable)
    head = split.head
    lowered = lower_graph(head)
    params: dict[str, TrainParam] = {}
    _check_head_params(head)

    def param_value(p: Param, role: str, c_value: np.ndarray, lid: str) -> str:
        # role: "weights" (c_value [n_out][n_in]), "bias", or "codebook" (the K slot values of a
        # shared weight; its mask lives in the constant indices, see et_shared.h).
        if p.name not in params:
            graph_role = "weight" if role == "weights" else role
            # train_emit defines these globals from the ident: none may clash with an array name.
            ident = c_identifier(f"{lid}_{graph_role}", taken, forms=PARAM_SYMBOLS)
            layout = ""
            if graph_role == "weight":
                layout = "T" if c_value.ndim == 2 else ("ohwi" if c_value.ndim == 4 else "hwo")
            tp = TrainParam(
                p.name,
                ident,
                np.ascontiguousarray(c_value),
                p.trainable,
                graph_role == "weight",
                shared=role == "codebook",
                layout=layout,
                graph_shape=tuple(p.storage().shape),
            )
            if p.mask is not None and role != "codebook":
                tp.mask = tp.to_c(p.mask)
            params[p.name] = tp
        return f"et_train_value_{params[p.name].ident}"

    head_ops, logits, head_buf, head_calls = _lower_head(
        head, lowered, batches, head_input, arr, taken, sizes, structs, param_value
    )
    ops.extend(head_ops)
    macs += sum(head.macs().values())
    n_classes = lowered.size(lowered.output)
    ops.append(
        TrainOp(
            "loss",
            "loss",
            f"st = et_softmax_xent_f32({buffer_expr(logits)}, labels, {B}, {n_classes}, loss, {buffer_expr(logits)});",
            None,
            (logits,),
            (logits,),
            "softmax cross-entropy; dlogits overwrite the logits",
        )
    )

    # ---- backward: the engine's one walk with the C training rules

    backend = TrainBackward(head, lowered, B, head_buf, params, head_calls, taken, sizes, ops, TrainOp, buffer_expr)
    walk_backward(head, split.schedule, {head.output_name: logits}, backend.rule, backend)

    # ---- memory plan over the op list
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for i, op in enumerate(ops):
        for b in (*op.writes, *op.reads):
            if b in sizes:
                first.setdefault(b, i)
                last[b] = max(last.get(b, i), i)
    buffers = [Buffer(b, align_up(sizes[b]), first[b], last[b]) for b in sizes if b in first]
    plan = plan_memory(buffers)
    for b in plan.buffers:
        storage[b] = f"ET_TRAIN_ARENA({ctype_of(b, input_ctype, feature_ctype)}, {plan.offsets[b]})"
    for p in params.values():
        p.data_name = arr(p.ident, p.name, "init" if p.trainable else "frozen", p.c_value)
        if p.trainable and p.mask is not None:
            bits = np.packbits(np.ascontiguousarray(p.mask, dtype=bool).ravel(), bitorder="little")
            p.mask_name = arr(p.ident, p.name, "mask", bits.astype(np.uint8))
    return TrainProgram(
        graph.name,
        config,
        split,
        qbody,
        tuple(graph.input_shape),
        input_ctype,
        n_classes,
        feature_size,
        feature_ctype,
        list(params.values()),
        arrays,
        structs,
        ops,
        plan.buffers,
        plan,
        storage,
        boundary_scale,
        boundary_zp,
        macs,
        notes,
        graph,
    )


def fold_frozen_batch_norm(graph: Graph) -> tuple[Graph, list[str]]:
    """``graph`` with every batch_norm folded into the conv / dense before it, and the names
    folded. The device runs no batch_norm kernel: a trainable one (batch statistics in training)
    or one that cannot be folded is refused, naming it."""
    bns = [n for n in graph.nodes if n.op == "batch_norm"]
    if not bns:
        return graph, []
    for n in bns:
        if any(graph.params[n.params[r]].trainable for r in ("scale", "bias")):
            raise UnsupportedOpError(
                f"batch_norm {n.name!r} trains: on-device training runs a batch_norm folded into the layer "
                "before it, so its scale and bias cannot train",
                hint="freeze it; finetune_on_device and `edgetrain finetune` fold batch_norm before --trainable "
                "applies, so bias-only trains the folded conv bias",
            )
    folded = fold_batch_norm(graph)
    left = [n.name for n in folded.nodes if n.op == "batch_norm"]
    if left:
        raise UnsupportedOpError(
            f"batch_norm {left[0]!r} cannot be folded into the layer before it, and the "
            "device has no batch_norm kernel",
            hint="put each batch_norm right after a conv or dense layer that nothing else "
            "reads (before its activation)",
        )
    return folded, [n.name for n in bns]


def _check_head_params(head: Graph) -> None:
    """Each head parameter is updated inside its layer's kernel: one user per parameter."""
    users: dict[str, str] = {}
    for n in head.nodes:
        for p in n.params.values():
            if p in users and head.params[p].trainable:
                raise UnsupportedOpError(
                    f"parameter {p!r} is used by {users[p]!r} and {n.name!r}: on-device training updates "
                    "each parameter inside its layer's kernel",
                    hint="give each layer its own parameters",
                )
            users[p] = n.name


def _lower_into_arena(
    graph: Graph,
    lowered: Lowered,
    dtype: Dtype,
    qmodel: QuantizedModel | None,
    layer_storage: dict,
    batches: tuple[int, ...],
    prefix: str,
    struct_prefix: str,
    arr,
    taken: set[str],
    sizes: dict[str, int],
    structs: list[str],
    param_value=None,
) -> tuple[list[TrainOp], str]:
    """Lower a frozen graph with the inference rules into training-arena buffers; returns the ops
    and the buffer of its output."""
    B = batches[0]
    elem = 1 if dtype == "int8" else FLOAT
    buf_of: dict[str, str] = {lowered.input: "x"}
    for st in lowered.steps:
        if st.kind != "alias":
            buf_of[st.output] = c_identifier(f"{prefix}{st.name}", taken)
            sizes[buf_of[st.output]] = B * lowered.size(st.output) * elem
    scratch = step_scratch_bytes(lowered, layer_storage, dtype)
    scratch_buf: dict[str, str] = {}
    for name, nbytes in scratch.items():
        # Buffer prefixes carry the element type (`ctype_of`): float scratch s_, int8 kernels' int32
        # sums i_, an int8 conv's im2col window q_ (int8_t, as the body's int8 activations).
        ctype = scratch_ctype(lowered, name, "int8_t" if dtype == "int8" else "float")
        prefix_of = {"float": "s_", "int32_t": "i_", "int8_t": "q_"}
        scratch_buf[name] = c_identifier(f"{prefix_of[ctype]}{name}", taken)
        sizes[scratch_buf[name]] = nbytes

    def buffer(t: str) -> str:
        return buf_of[lowered.alias_root(t)]

    lw = Lowering(
        dtype,
        graph,
        lowered,
        {q.name: q for q in qmodel.steps} if qmodel is not None else {},
        batches,
        where=lambda t: buffer_expr(buffer(t)),
        scratch=lambda step: buffer_expr(scratch_buf[step]) if step in scratch_buf else None,
        array=arr,
        taken=taken,
        storage=layer_storage,
        struct_prefix=struct_prefix,
    )
    ops = []
    what = "int8" if dtype == "int8" else "float"
    for c in lower_calls(lw):
        structs.extend(c.structs)
        writes = (buffer(c.output),) + ((scratch_buf[c.layer],) if c.layer in scratch_buf else ())
        ops.append(
            TrainOp(
                "body",
                c.layer,
                c.statements[0],
                c.statements[-1],
                tuple(buffer(t) for t in c.inputs),
                writes,
                f"{what} {c.op} {c.layer} (frozen)",
                c.kernels,
            )
        )
    return ops, buffer(lowered.output)


def _lower_head(
    head: Graph,
    lowered: Lowered,
    batches: tuple[int, ...],
    head_input: str,
    arr,
    taken: set[str],
    sizes: dict[str, int],
    structs: list[str],
    param_value,
):
    """The head's forward with the inference rules (dense storage, clustered weights as codebook +
    indices, parameters where `param_value` says). Returns its ops, the logits buffer, tensor ->
    buffer, and layer -> its forward call (the backward rules read its structs and operands)."""
    B = batches[0]
    buf_of: dict[str, str] = {lowered.input: head_input}
    for st in lowered.steps:
        if st.kind != "alias":
            buf_of[st.output] = c_identifier(f"a_{st.name}", taken)
            sizes[buf_of[st.output]] = B * lowered.size(st.output) * FLOAT
    # The fast conv kernels' im2col scratch (the head is stored dense: no sparse storage).
    scratch_buf: dict[str, str] = {}
    for name, nbytes in step_scratch_bytes(lowered, {}, "f32").items():
        scratch_buf[name] = c_identifier(f"s_{name}", taken)
        sizes[scratch_buf[name]] = nbytes

    def buffer(t: str) -> str:
        return buf_of[lowered.alias_root(t)]

    lw = Lowering(
        "f32",
        head,
        lowered,
        {},
        batches,
        where=lambda t: buffer_expr(buffer(t)),
        scratch=lambda step: buffer_expr(scratch_buf[step]) if step in scratch_buf else None,
        array=arr,
        taken=taken,
        storage={},
        struct_prefix="et_tp_",
        param_value=param_value,
        shared_weights=True,
    )
    check_supported([st.kind for st in lowered.steps], "on-device training")
    ops = []
    calls = {}
    for c in lower_calls(lw):
        structs.extend(c.structs)
        calls[c.layer] = c
        writes = (buffer(c.output),) + ((scratch_buf[c.layer],) if c.layer in scratch_buf else ())
        ops.append(
            TrainOp(
                "forward",
                c.layer,
                c.statements[0],
                c.statements[-1],
                tuple(buffer(t) for t in c.inputs),
                writes,
                f"{c.op} {c.layer}",
                c.kernels,
            )
        )
    return ops, buffer(lowered.output), buffer, calls


def ctype_of(buffer: str, input_ctype: str, feature_ctype: str) -> str:
    """The C element type of arena ``buffer``: int8_t for ``q_*`` (int8 body activations), int32_t
    for ``i_*`` (int8 kernels' scratch), float otherwise."""
    # int8 body activations are named q_*, int8 kernels' int32 scratch i_*; the rest is float32.
    if buffer.startswith("q_"):
        return "int8_t"
    return "int32_t" if buffer.startswith("i_") else "float"


def imported_quantization(graph: Graph) -> bool:
    """Whether ``graph`` carries an imported int8 quantization (`interop.tflite.import_tflite`):
    its scales are the file's, so its int8 body is rebuilt, not calibrated again."""
    meta = graph.meta.get("quantization")
    return isinstance(meta, dict) and meta.get("method") == "imported"


def buffer_expr(name: str) -> str:
    """C name of a buffer: arena buffers are ET_B_<name> macros (train_model.c), ``x`` is the
    caller's input."""
    if name in ("x",):
        return name
    return f"ET_B_{name}"


# The old name of DeviceTrainConfig keeps working, with a DeprecationWarning.
__getattr__ = renamed(__name__, {"TrainConfig": "DeviceTrainConfig"})

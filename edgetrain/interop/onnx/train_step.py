"""The training-step graph: one optimisation step in standard ONNX ops.

Built by walking the same `BackwardSchedule` the numpy engine walks (`derive_backward`), emitting
each step's gradient rule from the per-op emitter table, then the loss gradient and the optimizer
update exactly as `engine/optim.py` documents them. The input/output contract is in
docs/onnx_train_step.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto

from ...engine.autodiff import BackwardStep, derive_backward
from ...engine.optim import SGD, Adam, Optimizer, make_optimizer
from ...engine.walk import walk_backward
from ...errors import ConfigError, ExportError
from ...graph import Graph, Param
from ...ops.base import IN0, IN1, OUT
from .common import BATCH, OnnxBuilder, effective_tensor, frozen_value, make_model, mask_tensor, value_info
from .conv_emitters import running_statistics
from .emitters import EMITTERS
from .exportable import check_exportable

LOSSES = ("cross_entropy", "mse")
LABELS, LR, STEP, LOSS = "labels", "lr", "step", "loss"
NEW = ".new"  # suffix of an output that is fed back as the input of the same name


@dataclass
class TrainStep:
    """The step model plus the feeds that start training (parameters, zeroed optimizer state)."""

    model: onnx.ModelProto
    initial_state: dict[str, np.ndarray]
    trainable: list[str]
    state_names: list[str] = field(default_factory=list)  # every fed-back input, in output order

    def feeds(self, x: np.ndarray, labels: np.ndarray, lr: float, state: dict[str, np.ndarray]) -> dict:
        """The feeds of one run: batch ``x``, its ``labels`` (class indices for cross-entropy, targets for
        mse), the learning rate ``lr`` and the fed-back ``state`` (``initial_state`` for the first run)."""
        return {
            self.model.graph.input[0].name: np.asarray(x, np.float32),
            LABELS: labels,
            LR: np.asarray(lr, np.float32),
            **state,
        }

    def next_state(self, outputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Map a run's outputs back onto the inputs of the next run."""
        return {n: outputs[n + NEW] for n in self.state_names}


def _resolve_optimizer(optimizer: Optimizer | str, kwargs: dict) -> SGD | Adam:
    opt = make_optimizer(optimizer, **kwargs) if isinstance(optimizer, str) else optimizer
    if not isinstance(opt, (SGD, Adam)):
        raise ExportError(f"the train-step graph supports SGD and Adam, not {type(opt).__name__}")
    return opt


def build_train_step(
    graph: Graph,
    optimizer: Optimizer | str = "sgd",
    loss: str = "cross_entropy",
    *,
    raw_input: bool = False,
    **optimizer_kwargs: float,
) -> TrainStep:
    """Build the train-step model for `graph` with the optimizer's hyper-parameters baked in.

    The learning rate stays an input (schedules live outside the graph); momentum, betas, eps and
    weight decay are constants taken from `optimizer` (an instance, or a name plus keyword options).
    """
    if loss not in LOSSES:
        raise ConfigError(f"unknown loss {loss!r} for the train-step graph", hint=f"choose one of: {', '.join(LOSSES)}")
    opt = _resolve_optimizer(optimizer, optimizer_kwargs)
    check_exportable(graph)
    shapes = graph.shapes()
    schedule = derive_backward(graph)  # the same schedule `Trainer` uses
    trainable = list(dict.fromkeys(schedule.trainable))
    if not trainable:
        raise ExportError(
            "the model has no trainable parameters; a train-step graph would do nothing",
            hint="mark some layers trainable (set_trainable)",
        )
    out = graph.output_name
    n_out = shapes[out]

    from .inference import model_input

    b = OnnxBuilder()
    inputs = [model_input(b, graph, raw_input)]  # `input_raw` with raw_input and stored statistics
    if loss == "cross_entropy":
        if len(n_out) != 1:
            raise ExportError(f"cross-entropy needs a flat output, {out!r} has shape {n_out}")
        inputs.append(value_info(b.reserve(LABELS), [BATCH], np.int64))
    else:
        inputs.append(value_info(b.reserve(LABELS), [BATCH, *n_out]))
    inputs.append(value_info(b.reserve(LR), []))

    state_names: list[str] = []
    initial: dict[str, np.ndarray] = {}

    def state_input(name: str, value: np.ndarray) -> str:
        inputs.append(value_info(b.reserve(name), value.shape, value.dtype))
        state_names.append(name)
        initial[name] = value
        return name

    # The forward is a training one, as in the numpy engine (`engine.mode.training_forward` with
    # the graph's non-trainable parameters frozen): a batch_norm whose scale or bias trains
    # normalises with batch statistics and updates its running statistics.
    b.training = True
    b.frozen = frozenset(n for n, p in graph.params.items() if not p.trainable)

    # Trainable storages are inputs; everything else is a constant with attachments folded in.
    weight_of: dict[str, str] = {}
    for pname in trainable:
        p = graph.params[pname]
        store = state_input(pname, np.array(p.storage(), dtype=np.float32))
        weight_of[pname] = effective_tensor(b, p, store)
    # Running statistics the training forward updates are fed-back state, like optimizer state:
    # input `<bn>.mean`, output `<bn>.mean.new` (after the parameters and their optimizer state).
    running = running_statistics(graph, b)
    for p in graph.params.values():
        if p.name not in weight_of and p.name not in running:
            weight_of[p.name] = b.const(p.name, frozen_value(p), exact_name=True)
    opt_state: dict[str, dict[str, str]] = {}
    for pname in trainable:
        zeros = np.zeros_like(initial[pname])
        if isinstance(opt, SGD) and opt.momentum:
            opt_state[pname] = {"velocity": state_input(f"{pname}.velocity", zeros)}
        elif isinstance(opt, Adam):
            opt_state[pname] = {"m": state_input(f"{pname}.m", zeros), "v": state_input(f"{pname}.v", zeros.copy())}
    if isinstance(opt, Adam):
        state_input(STEP, np.asarray(0, np.int64))
    for pname in running:
        weight_of[pname] = state_input(pname, np.array(graph.params[pname].value, dtype=np.float32))

    # Forward: every node, outputs named after nodes (activations the schedule saves are just tensors).
    from .inference import emit_forward

    emit_forward(b, graph, weight_of)
    loss_name, dlogits = _emit_loss(b, loss, out, int(np.prod(n_out)) if loss == "cross_entropy" else 0)

    # Backward: the engine's one walk, with tensor names as gradients.
    def rule(step: BackwardStep, dy: str, saved: Mapping[str, Any]) -> Any:
        node = step.node
        ws = {role: weight_of[p] for role, p in node.params.items()}
        return EMITTERS[node.op].backward(b, node, dy, dict(saved), ws, step.need_dx, set(step.need_dparams))

    param_grads = walk_backward(graph, schedule, {out: dlogits}, rule, OnnxAlgebra(b))

    outputs = [value_info(b.reserve(LOSS), [])]
    b.op("Identity", [loss_name], outs=[LOSS])
    new_names = _emit_optimizer(b, graph, opt, trainable, param_grads, opt_state)
    new_names.update(b.updates)
    missing = [p for p in running if p not in b.updates]
    if missing:  # the forward emitters and _running_statistics disagree: a bug, never a silent freeze
        raise ExportError(f"internal: no running-statistic update was emitted for {', '.join(missing)}")
    for name in state_names:
        src = new_names[name]
        outputs.append(value_info(b.reserve(name + NEW), initial[name].shape, initial[name].dtype))
        b.op("Identity", [src], outs=[name + NEW])
    model = make_model(
        b, f"{graph.name}_train_step", inputs, outputs, doc="edgetrain train step; see docs/onnx_train_step.md"
    )
    return TrainStep(model, initial, trainable, state_names)


class OnnxAlgebra:
    """Gradients are ONNX tensor names; saved forward values are the nodes' own tensors."""

    def __init__(self, b: OnnxBuilder) -> None:
        self.b = b

    def accumulate(self, total: str, more: str, tensor: str) -> str:
        """An Add node summing two gradient contributions to ``tensor``; returns its output name."""
        return self.b.op("Add", [total, more], f"{tensor}.grad")

    def to_storage(self, param: Param, grad: str, step: BackwardStep, role: str) -> str:
        """The gradient w.r.t. ``param``'s storage: masked, and summed per codebook entry when clustered."""
        return _grad_to_storage(self.b, param, grad)

    def saved(self, step: BackwardStep) -> Mapping[str, str]:
        """The tensors ``step`` saves, by key: its node's inputs (IN0, IN1) and output (OUT), which the
        forward already names."""
        node = step.node
        avail = dict(zip((IN0, IN1), node.inputs)) | {OUT: node.name}
        return {k: avail[k] for k in step.saves}


def _grad_to_storage(b: OnnxBuilder, p: Param, g: str) -> str:
    """Like `Param.grad_to_storage`: mask the gradient; sum it per codebook entry if clustered."""
    if p.mask is not None:
        g = b.op("Mul", [g, mask_tensor(b, p)], f"{p.name}.grad.masked")
    if p.codebook is not None:
        # np.bincount accumulates in float64; scatter-add in double too, then round once.
        k = int(np.asarray(p.codebook).size)
        flat_idx = b.const(f"{p.name}.indices_flat", np.asarray(p.indices, np.int64).ravel(), np.int64)
        flat_g = b.op("Cast", [b.op("Reshape", [g, b.const("minus_one", [-1], np.int64)])], to=TensorProto.DOUBLE)
        acc = b.op(
            "ScatterElements",
            [b.const(f"{p.name}.zeros", np.zeros(k), np.float64), flat_idx, flat_g],
            f"{p.name}.grad.codebook",
            axis=0,
            reduction="add",
        )
        g = b.op("Cast", [acc], to=TensorProto.FLOAT)
    return g


def _emit_loss(b: OnnxBuilder, loss: str, logits: str, n_classes: int) -> tuple[str, str]:
    """Loss value and its gradient w.r.t. the model output, as engine/losses.py defines them."""
    if loss == "cross_entropy":
        value, logp = b.op("SoftmaxCrossEntropyLoss", [logits, LABELS], "ce", n_out=2, reduction="mean")
        n = b.op(
            "Cast",
            [b.op("Gather", [b.op("Shape", [logits]), b.const("i0", 0, np.int64)], axis=0)],
            "batch_size",
            to=TensorProto.FLOAT,
        )
        onehot = b.op(
            "OneHot", [LABELS, b.const("depth", n_classes, np.int64), b.const("off_on", [0.0, 1.0])], "onehot", axis=-1
        )
        grad = b.op("Div", [b.op("Sub", [b.op("Exp", [logp]), onehot]), n], "loss.grad")
        return value, grad
    diff = b.op("Sub", [logits, LABELS], "diff")
    value = b.op("ReduceMean", [b.op("Mul", [diff, diff])], "mse", keepdims=0)
    size = b.op("Cast", [b.op("Size", [diff])], to=TensorProto.FLOAT)
    grad = b.op("Div", [b.op("Mul", [b.const("two", 2.0), diff]), size], "loss.grad")
    return value, grad


def _emit_optimizer(
    b: OnnxBuilder,
    graph: Graph,
    opt: SGD | Adam,
    trainable: list[str],
    grads: dict[str, str],
    state: dict[str, dict[str, str]],
) -> dict[str, str]:
    """Updated parameters and state, following the update-rule contract in engine/optim.py."""
    new: dict[str, str] = {}
    bias_corr: tuple[str, str] | None = None
    if isinstance(opt, Adam):
        # t counts from 1; the bias corrections are computed in double as numpy does, then rounded.
        t1 = b.op("Add", [STEP, b.const("one_i64", 1, np.int64)], "t")
        new[STEP] = t1
        t = b.op("Cast", [t1], to=TensorProto.DOUBLE)
        bias_corr = tuple(
            b.op(
                "Cast",
                [
                    b.op(
                        "Sub",
                        [b.const("one_f64", 1.0, np.float64), b.op("Pow", [b.const(f"beta{i}", beta, np.float64), t])],
                    )
                ],
                f"bias_correction{i}",
                to=TensorProto.FLOAT,
            )
            for i, beta in ((1, opt.beta1), (2, opt.beta2))
        )
    for pname in trainable:
        p = graph.params[pname]
        w = pname
        g = grads.get(pname)
        if g is None:  # no gradient reaches it: numpy skips the update, so pass everything through
            new[pname] = w
            new.update({s: s for s in state.get(pname, {}).values()})
            continue
        if opt.weight_decay:
            g = b.op("Add", [g, b.op("Mul", [b.const(f"{pname}.wd", opt.weight_decay), w])], f"{pname}.grad.wd")
        if isinstance(opt, SGD):
            if opt.momentum:
                v = state[pname]["velocity"]
                g = b.op("Add", [b.op("Mul", [v, b.const("momentum", opt.momentum)]), g], f"{pname}.velocity.upd")
                new[v] = g
            w_new = b.op("Sub", [w, b.op("Mul", [LR, g])], f"{pname}.upd")
        else:
            m, v = state[pname]["m"], state[pname]["v"]
            assert bias_corr is not None  # computed above for Adam
            m_new = b.op(
                "Add",
                [
                    b.op("Mul", [m, b.const("beta1_f", opt.beta1)]),
                    b.op("Mul", [b.const("one_minus_beta1", 1 - opt.beta1), g]),
                ],
                f"{pname}.m.upd",
            )
            v_new = b.op(
                "Add",
                [
                    b.op("Mul", [v, b.const("beta2_f", opt.beta2)]),
                    b.op("Mul", [b.const("one_minus_beta2", 1 - opt.beta2), b.op("Mul", [g, g])]),
                ],
                f"{pname}.v.upd",
            )
            mhat = b.op("Div", [m_new, bias_corr[0]])
            vhat = b.op("Div", [v_new, bias_corr[1]])
            step = b.op("Div", [b.op("Mul", [LR, mhat]), b.op("Add", [b.op("Sqrt", [vhat]), b.const("eps", opt.eps)])])
            w_new = b.op("Sub", [w, step], f"{pname}.upd")
            new[m], new[v] = m_new, v_new
        if p.mask is not None and p.codebook is None:
            w_new = b.op("Mul", [w_new, mask_tensor(b, p)], f"{pname}.upd.masked")  # pruned weights stay exactly 0
        new[pname] = w_new
    return new


def export_train_step(
    graph: Graph,
    directory: str | Path,
    optimizer: Optimizer | str = "sgd",
    loss: str = "cross_entropy",
    *,
    raw_input: bool = False,
    **optimizer_kwargs: float,
) -> TrainStep:
    """Write ``train_step.onnx`` and ``train_step_state.npz`` (initial fed-back inputs) into `directory`."""
    directory = Path(directory)
    ts = build_train_step(graph, optimizer, loss, raw_input=raw_input, **optimizer_kwargs)
    onnx.save(ts.model, str(directory / "train_step.onnx"))
    initial_state: dict[str, Any] = dict(ts.initial_state)
    np.savez(directory / "train_step_state.npz", **initial_state)
    return ts

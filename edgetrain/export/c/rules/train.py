"""The C training backend: gradient rules keyed by op kind and the gradient algebra the engine's
one backward walk (`engine.walk.walk_backward`) runs with.

Gradients are arena buffers (names). Contracts the rules keep:

* every gradient buffer has one owner: a rule may overwrite the ``dy`` it is handed (the walk
  hands each ``dy`` to one step only), and a rule that gives one gradient to two inputs (``add``)
  copies it for the second;
* a dense or conv step is one fused backward + update call: its parameter update is applied as
  soon as its gradient exists, so no weight-gradient buffer exists and no parameter gradient
  reaches the walk (so `to_storage` is never asked). A shared (clustered) dense weight's kernel
  sums the entry gradients per codebook slot into a K-float scratch buffer and updates the K slot
  values; a conv weight trains only as plain values (a trainable clustered conv weight is
  refused);
* pools have no parameters: their step writes the input gradient into a new buffer (a max pool
  reads its saved input to find each window's maximum again);
* a rule reads the operands of its layer's forward call (`Call.operands`), so forward and
  backward agree on where each parameter lives;
* fan-out (a tensor read by two nodes, e.g. a residual block's input) sums the gradients in place
  into the first one (``et_grad_accumulate_f32``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ....engine.autodiff import BackwardStep
from ....errors import UnsupportedOpError
from ....graph import Graph, Param
from ....ops.base import IN0, IN1, OUT
from ....transforms.lowering import Lowered
from ..abi import shared_scratch_bytes
from ..arrays import c_identifier, literal
from .base import Call

FLOAT = 4


class TrainBackward:
    """Emits the backward ops of one head into ``ops`` (TrainOp list) while the walk runs."""

    def __init__(
        self,
        head: Graph,
        lowered: Lowered,
        batch: int,
        buffer: Callable[[str], str],
        params: dict,
        calls: dict[str, Call],
        taken: set[str],
        sizes: dict[str, int],
        ops: list,
        make_op: Callable[..., object],
        expr: Callable[[str], str],
    ) -> None:
        self.head, self.lowered, self.batch, self.buffer = head, lowered, batch, buffer
        self.params, self.calls, self.taken, self.sizes, self.ops = params, calls, taken, sizes, ops
        self.shapes = head.shapes()
        self.make_op, self.expr = make_op, expr  # the program's op record and buffer naming

    # -- helpers for the rules ---------------------------------------------------------------------
    def count(self, tensor: str) -> int:
        """The element count of ``tensor`` over the batch."""
        n = 1
        for d in self.shapes[tensor]:
            n *= d
        return self.batch * n

    def new_buffer(self, hint: str, tensor: str | None = None, nbytes: int | None = None) -> str:
        """An arena buffer for a gradient of ``tensor`` (batch B), or of ``nbytes`` (float data)."""
        name = c_identifier(f"g_{hint}", self.taken)
        self.sizes[name] = nbytes if nbytes is not None else self.count(tensor or "") * FLOAT
        return name

    def emit(
        self,
        layer: str,
        stmt: str,
        reads: tuple[str, ...],
        writes: tuple[str, ...],
        comment: str,
        kernels: tuple[str, ...] = (),
    ) -> None:
        """Append a backward op of ``layer``: the statement, the buffers it reads and writes, a
        comment and the kernels it calls."""
        self.ops.append(self.make_op("backward", layer, stmt, None, reads, writes, comment, kernels))

    # -- the walk's side ---------------------------------------------------------------------------
    def rule(self, step: BackwardStep, dy: str, saved: Mapping[str, str]):
        """Emit ``step``'s backward with the op's training rule (dy the buffer of its output
        gradient) and return its input-gradient buffers (None where not needed) and parameter
        gradients, as the executor's backward walk expects."""
        return TRAIN_RULES[step.node.op](self, step, dy, saved)

    def accumulate(self, total: str, more: str, tensor: str) -> str:
        """Emit the sum of the gradient ``more`` into ``total`` (both of ``tensor``) and return
        ``total``."""
        e = self.expr
        self.emit(
            tensor,
            f"st = et_grad_accumulate_f32({e(total)}, {e(more)}, {self.count(tensor)});",
            (total, more),
            (total,),
            f"gradient of {tensor}: sum of its consumers'",
        )
        return total

    def to_storage(self, param: Param, grad: str, step: BackwardStep, role: str) -> str:
        """Never called: the C training kernels update parameters themselves (AssertionError)."""
        raise AssertionError("C training rules apply parameter updates inside their kernels")

    def saved(self, step: BackwardStep) -> Mapping[str, str]:
        """The buffers of what ``step`` saved for its backward, by role."""
        node = step.node
        avail = dict(zip((IN0, IN1), node.inputs)) | {OUT: node.name}
        return {k: self.buffer(avail[k]) for k in step.saves}


def _dense(be: TrainBackward, step: BackwardStep, dy: str, saved: Mapping[str, str]):
    node = step.node
    call = be.calls[node.name]
    w_p = be.params[node.params["weight"]]
    b_p = be.params.get(node.params.get("bias", ""))
    keeps_input = IN0 in saved
    reads = (dy, saved[IN0]) if keeps_input else (dy,)
    dx, dx_expr = None, "NULL"
    writes: tuple[str, ...] = ()
    if step.need_dx[0]:
        dx = be.new_buffer(node.name, node.inputs[0])
        writes, dx_expr = (dx,), be.expr(dx)
    b_arg = f"&et_train_param_{b_p.ident}" if b_p is not None else "NULL"
    x_arg = be.expr(saved[IN0]) if keeps_input else "NULL"
    what = [*step.need_dparams] + (["dx"] if step.need_dx[0] else [])
    # Arguments both fused kernels start with: forward struct, optimizer, input, dy, weight param.
    common = f"&{call.arg_structs[0]}, &et_train_opt, {x_arg}, {be.expr(dy)}, &et_train_param_{w_p.ident}"
    if "codebook" in call.operands:
        n_slots, slot_arg = call.operands["n_slots"], "NULL"
        if w_p.trainable:
            slots = be.new_buffer(f"{node.name}_slots", nbytes=shared_scratch_bytes(int(n_slots)))
            writes, slot_arg = (*writes, slots), be.expr(slots)
        stmt = (
            f"st = ET_DENSE_SHARED_BWD({common}, {n_slots}, {call.operands['indices']}, {slot_arg}, "
            f"{b_arg}, {dx_expr});"
        )
        kernels: tuple[str, ...] = ("et_dense_f32_shared_backward_update", "et_dense_f32_shared_backward_update_ref")
        what = [("codebook slots" if w == "weight" else w) for w in what]
    else:
        stmt = f"st = ET_DENSE_BWD({common}, {b_arg}, {dx_expr});"
        kernels = ()  # et_dense_f32_backward*.c are always linked (RUNTIME_SOURCES)
    be.emit(
        node.name,
        stmt,
        reads,
        writes,
        f"dense {node.name} backward: {', '.join(what) or 'nothing'}; update applied now",
        kernels,
    )
    return [dx], {}


def _conv(be: TrainBackward, step: BackwardStep, dy: str, saved: Mapping[str, str]):
    """conv2d / conv1d (grouped or depthwise): one fused backward + update call (et_conv_train.h)."""
    node = step.node
    call = be.calls[node.name]
    gw = be.head.params[node.params["weight"]]
    if gw.trainable and gw.codebook is not None:
        raise UnsupportedOpError(
            f"{node.op} {node.name!r}: its clustered (codebook) weight cannot train on the device",
            hint=f"freeze {node.name!r} (e.g. --trainable bias-only or head) or train it on the host",
        )
    w_p = be.params[node.params["weight"]]
    b_p = be.params.get(node.params.get("bias", ""))
    depthwise = call.op.endswith("/depthwise")
    x_arg = be.expr(saved[IN0]) if IN0 in saved else "NULL"
    reads = (dy, saved[IN0]) if IN0 in saved else (dy,)
    dx, dx_expr = None, "NULL"
    writes: tuple[str, ...] = ()
    if step.need_dx[0]:
        dx = be.new_buffer(node.name, node.inputs[0])
        writes, dx_expr = (dx,), be.expr(dx)
    b_arg = f"&et_train_param_{b_p.ident}" if b_p is not None else "NULL"
    macro = "ET_DEPTHWISE_CONV_BWD" if depthwise else "ET_CONV_BWD"
    fn = "et_depthwise_conv_f32_backward_update" if depthwise else "et_conv_f32_backward_update"
    be.emit(
        node.name,
        f"st = {macro}(&{call.arg_structs[0]}, &et_train_opt, {x_arg}, {be.expr(dy)}, "
        f"&et_train_param_{w_p.ident}, {b_arg}, {dx_expr});",
        reads,
        writes,
        f"{call.op} {node.name} backward: {', '.join([*step.need_dparams] + (['dx'] if dx else [])) or 'nothing'}; "
        "update applied now",
        (fn, f"{fn}_ref", "et_conv_geom_check"),
    )
    return [dx], {}


def _pool(be: TrainBackward, step: BackwardStep, dy: str, saved: Mapping[str, str]):
    """max_pool / avg_pool / global_avg_pool: the input gradient into a new buffer."""
    node = step.node
    if not step.need_dx[0]:  # pragma: no cover - a parameterless node is scheduled only for its dx
        return [None], {}
    call = be.calls[node.name]
    dx = be.new_buffer(node.name, node.inputs[0])
    fn = f"et_{node.op}_f32_backward"
    src = (be.expr(saved[IN0]) + ", ") if node.op == "max_pool" else ""
    reads = (dy, saved[IN0]) if node.op == "max_pool" else (dy,)
    be.emit(
        node.name,
        f"st = {fn}(&{call.arg_structs[0]}, {src}{be.expr(dy)}, {be.expr(dx)});",
        reads,
        (dx,),
        f"{node.op} {node.name} backward",
        (fn,),
    )
    return [dx], {}


def _pointwise(fn: str, key: str, extra: Callable[[BackwardStep], str] = lambda step: ""):
    """In-place backward of an element-wise activation from its saved output (or input)."""

    def rule(be: TrainBackward, step: BackwardStep, dy: str, saved: Mapping[str, str]):
        node = step.node
        src = saved[key]
        be.emit(
            node.name,
            f"st = {fn}({be.expr(src)}, {be.expr(dy)}, {be.count(node.name)}{extra(step)});",
            (src, dy),
            (dy,),
            f"{node.op} backward in place",
        )
        return [dy], {}

    return rule


def _alpha(step: BackwardStep) -> str:
    from .elementwise import alpha_of

    return ", " + literal(alpha_of(step), "float")  # type: ignore[arg-type]


def _add(be: TrainBackward, step: BackwardStep, dy: str, saved: Mapping[str, str]):
    need_a, need_b = step.need_dx
    if need_a and need_b:
        # Both branches get dy; the second gets its own copy so either may be overwritten.
        copy = be.new_buffer(f"{step.node.name}_b", step.node.name)
        n = be.count(step.node.name)
        be.emit(
            step.node.name, f"st = et_zero_f32({be.expr(copy)}, {n});", (), (copy,), "copy of dy for the second input"
        )
        be.emit(
            step.node.name,
            f"st = et_grad_accumulate_f32({be.expr(copy)}, {be.expr(dy)}, {n});",
            (copy, dy),
            (copy,),
            "(zero + dy)",
        )
        return [dy, copy], {}
    return [dy if need_a else None, dy if need_b else None], {}


def _view(be: TrainBackward, step: BackwardStep, dy: str, saved: Mapping[str, str]):
    return [dy], {}


TRAIN_RULES: dict[str, Callable] = {
    "dense": _dense,
    "relu": _pointwise("et_relu_f32_backward", OUT),
    "relu6": _pointwise("et_relu6_f32_backward", OUT),
    "leaky_relu": _pointwise("et_leaky_relu_f32_backward", OUT, _alpha),
    "sigmoid": _pointwise("et_sigmoid_f32_backward", OUT),
    "tanh": _pointwise("et_tanh_f32_backward", OUT),
    "hard_swish": _pointwise("et_hard_swish_f32_backward", IN0),
    "add": _add,
    "flatten": _view,
    "identity": _view,
    "reshape": _view,
    "conv2d": _conv,
    "conv1d": _conv,
    "max_pool": _pool,
    "avg_pool": _pool,
    "global_avg_pool": _pool,
}

# Backward kernels a training rule may call that no inference rule lists (train_emit links them).
TRAIN_KERNEL_SOURCES: dict[str, str] = {
    "et_conv_f32_backward_update": "et_conv_f32_backward.c",
    "et_depthwise_conv_f32_backward_update": "et_conv_f32_backward.c",
    "et_conv_f32_backward_update_ref": "et_conv_f32_backward_ref.c",
    "et_depthwise_conv_f32_backward_update_ref": "et_conv_f32_backward_ref.c",
    "et_max_pool_f32_backward": "et_pool_f32_backward.c",
    "et_avg_pool_f32_backward": "et_pool_f32_backward.c",
    "et_global_avg_pool_f32_backward": "et_pool_f32_backward.c",
    "et_conv_geom_check": "et_conv_geom.c",
}

"""Op registry: one module per family, each op with its forward and gradient rule side by side."""

from __future__ import annotations

from ..deprecation import renamed
from ..errors import UnsupportedOpError
from .activations import HardSwishOp, LeakyReLUOp, ReLU6Op, ReLUOp, SigmoidOp, SoftmaxOp, TanhOp
from .base import Op
from .conv import Conv1DOp, Conv2DOp, ReshapeOp
from .dense import DenseOp
from .pool import AvgPoolOp, BatchNormOp, GlobalAvgPoolOp, MaxPoolOp
from .structural import AddOp, FlattenOp, IdentityOp

OPS: dict[str, Op] = {
    op.kind: op
    for op in (
        DenseOp(),
        ReLUOp(),
        ReLU6Op(),
        SoftmaxOp(),
        LeakyReLUOp(),
        SigmoidOp(),
        TanhOp(),
        HardSwishOp(),
        FlattenOp(),
        IdentityOp(),
        AddOp(),
        Conv2DOp(),
        Conv1DOp(),
        MaxPoolOp(),
        AvgPoolOp(),
        GlobalAvgPoolOp(),
        BatchNormOp(),
        ReshapeOp(),
    )
}


def get_op(kind: str) -> Op:
    """The op implementation of ``kind``; UnsupportedOpError for an unknown op."""
    try:
        return OPS[kind]
    except KeyError:
        raise UnsupportedOpError(f"unknown op kind {kind!r}", hint=f"supported: {', '.join(sorted(OPS))}") from None


def register_op(op: Op) -> Op:
    """Add an op kind (techniques and importers extend the set this way)."""
    OPS[op.kind] = op
    return op


__all__ = ["OPS", "Op", "get_op", "register_op"]

# The layer specs of `edgetrain.layers` own the plain names; the op classes had them too once.
__getattr__ = renamed(
    __name__,
    {
        name: f"{name}Op"
        for name in (
            "Add",
            "Dense",
            "Flatten",
            "HardSwish",
            "Identity",
            "LeakyReLU",
            "ReLU",
            "ReLU6",
            "Sigmoid",
            "Softmax",
            "Tanh",
        )
    },
)

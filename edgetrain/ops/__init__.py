"""Op registry: one module per family, each op with its forward and gradient rule side by side."""
from __future__ import annotations

from ..errors import UnsupportedOpError
from .activations import HardSwish, LeakyReLU, ReLU, ReLU6, Sigmoid, Softmax, Tanh
from .base import Op
from .dense import Dense
from .structural import Add, Flatten, Identity

OPS: dict[str, Op] = {op.kind: op for op in (Dense(), ReLU(), ReLU6(), Softmax(), LeakyReLU(), Sigmoid(), Tanh(),
                                              HardSwish(), Flatten(), Identity(), Add())}


def get_op(kind: str) -> Op:
    try:
        return OPS[kind]
    except KeyError:
        raise UnsupportedOpError(
            f"unknown op kind {kind!r}", hint=f"supported: {', '.join(sorted(OPS))}"
        ) from None


def register_op(op: Op) -> Op:
    """Add an op kind (techniques and importers extend the set this way)."""
    OPS[op.kind] = op
    return op


__all__ = ["OPS", "Op", "get_op", "register_op"]

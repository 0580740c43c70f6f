"""What every op kind provides: shape rule, cost, forward rule and, next to it, its gradient rule."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InvalidModelError

if TYPE_CHECKING:
    from ..graph import Node, Param, Shape

# Keys of forward values an op's backward may ask to keep: its inputs by position and its output.
IN0, IN1, OUT = "in0", "in1", "out"

# Default for `Op.backward(out=...)`: no preallocated arrays, every rule allocates its results.
NO_BUFFERS: Mapping[str, np.ndarray] = MappingProxyType({})


class Op:
    """One op kind. Stateless; the node carries names, attributes and parameter roles."""

    kind: str = ""
    n_inputs: int = 1
    param_roles: tuple[str, ...] = ()
    required_roles: tuple[str, ...] = ()
    # Whether forward/backward write into the `out` arrays they are given. Off by default so an op
    # registered from outside gets no buffers it would ignore; off for views (flatten, identity).
    uses_out: bool = False
    # A view (flatten, identity) computes nothing: kernel backends alias its output to its input.
    is_view: bool = False
    # An activation that is a plain clamp to [lo, hi] (None: unbounded) can be fused into the
    # kernel that produces its input as an output clamp (relu, relu6).
    clamp: tuple[float | None, float | None] | None = None

    def infer_shape(self, node: Node, in_shapes: list[Shape], params: dict[str, Param]) -> Shape:
        """The output shape (without the batch axis) of ``node`` on inputs of ``in_shapes``;
        InvalidModelError when the inputs, parameters or attributes do not fit the op. Every op
        implements it."""
        raise NotImplementedError

    def macs(self, node: Node, in_shapes: list[Shape], out_shape: Shape, params: dict[str, Param]) -> int:
        """The multiply-accumulates of one sample through ``node`` (0 unless the op counts them)."""
        return 0

    def forward(
        self, node: Node, xs: list[np.ndarray], ws: dict[str, np.ndarray], out: np.ndarray | None = None
    ) -> np.ndarray:
        """The output for a batch. `out`, when given, is a preallocated array of the output's shape
        and dtype the rule may write into (the training step reuses one per node instead of a fresh
        temporary); the returned array is the output either way."""
        raise NotImplementedError

    def saves(self, need_dx: list[bool], need_dparams: set[str]) -> set[str]:
        """Forward values the backward rule needs, given which gradients are wanted."""
        return set()

    def backward(
        self,
        node: Node,
        dy: np.ndarray,
        saved: dict[str, np.ndarray],
        ws: dict[str, np.ndarray],
        need_dx: list[bool],
        need_dparams: set[str],
        out: Mapping[str, np.ndarray] = NO_BUFFERS,
    ) -> tuple[list[np.ndarray | None], dict[str, np.ndarray]]:
        """Input gradients by position and parameter gradients by role. `out` may hold preallocated
        arrays to write them into, keyed IN0/IN1 and by role; the returned arrays are the gradients."""
        raise NotImplementedError

    # -- shared validation ------------------------------------------------------------------
    def check_arity(self, node: Node, in_shapes: list[Shape], params: dict[str, Any]) -> None:
        """Raise InvalidModelError unless ``node`` has the op's number of inputs, every required
        parameter role and no other."""
        if len(in_shapes) != self.n_inputs:
            raise InvalidModelError(
                f"node {node.name!r} ({self.kind}) takes {self.n_inputs} input(s), got {len(in_shapes)}"
            )
        for role in self.required_roles:
            if role not in params:
                raise InvalidModelError(f"node {node.name!r} ({self.kind}) needs a {role} parameter")
        extra = set(params) - set(self.param_roles)
        if extra:
            raise InvalidModelError(f"node {node.name!r} ({self.kind}) has unexpected parameters {sorted(extra)}")

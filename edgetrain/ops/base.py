"""What every op kind provides: shape rule, cost, forward rule and, next to it, its gradient rule."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InvalidModelError

if TYPE_CHECKING:
    from ..graph import Node, Param, Shape

# Keys of forward values an op's backward may ask to keep: its inputs by position and its output.
IN0, IN1, OUT = "in0", "in1", "out"


class Op:
    """One op kind. Stateless; the node carries names, attributes and parameter roles."""

    kind: str = ""
    n_inputs: int = 1
    param_roles: tuple[str, ...] = ()
    required_roles: tuple[str, ...] = ()

    def infer_shape(self, node: "Node", in_shapes: list["Shape"], params: dict[str, "Param"]) -> "Shape":
        raise NotImplementedError

    def macs(self, node: "Node", in_shapes: list["Shape"], out_shape: "Shape", params: dict[str, "Param"]) -> int:
        return 0

    def forward(self, node: "Node", xs: list[np.ndarray], ws: dict[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def saves(self, need_dx: list[bool], need_dparams: set[str]) -> set[str]:
        """Forward values the backward rule needs, given which gradients are wanted."""
        return set()

    def backward(
        self,
        node: "Node",
        dy: np.ndarray,
        saved: dict[str, np.ndarray],
        ws: dict[str, np.ndarray],
        need_dx: list[bool],
        need_dparams: set[str],
    ) -> tuple[list[np.ndarray | None], dict[str, np.ndarray]]:
        raise NotImplementedError

    # -- shared validation ------------------------------------------------------------------
    def check_arity(self, node: "Node", in_shapes: list["Shape"], params: dict[str, Any]) -> None:
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

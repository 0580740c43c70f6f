"""The model graph: the single representation every backend reads.

A `Graph` holds named inputs (shapes without the batch dimension), a topologically ordered list of
`Node`s (each produces one tensor named after the node) and named `Param`s. Parameters carry the
attachments techniques add — a sparsity `mask`, a `codebook` + `indices` (weight clustering),
`qparams` (int8 quantization) and `trainable` — so exporters never need a private model copy.
A block-sharing technique also marks its weight with ``meta[BLOCK_SHARED] = [b_in, b_out]``: every
``b_in x b_out`` block of the weight is all-zero or one shared value, which a kernel may exploit.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from .errors import InvalidModelError, UnsupportedOpError

Shape = tuple[int, ...]

#: ``Param.meta`` key of the block-sharing hint ``[b_in, b_out]`` (see the module docstring).
BLOCK_SHARED = "block_shared"


@dataclass
class QParams:
    """Affine quantization parameters: real = scale * (q - zero_point).

    ``axis`` None means one scale for the whole tensor; otherwise scale/zero_point have one entry
    per slice along ``axis`` (per-channel).
    """

    scale: np.ndarray
    zero_point: np.ndarray
    bits: int = 8
    axis: int | None = None

    def __post_init__(self) -> None:
        self.scale = np.asarray(self.scale, dtype=np.float64)
        self.zero_point = np.asarray(self.zero_point, dtype=np.int64)

    @property
    def per_channel(self) -> bool:
        """Whether the parameters are per channel (along ``axis``) rather than per tensor."""
        return self.axis is not None


@dataclass
class Param:
    """A named parameter tensor and its technique attachments."""

    name: str
    value: np.ndarray
    trainable: bool = True
    mask: np.ndarray | None = None
    codebook: np.ndarray | None = None
    indices: np.ndarray | None = None
    qparams: QParams | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # float32 for training; float64 is kept when given (gradient checks need it).
        value = np.asarray(self.value)
        self.value = value if value.dtype == np.float64 else value.astype(np.float32)
        if self.mask is not None:
            self.mask = np.asarray(self.mask, dtype=bool)
            if self.mask.shape != self.value.shape:
                raise InvalidModelError(
                    f"mask of {self.name} has shape {self.mask.shape}, parameter has {self.value.shape}"
                )
        if (self.codebook is None) != (self.indices is None):
            raise InvalidModelError(f"{self.name}: codebook and indices must be attached together")

    @property
    def shape(self) -> Shape:
        """The shape of the parameter's value."""
        return tuple(self.value.shape)

    @property
    def size(self) -> int:
        """The number of elements of the parameter's value."""
        return int(self.value.size)

    @property
    def nnz(self) -> int:
        """Number of stored (unmasked) entries."""
        return int(self.mask.sum()) if self.mask is not None else self.size

    def effective(self, out: np.ndarray | None = None) -> np.ndarray:
        """The tensor the forward pass uses: codebook lookup, then mask.

        `out` (the parameter's shape, the storage's dtype) receives the result when one has to be
        computed; a parameter without mask and codebook returns its value as it is.
        """
        if self.codebook is not None:
            assert self.indices is not None  # attached together (checked on construction)
            w = (
                np.take(self.codebook, self.indices, axis=0)
                if out is None
                else np.take(self.codebook, self.indices, axis=0, out=out)
            )
        else:
            w = self.value
        if self.mask is not None:
            w = np.multiply(w, self.mask, out=out)
        return w

    def attachment(self, name: Literal["mask", "codebook", "indices"]) -> np.ndarray:
        """The attached ``mask``, ``codebook`` or ``indices``, for code that runs only where a technique
        attached it (InvalidModelError when it is missing)."""
        a = getattr(self, name)
        if a is None:
            raise InvalidModelError(f"{self.name}: no {name} attached")
        return a

    def storage(self) -> np.ndarray:
        """The array an optimizer updates in place (the codebook of a clustered parameter)."""
        return self.codebook if self.codebook is not None else self.value

    def grad_to_storage(self, grad: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Map a gradient w.r.t. `effective()` onto `storage()` (a masked one into `out` if given).

        With a codebook, the gradient of an entry is the sum of the gradients of the weights that
        use it (k-means clusters, or the shared weights of block-shared layers).
        """
        if self.codebook is not None:
            assert self.indices is not None  # attached together (checked on construction)
            # Masked-out weights contribute zero; summing only the kept ones gives the same result
            # and is much cheaper for sparse layers.
            idx, g = (self.indices[self.mask], grad[self.mask]) if self.mask is not None else (self.indices, grad)
            return np.bincount(idx.ravel(), weights=g.ravel(), minlength=self.codebook.size).astype(self.codebook.dtype)
        if self.mask is not None:
            grad = np.multiply(grad, self.mask, out=out)
        return grad

    def apply_constraints(self) -> None:
        """Re-impose attachments after an update (pruned weights stay exactly zero)."""
        if self.mask is not None and self.codebook is None:
            self.value *= self.mask
        if self.codebook is not None:
            self.value = self.effective().astype(np.float32)


@dataclass
class Node:
    """One op application. Its output tensor is named after the node."""

    name: str
    op: str
    inputs: list[str]
    params: dict[str, str] = field(default_factory=dict)  # role -> parameter name
    attrs: dict[str, Any] = field(default_factory=dict)


class Graph:
    """A DAG of nodes over named tensors, with its parameters."""

    def __init__(
        self,
        inputs: dict[str, Shape],
        nodes: Iterable[Node] = (),
        params: Iterable[Param] = (),
        outputs: Iterable[str] = (),
        name: str = "model",
        meta: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.inputs: dict[str, Shape] = {k: tuple(int(d) for d in v) for k, v in inputs.items()}
        self.nodes: list[Node] = list(nodes)
        self.params: dict[str, Param] = {}
        for p in params:
            self.add_param(p)
        self.outputs: list[str] = list(outputs)
        self.meta: dict[str, Any] = dict(meta or {})

    # -- construction -----------------------------------------------------------------------
    def add_param(self, param: Param) -> Param:
        """Register ``param`` under its name and return it; InvalidModelError when the name is taken."""
        if param.name in self.params:
            raise InvalidModelError(f"duplicate parameter name {param.name!r}")
        self.params[param.name] = param
        return param

    def add_node(self, node: Node) -> Node:
        """Append ``node`` and return it; the graph is checked by `validate`, not here."""
        self.nodes.append(node)
        return node

    def copy(self) -> Graph:
        """A deep copy: nodes, parameters (values, masks, flags) and meta share nothing with this graph."""
        return copy.deepcopy(self)

    # -- queries ----------------------------------------------------------------------------
    @property
    def input_name(self) -> str:
        """The name of the graph's single input; InvalidModelError when it has none or several."""
        if len(self.inputs) != 1:
            raise InvalidModelError(f"graph has {len(self.inputs)} inputs; this needs exactly one")
        return next(iter(self.inputs))

    @property
    def input_shape(self) -> Shape:
        """The single input's shape, without the batch dimension."""
        return self.inputs[self.input_name]

    @property
    def output_name(self) -> str:
        """The name of the graph's (first) output tensor."""
        return self.outputs[0]

    def node(self, name: str) -> Node:
        """The node called ``name``; InvalidModelError when there is none."""
        for n in self.nodes:
            if n.name == name:
                return n
        raise InvalidModelError(f"no node named {name!r}")

    def node_params(self, node: Node) -> dict[str, Param]:
        """``node``'s parameters by role (e.g. weight, bias)."""
        return {role: self.params[pname] for role, pname in node.params.items()}

    def consumers(self, tensor: str) -> list[Node]:
        """The nodes that read ``tensor``, in graph order."""
        return [n for n in self.nodes if tensor in n.inputs]

    def trainable_params(self) -> list[Param]:
        """The parameters whose ``trainable`` flag is set, in registration order."""
        return [p for p in self.params.values() if p.trainable]

    def num_params(self) -> int:
        """The total number of parameter values (every parameter, trainable or not)."""
        return sum(p.size for p in self.params.values())

    # -- shapes, validation, cost -----------------------------------------------------------
    def shapes(self) -> dict[str, Shape]:
        """Shape (without batch) of every tensor; validates the graph on the way."""
        from .ops import get_op

        shapes: dict[str, Shape] = dict(self.inputs)
        seen_names: set[str] = set(self.inputs)
        for node in self.nodes:
            if node.name in seen_names:
                raise InvalidModelError(f"duplicate tensor name {node.name!r}")
            seen_names.add(node.name)
            op = get_op(node.op)
            for t in node.inputs:
                if t not in shapes:
                    raise InvalidModelError(
                        f"node {node.name!r} reads {t!r}, which no earlier node or input produces",
                        hint="nodes must be listed in topological order and inputs spelled exactly",
                    )
            for role, pname in node.params.items():
                if pname not in self.params:
                    raise InvalidModelError(f"node {node.name!r} uses missing parameter {pname!r} as {role}")
            shapes[node.name] = op.infer_shape(node, [shapes[t] for t in node.inputs], self.node_params(node))
        for out in self.outputs:
            if out not in shapes:
                raise InvalidModelError(f"graph output {out!r} is not produced by any node")
        if not self.outputs:
            raise InvalidModelError("graph has no outputs")
        return shapes

    def validate(self) -> None:
        """Check shapes (see `shapes`) and that every parameter is used by a node; InvalidModelError otherwise."""
        self.shapes()
        used = {p for n in self.nodes for p in n.params.values()}
        unused = sorted(set(self.params) - used)
        if unused:
            raise InvalidModelError(f"parameters not used by any node: {', '.join(unused)}")

    def macs(self) -> dict[str, int]:
        """Multiply-accumulates per node for one sample (dense-equivalent, masks counted)."""
        from .ops import get_op

        shapes = self.shapes()
        return {
            n.name: get_op(n.op).macs(n, [shapes[t] for t in n.inputs], shapes[n.name], self.node_params(n))
            for n in self.nodes
        }

    def __repr__(self) -> str:
        return f"Graph({self.name!r}, {len(self.nodes)} nodes, {self.num_params()} params)"


def check_known_ops(graph: Graph) -> None:
    """Raise one error naming every op kind the registry does not know."""
    from .ops import OPS

    unknown = sorted({n.op for n in graph.nodes if n.op not in OPS})
    if unknown:
        raise UnsupportedOpError(f"unknown op kinds: {', '.join(unknown)}")

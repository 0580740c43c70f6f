"""Model builders: layer specs, a `Sequential` builder and a `GraphBuilder` for DAGs.

    model = Sequential([Dense(32), ReLU(), Dense(10)], input_shape=(64,), seed=0)

    b = GraphBuilder((64,), seed=0)
    h = b.dense(b.input, 32, activation="relu")
    h = b.residual(h, [Dense(32), ReLU(), Dense(32)])
    model = b.build(b.dense(h, 10))
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from .errors import ConfigError, InvalidModelError
from .graph import Graph, Node, Param, Shape
from .ops.activations import LEAKY_RELU_ALPHA, check_alpha

ACTIVATIONS = ("relu", "relu6", "softmax", "leaky_relu", "sigmoid", "tanh", "hard_swish")
# Layer kinds that become one node of the same op kind; `Layer.attrs` become the node's attrs.
SINGLE_NODE = ("relu", "relu6", "softmax", "leaky_relu", "sigmoid", "tanh", "hard_swish", "flatten", "identity")


@dataclass
class Layer:
    """A layer spec; `GraphBuilder.apply` turns it into nodes (`attrs` go to the node)."""

    kind: str
    name: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass
class Dense(Layer):
    units: int = 0
    activation: str | None = None
    use_bias: bool = True
    trainable: bool = True
    kind: str = "dense"

    def __init__(self, units: int, activation: str | None = None, *, use_bias: bool = True,
                 trainable: bool = True, name: str | None = None) -> None:
        if int(units) < 1:
            raise ConfigError(f"dense layer needs units >= 1, got {units}")
        if activation not in (None, *ACTIVATIONS):
            raise ConfigError(f"unknown activation {activation!r}", hint=f"choose one of: {', '.join(ACTIVATIONS)}")
        super().__init__("dense", name)
        self.units, self.activation, self.use_bias, self.trainable = int(units), activation, use_bias, trainable


def ReLU(name: str | None = None) -> Layer:
    return Layer("relu", name)


def ReLU6(name: str | None = None) -> Layer:
    return Layer("relu6", name)


def Softmax(name: str | None = None) -> Layer:
    return Layer("softmax", name)


def LeakyReLU(alpha: float = LEAKY_RELU_ALPHA, name: str | None = None) -> Layer:
    """x for x > 0, alpha * x otherwise; alpha in (0, 1)."""
    try:
        a = check_alpha(alpha, "leaky_relu layer")
    except InvalidModelError as e:
        raise ConfigError(e.message, hint="e.g. LeakyReLU(0.1)") from None
    return Layer("leaky_relu", name, {"alpha": a})


def Sigmoid(name: str | None = None) -> Layer:
    return Layer("sigmoid", name)


def Tanh(name: str | None = None) -> Layer:
    return Layer("tanh", name)


def HardSwish(name: str | None = None) -> Layer:
    """x * relu6(x + 3) / 6."""
    return Layer("hard_swish", name)


def Flatten(name: str | None = None) -> Layer:
    return Layer("flatten", name)


def Identity(name: str | None = None) -> Layer:
    return Layer("identity", name)


@dataclass
class Residual(Layer):
    """y = x + body(x); the body must keep the shape."""

    body: list[Layer] = field(default_factory=list)

    def __init__(self, body: Sequence[Layer], name: str | None = None) -> None:
        super().__init__("residual", name)
        self.body = list(body)


def he_uniform(rng: np.random.Generator, fan_in: int, shape: tuple[int, ...]) -> np.ndarray:
    limit = np.sqrt(6.0 / fan_in)
    return rng.uniform(-limit, limit, size=shape).astype(np.float32)


class GraphBuilder:
    """Builds a Graph node by node; tracks shapes so each layer knows its input width."""

    def __init__(self, input_shape: Shape | int, seed: int = 0, name: str = "model", input_name: str = "input") -> None:
        shape = (int(input_shape),) if isinstance(input_shape, (int, np.integer)) else tuple(int(d) for d in input_shape)
        self.graph = Graph({input_name: shape}, name=name)
        self.input = input_name
        self.rng = np.random.default_rng(seed)
        self._counts: dict[str, int] = {}
        self._shapes: dict[str, Shape] = {input_name: shape}

    def _name(self, kind: str, name: str | None) -> str:
        if name:
            return name
        self._counts[kind] = self._counts.get(kind, 0) + 1
        return f"{kind}{self._counts[kind]}"

    def node(self, op: str, inputs: list[str], params: dict[str, Param] | None = None, name: str | None = None,
             **attrs) -> str:
        from .ops import get_op

        node_name = self._name(op, name)
        for p in (params or {}).values():
            self.graph.add_param(p)
        node = Node(node_name, op, list(inputs), {r: p.name for r, p in (params or {}).items()}, dict(attrs))
        shape = get_op(op).infer_shape(node, [self._shapes[t] for t in inputs], params or {})
        self.graph.add_node(node)
        self._shapes[node_name] = shape
        return node_name

    def shape(self, tensor: str) -> Shape:
        return self._shapes[tensor]

    def dense(self, x: str, units: int, activation: str | None = None, *, use_bias: bool = True,
              trainable: bool = True, name: str | None = None) -> str:
        if len(self._shapes[x]) != 1:
            x = self.node("flatten", [x])
        n_in = self._shapes[x][0]
        name = self._name("dense", name)
        params = {"weight": Param(f"{name}.weight", he_uniform(self.rng, n_in, (n_in, units)), trainable)}
        if use_bias:
            params["bias"] = Param(f"{name}.bias", np.zeros(units, np.float32), trainable)
        y = self.node("dense", [x], params, name=name)
        return self.node(activation, [y]) if activation else y

    def add(self, a: str, b: str, name: str | None = None) -> str:
        return self.node("add", [a, b], name=name)

    def apply(self, x: str, layer: Layer) -> str:
        if isinstance(layer, Dense):
            return self.dense(x, layer.units, layer.activation, use_bias=layer.use_bias,
                              trainable=layer.trainable, name=layer.name)
        if isinstance(layer, Residual):
            return self.residual(x, layer.body, name=layer.name)
        if layer.kind in SINGLE_NODE:
            return self.node(layer.kind, [x], name=layer.name, **layer.attrs)
        raise ConfigError(f"unknown layer type {layer.kind!r}")

    def sequence(self, x: str, layers: Sequence[Layer]) -> str:
        for layer in layers:
            x = self.apply(x, layer)
        return x

    def residual(self, x: str, body: Sequence[Layer], name: str | None = None) -> str:
        y = self.sequence(x, body)
        if self._shapes[y] != self._shapes[x]:
            raise ConfigError(f"residual block changes shape {self._shapes[x]} -> {self._shapes[y]}",
                              hint="the block's last layer must have as many units as its input")
        return self.add(x, y, name=name)

    def build(self, *outputs: str) -> Graph:
        self.graph.outputs = list(outputs)
        self.graph.validate()
        return self.graph


def Sequential(layers: Sequence[Layer], input_shape: Shape | int, *, seed: int = 0, name: str = "model") -> Graph:
    """A chain of layers (residual blocks allowed) as a Graph with one output."""
    b = GraphBuilder(input_shape, seed=seed, name=name)
    return b.build(b.sequence(b.input, layers))


def set_trainable(graph: Graph, spec: str | Sequence[str]) -> list[str]:
    """Choose what trains: ``"all"``, ``"last:K"`` (last K parametrised layers), ``"bias-only"``,
    or a list of layer (node) names. Returns the trainable parameter names."""
    layers = [n for n in graph.nodes if n.params]
    if isinstance(spec, str) and spec == "all":
        chosen = {p for n in layers for p in n.params.values()}
    elif isinstance(spec, str) and spec.startswith("last:"):
        try:
            k = int(spec.split(":", 1)[1])
        except ValueError:
            raise ConfigError(f"bad trainable spec {spec!r}", hint="use last:K with an integer K") from None
        if not 1 <= k <= len(layers):
            raise ConfigError(f"last:{k} but the model has {len(layers)} layers with parameters")
        chosen = {p for n in layers[-k:] for p in n.params.values()}
    elif isinstance(spec, str) and spec == "bias-only":
        chosen = {p for n in layers for r, p in n.params.items() if r == "bias"}
    else:
        names = [spec] if isinstance(spec, str) else list(spec)
        known = {n.name: n for n in layers}
        missing = [s for s in names if s not in known]
        if missing:
            raise ConfigError(f"no layer named {', '.join(missing)}", hint=f"layers: {', '.join(known)}")
        chosen = {p for s in names for p in known[s].params.values()}
    for p in graph.params.values():
        p.trainable = p.name in chosen
    return sorted(chosen)

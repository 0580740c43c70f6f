"""Model builders: layer specs, a `Sequential` builder and a `GraphBuilder` for DAGs.

model = Sequential([Dense(32), ReLU(), Dense(10)], input_shape=(64,), seed=0)
cnn = Sequential([Conv2D(8, 3, activation="relu"), MaxPool2D(2), GlobalAvgPool(), Dense(10)],
                 input_shape=(8, 8, 1))   # samples are (H, W, C): channels last

b = GraphBuilder((64,), seed=0)
h = b.dense(b.input, 32, activation="relu")
h = b.residual(h, [Dense(32), ReLU(), Dense(32)])
model = b.build(b.dense(h, 10))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from . import limits
from .errors import ConfigError, InvalidModelError
from .graph import Graph, Node, Param, Shape
from .ops.activations import LEAKY_RELU_ALPHA, check_alpha
from .ops.conv import geometry

ACTIVATIONS = ("relu", "relu6", "softmax", "leaky_relu", "sigmoid", "tanh", "hard_swish")
# Layer kinds that become one node of the same op kind; `Layer.attrs` become the node's attrs.
SINGLE_NODE = (
    "relu",
    "relu6",
    "softmax",
    "leaky_relu",
    "sigmoid",
    "tanh",
    "hard_swish",
    "flatten",
    "identity",
    "max_pool",
    "avg_pool",
    "global_avg_pool",
    "reshape",
)


@dataclass
class Layer:
    """A layer spec; `GraphBuilder.apply` turns it into nodes (`attrs` go to the node)."""

    kind: str
    name: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass
class Dense(Layer):
    """A fully connected layer over flat samples; after a shaped (H, W, C) / (L, C) tensor the
    builder adds a flatten node first (row-major, channels fastest), which the graph shows."""

    units: int = 0
    activation: str | None = None
    use_bias: bool = True
    trainable: bool = True
    kind: str = "dense"

    def __init__(
        self,
        units: int,
        activation: str | None = None,
        *,
        use_bias: bool = True,
        trainable: bool = True,
        name: str | None = None,
    ) -> None:
        if int(units) < 1:
            raise ConfigError(f"dense layer needs units >= 1, got {units}")
        if activation not in (None, *ACTIVATIONS):
            raise ConfigError(f"unknown activation {activation!r}", hint=f"choose one of: {', '.join(ACTIVATIONS)}")
        super().__init__("dense", name)
        self.units, self.activation, self.use_bias, self.trainable = int(units), activation, use_bias, trainable


def ReLU(name: str | None = None) -> Layer:
    """A ReLU activation layer."""
    return Layer("relu", name)


def ReLU6(name: str | None = None) -> Layer:
    """A ReLU6 (clamp to [0, 6]) activation layer."""
    return Layer("relu6", name)


def Softmax(name: str | None = None) -> Layer:
    """A softmax layer (over the last axis)."""
    return Layer("softmax", name)


def LeakyReLU(alpha: float = LEAKY_RELU_ALPHA, name: str | None = None) -> Layer:
    """x for x > 0, alpha * x otherwise; alpha in (0, 1)."""
    try:
        a = check_alpha(alpha, "leaky_relu layer")
    except InvalidModelError as e:
        raise ConfigError(e.message, hint="e.g. LeakyReLU(0.1)") from None
    return Layer("leaky_relu", name, {"alpha": a})


def Sigmoid(name: str | None = None) -> Layer:
    """A sigmoid activation layer."""
    return Layer("sigmoid", name)


def Tanh(name: str | None = None) -> Layer:
    """A tanh activation layer."""
    return Layer("tanh", name)


def HardSwish(name: str | None = None) -> Layer:
    """x * relu6(x + 3) / 6."""
    return Layer("hard_swish", name)


def Flatten(name: str | None = None) -> Layer:
    """A flatten layer: each sample becomes one vector."""
    return Layer("flatten", name)


def Identity(name: str | None = None) -> Layer:
    """An identity layer (passes its input through)."""
    return Layer("identity", name)


def _check_activation(activation: str | None) -> None:
    if activation not in (None, *ACTIVATIONS):
        raise ConfigError(f"unknown activation {activation!r}", hint=f"choose one of: {', '.join(ACTIVATIONS)}")


def _positive_ints(value: Any, rank: int, what: str, layer: str) -> int | list[int]:
    """An int or ``rank`` ints, each >= 1, as the node attribute (an int, or a list)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        items = [int(value)]
    elif (
        isinstance(value, (tuple, list))
        and len(value) == rank
        and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)
    ):
        items = [int(v) for v in value]
    else:
        raise ConfigError(
            f"{layer}: {what} must be an integer or {rank} integers, got {value!r}",
            hint=f"e.g. {what} = 3" + (f" or {what} = [3, 3] (one per spatial axis)" if rank > 1 else ""),
        )
    if min(items) < 1:
        raise ConfigError(f"{layer}: {what} must be >= 1, got {value!r}", hint=f"e.g. {what} = 1")
    return items[0] if len(items) == 1 else items


def _padding(padding: Any, rank: int, layer: str, explicit: bool = True) -> Any:
    """A padding attribute: "same", "valid" or (``explicit``) amounts per spatial axis, as lists."""
    if padding in ("same", "valid"):
        return padding
    if explicit and isinstance(padding, (list, tuple)):
        pairs = [padding] if rank == 1 and len(padding) == 2 and isinstance(padding[0], (int, np.integer)) else padding
        try:
            out = [[int(a), int(b)] for a, b in pairs]
        except (TypeError, ValueError):
            out = []
        if len(out) == rank:
            if min(min(p) for p in out) < 0:
                raise ConfigError(
                    f"{layer}: padding must not be negative, got {padding!r}",
                    hint='pad with 0 or more zeros per side, or use padding = "same" / "valid"',
                )
            return out[0] if rank == 1 else out
    amounts = "" if not explicit else " or " + ("[left, right]" if rank == 1 else "[[top, bottom], [left, right]]")
    raise ConfigError(
        f"{layer}: padding must be 'same', 'valid'{amounts}, got {padding!r}",
        hint="'same' keeps the size (at stride 1), 'valid' adds no padding",
    )


@dataclass
class Conv(Layer):
    """A convolution spec (conv2d / conv1d / depthwise). Weight layout (kh, kw, C_in/groups, C_out)
    for 2-D and (k, C_in/groups, C_out) for 1-D; activations are channels last (see ops/conv.py)."""

    filters: int = 0  # output channels; for a depthwise layer, the depth multiplier
    kernel: int | list[int] = 1
    stride: int | list[int] = 1
    padding: Any = "same"
    dilation: int | list[int] = 1
    groups: int | str = 1  # "depthwise": one group per input channel
    activation: str | None = None
    use_bias: bool = True
    trainable: bool = True

    def __init__(
        self,
        kind: str,
        filters: int,
        kernel: Any,
        stride: Any = 1,
        padding: Any = "same",
        dilation: Any = 1,
        groups: int | str = 1,
        activation: str | None = None,
        *,
        use_bias: bool = True,
        trainable: bool = True,
        name: str | None = None,
    ) -> None:
        rank = 1 if kind == "conv1d" else 2
        layer = f"{kind} layer" + (f" {name!r}" if name else "")
        super().__init__(kind, name)
        if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)) or filters < 1:
            raise ConfigError(
                f"{layer}: needs {'a depth multiplier' if groups == 'depthwise' else 'filters'} >= 1, got {filters!r}"
            )
        if groups != "depthwise" and (
            isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1
        ):
            raise ConfigError(
                f"{layer}: groups must be an integer >= 1, got {groups!r}",
                hint="groups must divide the input and output channels; 1 is a plain convolution",
            )
        _check_activation(activation)
        self.filters = int(filters)
        self.kernel = _positive_ints(kernel, rank, "kernel", layer)
        self.stride = _positive_ints(stride, rank, "stride", layer)
        self.dilation = _positive_ints(dilation, rank, "dilation", layer)
        self.padding = _padding(padding, rank, layer)
        self.groups = groups if groups == "depthwise" else int(groups)
        self.activation, self.use_bias, self.trainable = activation, use_bias, trainable


def Conv2D(
    filters: int,
    kernel: int | Sequence[int],
    stride: int | Sequence[int] = 1,
    padding: Any = "same",
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
    activation: str | None = None,
    *,
    use_bias: bool = True,
    trainable: bool = True,
    name: str | None = None,
) -> Conv:
    """2-D convolution over (H, W, C) samples: ``filters`` output channels, a ``kernel`` of
    (kh, kw) (an int for a square one); padding "same", "valid" or ``[[top, bottom], [left,
    right]]``; ``groups`` must divide the input and output channels."""
    return Conv(
        "conv2d",
        filters,
        kernel,
        stride,
        padding,
        dilation,
        groups,
        activation,
        use_bias=use_bias,
        trainable=trainable,
        name=name,
    )


def Conv1D(
    filters: int,
    kernel: int,
    stride: int = 1,
    padding: Any = "same",
    dilation: int = 1,
    groups: int = 1,
    activation: str | None = None,
    *,
    use_bias: bool = True,
    trainable: bool = True,
    name: str | None = None,
) -> Conv:
    """1-D convolution over (L, C) samples; padding "same", "valid" or ``[left, right]``."""
    return Conv(
        "conv1d",
        filters,
        kernel,
        stride,
        padding,
        dilation,
        groups,
        activation,
        use_bias=use_bias,
        trainable=trainable,
        name=name,
    )


def DepthwiseConv2D(
    kernel: int | Sequence[int],
    depth_multiplier: int = 1,
    stride: int | Sequence[int] = 1,
    padding: Any = "same",
    dilation: int | Sequence[int] = 1,
    activation: str | None = None,
    *,
    use_bias: bool = True,
    trainable: bool = True,
    name: str | None = None,
) -> Conv:
    """A depthwise 2-D convolution: a conv2d node with one group per input channel and
    ``C_in * depth_multiplier`` output channels (output ``c * depth_multiplier + m`` reads
    input channel ``c``)."""
    return Conv(
        "conv2d",
        depth_multiplier,
        kernel,
        stride,
        padding,
        dilation,
        "depthwise",
        activation,
        use_bias=use_bias,
        trainable=trainable,
        name=name,
    )


def _pool(kind: str, rank: int, pool: Any, stride: Any, padding: str, name: str | None) -> Layer:
    layer = f"{kind} layer" + (f" {name!r}" if name else "")
    attrs: dict[str, Any] = {
        "pool": _positive_ints(pool, rank, "pool", layer),
        "padding": _padding(padding, rank, layer, explicit=False),
    }
    if stride is not None:
        attrs["stride"] = _positive_ints(stride, rank, "stride", layer)
    return Layer(kind, name, attrs)


def pool_layer(kind: str, pool: Any = 2, stride: Any = None, padding: str = "valid", name: str | None = None) -> Layer:
    """A ``max_pool`` or ``avg_pool`` layer whose rank comes from its sizes: a list gives one size
    per spatial axis, an int fits any rank (the input it meets decides, as for the 1-D and 2-D
    builders below)."""
    sizes = [v for v in (pool, stride) if isinstance(v, (list, tuple))]
    rank = len(sizes[0]) if sizes else 1
    return _pool(kind, rank, pool, stride, padding, name)


def MaxPool2D(
    pool: int | Sequence[int] = 2,
    stride: int | Sequence[int] | None = None,
    padding: str = "valid",
    name: str | None = None,
) -> Layer:
    """The maximum of each (ph, pw) window of (H, W, C) samples; ``stride`` defaults to the pool."""
    return _pool("max_pool", 2, pool, stride, padding, name)


def AvgPool2D(
    pool: int | Sequence[int] = 2,
    stride: int | Sequence[int] | None = None,
    padding: str = "valid",
    name: str | None = None,
) -> Layer:
    """The mean of each window of (H, W, C) samples; padding is not counted."""
    return _pool("avg_pool", 2, pool, stride, padding, name)


def MaxPool1D(pool: int = 2, stride: int | None = None, padding: str = "valid", name: str | None = None) -> Layer:
    """The maximum of each window of (L, C) samples."""
    return _pool("max_pool", 1, pool, stride, padding, name)


def AvgPool1D(pool: int = 2, stride: int | None = None, padding: str = "valid", name: str | None = None) -> Layer:
    """The mean of each window of (L, C) samples; padding is not counted."""
    return _pool("avg_pool", 1, pool, stride, padding, name)


def GlobalAvgPool(name: str | None = None) -> Layer:
    """The mean over every position: (H, W, C) or (L, C) samples become (C,)."""
    return Layer("global_avg_pool", name)


@dataclass
class BatchNorm(Layer):
    """Batch normalisation over the channel (last) axis; see `ops.pool.BatchNormOp`."""

    momentum: float = 0.9
    eps: float = 1e-5
    trainable: bool = True

    def __init__(
        self, momentum: float = 0.9, eps: float = 1e-5, *, trainable: bool = True, name: str | None = None
    ) -> None:
        super().__init__("batch_norm", name)
        layer = "batch_norm layer" + (f" {name!r}" if name else "")
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0 <= momentum < 1:
            raise ConfigError(f"{layer}: momentum must be in [0, 1), got {momentum!r}")
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 < eps < float("inf"):
            raise ConfigError(f"{layer}: eps must be a positive number, got {eps!r}")
        self.momentum, self.eps, self.trainable = float(momentum), float(eps), trainable


def Reshape(shape: Sequence[int], name: str | None = None) -> Layer:
    """Each sample reshaped to ``shape`` (without the batch axis; one entry may be -1)."""
    layer = "reshape layer" + (f" {name!r}" if name else "")
    dims = list(shape) if isinstance(shape, (list, tuple)) else None
    if (
        not dims
        or any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or not (d >= 1 or d == -1) for d in dims)
        or dims.count(-1) > 1
    ):
        raise ConfigError(
            f"{layer}: shape must be a list of positive sizes (one may be -1), got {shape!r}",
            hint="e.g. Reshape((8, 8, 1)) for 64 features read as an 8x8 one-channel image",
        )
    return Layer("reshape", name, {"shape": [int(d) for d in dims]})


@dataclass
class Residual(Layer):
    """y = x + body(x); the body must keep the shape."""

    body: list[Layer] = field(default_factory=list)

    def __init__(self, body: Sequence[Layer], name: str | None = None) -> None:
        super().__init__("residual", name)
        self.body = list(body)


def he_uniform(rng: np.random.Generator, fan_in: int, shape: tuple[int, ...]) -> np.ndarray:
    """He-uniform initial weights of ``shape`` for ``fan_in`` inputs, float32."""
    limit = np.sqrt(6.0 / fan_in)
    return rng.uniform(-limit, limit, size=shape).astype(np.float32)


class GraphBuilder:
    """Builds a Graph node by node; tracks shapes so each layer knows its input width."""

    def __init__(self, input_shape: Shape | int, seed: int = 0, name: str = "model", input_name: str = "input") -> None:
        shape = input_shape_of(input_shape)
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

    def node(
        self, op: str, inputs: list[str], params: dict[str, Param] | None = None, name: str | None = None, **attrs
    ) -> str:
        """Add a node of ``op`` on ``inputs`` with ``params`` and ``attrs``, infer its output shape
        and return its name (``name``, or a fresh one from the op); the op's shape inference raises
        on bad inputs."""
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
        """The inferred shape of ``tensor`` (without the batch axis)."""
        return self._shapes[tensor]

    def dense(
        self,
        x: str,
        units: int,
        activation: str | None = None,
        *,
        use_bias: bool = True,
        trainable: bool = True,
        name: str | None = None,
    ) -> str:
        """Add a dense layer of ``units`` on ``x`` (flattened first when not 1-D), He-initialised
        with zero bias, followed by ``activation`` when given; returns the output tensor."""
        if len(self._shapes[x]) != 1:
            x = self.node("flatten", [x])
        n_in = self._shapes[x][0]
        name = self._name("dense", name)
        params = {"weight": Param(f"{name}.weight", he_uniform(self.rng, n_in, (n_in, units)), trainable)}
        if use_bias:
            params["bias"] = Param(f"{name}.bias", np.zeros(units, np.float32), trainable)
        y = self.node("dense", [x], params, name=name)
        return self.node(activation, [y]) if activation else y

    def conv(self, x: str, layer: Conv) -> str:
        """A conv2d / conv1d node (and its activation) for a `Conv` spec."""
        shape = self._shapes[x]
        rank = 1 if layer.kind == "conv1d" else 2
        name = self._name(layer.kind, layer.name)
        if len(shape) != rank + 1:
            want = "(H, W, C)" if rank == 2 else "(L, C)"
            raise ConfigError(
                f"{layer.kind} layer {name!r} needs samples of shape {want}, got {shape}",
                hint="give the model input_shape=(H, W, C) / (L, C), or add a Reshape layer",
            )
        cin = shape[-1]
        groups: int = cin if layer.groups == "depthwise" else cast(int, layer.groups)  # an int >= 1 (Conv checks)
        cout = cin * layer.filters if layer.groups == "depthwise" else layer.filters
        kernel = [layer.kernel] * rank if isinstance(layer.kernel, int) else list(layer.kernel)
        if cin % groups:
            raise ConfigError(
                f"{layer.kind} layer {name!r}: groups={groups} does not divide the {cin} input channels",
                hint=f"choose groups among the divisors of {cin} (groups = {cin} is depthwise)",
            )
        cig = cin // groups
        # The window must fit and the weight stay within the limit before anything is allocated.
        geometry(
            shape[:-1],
            kernel,
            {"stride": layer.stride, "dilation": layer.dilation, "padding": layer.padding},
            f"{layer.kind} {name!r}",
        )
        size, cap = int(np.prod(kernel)) * cig * cout, limits.limit("MAX_PARAMETERS")
        if size > cap:
            raise ConfigError(
                f"{layer.kind} layer {name!r}: a weight of {size} values is over the limit MAX_PARAMETERS={cap}",
                hint=limits.over_limit_hint("MAX_PARAMETERS"),
            )
        w = he_uniform(self.rng, cig * int(np.prod(kernel)), (*kernel, cig, cout))
        params = {"weight": Param(f"{name}.weight", w, layer.trainable)}
        if layer.use_bias:
            params["bias"] = Param(f"{name}.bias", np.zeros(cout, np.float32), layer.trainable)
        attrs: dict[str, Any] = {"stride": layer.stride, "padding": layer.padding, "dilation": layer.dilation}
        if groups != 1:
            attrs["groups"] = groups
        y = self.node(layer.kind, [x], params, name=name, **attrs)
        return self.node(layer.activation, [y]) if layer.activation else y

    def batch_norm(self, x: str, layer: BatchNorm) -> str:
        """A batch_norm node: scale 1, bias 0, running mean 0 and variance 1 (never trained)."""
        c = self._shapes[x][-1]
        name = self._name("batch_norm", layer.name)
        params = {
            "scale": Param(f"{name}.scale", np.ones(c, np.float32), layer.trainable),
            "bias": Param(f"{name}.bias", np.zeros(c, np.float32), layer.trainable),
            "mean": Param(f"{name}.mean", np.zeros(c, np.float32), False),
            "var": Param(f"{name}.var", np.ones(c, np.float32), False),
        }
        return self.node("batch_norm", [x], params, name=name, momentum=layer.momentum, eps=layer.eps)

    def add(self, a: str, b: str, name: str | None = None) -> str:
        """Add the element-wise sum of ``a`` and ``b``; returns its tensor."""
        return self.node("add", [a, b], name=name)

    def apply(self, x: str, layer: Layer) -> str:
        """Add ``layer`` on ``x`` and return its output tensor; ConfigError for an unknown layer
        kind."""
        if isinstance(layer, Dense):
            return self.dense(
                x, layer.units, layer.activation, use_bias=layer.use_bias, trainable=layer.trainable, name=layer.name
            )
        if isinstance(layer, Residual):
            return self.residual(x, layer.body, name=layer.name)
        if isinstance(layer, Conv):
            return self.conv(x, layer)
        if isinstance(layer, BatchNorm):
            return self.batch_norm(x, layer)
        if layer.kind in SINGLE_NODE:
            return self.node(layer.kind, [x], name=layer.name, **layer.attrs)
        raise ConfigError(f"unknown layer type {layer.kind!r}")

    def sequence(self, x: str, layers: Sequence[Layer]) -> str:
        """Apply ``layers`` in order from ``x``; returns the last output tensor."""
        for layer in layers:
            x = self.apply(x, layer)
        return x

    def residual(self, x: str, body: Sequence[Layer], name: str | None = None) -> str:
        """Add ``body`` on ``x`` and the skip connection ``x + body(x)``; ConfigError when the body
        changes the shape."""
        y = self.sequence(x, body)
        if self._shapes[y] != self._shapes[x]:
            raise ConfigError(
                f"residual block changes shape {self._shapes[x]} -> {self._shapes[y]}",
                hint="the block's last layer must have as many units as its input",
            )
        return self.add(x, y, name=name)

    def build(self, *outputs: str) -> Graph:
        """Mark ``outputs`` as the graph's outputs, validate it and return it."""
        self.graph.outputs = list(outputs)
        self.graph.validate()
        return self.graph


def input_shape_of(input_shape: Shape | int | Sequence[int]) -> Shape:
    """A sample shape from an int (a flat width) or a sequence of positive sizes ((H, W, C), (L, C))."""
    dims = [input_shape] if isinstance(input_shape, (int, np.integer)) else input_shape
    try:
        shape = tuple(int(d) for d in dims if not isinstance(d, bool) and int(d) == d)
        ok = len(shape) == len(dims) and len(shape) > 0 and min(shape) >= 1
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ConfigError(
            f"input_shape must be a positive width or a tuple of positive sizes, got {input_shape!r}",
            hint="e.g. input_shape=64 for flat features or (8, 8, 1) for 8x8 one-channel images",
        )
    return shape


def Sequential(layers: Sequence[Layer], input_shape: Shape | int, *, seed: int = 0, name: str = "model") -> Graph:
    """A chain of layers (residual blocks allowed) as a Graph with one output. ``input_shape`` is
    the shape of one sample: an int for flat features, (H, W, C) or (L, C) for conv layers."""
    b = GraphBuilder(input_shape, seed=seed, name=name)
    return b.build(b.sequence(b.input, layers))


def set_trainable(graph: Graph, spec: str | Sequence[str]) -> list[str]:
    """Choose what trains: ``"all"``, ``"last:K"`` (last K parametrised layers), ``"bias-only"``,
    or a list of layer (node) names. Returns the trainable parameter names. State (batch_norm's
    running statistics, `Op.state_roles`) never trains."""
    from .ops import get_op

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
    state = {p for n in layers for r, p in n.params.items() if r in getattr(get_op(n.op), "state_roles", ())}
    chosen -= state
    for p in graph.params.values():
        p.trainable = p.name in chosen
    return sorted(chosen)

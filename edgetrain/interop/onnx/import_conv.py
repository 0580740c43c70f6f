"""ONNX import of convolutional models: NCHW ONNX tensors become edgetrain's channels-last ones.

Layout contract. ONNX image tensors are channels-first, ``(N, C, H, W)`` (2-D) or ``(N, C, L)``
(1-D); edgetrain's conv ops are channels-last, ``(N, H, W, C)`` / ``(N, L, C)``. The importer does
not insert transposes: it keeps, for every ONNX data tensor, a `Layout` that says how its values sit
in the edgetrain tensor holding them, and converts weights instead:

- **The input.** A model with a spatial op (`import_checks.SPATIAL_OPS`) whose input is ``(N, C,
  H, W)`` or ``(N, C, L)`` imports with a channels-last input ``(H, W, C)`` / ``(L, C)``: the user
  feeds NHWC / NLC data (``x.transpose(0, 2, 3, 1)`` of what the ONNX model takes). A model whose
  input is already NHWC and transposes it to NCHW first (tf2onnx writes this) imports with that
  NHWC input as it is; the Transpose is folded away. Models without spatial ops keep the input
  shape they declare (an MLP on a (N, 1, 8, 8) image flattens it in ONNX order).
- **Weights.** ONNX Conv weights ``(C_out, C_in/group, kh, kw)`` become ``(kh, kw, C_in/group,
  C_out)`` (1-D: ``(k, C_in/group, C_out)``); ONNX and edgetrain group channels the same way
  (contiguous blocks), so depthwise convolutions need nothing more.
- **Flatten.** ONNX flattens ``(C, H, W)`` in C, H, W order, edgetrain flattens ``(H, W, C)`` in H,
  W, C order. The flat tensor records the permutation (`Layout.order`) and the dense layer that
  reads it gets its weight rows permuted, so the imported model computes the same function. A
  flattened feature map that reaches a graph output in a different order is refused.
- **Outputs.** A convolutional graph output is channels-last, like the input; a
  ``GlobalAveragePool`` output (N, C, 1, 1) is (N, C).

``Pad`` (zeros, spatial axes only) is not a node: it is folded into the padding of the Conv that
reads it, within edgetrain's limit of ``(kernel - 1) * dilation`` per side. ``Transpose`` is only
imported at the layout boundary (NHWC -> NCHW on a channels-last tensor, or back) or on a constant
(a weight stored in another layout, as edgetrain's own export keeps conv weights); any other
transpose of data is refused. ``ReduceMean`` over every spatial axis is a global average pool.
Pools map to edgetrain's ``max_pool`` / ``avg_pool``, whose padding is ``"valid"`` or ``"same"``
and never counts in an average: explicit ONNX pads are imported when they equal one of the two,
and ``count_include_pad=1`` only without padding.

Contract: the `import_checks` structural checks have run; every refusal here is an
`edgetrain.errors` error with a one-line message naming the node, and a hint.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx

from ... import limits
from ...errors import InvalidModelError, UnsupportedOpError
from ...graph import Param
from ...ops.conv import geometry, resolve_padding
from .import_checks import PAD_HINT, SPATIAL_OPS, show

#: How a channels-first input becomes channels-last, per ONNX rank (with the batch axis).
TO_CHANNELS_LAST = {3: (0, 2, 1), 4: (0, 2, 3, 1)}
TO_CHANNELS_FIRST = {3: (0, 2, 1), 4: (0, 3, 1, 2)}
LAYOUT_HINT = (
    "edgetrain imports convolutional models on (N, C, H, W) or (N, C, L) tensors with the batch axis "
    "dynamic or fixed; a Transpose is imported only where an NHWC input becomes NCHW (or back)"
)
POOL_PAD_HINT = (
    "edgetrain pools pad like TensorFlow's 'same' (the extra row or column at the end) or not at all; "
    "export the pool with padding=0 or with pads matching 'same'"
)


@dataclass(frozen=True)
class Layout:
    """How the values of one ONNX data tensor sit in the edgetrain tensor that holds them.

    ``onnx`` is the ONNX shape after the batch axis. With ``channels_last`` the edgetrain tensor is
    ``(*S, C)`` for the ONNX ``(C, *S)``. Otherwise the edgetrain tensor holds the ONNX tensor's
    row-major values, in the same order when ``order`` is None, else flat: ONNX flat index ``j`` is
    edgetrain index ``order[j]`` (a flattened feature map)."""

    onnx: tuple[int, ...]
    channels_last: bool = False
    order: np.ndarray | None = None

    def same_as(self, other: Layout) -> bool:
        """Whether ``other`` places the values identically: same ONNX shape, same layout and same flat order."""
        if self.onnx != other.onnx or self.channels_last != other.channels_last:
            return False
        if self.order is None or other.order is None:
            return self.order is None and other.order is None
        return bool(np.array_equal(self.order, other.order))


def channels_last(et_shape: tuple[int, ...]) -> Layout:
    """The layout of an edgetrain tensor (*S, C) holding the ONNX tensor (C, *S)."""
    return Layout((et_shape[-1], *et_shape[:-1]), channels_last=True)


def flatten_order(et_shape: tuple[int, ...]) -> np.ndarray | None:
    """``order`` of the flattened channels-last tensor ``et_shape`` = (*S, C): where ONNX's C, *S
    flat index j sits in edgetrain's *S, C flattening; None when both orders agree (C = 1 or S all 1)."""
    if et_shape[-1] == 1 or math.prod(et_shape[:-1]) == 1:
        return None
    rank = len(et_shape)
    return np.arange(math.prod(et_shape)).reshape(et_shape).transpose(rank - 1, *range(rank - 1)).ravel()


def permute_rows(weight: np.ndarray, order: np.ndarray | None) -> np.ndarray:
    """Dense weight rows in edgetrain's input order: ``x_onnx @ W == x_et @ permute_rows(W)`` when
    ``x_onnx[j] == x_et[order[j]]``."""
    if order is None:
        return weight
    out = np.empty_like(weight)
    out[order] = weight
    return out


def _ints(a: dict[str, Any], name: str, rank: int, default: int) -> list[int]:
    return [int(v) for v in a[name]] if name in a else [default] * rank


class SpatialOps:
    """The converter's methods for Conv, pools, Pad and Transpose (mixed into `importer._Converter`).

    They use the converter's ``env`` / ``shapes`` / ``consts`` and its helpers ``_layout``,
    ``_tensor``, ``_const``, ``_add``, ``_unique``, ``_node_name``; ``pads`` holds the Pad nodes
    waiting for their Conv: ONNX output -> (ONNX input, spatial (begin, end) pairs, label)."""

    model: onnx.ModelProto
    opset: int
    env: dict[str, str]
    consts: dict[str, np.ndarray]
    shapes: dict[str, tuple[int, ...]]
    layouts: dict[str, Layout]
    pads: dict[str, tuple[str, list[tuple[int, int]], str]]

    if TYPE_CHECKING:  # the converter's helpers (importer._Converter), declared for the type checker

        def _unique(self, raw: str) -> str: ...
        def _node_name(self, node: onnx.NodeProto) -> str: ...
        def _layout(self, t: str) -> Layout: ...
        def _tensor(self, node: onnx.NodeProto, i: int) -> str: ...
        def _data(self, node: onnx.NodeProto, t: str) -> str: ...
        def _const(self, node: onnx.NodeProto, i: int, what: str) -> np.ndarray: ...
        def _int_const(self, node: onnx.NodeProto, i: int, what: str) -> np.ndarray: ...
        def _fold(self, node: onnx.NodeProto) -> None: ...
        def _add(
            self,
            onnx_node: onnx.NodeProto,
            op: str,
            inputs: list[str],
            params: dict[str, Param] | None = None,
            name: str | None = None,
            attrs: dict[str, Any] | None = None,
        ) -> str: ...
        def _bias(self, c: np.ndarray, n_out: int, label: str) -> np.ndarray: ...
        @staticmethod
        def _finite_param(value: np.ndarray, what: str, label: str) -> np.ndarray: ...

    # -- the input -------------------------------------------------------------------------------
    def input_layout(self, name: str, dims: tuple[int, ...]) -> tuple[tuple[int, ...], Layout | None]:
        """The edgetrain input shape for the ONNX input ``name`` of feature dims ``dims``, and its
        layout when that is not the ONNX shape itself (see the module docstring)."""
        g = self.model.graph
        spatial = any(n.op_type in SPATIAL_OPS for n in g.node)
        if not spatial or len(dims) not in (2, 3):
            return dims, None
        rank = len(dims) + 1
        if any(
            n.op_type == "Transpose" and n.input and n.input[0] == name and tuple(_perm(n)) == TO_CHANNELS_FIRST[rank]
            for n in g.node
        ):
            return dims, None  # NHWC already: the Transpose to NCHW is folded (`_op_Transpose`)
        et = (*dims[1:], dims[0])
        return et, channels_last(et)

    # -- helpers ----------------------------------------------------------------------------------
    def _spatial_input(self, node: onnx.NodeProto, t: str) -> tuple[str, Layout]:
        """The edgetrain tensor and layout of a channels-first data input of a spatial op."""
        x = self._data(node, t)
        lay = self._layout(t)
        if not lay.channels_last:
            raise UnsupportedOpError(
                f"{node.op_type} node {show(node.name or node.output[0])} reads a tensor of "
                f"shape (batch, {', '.join(map(str, lay.onnx))}) that is not channels-first "
                "(batch, C, H, W) / (batch, C, L) data",
                hint=LAYOUT_HINT,
            )
        return x, lay

    def _window(
        self, node: onnx.NodeProto, lay: Layout, kernel: list[int], label: str
    ) -> tuple[list[int], list[int], Any]:
        """(strides, dilations, padding) of a Conv / pool: padding as edgetrain spells it ("same",
        "valid" or explicit (begin, end) pairs per spatial axis)."""
        a = _attrs(node)
        rank = len(lay.onnx) - 1
        if len(kernel) != rank:
            raise InvalidModelError(
                f"{node.op_type} node {label} has a {len(kernel)}-D kernel for a {rank}-D input of "
                f"shape (batch, {', '.join(map(str, lay.onnx))})",
                hint=LAYOUT_HINT,
            )
        strides, dilations = _ints(a, "strides", rank, 1), _ints(a, "dilations", rank, 1)
        for name, v in (("strides", strides), ("dilations", dilations), ("pads", a.get("pads", [0] * 2 * rank))):
            if len(v) != (2 * rank if name == "pads" else rank):
                raise InvalidModelError(
                    f"{node.op_type} node {label}: {name} {list(v)} does not fit a {rank}-D input", hint=LAYOUT_HINT
                )
        auto = a.get("auto_pad", b"NOTSET")
        if auto == b"SAME_UPPER":
            return strides, dilations, "same"
        if auto == b"VALID":
            return strides, dilations, "valid"
        p = _ints(a, "pads", 2 * rank, 0)
        return strides, dilations, [(p[i], p[i + rank]) for i in range(rank)]

    # -- Conv --------------------------------------------------------------------------------------
    def _op_Conv(self, node: onnx.NodeProto) -> None:
        label = show(node.name or node.output[0])
        src, extra, pad_label = node.input[0], None, ""
        if src in self.pads:  # a Pad before the Conv: folded into its padding
            src, extra, pad_label = self.pads[src]
        x, lay = self._spatial_input(node, src)
        w = self._const(node, 1, "weight")
        rank = len(lay.onnx) - 1
        if w.ndim != rank + 2:
            raise InvalidModelError(
                f"Conv node {label}: weight {show(node.input[1])} has shape {tuple(w.shape)}, "
                f"which does not fit a {rank}-D input of shape (batch, "
                f"{', '.join(map(str, lay.onnx))})",
                hint=LAYOUT_HINT,
            )
        group = int(_attrs(node).get("group", 1))
        c_out, cig, kernel = w.shape[0], w.shape[1], list(w.shape[2:])
        if cig * group != lay.onnx[0]:
            raise InvalidModelError(
                f"Conv node {label}: its input has {lay.onnx[0]} channels but weight "
                f"{show(node.input[1])} of shape {tuple(w.shape)} with group={group} expects "
                f"{cig * group}",
                hint="the file is corrupt or was written by a broken exporter; re-export the model",
            )
        strides, dilations, padding = self._window(node, lay, kernel, label)
        if extra is not None:
            if padding == "same":  # ONNX resolves SAME_UPPER on the Pad's output: the sizes with its padding
                sizes = [n + a + b for n, (a, b) in zip(lay.onnx[1:], extra)]
                padding = list(resolve_padding("same", sizes, kernel, strides, dilations, label))
            padding = [(0, 0)] * rank if padding == "valid" else padding
            padding = [(a + c, b + d) for (a, b), (c, d) in zip(padding, extra)]
        if not isinstance(padding, str):
            limit = [(k - 1) * d for k, d in zip(kernel, dilations)]
            padding = [tuple(p) for p in padding]
            if any(max(p) > m for p, m in zip(padding, limit)):
                what = f"with Pad node {pad_label} " if extra is not None else ""
                raise UnsupportedOpError(
                    f"Conv node {label} {what}pads {[list(p) for p in padding]} (begin, end per "
                    f"axis); edgetrain pads each side by at most (kernel - 1) * dilation = "
                    f"{limit}",
                    hint="pad less: edgetrain refuses windows that could read only "
                    "padding (they compute nothing from the input)",
                )
            if all(p == (0, 0) for p in padding):
                padding = "valid"
            else:
                padding = [list(p) for p in padding] if rank == 2 else list(padding[0])
        # ONNX (C_out, C_in/group, *k) -> edgetrain (*k, C_in/group, C_out).
        weight = np.ascontiguousarray(np.moveaxis(w, (0, 1), (-1, -2)), np.float32)
        layer = node.input[1][: -len(".weight")] if node.input[1].endswith(".weight") else ""
        name = self._unique(layer) if _simple(layer) else self._node_name(node)
        params = {"weight": Param(f"{name}.weight", self._finite_param(weight, f"weight {show(node.input[1])}", label))}
        if len(node.input) > 2 and node.input[2]:
            b = self._const(node, 2, "bias")
            params["bias"] = Param(f"{name}.bias", self._bias(b, c_out, node.name or node.output[0]))
        attrs = {
            "stride": strides if rank == 2 else strides[0],
            "dilation": dilations if rank == 2 else dilations[0],
            "padding": padding,
            "groups": group,
        }
        out = self._add(node, "conv2d" if rank == 2 else "conv1d", [x], params, name=name, attrs=attrs)
        self._check_cost(node, label, x, kernel, attrs, windows=True)
        self.layouts[node.output[0]] = channels_last(self.shapes[out])

    def _check_cost(
        self, node: onnx.NodeProto, label: str, x: str, kernel: list[int], attrs: dict[str, Any], windows: bool
    ) -> None:
        """What running the layer would allocate per sample, bounded before it ever runs: the padded
        input copy (an activation: MAX_UNITS) and, for a conv, its im2col windows (MAX_DATA_ELEMENTS).
        Large dilations or 'same' padding of a large kernel would otherwise make either huge."""
        shape = self.shapes[x]
        geo = geometry(shape[:-1], kernel, {k: v for k, v in attrs.items() if k != "pool"}, label)
        padded = math.prod(n + a + b for n, (a, b) in zip(geo.in_hw, geo.pads)) * shape[-1]
        cost = math.prod(geo.out_hw) * geo.taps * shape[-1]
        for name, value, what in (
            ("MAX_UNITS", padded, "its padded input holds"),
            ("MAX_DATA_ELEMENTS", cost if windows else 0, "its windows (im2col) hold"),
        ):
            cap = limits.limit(name)
            if value > cap:
                raise InvalidModelError(
                    f"{node.op_type} node {label}: {what} {value} values per sample, more than {name}={cap}",
                    hint=limits.over_limit_hint(name),
                )

    # -- pools -------------------------------------------------------------------------------------
    def _pool(self, node: onnx.NodeProto, kind: str) -> None:
        label = show(node.name or node.output[0])
        x, lay = self._spatial_input(node, node.input[0])
        a = _attrs(node)
        kernel = [int(k) for k in a["kernel_shape"]]  # required: checked by import_checks
        strides, _, padding = self._window(node, lay, kernel, label)
        if not isinstance(padding, str):
            sizes = list(lay.onnx[1:])
            same = [tuple(p) for p in resolve_padding("same", sizes, kernel, strides, [1] * len(sizes), label)]
            if all(p == (0, 0) for p in padding):
                padding = "valid"
            elif [tuple(p) for p in padding] == same:
                padding = "same"
            else:
                raise UnsupportedOpError(
                    f"{node.op_type} node {label} pads {[list(p) for p in padding]} (begin, end "
                    f"per axis); edgetrain pools pad 'same' ({[list(p) for p in same]} here) or "
                    "not at all",
                    hint=POOL_PAD_HINT,
                )
        if kind == "avg_pool" and a.get("count_include_pad", 0) and padding == "same":
            pads = resolve_padding("same", list(lay.onnx[1:]), kernel, strides, [1] * len(kernel), label)
            if any(p != (0, 0) for p in pads):
                raise UnsupportedOpError(
                    f"AveragePool node {label} counts its padding in the average "
                    "(count_include_pad=1) and pads the input; edgetrain averages only input "
                    "values",
                    hint="export with count_include_pad=False, or without padding",
                )
        attrs = {
            "pool": kernel if len(kernel) == 2 else kernel[0],
            "stride": strides if len(kernel) == 2 else strides[0],
            "padding": padding,
        }
        out = self._add(node, kind, [x], attrs=attrs)
        self._check_cost(node, label, x, kernel, {**attrs, "stride": strides}, windows=False)
        self.layouts[node.output[0]] = channels_last(self.shapes[out])

    def _op_MaxPool(self, node: onnx.NodeProto) -> None:
        self._pool(node, "max_pool")

    def _op_AveragePool(self, node: onnx.NodeProto) -> None:
        self._pool(node, "avg_pool")

    def _op_GlobalAveragePool(self, node: onnx.NodeProto) -> None:
        x, lay = self._spatial_input(node, node.input[0])
        self._add(node, "global_avg_pool", [x])
        # (N, C, 1, 1) in ONNX, (N, C) in edgetrain: the same values in the same order.
        self.layouts[node.output[0]] = Layout((lay.onnx[0], *[1] * (len(lay.onnx) - 1)))

    def _op_ReduceMean(self, node: onnx.NodeProto) -> None:
        """The mean over every spatial axis of a feature map: global_avg_pool. Either a channels-first
        map (axes 2, 3 / 2) or a channels-last one (axes 1, 2 / 1, as edgetrain's own export writes)."""
        label = show(node.name or node.output[0])
        x = self._data(node, node.input[0])
        lay = self._layout(node.input[0])
        a = _attrs(node)
        rank = len(lay.onnx) + 1
        if self.opset < 18:
            axes = [int(v) for v in a["axes"]] if "axes" in a else None
        else:
            axes = (
                [int(v) for v in self._int_const(node, 1, "axes").ravel()]
                if len(node.input) > 1 and node.input[1]
                else None
            )
        norm = sorted({v + rank if v < 0 else v for v in axes}) if axes else []
        et_shape = self.shapes[x]
        if lay.channels_last:
            spatial = list(range(2, rank))
        elif lay.order is None and len(et_shape) == rank - 1 and rank in (3, 4):
            spatial = list(range(1, rank - 1))  # (N, *S, C) held as it is
        else:
            spatial = []
        if not spatial or norm != spatial or len(norm) != len(axes or []):
            raise UnsupportedOpError(
                f"ReduceMean node {label} averages axes {axes} of a (batch, "
                f"{', '.join(map(str, lay.onnx))}) tensor; edgetrain imports ReduceMean only "
                "over every spatial axis of a feature map (global average pooling)",
                hint="use GlobalAveragePool (nn.AdaptiveAvgPool2d(1))",
            )
        self._add(node, "global_avg_pool", [x])
        c = et_shape[-1]
        if a.get("keepdims", 1):  # (N, C, 1, 1) or (N, 1, 1, C): the same values as edgetrain's (N, C)
            kept = (c, *[1] * len(spatial)) if lay.channels_last else (*[1] * len(spatial), c)
            self.layouts[node.output[0]] = Layout(kept)

    # -- Pad ---------------------------------------------------------------------------------------
    def _op_Pad(self, node: onnx.NodeProto) -> None:
        label = show(node.name or node.output[0])
        a = _attrs(node)
        opset = self.opset
        if opset < 11:
            pads, value = [int(p) for p in a.get("pads", [])], float(a.get("value", 0.0))
            axes = None
        else:
            pads = [int(p) for p in self._int_const(node, 1, "pads").ravel()]
            value = 0.0
            if len(node.input) > 2 and node.input[2]:
                v = self._const(node, 2, "constant_value")
                if v.size != 1:
                    raise InvalidModelError(
                        f"Pad node {label}: constant_value has {v.size} values; ONNX needs one", hint=PAD_HINT
                    )
                value = float(v.ravel()[0])
            axes = (
                [int(x) for x in self._int_const(node, 3, "axes").ravel()]
                if len(node.input) > 3 and node.input[3]
                else None
            )
        if value != 0.0:
            raise UnsupportedOpError(
                f"Pad node {label} pads with {value}; edgetrain imports only zero padding", hint=PAD_HINT
            )
        _, lay = self._spatial_input(node, node.input[0])
        rank = len(lay.onnx) + 1
        axes = list(range(rank)) if axes is None else [x + rank if x < 0 else x for x in axes]
        if len(pads) != 2 * len(axes) or any(not 0 <= x < rank for x in axes) or len(set(axes)) != len(axes):
            raise InvalidModelError(
                f"Pad node {label}: {len(pads)} pads do not fit axes {axes} of a rank-{rank} tensor", hint=PAD_HINT
            )
        per_axis = {x: (pads[i], pads[i + len(axes)]) for i, x in enumerate(axes)}
        if any(per_axis.get(x, (0, 0)) != (0, 0) for x in (0, 1)):
            raise UnsupportedOpError(
                f"Pad node {label} pads the batch or channel axis ({pads}); edgetrain imports "
                "padding of the spatial axes only",
                hint=PAD_HINT,
            )
        if any(p < 0 for p in pads):
            raise UnsupportedOpError(
                f"Pad node {label} has negative pads {pads} (a crop), which edgetrain does not import", hint=PAD_HINT
            )
        self.pads[node.output[0]] = (node.input[0], [per_axis.get(x, (0, 0)) for x in range(2, rank)], label)

    # -- Transpose ---------------------------------------------------------------------------------
    def _op_Transpose(self, node: onnx.NodeProto) -> None:
        label = show(node.name or node.output[0])
        t = node.input[0]
        if t in self.consts and self.consts[t].dtype.kind == "f":
            # A constant weight stored in another layout (edgetrain's own export keeps conv weights
            # (kh, kw, C_in/group, C_out) and transposes them in the graph): a copy of stored data.
            c = self.consts[t]
            const_perm = _perm(node) or list(range(c.ndim))[::-1]
            if sorted(const_perm) != list(range(c.ndim)):
                raise InvalidModelError(
                    f"Transpose node {label}: perm {const_perm} does not fit constant {show(t)} of "
                    f"shape {tuple(c.shape)}",
                    hint=LAYOUT_HINT,
                )
            self.consts[node.output[0]] = np.ascontiguousarray(np.transpose(c, const_perm))
            return
        if t not in self.env:
            self._fold(node)
            return
        x = self._tensor(node, 0)
        lay = self._layout(t)
        rank = len(lay.onnx) + 1
        perm = tuple(_perm(node)) or tuple(range(rank))[::-1]
        if len(perm) != rank:
            raise InvalidModelError(
                f"Transpose node {label}: perm {list(perm)} does not fit a rank-{rank} tensor", hint=LAYOUT_HINT
            )
        if lay.channels_last and perm == TO_CHANNELS_LAST.get(rank):
            # Back to (N, *S, C): the edgetrain tensor as it is, now in ONNX's order too.
            self.env[node.output[0]] = x
            self.layouts[node.output[0]] = Layout(self.shapes[x])
            return
        if (
            not lay.channels_last
            and lay.order is None
            and len(self.shapes[x]) == rank - 1
            and perm == TO_CHANNELS_FIRST.get(rank)
        ):
            # An NHWC tensor made NCHW: edgetrain keeps it channels-last.
            self.env[node.output[0]] = x
            self.layouts[node.output[0]] = channels_last(self.shapes[x])
            return
        raise UnsupportedOpError(
            f"Transpose node {label} permutes the axes of a (batch, "
            f"{', '.join(map(str, lay.onnx))}) tensor by {list(perm)}; edgetrain imports a "
            "Transpose only where NHWC data becomes NCHW (or back)",
            hint=LAYOUT_HINT,
        )


def _perm(node: onnx.NodeProto) -> list[int]:
    return next((list(a.ints) for a in node.attribute if a.name == "perm"), [])


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _simple(name: str) -> bool:
    """Whether ``name`` can be used as an edgetrain layer name as it is (the importer's `_SIMPLE`)."""
    return bool(re.match(r"^[A-Za-z_][A-Za-z0-9_.]*$", name))

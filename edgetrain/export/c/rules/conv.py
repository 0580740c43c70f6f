"""C lowering of the convolutions (conv2d, conv1d as H = 1) and the pools (max_pool, avg_pool,
global_avg_pool) onto et_conv.h / et_pool.h, float32 only.

* Geometry: the numpy op's own (`edgetrain.ops.conv.geometry` for a conv, the pool op's
  ``pool_geometry``), so TensorFlow "same" is resolved to explicit pads exactly as numpy pads.
* Weights: (kh, kw, C_in/groups, C_out) to OHWI for the grouped kernel; a conv with
  ``groups == C_in`` (depth multiplier ``C_out / C_in``) runs the depthwise kernel on HWO weights
  (`edgetrain.quantize.conv_reference.to_c_conv_weights` / ``to_c_depthwise_weights``).
* A following relu / relu6 is fused as the kernel's clamp (`transforms.lowering`); bias or NULL.
* The fast grouped kernel gets a scratch buffer from the memory plan (`conv_scratch`); the
  reference takes none (the ET_CONV_F32 macro drops it).

int8 is refused: the quantizer has no conv or pool rules yet.
"""
from __future__ import annotations

import numpy as np

from ....errors import UnsupportedOpError
from ....ops import get_op
from ....ops.conv import Geometry, geometry
from ....quantize.conv_reference import to_c_conv_weights, to_c_depthwise_weights
from ....transforms.lowering import Lowered, Step
from ..abi import conv_scratch_bytes, struct_bytes, struct_initializer
from .base import Call, CRule, Lowering, float_clamp

CONV_KINDS = ("conv2d", "conv1d")
POOL_KINDS = ("max_pool", "avg_pool", "global_avg_pool")
CONV_PARAMS, POOL_PARAMS, GLOBAL_PARAMS = "et_conv_f32_params", "et_pool_f32_params", "et_global_pool_f32_params"


def refuse_int8(st: Step) -> UnsupportedOpError:
    return UnsupportedOpError(f"{st.kind} layer {st.name!r}: int8 conv export is not supported yet "
                              "(no int8 quantizer rules for conv and pool layers)",
                              hint="export this model with --dtype f32")


def _weight_4d(st: Step, lw_graph) -> np.ndarray:
    """The effective weight as (kh, kw, C_in/groups, C_out) float32 (conv1d: kh = 1)."""
    w = np.asarray(lw_graph.node_params(st.node)["weight"].effective(), np.float32)
    return w.reshape(1, *w.shape) if st.kind == "conv1d" else w


def conv_geometry(lowered: Lowered, st: Step) -> tuple[Geometry, int, int, int]:
    """(geometry, groups, C_in, C_out) of a conv step, by the numpy op's rules."""
    x = tuple(lowered.shapes[st.inputs[0]])
    w = lowered.graph.params[st.node.params["weight"]].shape
    geo = geometry(x[:-1], w[:-2], st.node.attrs, f"{st.kind} {st.name!r}")
    return geo, int(st.node.attrs.get("groups", 1)), int(x[-1]), int(w[-1])


def conv_scratch(lowered: Lowered, st: Step) -> int:
    """Bytes of the fast kernel's scratch for a conv step (0: none), as et_conv_f32_scratch_bytes."""
    geo, groups, cin, cout = conv_geometry(lowered, st)
    if _depthwise(groups, cin, cout):
        return 0
    return conv_scratch_bytes(geo.kernel[0], geo.kernel[1], cin, groups, 4)


def _depthwise(groups: int, cin: int, cout: int) -> bool:
    """groups == C_in with C_out a multiple: the depthwise kernel (one input channel per group).
    A single-channel input with groups 1 is a plain conv (the grouped kernel's dense path)."""
    return groups > 1 and groups == cin and cout % cin == 0


def _check_pads(st: Step, geo: Geometry) -> None:
    """The C kernels take each pad in [0, (k - 1) * dilation] (a window never reads only padding)."""
    for (a, b), k, d in zip(geo.pads, geo.kernel, geo.dilation):
        if max(a, b) > (k - 1) * d:
            raise UnsupportedOpError(f"{st.kind} {st.name!r}: padding {geo.pads} leaves windows that read only "
                                     "padding, which the C kernels refuse",
                                     hint="use padding='valid', or a stride no larger than the window")


def _geom(batch: int, geo: Geometry, cin: int, cout: int) -> dict[str, int]:
    (t, b), (l, r) = geo.pads
    return {"batch": batch, "in_h": geo.in_hw[0], "in_w": geo.in_hw[1], "in_c": cin,
            "out_h": geo.out_hw[0], "out_w": geo.out_hw[1], "out_c": cout,
            "kernel_h": geo.kernel[0], "kernel_w": geo.kernel[1], "stride_h": geo.stride[0],
            "stride_w": geo.stride[1], "dilation_h": geo.dilation[0], "dilation_w": geo.dilation[1],
            "pad_top": t, "pad_bottom": b, "pad_left": l, "pad_right": r}


class ConvRule(CRule):
    kinds = CONV_KINDS
    sources = {"et_conv_f32": "et_conv_f32.c", "et_depthwise_conv_f32": "et_conv_f32.c",
               "et_conv_f32_ref": "et_conv_f32_ref.c", "et_depthwise_conv_f32_ref": "et_conv_f32_ref.c",
               "et_conv_geom_check": "et_conv_geom.c", "et_dense_f32": "et_dense_f32.c"}

    def f32(self, lw: Lowering, st: Step) -> Call:
        geo, groups, cin, cout = conv_geometry(lw.lowered, st)
        _check_pads(st, geo)
        lid = lw.ident(st.name)
        w4 = _weight_4d(st, lw.graph)
        depthwise = _depthwise(groups, cin, cout)
        params = lw.graph.node_params(st.node)
        wp = params["weight"]
        w_c = to_c_depthwise_weights(w4) if depthwise else to_c_conv_weights(w4)
        w_name = lw.value_of(wp, "weights", w_c, lid, st.name)
        if "bias" in params:
            bp = params["bias"]
            b_name = lw.value_of(bp, "bias", np.asarray(bp.effective(), np.float32), lid, st.name)
        else:
            b_name = "NULL"
        lo, hi = float_clamp(st.activation)
        names = lw.struct_names(lid)
        structs = tuple(struct_initializer(CONV_PARAMS, n, {"geom": _geom(b, geo, cin, cout), "groups": groups,
                                                             "act_min": lo, "act_max": hi})
                        for n, b in zip(names, lw.batches))
        nbytes = struct_bytes(CONV_PARAMS) * len(names)
        x, y = lw.where(st.inputs[0]), lw.where(st.output)
        operands = {"weights": w_name, "bias": b_name}
        if depthwise:
            stmts = tuple(f"st = ET_DEPTHWISE_CONV_F32(&{n}, {x}, {w_name}, {b_name}, {y});" for n in names)
            return Call(st.name, f"{st.kind}/depthwise",
                        ("et_depthwise_conv_f32", "et_conv_geom_check", "et_depthwise_conv_f32_ref"),
                        stmts, st.inputs, st.output, structs, nbytes, arg_structs=names, operands=operands)
        need = conv_scratch_bytes(geo.kernel[0], geo.kernel[1], cin, groups, 4)
        scratch = lw.scratch(st.name) if need else None
        if need and scratch is None:  # pragma: no cover - every caller plans step_scratch_bytes
            raise UnsupportedOpError(f"{st.kind} {st.name!r}: no scratch buffer was planned")
        s_expr = scratch if scratch is not None else "NULL"
        stmts = tuple(f"st = ET_CONV_F32(&{n}, {x}, {w_name}, {b_name}, {y}, {s_expr});" for n in names)
        op = st.kind if groups == 1 else f"{st.kind}/groups{groups}"
        return Call(st.name, op, ("et_conv_f32", "et_dense_f32", "et_conv_geom_check", "et_conv_f32_ref"),
                    stmts, st.inputs, st.output, structs, nbytes,
                    scratch=f"{st.name}:scratch" if need else None, arg_structs=names, operands=operands)

    def s8(self, lw: Lowering, st: Step, q) -> Call:  # type: ignore[override]
        raise refuse_int8(st)


class PoolRule(CRule):
    kinds = POOL_KINDS
    sources = {"et_max_pool_f32": "et_pool_f32.c", "et_avg_pool_f32": "et_pool_f32.c",
               "et_global_avg_pool_f32": "et_pool_f32.c", "et_conv_geom_check": "et_conv_geom.c"}

    def f32(self, lw: Lowering, st: Step) -> Call:
        x_shape = tuple(lw.lowered.shapes[st.inputs[0]])
        lid = lw.ident(st.name)
        names = lw.struct_names(lid)
        lo, hi = float_clamp(st.activation)
        x, y = lw.where(st.inputs[0]), lw.where(st.output)
        c = int(x_shape[-1])
        fn, macro = f"et_{st.kind}_f32", f"ET_{st.kind.upper()}_F32"
        if st.kind == "global_avg_pool":
            h, w = (1, x_shape[0]) if len(x_shape) == 2 else x_shape[:2]
            structs = tuple(struct_initializer(GLOBAL_PARAMS, n, {"batch": b, "in_h": h, "in_w": w, "channels": c,
                                                                  "act_min": lo, "act_max": hi})
                            for n, b in zip(names, lw.batches))
            nbytes = struct_bytes(GLOBAL_PARAMS) * len(names)
        else:
            geo = get_op(st.kind).pool_geometry(st.node, x_shape[:-1])  # type: ignore[attr-defined]
            _check_pads(st, geo)
            structs = tuple(struct_initializer(POOL_PARAMS, n, {"geom": _geom(b, geo, c, c), "act_min": lo,
                                                                "act_max": hi})
                            for n, b in zip(names, lw.batches))
            nbytes = struct_bytes(POOL_PARAMS) * len(names)
        stmts = tuple(f"st = {macro}(&{n}, {x}, {y});" for n in names)
        # One implementation serves both builds (fast first, reference last, as every call lists).
        return Call(st.name, st.kind, (fn, "et_conv_geom_check", fn), stmts, st.inputs, st.output, structs,
                    nbytes, arg_structs=names)

    def s8(self, lw: Lowering, st: Step, q) -> Call:  # type: ignore[override]
        raise refuse_int8(st)

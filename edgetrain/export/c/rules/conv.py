"""C lowering of the convolutions (conv2d, conv1d as H = 1) and the pools (max_pool, avg_pool,
global_avg_pool) onto et_conv.h / et_pool.h, float32 and int8.

* Geometry: the numpy op's own (`edgetrain.ops.conv.geometry` for a conv, the pool op's
  ``pool_geometry``), so TensorFlow "same" is resolved to explicit pads exactly as numpy pads.
* Weights: (kh, kw, C_in/groups, C_out) to OHWI for the grouped kernel; a conv with
  ``groups == C_in`` (depth multiplier ``C_out / C_in``) runs the depthwise kernel on HWO weights
  (`edgetrain.quantize.conv_reference.to_c_conv_weights` / ``to_c_depthwise_weights``).
* A following relu / relu6 is fused as the kernel's clamp (`transforms.lowering`); bias or NULL.
* The fast grouped kernel (and the int8 depthwise one, its padded band) gets a scratch buffer
  from the memory plan (`conv_scratch`); the reference takes none (the ET_CONV_F32 /
  ET_CONV_S8 / ET_DEPTHWISE_CONV_S8 macros drop it).
* int8 reads the quantized step (`quantize.model.QConv` / ``QPool``): its weights, requantization,
  zero points and fused clamp, so the C model and the numpy int8 reference are one model. As
  for int8 dense, the fast kernels start from ``eff_bias`` and the plain bias array exists only
  in ET_FORCE_REF builds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from ....errors import UnsupportedOpError
from ....ops import get_op
from ....ops.conv import Geometry, geometry
from ....quantize.conv_reference import to_c_conv_weights, to_c_depthwise_weights
from ....quantize.model import QConv, QPool
from ....transforms.lowering import Lowered, Step
from ..abi import conv_scratch_bytes, depthwise_conv_s8_scratch_bytes, struct_bytes, struct_initializer
from .base import Call, CRule, Lowering, float_clamp

CONV_KINDS = ("conv2d", "conv1d")
POOL_KINDS = ("max_pool", "avg_pool", "global_avg_pool")
# The argument struct of each kernel family by dtype.
CONV_PARAMS = {"f32": "et_conv_f32_params", "int8": "et_conv_s8_params"}
POOL_PARAMS = {"f32": "et_pool_f32_params", "int8": "et_pool_s8_params"}
GLOBAL_PARAMS = {"f32": "et_global_pool_f32_params", "int8": "et_global_pool_s8_params"}
SUFFIX = {"f32": "f32", "int8": "s8"}
ELEM_BYTES = {"f32": 4, "int8": 1}


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


def conv_scratch(lowered: Lowered, st: Step, dtype: str = "f32") -> int:
    """Bytes of the fast kernel's scratch for a conv step (0: none), as et_conv_f32_scratch_bytes
    / et_conv_s8_scratch_bytes."""
    geo, groups, cin, cout = conv_geometry(lowered, st)
    if _depthwise(groups, cin, cout):
        return _depthwise_scratch(geo, cin, cout, dtype)
    return conv_scratch_bytes(geo.kernel[0], geo.kernel[1], cin, groups, ELEM_BYTES[dtype])


def _depthwise_scratch(geo: Geometry, cin: int, cout: int, dtype: str) -> int:
    """et_depthwise_conv_s8_scratch_bytes (its padded band); the float depthwise kernel needs none."""
    if dtype != "int8":
        return 0
    return depthwise_conv_s8_scratch_bytes(cin, cout, geo.kernel, geo.stride, geo.dilation, geo.out_hw)


def _depthwise(groups: int, cin: int, cout: int) -> bool:
    """groups == C_in with C_out a multiple: the depthwise kernel (one input channel per group).
    A single-channel input with groups 1 is a plain conv (the grouped kernel's dense path)."""
    return groups > 1 and groups == cin and cout % cin == 0


def _check_pads(st: Step, geo: Geometry) -> None:
    """The C kernels take each pad in [0, (k - 1) * dilation] (a window never reads only padding)."""
    for (a, b), k, d in zip(geo.pads, geo.kernel, geo.dilation):
        if max(a, b) > (k - 1) * d:
            raise UnsupportedOpError(
                f"{st.kind} {st.name!r}: padding {geo.pads} leaves windows that read only "
                "padding, which the C kernels refuse",
                hint="use padding='valid', or a stride no larger than the window",
            )


def _geom(batch: int, geo: Geometry, cin: int, cout: int) -> dict[str, int]:
    (top, bottom), (left, right) = geo.pads
    return {
        "batch": batch,
        "in_h": geo.in_hw[0],
        "in_w": geo.in_hw[1],
        "in_c": cin,
        "out_h": geo.out_hw[0],
        "out_w": geo.out_hw[1],
        "out_c": cout,
        "kernel_h": geo.kernel[0],
        "kernel_w": geo.kernel[1],
        "stride_h": geo.stride[0],
        "stride_w": geo.stride[1],
        "dilation_h": geo.dilation[0],
        "dilation_w": geo.dilation[1],
        "pad_top": top,
        "pad_bottom": bottom,
        "pad_left": left,
        "pad_right": right,
    }


class ConvRule(CRule):
    """conv2d / conv1d: the depthwise kernel when there is one input channel per group, else the
    grouped kernel, which windows its input through a planned scratch buffer (none for 1x1 without groups)."""

    kinds = CONV_KINDS
    sources: ClassVar[dict[str, str]] = {
        f"et_{k}_{d}{r}": f"et_conv_{d}{r}.c"
        for k in ("conv", "depthwise_conv")
        for d in ("f32", "s8")
        for r in ("", "_ref")
    }
    sources.update(
        {"et_conv_geom_check": "et_conv_geom.c", "et_dense_f32": "et_dense_f32.c", "et_dense_s8": "et_dense_s8.c"}
    )

    def f32(self, lw: Lowering, st: Step) -> Call:
        """The float32 convolution call: weights in C layout, bias and clamp in its argument struct;
        UnsupportedOpError for padding the kernels cannot express."""
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
        structs = tuple(
            struct_initializer(
                CONV_PARAMS["f32"],
                n,
                {"geom": _geom(b, geo, cin, cout), "groups": groups, "act_min": lo, "act_max": hi},
            )
            for n, b in zip(names, lw.batches)
        )
        return _conv_call(lw, st, "f32", geo, groups, depthwise, names, structs, w_name, b_name, cin, cout)

    def s8(self, lw: Lowering, st: Step, q: QConv) -> Call:  # type: ignore[override]
        """The int8 convolution call with the quantized step's weights, per-channel requantization
        and clamp; UnsupportedOpError for padding the kernels cannot express."""
        geo, groups = q.geometry, q.groups
        _check_pads(st, geo)
        lid = lw.ident(q.name)
        w_c = to_c_depthwise_weights(q.weights) if q.depthwise else to_c_conv_weights(q.weights)
        w_name = lw.array(lid, q.name, "weights", w_c)
        eb_name = lw.array(lid, q.name, "eff_bias", q.eff_bias)
        b_name = lw.array(lid, q.name, "bias", q.bias, lw.force_ref_condition) if q.bias is not None else "NULL"
        m_name = lw.array(lid, q.name, "multipliers", q.multipliers)
        s_name = lw.array(lid, q.name, "shifts", q.shifts)
        names = lw.struct_names(lid)
        cin, cout = q.in_shape[2], q.n_out
        structs = tuple(
            struct_initializer(
                CONV_PARAMS["int8"],
                n,
                {
                    "geom": _geom(b, geo, cin, cout),
                    "groups": groups,
                    "input_offset": -q.input_zero_point,
                    "output_offset": q.output_zero_point,
                    "act_min": q.act_min,
                    "act_max": q.act_max,
                    "per_channel": 1 if q.per_channel else 0,
                    "multipliers": m_name,
                    "shifts": s_name,
                    "eff_bias": eb_name,
                },
            )
            for n, b in zip(names, lw.batches)
        )
        return _conv_call(lw, st, "int8", geo, groups, q.depthwise, names, structs, w_name, b_name, cin, cout)


def _conv_call(
    lw: Lowering,
    st: Step,
    dtype: str,
    geo: Geometry,
    groups: int,
    depthwise: bool,
    names: tuple[str, ...],
    structs: tuple[str, ...],
    w_name: str,
    b_name: str,
    cin: int,
    cout: int,
) -> Call:
    """The call of a conv step: the depthwise kernel, or the grouped one, with its planned scratch
    (the int8 depthwise kernel's padded band; the float one takes none)."""
    sfx = SUFFIX[dtype]
    nbytes = struct_bytes(CONV_PARAMS[dtype]) * len(names)
    x, y = lw.where(st.inputs[0]), lw.where(st.output)
    operands = {"weights": w_name, "bias": b_name}
    macro = f"ET_DEPTHWISE_CONV_{sfx.upper()}" if depthwise else f"ET_CONV_{sfx.upper()}"
    need = (
        _depthwise_scratch(geo, cin, cout, dtype)
        if depthwise
        else conv_scratch_bytes(geo.kernel[0], geo.kernel[1], cin, groups, ELEM_BYTES[dtype])
    )
    scratch = lw.scratch(st.name) if need else None
    if need and scratch is None:  # pragma: no cover - every caller plans step_scratch_bytes
        raise UnsupportedOpError(f"{st.kind} {st.name!r}: no scratch buffer was planned")
    s_expr = scratch if scratch is not None else "NULL"
    if depthwise:
        args = f"{x}, {w_name}, {b_name}, {y}" + (f", {s_expr}" if dtype == "int8" else "")
        stmts = tuple(f"st = {macro}(&{n}, {args});" for n in names)
        return Call(
            st.name,
            f"{st.kind}/depthwise",
            (f"et_depthwise_conv_{sfx}", "et_conv_geom_check", f"et_depthwise_conv_{sfx}_ref"),
            stmts,
            st.inputs,
            st.output,
            structs,
            nbytes,
            scratch=f"{st.name}:scratch" if need else None,
            arg_structs=names,
            operands=operands,
        )
    stmts = tuple(f"st = {macro}(&{n}, {x}, {w_name}, {b_name}, {y}, {s_expr});" for n in names)
    op = st.kind if groups == 1 else f"{st.kind}/groups{groups}"
    return Call(
        st.name,
        op,
        (f"et_conv_{sfx}", f"et_dense_{sfx}", "et_conv_geom_check", f"et_conv_{sfx}_ref"),
        stmts,
        st.inputs,
        st.output,
        structs,
        nbytes,
        scratch=f"{st.name}:scratch" if need else None,
        arg_structs=names,
        operands=operands,
    )


class PoolRule(CRule):
    """max_pool, avg_pool and global_avg_pool, float32 and int8 (et_pool.h)."""

    kinds = POOL_KINDS
    sources: ClassVar[dict[str, str]] = {f"et_{k}_{d}": f"et_pool_{d}.c" for k in POOL_KINDS for d in ("f32", "s8")}
    sources["et_conv_geom_check"] = "et_conv_geom.c"

    def f32(self, lw: Lowering, st: Step) -> Call:
        """The float32 pooling call with the step's activation clamp."""
        lo, hi = float_clamp(st.activation)
        return self._call(lw, st, "f32", {"act_min": lo, "act_max": hi}, {})

    def s8(self, lw: Lowering, st: Step, q: QPool) -> Call:  # type: ignore[override]
        """The int8 pooling call with the quantized step's clamp and requantization."""
        clamp = {"act_min": q.act_min, "act_max": q.act_max}
        requant = {
            "input_offset": -q.input_zero_point,
            "output_offset": q.output_zero_point,
            "multiplier": q.multiplier,
            "shift": q.shift,
        }
        return self._call(lw, st, "int8", clamp, requant)

    @staticmethod
    def _call(lw: Lowering, st: Step, dtype: str, clamp: Mapping[str, object], requant: Mapping[str, object]) -> Call:
        """A pool's call; ``requant`` holds the global pool's int8 rescaling fields (else empty)."""
        x_shape = tuple(lw.lowered.shapes[st.inputs[0]])
        lid = lw.ident(st.name)
        names = lw.struct_names(lid)
        x, y = lw.where(st.inputs[0]), lw.where(st.output)
        c = int(x_shape[-1])
        sfx = SUFFIX[dtype]
        fn, macro = f"et_{st.kind}_{sfx}", f"ET_{st.kind.upper()}_{sfx.upper()}"
        if st.kind == "global_avg_pool":
            h, w = (1, x_shape[0]) if len(x_shape) == 2 else x_shape[:2]
            ctype = GLOBAL_PARAMS[dtype]
            structs = tuple(
                struct_initializer(ctype, n, {"batch": b, "in_h": h, "in_w": w, "channels": c, **requant, **clamp})
                for n, b in zip(names, lw.batches)
            )
        else:
            geo = get_op(st.kind).pool_geometry(st.node, x_shape[:-1])  # type: ignore[attr-defined]
            _check_pads(st, geo)
            ctype = POOL_PARAMS[dtype]
            structs = tuple(
                struct_initializer(ctype, n, {"geom": _geom(b, geo, c, c), **clamp}) for n, b in zip(names, lw.batches)
            )
        stmts = tuple(f"st = {macro}(&{n}, {x}, {y});" for n in names)
        # One implementation serves both builds (fast first, reference last, as every call lists).
        return Call(
            st.name,
            st.kind,
            (fn, "et_conv_geom_check", fn),
            stmts,
            st.inputs,
            st.output,
            structs,
            struct_bytes(ctype) * len(names),
            arg_structs=names,
        )

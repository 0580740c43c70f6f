"""C lowering of the element-wise ops: clamp activations, residual add, softmax."""

from __future__ import annotations

from typing import ClassVar

from ....errors import UnsupportedOpError
from ....quantize import int8 as quant
from ....quantize.model import QAdd, QClamp, QLut
from ....transforms.lowering import Step
from ..abi import struct_bytes
from ..arrays import literal
from .base import Call, CRule, Lowering, float_clamp, struct_definition

ADD_S8_PARAMS = "et_add_s8_params"


def _counts(lw: Lowering, tensor: str) -> tuple[int, ...]:
    n = lw.size(tensor)
    return tuple(b * n for b in lw.batches)


class ClampRule(CRule):
    """relu / relu6 that could not be fused into the kernel producing their input."""

    kinds = ("relu", "relu6")
    sources: ClassVar[dict[str, str]] = {f"et_{k}_{d}": "et_relu.c" for k in kinds for d in ("f32", "s8")}

    def f32(self, lw: Lowering, st: Step) -> Call:
        """The float32 clamp (relu or relu6) over the output's elements."""
        fn = f"et_{st.kind}_f32"
        x, y = lw.where(st.inputs[0]), lw.where(st.output)
        stmts = tuple(f"st = {fn}({x}, {y}, {n});" for n in _counts(lw, st.output))
        return Call(st.name, st.kind, (fn,), stmts, st.inputs, st.output)

    def s8(self, lw: Lowering, st: Step, q: QClamp) -> Call:  # type: ignore[override]
        """The int8 clamp at the quantized zero point (and six, for relu6)."""
        fn = f"et_{q.kind}_s8"
        x, y = lw.where(q.input), lw.where(q.output)
        extra = f", {q.six_q}" if q.kind == "relu6" else ""
        stmts = tuple(f"st = {fn}({x}, {y}, {n}, {q.zero_point}{extra});" for n in _counts(lw, q.output))
        return Call(q.name, q.kind, (fn,), stmts, (q.input,), q.output)


class ActivationRule(CRule):
    """Smooth and leaky activations: float32 kernels (et_activation.h); int8 as a 256-entry table
    built by the quantizer (et_lut_s8)."""

    kinds = quant.LUT_KINDS
    sources: ClassVar[dict[str, str]] = {
        **{f"et_{k}_f32": "et_activation_f32.c" for k in kinds},
        "et_lut_s8": "et_lut_s8.c",
    }

    def f32(self, lw: Lowering, st: Step) -> Call:
        """The float32 activation kernel (with alpha for leaky_relu)."""
        fn = f"et_{st.kind}_f32"
        x, y = lw.where(st.inputs[0]), lw.where(st.output)
        extra = f", {literal(alpha_of(st), 'float')}" if st.kind == "leaky_relu" else ""
        stmts = tuple(f"st = {fn}({x}, {y}, {n}{extra});" for n in _counts(lw, st.output))
        return Call(st.name, st.kind, (fn,), stmts, st.inputs, st.output)

    def s8(self, lw: Lowering, st: Step, q: QLut) -> Call:  # type: ignore[override]
        """The int8 activation as a 256-entry lookup table."""
        lid = lw.ident(q.name)
        table = lw.array(lid, q.name, "table", q.table)
        x, y = lw.where(q.input), lw.where(q.output)
        stmts = tuple(f"st = et_lut_s8({x}, {y}, {n}, {table});" for n in _counts(lw, q.output))
        return Call(q.name, q.kind, ("et_lut_s8",), stmts, (q.input,), q.output)


def alpha_of(st: Step) -> float:
    """The leaky_relu slope of step ``st`` (the default when the node has none)."""
    from ....ops.activations import LEAKY_RELU_ALPHA

    return float(st.node.attrs.get("alpha", LEAKY_RELU_ALPHA))


class AddRule(CRule):
    """The element-wise add of two tensors of one shape, with a fused clamp."""

    kinds = ("add",)
    sources: ClassVar[dict[str, str]] = {"et_add_f32": "et_add.c", "et_add_s8": "et_add.c"}

    def f32(self, lw: Lowering, st: Step) -> Call:
        """The float32 element-wise add with the step's activation clamp."""
        lo, hi = float_clamp(st.activation)
        a, b = (lw.where(t) for t in st.inputs)
        y = lw.where(st.output)
        stmts = tuple(f"st = et_add_f32({a}, {b}, {y}, {n}, {lo}, {hi});" for n in _counts(lw, st.output))
        return Call(st.name, "add", ("et_add_f32",), stmts, st.inputs, st.output)

    def s8(self, lw: Lowering, st: Step, q: QAdd) -> Call:  # type: ignore[override]
        """The int8 element-wise add with both inputs' and the output's requantization."""
        lid = lw.ident(q.name)
        a, b = (lw.where(t) for t in q.inputs)
        y = lw.where(q.output)
        p = q.params
        fields = {
            k: literal(getattr(p, k), "int32_t")
            for k in (
                "input1_offset",
                "input2_offset",
                "output_offset",
                "left_shift",
                "input1_multiplier",
                "input1_shift",
                "input2_multiplier",
                "input2_shift",
                "output_multiplier",
                "output_shift",
                "act_min",
                "act_max",
            )
        }
        sname = f"{lw.struct_prefix}{lid}"
        stmts = tuple(f"st = et_add_s8(&{sname}, {a}, {b}, {y}, {n});" for n in _counts(lw, q.output))
        return Call(
            q.name,
            "add",
            ("et_add_s8",),
            stmts,
            q.inputs,
            q.output,
            (struct_definition(ADD_S8_PARAMS, sname, fields),),
            struct_bytes(ADD_S8_PARAMS),
        )


class SoftmaxRule(CRule):
    """softmax in a float32 model on single samples; an int8 model cannot run one."""

    kinds = ("softmax",)
    sources: ClassVar[dict[str, str]] = {"et_softmax_f32": "et_softmax.c"}

    def f32(self, lw: Lowering, st: Step) -> Call:
        """The float32 softmax; UnsupportedOpError on a batch larger than 1."""
        if any(b != 1 for b in lw.batches):
            raise UnsupportedOpError(
                f"softmax {st.name!r} cannot run on a batch in the C runtime",
                hint="keep softmax as the last layer (training works on logits)",
            )
        x, y = lw.where(st.inputs[0]), lw.where(st.output)
        n = lw.size(st.output)
        return Call(
            st.name, "softmax", ("et_softmax_f32",), (f"st = et_softmax_f32({x}, {y}, {n});",), st.inputs, st.output
        )

    def s8(self, lw: Lowering, st: Step, q) -> Call:
        """Always UnsupportedOpError: int8 models cannot run a softmax inside the model."""
        raise UnsupportedOpError(
            f"int8 export cannot run softmax {st.name!r} inside the model",
            hint="only a final softmax is supported (it is dropped: int8 logits)",
        )

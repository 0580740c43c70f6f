"""The C backend's rule table, keyed by op kind, and the one lowering that walks it.

`lower_calls` turns every step of a `Lowered` model into kernel calls. The inference program
(`program.build_program`) and the on-device training program (its frozen body and its trainable
head's forward, `train_program`) all call it, so they accept the same ops, store weights the same
way and switch kernels the same way (``ET_FORCE_REF``, see et_kernels.h).
"""

from __future__ import annotations

from ....errors import UnsupportedOpError
from .base import Call, CRule, Lowering
from .conv import ConvRule, PoolRule
from .dense import DenseRule
from .elementwise import ActivationRule, AddRule, ClampRule, SoftmaxRule

C_RULES: dict[str, CRule] = {
    kind: rule
    for rule in (DenseRule(), ClampRule(), ActivationRule(), AddRule(), SoftmaxRule(), ConvRule(), PoolRule())
    for kind in rule.kinds
}
# Runtime function -> source file, for every kernel a rule may call.
KERNEL_SOURCES: dict[str, str] = {k: f for rule in C_RULES.values() for k, f in rule.sources.items()}


def c_rule(kind: str, what: str = "the C exporter") -> CRule:
    """The C lowering rule of op ``kind``; UnsupportedOpError naming ``what`` when there is none."""
    try:
        return C_RULES[kind]
    except KeyError:
        raise UnsupportedOpError(
            f"{what} has no rule for op kind {kind!r}",
            hint=f"supported: {', '.join(sorted(C_RULES))} (and views: flatten, identity, reshape)",
        ) from None


def check_supported(kinds: list[str], what: str = "the C exporter") -> None:
    """One error naming every kernel op kind the table lacks."""
    missing = sorted({k for k in kinds if k != "alias" and k not in C_RULES})
    if missing:
        raise UnsupportedOpError(
            f"{what} does not support op(s): {', '.join(missing)}",
            hint=f"supported: {', '.join(sorted(C_RULES))} (and views: flatten, identity, reshape)",
        )


def lower_calls(lw: Lowering) -> list[Call]:
    """The calls of every non-alias step of ``lw.lowered``, in execution order."""
    check_supported([st.kind for st in lw.lowered.steps])
    calls: list[Call] = []
    for st in lw.lowered.steps:
        if st.kind == "alias":
            continue
        rule = C_RULES[st.kind]
        calls.append(rule.f32(lw, st) if lw.dtype == "f32" else rule.s8(lw, st, lw.qsteps[st.name]))
    return calls


__all__ = ["C_RULES", "KERNEL_SOURCES", "CRule", "Call", "Lowering", "c_rule", "check_supported", "lower_calls"]

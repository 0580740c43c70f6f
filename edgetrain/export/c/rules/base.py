"""What a C rule receives and returns: the lowering context and the kernel calls it emits.

One lowering serves the inference program and both halves of the on-device training program (the
frozen body and the trainable head's forward): a rule writes the same call whoever asks; only the
context differs (batch sizes, where a tensor or a parameter lives, whether sparse storage applies).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np

from ....graph import Graph, Param
from ....transforms.lowering import Lowered, Step
from ..arrays import c_identifier

if TYPE_CHECKING:
    from ....quantize.model import QStep
    from ..sparse import LayerStorage

Dtype = Literal["f32", "int8"]
ELEM = {"f32": ("float", 4), "int8": ("int8_t", 1)}


@dataclass
class Call:
    """One kernel call of a lowered step.

    ``statements`` holds the C statement (with the ``st =`` status assignment) for each batch size
    of the lowering, in `Lowering.batches` order; ``structs`` the static definitions they use.
    ``scratch`` names the step's scratch buffer when its kernel needs one."""

    layer: str
    op: str
    kernels: tuple[str, ...]  # runtime functions it may call (fast and reference)
    statements: tuple[str, ...]
    inputs: tuple[str, ...]
    output: str
    structs: tuple[str, ...] = ()
    struct_bytes: int = 0
    scratch: str | None = None
    arg_structs: tuple[str, ...] = ()  # names of its argument structs, one per batch size
    # C expressions of its parameter operands by role (weights, codebook, indices, bias, ...): what
    # a training rule passes to the backward kernel of the same layer.
    operands: dict[str, str] = field(default_factory=dict)

    @property
    def statement(self) -> str:
        """The statement for the first batch size (the only one in an inference program)."""
        return self.statements[0]

    @property
    def struct(self) -> str | None:
        """The call's argument-struct definitions, one per batch size, as one text; None when it has
        none."""
        return "\n".join(self.structs) if self.structs else None


@dataclass
class Lowering:
    """The context rules emit into.

    ``where(tensor)`` is the C expression of a tensor's buffer (alias roots already resolved by
    the caller's planner); ``scratch(step)`` the expression of a step's scratch buffer;
    ``array(layer_id, layer, role, values, condition)`` defines a const array and returns its
    name; ``param_value(param, role, c_value, layer_id)`` the expression a kernel reads a
    parameter from (const data by default; the training head points trainable ones at RAM).
    ``storage`` holds the sparse storage chosen per layer; a layer not in it keeps dense weights
    (the trainable head passes none: its update kernels need dense weights). ``shared_weights``:
    a parameter with a codebook is lowered as its codebook and constant indices (the
    shared-weight kernels) rather than as its expanded weight; the training head sets it, so
    only the slot values live in RAM and train."""

    dtype: Dtype
    graph: Graph  # the float graph (parameter values, masks)
    lowered: Lowered
    qsteps: dict[str, QStep]  # int8: step name -> quantized step
    batches: tuple[int, ...]
    where: Callable[[str], str]
    scratch: Callable[[str], str | None]
    array: Callable[..., str]
    taken: set[str]
    storage: dict[str, LayerStorage] = field(default_factory=dict)
    param_value: Callable[[Param, str, np.ndarray, str], str] | None = None
    struct_prefix: str = "et_p_"
    force_ref_condition: str = "ET_FORCE_REF"
    shared_weights: bool = False

    def ident(self, name: str) -> str:
        """A C identifier for ``name`` not yet taken in this program (it is taken from now on)."""
        return c_identifier(name, self.taken)

    def size(self, tensor: str) -> int:
        """The element count of one sample of ``tensor``."""
        return self.lowered.size(tensor)

    def struct_names(self, lid: str) -> tuple[str, ...]:
        """One argument-struct name per batch size (a batch of 1 after a larger one gets ``1``)."""
        names = [f"{self.struct_prefix}{lid}"]
        for b in self.batches[1:]:
            names.append(f"{self.struct_prefix}{b}_{lid}")
        return tuple(names)

    def value_of(self, param: Param, role: str, c_value: np.ndarray, lid: str, layer: str) -> str:
        """The C expression a kernel reads ``param`` (role ``role``, values ``c_value`` in C layout)
        from: ``param_value``'s when set, else a new const array of layer ``layer``."""
        if self.param_value is not None:
            return self.param_value(param, role, c_value, lid)
        return self.array(lid, layer, role, c_value)


class CRule:
    """One op family's C lowering. ``kinds``: the op kinds it lowers; ``f32``/``s8`` return the
    call of one lowered step (``s8`` also gets the quantized step)."""

    kinds: tuple[str, ...] = ()
    sources: ClassVar[dict[str, str]] = {}  # runtime function -> its source file in firmware_export/src

    def f32(self, lw: Lowering, step: Step) -> Call:
        """The float32 call of ``step``; each rule implements it."""
        raise NotImplementedError

    def s8(self, lw: Lowering, step: Step, q: QStep) -> Call:
        """The int8 call of ``step`` from its quantized step ``q``; each rule implements it."""
        raise NotImplementedError


def float_clamp(activation: str | None) -> tuple[str, str]:
    """C float literals of a fused clamp."""
    if activation == "relu":
        return "0.0f", "FLT_MAX"
    if activation == "relu6":
        return "0.0f", "6.0f"
    return "-FLT_MAX", "FLT_MAX"


def struct_definition(ctype: str, name: str, fields: Mapping[str, object]) -> str:
    """A ``static const`` argument struct with designated initializers (field names checked by
    the compiler, so a reordered header cannot silently shift values)."""
    body = ", ".join(f".{k} = {v}" for k, v in fields.items())
    return f"static const {ctype} {name} = {{{body}}};"

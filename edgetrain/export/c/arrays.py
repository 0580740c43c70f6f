"""Const C arrays for model data (weights, biases, quantization multipliers).

Arrays are ``const`` at file scope, so toolchains put them in ``.rodata`` (flash on a
microcontroller), and aligned to 4 bytes with ``ET_MODEL_ALIGNED`` (defined in model_data.h:
``__attribute__((aligned))`` on GCC/Clang, ``_Pragma``-free no-op elsewhere) so word loads of
int8 rows and float loads never straddle a misaligned start.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

C_TYPES = {
    np.dtype(np.float32): "float",
    np.dtype(np.int8): "int8_t",
    np.dtype(np.int32): "int32_t",
    # sparse index arrays (edgetrain.formats.sparse)
    np.dtype(np.uint8): "uint8_t",
    np.dtype(np.uint16): "uint16_t",
    np.dtype(np.uint32): "uint32_t",
}
PER_LINE = {"float": 6, "int8_t": 16, "int32_t": 8, "uint8_t": 16, "uint16_t": 12, "uint32_t": 8}


@dataclass(frozen=True)
class DataArray:
    """One const array. ``role``: weights | bias | eff_bias | multipliers | shifts, or ``idx_<name>``
    for a sparse layer's index arrays (row_ptr, cols, rows, gaps, bits; its values are ``weights``).
    ``condition``: a preprocessor symbol the array exists under (e.g. ET_FORCE_REF), or None."""

    name: str
    values: np.ndarray
    layer: str
    role: str
    condition: str | None = None

    @property
    def ctype(self) -> str:
        return C_TYPES[np.dtype(self.values.dtype)]

    @property
    def nbytes(self) -> int:
        return int(self.values.nbytes)

    def declaration(self) -> str:
        return f"extern const {self.ctype} {self.name}[{self.values.size}];"

    def definition(self) -> str:
        flat = self.values.reshape(-1)
        lits = [literal(v, self.ctype) for v in flat]
        per = PER_LINE[self.ctype]
        lines = ["    " + ", ".join(lits[i : i + per]) + "," for i in range(0, len(lits), per)]
        body = "\n".join(lines)
        return (f"const {self.ctype} {self.name}[{flat.size}] ET_MODEL_ALIGNED = {{\n{body}\n}};")


def literal(v: object, ctype: str) -> str:
    """Exact C literal. float: 9 significant digits round-trip every float32."""
    if ctype == "float":
        f = float(np.float32(v))
        if not np.isfinite(f):
            raise ValueError(f"non-finite model value {f}")
        return f"{f:.9e}f"
    i = int(v)  # type: ignore[call-overload]
    if ctype.startswith("uint"):
        return f"{i}u"
    if i == -(2**31):  # 2147483648 alone is not an int literal
        return "(-2147483647 - 1)"
    return str(i)


def c_identifier(name: str, taken: set[str]) -> str:
    """A C identifier derived from a tensor/layer name, unique within ``taken`` (updated)."""
    base = re.sub(r"\W", "_", name)
    if not base or base[0].isdigit():
        base = f"t_{base}"
    ident, k = base, 2
    while ident in taken:
        ident, k = f"{base}_{k}", k + 1
    taken.add(ident)
    return ident

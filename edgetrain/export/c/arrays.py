"""Const C arrays for model data (weights, biases, quantization multipliers).

Arrays are ``const`` at file scope, so toolchains put them in ``.rodata`` (flash on a
microcontroller), and aligned to 4 bytes with ``ET_MODEL_ALIGNED`` (defined in model_data.h:
``__attribute__((aligned))`` on GCC/Clang, ``_Pragma``-free no-op elsewhere) so word loads of
int8 rows and float loads never straddle a misaligned start.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import numpy as np

from ...errors import ExportError

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
    for a sparse layer's index arrays (row_ptr, cols, rows, gaps, bits; its values are ``weights``)
    and a clustered layer's packed indices (``idx_words``; its values are ``codebook`` and ``pairs``).
    ``condition``: a preprocessor symbol the array exists under (e.g. ET_FORCE_REF), or None."""

    name: str
    values: np.ndarray
    layer: str
    role: str
    condition: str | None = None

    @property
    def ctype(self) -> str:
        """The C element type of the array (from the values' numpy dtype, see `C_TYPES`)."""
        return C_TYPES[np.dtype(self.values.dtype)]

    @property
    def nbytes(self) -> int:
        """The array's size in bytes (its values' size; the alignment padding is not counted)."""
        return int(self.values.nbytes)

    def declaration(self) -> str:
        """The ``extern const`` declaration of the array, for a header."""
        return f"extern const {self.ctype} {self.name}[{self.values.size}];"

    def definition(self) -> str:
        """The aligned ``const`` definition with every value as an exact C literal.

        Raises ExportError if a float array holds NaN or infinity."""
        flat = self.values.reshape(-1)
        if self.ctype == "float" and not np.all(np.isfinite(flat.astype(np.float32))):
            bad = int(np.argmax(~np.isfinite(flat.astype(np.float32))))
            raise ExportError(
                f"C array {self.name} holds a non-finite value ({flat[bad]} at index {bad})",
                hint="the model's weights or statistics hold NaN or infinity (a diverged training "
                "run?): retrain or fix the model before exporting",
            )
        lits = [literal(v, self.ctype) for v in flat]
        per = PER_LINE[self.ctype]
        lines = ["    " + ", ".join(lits[i : i + per]) + "," for i in range(0, len(lits), per)]
        body = "\n".join(lines)
        return f"const {self.ctype} {self.name}[{flat.size}] ET_MODEL_ALIGNED = {{\n{body}\n}};"


def literal(v: float | np.number, ctype: str) -> str:
    """Exact C literal. float: 9 significant digits round-trip every float32."""
    if ctype == "float":
        f = float(np.float32(v))
        if not np.isfinite(f):
            raise ValueError(f"non-finite model value {f}")
        return f"{f:.9e}f"
    i = int(v)
    if ctype.startswith("uint"):
        return f"{i}u"
    if i == -(2**31):  # 2147483648 alone is not an int literal
        return "(-2147483647 - 1)"
    return str(i)


# Words a generated identifier must never be on its own: C99/C11/C23 keywords, the C++ keywords a
# header included from C++ would break on, and the standard macros spelled like identifiers.
RESERVED = frozenset(
    """
    auto break case char const continue default do double else enum extern float for goto if inline int long
    register restrict return short signed sizeof static struct switch typedef union unsigned void volatile while
    bool true false alignas alignof constexpr nullptr static_assert thread_local typeof typeof_unqual
    asm catch class delete explicit friend mutable namespace new operator private protected public template this
    throw try typeid typename using virtual wchar_t char8_t char16_t char32_t noexcept decltype concept requires
    NULL EOF errno assert offsetof
""".split()  # noqa: SIM905 - a word list reads better than a list literal
)
MAX_IDENT = 63  # C99 5.2.4.1: significant initial characters of an internal identifier
_HASH_CHARS = 8


def c_identifier(name: str, taken: set[str], *, forms: tuple[str, ...] = ("{}",), max_len: int = MAX_IDENT) -> str:
    """A C identifier derived from a tensor/layer name, unique within ``taken`` (updated).

    Any input gives ``[A-Za-z_][A-Za-z0-9_]*`` of at most ``max_len`` characters: every other
    character (non-ASCII, NUL, punctuation) becomes ``_``; a leading digit or underscore (names
    starting with ``_`` are reserved to the implementation) gets a ``t_`` prefix; a C or C++
    keyword gets a trailing ``_``. A name longer than ``max_len`` is cut and ends in a hash of
    the whole name, so long names that share a prefix stay distinct. Clashes get ``_2``, ``_3``...

    ``forms`` are the global symbols the caller derives from the identifier (``"et_p_{}"``...):
    the result is chosen so that none of them is in ``taken``, and all of them are added to it.
    Identical inputs give identical outputs (the hash is SHA-1, not Python's salted ``hash``).
    """
    base = re.sub(r"[^A-Za-z0-9_]", "_", name)
    if not base or base[0].isdigit() or base[0] == "_":
        base = f"t_{base}"
    if base in RESERVED:
        base += "_"
    if len(base) > max_len:
        digest = hashlib.sha1(name.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_CHARS]
        base = f"{base[: max_len - _HASH_CHARS - 1]}_{digest}"
    ident, k = base, 2
    while any(f.format(ident) in taken for f in forms):
        suffix = f"_{k}"
        ident, k = base[: max_len - len(suffix)] + suffix, k + 1
    taken.update(f.format(ident) for f in forms)
    return ident


COMMENT_MAX = 80  # characters of one name in a generated comment (the name is cut beyond)


def c_comment_text(text: object, max_len: int = COMMENT_MAX) -> str:
    """``text`` rendered so it can stand anywhere inside a C ``/* ... */`` comment.

    The result is printable ASCII only: non-ASCII characters become their UTF-8 bytes as
    ``\\xNN``, control characters (newlines, NUL, ...) and the backslash become ``\\xNN`` too,
    so no line ends inside it and no backslash-newline can splice the next line in. It contains
    no ``*/`` (that would end the comment), no ``/*`` (``-Wcomment``) and no ``??`` (a C99
    trigraph), and it neither starts nor ends with ``*``, ``/`` or ``?``, so whatever the
    template puts next to it cannot complete one of those pairs. Longer than ``max_len``
    characters, it is cut (on an escape boundary) and ends in ``...``.
    """
    pieces: list[str] = []
    prev = ""
    for ch in str(text):
        if ch == "\\" or not (" " <= ch <= "~"):
            pieces += [f"\\x{b:02x}" for b in ch.encode("utf-8", "surrogatepass")]
            prev = ""
            continue
        if (prev, ch) in (("*", "/"), ("/", "*"), ("?", "?")) or (not pieces and ch in "*/?"):
            pieces.append(f"\\x{ord(ch):02x}")
            prev = ""
            continue
        pieces.append(ch)
        prev = ch
    if pieces and pieces[-1] in ("*", "/", "?"):
        pieces[-1] = f"\\x{ord(pieces[-1]):02x}"
    out, n = [], 0
    for piece in pieces:
        if n + len(piece) > max_len:
            out.append("...")
            break
        out.append(piece)
        n += len(piece)
    return "".join(out)

"""The schema of the TOML training config: typed fields with ranges, key checks with did-you-mean.

`edgetrain.config` describes each table as a ``dict[str, Field]`` and runs it through `check_table`.
The option sets of the optimizers and techniques are read from the code that consumes them (the
optimizer constructors, the techniques' ``apply_*`` functions) so a new option cannot be refused,
or an old one accepted, by a stale list here.

Contract of every check: it returns the value (floats as ``float``) or raises a `ConfigError` whose
message is one line, starts with the key path (``cfg.toml: [train] epochs``) and shows the bad
value TOML-style (``true``, ``'10'``, ``nan``), and whose hint says what to write instead.
"""

from __future__ import annotations

import datetime
import difflib
import inspect
import math
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

from . import limits
from .errors import ConfigError

# seed and split_seed reach scikit-learn's random_state and NumPy's RandomState, which take
# 0 .. 2**32 - 1 only; the same bound on both keeps every seed valid everywhere it goes.
MAX_SEED = 2**32 - 1
# Residual blocks inside residual blocks: parsing and graph building recurse once per level, so a
# bound far above any real model (3 or 4 levels) keeps a hostile config from exhausting the stack.
MAX_NESTING = 32


def show(value: Any) -> str:
    """A value as the user wrote it in TOML (``true``, ``'10'``, ``inf``), at most 60 characters."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (datetime.date, datetime.time)):  # TOML dates and times (datetime is a date)
        text = value.isoformat()
    elif isinstance(value, dict):
        text = "a table"
    elif isinstance(value, list):
        text = "a list" if len(repr(value)) > 60 else repr(value)
    else:
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def is_number(value: Any) -> bool:
    """An int or float, not a bool (TOML's ``true`` is not 1)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class Field:
    """One key: its kind, its range, its default.

    kind: "int", "float", "str", "bool", "str_list" (a list of strings), "list", "table" (checked
    for their type only; the caller checks their contents) or "any" (numbers must be finite).
    lo/hi bound numbers (open ends with lo_open/hi_open); ``limit``
    names an `edgetrain.limits` limit as the upper bound, refused with the over-limit hint.
    ``choices`` (a tuple, or a callable returning one) restricts strings; ``what`` names them in
    the message ("unknown loss 'hinge'").
    """

    kind: str
    default: Any = None
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    limit: str | None = None
    choices: tuple[str, ...] | Callable[[], Iterable[str]] | None = None
    what: str = "value"
    hint: str | None = None  # replaces the generic "write a number..." hint of a wrong type
    example: Any = None  # shown in hints ("e.g. units = 32"); the default when not given

    def check(self, value: Any, where: str) -> Any:
        """`value` checked against this field; ``where`` is the key path (``cfg.toml: [train] epochs``)."""
        key = where.rsplit(" ", 1)[-1]
        if self.kind in ("int", "float"):
            return self._number(value, where, key)
        if self.kind == "str":
            if not isinstance(value, str):
                raise ConfigError(
                    f"{where} must be a string, got {show(value)}",
                    hint=self.hint or f'write a quoted string, e.g. {key} = "{self._example()}"',
                )
            if self.choices is not None:
                allowed = tuple(self.choices() if callable(self.choices) else self.choices)
                if value not in allowed:
                    raise ConfigError(f"{where}: unknown {self.what} {value!r}", hint=choice_hint(value, allowed))
            return value
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise ConfigError(
                    f"{where} must be true or false, got {show(value)}",
                    hint=f"write {key} = true or {key} = false, without quotes",
                )
            return value
        if self.kind in ("table", "list"):
            if not isinstance(value, dict if self.kind == "table" else list):
                raise ConfigError(f"{where} must be a {self.kind}, got {show(value)}", hint=self.hint)
            return value
        if self.kind == "str_list":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(
                    f"{where} must be a list of strings, got {show(value)}", hint=f'e.g. {key} = ["dense1", "dense2"]'
                )
            return list(value)
        if is_number(value) and not math.isfinite(value):
            raise ConfigError(f"{where} must be a finite number, got {show(value)}", hint=f"e.g. {key} = 1")
        return value

    def _example(self) -> Any:
        if self.example is not None:
            return self.example
        if self.default is not None:
            return self.default
        if self.choices is not None:
            return next(iter(self.choices() if callable(self.choices) else self.choices))
        return self.lo if self.lo is not None and not self.lo_open else 1

    def _number(self, value: Any, where: str, key: str) -> int | float:
        whole = self.kind == "int"
        noun = "a whole number" if whole else "a number"
        if not is_number(value):
            raise ConfigError(
                f"{where} must be {noun}, got {show(value)}",
                hint=self.hint or f"write {noun} without quotes, e.g. {key} = {self._example()}",
            )
        limit = self.limit
        cap = limits.limit(limit) if limit else None
        if limit and cap is not None and value > cap:  # also inf and 1e12 for an integer key: the size is the problem
            raise ConfigError(
                f"{where} is {show(value)}, over the limit {self.limit}={cap}", hint=limits.over_limit_hint(limit)
            )
        if not math.isfinite(value):
            raise ConfigError(
                f"{where} must be a finite number, got {show(value)}", hint=f"e.g. {key} = {self._example()}"
            )
        if whole and not isinstance(value, int):
            hint = (
                f"write {int(value)} (no decimal point)" if value == int(value) else f"e.g. {key} = {self._example()}"
            )
            raise ConfigError(f"{where} must be a whole number, got {show(value)}", hint=hint)
        hi = cap if cap is not None else self.hi
        low_bad = self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo)
        high_bad = hi is not None and (value >= hi if self.hi_open else value > hi)
        if low_bad or high_bad:
            raise ConfigError(
                f"{where} must be {self.range_text(hi)}, got {show(value)}", hint=f"e.g. {key} = {self._example()}"
            )
        return value if whole else float(value)

    def range_text(self, hi: float | None = None) -> str:
        """The accepted range: ``in [1, 1000000]``, ``in (0, 1)``, ``>= 0``, ``> 0``."""
        hi = self.hi if hi is None else hi
        if self.lo is not None and hi is not None:
            return f"in {'(' if self.lo_open else '['}{_num(self.lo)}, {_num(hi)}{')' if self.hi_open else ']'}"
        if self.lo is not None:
            return f"{'>' if self.lo_open else '>='} {_num(self.lo)}"
        return f"{'<' if self.hi_open else '<='} {_num(hi)}" if hi is not None else "a number"


def _num(x: float) -> str:
    """A bound as written in a config: 1000000, not 1e+06; 0.5; 1e-08."""
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e16 else f"{x:g}"


def choice_hint(value: Any, allowed: Iterable[str], label: str = "choose one of") -> str:
    """``did you mean 'x'? <label>: a, b, c`` (the suggestion only when one is close)."""
    allowed = list(allowed)
    close = difflib.get_close_matches(str(value), allowed, n=1)
    listed = f"{label}: {', '.join(allowed)}"
    return f"did you mean {close[0]!r}? {listed}" if close else listed


def first_unknown(table: Mapping[Any, Any], allowed: Iterable[str]) -> Any:
    """The first key of `table` (in the file's order) not in `allowed`, or None."""
    allowed = set(allowed)
    return next((k for k in table if k not in allowed), None)


def check_keys(table: Mapping[Any, Any], allowed: Iterable[str], where: str, section: str) -> None:
    """Refuse the first unknown key: ``cfg.toml: unknown key 'epoch' in [train]`` + did-you-mean.

    ``section`` names the table (``[train]``); "" is the top level."""
    allowed = sorted(allowed)
    key = first_unknown(table, allowed)
    if key is not None:
        place = f"in {section}" if section else "at the top level"
        raise ConfigError(f"{where}: unknown key {show(key)} {place}", hint=choice_hint(key, allowed, "allowed"))


def check_table(table: Mapping[str, Any], schema: Mapping[str, Field], where: str, section: str) -> dict[str, Any]:
    """The keys `table` sets, each checked by its field; unknown keys refused. Defaults are not filled in.

    ``section`` is how messages name the table: ``[train]``, ``[techniques.set]``; the top level is "".
    """
    check_keys(table, schema, where, section)
    prefix = f"{where}: {section} " if section else f"{where}: "
    return {k: schema[k].check(v, prefix + k) for k, v in table.items()}


def field_of_parameter(param: inspect.Parameter, hint: Any) -> Field:
    """The field of a keyword parameter from its type hint: float/int/str/bool, a sequence of str,
    each optionally ``| None`` (TOML has no null, so None only means "not given"); other hints
    accept any value whose numbers are finite. The default is the parameter's default."""
    default = None if param.default is inspect.Parameter.empty else param.default
    args = [a for a in typing.get_args(hint) if a is not type(None)] if typing.get_args(hint) else [hint]
    base = args[0] if len(args) == 1 else None
    kinds = {float: "float", int: "int", str: "str", bool: "bool"}
    if base in kinds:
        return Field(kinds[base], default=default)
    if typing.get_origin(base) in (Sequence, list, tuple) and typing.get_args(base)[:1] == (str,):
        return Field("str_list", default=default)
    return Field("any", default=default)


def keyword_fields(fn: Callable[..., Any], skip: Iterable[str] = ()) -> dict[str, Field]:
    """A field per parameter of `fn` (except ``self`` and `skip`), typed from its annotations."""
    hints = typing.get_type_hints(fn)
    params = inspect.signature(fn).parameters
    return {
        name: field_of_parameter(p, hints.get(name, Any))
        for name, p in params.items()
        if name not in ("self", *skip) and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }


# Optimizer options by name, with the ranges the update rules need (see engine/optim.py). An option
# of a future optimizer missing here is still accepted as a finite number.
OPTIMIZER_RANGES: dict[str, Field] = {
    # 1e3 is far above any learning rate that trains on standardised features (a step of that size
    # overflows float32 weights within a few updates); the bound only catches typos such as 3e30.
    "lr": Field("float", lo=0, lo_open=True, hi=1e3),
    "momentum": Field("float", lo=0, hi=1, hi_open=True),
    "beta1": Field("float", lo=0, hi=1, hi_open=True),
    "beta2": Field("float", lo=0, hi=1, hi_open=True),
    "eps": Field("float", lo=0, lo_open=True),
    "weight_decay": Field("float", lo=0),
}


@cache
def optimizer_schemas() -> dict[str, dict[str, Field]]:
    """Optimizer name -> its options: the keyword parameters of its constructor, ranges from
    `OPTIMIZER_RANGES`, defaults from the signature (``sgd`` has no ``beta1``, ``adam`` no ``momentum``)."""
    from .engine.optim import OPTIMIZERS

    out = {}
    for name, cls in OPTIMIZERS.items():
        # The constructor's own parameters (an optimizer class is never a subclass with another __init__).
        fields = keyword_fields(cls.__init__)  # type: ignore[misc]
        out[name] = {k: replace(OPTIMIZER_RANGES.get(k, Field("float")), default=f.default) for k, f in fields.items()}
    return out


@cache
def technique_schemas() -> dict[str, dict[str, Field] | None]:
    """Technique name -> its options (None: registered, options not known here, checked by the technique).

    The options of a technique are the keyword parameters of its ``apply_*`` function except
    ``graph`` and ``seed`` (those come from the run); their ranges are checked by the technique
    when it is applied, before any training.
    """
    from .techniques import TECHNIQUES
    from .techniques.cqkd import train_cqkd
    from .techniques.motif import apply_motif
    from .techniques.prune import apply_prune
    from .techniques.sparse_set import apply_set

    applies: dict[str, Callable[..., Any]] = {
        "set": apply_set,
        "motif": apply_motif,
        "prune": apply_prune,
        "cqkd": train_cqkd,
    }
    # A trainer technique's function also takes the data and the epochs: those come from the run too.
    run_given = ("graph", "seed", "data", "epochs")
    return {name: keyword_fields(applies[name], skip=run_given) if name in applies else None for name in TECHNIQUES}

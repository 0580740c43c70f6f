"""Old import paths and keyword names that keep working with a `DeprecationWarning`.

A module that moved leaves a shim at its old path whose only content is::

    __getattr__ = moved(__name__, "edgetrain.new.home")

Every name read from the shim (``from old.path import name`` or ``old.path.name``) is the very
object of the new home, imported on first use; the warning points at the line that read it.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from collections.abc import Callable, Collection, Mapping
from typing import Any


def moved(old: str, new: str, names: Collection[str] | None = None) -> Callable[[str], Any]:
    """A module ``__getattr__`` for the shim ``old``, handing out the names of module ``new``
    (only ``names`` when given: a module that keeps its other names and lost these)."""

    def __getattr__(name: str) -> Any:
        if (name.startswith("__") and name != "__all__") or (names is not None and name not in names):
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        target = importlib.import_module(new)
        try:
            value = getattr(target, name)
        except AttributeError:
            raise AttributeError(f"module {old!r} has no attribute {name!r} (it moved to {new!r})") from None
        if name != "__all__":
            warnings.warn(f"{old}.{name} moved: import it from {new}", DeprecationWarning, stacklevel=2)
        return value

    return __getattr__


def renamed(module: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for the names of ``module`` that were renamed in place (old -> new)."""

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        warnings.warn(f"{module}.{name} is now {module}.{names[name]}", DeprecationWarning, stacklevel=2)
        return getattr(sys.modules[module], names[name])

    return __getattr__


def renamed_keyword(function: str, extra: Mapping[str, Any], old: str, new: str, value: Any, default: Any) -> Any:
    """The value of keyword ``new`` in a call whose leftover ``**extra`` may hold its old name ``old``.

    ``value`` is what the call has for ``new`` (``default`` when not given). The old name warns;
    both names, or any other unknown keyword, are a TypeError as Python would raise it.
    """
    unknown = sorted(set(extra) - {old})
    if unknown:
        raise TypeError(f"{function}() got an unexpected keyword argument {unknown[0]!r}")
    if old not in extra:
        return value
    if value is not default:
        raise TypeError(f"{function}() got both {old!r} and its new name {new!r}")
    warnings.warn(f"{function}(): the keyword {old!r} is now {new!r}", DeprecationWarning, stacklevel=3)
    return extra[old]


def required_keyword(function: str, extra: Mapping[str, Any], old: str, new: str, value: Any) -> Any:
    """`renamed_keyword` for a required argument whose signature default is None: the call must
    give ``new`` (or, with a warning, ``old``)."""
    value = renamed_keyword(function, extra, old, new, value, None)
    if value is None:
        raise TypeError(f"{function}() missing 1 required argument: {new!r}")
    return value

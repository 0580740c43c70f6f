"""The technique registry: `register` (used by each technique module), `apply_techniques` and the
`TechniquePlan` they fill. Kept out of the package ``__init__`` so the technique modules, which the
package imports to register them, do not import the package back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError

Setup = Callable[..., None]
TECHNIQUES: dict[str, Setup] = {}


@dataclass
class TechniquePlan:
    """What the techniques' setups add to a training run: ``callbacks`` for the trainer, a ``loss``
    replacing the configured one, a ``trainer_fit`` replacing `fit` (called with fit's arguments), a
    ``finalize`` applied to the trained graph, and ``reports`` (label -> text) for the run's summary."""

    callbacks: list[Any] = field(default_factory=list)
    loss: Any = None
    trainer_fit: Callable[..., Any] | None = None
    finalize: Callable[..., Any] | None = None
    reports: dict[str, Any] = field(default_factory=dict)


def register(name: str) -> Callable[[Setup], Setup]:
    """Decorator: register a technique's setup function under ``name`` in ``TECHNIQUES``."""

    def deco(fn: Setup) -> Setup:
        TECHNIQUES[name] = fn
        return fn

    return deco


def apply_techniques(graph, options: dict[str, dict[str, Any]], *, data=None, seed: int = 0) -> TechniquePlan:
    """Set up every technique in ``options`` (name -> its options) on ``graph``; returns the
    resulting plan."""
    plan = TechniquePlan()
    for name, opts in options.items():
        if name not in TECHNIQUES:
            known = ", ".join(sorted(TECHNIQUES)) or "none yet"
            raise ConfigError(f"unknown technique {name!r}", hint=f"available: {known}")
        if not isinstance(opts, dict):
            raise ConfigError(f"[techniques.{name}] must be a table")
        TECHNIQUES[name](graph, dict(opts), plan=plan, data=data, seed=seed)
    return plan

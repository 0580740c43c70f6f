"""Edge techniques: graph transforms and training hooks, selected by [techniques.<name>] in a config.

Each technique module registers a function ``setup(graph, options, plan, data, seed)`` that may
transform the graph (masks, codebooks, exits) and add callbacks, a loss, a whole trainer, or a
finalisation step to the `TechniquePlan`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import ConfigError

Setup = Callable[..., None]
TECHNIQUES: dict[str, Setup] = {}


@dataclass
class TechniquePlan:
    callbacks: list[Any] = field(default_factory=list)
    loss: Any = None
    trainer_fit: Callable[..., Any] | None = None
    finalize: Callable[..., Any] | None = None
    reports: dict[str, Any] = field(default_factory=dict)


def register(name: str) -> Callable[[Setup], Setup]:
    def deco(fn: Setup) -> Setup:
        TECHNIQUES[name] = fn
        return fn

    return deco


def apply_techniques(graph, options: dict[str, dict[str, Any]], *, data=None, seed: int = 0) -> TechniquePlan:
    plan = TechniquePlan()
    for name, opts in options.items():
        if name not in TECHNIQUES:
            known = ", ".join(sorted(TECHNIQUES)) or "none yet"
            raise ConfigError(f"unknown technique {name!r}", hint=f"available: {known}")
        if not isinstance(opts, dict):
            raise ConfigError(f"[techniques.{name}] must be a table")
        TECHNIQUES[name](graph, dict(opts), plan=plan, data=data, seed=seed)
    return plan


# Technique modules register themselves on import.
from . import motif, prune, sparse_set  # noqa: E402,F401

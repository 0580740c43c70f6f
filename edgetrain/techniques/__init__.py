"""Edge techniques: graph transforms and training hooks, selected by [techniques.<name>] in a config.

Each technique module registers a function ``setup(graph, options, plan, data, seed)`` that may
transform the graph (masks, codebooks, exits) and add callbacks, a loss, a whole trainer, or a
finalisation step to the `TechniquePlan`.
"""

from __future__ import annotations

# Technique modules register themselves on import.
from . import cqkd, motif, prune, sparse_set  # noqa: F401
from .base import TECHNIQUES, Setup, TechniquePlan, apply_techniques, register

__all__ = ["TECHNIQUES", "Setup", "TechniquePlan", "apply_techniques", "register"]

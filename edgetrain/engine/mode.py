"""The forward mode: inference (the default) or training, and the state a training forward updates.

Most op rules compute the same function in both modes. Those that do not (``batch_norm``:
batch statistics while training, running statistics otherwise) read :func:`forward_mode`. A
training forward may also update non-trainable state (running statistics): the rule records the
new value by parameter name with :meth:`ForwardMode.update`, and the engine that opened the mode
writes the recorded values into the graph's parameters once the forward has run
(:func:`apply_updates`), so an op rule never mutates a parameter it was handed.

The executor runs a forward in training mode when it is given a backward schedule, and the
compiled training step always does, so both training paths see the same mode and make the same
updates.

This module imports nothing from the op registry: op rules import it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ..graph import Graph


@dataclass
class ForwardMode:
    """Whether the forward trains, and the state updates its op rules recorded."""

    training: bool = False
    updates: dict[str, np.ndarray] = field(default_factory=dict)  # parameter name -> new value
    # Parameters that do not train in this step: a layer whose parameters are all frozen behaves
    # as in inference (a frozen batch_norm keeps its running statistics and uses them).
    frozen: frozenset[str] = frozenset()

    def trains(self, *params: str) -> bool:
        """Whether this is a training forward in which any of ``params`` trains."""
        return self.training and any(p not in self.frozen for p in params)

    def update(self, param: str, value: np.ndarray) -> None:
        """Record a new value for the (non-trainable) parameter named ``param``. Ignored in
        inference mode, which updates no state."""
        if self.training:
            self.updates[param] = value


_INFERENCE = ForwardMode()
_MODE: ContextVar[ForwardMode] = ContextVar("edgetrain_forward_mode", default=_INFERENCE)


def forward_mode() -> ForwardMode:
    """The mode of the forward running now (inference unless an engine opened a training one)."""
    return _MODE.get()


@contextmanager
def training_forward(training: bool = True, graph: Graph | None = None) -> Iterator[ForwardMode]:
    """Run the block's forward in training mode (or, with ``training=False``, in inference mode);
    yields the mode whose ``updates`` the caller applies with :func:`apply_updates`. With
    ``graph``, its non-trainable parameters are the mode's ``frozen`` ones."""
    frozen = frozenset(n for n, p in graph.params.items() if not p.trainable) if graph is not None else frozenset()
    mode = ForwardMode(training=training, frozen=frozen)
    token = _MODE.set(mode)
    try:
        yield mode
    finally:
        _MODE.reset(token)


def apply_updates(graph: Graph, mode: ForwardMode) -> None:
    """Write the state updates ``mode`` recorded into ``graph``'s parameters, in place (the
    parameter keeps its dtype: arrays that alias it see the new value)."""
    for name, value in mode.updates.items():
        np.copyto(graph.params[name].value, value, casting="same_kind")
    mode.updates.clear()

"""Optimizers updating parameter storage in place; masks are re-imposed after every step.

The update rules are the contract shared with the ONNX train-step graph and the C runtime:
  SGD:  v = momentum * v + (g + wd * w);  w -= lr * v          (v omitted when momentum == 0)
  Adam: g' = g + wd * w; m = b1 m + (1-b1) g'; v = b2 v + (1-b2) g'^2;
        w -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ..graph import Graph


class Optimizer:
    """Base of the optimizers: the learning rate, the state buffers of each parameter (by name) and the
    step count ``t``; subclasses implement :meth:`update` by the rules of the module docstring."""

    name = ""

    def __init__(self, lr: float) -> None:
        if not lr > 0:
            raise ConfigError(f"learning rate must be positive, got {lr}")
        self.lr = float(lr)
        self.state: dict[str, dict[str, np.ndarray]] = {}
        self.t = 0

    def step(self, graph: Graph, grads: dict[str, np.ndarray]) -> None:
        """Apply one update to every parameter of ``graph`` named in ``grads`` (its stored values: a
        clustered weight's codebook) and re-apply its constraints; advances the step count."""
        self.t += 1
        for name, g in grads.items():
            p = graph.params[name]
            self.update(name, p.storage(), g)
            p.apply_constraints()

    def update(self, name: str, w: np.ndarray, g: np.ndarray) -> None:
        """Update ``w`` (parameter ``name``) in place from its gradient ``g``; subclasses implement
        it."""
        raise NotImplementedError

    def reset_state(self, name: str, where: np.ndarray | None = None) -> None:
        """Zero the optimizer state of a parameter (everywhere, or where `where` is True)."""
        for buf in self.state.get(name, {}).values():
            if where is None:
                buf[...] = 0
            else:
                buf[where] = 0

    def config(self) -> dict:
        """The optimizer's settings as stored with a model: its name and learning rate (subclasses
        add theirs)."""
        return {"name": self.name, "lr": self.lr}


class SGD(Optimizer):
    """SGD with optional momentum (a velocity buffer per parameter) and weight decay added to the gradient."""

    name = "sgd"

    def __init__(self, lr: float = 0.01, momentum: float = 0.0, weight_decay: float = 0.0) -> None:
        super().__init__(lr)
        self.momentum = float(momentum)
        self.weight_decay = float(weight_decay)
        self._scratch: dict[str, np.ndarray] = {}

    def update(self, name, w, g):
        """One SGD step on ``w`` in place: weight decay added to ``g``, then momentum (a velocity
        per parameter) when set."""
        if self.weight_decay:
            g = g + self.weight_decay * w
        if self.momentum:
            st = self.state.setdefault(name, {"velocity": np.zeros_like(w)})
            v = st["velocity"]
            v *= self.momentum
            v += g
            g = v
        # A reused scratch buffer: a fresh lr*g temporary per step costs as much as the update.
        scratch = self._scratch.get(name)
        if scratch is None or scratch.shape != w.shape or scratch.dtype != w.dtype:
            scratch = self._scratch[name] = np.empty_like(w)
        np.multiply(g, self.lr, out=scratch)
        w -= scratch

    def config(self):
        """The base settings plus ``momentum`` and ``weight_decay``."""
        return {**super().config(), "momentum": self.momentum, "weight_decay": self.weight_decay}


class Adam(Optimizer):
    """Bias-corrected Adam, weight decay added to the gradient (not decoupled from it)."""

    name = "adam"

    def __init__(
        self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8, weight_decay: float = 0.0
    ) -> None:
        super().__init__(lr)
        self.beta1, self.beta2 = float(beta1), float(beta2)
        self.eps, self.weight_decay = float(eps), float(weight_decay)

    def update(self, name, w, g):
        """One bias-corrected Adam step on ``w`` in place, with weight decay added to ``g`` when
        set."""
        if self.weight_decay:
            g = g + self.weight_decay * w
        st = self.state.setdefault(name, {"m": np.zeros_like(w), "v": np.zeros_like(w)})
        m, v = st["m"], st["v"]
        m *= self.beta1
        m += (1 - self.beta1) * g
        v *= self.beta2
        v += (1 - self.beta2) * (g * g)
        mhat = m / (1 - self.beta1**self.t)
        vhat = v / (1 - self.beta2**self.t)
        w -= (self.lr * mhat / (np.sqrt(vhat) + self.eps)).astype(w.dtype, copy=False)

    def config(self):
        """The base settings plus ``beta1``, ``beta2``, ``eps`` and ``weight_decay``."""
        return {
            **super().config(),
            "beta1": self.beta1,
            "beta2": self.beta2,
            "eps": self.eps,
            "weight_decay": self.weight_decay,
        }


OPTIMIZERS = {"sgd": SGD, "adam": Adam}


def make_optimizer(name: str, **kwargs) -> Optimizer:
    """A new optimizer by (case-insensitive) name with ``kwargs``; ConfigError for an unknown name."""
    try:
        cls = OPTIMIZERS[name.lower()]
    except KeyError:
        raise ConfigError(f"unknown optimizer {name!r}", hint=f"choose one of: {', '.join(OPTIMIZERS)}") from None
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise ConfigError(f"bad option for optimizer {name!r}: {e}") from None

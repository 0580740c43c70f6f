"""Losses: each returns (mean loss over the batch, gradient w.r.t. the model output)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from ..errors import ConfigError


def log_softmax(z: np.ndarray) -> np.ndarray:
    """Numerically stable log-softmax over the last axis."""
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def softmax(z: np.ndarray) -> np.ndarray:
    """Softmax over the last axis (exp of `log_softmax`)."""
    return np.exp(log_softmax(z))


class Loss(Protocol):
    """A training loss: called with the model output and the targets, it returns the batch's mean loss
    and its gradient w.r.t. the output; ``name`` is how a config names it."""

    name: str

    def __call__(self, output: np.ndarray, target: np.ndarray, x: np.ndarray | None = None) -> tuple[float, np.ndarray]:
        """The mean loss of ``output`` against ``target`` and its gradient with respect to
        ``output``; ``x`` is the input batch, for losses that need it."""


class LossWithOut(Protocol):
    """A `Loss` that can write its gradient into ``out`` (``uses_out = True``; see `takes_out`)."""

    name: str
    uses_out: bool

    def __call__(
        self, output: np.ndarray, target: np.ndarray, x: np.ndarray | None = None, out: np.ndarray | None = None
    ) -> tuple[float, np.ndarray]:
        """As `Loss`, with the gradient written into ``out`` when given (and returned)."""


def takes_out(loss: object) -> bool:
    """Whether `loss` can write its gradient into a preallocated `out` array (see CrossEntropy)."""
    return bool(getattr(loss, "uses_out", False))


class CrossEntropy:
    """Softmax cross-entropy from logits with integer class labels."""

    name = "cross_entropy"
    uses_out = True

    def __call__(self, logits, labels, x=None, out=None):
        """`out` (optional, the shape and dtype of `logits`) receives the gradient."""
        n = logits.shape[0]
        rows = np.arange(n)
        labels = np.asarray(labels, dtype=np.int64)
        # One pass of small numpy ops in one array: at batch 32 the Python overhead and the
        # temporaries cost as much as the math (hence also ufunc.reduce, not the .max/.sum wrappers).
        z = np.subtract(logits, np.maximum.reduce(logits, axis=-1, keepdims=True), out=out)
        picked = z[rows, labels].sum()
        e = np.exp(z, out=z)
        s = np.add.reduce(e, axis=-1, keepdims=True)
        loss = float((np.log(s[:, 0]).sum() - picked) / n)
        grad = np.divide(e, s, out=e)
        grad[rows, labels] -= 1
        grad /= n
        return loss, grad.astype(logits.dtype, copy=False)


class MSE:
    """Mean over the batch of the mean squared error per sample; integer labels become one-hot."""

    name = "mse"

    def __call__(self, pred, target, x=None):
        """Mean squared error of ``pred`` against ``target`` (integer labels are one-hot encoded
        first) and its gradient, in ``pred``'s dtype."""
        target = np.asarray(target)
        if target.ndim == 1 and pred.ndim == 2:
            target = np.eye(pred.shape[1], dtype=pred.dtype)[target.astype(np.int64)]
        diff = pred - target.astype(pred.dtype)
        loss = float((diff**2).mean())
        return loss, (2.0 * diff / diff.size).astype(pred.dtype, copy=False)


class Distillation:
    """Knowledge distillation: (1-alpha) CE(y, z_s) + alpha T^2 KL(softmax(z_t/T) || softmax(z_s/T)).

    ``teacher`` maps a batch of inputs to logits (a Graph via `teacher_logits`, or any callable).
    """

    name = "distillation"

    def __init__(self, teacher, temperature: float = 4.0, alpha: float = 0.9) -> None:
        if temperature <= 0 or not 0 <= alpha <= 1:
            raise ConfigError("distillation needs temperature > 0 and 0 <= alpha <= 1")
        self.teacher = teacher
        self.T = float(temperature)
        self.alpha = float(alpha)
        self._ce = CrossEntropy()

    def __call__(self, logits, labels, x=None):
        """The distillation loss of the student ``logits`` and its gradient, querying the teacher on
        ``x``; ConfigError when ``x`` is None."""
        if x is None:
            raise ConfigError("distillation loss needs the input batch to query the teacher")
        zt = np.asarray(self.teacher(x), dtype=logits.dtype)
        return self.from_teacher_logits(logits, labels, zt)

    def from_teacher_logits(self, logits, labels, zt):
        """The distillation loss and its gradient with respect to ``logits`` given the teacher's
        logits ``zt`` for the same batch."""
        n, T, a = logits.shape[0], self.T, self.alpha
        ce, dce = self._ce(logits, labels)
        pt = softmax(zt / T)
        logps = log_softmax(logits / T)
        kl = float((pt * (np.log(np.clip(pt, 1e-30, None)) - logps)).sum(axis=-1).mean())
        dkl = T * (np.exp(logps) - pt) / n  # d(T^2 KL)/dz_s
        return (1 - a) * ce + a * T * T * kl, ((1 - a) * dce + a * dkl).astype(logits.dtype, copy=False)


LOSSES: dict[str, Callable[[], Loss]] = {"cross_entropy": CrossEntropy, "mse": MSE}


def get_loss(name: str) -> Loss:
    """A new loss by name (a key of ``LOSSES``); ConfigError for an unknown name."""
    try:
        return LOSSES[name]()
    except KeyError:
        raise ConfigError(f"unknown loss {name!r}", hint=f"choose one of: {', '.join(LOSSES)}") from None

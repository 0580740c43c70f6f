"""Windows over long recordings: ``[data] window = N, stride = M``.

A recording is a ``[time, channels]`` array (a CSV: one time step per row) with labels either
per time step (one per row) or per window. Window ``i`` covers time steps
``i * stride .. i * stride + window - 1``; the last partial window is dropped. Contract:

* per-step labels: a window's label is the label most of its steps carry; a tie goes to the
  smallest class id (documented, so the result never depends on the order of the steps);
* per-window labels: exactly one label per complete window;
* the windows are samples of shape ``(window, channels)`` (a 1-D CNN's input, channels last).

Overlapping windows (``stride < window``) share time steps; split at random into train and test,
neighbouring windows land on both sides, so the test figure is optimistic. The split says so in
its notes.
"""

from __future__ import annotations

import numpy as np

from . import limits
from .errors import DataError


def window_count(steps: int, window: int, stride: int) -> int:
    """Complete windows of ``window`` steps, ``stride`` apart, in ``steps`` time steps."""
    return 0 if steps < window else (steps - window) // stride + 1


def make_windows(
    x: np.ndarray,
    y: np.ndarray,
    window: int,
    stride: int,
    *,
    source: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Cut ``x`` of shape (time, channels) (or (time,)) into windows; labels per step or per window.

    ``y`` holds class ids (text labels are encoded before this). Returns ``(windows, labels)``
    with windows of shape (n, window, channels). Refused (`DataError`): a window or stride below 1,
    features that are not one recording, fewer steps than one window, and a label count that is
    neither the step count nor the window count.
    """
    if window < 1 or stride < 1:
        raise DataError(
            f"{source}: window = {window} and stride = {stride} must both be at least 1",
            hint="e.g. window = 64, stride = 32 in [data]",
        )
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise DataError(
            f"{source}: windowing needs one recording of shape (time, channels), got shape {x.shape}",
            hint="drop window/stride from [data] for data already cut into samples",
        )
    steps = len(x)
    n = window_count(steps, window, stride)
    if n == 0:
        raise DataError(
            f"{source}: the recording has {steps} time steps, fewer than one window of {window}",
            hint="use a smaller window, or a longer recording",
        )
    if y.ndim != 1 or len(y) not in (steps, n):
        raise DataError(
            f"{source}: {len(y) if y.ndim == 1 else y.shape} labels for {steps} time steps and "
            f"{n} windows (window {window}, stride {stride})",
            hint="give one label per time step (row) or one per window",
        )
    starts = np.arange(n) * stride
    # (n, channels, window) view, no copy until the transpose is materialised.
    view = np.lib.stride_tricks.sliding_window_view(x, window, axis=0)[starts]
    windows = np.ascontiguousarray(np.transpose(view, (0, 2, 1)))
    if len(y) == n and len(y) != steps:
        return windows, y
    return windows, _majority(y, starts, window)


def _majority(y: np.ndarray, starts: np.ndarray, window: int) -> np.ndarray:
    """The most common label in each window (ties: the smallest id), from cumulative counts.

    Labels are class ids; anything else is left to `check_samples` (a negative or fractional id
    is refused there with its row), so here they only need to be whole and non-negative to count.
    """
    if y.dtype.kind == "f" and not np.all(np.isfinite(y) & (np.mod(y, 1) == 0)):
        return y[starts]  # not class ids: let check_samples name the bad one
    ids = y.astype(np.int64)
    if (ids < 0).any():
        return y[starts]
    k = int(ids.max()) + 1
    if k > limits.limit("MAX_UNITS"):
        return y[starts]  # more classes than any model has outputs: check_samples refuses it
    counts = np.empty((len(starts), k), dtype=np.int64)
    for c in range(k):  # one running count per class: memory of one recording, not recording x classes
        run = np.concatenate(([0], np.cumsum(ids == c)))
        counts[:, c] = run[starts + window] - run[starts]
    return counts.argmax(axis=1).astype(np.int64)  # argmax returns the first (smallest id) maximum

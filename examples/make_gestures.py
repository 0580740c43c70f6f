"""Generate a synthetic accelerometer-gesture data set: windows of 3-axis motion, one class per
gesture, as an .npz that `edgetrain train` / `eval --data` read (x: (N, length, 3) float32 in
m/s^2, channels last; y: class ids).

Each class is a motion template (a smooth trajectory of the three axes over the window). Every
sample is its class's template after a random time warp (the gesture made faster or slower,
starting a little earlier or later), a random gain per axis (the sensor mounted at a slightly
different angle, a stronger or weaker movement), an offset (gravity on a tilted axis) and sensor
noise. Nothing is downloaded; the same seed gives the same file.

Usage: python examples/make_gestures.py OUT.npz|OUT.csv [--per-class N] [--length L] [--seed S] [--mount DEG]

A .csv gets one window per line: a header, the values in row-major order (time step, then axis:
192 columns for 64 x 3) and the gesture's name in a last column `gesture` (text labels).
``--mount DEG`` turns the sensor by DEG degrees about its z axis (the same gestures as a sensor
mounted differently sees them): data to adapt a trained model to on the device.
"""
from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np

AXES = 3
#: The gestures, each a function of phase t in [0, 1] returning the three axes.
TEMPLATES = {
    "idle": lambda t: np.stack([0 * t, 0 * t, 0 * t]),
    "shake": lambda t: np.stack([np.sin(2 * np.pi * 4 * t), 0.2 * np.sin(2 * np.pi * 8 * t), 0 * t]),
    "circle": lambda t: np.stack([np.cos(2 * np.pi * t), np.sin(2 * np.pi * t), 0 * t]),
    "tap": lambda t: np.stack([0 * t, 0 * t, 3 * np.exp(-((t - 0.5) / 0.04) ** 2)]),
    "swipe_right": lambda t: np.stack([np.tanh(8 * (t - 0.5)), 0 * t, 0.3 * np.sin(np.pi * t)]),
    "swipe_up": lambda t: np.stack([0 * t, np.tanh(8 * (t - 0.5)), 0.3 * np.sin(np.pi * t)]),
    "wave": lambda t: np.stack([0.5 * np.sin(2 * np.pi * 2 * t), np.sin(2 * np.pi * 2 * t + 1.0), 0 * t]),
    "flip": lambda t: np.stack([0 * t, np.sin(np.pi * t), -np.cos(np.pi * t)]),
}


def make_gestures(per_class: int = 200, length: int = 64, seed: int = 0, *, noise: float = 0.3,
                  warp: float = 0.4, gain: float = 0.4) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(x, y, class names): ``per_class`` windows of ``length`` samples for each gesture, shuffled.

    ``warp`` is the largest relative change of speed and start, ``gain`` of each axis' gain, and
    ``noise`` the standard deviation of the sensor noise (the templates peak near 1).
    """
    if per_class < 1 or length < 8:
        raise ValueError("per_class must be >= 1 and length >= 8")
    rng = np.random.default_rng(seed)
    names = list(TEMPLATES)
    xs, ys = [], []
    grid = np.linspace(0.0, 1.0, length)
    for label, name in enumerate(names):
        speed = 1.0 + rng.uniform(-warp, warp, per_class)
        start = rng.uniform(-warp / 2, warp / 2, per_class)
        phase = np.clip((grid[None, :] - 0.5) * speed[:, None] + 0.5 + start[:, None], 0.0, 1.0)
        motion = np.stack([TEMPLATES[name](p) for p in phase])  # (n, axes, length)
        gains = 1.0 + rng.uniform(-gain, gain, (per_class, AXES, 1))
        offset = rng.normal(0.0, 0.1, (per_class, AXES, 1))
        window = motion * gains + offset + rng.normal(0.0, noise, motion.shape)
        xs.append(np.transpose(window, (0, 2, 1)))  # channels last: (n, length, axes)
        ys.append(np.full(per_class, label))
    order = rng.permutation(per_class * len(names))
    x = (np.concatenate(xs) * 9.81).astype(np.float32)[order]
    y = np.concatenate(ys).astype(np.int64)[order]
    return x, y, names


def mounted(x: np.ndarray, degrees: float) -> np.ndarray:
    """The windows as a sensor turned by ``degrees`` about its z axis records them."""
    a = np.deg2rad(degrees)
    rot = np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]], np.float32)
    return (x @ rot.T).astype(np.float32)


def to_csv(x: np.ndarray, y: np.ndarray, names: list[str]) -> bytes:
    """One window per line: the values row-major (time step, then axis), then the gesture's name."""
    flat = x.reshape(len(x), -1)
    header = ",".join([f"t{t}_{a}" for t in range(x.shape[1]) for a in "xyz"[:x.shape[2]]] + ["gesture"])
    lines = [header] + [",".join(f"{v:.4f}" for v in row) + f",{names[k]}" for row, k in zip(flat, y)]
    return ("\n".join(lines) + "\n").encode()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the .npz or .csv file to write")
    parser.add_argument("--per-class", type=int, default=200)
    parser.add_argument("--length", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mount", type=float, default=0.0, help="turn the sensor by this many degrees")
    args = parser.parse_args(argv)
    from edgetrain.outputs import write_file

    x, y, names = make_gestures(args.per_class, args.length, args.seed)
    if args.mount:
        x = mounted(x, args.mount)
    if args.out.suffix == ".csv":
        write_file(args.out, to_csv(x, y, names))
    else:
        buf = io.BytesIO()
        np.savez(buf, x=x, y=y)
        write_file(args.out, buf.getvalue())
    print(f"wrote {args.out}: {len(y)} windows of {args.length} x {AXES} axes, {len(names)} classes "
          f"({', '.join(names)})")


if __name__ == "__main__":
    main()

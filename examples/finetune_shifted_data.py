"""Write a *shifted* copy of the digits splits a model was trained on: every 8x8 image moved one
column to the right (a camera or sensor mounted slightly off), raw pixel values, as .npz files
that `edgetrain finetune --data` / `edgetrain eval --data` standardise like the training data.

Usage: python examples/finetune_shifted_data.py MODEL.etm OUT_DIR [COLUMNS]
Writes OUT_DIR/shifted_train.npz (what the device sees and trains on) and
OUT_DIR/shifted_test.npz (held out, for the accuracy before and after).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from edgetrain.data import load_data
from edgetrain.formats.modelfile import load_model


def shift_columns(raw: np.ndarray, k: int) -> np.ndarray:
    """Move 8x8 images k columns right; the uncovered columns are blank (0)."""
    img = raw.reshape(-1, 8, 8)
    out = np.zeros_like(img)
    out[:, :, k:] = img[:, :, : 8 - k]
    return out.reshape(len(raw), 64)


def main() -> None:
    model, out_dir = sys.argv[1], Path(sys.argv[2])
    k = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    pre = load_model(model).meta["preprocess"]
    data = load_data("digits", **{key: pre[key] for key in ("seed", "test_size", "val_size") if key in pre})
    out_dir.mkdir(parents=True, exist_ok=True)
    for split in ("train", "test"):
        s = data.split(split)
        raw = s.x * data.std + data.mean  # back to pixel values 0..16
        np.savez(out_dir / f"shifted_{split}.npz", x=shift_columns(raw, k), y=s.y)
        print(f"wrote {out_dir / f'shifted_{split}.npz'} ({len(s.y)} samples, shifted {k} column)")


if __name__ == "__main__":
    main()

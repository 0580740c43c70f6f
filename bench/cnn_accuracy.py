"""Test accuracy of the example CNNs against MLPs on the same data, seeds 0-2.

* digits (8x8 images, the bundled split): examples/digits_cnn.toml against examples/digits_mlp.toml
  (64-32-10);
* synthetic gestures (examples/make_gestures.py defaults: 1,600 windows of 64 x 3, 8 classes):
  examples/gestures_cnn.toml (1-D CNN) against the same config with a 192-32-8 MLP (the window
  flattened).

Each model is trained with its config's optimizer, epochs and early stopping; the same seed gives
the same split and initialisation. Also prints parameters and MACs per sample (as `edgetrain info` counts them).

    .venv/bin/python bench/cnn_accuracy.py          # table
    .venv/bin/python bench/cnn_accuracy.py --json   # machine-readable
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples"))

from edgetrain.config import load_config  # noqa: E402
from edgetrain.layers import Dense, Layer  # noqa: E402
from edgetrain.model_report import layer_rows  # noqa: E402
from edgetrain.train_run import train_from_config  # noqa: E402
from make_gestures import main as make_gestures  # noqa: E402

SEEDS = (0, 1, 2)


def configs(tmp: Path) -> dict[str, tuple[str, object]]:
    make_gestures([str(tmp / "gestures.npz")])
    digits_cnn, digits_mlp = load_config(ROOT / "examples/digits_cnn.toml"), load_config(ROOT / "examples/digits_mlp.toml")
    gestures_cnn = load_config(ROOT / "examples/gestures_cnn.toml")
    gestures_cnn.data["source"] = str(tmp / "gestures.npz")
    gestures_mlp = copy.deepcopy(gestures_cnn)
    gestures_mlp.layers = [Layer("flatten"), Dense(32, "relu"), Dense(8)]
    gestures_mlp.name = "gestures_mlp"
    return {"digits CNN (digits_cnn.toml)": ("digits", digits_cnn), "digits MLP 64-32-10 (digits_mlp.toml)":
            ("digits", digits_mlp), "gestures 1-D CNN (gestures_cnn.toml)": ("gestures", gestures_cnn),
            "gestures MLP 192-32-8": ("gestures", gestures_mlp)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, (data, cfg) in configs(Path(tmp)).items():
            results = [train_from_config(cfg, seed=s) for s in SEEDS]
            layers = layer_rows(results[0].graph)
            rows.append({"model": label, "data": data, "accuracy": [r.test_accuracy for r in results],
                         "params": sum(r["params"] for r in layers), "macs": sum(r["macs"] for r in layers)})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    t = Table(title="test accuracy, seeds 0 / 1 / 2 (same split per data set)")
    for c in ("model", "seed 0", "seed 1", "seed 2", "mean", "params", "MACs/sample"):
        t.add_column(c, justify="left" if c == "model" else "right")
    for r in rows:
        t.add_row(r["model"], *(f"{a:.2%}" for a in r["accuracy"]), f"{statistics.mean(r['accuracy']):.2%}",
                  f"{r['params']:,}", f"{r['macs']:,}")
    Console().print(t)
    return 0


if __name__ == "__main__":
    sys.exit(main())

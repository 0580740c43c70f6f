"""A DS-CNN-sized keyword-spotting model on an emulated STM32F405 (QEMU): flash, arena and
instructions per inference, int8 and float32.

The model is the shape of the "DS-CNN small" keyword spotter (MLPerf Tiny's KWS model): a 49x10
MFCC input, conv 10x4 stride 2 to 64 channels, four depthwise-separable blocks (depthwise 3x3 +
pointwise 1x1, 64 channels, each followed by batch_norm and ReLU), global average pool, dense 12.
Weights are random (He initialisation, random biases and batch_norm statistics): the figures are
about speed and memory, not accuracy. int8 is calibrated on 32 random inputs and checked bit for bit
against the numpy int8 reference on the device; float32 against numpy within 1e-5.

Counts are QEMU `-icount shift=0` instructions per inference (emulator instructions, not silicon
cycles) with the production flags (-O2); flash is model data + runtime code from the export's
memory report, the arena is the planned activation and scratch memory.

    .venv/bin/python bench/dscnn.py          # table
    .venv/bin/python bench/dscnn.py --json   # machine-readable
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import edgetrain as et  # noqa: E402
from edgetrain.device import emulator_available  # noqa: E402
from edgetrain.export.c import prepare_model  # noqa: E402
from infer_cycles import TARGET, measure_graph  # noqa: E402

INPUT = (49, 10, 1)
CLASSES = 12


def dscnn(seed: int = 0) -> et.Graph:
    """The DS-CNN shape with random weights, biases and batch_norm statistics."""
    layers = [et.Conv2D(64, (10, 4), stride=2, padding="same"), et.BatchNorm(), et.ReLU()]
    for _ in range(4):
        layers += [et.DepthwiseConv2D(3, padding="same"), et.BatchNorm(), et.ReLU(),
                   et.Conv2D(64, 1), et.BatchNorm(), et.ReLU()]
    layers += [et.GlobalAvgPool(), et.Dense(CLASSES)]
    g = et.Sequential(layers, input_shape=INPUT, seed=seed, name="ds_cnn")
    rng = np.random.default_rng(seed)
    for name, p in g.params.items():
        if name.endswith(".bias"):
            p.value = rng.normal(0, 0.1, p.value.shape).astype(np.float32)
        elif name.endswith(".scale"):
            p.value = rng.uniform(0.5, 1.5, p.value.shape).astype(np.float32)
        elif name.endswith(".mean"):
            p.value = rng.normal(0, 0.2, p.value.shape).astype(np.float32)
        elif name.endswith(".var"):
            p.value = rng.uniform(0.5, 2.0, p.value.shape).astype(np.float32)
    return g


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if not emulator_available(TARGET):
        print("qemu-system-arm and arm-none-eabi-gcc are needed (make toolchain)", file=sys.stderr)
        return 1
    g = dscnn()
    rng = np.random.default_rng(1)
    calib = rng.standard_normal((32, *INPUT)).astype(np.float32)
    x = rng.standard_normal((2, *INPUT)).astype(np.float32)
    rows = []
    for dtype in ("int8", "f32"):
        _, rep, target = prepare_model(g, TARGET, dtype, calib_x=calib if dtype == "int8" else None)
        r = measure_graph("ds_cnn", g, calib, x, "random weights, N(0,1) inputs", dtype, samples=2)
        rows.append({"dtype": dtype, "macs": r["macs"], "instructions": r["instructions_per_inference"],
                     "per_mac": r["instructions_per_mac"], "model_data_bytes": rep.data_bytes,
                     "flash_bytes": rep.flash_bytes, "flash_budget": target.flash_bytes,
                     "arena_bytes": rep.arena_bytes, "ram_bytes": rep.ram_bytes, "ram_budget": target.ram_bytes,
                     "peak_layer": max(rep.layers, key=lambda lm: lm.live).layer, "bit_exact": r["bit_exact"],
                     "max_abs_err": r["max_abs_err"]})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    t = Table(title=f"DS-CNN (49x10x1, conv 10x4/2 64, 4 DS blocks of 64, GAP, 12 classes) on QEMU {TARGET}: "
                    "random weights; flash = model data + runtime code; RAM = arena + I/O + stack reserve",
              title_justify="left")
    for c in ("dtype", "MACs", "instructions / inference", "instr / MAC", "model data B", "flash B (of budget)",
              "arena B", "RAM B (of budget)", "peak layer"):
        t.add_column(c, justify="left" if c in ("dtype", "peak layer") else "right")
    for r in rows:
        t.add_row(r["dtype"], f"{r['macs']:,}", f"{r['instructions']:,.0f}", f"{r['per_mac']:.2f}",
                  f"{r['model_data_bytes']:,}", f"{r['flash_bytes']:,} ({r['flash_budget']:,})",
                  f"{r['arena_bytes']:,}", f"{r['ram_bytes']:,} ({r['ram_budget']:,})", r["peak_layer"])
    Console(width=200).print(t)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Instructions per MAC of single conv and pool layers on an emulated STM32F405 (QEMU), float32.

The layer shapes are the ones the C-conv issue compares with CMSIS-NN (its anchors were measured
with the same QEMU stm32f405 harness and arm-none-eabi-gcc 12.2 -O2). Each model is one layer with
random weights and biases, exported with `export_c` (float32) and built with the production flags
(-O2, -ffp-contract=fast); the device output is checked against numpy to 1e-5. Counts are QEMU
`-icount shift=0` instructions per inference, which include the model's NaN check of its input
(about 5 instructions per input value, also shown subtracted) and the harness's call; MACs are `edgetrain info`'s (the
global pool's additions for the pool row). int8 rows come when the int8 conv export lands.

    .venv/bin/python bench/conv_cycles.py          # table
    .venv/bin/python bench/conv_cycles.py --json   # machine-readable
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
from edgetrain.model_report import layer_rows  # noqa: E402
from infer_cycles import TARGET, measure_graph  # noqa: E402

# (name, input shape, layer, CMSIS-NN float instructions per MAC where the issue gives one, goal)
CASES = [
    ("conv 3x3 16x16x16 -> 32, same", (16, 16, 16), lambda: et.Conv2D(32, 3, padding="same"), None, 2.0),
    ("conv 3x3 16x16x8 -> 16, same", (16, 16, 8), lambda: et.Conv2D(16, 3, padding="same"), 5.84, 2.0),
    ("conv 1x1 16x16x32 -> 32", (16, 16, 32), lambda: et.Conv2D(32, 1), None, None),
    ("conv 3x3 28x28x1 -> 8, valid", (28, 28, 1), lambda: et.Conv2D(8, 3, padding="valid"), None, 6.0),
    ("conv 10x4 /2 49x10x1 -> 64", (49, 10, 1), lambda: et.Conv2D(64, (10, 4), stride=2, padding="same"), None, 6.0),
    ("depthwise 3x3 16x16x32, same", (16, 16, 32), lambda: et.DepthwiseConv2D(3, padding="same"), None, None),
    ("depthwise 3x3 25x5x64, same", (25, 5, 64), lambda: et.DepthwiseConv2D(3, padding="same"), None, None),
    ("global average pool 25x5x64", (25, 5, 64), lambda: et.GlobalAvgPool(), None, None),
]


# et_check_finite_f32 on the input, instructions per value (the README's code-size table measures it).
NAN_CHECK_PER_VALUE = 5


def layer_model(shape: tuple[int, ...], make, seed: int = 0) -> et.Graph:
    g = et.Sequential([make()], input_shape=shape, seed=seed, name="layer")
    rng = np.random.default_rng(seed)
    for p in g.params.values():
        if p.name.endswith(".bias"):
            p.value = rng.normal(0, 0.1, p.value.shape).astype(np.float32)
    return g


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if not emulator_available(TARGET):
        print("qemu-system-arm and arm-none-eabi-gcc are needed (make toolchain)", file=sys.stderr)
        return 1
    rows = []
    for name, shape, make, cmsis, goal in CASES:
        g = layer_model(shape, make)
        x = np.random.default_rng(1).standard_normal((2, *shape)).astype(np.float32).reshape(2, -1)
        r = measure_graph(name, g, x, x, "random weights, N(0,1) inputs", "f32", samples=1)
        ops = layer_rows(g)
        work = sum(o["macs"] or o["adds_cmps"] for o in ops)
        check = NAN_CHECK_PER_VALUE * int(np.prod(shape))
        rows.append({"layer": name, "macs": work, "instructions": r["instructions_per_inference"],
                     "per_mac": r["instructions_per_inference"] / work, "input_check": check,
                     "per_mac_without_check": (r["instructions_per_inference"] - check) / work, "cmsis_nn_f32": cmsis, "goal": goal,
                     "max_abs_err": r["max_abs_err"], "arena_bytes": r["arena_bytes"]})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    t = Table(title=f"float32 conv and pool layers on QEMU {TARGET} (instructions per MAC)")
    for c in ("layer", "MACs", "instructions", "instr / MAC", "without input check", "CMSIS-NN f32", "goal",
              "arena B"):
        t.add_column(c, justify="left" if c == "layer" else "right")
    for r in rows:
        t.add_row(r["layer"], f"{r['macs']:,}", f"{r['instructions']:,.0f}", f"{r['per_mac']:.2f}",
                  f"{r['per_mac_without_check']:.2f}", "" if r["cmsis_nn_f32"] is None else f"{r['cmsis_nn_f32']:.2f}",
                  "" if r["goal"] is None else f"<= {r['goal']:g}", f"{r['arena_bytes']:,}")
    Console(width=130).print(t)
    return 0


if __name__ == "__main__":
    sys.exit(main())

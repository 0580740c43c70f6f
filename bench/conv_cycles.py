"""Instructions per MAC of single conv and pool layers on an emulated STM32F405 (QEMU), int8 and float32.

The layer shapes are the ones the C-conv issue compares with CMSIS-NN (its anchors were measured
with the same QEMU stm32f405 harness and arm-none-eabi-gcc 12.2 -O2). Each model is one layer with
random weights and biases, exported with `export_c` and built with the production flags (-O2,
-ffp-contract=fast). int8: per-channel weights, calibrated on 32 N(0,1) inputs; the device output
must equal the numpy int8 reference bit for bit. float32: checked against numpy to 1e-5. Counts are
QEMU `-icount shift=0` instructions per inference including the harness's call; float models also
check their input for NaN (about 5 instructions per input value, also shown subtracted). MACs are
`edgetrain info`'s (the global pool's additions for the pool row).

    .venv/bin/python bench/conv_cycles.py                 # both tables
    .venv/bin/python bench/conv_cycles.py --dtype int8    # one of them
    .venv/bin/python bench/conv_cycles.py --json          # machine-readable
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

# (name, input shape, layer, CMSIS-NN float instructions per MAC where the issue gives one, float goal)
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


# The int8 figures per case (same order): CMSIS-NN's measured instructions per MAC (per add
# for the pool) and the goal.
INT8 = [(2.14, 1.75), (2.88, 2.2), (2.70, 2.0), (14.04, 6.0), (3.48, 2.8), (8.07, 4.0), (7.79, 4.0), (6.3, 4.0)]

# et_check_finite_f32 on the input, instructions per value (the README's code-size table measures it).
NAN_CHECK_PER_VALUE = 5


def layer_model(shape: tuple[int, ...], make, seed: int = 0) -> et.Graph:
    g = et.Sequential([make()], input_shape=shape, seed=seed, name="layer")
    rng = np.random.default_rng(seed)
    for p in g.params.values():
        if p.name.endswith(".bias"):
            p.value = rng.normal(0, 0.1, p.value.shape).astype(np.float32)
    return g


def measure_case(i: int, dtype: str) -> dict:
    name, shape, make, cmsis_f32, goal_f32 = CASES[i]
    g = layer_model(shape, make)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, *shape)).astype(np.float32).reshape(2, -1)
    if dtype == "int8":
        calib = rng.standard_normal((32, *shape)).astype(np.float32).reshape(32, -1)
        r = measure_graph(name, g, calib, x, "random weights, N(0,1) inputs", "int8", samples=1)
        cmsis, goal = INT8[i]
        check = 0
    else:
        r = measure_graph(name, g, x, x, "random weights, N(0,1) inputs", "f32", samples=1)
        cmsis, goal = cmsis_f32, goal_f32
        check = NAN_CHECK_PER_VALUE * int(np.prod(shape))
    work = sum(o["macs"] or o["adds_cmps"] for o in layer_rows(g))
    per = r["instructions_per_inference"] / work
    return {"layer": name, "dtype": dtype, "macs": work, "instructions": r["instructions_per_inference"],
            "per_mac": per, "input_check": check,
            "per_mac_without_check": (r["instructions_per_inference"] - check) / work, "cmsis_nn": cmsis,
            "goal": goal, "met": None if goal is None else per <= goal, "bit_exact": r["bit_exact"],
            "max_abs_err": r["max_abs_err"], "arena_bytes": r["arena_bytes"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--dtype", choices=["int8", "f32", "both"], default="both")
    ap.add_argument("--only", default="", help="rows whose layer name contains this")
    args = ap.parse_args(argv)
    if not emulator_available(TARGET):
        print("qemu-system-arm and arm-none-eabi-gcc are needed (make toolchain)", file=sys.stderr)
        return 1
    dtypes = ["int8", "f32"] if args.dtype == "both" else [args.dtype]
    rows = [measure_case(i, dt) for dt in dtypes for i in range(len(CASES)) if args.only in CASES[i][0]]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    con = Console(width=150)
    for dt in dtypes:
        t = Table(title=f"{'int8' if dt == 'int8' else 'float32'} conv and pool layers on QEMU {TARGET} "
                        "(instructions per MAC; per add for the pool)")
        cols = ["layer", "MACs", "instructions", "instr / MAC"] + (["without input check"] if dt == "f32" else []) \
            + [f"CMSIS-NN {'int8' if dt == 'int8' else 'f32'}", "goal", "met", "check", "arena B"]
        for c in cols:
            t.add_column(c, justify="left" if c == "layer" else "right")
        for r in (r for r in rows if r["dtype"] == dt):
            t.add_row(r["layer"], f"{r['macs']:,}", f"{r['instructions']:,.0f}", f"{r['per_mac']:.2f}",
                      *([f"{r['per_mac_without_check']:.2f}"] if dt == "f32" else []),
                      "" if r["cmsis_nn"] is None else f"{r['cmsis_nn']:.2f}",
                      "" if r["goal"] is None else f"<= {r['goal']:g}",
                      "" if r["met"] is None else ("yes" if r["met"] else "NO"),
                      "bit-exact" if r["bit_exact"] else f"err {r['max_abs_err']:.1e}", f"{r['arena_bytes']:,}")
        con.print(t)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Instructions per MAC of the int8 (and float32) conv / pool kernels called directly on Cortex-M4.

A development loop beside `bench/conv_cycles.py` (which measures whole exported models on QEMU):
the runtime sources are linked into a flat Cortex-M4F image (-O2, the production flags) and each
kernel is called once under the unicorn emulator at the CMSIS-NN comparison shapes, counting the
executed Thumb instructions with a basic-block hook (block sizes decoded once into instruction
counts). The call's output is checked against the numpy references (int8: bit for bit). The count
is of the kernel call alone (no model, no input check), so it sits a little below the QEMU
figure of a one-layer model.

    .venv/bin/python bench/conv_kernel_cycles.py            # table
    .venv/bin/python bench/conv_kernel_cycles.py --only dw   # rows whose name contains "dw"
    .venv/bin/python bench/conv_kernel_cycles.py --cpu m3    # the Cortex-M3 (no DSP) build
"""
from __future__ import annotations

import argparse
import json
import shutil
import struct
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/_unicorn_m4.py

import _unicorn_m4  # noqa: E402
from _unicorn_m4 import CPU  # noqa: E402

from edgetrain.ops.conv import conv_forward  # noqa: E402
from edgetrain.quantize import conv_reference as cref  # noqa: E402
from edgetrain.quantize import int8 as quant  # noqa: E402

SOURCES = ["et_conv_geom.c", "et_conv_f32.c", "et_conv_s8.c", "et_pool_s8.c", "et_pool_f32.c",
           "et_dense_f32.c", "et_dense_s8.c", "et_status.c"]

# (name, kind, input HWC, kernel, out_c, stride, padding, CMSIS-NN int8 figure, int8 goal)
CASES = [
    ("conv 3x3 16x16x16 -> 32, same", "conv", (16, 16, 16), (3, 3), 32, 1, "same", 2.14, 1.75),
    ("conv 3x3 16x16x8 -> 16, same", "conv", (16, 16, 8), (3, 3), 16, 1, "same", 2.88, 2.2),
    ("conv 1x1 16x16x32 -> 32", "conv", (16, 16, 32), (1, 1), 32, 1, "valid", 2.70, 2.0),
    ("conv 3x3 28x28x1 -> 8, valid", "conv", (28, 28, 1), (3, 3), 8, 1, "valid", 14.04, 6.0),
    ("conv 10x4 /2 49x10x1 -> 64", "conv", (49, 10, 1), (10, 4), 64, 2, "same", 3.48, 2.8),
    ("dw 3x3 16x16x32, same", "dw", (16, 16, 32), (3, 3), 32, 1, "same", 8.07, 4.0),
    ("dw 3x3 25x5x64, same", "dw", (25, 5, 64), (3, 3), 64, 1, "same", 7.79, 4.0),
    ("global average pool 25x5x64", "gap", (25, 5, 64), None, 64, 1, None, 6.3, 4.0),
]

class Image(_unicorn_m4.Image):
    """The conv / pool runtime as a flat image in unicorn (bench/_unicorn_m4.py)."""

    def __init__(self, cc: str, cpu: str, out: Path, defines: list[str]) -> None:
        super().__init__(cc, cpu, out, defines, SOURCES, "et_conv_s8")


def geom_ints(shape, kernel, cout, stride, padding) -> tuple[tuple[int, ...], object]:
    geo = cref.conv_geometry(shape[:2], kernel, stride, 1, padding)
    return (1, *geo.in_hw, shape[2], *geo.out_hw, cout, *geo.kernel, *geo.stride, *geo.dilation,
            *geo.pads[0], *geo.pads[1]), geo


def measure_s8(img: Image, case, rng: np.random.Generator, eff: bool = False) -> dict:
    name, kind, shape, kernel, cout, stride, padding, cmsis, goal = case
    img.reset()
    x = rng.integers(-128, 128, (1, *shape)).astype(np.int8)
    in_zp = int(rng.integers(-20, 20))
    if kind == "gap":
        mult, shift = cref.global_avg_pool_s8_params(0.05, 0.04)
        out_zp = 3
        want = cref.global_avg_pool_s8_reference(x, in_zp, out_zp, mult, shift, -128, 127).reshape(-1)
        px, y = img.alloc(x.tobytes()), img.alloc(bytes(shape[2]))
        params = img.alloc(struct.pack("<10i", 1, shape[0], shape[1], shape[2], -in_zp, out_zp, mult, shift,
                                       -128, 127))
        status, n = img.call("et_global_avg_pool_s8", params, px, y)
        got = np.frombuffer(bytes(img.uc.mem_read(y, want.size)), np.int8)
        work = shape[0] * shape[1] * shape[2]
    else:
        g, geo = geom_ints(shape, kernel, cout, stride, padding)
        groups = shape[2] if kind == "dw" else 1
        w = rng.integers(-127, 128, (*kernel, shape[2] // groups, cout)).astype(np.int8)
        acc = conv_forward(x.astype(np.float64) - in_zp, w.astype(np.float64), None, geo, groups)
        amax = np.abs(acc).reshape(-1, cout).max(axis=0) + 1.0
        bias = (rng.uniform(-0.25, 0.25, cout) * amax).astype(np.int32)
        mults, shifts = quant.quantize_multipliers(60.0 / amax * rng.uniform(0.7, 1.3, cout))
        out_zp = 5
        want = cref.conv2d_s8_reference(x, w, bias, geo, groups, in_zp, out_zp, mults, shifts, -128, 127)
        want = want.reshape(-1)
        wc = cref.to_c_depthwise_weights(w) if kind == "dw" else cref.to_c_conv_weights(w)
        px, pw = img.alloc(x.tobytes()), img.alloc(np.ascontiguousarray(wc).tobytes())
        pb = img.alloc(bias.astype("<i4").tobytes())
        pm, ps = img.alloc(mults.astype("<i4").tobytes()), img.alloc(shifts.astype("<i4").tobytes())
        pe = img.alloc(cref.conv_effective_bias(bias, w, in_zp).astype("<i4").tobytes()) if eff else 0
        params = img.alloc(struct.pack("<23i3I", *g, groups, -in_zp, out_zp, -128, 127, 1, pm, ps, pe))
        y = img.alloc(bytes(want.size))
        fn = "et_depthwise_conv_s8" if kind == "dw" else "et_conv_s8"
        sb, _ = img.call(f"{fn}_scratch_bytes", params)
        scratch = img.alloc(bytes(max(int(np.int32(np.uint32(sb))), 1)))
        status, n = img.call(fn, params, px, pw, pb, y, scratch)
        got = np.frombuffer(bytes(img.uc.mem_read(y, want.size)), np.int8)
        work = int(np.prod(geo.out_hw)) * cout * kernel[0] * kernel[1] * (shape[2] // groups)
    return {"layer": name, "dtype": "int8", "status": status, "bit_exact": bool((got == want).all()),
            "macs": work, "instructions": n, "per_mac": n / work, "cmsis_nn": cmsis, "goal": goal,
            "met": n / work <= goal}


def measure_f32(img: Image, case, rng: np.random.Generator) -> dict:
    name, kind, shape, kernel, cout, stride, padding, _, _ = case
    img.reset()
    x = rng.standard_normal((1, *shape)).astype(np.float32)
    if kind == "gap":
        want = x.reshape(-1, shape[2]).mean(axis=0)
        px, y = img.alloc(x.tobytes()), img.alloc(bytes(4 * shape[2]))
        params = img.alloc(struct.pack("<4i2f", 1, shape[0], shape[1], shape[2], -3e38, 3e38))
        status, n = img.call("et_global_avg_pool_f32", params, px, y)
        work, scale = shape[0] * shape[1] * shape[2], np.abs(x).reshape(-1, shape[2]).mean(axis=0)
    else:
        g, geo = geom_ints(shape, kernel, cout, stride, padding)
        groups = shape[2] if kind == "dw" else 1
        w = rng.standard_normal((*kernel, shape[2] // groups, cout)).astype(np.float32)
        b = rng.standard_normal(cout).astype(np.float32)
        want = conv_forward(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), geo, groups)
        scale = conv_forward(np.abs(x).astype(np.float64), np.abs(w).astype(np.float64), np.abs(b).astype(np.float64),
                             geo, groups).reshape(-1)
        want = want.reshape(-1)
        wc = cref.to_c_depthwise_weights(w) if kind == "dw" else cref.to_c_conv_weights(w)
        px, pw, pb = img.alloc(x.tobytes()), img.alloc(np.ascontiguousarray(wc).tobytes()), img.alloc(b.tobytes())
        params = img.alloc(struct.pack("<18i2f", *g, groups, -3e38, 3e38))
        y = img.alloc(bytes(4 * want.size))
        if kind == "dw":
            status, n = img.call("et_depthwise_conv_f32", params, px, pw, pb, y)
        else:
            sb, _ = img.call("et_conv_f32_scratch_bytes", params)
            scratch = img.alloc(bytes(max(sb, 4)))
            status, n = img.call("et_conv_f32", params, px, pw, pb, y, scratch)
        work = int(np.prod(geo.out_hw)) * cout * kernel[0] * kernel[1] * (shape[2] // groups)
    got = np.frombuffer(bytes(img.uc.mem_read(y, 4 * want.size)), np.float32)
    ok = bool(np.all(np.abs(got - want) <= 1e-5 * scale + 1e-30))
    return {"layer": name, "dtype": "f32", "status": status, "bit_exact": ok, "macs": work, "instructions": n,
            "per_mac": n / work, "cmsis_nn": None, "goal": None, "met": None}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="rows whose name contains this")
    ap.add_argument("--cpu", choices=sorted(CPU), default="m4")
    ap.add_argument("--dtype", choices=["int8", "f32", "both"], default="int8")
    ap.add_argument("--eff", action="store_true", help="int8: pass eff_bias")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--profile", action="store_true", help="instructions per function (and hot blocks)")
    ap.add_argument("-D", action="append", default=[], help="extra -D for the build")
    args = ap.parse_args(argv)
    cc = shutil.which("arm-none-eabi-gcc")
    if cc is None:
        print("arm-none-eabi-gcc is needed", file=sys.stderr)
        return 1
    rows = []
    with tempfile.TemporaryDirectory(prefix="et-kcycles-") as tmp:
        img = Image(cc, args.cpu, Path(tmp), [f"-D{d}" for d in args.D])
        funcs = sorted((a & ~1, n) for n, a in img.sym.items())
        for case in CASES:
            if args.only not in case[0]:
                continue
            if args.profile:
                img.profile = {}
            if args.dtype in ("int8", "both"):
                rows.append(measure_s8(img, case, np.random.default_rng(0), args.eff))
            if args.dtype in ("f32", "both"):
                rows.append(measure_f32(img, case, np.random.default_rng(0)))
            if args.profile:
                import bisect
                per: dict[str, int] = {}
                for a, n in img.profile.items():
                    i = bisect.bisect_right(funcs, (a, "~")) - 1
                    per[funcs[i][1]] = per.get(funcs[i][1], 0) + n
                print(case[0], {k: v for k, v in sorted(per.items(), key=lambda t: -t[1])})
                hot = sorted(img.profile.items(), key=lambda t: -t[1])[:8]
                print("  hot blocks:", [(hex(a), n) for a, n in hot])
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'layer':34} {'dtype':5} {'MACs':>9} {'instr':>10} {'instr/MAC':>9} {'CMSIS':>6} {'goal':>6} "
          f"{'met':>4} check")
    for r in rows:
        print(f"{r['layer']:34} {r['dtype']:5} {r['macs']:>9,} {r['instructions']:>10,} {r['per_mac']:>9.2f} "
              f"{'' if r['cmsis_nn'] is None else r['cmsis_nn']:>6} {'' if r['goal'] is None else r['goal']:>6} "
              f"{'' if r['met'] is None else ('yes' if r['met'] else 'NO'):>4} "
              f"{'ok' if r['bit_exact'] and r['status'] == 0 else 'FAIL status %d' % r['status']}")
    return 0 if all(r["bit_exact"] and r["status"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

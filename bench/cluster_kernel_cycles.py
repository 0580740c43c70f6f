"""Instructions per MAC of the clustered dense kernels (et_cluster.h) against plain dense, Cortex-M4.

The runtime sources are linked into a flat Cortex-M4F image (-O2, the production flags; see
bench/_unicorn_m4.py, shared with bench/conv_kernel_cycles.py) and each kernel is called once
under the unicorn emulator, counting the executed Thumb instructions. The layers are those of the
64-256-256-10 MLP (64->256, 256->256, 256->10, batch 1); the clustered weight has k = 2^bits
centroids (4 bits: k = 16). Every int8 result is checked bit for bit against the numpy int8
reference on the expanded weights (float: against et_dense_f32_cluster_ref, bit for bit).

int8 rows compare et_dense_s8_cluster (with the flash pair table, and without it) with et_dense_s8
on the expanded int8 matrix, both given eff_bias as the exporter does; float rows compare
et_dense_f32_cluster with et_dense_f32. The goal: the whole MLP at 4 bits with the table within
1.6x the instructions of plain int8 dense.

    .venv/bin/python bench/cluster_kernel_cycles.py              # table
    .venv/bin/python bench/cluster_kernel_cycles.py --bits 4     # one index width
    .venv/bin/python bench/cluster_kernel_cycles.py --json
"""

from __future__ import annotations

import argparse
import json
import shutil
import struct
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/_unicorn_m4.py

import _unicorn_m4  # noqa: E402

from edgetrain.formats import packed  # noqa: E402
from edgetrain.quantize import int8 as quant  # noqa: E402

TARGET = "cortex-m4 (unicorn)"
SOURCES = ["et_dense_s8_cluster.c", "et_dense_s8_cluster_ref.c", "et_dense_f32_cluster.c",
           "et_dense_f32_cluster_ref.c", "et_dense_s8.c", "et_dense_s8_ref.c", "et_dense_f32.c",
           "et_dense_f32_ref.c", "et_status.c"]
LAYERS = [(64, 256), (256, 256), (256, 10)]
GOAL = 1.6  # 4-bit clustered MLP, instructions / those of et_dense_s8


def emulator_available(target: str = TARGET) -> tuple[bool, str]:
    """(True, "") when the image can be built and run here (the tests' load_bench contract)."""
    if shutil.which("arm-none-eabi-gcc") is None:
        return False, "arm-none-eabi-gcc not found (Debian package: gcc-arm-none-eabi libnewlib-arm-none-eabi)"
    try:
        import unicorn  # noqa: F401
    except ImportError:
        return False, "the Python package unicorn is not installed"
    return True, ""


def build_image(cpu: str = "m4", defines: list[str] | None = None) -> _unicorn_m4.Image:
    """The clustered and plain dense kernels as one flat image in unicorn."""
    cc = shutil.which("arm-none-eabi-gcc")
    if cc is None:
        raise RuntimeError("arm-none-eabi-gcc is needed")
    with tempfile.TemporaryDirectory(prefix="et-cluster-") as tmp:
        return _unicorn_m4.Image(cc, cpu, Path(tmp), [f"-D{d}" for d in defines or []], SOURCES,
                                 "et_dense_s8_cluster")


def s8_case(rng: np.random.Generator, bits: int, n_in: int, n_out: int, batch: int = 1) -> dict[str, Any]:
    """A random int8 layer clustered to k = 2^bits centroids, with everything the kernels take."""
    k = 1 << bits
    cb = rng.integers(-127, 128, k).astype(np.int8)
    idx = rng.integers(0, k, (n_out, n_in))
    w = cb[idx]
    in_zp, out_scale, out_zp = int(rng.integers(-20, 20)), 0.05, 3
    mults, shifts = quant.dense_requant_params(0.02, rng.uniform(0.002, 0.02, n_out), out_scale)
    bias = rng.integers(-20000, 20000, n_out).astype(np.int32)
    return dict(bits=bits, k=k, cb=cb, idx=idx, w=w, x=rng.integers(-128, 128, (batch, n_in)).astype(np.int8),
                bias=bias, in_zp=in_zp, out_zp=out_zp, mults=mults, shifts=shifts, act_min=out_zp, act_max=127,
                per_channel=True, words=packed.pack_indices(idx, bits), pairs=packed.pair_table(cb, bits),
                eff=quant.effective_bias(bias, w, in_zp))


def s8_params(img: _unicorn_m4.Image, c: dict[str, Any], eff: bool) -> int:
    batch, n_in = c["x"].shape
    n_out = c["w"].shape[0]
    pm, ps = img.alloc(c["mults"].astype("<i4").tobytes()), img.alloc(c["shifts"].astype("<i4").tobytes())
    pe = img.alloc(c["eff"].astype("<i4").tobytes()) if eff else 0
    return img.alloc(struct.pack("<8i3I", batch, n_in, n_out, -c["in_zp"], c["out_zp"], c["act_min"], c["act_max"],
                                 int(c["per_channel"]), pm, ps, pe))


def run_s8(img: _unicorn_m4.Image, c: dict[str, Any], variant: str) -> tuple[np.ndarray, int]:
    """One int8 call; variant: table, no-table, table+eff, no-table+eff, ref (the clustered
    kernels), dense+eff, dense, dense-ref (on the expanded matrix). Returns (y flat, instructions)."""
    img.reset()
    batch = c["x"].shape[0]
    n_out = c["w"].shape[0]
    px = img.alloc(c["x"].tobytes(), 1)
    pb = img.alloc(c["bias"].astype("<i4").tobytes()) if c["bias"] is not None else 0
    py = img.alloc(bytes(batch * n_out), 1)
    if variant.startswith("dense"):
        pw = img.alloc(c["w"].tobytes(), 1)
        params = s8_params(img, c, variant == "dense+eff")
        fn = "et_dense_s8_ref" if variant == "dense-ref" else "et_dense_s8"
        status, n = img.call(fn, params, px, pw, pb, py)
    else:
        pcb = img.alloc(c["cb"].tobytes(), 1)
        pwords = img.alloc(c["words"].astype("<u4").tobytes(), 4)
        pidx = img.alloc(struct.pack("<Iii", pwords, c["bits"], c["k"]), 4)
        ptab = img.alloc(c["pairs"].astype("<u4").tobytes(), 4) if variant.startswith("table") else 0
        params = s8_params(img, c, variant.endswith("+eff"))
        fn = "et_dense_s8_cluster_ref" if variant == "ref" else "et_dense_s8_cluster"
        status, n = img.call(fn, params, px, pcb, pidx, ptab, pb, py)
    if status != 0:
        raise RuntimeError(f"{variant}: status {status}")
    return np.frombuffer(bytes(img.uc.mem_read(py, batch * n_out)), np.int8), n


def f32_case(rng: np.random.Generator, bits: int, n_in: int, n_out: int, batch: int = 1) -> dict[str, Any]:
    k = 1 << bits
    cb = rng.standard_normal(k).astype(np.float32)
    idx = rng.integers(0, k, (n_out, n_in))
    return dict(bits=bits, k=k, cb=cb, idx=idx, w=cb[idx], words=packed.pack_indices(idx, bits),
                x=rng.standard_normal((batch, n_in)).astype(np.float32),
                bias=rng.standard_normal(n_out).astype(np.float32))


def run_f32(img: _unicorn_m4.Image, c: dict[str, Any], fn: str) -> tuple[np.ndarray, int]:
    """One float32 call of fn (a clustered kernel, or et_dense_f32 / _ref on the expanded matrix)."""
    img.reset()
    batch, n_in = c["x"].shape
    n_out = c["w"].shape[0]
    px = img.alloc(c["x"].tobytes(), 4)
    pb = img.alloc(c["bias"].tobytes(), 4) if c["bias"] is not None else 0
    py = img.alloc(bytes(4 * batch * n_out), 4)
    params = img.alloc(struct.pack("<3i2f", batch, n_in, n_out, -3.4e38, 3.4e38), 4)
    if "cluster" in fn:
        pcb = img.alloc(c["cb"].tobytes(), 4)
        pwords = img.alloc(c["words"].astype("<u4").tobytes(), 4)
        pidx = img.alloc(struct.pack("<Iii", pwords, c["bits"], c["k"]), 4)
        status, n = img.call(fn, params, px, pcb, pidx, pb, py)
    else:
        pw = img.alloc(c["w"].tobytes(), 4)
        status, n = img.call(fn, params, px, pw, pb, py)
    if status != 0:
        raise RuntimeError(f"{fn}: status {status}")
    return np.frombuffer(bytes(img.uc.mem_read(py, 4 * batch * n_out)), np.float32), n


def measure(img: _unicorn_m4.Image, bits_list: list[int], with_ref: bool = False) -> list[dict[str, Any]]:
    """Rows of the table: one per (kernel, bits, layer), plus an MLP total per (kernel, bits)."""
    rows: list[dict[str, Any]] = []
    rng = np.random.default_rng(0)

    def add(kernel: str, bits: int | None, layer: str, macs: int, n: int, ok: bool, base: int | None) -> None:
        rows.append({"kernel": kernel, "bits": bits, "layer": layer, "macs": macs, "instructions": n,
                     "per_mac": n / macs, "ratio": None if base is None else n / base, "ok": ok})

    s8_base: dict[tuple[int, int], int] = {}
    f32_base: dict[tuple[int, int], int] = {}
    for n_in, n_out in LAYERS:
        c = s8_case(rng, 4, n_in, n_out)
        want = quant.dense_s8_reference(c["x"], c["w"], c["bias"], c["in_zp"], c["out_zp"], c["mults"], c["shifts"],
                                        c["act_min"], c["act_max"]).reshape(-1)
        y, s8_base[n_in, n_out] = run_s8(img, c, "dense+eff")
        add("et_dense_s8", None, f"{n_in}->{n_out}", n_in * n_out, s8_base[n_in, n_out], bool((y == want).all()), None)
        fc = f32_case(rng, 4, n_in, n_out)
        yf, f32_base[n_in, n_out] = run_f32(img, fc, "et_dense_f32")
        add("et_dense_f32", None, f"{n_in}->{n_out}", n_in * n_out, f32_base[n_in, n_out], True, None)
    variants = [("et_dense_s8_cluster +table", "table+eff"), ("et_dense_s8_cluster no table", "no-table+eff")]
    if with_ref:
        variants.append(("et_dense_s8_cluster_ref", "ref"))
    for bits in bits_list:
        for n_in, n_out in LAYERS:
            c = s8_case(rng, bits, n_in, n_out)
            want = quant.dense_s8_reference(c["x"], c["w"], c["bias"], c["in_zp"], c["out_zp"], c["mults"],
                                            c["shifts"], c["act_min"], c["act_max"]).reshape(-1)
            for name, variant in variants:
                y, n = run_s8(img, c, variant)
                add(name, bits, f"{n_in}->{n_out}", n_in * n_out, n, bool((y == want).all()), s8_base[n_in, n_out])
            fc = f32_case(rng, bits, n_in, n_out)
            y_ref, n_ref = run_f32(img, fc, "et_dense_f32_cluster_ref")
            yf, n = run_f32(img, fc, "et_dense_f32_cluster")
            add("et_dense_f32_cluster", bits, f"{n_in}->{n_out}", n_in * n_out, n, yf.tobytes() == y_ref.tobytes(),
                f32_base[n_in, n_out])
            if with_ref:
                add("et_dense_f32_cluster_ref", bits, f"{n_in}->{n_out}", n_in * n_out, n_ref, True,
                    f32_base[n_in, n_out])
    # MLP totals (all three layers) per kernel and width.
    totals: dict[tuple[str, int | None], list[dict[str, Any]]] = {}
    for r in rows:
        totals.setdefault((r["kernel"], r["bits"]), []).append(r)
    s8_total, f32_total = sum(s8_base.values()), sum(f32_base.values())
    for (kernel, bits), rs in totals.items():
        macs, n = sum(r["macs"] for r in rs), sum(r["instructions"] for r in rs)
        base = f32_total if "f32" in kernel else s8_total
        add(kernel, bits, "MLP 64-256-256-10", macs, n, all(r["ok"] for r in rs), None if bits is None else base)
    return rows


def goal_met(rows: list[dict[str, Any]]) -> bool | None:
    """The 4-bit MLP with the table within GOAL x et_dense_s8 (None when not measured)."""
    for r in rows:
        if r["kernel"] == "et_dense_s8_cluster +table" and r["bits"] == 4 and r["layer"].startswith("MLP"):
            return bool(r["ratio"] <= GOAL)
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--bits", type=int, action="append", choices=packed.BITS, help="index widths (default all)")
    ap.add_argument("--ref", action="store_true", help="also the _ref kernels")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("-D", action="append", default=[], help="extra -D for the build")
    args = ap.parse_args(argv)
    ok, why = emulator_available()
    if not ok:
        print(why, file=sys.stderr)
        return 1
    img = build_image(defines=args.D)
    rows = measure(img, args.bits or [4, 3, 2, 1], args.ref)
    met = goal_met(rows)
    if args.json:
        print(json.dumps({"rows": rows, "goal": GOAL, "met": met}, indent=2))
    else:
        print(f"{'kernel':30} {'bits':>4} {'layer':18} {'MACs':>7} {'instr':>9} {'instr/MAC':>9} {'ratio':>6} check")
        for r in sorted(rows, key=lambda r: (r["layer"].startswith("MLP"), "f32" in r["kernel"], -(r["bits"] or 9))):
            print(f"{r['kernel']:30} {'' if r['bits'] is None else r['bits']:>4} {r['layer']:18} {r['macs']:>7,} "
                  f"{r['instructions']:>9,} {r['per_mac']:>9.2f} "
                  f"{'' if r['ratio'] is None else format(r['ratio'], '.2f'):>6} {'ok' if r['ok'] else 'FAIL'}")
        if met is not None:
            print(f"goal: 4-bit clustered MLP (table) <= {GOAL}x et_dense_s8: {'met' if met else 'NOT met'}")
    return 0 if all(r["ok"] for r in rows) and met is not False else 1


if __name__ == "__main__":
    sys.exit(main())

"""On-device training cost of the GENERATED training code on an emulated STM32F405 (QEMU).

Instructions per training step (QEMU -icount shift=0 + TIM2: emulator instruction counts, not
silicon cycles; a step = forward, loss, divergence-guard check, backward with fused updates) and
training RAM, for MLP 64-32-10 with every layer trainable and with the last layer only, SGD
(+momentum) and Adam, batch 1 and 8, production flags (the compiler may fuse multiply-adds).
Then MLP 64-256-256-10 with an int8 frozen body and a float32 last layer, fine-tuned with Adam
on the device within the STM32F405's 128 KiB of RAM.

Usage: python bench/finetune_cycles.py [--json]
"""
from __future__ import annotations

import json
import sys

import numpy as np

from edgetrain.device import emulator_available
from edgetrain.device.finetune import finetune_on_device
from edgetrain.layers import Dense, Sequential

TARGET = "stm32f405"
STEPS = 12
GOALS = {"sgd_full_b1_instructions": 70_000, "sgd_full_b1_buffers": 2048, "adam_full_b1_instructions": 250_000,
         "big_ram": 128 * 1024}
OPT = {"sgd": dict(optimizer="sgd", lr=0.01, momentum=0.9), "adam": dict(optimizer="adam", lr=1e-3)}


def mlp(widths: tuple[int, ...]):
    *hidden, out = widths[1:]
    return Sequential([*(Dense(h, activation="relu") for h in hidden), Dense(out)], input_shape=(widths[0],), seed=0)


def run(widths, trainable: str, opt: str, batch: int, body: str = "f32"):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (STEPS * batch, widths[0])).astype(np.float32)
    y = rng.integers(0, widths[-1], STEPS * batch)
    rep = finetune_on_device(mlp(widths), TARGET, x, y, steps=STEPS, batch=batch, trainable=trainable, body=body,
                             x_eval=x[:4], y_eval=y[:4], calib_x=x, parity=False, shuffle=False, **OPT[opt])
    # The first step includes no warm-up effects in this code (no caches), but report the median.
    return rep, int(np.median(rep.instructions_per_step))


def main() -> None:
    ok, why = emulator_available(TARGET)
    if not ok:
        print(f"skipped: {TARGET} cannot run here ({why})")
        return
    rows, results = [], {}
    for trainable, label in (("all", "full"), ("last:1", "last layer")):
        for opt in ("sgd", "adam"):
            for batch in (1, 8):
                rep, n = run((64, 32, 10), trainable, opt, batch)
                m = rep.memory
                key = f"{opt}_{'full' if trainable == 'all' else 'last'}_b{batch}"
                results[key] = {"instructions_per_step": n, "arena_bytes": m.arena_bytes,
                                "naive_bytes": m.naive_bytes, "param_ram_bytes": m.param_ram_bytes,
                                "optimizer_state_bytes": m.optimizer_state_bytes,
                                "bank_flash_bytes": m.bank_flash_bytes}
                rows.append((f"64-32-10 {label}", opt, batch, n, m.arena_bytes, m.naive_bytes, m.param_ram_bytes,
                             m.optimizer_state_bytes))
    big, n_big = run((64, 256, 256, 10), "last:1", "adam", 8, body="int8")
    bm = big.memory
    results["big_int8_body_adam_b8"] = {"instructions_per_step": n_big, **{k: v for k, v in bm.to_dict().items()
                                        if k in ("arena_bytes", "naive_bytes", "param_ram_bytes",
                                                 "optimizer_state_bytes", "stack_reserved", "ram_bytes",
                                                 "const_data_bytes", "bank_flash_bytes")},
                                        "image_static_ram_bytes": big.image.static_ram_bytes,
                                        "image_flash_bytes": big.image.flash_bytes}
    s1, a1 = results["sgd_full_b1"], results["adam_full_b1"]
    goals = [
        ("64-32-10 full, SGD, batch 1: instructions/step", s1["instructions_per_step"],
         GOALS["sgd_full_b1_instructions"]),
        ("64-32-10 full, SGD, batch 1: training buffers beyond parameters (arena) B", s1["arena_bytes"],
         GOALS["sgd_full_b1_buffers"]),
        ("64-32-10 full, Adam, batch 1: instructions/step", a1["instructions_per_step"],
         GOALS["adam_full_b1_instructions"]),
        ("64-256-256-10 int8 body + float head, Adam, batch 8: training RAM B", bm.ram_bytes, GOALS["big_ram"]),
    ]
    if "--json" in sys.argv:
        json.dump({"target": TARGET, "results": results,
                   "goals": [{"what": w, "value": v, "goal": g, "met": v <= g} for w, v, g in goals]},
                  sys.stdout, indent=2)
        print()
        return
    print(f"Generated training code on {TARGET} (QEMU, instruction counts, production flags), {STEPS} steps each")
    print(f"{'model':22} {'opt':5} {'batch':>5} {'instr/step':>11} {'arena B':>8} {'naive B':>8} "
          f"{'params B':>9} {'opt state B':>12}")
    for r in rows:
        print(f"{r[0]:22} {r[1]:5} {r[2]:>5} {r[3]:>11,} {r[4]:>8,} {r[5]:>8,} {r[6]:>9,} {r[7]:>12,}")
    print(f"\n64-256-256-10, int8 frozen body, float32 last layer, Adam, batch 8: {n_big:,} instructions/step")
    for label, v in bm.rows():
        print(f"  {label:48} {v}")
    print(f"  firmware image: flash {big.image.flash_bytes:,} B, static RAM {big.image.static_ram_bytes:,} B "
          f"(incl. the harness's RAM-emulated flash banks {bm.bank_flash_bytes:,} B and sample buffers)")
    print("\nGoals:")
    for what, v, g in goals:
        print(f"  {what}: {v:,} (goal <= {g:,}) {'met' if v <= g else 'NOT MET'}")
    print(f"  note: SGD with momentum also keeps a velocity per trainable weight "
          f"({s1['optimizer_state_bytes']:,} B for 64-32-10); plain SGD keeps none")


if __name__ == "__main__":
    main()

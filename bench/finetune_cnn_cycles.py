"""On-device training cost of the GENERATED training code for CNNs on an emulated STM32F405 (QEMU).

Instructions per training step (QEMU -icount shift=0 + TIM2: emulator instruction counts, not
silicon cycles; a step = forward, loss, divergence-guard check, backward with the fused conv and
dense updates) and training RAM, production flags (the compiler may fuse multiply-adds), batch 1:

* the tiny CNN of the issue, 8x8x1 -> conv 3x3 1->4 ReLU (valid) -> flatten -> dense 144->10,
  float32, cross-entropy, every layer trainable, SGD (AIfES 2.2: 429,619 instructions per step,
  13,288 B training heap + 6,000 B stack) and Adam;
* one training step of the digits CNN (examples/digits_cnn.toml: conv 16 / max pool / conv 32 /
  dense 10) in the CNN modes: the head on an int8 and on a float32 frozen conv body, the last
  conv block + head, and every bias (TinyTL).

"training buffers" is the planned arena (activations, input gradients, conv scratch): what
training needs beyond the trainable parameters and the optimizer state. "naive sum" is every
buffer on its own plus one gradient buffer per trainable parameter. The stack figure is the
memory report's estimate of the deepest call chain (-fstack-usage frames); the board reserves more.

The fine-tuning harness keeps the two storage banks (the board's flash) in RAM. For the digits
CNN's last block (39 KB of trainable parameters: two 48 KiB banks) that image does not link into
the 128 KiB the board plans for, so those rows are built with QEMU's whole 192 KiB SRAM mapped
(`counting_target`): same CPU, flags and code, so the same instruction counts; their training
RAM is still the memory report's, checked against the board's 128 KiB.

Usage: python bench/finetune_cnn_cycles.py [--json]
"""
from __future__ import annotations

import dataclasses
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from edgetrain.device import emulator_available
from edgetrain.device.finetune import finetune_on_device
from edgetrain.layers import Conv2D, Dense, Flatten, MaxPool2D, Sequential
from edgetrain.targets import Target, load_target

TARGET = "stm32f405"
STEPS = 8
AIFES = {"instructions": 429_619, "heap": 13_288, "stack": 6_000}
GOALS = {"tiny_sgd_instructions": 107_000, "tiny_sgd_buffers": 2048}
OPT = {"sgd": dict(optimizer="sgd", lr=0.01), "adam": dict(optimizer="adam", lr=1e-3)}


def tiny_cnn():
    return Sequential([Conv2D(4, 3, padding="valid", activation="relu"), Flatten(), Dense(10)],
                      input_shape=(8, 8, 1), seed=0)


def digits_cnn():
    """The layers of examples/digits_cnn.toml (random weights: the counts do not depend on them)."""
    return Sequential([Conv2D(16, 3, padding="same", activation="relu"), MaxPool2D(2),
                       Conv2D(32, 3, padding="same", activation="relu"), Flatten(), Dense(10)],
                      input_shape=(8, 8, 1), seed=0)


def counting_target(tmp: Path) -> Target:
    """The stm32f405 linked with QEMU's 192 KiB of SRAM (see the module docstring)."""
    base = load_target(TARGET)
    assert base.linker_script is not None
    script = tmp / "stm32f405_qemu192k.ld"
    script.write_text("MEMORY\n{\n    FLASH (rx)  : ORIGIN = 0x08000000, LENGTH = 1024K\n"
                      "    RAM   (rwx) : ORIGIN = 0x20000000, LENGTH = 192K\n}\n"
                      f"INCLUDE {base.linker_script.parent / 'cortexm_sections.ld'}\n")
    return dataclasses.replace(base, linker_script=script)


def run(make, trainable: str, opt: str, body: str = "f32", big: bool = False):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (STEPS, 8, 8, 1)).astype(np.float32)
    y = rng.integers(0, 10, STEPS)
    with tempfile.TemporaryDirectory() as tmp:
        target = counting_target(Path(tmp)) if big else load_target(TARGET)
        rep = finetune_on_device(make(), target, x, y, steps=STEPS, batch=1, trainable=trainable, body=body,
                                 x_eval=x[:2], y_eval=y[:2], calib_x=x, parity=False, shuffle=False, **OPT[opt])
    m = rep.memory
    return {"instructions_per_step": int(np.median(rep.instructions_per_step)), "arena_bytes": m.arena_bytes,
            "naive_bytes": m.naive_bytes, "param_ram_bytes": m.param_ram_bytes,
            "optimizer_state_bytes": m.optimizer_state_bytes, "training_ram_bytes": m.ram_bytes,
            "stack_estimate_bytes": m.stack_estimate,
            "ram_budget": m.ram_budget, "linked_192k": big, "trainable": rep.trainable}


CASES = [
    ("tiny_all_sgd", "tiny CNN, all layers", tiny_cnn, "all", "sgd", "f32", False),
    ("tiny_all_adam", "tiny CNN, all layers", tiny_cnn, "all", "adam", "f32", False),
    ("digits_head_int8_sgd", "digits CNN head, int8 body", digits_cnn, "head", "sgd", "int8", False),
    ("digits_head_f32_sgd", "digits CNN head, f32 body", digits_cnn, "head", "sgd", "f32", False),
    ("digits_last_block_int8_sgd", "digits CNN last block, int8 body", digits_cnn, "last-block", "sgd", "int8", True),
    ("digits_last_block_f32_sgd", "digits CNN last block, f32 body", digits_cnn, "last-block", "sgd", "f32", True),
    ("digits_bias_only_sgd", "digits CNN bias-only (TinyTL)", digits_cnn, "bias-only", "sgd", "f32", False),
]


def main() -> None:
    ok, why = emulator_available(TARGET)
    if not ok:
        print(f"skipped: {TARGET} cannot run here ({why})")
        return
    results = {key: {"label": label, "optimizer": opt, "body": body, **run(make, trainable, opt, body, big)}
               for key, label, make, trainable, opt, body, big in CASES}
    t = results["tiny_all_sgd"]
    goals = [("tiny CNN, all trainable, SGD, batch 1: instructions/step", t["instructions_per_step"],
              GOALS["tiny_sgd_instructions"]),
             ("tiny CNN, all trainable, SGD, batch 1: training buffers beyond parameters and optimizer state B",
              t["arena_bytes"], GOALS["tiny_sgd_buffers"])]
    if "--json" in sys.argv:
        json.dump({"target": TARGET, "aifes": AIFES, "results": results,
                   "goals": [{"what": w, "value": v, "goal": g, "met": v <= g} for w, v, g in goals]},
                  sys.stdout, indent=2)
        print()
        return
    print(f"Generated CNN training code on {TARGET} (QEMU, instruction counts, production flags), batch 1, "
          f"median of {STEPS} steps")
    print(f"{'case':36} {'opt':5} {'instr/step':>11} {'buffers B':>10} {'naive B':>8} {'params B':>9} "
          f"{'opt state B':>12} {'training RAM B':>15} {'stack est. B':>13}")
    for r in results.values():
        print(f"{r['label']:36} {r['optimizer']:5} {r['instructions_per_step']:>11,} {r['arena_bytes']:>10,} "
              f"{r['naive_bytes']:>8,} {r['param_ram_bytes']:>9,} {r['optimizer_state_bytes']:>12,} "
              f"{r['training_ram_bytes']:>15,} {r['stack_estimate_bytes']:>13,}{' *' if r['linked_192k'] else ''}")
    print("* built with QEMU's 192 KiB SRAM linked (the harness's RAM-emulated flash banks); training RAM "
          "(parameters + optimizer state + buffers + stack reservation) checked against 128 KiB")
    print(f"\nAIfES 2.2 on the tiny CNN (SGD): {AIFES['instructions']:,} instructions/step, "
          f"{AIFES['heap']:,} B training heap + {AIFES['stack']:,} B stack "
          f"({AIFES['instructions'] / t['instructions_per_step']:.1f}x the instructions of this code)")
    print("Goals:")
    for what, v, g in goals:
        print(f"  {what}: {v:,} (goal <= {g:,}) {'met' if v <= g else 'NOT MET'}")


if __name__ == "__main__":
    main()

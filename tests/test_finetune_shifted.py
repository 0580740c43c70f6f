"""The shifted-data scenario: a digits model meets images shifted by one
column on the device, fine-tunes its float head there (int8 frozen body), commits, reboots from
the stored bank, and its held-out accuracy on shifted images improves by at least 20 points.
The same flow as examples/finetune_shifted.sh, through the Python API."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from edgetrain.data import load_data
from edgetrain.engine.trainer import fit
from edgetrain.device.finetune import finetune_on_device
from edgetrain.layers import Dense, Sequential

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _shift_columns():
    spec = importlib.util.spec_from_file_location("finetune_shifted_data", EXAMPLES / "finetune_shifted_data.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod.shift_columns


def test_shifted_digits_recover_after_on_device_finetuning(arm_cc, qemu):
    data = load_data("digits", test_size=0.3, val_size=0.1)
    g = Sequential([Dense(32, activation="relu"), Dense(10)], input_shape=(64,), seed=0)
    fit(g, data, epochs=40, batch_size=32, optimizer="adam", lr=0.003)  # examples/digits_mlp.toml
    shift = _shift_columns()

    def shifted(x: np.ndarray) -> np.ndarray:
        return ((shift(x * data.std + data.mean, 1) - data.mean) / data.std).astype(np.float32)

    rep = finetune_on_device(g, "stm32f405", shifted(data.train.x), data.train.y, steps=300, batch=8,
                             trainable="last:1", body="int8", optimizer="adam", lr=0.01,
                             x_eval=shifted(data.test.x), y_eval=data.test.y, calib_x=data.train.x)
    print(f"\nshifted digits on {rep.ran_on}: accuracy before {100 * rep.accuracy_before:.1f}% "
          f"(boot 1), after {100 * rep.accuracy_after:.1f}% (boot 2 from bank seq {rep.stored_sequence}); "
          f"{rep.mean_instructions_per_step:,.0f} instructions/step; arena {rep.memory.arena_bytes} B "
          f"vs naive {rep.memory.naive_bytes} B; banks {rep.memory.bank_flash_bytes} B")
    assert rep.accuracy_after - rep.accuracy_before >= 0.20
    assert rep.diverged_steps == 0 and rep.stored_sequence == 1
    assert np.mean(rep.loss_curve[-30:]) < np.mean(rep.loss_curve[:30])

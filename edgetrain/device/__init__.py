"""The device stage: build firmware for a target, run it on the host or under QEMU, check it
against numpy, and fine-tune on it.

One interface for every target::

    from edgetrain.device import build_firmware, run_firmware, emulate, emulator_available

    fw = build_firmware("stm32f405", [generated_dir], out_dir, parity=True)
    result = run_firmware(fw, inputs, np.float32)       # RunResult
    result.outputs, result.instructions_per_inference, result.sizes

    report = emulate_model(graph, "stm32f405", x, y)     # export, build, run, compare (verify.py)
    rep = finetune_on_device(graph, "stm32f405", x, y)   # train inside the firmware (finetune.py)

Modules: ``firmware`` (what a build produces), ``build`` (compile and link), ``exchange`` (the
inference harness's files), ``host`` / ``qemu`` (how each kind of target is started), ``run``
(the one process runner every harness goes through), ``boot`` (one fine-tuning boot and its
files), ``bank`` (decoding the stored weight banks), ``verify``, ``finetune``.

The firmware is the generated model + runtime sources plus the harness in
``firmware_export/templates/emulate/`` (see its ``main.c`` for the model.h contract).
"""

from typing import Any

from edgetrain.device.build import build_firmware
from edgetrain.device.firmware import Firmware, RunResult, SectionSizes
from edgetrain.device.run import emulate, emulator_available, run_firmware

__all__ = [
    "EmulationReport",
    "FinetuneReport",
    "Firmware",
    "RunResult",
    "SectionSizes",
    "build_firmware",
    "emulate",
    "emulate_model",
    "emulator_available",
    "finetune_on_device",
    "run_firmware",
]

# The two whole flows pull in the C exporter and the trainer: imported on first use so that
# building and running firmware stays light.
_LAZY = {
    "emulate_model": "verify",
    "EmulationReport": "verify",
    "finetune_on_device": "finetune",
    "FinetuneReport": "finetune",
}


def __getattr__(name: str) -> Any:  # the lazily imported verify/finetune attribute
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"edgetrain.device.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'edgetrain.device' has no attribute {name!r}")

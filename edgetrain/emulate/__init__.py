"""Build firmware for a target and run it on the host or under QEMU.

One interface for every target (architecture principle 6)::

    from edgetrain.emulate import build_firmware, run_firmware, emulate, emulator_available

    fw = build_firmware("stm32f405", [generated_dir], out_dir, parity=True)
    result = run_firmware(fw, inputs, np.float32)       # RunResult
    result.outputs, result.instructions_per_inference, result.sizes

The firmware is the generated model + runtime sources plus the harness in
``firmware_export/templates/emulate/`` (see its ``main.c`` for the model.h contract).
"""
from edgetrain.emulate.base import Firmware, RunResult, SectionSizes
from edgetrain.emulate.build import build_firmware
from edgetrain.emulate.run import emulate, emulator_available, run_firmware

__all__ = [
    "Firmware",
    "RunResult",
    "SectionSizes",
    "build_firmware",
    "emulate",
    "emulator_available",
    "run_firmware",
]

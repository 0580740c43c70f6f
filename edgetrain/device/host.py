"""Runner for host builds: execute the native harness directly."""

from __future__ import annotations

import os
import shutil

from edgetrain.device.firmware import Firmware, install_hint
from edgetrain.targets import Target


def available(target: Target) -> tuple[bool, str]:
    """Whether host builds can run (the target's compiler is on PATH) and a line saying why or why
    not."""
    if shutil.which(target.compiler) is None:
        return False, f"{target.compiler} not found ({install_hint(target.compiler)})"
    return True, f"native build with {target.compiler}"


def command(firmware: Firmware) -> list[str]:
    """The command line that runs ``firmware``: the native executable itself."""
    return [str(firmware.path)]


def environment(firmware: Firmware) -> dict[str, str]:
    """The environment to run ``firmware`` in: the current one, with sanitizer defaults (no leak
    checking, stack traces) for a sanitized build unless already set."""
    env = dict(os.environ)
    if firmware.sanitize:
        # LeakSanitizer needs ptrace, which containers often forbid; the harness never mallocs,
        # so leak checking adds nothing but spurious failures. Respect a user's own setting.
        env.setdefault("ASAN_OPTIONS", "detect_leaks=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
    return env

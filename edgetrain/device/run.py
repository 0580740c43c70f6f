"""Run a built firmware on its target's runner and collect a RunResult."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
from numpy.typing import DTypeLike

from edgetrain.device import host, qemu
from edgetrain.device.build import build_firmware
from edgetrain.device.exchange import INPUT_FILE, OUTPUT_FILE, describe_exit, read_outputs, write_inputs
from edgetrain.device.firmware import Firmware, RunResult
from edgetrain.errors import ConfigError, DataError, ToolchainError
from edgetrain.export.c.abi import HARNESS_STATUS
from edgetrain.targets import Target, load_target

DEFAULT_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class HarnessRun:
    """One finished run of a harness: its exit status (0), command and console log."""

    status: int
    command: tuple[str, ...]
    log: str


def runner_for(target: Target) -> ModuleType:
    """The runner module (host or QEMU) that starts ``target``'s firmware; refuses a target that
    has none or whose tools are missing here."""
    runner: ModuleType
    if target.is_host:
        runner = host
    elif target.emulator is not None and target.emulator.kind == "qemu":
        runner = qemu
    else:
        raise ConfigError(
            f"target {target.name!r} has no emulator: it can be built, not run",
            hint="use the host target or an emulated board",
        )
    ok, reason = runner.available(target)
    if not ok:
        raise ToolchainError(f"cannot run {target.name}: {reason}")
    return runner


def run_harness(
    firmware: Firmware, work: Path, *, timeout: float, what: str, exit_meanings: Mapping[int, str] | None = None
) -> HarnessRun:
    """Start ``firmware`` in directory ``work`` (where the harness reads and writes its files) and
    wait for it. Every harness (inference and fine-tuning) runs through here.

    A non-finite input sample is the caller's data error (DataError); any other non-zero exit, a
    timeout or a missing tool is a ToolchainError whose message says what the status means
    (``exit_meanings`` first, then the shared harness meanings) and whose hint is the command.
    """
    runner = runner_for(firmware.target)
    cmd = runner.command(firmware)
    try:
        # The harness opens its files relative to its working directory (semihosting
        # target=native resolves against QEMU's cwd).
        proc = subprocess.run(
            cmd,
            cwd=work,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=runner.environment(firmware),
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ToolchainError(
            f"{what} timed out after {timeout:g} s",
            hint=f"the firmware may be stuck (a fault loop or an endless model); command (in {work}): {' '.join(cmd)}",
        ) from exc
    log = (proc.stdout + proc.stderr).strip()
    status = proc.returncode
    if status == HARNESS_STATUS["ET_HARNESS_NON_FINITE_INPUT"]:
        raise DataError(
            f"{what}: an input sample holds NaN or +-inf; the model refused it (ET_ERR_NON_FINITE)",
            hint="clean the data first: every feature must be a finite number",
        )
    if status != 0:
        why = (exit_meanings or {}).get(status) or describe_exit(status)
        detail = f": {log.splitlines()[-1]}" if log else ""
        raise ToolchainError(
            f"{what} failed with status {status} ({why}){detail}", hint=f"command (in {work}): {' '.join(cmd)}"
        )
    return HarnessRun(status, tuple(cmd), log)


def emulator_available(target: Target | str) -> tuple[bool, str]:
    """Whether ``target`` can be built and run here, and why not (for a host-gcc fallback)."""
    if isinstance(target, str):
        target = load_target(target)
    if target.is_host:
        return host.available(target)
    return qemu.available(target)


def run_firmware(
    firmware: Firmware,
    inputs: np.ndarray,
    output_dtype: DTypeLike,
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    workdir: Path | None = None,
) -> RunResult:
    """Feed ``inputs`` (first axis = sample, raw C layout) to the firmware; collect outputs.

    Outputs come back as an (N, ET_MODEL_OUTPUT_BYTES / itemsize) array of ``output_dtype``.
    A sample holding NaN or +-inf raises DataError (the float model refuses it); any other
    non-zero harness exit, a timeout or a malformed outputs file raises ToolchainError.
    """
    target = firmware.target
    with tempfile.TemporaryDirectory(prefix="edgetrain-run-") as tmp:
        work = Path(workdir) if workdir is not None else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        write_inputs(work / INPUT_FILE, inputs)
        (work / OUTPUT_FILE).unlink(missing_ok=True)
        run = run_harness(firmware, work, timeout=timeout, what=f"{target.name} run")
        harvested = read_outputs(work / OUTPUT_FILE, output_dtype)

    if harvested.outputs.shape[0] != np.asarray(inputs).shape[0]:
        raise ToolchainError("the harness returned a different number of samples than it was given")
    return RunResult(
        target=target.name,
        outputs=harvested.outputs,
        instructions_per_inference=harvested.instructions if target.counts_instructions else None,
        sizes=firmware.sizes,
        exit_status=run.status,
        commands=(*firmware.commands, run.command),
        log=run.log,
    )


def emulate(
    target: Target | str,
    sources: Path | Sequence[Path],
    inputs: np.ndarray,
    output_dtype: DTypeLike,
    *,
    parity: bool = False,
    sanitize: bool = False,
    timeout: float = DEFAULT_TIMEOUT_S,
    build_dir: Path | None = None,
) -> RunResult:
    """Build and run in one step (what `edgetrain emulate` does)."""
    if isinstance(target, str):
        target = load_target(target)
    with tempfile.TemporaryDirectory(prefix="edgetrain-build-") as tmp:
        out = Path(build_dir) if build_dir is not None else Path(tmp)
        firmware = build_firmware(target, sources, out, parity=parity, sanitize=sanitize)
        return run_firmware(firmware, inputs, output_dtype, timeout=timeout)

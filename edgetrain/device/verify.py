"""Prove an exported model works: export C, build it for a target, run it on test samples and
compare with numpy (the float engine, and for int8 the bit-exact int8 reference).

This is what `edgetrain emulate` and `make demo` report: on-device vs numpy accuracy,
disagreements, instructions per inference (QEMU, TIM2 counting), section sizes and arena bytes.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..deprecation import renamed_keyword
from ..engine.executor import predict
from ..errors import ConfigError
from ..export.c import export_c
from ..graph import Graph
from ..outputs import KEEP_HINT, check_output_dir
from ..quantize.reference import int8_reference
from ..targets import Target, load_target
from .ram_plan import inference_firmware_ram
from .run import emulate, emulator_available


@dataclass
class EmulationReport:
    """One emulated run of an exported model: accuracy on the device against numpy, the
    disagreements, instruction counts, section sizes and memory; built by `emulate_model`."""

    model: str
    target: str
    ran_on: str  # the target actually run (host when falling back)
    fallback_reason: str | None
    dtype: str
    samples: int
    device_accuracy: float | None
    numpy_accuracy: float | None  # numpy reference of the same arithmetic (int8 reference for int8)
    float_accuracy: float | None  # the float model in numpy
    disagreements: int  # samples whose device output differs from the numpy reference
    max_abs_diff: float  # largest |device - reference| over all outputs (0 for bit-exact int8)
    instructions_per_inference: float | None
    instructions_min: int | None
    instructions_max: int | None
    text_bytes: int
    data_bytes: int
    bss_bytes: int
    arena_bytes: int
    model_flash_bytes: int
    extra: dict[str, Any] = field(default_factory=dict)
    firmware_ram_bytes: int | None = None  # the emulation firmware's planned RAM (= the link's); None on the host
    runner: str | None = None  # how it ran: the emulator and machine, or the host build
    # The raw device outputs (one row per sample) and the input tensors fed (int8 for int8 models):
    # for `emulate --outputs`; not part of the JSON report.
    device_outputs: np.ndarray | None = field(default=None, repr=False, compare=False)
    device_inputs: np.ndarray | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data (the JSON report): every field but the raw device inputs and outputs."""
        d = asdict(self)
        d.pop("device_outputs")
        d.pop("device_inputs")
        return d

    def rows(self) -> list[tuple[str, Any]]:
        """The report as (label, value) rows for a table, accuracies as percentages ("-": none)."""

        def pct(a: float | None) -> str:
            return "-" if a is None else f"{100 * a:.2f}%"

        instr = (
            "-"
            if self.instructions_per_inference is None
            else f"{self.instructions_per_inference:,.0f} "
            f"(min {self.instructions_min:,}, max {self.instructions_max:,})"
        )
        return [
            ("ran on", self.ran_on + (f" (fallback: {self.fallback_reason})" if self.fallback_reason else "")),
            ("dtype", self.dtype),
            ("samples", self.samples),
            ("accuracy on device", pct(self.device_accuracy)),
            (f"accuracy numpy ({'int8 reference' if self.dtype == 'int8' else 'float'})", pct(self.numpy_accuracy)),
            ("accuracy float model", pct(self.float_accuracy)),
            ("disagreements vs numpy", self.disagreements),
            ("max |device - numpy|", f"{self.max_abs_diff:.3g}"),
            ("instructions per inference (QEMU icount, not cycles)", instr),
            (".text / .data / .bss bytes", f"{self.text_bytes:,} / {self.data_bytes:,} / {self.bss_bytes:,}"),
            ("flash bytes (model data + runtime code, estimated)", f"{self.model_flash_bytes:,}"),
            ("arena bytes", f"{self.arena_bytes:,}"),
            (
                "firmware RAM bytes (model, harness buffers, C library reserve, stack)",
                "-" if self.firmware_ram_bytes is None else f"{self.firmware_ram_bytes:,}",
            ),
        ]


def emulate_model(
    graph: Graph,
    target: Target | str,
    x: np.ndarray,
    y: np.ndarray | None = None,
    *,
    dtype: Literal["f32", "int8"] = "int8",
    calib_x: np.ndarray | None = None,
    per_channel: bool = True,
    fallback_host: bool = False,
    parity: bool = True,
    force_ref: bool = False,
    sparse_format: str = "auto",
    keep_dir: str | Path | None = None,
    timeout: float = 600.0,
    **deprecated: Any,
) -> EmulationReport:
    """Export `graph` for `target`, run it on samples `x` (standardised floats) and report.

    With ``fallback_host`` a target that cannot run here (no QEMU, no cross compiler, or a
    build-only board) runs on host gcc instead, and the report says why. The old keyword
    ``fallback_to_host`` still works, with a DeprecationWarning.
    """
    fallback_host = renamed_keyword(
        "emulate_model", deprecated, "fallback_to_host", "fallback_host", fallback_host, False
    )
    target = load_target(target) if isinstance(target, str) else target
    run_target, reason = target, None
    ok, why = emulator_available(target)
    if not ok:
        if not fallback_host:
            from ..errors import ToolchainError

            raise ToolchainError(
                f"cannot run {target.name} here: {why}",
                hint="pass --fallback-host to run on host gcc instead, or pick an emulated board (edgetrain targets)",
            )
        run_target, reason = load_target("host"), why
    runner = why if run_target is target else emulator_available(run_target)[1]
    if dtype == "int8" and calib_x is None:
        raise ConfigError("int8 emulation needs calibration samples (calib_x)")
    x = np.asarray(x, np.float32)
    if keep_dir is not None:  # the sources are written there by export_c: refuse someone else's files now
        check_output_dir(keep_dir, hint=KEEP_HINT)
    with tempfile.TemporaryDirectory(prefix="edgetrain-emulate-") as tmp:
        out = Path(keep_dir) if keep_dir is not None else Path(tmp) / "model_c"
        # Budget is checked against the requested target even when running on the host.
        res = export_c(
            graph,
            target,
            out,
            dtype=dtype,
            calib_x=calib_x,
            per_channel=per_channel,
            force_ref=force_ref,
            sparse_format=sparse_format,
        )
        firmware_ram = inference_firmware_ram(res.report, res.program, run_target)
        firmware_ram.check()  # before the build: the link would fail
        raw = res.prepare_input(x)
        run = emulate(
            run_target, out, raw, res.output_dtype, parity=parity, timeout=timeout, build_dir=Path(tmp) / "build"
        )
    float_out = predict(graph, x)
    if res.qmodel is not None:  # dtype "int8": export_c quantized (or took) the model
        ref = int8_reference(res.qmodel, x)
        dev = run.outputs.astype(np.int8)
        differs = np.any(dev != ref, axis=1)
        max_diff = float(np.abs(dev.astype(np.int32) - ref.astype(np.int32)).max()) if len(x) else 0.0
    else:
        ref = float_out
        dev = run.outputs.astype(np.float32)
        err = np.abs(dev - ref)
        differs = np.any(err > 1e-5 * np.maximum(1.0, np.abs(ref)), axis=1)
        max_diff = float(err.max()) if len(x) else 0.0

    def acc(o: np.ndarray) -> float | None:
        return None if y is None else float((np.asarray(o).argmax(1) == y).mean())

    counts = run.instructions_per_inference
    return EmulationReport(
        model=graph.name,
        target=target.name,
        ran_on=run_target.name,
        fallback_reason=reason,
        dtype=dtype,
        samples=len(x),
        device_accuracy=acc(dev),
        numpy_accuracy=acc(ref),
        float_accuracy=acc(float_out),
        disagreements=int(differs.sum()),
        max_abs_diff=max_diff,
        instructions_per_inference=None if counts is None else float(np.mean(counts)),
        instructions_min=None if counts is None else int(np.min(counts)),
        instructions_max=None if counts is None else int(np.max(counts)),
        text_bytes=run.sizes.text,
        data_bytes=run.sizes.data,
        bss_bytes=run.sizes.bss,
        arena_bytes=res.report.arena_bytes,
        model_flash_bytes=res.report.flash_bytes,
        firmware_ram_bytes=None if firmware_ram.available is None else firmware_ram.total,
        runner=runner,
        device_outputs=dev,
        device_inputs=np.asarray(raw).reshape(len(x), -1),
    )

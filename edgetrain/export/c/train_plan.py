"""Training memory report, budget check, and the atomic export of the training sources.

    res = export_training_c(graph, "stm32f405", "out/train_c", DeviceTrainConfig(...), calib_x=x)
    res.report.arena_bytes, res.report.naive_bytes, res.report.bank_flash_bytes

RAM of on-device training = trainable parameters (RAM copies) + optimizer state + the planned
arena (activations, features, logits, input gradients) + the parameter and optimizer descriptors
(one et_param_f32 per parameter, one et_optimizer: writable structs, so RAM) + the stack
reservation. The arena is
compared with the naive sum (every buffer on its own, plus a gradient buffer per trainable
parameter). Flash = const model data + the two storage banks. The budget is checked before
anything is written, so a model that does not fit leaves no files behind.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ...errors import BudgetExceededError, ConfigError
from ...graph import Graph
from ...quantize import QuantizedModel
from ...targets import Target, load_target
from .project import ProjectKind
from .train_program import DeviceTrainConfig, TrainProgram, build_train_program
from .train_storage import StorageGeometry  # re-exported: train_plan.StorageGeometry

# Upper bound on the stack of the deepest dense training call chain (et_train_step -> fused
# backward -> optimizer). Reported only; the stack reservation is the target's.
TRAIN_STACK_ESTIMATE = 512
# et_train_step -> et_train_forward_loss / et_train_backward_update: their frames above a kernel's.
TRAIN_FRAME = 64
# Deepest stack of the conv / pool backward kernels (bytes, -fstack-usage, max over host, M3 and
# M4F; callees included: the argument check et_conv_f32_check -> et_conv_geom_check ->
# et_axis_check 120, et_optimizer_check 16, the M3's soft-float helpers 16). The forward kernels'
# figures are the inference report's (report.KERNEL_STACK).
TRAIN_KERNEL_STACK = {
    "et_conv_f32_backward_update": 32 + 544 + 120 + 16 + 16,
    "et_depthwise_conv_f32_backward_update": 32 + 544 + 120 + 16 + 16,
    "et_conv_f32_backward_update_ref": 32 + 304 + 120 + 16 + 16,
    "et_depthwise_conv_f32_backward_update_ref": 32 + 304 + 120 + 16 + 16,
    "et_max_pool_f32_backward": 48 + 240 + 96 + 16,
    "et_avg_pool_f32_backward": 32 + 240 + 96 + 16,
    "et_global_avg_pool_f32_backward": 64 + 16,
}


@dataclass
class TrainMemoryReport:
    """The RAM and flash on-device training needs on one target (see the module docstring for
    what each part counts), with the target's budgets (None: no budget); built by
    `train_memory_report`."""

    model: str
    target: str
    trainable: list[str]
    frozen_body: str  # "none" | "int8" | "f32"
    batch: int
    optimizer: str
    param_ram_bytes: int  # RAM copies of the trainable parameters
    optimizer_state_bytes: int
    arena_bytes: int  # the planned training arena
    arena_live_peak: int  # lower bound: largest sum of simultaneously live buffers
    naive_activation_bytes: int
    param_grad_bytes: int  # gradient buffers a non-fused implementation would keep
    stack_estimate: int
    stack_reserved: int
    const_data_bytes: int  # flash: weights (int8 body, frozen and initial float params), quant data
    payload_bytes: int
    bank_bytes: int
    ram_budget: int | None
    flash_budget: int | None
    buffers: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    descriptor_bytes: int = 0  # et_param_f32 per parameter + et_optimizer (writable, so RAM)

    @property
    def naive_bytes(self) -> int:
        """What training would take without buffer reuse: every buffer on its own plus a gradient
        buffer per trainable parameter."""
        return self.naive_activation_bytes + self.param_grad_bytes

    @property
    def bank_flash_bytes(self) -> int:
        """Flash of the two weight banks (A and B), each ``bank_bytes``."""
        return 2 * self.bank_bytes

    @property
    def ram_bytes(self) -> int:
        """Total training RAM: parameter copies, optimizer state, arena, descriptors and the reserved stack."""
        return (
            self.param_ram_bytes
            + self.optimizer_state_bytes
            + self.arena_bytes
            + self.descriptor_bytes
            + self.stack_reserved
        )

    @property
    def flash_data_bytes(self) -> int:
        """Flash data: the const model data and both banks (runtime code is not counted)."""
        return self.const_data_bytes + self.bank_flash_bytes

    def overshoot(self) -> dict[str, int]:
        """Bytes over budget, keyed "ram" and/or "flash" (flash data against the flash budget);
        empty when training fits."""
        over = {}
        if self.ram_budget is not None and self.ram_bytes > self.ram_budget:
            over["ram"] = self.ram_bytes - self.ram_budget
        if self.flash_budget is not None and self.flash_data_bytes > self.flash_budget:
            over["flash"] = self.flash_data_bytes - self.flash_budget
        return over

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data: every field plus the derived totals and ``overshoot``."""
        d = asdict(self)
        d.update(
            naive_bytes=self.naive_bytes,
            bank_flash_bytes=self.bank_flash_bytes,
            ram_bytes=self.ram_bytes,
            flash_data_bytes=self.flash_data_bytes,
            overshoot=self.overshoot(),
        )
        return d

    def rows(self) -> list[list[str]]:
        """The RAM and flash parts and totals as [item, formatted bytes] rows for a table."""
        return [
            ["RAM: trainable parameters", f"{self.param_ram_bytes:,}"],
            ["RAM: optimizer state", f"{self.optimizer_state_bytes:,}"],
            ["RAM: training arena (planned)", f"{self.arena_bytes:,}"],
            [
                "    naive sum (no reuse, + parameter gradients)",
                f"{self.naive_bytes:,} ({self.naive_activation_bytes:,} + {self.param_grad_bytes:,})",
            ],
            ["RAM: parameter and optimizer descriptors", f"{self.descriptor_bytes:,}"],
            [f"RAM: stack reserved (estimate {self.stack_estimate:,})", f"{self.stack_reserved:,}"],
            [
                "RAM total for training",
                f"{self.ram_bytes:,}" + (f" of {self.ram_budget:,}" if self.ram_budget is not None else ""),
            ],
            ["flash: const model data", f"{self.const_data_bytes:,}"],
            [
                "flash: A/B banks",
                f"{self.bank_flash_bytes:,} (2 x {self.bank_bytes:,}, payload {self.payload_bytes:,})",
            ],
        ]


def train_stack_estimate(p: TrainProgram) -> int:
    """The deepest call chain of the training step: the dense chain, or the program's frames above
    its deepest kernel (forward kernels as the inference report counts them, conv / pool backward
    kernels from TRAIN_KERNEL_STACK)."""
    from .report import KERNEL_STACK

    known = {**KERNEL_STACK, **TRAIN_KERNEL_STACK}
    deepest = max((known.get(k, 0) for op in p.ops for k in op.kernels), default=0)
    return max(TRAIN_STACK_ESTIMATE, TRAIN_FRAME + deepest)


def train_memory_report(p: TrainProgram, target: Target, geometry: StorageGeometry) -> TrainMemoryReport:
    """The training memory report of ``p`` on ``target`` with storage ``geometry``: parameters,
    optimizer state, arena, stack, constant data and weight banks against the target's budgets."""
    from . import raw_input

    # const model data: the arrays, and the input statistics et_train_input_from_raw reads
    const = sum(a.nbytes for a in p.arrays if a.condition is None) + raw_input.flash_bytes(p.standardisation)
    stack = train_stack_estimate(p)
    return TrainMemoryReport(
        model=p.name,
        target=target.name,
        trainable=[t.name for t in p.trainable],
        frozen_body="none" if p.split.body is None else p.config.body,
        batch=p.config.batch,
        optimizer=p.config.optimizer,
        param_ram_bytes=p.payload_bytes,
        optimizer_state_bytes=p.optimizer_state_bytes,
        arena_bytes=p.plan.arena_bytes,
        arena_live_peak=p.plan.peak_live_bytes(),
        naive_activation_bytes=p.naive_activation_bytes,
        param_grad_bytes=p.param_grad_bytes,
        stack_estimate=stack,
        stack_reserved=max(stack, target.stack_bytes),
        const_data_bytes=const,
        payload_bytes=p.payload_bytes,
        bank_bytes=geometry.bank_bytes(p.payload_bytes),
        ram_budget=target.ram_bytes,
        flash_budget=target.flash_bytes,
        buffers=[
            {"name": n, "bytes": b.size, "offset": p.plan.offsets[n], "ops": [b.first, b.last]}
            for n, b in sorted(p.plan.buffers.items(), key=lambda kv: p.plan.offsets[kv[0]])
        ],
        notes=[*p.notes, "RAM excludes the harness's sample buffers and code; banks are flash"],
        descriptor_bytes=descriptor_bytes(p),
    )


def descriptor_bytes(p: TrainProgram) -> int:
    """RAM of the generated training code's writable structs (on Cortex-M): an et_param_f32 for
    every parameter, trainable or frozen, and the one et_optimizer."""
    from .abi import struct_bytes

    return len(p.params) * struct_bytes("et_param_f32") + struct_bytes("et_optimizer")


def check_train_budget(r: TrainMemoryReport) -> None:
    """Raise BudgetExceededError, naming each overshoot and what makes up the RAM, when the report
    does not fit its target's RAM or flash."""
    over = r.overshoot()
    if not over:
        return
    parts = []
    if "ram" in over:
        parts.append(
            f"training needs {r.ram_bytes:,} B of RAM of {r.ram_budget:,} B (over by {over['ram']:,} B: "
            f"parameters {r.param_ram_bytes:,}, optimizer state {r.optimizer_state_bytes:,}, "
            f"arena {r.arena_bytes:,}, descriptors {r.descriptor_bytes:,}, stack {r.stack_reserved:,})"
        )
    if "flash" in over:
        parts.append(f"flash needs {r.flash_data_bytes:,} B of {r.flash_budget:,} B (over by {over['flash']:,} B)")
    raise BudgetExceededError(
        f"fine-tuning {r.model!r} does not fit {r.target}: " + "; ".join(parts),
        hint="train fewer layers (--trainable last:1 or bias-only), use sgd without "
        "momentum, a smaller --batch, or --body int8",
    )


@dataclass(frozen=True)
class TrainExport:
    """What `export_training_c` wrote and computed: the directory, the training program, its
    memory report, the target and the bank geometry."""

    out_dir: Path
    program: TrainProgram
    report: TrainMemoryReport
    target: Target
    geometry: StorageGeometry
    files: tuple[Path, ...] = ()  # relative to out_dir


def prepare_training(
    graph: Graph,
    target: Target | str,
    config: DeviceTrainConfig,
    calib_x: ArrayLike | None = None,
    *,
    per_channel: bool = True,
    qbody: QuantizedModel | None = None,
    geometry: StorageGeometry | None = None,
) -> tuple[TrainProgram, TrainMemoryReport, Target]:
    """Program + memory report + budget check, nothing written."""
    target = load_target(target) if isinstance(target, str) else target
    geometry = geometry or StorageGeometry()
    program = build_train_program(graph, config, calib_x, per_channel=per_channel, qbody=qbody)
    report = train_memory_report(program, target, geometry)
    check_train_budget(report)
    return program, report, target


def export_training_c(
    graph: Graph,
    target: Target | str,
    out_dir: str | Path,
    config: DeviceTrainConfig,
    calib_x: ArrayLike | None = None,
    *,
    per_channel: bool = True,
    qbody: QuantizedModel | None = None,
    geometry: StorageGeometry | None = None,
    force: bool = False,
    protect: Iterable[str | os.PathLike[str]] = (),
    project: ProjectKind | None = None,
    example_batches: tuple[ArrayLike, ArrayLike] | None = None,
    name: str | None = None,
) -> TrainExport:
    """Generate the on-device training library into ``out_dir`` (budget first): the sources, the
    runtime (with the target's weight store port), build fragments (edgetrain_train.mk,
    CMakeLists.txt), the memory report and a README.

    ``project`` ("make" or "cmake") adds a firmware project (`train_project`) whose example
    application trains on ``example_batches``: float samples [steps][batch][...] (standardised)
    and labels [steps][batch]. ``name`` (a symbol prefix, as `export_c`'s) is not supported yet.

    Written like `export_c`'s output (`edgetrain.outputs`): atomically over an earlier edgetrain
    output or an empty directory; other content is refused unless ``force``."""
    from . import write_atomically
    from .emit import build_fragments
    from .project import check_kind
    from .train_emit import render_files
    from .train_project import LIB, train_project_files
    from .train_readme import render_train_readme

    if name is not None:
        raise ConfigError(
            "--name is not supported with --train yet",
            hint="export the training code without --name (symbols et_train_*, train_model.h)",
        )
    target = load_target(target) if isinstance(target, str) else target
    check_kind(project, target)
    if project is not None and example_batches is None:
        raise ConfigError(
            "a training project needs example batches to train on",
            hint="pass example_batches (samples [steps][batch], labels [steps][batch]) or --data",
        )
    geometry = geometry or StorageGeometry()
    program, report, target = prepare_training(
        graph, target, config, calib_x, per_channel=per_channel, qbody=qbody, geometry=geometry
    )
    files = render_files(program, json.dumps(report.to_dict(), indent=2) + "\n", target.storage_port)
    files.update(build_fragments(files, LIB, "on-device training"))
    files[Path("README.md")] = render_train_readme(program, report, target, geometry, project).encode()
    if project is not None:
        assert example_batches is not None
        xs = np.asarray(example_batches[0], np.float32)
        inputs = program.device_input(xs.reshape(-1, *program.input_shape))
        files.update(
            train_project_files(
                program,
                report,
                geometry,
                target,
                project,
                inputs,
                np.asarray(example_batches[1]),
                files[Path("CMakeLists.txt")].decode(),
            )
        )
    write_atomically(Path(out_dir), files, force=force, protect=protect)
    return TrainExport(Path(out_dir), program, report, target, geometry, tuple(sorted(files)))

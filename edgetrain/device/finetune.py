"""Emulated on-device fine-tuning: generate the training code, train inside the firmware, commit
the weights to the A/B banks, reboot from the stored bank and evaluate.

    rep = finetune_on_device(graph, "stm32f405", x_new, y_new, steps=300, trainable="last:1",
                             optimizer="sgd", lr=0.05, momentum=0.9, batch=1, body="int8",
                             x_eval=x_test, y_eval=y_test, calib_x=x_train)
    rep.accuracy_before, rep.accuracy_after      # boot 1 before training | boot 2 from the bank
    rep.loss_curve, rep.instructions_per_step    # measured on the device
    rep.memory.arena_bytes, rep.memory.naive_bytes, rep.memory.bank_flash_bytes
    save_model(rep.graph, "updated.etm")         # the weights read back from the stored bank

Two runs of the same firmware (templates/finetune/main.c) share one host file as the device's
flash: boot 1 trains and commits, boot 2 must load the committed bank (it fails otherwise). The
trained weights returned are decoded from that flash image (header and CRC checked here too).

`reference_finetune` is the numpy engine doing the same steps on the same batches (the int8 body
through `run_int8`, the head through `Trainer.train_step`): the parity contract.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from ..engine.executor import forward
from ..engine.trainer import Trainer
from ..errors import ConfigError, DataError, ToolchainError
from ..export.c.train_modes import apply_trainable
from ..export.c.train_plan import StorageGeometry, TrainExport, TrainMemoryReport, export_training_c
from ..export.c.train_program import DeviceTrainConfig, TrainProgram
from ..graph import Graph, Param
from ..limits import limit, over_limit_hint
from ..outputs import KEEP_HINT, output_directory
from ..quantize import run_int8
from ..resources import firmware_dir
from ..targets import Target, load_target
from .bank import read_bank
from .boot import BootResult, device_input, run_boot
from .build import build_firmware
from .firmware import Firmware, SectionSizes
from .ram_plan import FirmwareRam, finetune_firmware_ram
from .run import emulator_available

# ---------------------------------------------------------------- data


def make_batches(
    x: ArrayLike, y: ArrayLike, steps: int, batch: int, *, seed: int = 0, shuffle: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """``steps`` batches of ``batch`` samples: epochs of a permutation (or in order), cycled."""
    x, y = np.asarray(x, np.float32), np.asarray(y)
    if len(x) == 0 or len(x) != len(y):
        raise DataError(f"training data needs samples and as many labels ({len(x)} samples, {len(y)} labels)")
    if steps < 1:
        raise ConfigError(f"steps must be at least 1, got {steps}")
    need = steps * batch
    elements = need * int(np.prod(x.shape[1:], dtype=np.int64))
    if elements > limit("MAX_DATA_ELEMENTS"):
        raise DataError(
            f"{steps} steps x {batch} samples x {elements // need} features is {elements} values, over "
            f"the limit of {limit('MAX_DATA_ELEMENTS')}",
            hint=over_limit_hint("MAX_DATA_ELEMENTS"),
        )
    rng = np.random.default_rng(seed)
    order = np.concatenate(
        [rng.permutation(len(x)) if shuffle else np.arange(len(x)) for _ in range(-(-need // len(x)))]
    )[:need]
    return x[order].reshape(steps, batch, *x.shape[1:]), y[order].reshape(steps, batch).astype(np.int32)


def reference_features(program: TrainProgram, x: ArrayLike) -> np.ndarray:
    """The head's input computed by the numpy engine: the int8 body bit-exactly (run_int8, then
    the same float32 dequantization as et_dequantize_s8_f32), or the float body, or x itself."""
    x = np.asarray(x, np.float32)
    split = program.split
    if split.body is None:
        return x.reshape(len(x), *split.head.input_shape)
    if program.qbody is not None:
        q = run_int8(program.qbody, program.qbody.quantize_input(x))
        return reference_dequantize(program, q)
    return forward(split.body, x, outputs=[split.boundary])[0][split.boundary]


def reference_dequantize(program: TrainProgram, q: np.ndarray) -> np.ndarray:
    """The int8 body's output ``q`` as the head's float32 input: ``(q - zero_point) * scale`` with
    the boundary's quantization, as et_dequantize_s8_f32 computes it."""
    assert program.boundary_scale is not None and program.boundary_zero_point is not None
    return (q.astype(np.int32) - program.boundary_zero_point).astype(np.float32) * np.float32(program.boundary_scale)


#: Steps averaged at each end of the loss curve in the report (`FinetuneReport.rows`).
LOSS_WINDOW = 10


def loss_window(steps: int) -> int:
    """Steps averaged at each end of a loss curve of ``steps`` steps: `LOSS_WINDOW`, at most half."""
    return max(1, min(LOSS_WINDOW, steps // 2 or 1))


@dataclass
class ReferenceRun:
    """What `reference_finetune` computed: the loss of each step, the trained values the device
    would store, and the trained head."""

    losses: np.ndarray
    weights: dict[str, np.ndarray]  # graph layout (a clustered weight: its codebook), trainable only
    head: Graph


def reference_finetune(program: TrainProgram, xs: np.ndarray, ys: np.ndarray) -> ReferenceRun:
    """The numpy engine on the same batches: the parity contract of the generated code."""
    head = program.split.head.copy()
    trainer = Trainer(
        head,
        optimizer=program.config.engine_optimizer(),
        loss="cross_entropy",
        batch_size=program.config.batch,
        progress=False,
    )
    losses = [trainer.train_step(reference_features(program, xb), yb.astype(np.int64)) for xb, yb in zip(xs, ys)]
    # What the device stores per parameter: its value, or a clustered weight's codebook.
    weights = {p.name: head.params[p.name].storage().copy() for p in program.trainable}
    return ReferenceRun(np.asarray(losses, np.float64), weights, head)


def reference_logits(program: TrainProgram, x: ArrayLike, head: Graph | None = None) -> np.ndarray:
    """The numpy engine's logits for ``x``: the frozen body's features through ``head`` (default:
    the program's head)."""
    from ..engine.executor import predict

    return predict(head or program.split.head, reference_features(program, x))


def set_stored(param: Param, value: np.ndarray) -> None:
    """Put a value read from the device into ``param``: its value, or, for a clustered (shared)
    weight, its codebook (the weight is then recomputed from the indices and mask)."""
    if param.codebook is not None:
        param.codebook = np.asarray(value, param.codebook.dtype).reshape(param.codebook.shape).copy()
        param.apply_constraints()
    else:
        param.value = np.asarray(value, np.float32).copy()


# ---------------------------------------------------------------- the whole flow


def _json_float(v: float | None) -> float | str | None:
    """A float for JSON: non-finite values as their names (JSON has no NaN or infinity)."""
    return v if v is None or np.isfinite(v) else str(v)


@dataclass
class FinetuneReport:
    """One emulated fine-tuning run (`finetune_on_device`): accuracy before training (boot 1) and
    after loading the stored bank (boot 2), the device's loss curve and instruction counts, the
    check before the commit, the memory reports and the graph with the weights read back."""

    model: str
    target: str
    ran_on: str  # the target the firmware ran on: `target`, or "host" on a fallback
    trainable: list[str]
    config: dict[str, Any]
    steps: int
    accuracy_before: float | None  # boot 1, before training, on the device
    accuracy_after: float | None  # boot 2, loaded from the stored bank
    loss_curve: list[float]
    diverged_steps: int
    instructions_per_step: list[int] | None
    eval_instructions_per_sample: float | None
    commit_instructions: int | None
    stored_sequence: int
    memory: TrainMemoryReport
    image: SectionSizes
    weights: dict[str, np.ndarray]
    graph: Graph
    logits_before: np.ndarray
    logits_after: np.ndarray
    features: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)
    program: TrainProgram = field(kw_only=True)  # what was generated (for reference_finetune)
    # The guard's check of the weights about to be committed (one more forward pass on the last
    # batch): True when it rolled them back, so the commit holds the previous commit's weights.
    final_rolled_back: bool = False
    final_loss: float | None = None
    final_check: str | None = None  # "accepted", "loss" or "parameters" (what rejected); None: not run
    param_rms: tuple[float, float] | None = None  # at boot start, of the weights checked
    erase_counts: tuple[int, int] | None = None  # bank A, bank B after the commit (wear)
    firmware_ram: FirmwareRam | None = None  # the emulation firmware's RAM, item by item
    runner: str = ""  # how it ran: the emulator and machine, or the host build

    @property
    def mean_instructions_per_step(self) -> float | None:
        """The mean instructions of a training step, or None without counts."""
        return float(np.mean(self.instructions_per_step)) if self.instructions_per_step else None

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data for JSON: non-finite check values as strings, the memory
        reports as dicts; the weights, graph, program, logits and features are left out."""
        return {
            "model": self.model,
            "target": self.target,
            "ran_on": self.ran_on,
            "runner": self.runner,
            "trainable": self.trainable,
            "config": self.config,
            "steps": self.steps,
            "accuracy_before": self.accuracy_before,
            "accuracy_after": self.accuracy_after,
            "loss_curve": self.loss_curve,
            "diverged_steps": self.diverged_steps,
            "instructions_per_step": self.instructions_per_step,
            "mean_instructions_per_step": self.mean_instructions_per_step,
            "eval_instructions_per_sample": self.eval_instructions_per_sample,
            "commit_instructions": self.commit_instructions,
            "stored_sequence": self.stored_sequence,
            "final_check": {
                "result": self.final_check,
                "rolled_back": self.final_rolled_back,
                "loss": _json_float(self.final_loss),
                "param_rms": None if self.param_rms is None else [_json_float(v) for v in self.param_rms],
            },
            "erase_counts": None if self.erase_counts is None else list(self.erase_counts),
            "memory": self.memory.to_dict(),
            "firmware_ram": None if self.firmware_ram is None else self.firmware_ram.to_dict(),
            "image": {"flash_bytes": self.image.flash_bytes, "static_ram_bytes": self.image.static_ram_bytes},
            "notes": self.notes,
        }

    def _final_row(self) -> str:
        if self.final_check is None or self.final_loss is None or self.param_rms is None:
            return "-"
        what = f"loss {self.final_loss:.4g}, parameter RMS {self.param_rms[0]:.3g} -> {self.param_rms[1]:.3g}"
        if not self.final_rolled_back:
            return f"accepted ({what})"
        check = "parameter" if self.final_check == "parameters" else self.final_check
        return f"rolled back by the {check} check ({what}): committed the last commit's weights"

    def _loss_window(self) -> int:
        """Steps averaged at each end of the loss curve: `LOSS_WINDOW`, at most half the curve."""
        return loss_window(len(self.loss_curve))

    def _smoothed_loss(self) -> str:
        """The mean loss of the first and of the last `_loss_window` steps: one noisy batch says little."""
        curve = np.asarray(self.loss_curve, np.float64)
        if curve.size == 0:
            return "-"
        w = loss_window(curve.size)
        return f"{curve[:w].mean():.4f} -> {curve[-w:].mean():.4f}"

    def rows(self) -> list[list[str]]:
        """The report as [label, value] rows for a table, then the training memory report's rows
        and the firmware RAM total."""

        def pct(v: float | None) -> str:
            return "-" if v is None else f"{100 * v:.1f}%"

        n = self.mean_instructions_per_step
        rows = [
            ["ran on", f"{self.ran_on} ({self.runner})" if self.runner else self.ran_on],
            ["trainable", ", ".join(self.trainable)],
            ["steps x batch", f"{self.steps} x {self.config['batch']} ({self.config['optimizer']})"],
            ["accuracy before (boot 1)", pct(self.accuracy_before)],
            ["accuracy after (boot 2, stored bank)", pct(self.accuracy_after)],
            [f"loss first -> last (mean of {self._loss_window()} steps)", self._smoothed_loss()],
            ["rolled-back steps", str(self.diverged_steps)],
            ["check before the commit", self._final_row()],
            [
                "bank erases A / B",
                "-" if self.erase_counts is None else f"{self.erase_counts[0]} / {self.erase_counts[1]}",
            ],
            ["instructions per training step", "-" if n is None else f"{n:,.0f} (emulator instruction count)"],
        ]
        firmware = [] if self.firmware_ram is None else self.firmware_ram.rows()[-1:]
        return rows + self.memory.rows() + firmware


def build_training_firmware(
    exp: TrainExport, target: Target, build_dir: Path, *, parity: bool = True, sanitize: bool = False
) -> Firmware:
    """The fine-tuning harness (templates/finetune/main.c) around the training sources that
    `export_training_c` wrote to ``exp.out_dir``, built for ``target`` into ``build_dir``."""
    geometry = exp.geometry
    defines = {
        "ET_FT_BANK_BYTES": f"{exp.report.bank_bytes}u",
        "ET_FT_ERASE_SIZE": f"{geometry.erase_size}u",
        "ET_FT_WRITE_UNIT": f"{geometry.write_unit}u",
    }
    return build_firmware(
        target,
        [exp.out_dir],
        build_dir,
        parity=parity,
        sanitize=sanitize,
        defines=defines,
        main=firmware_dir() / "templates" / "finetune" / "main.c",
        name="finetune",
    )


def _choose_target(target: Target, fallback_host: bool) -> tuple[Target, str, list[str]]:
    ok, reason = emulator_available(target)
    if ok:
        return target, reason, []
    if not fallback_host:
        raise ToolchainError(
            f"cannot run {target.name} here: {reason}",
            hint="install the tools, or pass --fallback-host to train on a host gcc build",
        )
    host = load_target("host")
    ok, host_reason = emulator_available(host)
    if not ok:
        raise ToolchainError(f"cannot run {target.name} ({reason}) nor the host build ({host_reason})")
    return (
        host,
        host_reason,
        [
            f"{target.name} not runnable here ({reason}); ran on the host build, "
            f"budgets still checked against {target.name}"
        ],
    )


def finetune_on_device(
    graph: Graph,
    target: Target | str,
    x_train: ArrayLike | None = None,
    y_train: ArrayLike | None = None,
    *,
    steps: int = 100,
    trainable: str | Sequence[str] | None = "last:1",
    optimizer: Literal["sgd", "adam"] = "sgd",
    lr: float = 0.01,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    batch: int = 1,
    body: Literal["int8", "f32"] = "f32",
    x_eval: ArrayLike | None = None,
    y_eval: ArrayLike | None = None,
    calib_x: ArrayLike | None = None,
    batches: tuple[np.ndarray, np.ndarray] | None = None,
    shuffle: bool = True,
    seed: int = 0,
    fallback_host: bool = False,
    parity: bool = True,
    sanitize: bool = False,
    features: bool = False,
    keep_dir: str | Path | None = None,
    geometry: StorageGeometry | None = None,
    config: DeviceTrainConfig | None = None,
) -> FinetuneReport:
    """Train ``graph`` inside the emulated ``target`` and evaluate after a reboot from the bank.

    ``trainable``: ``head`` (the layers after the last conv / pool), ``last-block`` (the last
    conv and everything after it), ``bias-only``, ``last:K``, layer names, ``all``
    (`train_modes.select_trainable`), or None to keep the graph's own flags. With a spec, every
    batch_norm is folded into the layer before it first (the device runs none), so the spec
    applies to the folded layers and ``report.graph`` is the folded model. Training samples come
    from ``batches`` (steps x batch, exact) or from ``x_train``/``y_train`` (``make_batches``).
    ``x_eval``/``y_eval`` default to the training samples. An int8 body is calibrated on
    ``calib_x`` (default: the training samples).
    ``parity`` builds with ``-ffp-contract=off`` (the numpy-parity flags); production flags
    otherwise. The graph passed in is not modified; ``report.graph`` carries the new weights.
    """
    target = load_target(target) if isinstance(target, str) else target
    work_graph, fold_notes = apply_trainable(graph, trainable)
    config = config or DeviceTrainConfig(
        optimizer=optimizer, lr=lr, momentum=momentum, weight_decay=weight_decay, batch=batch, body=body
    )
    if batches is None:
        if x_train is None or y_train is None:
            raise ConfigError("fine-tuning needs training samples (x_train, y_train) or batches")
        batches = make_batches(x_train, y_train, steps, config.batch, seed=seed, shuffle=shuffle)
    xs, ys = np.asarray(batches[0], np.float32), np.asarray(batches[1], np.int32)
    if ys.ndim != 2 or ys.shape[1] != config.batch or len(xs) != len(ys):
        raise ConfigError(f"batches must be [steps][{config.batch}] samples and labels")
    flat = xs.reshape(-1, *xs.shape[2:])
    if x_eval is None:
        x_eval, y_eval = flat, ys.reshape(-1)
    x_eval = np.asarray(x_eval, np.float32)
    if config.body == "int8" and calib_x is None:
        calib_x = flat
    run_target, runner, notes = _choose_target(target, fallback_host)
    geometry = geometry or StorageGeometry()

    # A kept directory is written like any output: refused if it holds someone else's files,
    # published atomically when the run succeeds.
    place = (
        output_directory(keep_dir, hint=KEEP_HINT)
        if keep_dir is not None
        else tempfile.TemporaryDirectory(prefix="edgetrain-finetune-")
    )
    with place as tmp:
        root = Path(tmp)
        # Generated for (and budget-checked against) the requested target, even on a host fallback.
        exp = export_training_c(work_graph, target, root / "src", config, calib_x, geometry=geometry)
        program = exp.program
        # The emulation keeps both banks in RAM too: refuse, before building, what would not link.
        firmware_ram = finetune_firmware_ram(exp.report, program, run_target)
        firmware_ram.check()
        fw = build_training_firmware(exp, run_target, root / "build", parity=parity, sanitize=sanitize)
        work = root / "device"
        work.mkdir(exist_ok=True)
        (work / "flash.bin").unlink(missing_ok=True)  # a new device: erased flash
        first = run_boot(fw, work, program, 1, features=features, x_eval=x_eval, batches=(xs, ys))
        second = run_boot(fw, work, program, 2, features=features, x_eval=x_eval)
        sequence, weights = read_bank((work / "flash.bin").read_bytes(), exp.report.bank_bytes, program)

    if second.load_sequence != sequence or second.load_status != 0:
        raise ToolchainError("the evaluation boot did not load the committed bank")
    out_graph = program.graph if program.graph is not None else work_graph  # batch_norm folded
    for name, value in weights.items():
        set_stored(out_graph.params[name], value)
    out_graph.meta.setdefault("finetune", []).append(
        {
            "target": target.name,
            "steps": int(len(ys)),
            **config.to_dict(),
            "trainable": [p.name for p in program.trainable],
        }
    )

    def acc(logits: np.ndarray) -> float | None:
        return None if y_eval is None else float((logits.argmax(axis=1) == np.asarray(y_eval)).mean())

    counts = first.step_instructions
    return FinetuneReport(
        model=graph.name,
        target=target.name,
        ran_on=run_target.name,
        runner=runner,
        trainable=[p.name for p in program.trainable],
        config=config.to_dict(),
        steps=int(len(ys)),
        accuracy_before=acc(first.logits),
        accuracy_after=acc(second.logits),
        loss_curve=[float(v) for v in first.losses],
        diverged_steps=first.diverged,
        final_rolled_back=first.final_verdict in (1, 3),
        final_loss=None if first.final_verdict == 2 else first.final_loss,
        erase_counts=first.erase_counts,
        final_check={0: "accepted", 1: "loss", 3: "parameters"}.get(first.final_verdict),
        param_rms=first.param_rms,
        instructions_per_step=None if counts is None else counts.tolist(),
        eval_instructions_per_sample=None
        if second.eval_instructions is None
        else float(second.eval_instructions.mean()),
        commit_instructions=first.commit_instructions,
        stored_sequence=sequence,
        memory=exp.report,
        image=fw.sizes,
        weights=weights,
        graph=out_graph,
        logits_before=first.logits,
        logits_after=second.logits,
        features=second.features,
        notes=notes + fold_notes + program.notes,
        program=program,
        firmware_ram=firmware_ram,
    )


__all__ = [
    "BootResult",
    "FinetuneReport",
    "ReferenceRun",
    "build_training_firmware",
    "device_input",
    "finetune_on_device",
    "make_batches",
    "read_bank",
    "reference_features",
    "reference_finetune",
    "reference_logits",
    "run_boot",
    "set_stored",
]

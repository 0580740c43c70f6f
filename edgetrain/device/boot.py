"""One boot of the fine-tuning firmware (templates/finetune/main.c) and the files it exchanges.

boot.bin    u32 boot number, u32 flags (1: also write the head's input features)
eval.bin    "ETE1", u32 count, u32 sample_bytes, samples in the device's input layout
train.bin   "ETT1", u32 steps, u32 batch, u32 sample_bytes, then per step: batch i32 labels, samples
result.bin  "ETF1" header, per-sample logits (and features), per-step loss/instructions/verdict,
            then the commit trailer (see `parse_boot_result`)
All integers little-endian. flash.bin in the same directory is the device's flash and persists
between boots.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ToolchainError
from ..export.c.abi import EVAL_MAGIC, FINETUNE_EXIT_MEANINGS, RESULT_MAGIC, TRAIN_MAGIC
from ..export.c.train_program import TrainProgram
from .firmware import Firmware
from .run import run_harness

RUN_TIMEOUT_S = 300.0


def device_input(program: TrainProgram, x: Any) -> np.ndarray:
    """Float samples -> what the generated code takes (int8-quantized for an int8 body)."""
    return program.device_input(x)


def write_boot_files(
    work: Path,
    program: TrainProgram,
    boot: int,
    features: bool,
    x_eval: np.ndarray,
    batches: tuple[np.ndarray, np.ndarray] | None,
) -> None:
    """Write boot.bin, eval.bin and (for a training boot) train.bin into ``work``."""
    (work / "boot.bin").write_bytes(struct.pack("<II", boot, 1 if features else 0))
    ev = device_input(program, x_eval)
    (work / "eval.bin").write_bytes(struct.pack("<4sII", EVAL_MAGIC, len(ev), program.input_bytes) + ev.tobytes())
    if batches is not None:
        xs, ys = batches
        steps, b = ys.shape
        blob = [struct.pack("<4sIII", TRAIN_MAGIC, steps, b, program.input_bytes)]
        for s in range(steps):
            blob.append(ys[s].astype("<i4").tobytes())
            blob.append(device_input(program, xs[s]).tobytes())
        (work / "train.bin").write_bytes(b"".join(blob))


@dataclass
class BootResult:
    """What one boot of the fine-tuning firmware reported in result.bin, plus its log: the bank it
    loaded, the evaluation logits (and features), each step's loss and verdict, the commit and the
    check before it. Instruction counts are None when the target has no counter."""

    boot: int
    load_status: int
    load_sequence: int
    logits: np.ndarray
    eval_instructions: np.ndarray | None
    features: np.ndarray | None
    losses: np.ndarray
    step_instructions: np.ndarray | None
    verdicts: np.ndarray
    commit_status: int
    commit_sequence: int
    commit_instructions: int | None
    diverged: int  # rolled-back steps, the check before the commit included
    final_loss: float  # the check before the commit: loss of the weights about to be committed
    # 0 accepted, 1 rolled back by the loss, 2 not run, 3 rolled back by the parameter check (a
    # rollback commits the last commit's weights again)
    final_verdict: int
    param_rms: tuple[float, float]  # RMS of the trainable parameters at boot start, before the check
    erase_counts: tuple[int, int]  # banks A and B, as recorded after this boot's commit (or load)
    log: str


# BootResult's fields but the log, in order: what parse_boot_result reads from result.bin.
BootFields = tuple[
    int,
    int,
    int,
    np.ndarray,
    "np.ndarray | None",
    "np.ndarray | None",
    np.ndarray,
    "np.ndarray | None",
    np.ndarray,
    int,
    int,
    "int | None",
    int,
    float,
    int,
    tuple[float, float],
    tuple[int, int],
]


def parse_boot_result(blob: bytes, program: TrainProgram) -> BootFields:
    """result.bin's values: BootResult's fields but the log, in field order. ToolchainError when
    the result magic is missing or the file's size disagrees with its header."""
    head = struct.Struct("<4s9I")
    if len(blob) < head.size or blob[:4] != RESULT_MAGIC:
        raise ToolchainError(f"the fine-tuning harness wrote no {RESULT_MAGIC.decode()} result")
    _magic, boot, flags, _overhead, load_st, load_seq, n_eval, n_cls, feat_bytes, n_steps = head.unpack_from(blob)
    counts = bool(flags & 1)
    feat_dt = np.int8 if program.feature_ctype == "int8_t" else np.float32
    rec = np.dtype([("n", "<u4"), ("logits", "<f4", (n_cls,)), ("feat", "u1", (feat_bytes,))])
    step = np.dtype([("loss", "<f4"), ("n", "<u4"), ("verdict", "<u4")])
    trailer = struct.Struct("<iIIIfIffII")
    expected = head.size + rec.itemsize * n_eval + step.itemsize * n_steps + trailer.size
    if expected != len(blob):  # checked before reading: a short file is an error, not a crash
        raise ToolchainError(f"result.bin holds {len(blob)} bytes, expected {expected}")
    off = head.size
    evals = np.frombuffer(blob, rec, n_eval, off)
    off += rec.itemsize * n_eval
    steps = np.frombuffer(blob, step, n_steps, off)
    off += step.itemsize * n_steps
    (commit_st, commit_seq, commit_n, diverged, final_loss, final_verdict, rms0, rms1, erases_a, erases_b) = (
        trailer.unpack_from(blob, off)
    )
    feats = evals["feat"].copy().view(feat_dt).reshape(n_eval, -1) if feat_bytes else None
    return (
        boot,
        np.int32(load_st).item(),
        load_seq,
        evals["logits"].astype(np.float32),
        evals["n"].astype(np.int64) if counts else None,
        feats,
        steps["loss"].astype(np.float32),
        steps["n"].astype(np.int64) if counts else None,
        steps["verdict"].astype(np.int64),
        commit_st,
        commit_seq,
        commit_n if counts else None,
        diverged,
        float(final_loss),
        final_verdict,
        (float(rms0), float(rms1)),
        (erases_a, erases_b),
    )


def run_boot(
    firmware: Firmware,
    work: Path,
    program: TrainProgram,
    boot: int,
    *,
    features: bool,
    x_eval: np.ndarray,
    batches: tuple[np.ndarray, np.ndarray] | None = None,
    timeout: float = RUN_TIMEOUT_S,
) -> BootResult:
    """One boot of the fine-tuning firmware in ``work`` (flash.bin there persists between boots)."""
    write_boot_files(work, program, boot, features, x_eval, batches)
    (work / "result.bin").unlink(missing_ok=True)
    run = run_harness(
        firmware,
        work,
        timeout=timeout,
        what=f"{firmware.target.name} fine-tuning boot {boot}",
        exit_meanings=FINETUNE_EXIT_MEANINGS,
    )
    try:
        blob = (work / "result.bin").read_bytes()
    except OSError as exc:
        raise ToolchainError(f"the fine-tuning harness wrote no result.bin: {exc.strerror}") from exc
    return BootResult(*parse_boot_result(blob, program), log=run.log)

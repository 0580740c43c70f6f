"""The file formats exchanged with the harness (see firmware_export/templates/emulate/main.c).

inputs.bin   "ETI1", u32 count, u32 sample_bytes, samples
outputs.bin  "ETO1", u32 count, u32 sample_bytes, u32 flags, u32 overhead,
             then per sample: u32 instructions, sample bytes
All integers little-endian.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import DTypeLike

from edgetrain.errors import ToolchainError

# Exit statuses and file magics are C ABI facts (et_harness.h, et_hio.h); EXIT_MEANINGS is re-exported.
from edgetrain.export.c.abi import EXIT_MEANINGS, INPUTS_MAGIC, OUTPUTS_MAGIC

INPUT_FILE = "inputs.bin"
OUTPUT_FILE = "outputs.bin"
_IN_HEADER = struct.Struct("<4sII")
_OUT_HEADER = struct.Struct("<4sIIII")
_FLAG_COUNTS = 1


def describe_exit(status: int) -> str:
    """What a harness exit ``status`` means (a negative status: the signal that killed it)."""
    if status < 0:
        return f"killed by signal {-status}"
    return EXIT_MEANINGS.get(status, f"unexpected exit status {status}")


def write_inputs(path: Path, inputs: np.ndarray) -> int:
    """Write samples (first axis = sample) as raw C memory; returns bytes per sample."""
    array = np.ascontiguousarray(inputs)
    if array.ndim == 0:
        raise ValueError("inputs need a leading sample axis")
    count = array.shape[0]
    sample_bytes = array[0].nbytes if count else int(np.prod(array.shape[1:])) * array.itemsize
    # Force little-endian: the harness passes the bytes straight to a little-endian model.
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    with path.open("wb") as fh:
        fh.write(_IN_HEADER.pack(INPUTS_MAGIC, count, sample_bytes))
        fh.write(array.tobytes())
    return sample_bytes


@dataclass(frozen=True)
class HarnessOutput:
    """outputs.bin parsed: ``outputs`` is (N, out), one row per sample; ``instructions`` the
    per-sample instruction counts, or None when the harness recorded none."""

    outputs: np.ndarray
    instructions: np.ndarray | None


def read_outputs(path: Path, output_dtype: DTypeLike) -> HarnessOutput:
    """Parse outputs.bin into an (N, out) array of output_dtype plus per-sample counts."""
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise ToolchainError(f"the harness wrote no {path.name}: {exc.strerror}") from exc
    if len(blob) < _OUT_HEADER.size:
        raise ToolchainError(f"{path.name} is truncated ({len(blob)} bytes)")
    magic, count, sample_bytes, flags, _overhead = _OUT_HEADER.unpack_from(blob)
    if magic != OUTPUTS_MAGIC:
        raise ToolchainError(f"{path.name} has no {OUTPUTS_MAGIC.decode()} header")
    dtype = np.dtype(output_dtype).newbyteorder("<")
    if sample_bytes % dtype.itemsize:
        raise ToolchainError(
            f"ET_MODEL_OUTPUT_BYTES={sample_bytes} is not a multiple of {dtype} "
            f"({dtype.itemsize} bytes): wrong output dtype?"
        )
    record = np.dtype([("count", "<u4"), ("out", dtype, (sample_bytes // dtype.itemsize,))])
    expected = _OUT_HEADER.size + count * record.itemsize
    if len(blob) != expected:
        raise ToolchainError(f"{path.name} holds {len(blob)} bytes, expected {expected}")
    records = np.frombuffer(blob, dtype=record, count=count, offset=_OUT_HEADER.size)
    outputs = records["out"].astype(dtype.newbyteorder("="), copy=True)
    counts = records["count"].astype(np.int64) if flags & _FLAG_COUNTS else None
    return HarnessOutput(outputs=outputs, instructions=counts)

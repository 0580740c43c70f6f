"""Decode the weights a fine-tuning device committed to its A/B storage banks (et_storage.h)."""

from __future__ import annotations

import zlib

import numpy as np

from ..errors import ToolchainError
from ..export.c.abi import STORAGE_CRC_OFFSET, STORAGE_HEADER, STORAGE_HEADER_BYTES, STORAGE_MAGIC, STORAGE_VERSION
from ..export.c.train_program import TrainProgram


def read_bank(flash: bytes, bank_bytes: int, program: TrainProgram) -> tuple[int, dict[str, np.ndarray]]:
    """Decode the newest valid bank of a flash image (et_storage.h layout): (sequence, weights in
    graph layout). Raises ToolchainError when no bank is valid."""
    best: tuple[int, bytes] | None = None
    for k in range(2):
        bank = flash[k * bank_bytes : (k + 1) * bank_bytes]
        if len(bank) < STORAGE_HEADER_BYTES:
            continue
        magic, ver, hbytes, seq, plen, tag, _r0, _r1, crc = STORAGE_HEADER.unpack_from(bank)
        if (
            magic != STORAGE_MAGIC
            or ver != STORAGE_VERSION
            or hbytes != STORAGE_HEADER_BYTES
            or tag != program.layout_tag
            or plen != program.payload_bytes
        ):
            continue
        payload = bank[STORAGE_HEADER_BYTES : STORAGE_HEADER_BYTES + plen]
        if zlib.crc32(payload, zlib.crc32(bank[:STORAGE_CRC_OFFSET])) != crc:
            continue
        if best is None or ((seq - best[0]) & 0xFFFFFFFF) < 0x80000000:
            best = (seq, payload)
    if best is None:
        raise ToolchainError("the device's flash holds no valid bank after the commit")
    weights, off = {}, 0
    for p in program.trainable:
        n = p.size
        arr = np.frombuffer(best[1], "<f4", n, off)
        weights[p.name] = p.to_graph(arr).astype(np.float32)  # C layout (dense: transposed) -> graph
        off += 4 * n
    return best[0], weights

"""The geometry of the A/B weight banks (et_storage.h): how many bytes a bank of a payload takes.

StorageGeometry().bank_bytes(1320)                    # 16384: one 16 KiB STM32F4 sector
StorageGeometry(erase_size=128 << 10).bank_bytes(n)   # in the F4's 128 KiB sectors
"""

from __future__ import annotations

from dataclasses import dataclass

from .abi import STORAGE_HEADER_BYTES as HEADER_BYTES
from .plan import align_up

DEFAULT_ERASE_SIZE = 16384  # smallest STM32F4 flash sector
DEFAULT_WRITE_UNIT = 4


@dataclass
class StorageGeometry:
    """The flash a bank lives in: ``erase_size`` is its erase sector, ``write_unit`` its smallest
    programmable unit (both in bytes)."""

    erase_size: int = DEFAULT_ERASE_SIZE
    write_unit: int = DEFAULT_WRITE_UNIT

    def bank_bytes(self, payload: int) -> int:
        """Bytes of one bank: the header and the payload, padded to the write unit, in whole sectors."""
        return align_up(align_up(HEADER_BYTES + payload, self.write_unit), self.erase_size)

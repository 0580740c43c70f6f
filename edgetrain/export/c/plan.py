"""Static memory plan: tensor lifetimes -> offsets in one arena.

Every tensor a kernel writes (after alias resolution: flatten/identity share their input's
memory) is a buffer alive from the step that writes it to the last step that reads it or any of
its aliases. The model input and output live in caller-owned memory, not in the arena.

Placement is greedy by size (largest first, TFLite Micro's "greedy by size" planner): each
buffer goes at the lowest aligned offset that does not overlap a placed buffer whose lifetime
intersects its own. Lifetimes are inclusive, so a kernel's input and output (both alive at that
step) never share bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

ALIGN = 4  # float32 / int32 alignment; int8 buffers are aligned too so any view is safe


@dataclass(frozen=True)
class Buffer:
    """A tensor's memory need: ``size`` bytes alive over steps [first, last] (inclusive)."""

    name: str
    size: int
    first: int
    last: int

    def overlaps_in_time(self, other: Buffer) -> bool:
        """Whether the two buffers are alive at some common step (then they may not share bytes)."""
        return self.first <= other.last and other.first <= self.last


@dataclass(frozen=True)
class MemoryPlan:
    """Where each buffer lives in the arena: its byte ``offsets`` (aligned), the ``buffers`` placed
    and the ``arena_bytes`` the placement needs."""

    offsets: dict[str, int]
    buffers: dict[str, Buffer]
    arena_bytes: int

    def peak_live_bytes(self) -> int:
        """Largest sum of simultaneously live buffer sizes: a lower bound for any plan."""
        if not self.buffers:
            return 0
        steps = range(min(b.first for b in self.buffers.values()), max(b.last for b in self.buffers.values()) + 1)
        return max(sum(b.size for b in self.buffers.values() if b.first <= s <= b.last) for s in steps)


def align_up(n: int, align: int = ALIGN) -> int:
    """``n`` rounded up to a multiple of ``align``."""
    return (n + align - 1) // align * align


def plan_memory(buffers: Sequence[Buffer], align: int = ALIGN) -> MemoryPlan:
    """Greedy-by-size placement (ties: earlier first, then name, for a deterministic plan)."""
    order = sorted(buffers, key=lambda b: (-b.size, b.first, b.name))
    placed: list[tuple[int, Buffer]] = []
    offsets: dict[str, int] = {}
    for buf in order:
        if buf.first > buf.last:
            raise ValueError(f"buffer {buf.name}: first step {buf.first} after last {buf.last}")
        conflicts = sorted(
            ((off, b) for off, b in placed if b.overlaps_in_time(buf)), key=lambda ob: (ob[0], ob[1].size)
        )
        offset = 0
        for off, b in conflicts:
            if offset + buf.size <= off:
                break  # fits in the gap before this conflicting buffer
            offset = max(offset, align_up(off + b.size, align))
        offsets[buf.name] = offset
        placed.append((offset, buf))
    arena = max((offsets[b.name] + b.size for b in buffers), default=0)
    return MemoryPlan(offsets, {b.name: b for b in buffers}, align_up(arena, align))

"""Which offsets may be committed when records finish out of order. Pure bookkeeping, no I/O."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Hashable
from typing import Generic, TypeVar

P = TypeVar("P", bound=Hashable)  # what names a partition (hub.broker.port.Partition, aiokafka's TopicPartition)


class OffsetTracker(Generic[P]):
    """Records are started in offset order per partition and may finish in any order; an offset is
    committable once it and every offset before it have finished."""

    def __init__(self) -> None:
        self._pending: dict[P, set[int]] = {}
        self._highest: dict[P, int] = {}
        self._committed: dict[P, int] = {}
        self._changed = asyncio.Event()

    @property
    def in_flight(self) -> int:
        return sum(len(offsets) for offsets in self._pending.values())

    def start(self, partition: P, offset: int) -> None:
        self._pending.setdefault(partition, set()).add(offset)
        self._highest[partition] = max(offset, self._highest.get(partition, -1))

    def finish(self, partition: P, offset: int) -> None:
        self._pending.get(partition, set()).discard(offset)
        self._changed.set()

    def forget(self, partition: P) -> None:
        """The partition went to another consumer: whatever was in flight here is not ours to commit."""
        self._pending.pop(partition, None)
        self._highest.pop(partition, None)
        self._committed.pop(partition, None)

    def committable(self) -> dict[P, int]:
        """The next offset to commit per partition, for partitions that moved since the last call."""
        result = {}
        for partition, highest in self._highest.items():
            pending = self._pending.get(partition)
            position = min(pending) if pending else highest + 1
            if position > self._committed.get(partition, -1):
                result[partition] = position
        return result

    def committed(self, positions: dict[P, int]) -> None:
        self._committed.update(positions)

    async def wait_for_progress(self, timeout: float) -> None:
        self._changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)

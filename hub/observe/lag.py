"""How far each of this process's consumers is behind its topic, read from the running consumers.

Lag is the highwater (the offset the next record produced will get) minus the consumer's position (the offset
of the next record it will fetch), summed over the partitions assigned to it. Both are what the consumer
learnt from its last fetch: reading them asks the broker nothing. A partition whose highwater is not known yet
(nothing fetched since it was assigned), or whose position is not settled (just assigned), is left out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping
from typing import Any, Protocol

POSITION_WAIT_SECONDS = 0.05  # a position not known at once is being fetched from the broker: left out


class Partition(Protocol):
    @property
    def topic(self) -> str: ...


class Consumer(Protocol):
    """What the lag needs of an aiokafka.AIOKafkaConsumer."""

    def assignment(self) -> Collection[Any]: ...

    def highwater(self, partition: Any) -> int | None: ...

    async def position(self, partition: Any) -> int: ...


def behind(highwater: int | None, position: int | None) -> int | None:
    """Records between a consumer's position and the partition's highwater; None when either is unknown."""
    if highwater is None or position is None:
        return None
    return max(0, highwater - position)


async def _position(consumer: Consumer, partition: Any) -> int | None:
    try:
        return await asyncio.wait_for(consumer.position(partition), POSITION_WAIT_SECONDS)
    except Exception:  # not settled in time, or no longer assigned (a rebalance)
        return None


async def consumer_lag(consumers: Mapping[str, Consumer]) -> dict[tuple[str, str], int]:
    """(topic, consumer group) -> records behind, for each consumer (by group id) with partitions assigned."""
    lag: dict[tuple[str, str], int] = {}
    for group, consumer in consumers.items():
        for partition in list(consumer.assignment()):
            try:
                highwater = consumer.highwater(partition)
            except AssertionError:  # no longer assigned
                continue
            records = behind(highwater, await _position(consumer, partition) if highwater is not None else None)
            key = (str(partition.topic), group)
            lag[key] = lag.get(key, 0) + (records or 0)
    return lag

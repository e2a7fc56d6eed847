"""Consumer lag from what the consumers learnt in their last fetch: highwater - position per partition."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import Any, NamedTuple

from hub.observe.lag import behind, consumer_lag


class TopicPartition(NamedTuple):  # the shape of aiokafka's
    topic: str
    partition: int


class Consumer:
    """As an AIOKafkaConsumer answers: highwater from the last fetch, position once settled."""

    def __init__(self, partitions: dict[TopicPartition, tuple[int | None, int | None]]) -> None:
        self.partitions = partitions

    def assignment(self) -> Collection[Any]:
        return set(self.partitions)

    def highwater(self, partition: Any) -> int | None:
        assert partition in self.partitions, "Partition is not assigned"
        return self.partitions[partition][0]

    async def position(self, partition: Any) -> int:
        position = self.partitions[partition][1]
        if position is None:
            await asyncio.sleep(3600)  # waits for the broker to say where to start
        assert position is not None
        return position


def test_behind() -> None:
    assert behind(10, 4) == 6
    assert behind(4, 4) == 0
    assert behind(3, 4) == 0  # a position past a stale highwater is not negative lag
    assert behind(None, 4) is None and behind(10, None) is None


async def test_lag_is_summed_per_topic_and_group() -> None:
    outbox = Consumer({TopicPartition("t.outbox", 0): (10, 7), TopicPartition("t.outbox", 1): (5, 5)})
    events = Consumer(
        {
            TopicPartition("t.events", 0): (20, 0),
            TopicPartition("t.events", 1): (None, 0),  # nothing fetched yet: not counted
            TopicPartition("t.events", 2): (8, None),  # position not settled: not counted, and not waited for
        }
    )
    idle = Consumer({})
    lag = await consumer_lag({"hub-delivery": outbox, "hub-recorder": events, "hub-ingress": idle})
    assert lag == {("t.outbox", "hub-delivery"): 3, ("t.events", "hub-recorder"): 20}


async def test_a_partition_taken_away_meanwhile_is_left_out() -> None:
    class Rebalancing(Consumer):
        def highwater(self, partition: Any) -> int | None:
            raise AssertionError("Partition is not assigned")

    assert await consumer_lag({"g": Rebalancing({TopicPartition("t", 0): (1, 0)})}) == {}

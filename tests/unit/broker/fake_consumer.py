"""A consumer with the part of AIOKafkaConsumer's interface the hub's loops use, over an in-memory log."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import ConsumerRecord, TopicPartition


def record(topic: str, partition: int, offset: int, value: bytes) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic=topic,
        partition=partition,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=None,
        value=value,
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=len(value),
        headers=[],
    )


class FakeConsumer:
    def __init__(self, values: dict[int, list[bytes]], *, topic: str = "t", max_records: int = 100) -> None:
        self.log = {
            TopicPartition(topic, p): [record(topic, p, o, v) for o, v in enumerate(vs)] for p, vs in values.items()
        }
        self.position = {tp: 0 for tp in self.log}
        self.committed: dict[TopicPartition, int] = {tp: 0 for tp in self.log}
        self.max_records = max_records
        self.fetches = 0

    async def getmany(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[Any, list[Any]]:
        self.fetches += 1
        await asyncio.sleep(0)
        limit = min(max_records or self.max_records, self.max_records)
        found: dict[Any, list[Any]] = {}
        for tp, records in self.log.items():
            taken = records[self.position[tp] : self.position[tp] + limit - sum(map(len, found.values()))]
            if taken:
                found[tp] = taken
                self.position[tp] += len(taken)
        if not found:
            await asyncio.sleep(timeout_ms / 1000 / 10)
        return found

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.position[tp] = offset

    def assignment(self) -> set[TopicPartition]:
        return set(self.log)

    async def commit(self, offsets: dict[TopicPartition, int] | None = None) -> None:
        for tp, offset in (offsets or self.position).items():
            self.committed[tp] = max(self.committed[tp], offset)

    def all_committed(self) -> bool:
        return all(self.committed[tp] == len(records) for tp, records in self.log.items())

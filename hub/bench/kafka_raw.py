"""Raw Kafka passthrough: the same message bytes through the same broker, with no processing at all.

A fresh topic with the hub's partition count; one consumer assigned every partition from the beginning; the
hub's own producer settings (:func:`hub.broker.clients.make_producer`: acks=all, 2 ms linger, 1 MiB batches).
Records are keyed by patient, as the hub keys its ingress. The clock runs from the first send until the
consumer holds the last record; the produce time alone (until the broker acknowledged every record) is
reported too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from hub.bench.load import Outgoing
from hub.broker.clients import make_producer


async def create_topic(bootstrap_servers: str, topic: str, *, partitions: int, timeout: float = 30.0) -> None:
    """Create the topic and wait until the broker lists it (never produce to a topic the broker auto-creates)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10_000)
    await admin.start()
    try:
        if topic not in await admin.list_topics():
            await admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
        deadline = time.monotonic() + timeout
        while topic not in await admin.list_topics():
            if time.monotonic() > deadline:
                raise TimeoutError(f"topic {topic} did not appear within {timeout:.0f} s")
            await asyncio.sleep(0.1)
    finally:
        await admin.close()


async def _consume(consumer: AIOKafkaConsumer, expected: int) -> tuple[int, int, float]:
    """Read until `expected` records arrived; returns records, bytes and when the last one came."""
    records = size = 0
    while records < expected:
        batches = await consumer.getmany(timeout_ms=100, max_records=5000)
        for partition in batches.values():
            records += len(partition)
            size += sum(len(record.value or b"") for record in partition)
    return records, size, time.monotonic()


async def passthrough(
    bootstrap_servers: str, items: Sequence[Outgoing], *, partitions: int, topic: str = "bench.raw"
) -> dict[str, Any]:
    await create_topic(bootstrap_servers, topic, partitions=partitions)
    largest = max((len(item.raw) for item in items), default=0)
    producer = make_producer(bootstrap_servers, max_request_size=largest + 64 * 1024)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_bytes=64 * 1024 * 1024,
        max_partition_fetch_bytes=16 * 1024 * 1024,
    )
    await producer.start()
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
        await consumer.seek_to_beginning()
        reading = asyncio.create_task(_consume(consumer, len(items)))
        started = time.monotonic()
        pending = [await producer.send(topic, value=item.raw, key=item.key) for item in items]
        await asyncio.gather(*pending)
        produced = time.monotonic()
        records, size, finished = await asyncio.wait_for(reading, timeout=max(60.0, len(items) / 200))
    finally:
        await consumer.stop()
        await producer.stop()
    return {
        "messages": len(items),
        "consumed": records,
        "megabytes": round(size / 1e6, 1),
        "partitions": partitions,
        "produce_s": produced - started,
        "produce_msgs_per_s": len(items) / (produced - started),
        "passthrough_s": finished - started,
        "raw_kafka_msgs_per_s": len(items) / (finished - started),
    }

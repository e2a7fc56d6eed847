"""Raw Kafka passthrough: the same message bytes through the same broker, with no processing at all.

A fresh topic with the hub's partition count and the hub's own producer settings
(:func:`hub.broker.clients.make_producer`: acks=all, 2 ms linger, 1 MiB batches). One consumer is assigned every
partition from the beginning, with a 10 ms fetch wait: Tansu holds a fetch for the whole ``fetch_max_wait_ms``
(500 ms by default), which would make a small run measure that wait rather than the broker. Records are keyed
by patient, as the hub keys its ingress. After an untimed warm-up of 100 records, the clock runs from the
first send until the consumer holds the last record; the produce time alone (until the broker acknowledged
every record) is reported too. ``hop_latency`` shows what one hop costs at rest, with both fetch waits.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench.load import Outgoing
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


async def hop_latency(
    bootstrap_servers: str, *, partitions: int, records: int, rate: float, fetch_max_wait_ms: int | None
) -> dict[str, float]:
    """One record at a time at `rate`/s: ms from send to the consumer's hands, which is what each hop of the hub
    (ingress -> outbox -> receiver) adds when the hub is idle. `fetch_max_wait_ms` None is aiokafka's default
    (500 ms), which the hub's consumers use."""
    topic = f"bench.hop-{fetch_max_wait_ms or 'default'}"
    await create_topic(bootstrap_servers, topic, partitions=partitions)
    producer = make_producer(bootstrap_servers, max_request_size=1024 * 1024)
    options: dict[str, Any] = {} if fetch_max_wait_ms is None else {"fetch_max_wait_ms": fetch_max_wait_ms}
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers, enable_auto_commit=False, auto_offset_reset="earliest", **options
    )
    await producer.start()
    await consumer.start()
    seen: list[float] = []
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
        await consumer.seek_to_beginning()

        async def read() -> None:
            while len(seen) < records:
                batches = await consumer.getmany(timeout_ms=200)
                now = time.monotonic()
                seen.extend(now - float(r.value or b"0") for batch in batches.values() for r in batch)

        reading = asyncio.create_task(read())
        await asyncio.sleep(0.5)
        for index in range(records):
            value = repr(time.monotonic()).encode()
            await (await producer.send(topic, value=value, key=str(index).encode()))
            await asyncio.sleep(1 / rate)
        await asyncio.wait_for(reading, timeout=60)
    finally:
        await consumer.stop()
        await producer.stop()
    ordered = sorted(seen)
    return {
        "records": len(ordered),
        "p50_ms": ordered[len(ordered) // 2] * 1000,
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
    }


async def passthrough(
    bootstrap_servers: str,
    items: Sequence[Outgoing],
    *,
    partitions: int,
    topic: str = "bench.raw",
    hop_records: int = 100,
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
        fetch_max_wait_ms=10,  # the broker's capacity, not its long-poll wait (see hop_latency)
    )
    await producer.start()
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
        await consumer.seek_to_beginning()
        # warm-up, untimed: metadata, connections and the consumer's first positions
        warm = items[: min(len(items), 100)]
        await asyncio.gather(*[await producer.send(topic, value=item.raw, key=item.key) for item in warm])
        await asyncio.wait_for(_consume(consumer, len(warm)), timeout=60)
        reading = asyncio.create_task(_consume(consumer, len(items)))
        started = time.monotonic()
        pending = [await producer.send(topic, value=item.raw, key=item.key) for item in items]
        await asyncio.gather(*pending)
        produced = time.monotonic()
        records, size, finished = await asyncio.wait_for(reading, timeout=max(60.0, len(items) / 200))
    finally:
        await consumer.stop()
        await producer.stop()
    hops = {
        f"fetch_max_wait_{wait or 'default'}": await hop_latency(
            bootstrap_servers, partitions=partitions, records=hop_records, rate=50, fetch_max_wait_ms=wait
        )
        for wait in (None, 10)
    }
    return {
        "messages": len(items),
        "consumed": records,
        "megabytes": round(size / 1e6, 1),
        "partitions": partitions,
        "produce_s": produced - started,
        "produce_msgs_per_s": len(items) / (produced - started),
        "passthrough_s": finished - started,
        "raw_kafka_msgs_per_s": len(items) / (finished - started),
        "hop_latency_ms": hops,
    }

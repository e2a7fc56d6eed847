"""Kafka clients as the hub uses them: one producer that waits for the broker, consumers that commit by hand."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import KafkaError

from hub.broker.offsets import OffsetTracker
from hub.broker.records import Headers

log = structlog.get_logger(__name__)

BatchHandler = Callable[[list[ConsumerRecord[bytes, bytes]]], Awaitable[None]]


def make_producer(bootstrap_servers: str, *, max_request_size: int) -> AIOKafkaProducer:
    # acks=all: a write counts once the broker has it. Idempotence stays off (the embedded broker does not
    # support it); the hub's own idempotency keys (MessageHeader.id, event ids) make redelivery harmless.
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        acks="all",
        linger_ms=2,
        max_batch_size=1024 * 1024,
        max_request_size=max_request_size,
        request_timeout_ms=30_000,
    )


def make_consumer(
    bootstrap_servers: str, topic: str, *, group_id: str, session_timeout_ms: int, max_records: int = 500
) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap_servers,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=session_timeout_ms,
        heartbeat_interval_ms=max(100, session_timeout_ms // 5),
        max_poll_records=max_records,
        fetch_max_wait_ms=20,  # the default 500 ms is added to every hop between workers at low load
        max_poll_interval_ms=600_000,
        fetch_max_bytes=64 * 1024 * 1024,
        max_partition_fetch_bytes=16 * 1024 * 1024,
    )


class Publisher:
    """Sends records and waits for the broker's acknowledgement of all of them together."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer

    async def send(self, topic: str, *, key: bytes, value: bytes, headers: Headers | None = None) -> Any:
        """Queue one record; returns a future that resolves when the broker has it."""
        return await self._producer.send(topic, value=value, key=key, headers=headers or [])

    async def send_all(self, records: Sequence[tuple[str, bytes, bytes, Headers | None]]) -> None:
        futures = [
            await self.send(topic, key=key, value=value, headers=headers) for topic, key, value, headers in records
        ]
        if futures:
            await asyncio.gather(*futures)

    async def send_and_wait(self, topic: str, *, key: bytes, value: bytes, headers: Headers | None = None) -> None:
        await (await self.send(topic, key=key, value=value, headers=headers))


async def consume_batches(
    consumer: AIOKafkaConsumer,
    handle: BatchHandler,
    *,
    name: str,
    stop: asyncio.Event,
    batch_timeout_ms: int = 200,
) -> None:
    """Fetch a batch, handle it, commit only after the handler's work is durable; until `stop` is set.

    A handler that raises has its batch read again after a pause, from the last committed offsets:
    at-least-once, so handlers must tolerate seeing a record twice.
    """
    failures = 0
    while not stop.is_set():
        try:
            batches = await consumer.getmany(timeout_ms=batch_timeout_ms)
        except KafkaError as exc:  # the broker is away or the group rebalances: ask again
            log.warning("fetch failed", worker=name, error=type(exc).__name__)
            await asyncio.sleep(1.0)
            continue
        records = [record for partition in batches.values() for record in partition]
        if not records:
            continue
        try:
            await handle(records)
        except asyncio.CancelledError:
            raise
        except Exception:
            failures += 1
            log.exception("batch failed; it will be read again", worker=name, records=len(records))
            await asyncio.sleep(min(30.0, 0.5 * 2 ** min(failures, 6)))
            _read_again(consumer, batches, name)
            continue
        failures = 0
        try:
            await consumer.commit()
        except KafkaError as exc:
            # a rebalance took the partitions (their records come back to the new owner) or the broker is away
            # (they come back to us): handlers tolerate seeing a record twice
            log.warning("commit failed", worker=name, error=type(exc).__name__)
    log.info("worker stopped taking records", worker=name)


def _read_again(consumer: AIOKafkaConsumer, batches: dict[Any, list[ConsumerRecord[bytes, bytes]]], name: str) -> None:
    """Move back to the first record of the failed batch, partition by partition (not to the last commit,
    which a broker that lost its log may no longer have)."""
    for partition, records in batches.items():
        try:
            consumer.seek(partition, min(record.offset for record in records))
        except (KafkaError, AssertionError, ValueError) as exc:  # the partition went to another consumer
            log.warning("cannot read the batch again here", worker=name, error=type(exc).__name__)


Submit = Callable[[ConsumerRecord[bytes, bytes], Callable[[], None]], None]


async def consume_concurrently(
    consumer: AIOKafkaConsumer,
    submit: Submit,
    *,
    name: str,
    stop: asyncio.Event,
    max_in_flight: int = 2000,
    grace_seconds: float = 10.0,
) -> None:
    """Hand each record to `submit` with a callback to call when its work is durable; records may finish
    in any order, and offsets are committed up to the first unfinished one. On `stop`, fetching ends,
    work in flight gets `grace_seconds` to finish, and what finished is committed."""
    tracker = OffsetTracker()
    while not stop.is_set():
        if tracker.in_flight >= max_in_flight:
            await tracker.wait_for_progress(0.2)
        else:
            try:
                batches = await consumer.getmany(timeout_ms=100, max_records=max_in_flight - tracker.in_flight)
            except KafkaError as exc:
                log.warning("fetch failed", worker=name, error=type(exc).__name__)
                await asyncio.sleep(1.0)
                continue
            for partition, records in batches.items():
                for record in records:
                    tracker.start(partition, record.offset)
                    submit(record, functools.partial(tracker.finish, partition, record.offset))
        await _commit(consumer, tracker, name)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace_seconds
    while tracker.in_flight and loop.time() < deadline:
        await tracker.wait_for_progress(0.2)
    await _commit(consumer, tracker, name)
    log.info("worker stopped taking records", worker=name, unfinished=tracker.in_flight)


async def _commit(consumer: AIOKafkaConsumer, tracker: OffsetTracker, name: str) -> None:
    positions = tracker.committable()
    if not positions:
        return
    assigned = consumer.assignment()
    mine = {p: o for p, o in positions.items() if p in assigned}
    for partition in set(positions) - set(mine):
        tracker.forget(partition)
    if not mine:
        return
    try:
        await consumer.commit(mine)
    except KafkaError as exc:  # a rebalance took the partition: its records come back elsewhere
        log.warning("commit failed", worker=name, error=type(exc).__name__)
        return
    tracker.committed(mine)

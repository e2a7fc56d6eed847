"""Kafka clients as the hub uses them: one producer that waits for the broker, consumers that commit by hand."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord

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
    consumer: AIOKafkaConsumer, handle: BatchHandler, *, name: str, batch_timeout_ms: int = 200
) -> None:
    """Run until cancelled: fetch a batch, handle it, commit only after the handler's work is durable.

    A handler that raises has its batch read again after a pause, from the last committed offsets:
    at-least-once, so handlers must tolerate seeing a record twice.
    """
    failures = 0
    while True:
        batches = await consumer.getmany(timeout_ms=batch_timeout_ms)
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
            for partition in batches:
                await consumer.seek_to_committed(partition)
            continue
        failures = 0
        await consumer.commit()

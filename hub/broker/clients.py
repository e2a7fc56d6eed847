"""Kafka clients as the hub uses them: one producer that waits for the broker, consumers that commit by hand;
and the consume loops that drive a consumer (any ``hub.broker.port.RecordConsumer``: Kafka's, or the in-memory
one of ``hub.broker.memory``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError

from hub.broker.isolation import BatchHandler, Isolation, Quarantine, handle_with_tries, isolate
from hub.broker.offsets import OffsetTracker
from hub.broker.outcomes import reason_of
from hub.broker.poison import is_poison
from hub.broker.port import Outgoing, Partition, Record, RecordConsumer
from hub.broker.progress import WorkerProgress
from hub.broker.records import Headers
from hub.faults import fault_kind, fault_place

log = structlog.get_logger(__name__)

__all__ = ["BatchHandler", "Isolation", "Publisher", "Quarantine", "consume_batches", "consume_concurrently"]


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
    """Sends records and waits for the broker's acknowledgement of all of them together (a
    ``hub.broker.port.RecordPublisher`` over aiokafka)."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer

    async def send(self, topic: str, *, key: bytes, value: bytes, headers: Headers | None = None) -> Any:
        """Queue one record; returns a future that resolves when the broker has it."""
        return await self._producer.send(topic, value=value, key=key, headers=headers or [])

    async def send_all(self, records: Sequence[Outgoing]) -> None:
        futures = [
            await self.send(topic, key=key, value=value, headers=headers) for topic, key, value, headers in records
        ]
        if futures:
            await asyncio.gather(*futures)

    async def send_and_wait(self, topic: str, *, key: bytes, value: bytes, headers: Headers | None = None) -> None:
        await (await self.send(topic, key=key, value=value, headers=headers))


async def consume_batches(
    consumer: RecordConsumer,
    handle: BatchHandler,
    *,
    name: str,
    stop: asyncio.Event,
    batch_timeout_ms: int = 200,
    quarantine: Quarantine | None = None,
    isolation: Isolation | None = None,
    progress: WorkerProgress | None = None,
) -> None:
    """Fetch a batch, handle it, commit only after the handler's work is durable; until `stop` is set.

    At-least-once: handlers must tolerate seeing a record twice. A batch whose handler raises is tried again
    a bounded number of times (`isolation`), then handled record by record (``hub.broker.isolation``): good
    records go on, and a record that fails on its own every time is poison, handed to the worker's
    `quarantine` (which rejects or dead-letters it with its reason), and its offset is passed. Failures that
    look like an outage of the broker or database (``hub.broker.poison``) set nothing aside unless records
    after the failing one go through: in an outage the batch is read again, from its first unfinished record,
    after a pause that grows with each outage. Without a `quarantine`, a poison record is read again. A handler
    may say what its failure is by raising an outcome (``hub.broker.outcomes``): a DeadLetter is set aside at
    once, a RetryLater is read again until it goes through.

    `progress` is the worker's heartbeat for ``/readyz``: it has work from a fetch to its commit.
    """
    policy = isolation or Isolation()
    progress = progress or WorkerProgress(name)
    outages = 0
    while not stop.is_set():
        try:
            batches = await consumer.getmany(timeout_ms=batch_timeout_ms)
        except KafkaError as exc:  # the broker is away or the group rebalances: ask again
            log.warning("fetch failed", worker=name, error=type(exc).__name__)
            await _pause(stop, policy.fetch_retry_delay)
            continue
        records = [record for partition in batches.values() for record in partition]
        if not records:
            progress.idle()
            continue
        progress.took()
        tries = policy.attempts if len(records) > 1 else 1  # a record alone gets its further tries in isolate
        failure = await handle_with_tries(handle, records, tries, policy)
        if failure is not None:
            log.warning(
                "batch failed; handling its records one by one",
                worker=name,
                records=len(records),
                error=fault_kind(failure),
                at=fault_place(failure),
                reason=reason_of(failure),
            )
            unfinished = await isolate(
                records, handle, quarantine=quarantine, policy=policy, progress=progress, failure=failure
            )
            if unfinished:
                outages += 1
                await _read_again_from(consumer, batches, unfinished, name)
                await _pause(stop, policy.outage_delay(outages))
                continue
        outages = 0
        try:
            await consumer.commit()
        except KafkaError as exc:
            # a rebalance took the partitions (their records come back to the new owner) or the broker is away
            # (they come back to us): handlers tolerate seeing a record twice
            log.warning("commit failed", worker=name, error=type(exc).__name__)
            continue
        progress.idle()
    log.info("worker stopped taking records", worker=name)


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds`, or less when the worker is asked to stop."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def resume_positions(
    batches: Mapping[Partition, Sequence[Record]], unfinished: Sequence[Record]
) -> dict[Partition, int]:
    """Per partition of the batch, where to read from again: its first unfinished record, or just after its
    last record when all of that partition's records are finished. (Also the offsets that may be committed.)"""
    pending: dict[tuple[str, int], int] = {}
    for record in unfinished:
        key = (record.topic, record.partition)
        pending[key] = min(record.offset, pending.get(key, record.offset))
    positions = {}
    for partition, records in batches.items():
        if not records:
            continue
        first = records[0]
        found = pending.get((first.topic, first.partition))
        positions[partition] = found if found is not None else max(r.offset for r in records) + 1
    return positions


async def _read_again_from(
    consumer: RecordConsumer,
    batches: Mapping[Partition, Sequence[Record]],
    unfinished: Sequence[Record],
    name: str,
) -> None:
    """Commit what finished and move back to the first unfinished record, partition by partition (not to the
    last commit, which a broker that lost its log may no longer have)."""
    positions = resume_positions(batches, unfinished)
    try:
        await consumer.commit(positions)
    except (KafkaError, AssertionError, ValueError) as exc:  # the partition went to another consumer
        log.warning("commit failed", worker=name, error=type(exc).__name__)
    for partition, offset in positions.items():
        try:
            consumer.seek(partition, offset)
        except (KafkaError, AssertionError, ValueError) as exc:  # the partition went to another consumer
            log.warning("cannot read the batch again here", worker=name, error=type(exc).__name__)


Submit = Callable[[Record, Callable[[], None]], None]


async def consume_concurrently(
    consumer: RecordConsumer,
    submit: Submit,
    *,
    name: str,
    stop: asyncio.Event,
    max_in_flight: int = 2000,
    grace_seconds: float = 10.0,
    quarantine: Quarantine | None = None,
    progress: WorkerProgress | None = None,
    fetch_retry_delay: float = 1.0,
) -> None:
    """Hand each record to `submit` with a callback to call when its work is durable; records may finish
    in any order, and offsets are committed up to the first unfinished one. On `stop`, fetching ends,
    work in flight gets `grace_seconds` to finish, and what finished is committed.

    `submit` owns each record's failures from then on (the delivery worker dead-letters what it cannot
    deliver); a record `submit` itself refuses by raising (one it cannot read: a DeadLetter) goes to
    `quarantine` and is finished, or, without a quarantine, when that fails too, or when `submit` said
    RetryLater, stays unfinished (its offset is not passed; it is read again after a restart or rebalance).
    `progress` is the worker's heartbeat for ``/readyz``: it has work while records are in flight."""
    tracker = OffsetTracker[Partition]()
    progress = progress or WorkerProgress(name)

    def finisher(partition: Partition, offset: int) -> Callable[[], None]:
        def finish() -> None:
            tracker.finish(partition, offset)
            progress.advanced()

        return finish

    while not stop.is_set():
        if tracker.in_flight >= max_in_flight:
            await tracker.wait_for_progress(0.2)
        else:
            try:
                batches = await consumer.getmany(timeout_ms=100, max_records=max_in_flight - tracker.in_flight)
            except KafkaError as exc:
                log.warning("fetch failed", worker=name, error=type(exc).__name__)
                await asyncio.sleep(fetch_retry_delay)
                continue
            for partition, records in batches.items():
                for record in records:
                    tracker.start(partition, record.offset)
                    progress.took()
                    done = finisher(partition, record.offset)
                    try:
                        submit(record, done)
                    except Exception as exc:
                        await _refused(record, exc, done, quarantine, progress)
        await _commit(consumer, tracker, name)
        if not tracker.in_flight:
            progress.idle()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace_seconds
    while tracker.in_flight and loop.time() < deadline:
        await tracker.wait_for_progress(0.2)
    await _commit(consumer, tracker, name)
    log.info("worker stopped taking records", worker=name, unfinished=tracker.in_flight)


async def _refused(
    record: Record,
    failure: Exception,
    done: Callable[[], None],
    quarantine: Quarantine | None,
    progress: WorkerProgress,
) -> None:
    where = {"partition": record.partition, "offset": record.offset}
    if not is_poison(failure, others_went_through=True):  # the worker said RetryLater
        log.warning("record refused for now: it stays unfinished", worker=progress.name, reason=reason_of(failure))
        return
    if quarantine is None:
        log.error("record refused, and no quarantine: it stays unfinished", worker=progress.name, **where)
        return
    log.error(
        "record refused; set aside",
        worker=progress.name,
        error=fault_kind(failure),
        at=fault_place(failure),
        reason=reason_of(failure),
    )
    try:
        await quarantine(record, failure)
    except Exception as exc:  # it stays unfinished: its offset is not passed, it is read again after a restart
        log.error("refused record could not be set aside", worker=progress.name, error=fault_kind(exc), **where)
        return
    progress.quarantined()
    done()


async def _commit(consumer: RecordConsumer, tracker: OffsetTracker[Partition], name: str) -> None:
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

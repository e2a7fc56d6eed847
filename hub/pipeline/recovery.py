"""Recovery from a broker that lost its log: publish again what was accepted and is not finished.

The archive has the raw bytes of every accepted message; the tracking store knows which are finished.
Publishing again is safe: the delivery ledger keeps receivers from getting a message twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition

from hub.broker.port import Outgoing, RecordPublisher
from hub.broker.records import IngressRecord
from hub.broker.topic_plan import TopicSpec, TopicsRefused
from hub.broker.topics import Topics, ensure_topics
from hub.ticks import ticks
from hub.track.archive import MessageArchive

log = structlog.get_logger(__name__)


async def replay_unfinished(
    archive: MessageArchive, publisher: RecordPublisher, topics: Topics, *, recent_since: str | None = None
) -> int:
    """Publish every accepted, unfinished message (and, with `recent_since`, every one received since then) to
    the ingress topic again; returns how many. Safe to overdo: the ledger and the projection are idempotent."""
    count = 0
    batch: list[Outgoing] = []
    async for message in archive.unfinished(recent_since=recent_since):
        record = IngressRecord(
            tracking_id=message.tracking_id,
            sender_sor=message.sender_sor,
            received_at=message.received_at,
            connector=message.connector,
            raw=message.raw,
        )
        batch.append((topics.ingress, message.key, message.raw, [*record.headers(), ("hub-replayed", b"1")]))
        if len(batch) >= 500:
            await publisher.send_all(batch)
            count += len(batch)
            batch = []
    if batch:
        await publisher.send_all(batch)
        count += len(batch)
    if count:
        log.warning("accepted messages published again", count=count)
    return count


class BrokerWatch:
    """Notices when the broker has lost the hub's topics (missing, or offsets that went backwards),
    creates them again (as `spec` wants them; `partitions=N` is short for `spec=TopicSpec(N)`) and replays
    the archive."""

    def __init__(
        self,
        *,
        bootstrap_servers: str,
        topics: Topics,
        spec: TopicSpec | None = None,
        partitions: int | None = None,
        archive: MessageArchive,
        publisher: RecordPublisher,
        on_lost: Callable[[], Awaitable[None]] | None = None,
        interval: float = 2.0,
        replay_window_seconds: float = 600.0,
    ) -> None:
        self._bootstrap = bootstrap_servers
        self._topics = topics
        if (spec is None) == (partitions is None):
            raise TypeError("BrokerWatch takes spec= or partitions=, one of them")
        self._spec = spec or TopicSpec(partitions=int(partitions or 0))
        self._archive = archive
        self._publisher = publisher
        self._interval = interval
        self._on_lost = on_lost
        self._replay_window = replay_window_seconds
        self._seen: dict[TopicPartition, int] = {}
        self.recoveries = 0

    async def run(self, stop: asyncio.Event) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, request_timeout_ms=10_000)
        await consumer.start()
        try:
            async for _ in ticks(self._interval, stop):
                try:
                    lost = await self._log_lost(consumer)
                except Exception as exc:  # the broker may be restarting; look again next round
                    log.info("broker not answering", error=type(exc).__name__)
                    continue
                if lost:
                    await self._recover_until_done(lost, stop)
        finally:
            await consumer.stop()

    async def _log_lost(self, consumer: AIOKafkaConsumer) -> str | None:
        await consumer._client.force_metadata_update()  # aiokafka has no public call for this
        partitions = [
            TopicPartition(topic, p)
            for topic in self._topics.all()
            for p in (consumer.partitions_for_topic(topic) or ())
        ]
        missing = [t for t in self._topics.all() if not consumer.partitions_for_topic(t)]
        if missing:
            return f"topics missing: {', '.join(missing)}"
        ends = await consumer.end_offsets(partitions)
        regressed = [tp for tp, end in ends.items() if end < self._seen.get(tp, 0)]
        self._seen.update(ends)
        if regressed:
            return f"offsets went backwards on {len(regressed)} partitions"
        return None

    async def _recover_until_done(self, reason: str, stop: asyncio.Event) -> None:
        log.error("the broker lost the hub's log; recovering from the archive", reason=reason)
        # what the lost log held besides unfinished messages: the recent past, whatever its state
        recent_since = (datetime.now(UTC) - timedelta(seconds=self._replay_window)).isoformat(timespec="microseconds")
        failures = 0
        while not stop.is_set():
            try:
                await ensure_topics(self._bootstrap, self._topics, spec=self._spec)
                self._seen.clear()
                if self._on_lost is not None:
                    await self._on_lost()  # readers start again from the beginning of the new, empty log
                break
            except TopicsRefused as exc:  # an operator has to fix the topics (or the settings); look again
                failures += 1
                log.error("recovery refused by the topics' settings; trying again", problem=str(exc), attempt=failures)
                await asyncio.sleep(min(10.0, 0.5 * failures))
            except Exception as exc:  # a broker just back may refuse for a moment; the archive is still here
                failures += 1
                log.warning("recovery failed; trying again", error=type(exc).__name__, attempt=failures)
                await asyncio.sleep(min(10.0, 0.5 * failures))
        # Replay now, and twice more a little later: what was accepted while the broker came back (and a freshly
        # restarted broker may still drop) is in the archive too. Replaying is idempotent, so more is harmless.
        for delay in (0.0, 5.0, 20.0):
            if stop.is_set():
                return
            await asyncio.sleep(delay)
            for attempt in range(1, 30):
                try:
                    await replay_unfinished(self._archive, self._publisher, self._topics, recent_since=recent_since)
                    break
                except Exception as exc:
                    log.warning("replay failed; trying again", error=type(exc).__name__, attempt=attempt)
                    await asyncio.sleep(min(10.0, 0.5 * attempt))
        self.recoveries += 1

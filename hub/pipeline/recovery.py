"""Recovery from a broker that lost its log: publish again, in acceptance order, what was accepted and is not
finished, and let nothing overtake it.

The archive has the raw bytes of every accepted message (kept before its sender heard "accepted"); the
tracking store knows which are finished. Publishing again is safe: the delivery ledger keeps receivers from
getting a message twice (by MessageHeader.id).

The guarantee, per patient (partition key) and receiver: after a lost log, messages reach the receiver in the
order the hub accepted them, none is lost and none is delivered twice. How (`BrokerWatch`):

1. the intake is held (`IntakeGate`): new acceptances wait (at most `hold_seconds`, then the sender hears
   "unavailable, send again") before they are archived, and the recovery waits until the admissions already
   under way are archived, so that every message accepted before is in the archive;
2. the messages the replay will carry are read from the archive (`carried`), and the recovery's `Fence` is set:
   from now on the workers pass by every other copy of those messages that reaches the new log before the
   replay's (hub.pipeline.fence: a publish that was under way, an ingress batch that was being handled, a replay
   attempt that failed half way); the ingress worker handles nothing until the replay is published;
3. the topics are created again, the consumers start from the beginning of the new log, and the archive is
   published again, oldest first (received time, then tracking id), so each partition gets a patient's
   messages in acceptance order; a failed attempt is made again as a whole, under a new replay id;
4. the intake is let go: what is accepted from now on comes after the replay in every partition.

The replay is published once per recovery (no second replay a little later): a message that arrived while the
broker came back is held or fenced, and a replay after newer messages could only put an old one behind them.

The same holds at start (hub.app): when the ingress topic was just created, the archive is replayed before the
consumers and the connectors start, and HTTP takes messages only once the start is over.

Two limits: the fence is one process's (hub processes sharing a database each hold their own intake, so another
process can still put a new message before this one's replay), and a log that went back without its topics
disappearing is noticed only at the watch's next look (`interval`), so what is taken from the new log before
then is not fenced.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition

from connectors.intake import NotKept, Publish, archived
from hub.broker.isolation import BatchHandler
from hub.broker.port import Outgoing, Record, RecordPublisher
from hub.broker.records import IngressRecord
from hub.broker.topic_plan import TopicSpec, TopicsRefused
from hub.broker.topics import Topics, ensure_topics
from hub.domain.ids import new_tracking_id
from hub.pipeline.fence import REPLAY_HEADER, Fence, header, superseded
from hub.ticks import ticks
from hub.track.archive import MessageArchive

log = structlog.get_logger(__name__)

Take = Callable[[Record, Callable[[], None]], None]


class IntakeHeld(TimeoutError):
    """The intake stayed held (the hub is recovering from a lost broker log) for longer than a sender waits:
    nothing was kept, and the sender sends the message again (a TimeoutError: "unavailable" to the sender)."""


class IntakeGate:
    """Holds new acceptances while the hub recovers, and knows the admissions being archived (by tracking id).

    `admit` wraps the intake's archive-then-publish: it waits while the gate is held (at most `hold_seconds`,
    then `IntakeHeld`), and counts the admission as under way until the archive kept it (or failed). Its publish
    may end later: a copy that reaches the new log before the replay is fenced (hub.pipeline.fence), one that
    comes after is a duplicate of what the replay carried, behind it."""

    def __init__(self, *, hold_seconds: float = 30.0) -> None:
        self.hold_seconds = hold_seconds
        self._open = asyncio.Event()
        self._open.set()
        self._archiving: set[str] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def held(self) -> bool:
        return not self._open.is_set()

    def hold(self) -> None:
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    async def drained(self, timeout: float) -> bool:
        """Wait until no admission is being archived (True), or `timeout` seconds (False): then every message
        accepted before the gate was held is in the archive."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)
        return self._idle.is_set()

    @contextlib.asynccontextmanager
    async def admission(self, tracking_id: str) -> AsyncIterator[None]:
        """Wait while the gate is held, then count the admission as being archived until the block ends."""
        if self.held:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._open.wait(), self.hold_seconds)
            if self.held:
                raise IntakeHeld("the hub is recovering from a broker that lost its log; send the message again")
        self._archiving.add(tracking_id)
        self._idle.clear()
        try:
            yield
        finally:
            self._archiving.discard(tracking_id)
            if not self._archiving:
                self._idle.set()

    def admit(self, publish: Publish, *, archive: MessageArchive | None) -> Publish:
        """The intake's `Publish` through this gate: wait while held, keep in the archive, then publish (the
        archive's failure raised as `NotKept`, as the intake raises it, and then nothing is published)."""

        async def admitted(record: IngressRecord) -> None:
            async with self.admission(record.tracking_id):
                if archive is not None:
                    try:
                        await archive.keep(archived(record))
                    except Exception as exc:
                        raise NotKept(f"the archive did not keep the message ({type(exc).__name__})") from exc
            await publish(record)

        return admitted


class Recovery:
    """What a recovery shares with the intake and the workers of this process: the intake's gate, the fence of
    the last recovery, and whether one is under way (the ingress worker waits for its replay)."""

    def __init__(self, gate: IntakeGate | None = None) -> None:
        self.gate = gate or IntakeGate()
        self.fence: Fence | None = None
        self._settled = asyncio.Event()
        self._settled.set()

    def begin(self) -> None:
        self.gate.hold()
        self._settled.clear()

    def end(self) -> None:
        """The replay is published (or the hub stops): copies published before now are fenced, intake goes on."""
        if self.fence is not None and self.fence.until_ms is None:
            self.fence = self.fence.ended(now_ms())
        self._settled.set()
        self.gate.release()

    async def settled(self) -> None:
        await self._settled.wait()

    def passes_by(self, record: Record, *, resend: bool = False) -> bool:
        """True for a copy the last recovery's replay supersedes (hub.pipeline.fence)."""
        if resend:
            return False
        headers = list(record.headers or ())
        return superseded(
            tracking_id=header(headers, "hub-tracking-id") or "",
            published_at_ms=_published_at(record),
            replay=header(headers, REPLAY_HEADER),
            fence=self.fence,
        )

    def guard_ingress(self, handle: BatchHandler) -> BatchHandler:
        """The ingress worker's batch handler, behind the fence: it waits while a recovery is under way, then
        hands on the batch without the copies the replay supersedes."""

        async def guarded(records: list[Record]) -> None:
            await self.settled()
            kept = [record for record in records if not self.passes_by(record)]
            if len(kept) < len(records):
                log.info("copies the replay supersedes passed by", worker="ingress", count=len(records) - len(kept))
            if kept:
                await handle(kept)

        return guarded

    def guard_delivery(self, take: Take) -> Take:
        """The delivery worker's `take`, behind the fence: an outbox record for a message the replay carries again,
        planned before the replay was published, is finished without a push (the replay plans it again, in order);
        a resend is always taken."""

        def guarded(record: Record, done: Callable[[], None]) -> None:
            if self.passes_by(record, resend=header(record.headers, "hub-resend") == "1"):
                log.info("a copy the replay supersedes passed by", worker="delivery")
                done()
                return
            take(record, done)

        return guarded


def now_ms() -> int:
    return int(time.time() * 1000)


def _published_at(record: Record) -> int | None:
    """When the record was published (its CreateTime, in ms), as the consumer's records tell it."""
    timestamp = getattr(record, "timestamp", None)
    return timestamp if isinstance(timestamp, int) and timestamp >= 0 else None


async def carried(archive: MessageArchive, *, recent_since: str | None = None) -> frozenset[str]:
    """The tracking ids `replay_unfinished` would publish now."""
    return frozenset([message.tracking_id async for message in archive.unfinished(recent_since=recent_since)])


async def replay_unfinished(
    archive: MessageArchive,
    publisher: RecordPublisher,
    topics: Topics,
    *,
    recent_since: str | None = None,
    replay_id: str | None = None,
) -> int:
    """Publish every accepted, unfinished message (and, with `recent_since`, every one received since then) to
    the ingress topic again, oldest first, each with the `replay_id` (hub.pipeline.fence); returns how many.
    Safe to overdo: the ledger and the projection are idempotent."""
    replay = (replay_id or new_tracking_id()).encode()
    count = 0
    batch: list[Outgoing] = []
    async for message in archive.unfinished(recent_since=recent_since):  # in acceptance order
        record = IngressRecord(
            tracking_id=message.tracking_id,
            sender_sor=message.sender_sor,
            received_at=message.received_at,
            connector=message.connector,
            raw=message.raw,
        )
        headers = [*record.headers(), ("hub-replayed", b"1"), (REPLAY_HEADER, replay)]
        batch.append((topics.ingress, message.key, message.raw, headers))
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
    """Notices when the broker has lost the hub's topics (missing, or offsets that went backwards), holds the
    intake, creates the topics again (as `spec` wants them; `partitions=N` is short for `spec=TopicSpec(N)`)
    and replays the archive behind the `recovery`'s fence (see the module docstring)."""

    def __init__(
        self,
        *,
        bootstrap_servers: str,
        topics: Topics,
        spec: TopicSpec | None = None,
        partitions: int | None = None,
        archive: MessageArchive,
        publisher: RecordPublisher,
        recovery: Recovery | None = None,
        on_lost: Callable[[], Awaitable[None]] | None = None,
        interval: float = 2.0,
        replay_window_seconds: float = 600.0,
        drain_seconds: float = 10.0,
    ) -> None:
        self._bootstrap = bootstrap_servers
        self._topics = topics
        if (spec is None) == (partitions is None):
            raise TypeError("BrokerWatch takes spec= or partitions=, one of them")
        self._spec = spec or TopicSpec(partitions=int(partitions or 0))
        self._archive = archive
        self._publisher = publisher
        self.recovery = recovery or Recovery()
        self._interval = interval
        self._on_lost = on_lost
        self._replay_window = replay_window_seconds
        self._drain_seconds = drain_seconds  # how long admissions under way may take to be archived
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
        recovery = self.recovery
        recovery.begin()  # new acceptances wait; the ingress worker waits for the replay
        replayed = False
        try:
            if not await recovery.gate.drained(self._drain_seconds):
                log.warning("admissions still being archived; their order after the replay is not assured")
            ids = await self._carried(recent_since, stop)
            if ids is None:
                return
            recovery.fence = Fence(replay=new_tracking_id(), carried=ids)  # before the new log can take a copy
            if await self._recreate_topics(stop):
                replayed = await self._replay(ids, recent_since, stop)
        finally:
            if not replayed:  # stopping half way: pass nothing by, what is read next time is all there is
                recovery.fence = None
            recovery.end()  # what is accepted from now on comes after the replay
        if replayed:
            self.recoveries += 1

    async def _replay(self, ids: frozenset[str], recent_since: str, stop: asyncio.Event) -> bool:
        """Publish the archive again, as a whole, until it went through (True) or the hub stops (False). Each
        attempt has its own id: the copies of one that failed half way are passed by (hub.pipeline.fence)."""
        attempt = 0
        while not stop.is_set():
            attempt += 1
            replay_id = new_tracking_id()
            self.recovery.fence = Fence(replay=replay_id, carried=ids)
            try:
                await replay_unfinished(
                    self._archive, self._publisher, self._topics, recent_since=recent_since, replay_id=replay_id
                )
                return True
            except Exception as exc:
                log.warning("replay failed; trying again", error=type(exc).__name__, attempt=attempt)
                await _pause(stop, min(10.0, 0.5 * attempt))
        return False

    async def _recreate_topics(self, stop: asyncio.Event) -> bool:
        failures = 0
        while not stop.is_set():
            try:
                await ensure_topics(self._bootstrap, self._topics, spec=self._spec)
                self._seen.clear()
                if self._on_lost is not None:
                    await self._on_lost()  # readers start again from the beginning of the new, empty log
                return True
            except TopicsRefused as exc:  # an operator has to fix the topics (or the settings); look again
                failures += 1
                log.error("recovery refused by the topics' settings; trying again", problem=str(exc), attempt=failures)
                await _pause(stop, min(10.0, 0.5 * failures))
            except Exception as exc:  # a broker just back may refuse for a moment; the archive is still here
                failures += 1
                log.warning("recovery failed; trying again", error=type(exc).__name__, attempt=failures)
                await _pause(stop, min(10.0, 0.5 * failures))
        return False

    async def _carried(self, recent_since: str, stop: asyncio.Event) -> frozenset[str] | None:
        """What the replay will carry, read again (the database may be away for a moment) until it was read, or
        None when the hub stops first."""
        attempt = 0
        while not stop.is_set():
            attempt += 1
            try:
                return await carried(self._archive, recent_since=recent_since)
            except Exception as exc:
                log.warning("archive not read; trying again", error=type(exc).__name__, attempt=attempt)
                await _pause(stop, min(10.0, 0.5 * attempt))
        return None


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)

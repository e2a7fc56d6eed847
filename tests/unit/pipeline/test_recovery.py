"""Recovery from a lost broker log (hub.pipeline.recovery), without a broker: the intake's gate holds new
acceptances and knows those being archived; the replay publishes the archive in acceptance order under its
replay id; the workers' guards wait for the replay and pass by the copies it supersedes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from connectors.intake import NotKept
from hub.broker.port import Outgoing, Record
from hub.broker.records import Headers, IngressRecord
from hub.broker.topics import Topics
from hub.pipeline.fence import REPLAY_HEADER, Fence, header
from hub.pipeline.recovery import IntakeGate, IntakeHeld, Recovery, carried, replay_unfinished
from hub.store.engine import open_database
from hub.track.archive import ArchivedMessage, MessageArchive

TOPICS = Topics("t.")


@dataclass(frozen=True)
class Consumed:
    """A record as a consumer gives it, with its publish time (CreateTime, ms)."""

    headers: Sequence[tuple[str, bytes]]
    timestamp: int | None = None
    topic: str = "t.ingress"
    partition: int = 0
    offset: int = 0
    key: bytes | None = b"patient"
    value: bytes | None = b"{}"


def copy_of(tracking_id: str, *, at: int, replay: str | None = None, resend: bool = False) -> Consumed:
    headers = [("hub-tracking-id", tracking_id.encode())]
    if replay is not None:
        headers += [("hub-replayed", b"1"), (REPLAY_HEADER, replay.encode())]
    if resend:
        headers.append(("hub-resend", b"1"))
    return Consumed(headers, at)


@dataclass
class Published:
    """A publisher that keeps what it was given, in order."""

    records: list[Outgoing] = field(default_factory=list)

    async def send(self, topic: str, *, key: bytes, value: bytes, headers: Headers | None = None) -> Awaitable[None]:
        raise NotImplementedError

    async def send_and_wait(self, topic: str, *, key: bytes, value: bytes, headers: Headers | None = None) -> None:
        self.records.append((topic, key, value, headers))

    async def send_all(self, records: Sequence[Outgoing]) -> None:
        self.records.extend(records)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    opened = await open_database(f"sqlite+aiosqlite:///{tmp_path / 'hub.sqlite3'}")
    yield opened
    await opened.dispose()


def message(tracking_id: str, received_at: str, key: bytes) -> ArchivedMessage:
    return ArchivedMessage(tracking_id, "1234", "http", received_at, key, f'{{"id":"{tracking_id}"}}'.encode())


def record(tracking_id: str) -> IngressRecord:
    return IngressRecord(tracking_id=tracking_id, sender_sor="1234", received_at="", connector="http", raw=b"{}")


async def test_the_replay_publishes_in_acceptance_order_under_its_id(engine: AsyncEngine) -> None:
    archive = MessageArchive(engine)
    # kept in another order than accepted, and tracking ids that sort otherwise than the times
    for kept in (
        message("c", "2026-01-01T10:00:03.000000+00:00", b"p1"),
        message("z", "2026-01-01T10:00:01.000000+00:00", b"p1"),
        message("a", "2026-01-01T10:00:02.000000+00:00", b"p2"),
    ):
        await archive.keep(kept)
    publisher = Published()
    assert await replay_unfinished(archive, publisher, TOPICS, replay_id="r-1") == 3
    assert [value for _, _, value, _ in publisher.records] == [b'{"id":"z"}', b'{"id":"a"}', b'{"id":"c"}']
    assert {topic for topic, *_ in publisher.records} == {TOPICS.ingress}
    assert [key for _, key, _, _ in publisher.records] == [b"p1", b"p2", b"p1"]  # each patient's own partition
    assert all(header(headers, REPLAY_HEADER) == "r-1" for *_, headers in publisher.records)
    assert await carried(archive) == frozenset({"a", "c", "z"})


async def test_a_held_intake_archives_nothing_until_it_is_released(engine: AsyncEngine) -> None:
    archive = MessageArchive(engine)
    publisher = Published()
    gate = IntakeGate()

    async def publish(kept: IngressRecord) -> None:
        await publisher.send_and_wait(TOPICS.ingress, key=b"", value=kept.tracking_id.encode())

    admit = gate.admit(publish, archive=archive)
    gate.hold()

    async def admitting() -> None:
        await admit(record("held"))

    waiting = asyncio.create_task(admitting())
    await asyncio.sleep(0.05)
    assert not waiting.done()
    assert await carried(archive) == frozenset()  # not archived: the replay does not carry it
    assert await gate.drained(1.0)  # nothing being archived
    gate.release()
    await waiting
    assert await carried(archive) == frozenset({"held"})
    assert [value for _, _, value, _ in publisher.records] == [b"held"]


async def test_a_sender_held_too_long_hears_send_again() -> None:
    gate = IntakeGate(hold_seconds=0.01)
    published: list[str] = []

    async def publish(kept: IngressRecord) -> None:
        published.append(kept.tracking_id)

    gate.hold()
    with pytest.raises(IntakeHeld) as refused:
        await gate.admit(publish, archive=None)(record("late"))
    assert isinstance(refused.value, TimeoutError)  # the intake answers "unavailable, send again"
    assert published == []


async def test_an_archive_that_fails_publishes_nothing() -> None:
    class Failing:
        async def keep(self, message: ArchivedMessage) -> None:
            raise OSError("disk full")

    published: list[str] = []

    async def publish(kept: IngressRecord) -> None:
        published.append(kept.tracking_id)

    gate = IntakeGate()
    with pytest.raises(NotKept):
        await gate.admit(publish, archive=Failing())(record("x"))  # type: ignore[arg-type]
    assert published == []
    assert await gate.drained(0.1)


async def test_the_ingress_worker_waits_for_the_replay_and_passes_by_what_it_supersedes() -> None:
    recovery = Recovery()
    handled: list[list[str]] = []

    async def handle(records: list[Record]) -> None:
        handled.append([header(r.headers, "hub-tracking-id") or "" for r in records])

    guarded = recovery.guard_ingress(handle)
    recovery.begin()
    recovery.fence = Fence(replay="r-2", carried=frozenset({"old", "stale"}))
    batch: list[Record] = [
        copy_of("stale", at=100),  # published under way, before the loss was noticed
        copy_of("old", at=150, replay="r-1"),  # a replay attempt that failed half way
        copy_of("native", at=160),  # not in the archive: handled as always
        copy_of("old", at=200, replay="r-2"),  # the complete replay
        copy_of("stale", at=210, replay="r-2"),
    ]

    async def handling_the_batch() -> None:
        await guarded(batch)

    handling = asyncio.create_task(handling_the_batch())
    await asyncio.sleep(0.05)
    assert handled == []  # nothing is handled while the replay is under way
    recovery.end()
    await handling
    assert handled == [["native", "old", "stale"]]
    assert not recovery.gate.held


async def test_the_delivery_worker_finishes_superseded_outbox_records_without_a_push() -> None:
    recovery = Recovery()
    recovery.begin()
    recovery.fence = Fence(replay="r-1", carried=frozenset({"planned-before"}))
    taken: list[str] = []
    finished: list[str] = []

    def take(record: Record, done: object) -> None:
        taken.append(header(record.headers, "hub-tracking-id") or "")

    guarded = recovery.guard_delivery(take)
    guarded(copy_of("planned-before", at=100), lambda: finished.append("planned-before"))
    guarded(copy_of("planned-before", at=100, resend=True), lambda: finished.append("resend"))
    guarded(copy_of("notice", at=100), lambda: finished.append("notice"))
    recovery.end()
    assert recovery.fence is not None and recovery.fence.until_ms is not None
    guarded(copy_of("planned-before", at=recovery.fence.until_ms), lambda: finished.append("replanned"))
    assert finished == ["planned-before"]  # the replay plans it again, behind the older ones
    assert taken == ["planned-before", "notice", "planned-before"]  # the resend, the notice, the new plan

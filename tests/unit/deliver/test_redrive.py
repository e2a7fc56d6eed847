"""Redrive on a real SQLite file: dead letters taken for redrive are marked redriven, and each goes back to the
outbox with a ``redriven`` step on the events topic, in one send."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.broker.records import OutboxRecord
from hub.broker.topics import Topics
from hub.deliver.parking import Attempt, DeadLetterQuery, DeadLetterStore
from hub.deliver.redrive import Redrive, Redriven
from hub.domain.tracking import Step, TrackingEvent
from hub.store.engine import open_database

TOPICS = Topics("t.")


class Publisher:
    """Records each send_all call: what would have gone to the broker in one send."""

    def __init__(self) -> None:
        self.sends: list[list[tuple[str, bytes, bytes, Any]]] = []

    async def send_all(self, records: Sequence[tuple[str, bytes, bytes, Any]]) -> None:
        self.sends.append(list(records))


def outbox(tracking_id: str, receiver: str = "kommune-a") -> OutboxRecord:
    return OutboxRecord(
        tracking_id, f"m-{tracking_id}", receiver, "care-communication-message", b"{}", "p1", "hospital"
    )


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    opened = await open_database(f"sqlite+aiosqlite:///{tmp_path / 'hub.sqlite3'}")
    yield opened
    await opened.dispose()


@pytest.fixture
def dead_letters(engine: AsyncEngine) -> DeadLetterStore:
    return DeadLetterStore(engine)


@pytest.fixture
def publisher() -> Publisher:
    return Publisher()


@pytest.fixture
def redrive(dead_letters: DeadLetterStore, publisher: Publisher) -> Redrive:
    return Redrive(dead_letters, publisher, TOPICS)


async def bury(dead_letters: DeadLetterStore, item: OutboxRecord) -> int:
    return await dead_letters.add(item, reason="receiver answered 500", attempts=(Attempt("2026-01-01", "500"),))


async def test_one_dead_letter_goes_back_to_the_outbox_with_a_redriven_step(
    dead_letters: DeadLetterStore, redrive: Redrive, publisher: Publisher
) -> None:
    item = outbox("t1")
    dead_letter_id = await bury(dead_letters, item)
    assert await redrive.one(dead_letter_id) == Redriven(dead_letter_id, "t1", "kommune-a")

    (sent,) = publisher.sends
    (events_topic, event_key, event_value, event_headers), (outbox_topic, key, raw, headers) = sent
    event = TrackingEvent.from_bytes(event_value)
    assert (events_topic, event_key, event_headers) == (TOPICS.events, event.key, None)
    assert event.step is Step.REDRIVEN
    assert (event.tracking_id, event.message_id, event.event, event.receiver) == (
        "t1",
        "m-t1",
        "care-communication-message",
        "kommune-a",
    )
    assert event.detail == {"dead_letter": dead_letter_id}
    assert (outbox_topic, key, raw, headers) == (TOPICS.outbox, item.key, item.raw, item.headers())

    assert await dead_letters.pending_count() == 0
    (shown,) = await dead_letters.find(DeadLetterQuery(include_redriven=True))
    assert shown["redriven_at"] is not None


async def test_a_dead_letter_is_redriven_once(
    dead_letters: DeadLetterStore, redrive: Redrive, publisher: Publisher
) -> None:
    dead_letter_id = await bury(dead_letters, outbox("t1"))
    assert await redrive.one(dead_letter_id) is not None
    assert await redrive.one(dead_letter_id) is None
    assert await redrive.one(dead_letter_id + 1) is None
    assert len(publisher.sends) == 1


async def test_matching_dead_letters_go_back_oldest_first_in_one_send(
    dead_letters: DeadLetterStore, redrive: Redrive, publisher: Publisher
) -> None:
    ids = [await bury(dead_letters, outbox(f"t{n}", receiver)) for n, receiver in enumerate(["a", "b", "a", "a"])]
    redriven = await redrive.matching(DeadLetterQuery(receiver="a", limit=2))
    assert redriven == [Redriven(ids[0], "t0", "a"), Redriven(ids[2], "t2", "a")]
    (sent,) = publisher.sends
    assert [topic for topic, *_ in sent] == [TOPICS.events, TOPICS.outbox] * 2
    assert [raw for topic, _, raw, _ in sent if topic == TOPICS.outbox] == [b"{}", b"{}"]
    assert [TrackingEvent.from_bytes(v).tracking_id for t, _, v, _ in sent if t == TOPICS.events] == ["t0", "t2"]
    # the rest still wait: t3 for receiver a, t1 for receiver b
    waiting = await dead_letters.find(DeadLetterQuery())
    assert [row["tracking_id"] for row in waiting] == ["t1", "t3"]
    assert [r.tracking_id for r in await redrive.matching(DeadLetterQuery(receiver="a"))] == ["t3"]


async def test_nothing_matching_redrives_nothing(dead_letters: DeadLetterStore, redrive: Redrive) -> None:
    await bury(dead_letters, outbox("t1", "a"))
    assert await redrive.matching(DeadLetterQuery(receiver="b")) == []
    assert await dead_letters.pending_count() == 1

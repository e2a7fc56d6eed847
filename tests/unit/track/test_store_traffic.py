"""The tracking store's traffic per minute (the console's chart) on a real SQLite file: counted by minute,
connector and status from `since` on, and for an organisation only its own messages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.domain.tracking import Step, TrackingEvent
from hub.track.store import TrackingStore, TrafficCount


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[TrackingStore]:
    opened = await TrackingStore.open(f"sqlite+aiosqlite:///{tmp_path / 'hub.sqlite3'}")
    yield opened
    await opened.close()


def received(tracking_id: str, at: str, *, connector: str = "http", sender: str = "hospital") -> TrackingEvent:
    return TrackingEvent(
        Step.RECEIVED,
        tracking_id,
        message_id=f"m-{tracking_id}",
        event="care-communication-message",
        sender=sender,
        at=f"2026-12-06T{at}.000000+00:00",
        detail={"connector": connector},
    )


async def test_messages_are_counted_per_minute_connector_and_status_since_a_time(store: TrackingStore) -> None:
    await store.record(
        [
            received("t0", "20:59:59"),  # before since
            received("t1", "21:00:01"),
            received("t2", "21:00:59"),
            received("t3", "21:00:30", connector="mllp"),
            received("t4", "21:02:00"),
            TrackingEvent(Step.REJECTED, "t4", sender="hospital", detail={"outcome": {"issue": []}}),
        ]
    )
    assert await store.traffic(since="2026-12-06T21:00:00.000000+00:00") == [
        TrafficCount("2026-12-06T21:00", "http", "received", 2),
        TrafficCount("2026-12-06T21:00", "mllp", "received", 1),
        TrafficCount("2026-12-06T21:02", "http", "rejected", 1),
    ]


async def test_an_organisation_counts_only_the_messages_it_sent_or_receives(store: TrackingStore) -> None:
    await store.record([received("t1", "21:00:01"), received("t2", "21:00:02", sender="other-hospital")])
    routed = TrackingEvent(
        Step.ROUTED, "t2", message_id="m-t2", detail={"receivers": [{"receiver": "gp-b", "use": "primary"}]}
    )
    await store.record([routed])
    since = "2026-12-06T21:00:00.000000+00:00"
    assert [c.count for c in await store.traffic(since=since, party="hospital")] == [1]
    assert [(c.status, c.count) for c in await store.traffic(since=since, party="gp-b")] == [("routed", 1)]
    assert await store.traffic(since=since, party="nobody") == []

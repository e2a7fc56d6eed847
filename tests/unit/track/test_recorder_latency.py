"""The recorder times each acknowledgement the projection matched to a message it carried: from that
message's acceptance to the acknowledgement, by event (hub_acknowledgement_latency_seconds). An
acknowledgement that answers nothing the hub carried is not timed. A real tracking store on SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hub.domain.tracking import Step, TrackingEvent
from hub.observe.metrics import REGISTRY
from hub.track.recorder import Recorder
from hub.track.store import TrackingStore

EVENT = "care-communication-message"
ACCEPTED = "2026-12-06T10:00:00.000000+00:00"


@dataclass(frozen=True)
class Consumed:
    value: bytes
    topic: str = "t.events"
    partition: int = 0
    offset: int = 0
    key: bytes | None = None
    headers: tuple[tuple[str, bytes], ...] = ()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[TrackingStore]:
    opened = await TrackingStore.open(f"sqlite+aiosqlite:///{tmp_path / 'hub.sqlite3'}")
    yield opened
    await opened.close()


def timed(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(f"hub_acknowledgement_latency_seconds_{name}", labels) or 0.0


def records(*events: TrackingEvent) -> list[Consumed]:
    return [Consumed(event.to_bytes()) for event in events]


async def test_an_acknowledgement_is_timed_from_its_message_acceptance(store: TrackingStore) -> None:
    recorder = Recorder(store)
    carried = [
        TrackingEvent(Step.RECEIVED, "t1", message_id="m1", event=EVENT, sender="hospital", at=ACCEPTED),
        TrackingEvent(Step.ROUTED, "t1", message_id="m1", detail={"receivers": [{"receiver": "gp", "use": "primary"}]}),
        TrackingEvent(Step.DELIVERED, "t1", message_id="m1", receiver="gp", detail={"attempt": 1}),
    ]
    await recorder.handle(records(*carried))
    before = {
        "count": timed("count", event=EVENT),
        "sum": timed("sum", event=EVENT),
        "unanswered": timed("count", event="acknowledgement-message"),
    }
    within = timed("bucket", event=EVENT, le="600.0")
    acknowledgement = TrackingEvent(
        Step.ACKNOWLEDGED,
        "ack-1",
        message_id="m1",
        sender="hospital",
        receiver="gp",
        at="2026-12-06T10:07:30.000000+00:00",
        detail={"code": "ok"},
    )
    unanswered = TrackingEvent(
        Step.ACKNOWLEDGED, "ack-2", message_id="never-sent", receiver="gp", at=ACCEPTED, detail={"code": "ok"}
    )
    unanswered_received = TrackingEvent(
        Step.RECEIVED, "ack-2", message_id="a2", event="acknowledgement-message", sender="gp", at=ACCEPTED
    )
    await recorder.handle(records(acknowledgement, unanswered_received, unanswered))
    assert timed("count", event=EVENT) == before["count"] + 1
    assert timed("sum", event=EVENT) == before["sum"] + 450.0
    assert timed("bucket", event=EVENT, le="600.0") == within + 1
    # the unanswered one stays on its own record (the acknowledgement's): not timed
    assert timed("count", event="acknowledgement-message") == before["unanswered"]

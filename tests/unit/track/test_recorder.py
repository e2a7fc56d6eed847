"""The recorder on the in-memory broker, as the hub runs it (hub.broker.clients.consume_batches), with a real
tracking store (SQLite): events are projected and their offsets committed only once written; a crash before the
commit has them written again, harmlessly; an event the store refuses is recorded in a reduced form at once and
the others go on; an outage of the database is waited out and reduces nothing."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import DataError, OperationalError

from hub.broker.memory import MemoryBroker
from hub.broker.outcomes import RetryLater
from hub.broker.topics import Topics
from hub.domain.tracking import Step, TrackingEvent
from hub.track.recorder import Recorder
from hub.track.store import TrackingStore
from tests.memory_workers import RunningWorker, until

TOPICS = Topics("t.")
GROUP = "hub-recorder"


class Store:
    """The tracking store as the recorder uses it, with failures on demand: `failures` are raised by the next
    writes, `refuse(event)` says what a write holding that event raises, and a closed `gate` holds every write."""

    def __init__(self, store: TrackingStore) -> None:
        self.store = store
        self.failures: list[Exception] = []
        self.refuse: Callable[[TrackingEvent], Exception | None] = lambda _: None
        self.gate = asyncio.Event()
        self.gate.set()
        self.entered = asyncio.Event()
        self.writes: list[list[tuple[str, str]]] = []  # the (tracking id, step) of each event of each write tried

    async def record(self, events: Sequence[TrackingEvent]) -> None:
        self.entered.set()
        await self.gate.wait()
        self.writes.append([(e.tracking_id, str(e.step)) for e in events])
        if self.failures:
            raise self.failures.pop(0)
        for event in events:
            refusal = self.refuse(event)
            if refusal is not None:
                raise refusal
        await self.store.record(events)


class Recording(RunningWorker):
    """The recorder on a MemoryBroker, run, crashed and started again like the hub's."""

    def __init__(self, store: TrackingStore) -> None:
        broker = MemoryBroker(partitions=4)
        broker.create_topic(TOPICS.events)
        self.store = Store(store)
        self.tracking = store
        self.recorder = Recorder(self.store)  # type: ignore[arg-type]
        super().__init__(
            broker,
            topic=TOPICS.events,
            group=GROUP,
            name="recorder",
            handle=self.recorder.handle,
            quarantine=self.recorder.quarantine,
        )

    def publish(self, *events: TrackingEvent) -> None:
        for event in events:
            self.broker.append(TOPICS.events, event.to_bytes(), key=event.key)

    async def timeline(self, tracking_id: str) -> list[str]:
        found = await self.tracking.get_message(tracking_id)
        assert found is not None, f"{tracking_id} is not tracked"
        return [step["step"] for step in found["timeline"]]


@pytest.fixture
async def recording(tmp_path: Path, new_database_url: Callable[[Path], str]) -> AsyncIterator[Recording]:
    store = await TrackingStore.open(new_database_url(tmp_path))
    running = Recording(store)
    running.start()
    yield running
    with contextlib.suppress(Exception):
        await running.stop()
    await store.close()


def message(tracking_id: str, **routed_detail: Any) -> list[TrackingEvent]:
    """The steps of one message delivered to one receiver."""
    return [
        TrackingEvent(
            Step.RECEIVED, tracking_id, message_id=f"m-{tracking_id}", sender="hospital", detail={"connector": "http"}
        ),
        TrackingEvent(
            Step.ROUTED,
            tracking_id,
            message_id=f"m-{tracking_id}",
            detail={"receivers": [{"receiver": "kommune", "use": "primary"}], **routed_detail},
        ),
        TrackingEvent(
            Step.DELIVERED, tracking_id, message_id=f"m-{tracking_id}", receiver="kommune", detail={"attempt": 1}
        ),
    ]


async def test_events_are_projected_in_order_and_committed_once_written(recording: Recording) -> None:
    for n in range(8):
        recording.publish(*message(f"t-{n}"))
    await recording.drained()
    for n in range(8):
        assert await recording.timeline(f"t-{n}") == ["received", "routed", "delivered"]
        found = await recording.tracking.get_message(f"t-{n}")
        assert found is not None and found["status"] == "delivered"
    assert recording.progress.poisoned == 0 and recording.progress.busy_since is None


async def test_the_offset_is_committed_only_after_the_events_are_written(recording: Recording) -> None:
    recording.store.gate.clear()
    recording.publish(*message("t-1"))
    await asyncio.wait_for(recording.store.entered.wait(), 5)
    await asyncio.sleep(0.05)
    assert recording.lag() == 3
    assert await recording.tracking.get_message("t-1") is None
    recording.store.gate.set()
    await recording.drained()
    assert await recording.timeline("t-1") == ["received", "routed", "delivered"]


async def test_a_crash_before_the_commit_has_the_events_written_again_and_each_step_is_kept_once(
    recording: Recording,
) -> None:
    recording.broker.faults.fail("commit", times=1_000_000)
    recording.publish(*message("t-1"))
    await until(lambda: bool(recording.store.writes))
    await asyncio.sleep(0.05)
    await recording.crash()
    assert recording.lag() == 3
    assert await recording.timeline("t-1") == ["received", "routed", "delivered"]  # written, not committed
    recording.broker.faults.clear()
    recording.start()
    await recording.drained()
    assert len(recording.store.writes) >= 2  # written again after the restart ...
    assert await recording.timeline("t-1") == ["received", "routed", "delivered"]  # ... and kept once


async def test_an_event_the_store_refuses_is_recorded_reduced_at_once_and_the_others_go_on(
    recording: Recording,
) -> None:
    def refuse(event: TrackingEvent) -> Exception | None:
        if "UNWRITABLE" in str(event.detail):
            return DataError("INSERT INTO steps", {}, Exception("value too long"))
        return None

    recording.store.refuse = refuse
    recording.store.gate.clear()  # all in one batch
    recording.publish(*message("t-before"), *message("t-bad", why="UNWRITABLE"), *message("t-after"))
    recording.store.gate.set()
    await recording.drained()
    found = await recording.tracking.get_message("t-bad")
    assert found is not None and [s["step"] for s in found["timeline"]] == ["received", "routed", "delivered"]
    assert "could not record this step in full (DataError)" in found["timeline"][1]["detail"]["note"]
    # refused for good: tried once in its batch, once alone, then written reduced; no further tries
    assert recording.store.writes.count([("t-bad", "routed")]) == 2
    assert len(recording.store.writes) == 1 + 9 + 1
    for tracking_id in ("t-before", "t-after"):
        assert await recording.timeline(tracking_id) == ["received", "routed", "delivered"]
    assert recording.progress.poisoned == 1


async def test_an_event_that_is_not_a_hub_event_is_skipped_and_the_others_are_recorded(recording: Recording) -> None:
    recording.publish(*message("t-1")[:1])
    recording.broker.append(TOPICS.events, b"{not an event", key=b"x")
    recording.publish(*message("t-1")[1:])
    await recording.drained()
    assert await recording.timeline("t-1") == ["received", "routed", "delivered"]
    assert recording.progress.poisoned == 0


async def test_a_database_outage_is_waited_out_and_reduces_nothing(recording: Recording) -> None:
    recording.store.failures = [OperationalError("insert", {}, ConnectionRefusedError())] * 12
    for n in range(3):
        recording.publish(*message(f"t-{n}"))
    await recording.drained()
    assert recording.store.failures == []
    for n in range(3):
        found = await recording.tracking.get_message(f"t-{n}")
        assert found is not None and found["status"] == "delivered"
        assert all("note" not in step["detail"] for step in found["timeline"])
    assert recording.progress.poisoned == 0


async def test_retry_later_from_the_store_is_retried_until_the_events_are_written(recording: Recording) -> None:
    recording.store.failures = [RetryLater("the database is being failed over")] * 7
    recording.publish(*message("t-1"))
    await recording.drained()
    assert recording.store.failures == []
    assert await recording.timeline("t-1") == ["received", "routed", "delivered"]
    assert recording.progress.poisoned == 0

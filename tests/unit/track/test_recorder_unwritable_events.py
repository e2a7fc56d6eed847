"""Tracking events carrying values PostgreSQL refuses (over-long, NUL characters) are written fitted to their
columns; an event the store cannot write even alone is recorded in a reduced form, and the projection goes on.

Runs on SQLite by default and on PostgreSQL with ``pytest --database postgresql``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from sqlalchemy.exc import DataError

from hub.broker.clients import consume_batches
from hub.broker.isolation import Isolation
from hub.broker.progress import WorkerProgress
from hub.domain.tracking import Step, TrackingEvent
from hub.store.fitting import fit_row, fit_text, storable
from hub.store.tables import messages
from hub.track.recorder import Recorder
from hub.track.store import MessageQuery, TrackingStore


@pytest.fixture
async def store(tmp_path: Path, new_database_url: Callable[[Path], str]) -> AsyncIterator[TrackingStore]:
    opened = await TrackingStore.open(new_database_url(tmp_path))
    yield opened
    await opened.close()


def test_text_is_cut_to_its_column_and_loses_its_nul_characters() -> None:
    assert fit_text("a\x00b" * 3, 4) == "abab"
    assert fit_text("fits", None) == "fits"
    row = fit_row(messages, {"message_id": "m" * 100, "patient": "0101011234\x00", "outcome": "x\x00" * 5, "routed": 1})
    assert row == {"message_id": "m" * 64, "patient": "0101011234", "outcome": "xxxxx", "routed": 1}


def test_an_event_that_fits_is_left_as_it_is() -> None:
    event = TrackingEvent(Step.RECEIVED, "t-1", message_id="m-1")
    assert storable(event) is event


async def test_a_message_with_an_overlong_id_and_nul_characters_is_tracked(store: TrackingStore) -> None:
    long_id = "x" * 5000
    await store.record(
        [
            TrackingEvent(
                Step.RECEIVED,
                "t-long",
                message_id=long_id,
                event="care-communication-message\x00",
                sender="hospital",
                patient="25094799891234567890",
                detail={"connector": "http\x00" * 10, "bundle_id": "b\x00" * 200},
            ),
            TrackingEvent(
                Step.REJECTED,
                "t-long",
                message_id=long_id,
                detail={"outcome": {"resourceType": "OperationOutcome", "issue": [{"diagnostics": "nul \x00 here"}]}},
            ),
        ]
    )
    found = await store.get_message("t-long")
    assert found is not None
    assert found["status"] == "rejected"
    assert found["message_id"] == "x" * 64
    assert found["event"] == "care-communication-message"
    assert [s["step"] for s in found["timeline"]] == ["received", "rejected"]
    total, _ = await store.find_messages(MessageQuery(status="rejected"))
    assert total == 1


class _RefusingStore:
    """A store that refuses every batch holding an event with `marker` in its detail, as PostgreSQL would."""

    def __init__(self, store: TrackingStore, marker: str) -> None:
        self.store = store
        self.marker = marker

    async def record(self, events: list[TrackingEvent]) -> None:
        if any(self.marker in str(event.detail) for event in events):
            raise DataError("INSERT INTO steps", {}, Exception("value too long"))
        await self.store.record(events)


def consumer_record(offset: int, event: TrackingEvent) -> ConsumerRecord[bytes, bytes]:
    value = event.to_bytes()
    return ConsumerRecord("events", 0, offset, 0, 0, None, value, None, 0, len(value), [])


class _OneBatch:
    def __init__(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        self.records = records
        self.position = 0
        self.committed = 0

    async def getmany(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[Any, list[Any]]:
        await asyncio.sleep(0.001)
        taken, self.position = self.records[self.position :], len(self.records)
        return {("events", 0): taken} if taken else {}

    def seek(self, _partition: Any, offset: int) -> None:
        self.position = offset

    async def commit(self, offsets: dict[Any, int] | None = None) -> None:
        self.committed = max(self.committed, *(offsets or {None: self.position}).values())


async def test_the_recorder_records_an_unwritable_event_reduced_and_goes_on(store: TrackingStore) -> None:
    events = [
        TrackingEvent(Step.RECEIVED, "t-1", message_id="m-1", sender="hospital", detail={"connector": "http"}),
        TrackingEvent(Step.ROUTED, "t-1", message_id="m-1", detail={"receivers": [], "why": "UNWRITABLE"}),
        TrackingEvent(Step.RECEIVED, "t-2", message_id="m-2", sender="hospital", detail={"connector": "http"}),
    ]
    consumer = _OneBatch([consumer_record(i, e) for i, e in enumerate(events)])
    recorder = Recorder(_RefusingStore(store, "UNWRITABLE"))  # type: ignore[arg-type]
    stop = asyncio.Event()
    progress = WorkerProgress("recorder")
    task = asyncio.create_task(
        consume_batches(
            consumer,  # type: ignore[arg-type]
            recorder.handle,
            name="recorder",
            stop=stop,
            batch_timeout_ms=5,
            quarantine=recorder.quarantine,
            isolation=Isolation(base_delay=0.001, max_delay=0.002),
            progress=progress,
        )
    )
    for _ in range(1000):
        if consumer.committed == 3:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert consumer.committed == 3
    assert progress.poisoned == 1
    first = await store.get_message("t-1")
    assert first is not None and [s["step"] for s in first["timeline"]] == ["received", "routed"]
    assert "could not record this step in full (DataError)" in first["timeline"][1]["detail"]["note"]
    assert await store.get_message("t-2") is not None  # the event after it went on

"""The tracking store on a real SQLite file."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from hub.domain.tracking import Step, TrackingEvent
from hub.store.engine import open_database
from hub.store.tables import metadata
from hub.track.store import MessageQuery, TrackingStore


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[TrackingStore]:
    opened = await TrackingStore.open(f"sqlite+aiosqlite:///{tmp_path / 'sub' / 'hub.sqlite3'}")
    yield opened
    await opened.close()


def received(tracking_id: str, message_id: str, **kw: object) -> TrackingEvent:
    return TrackingEvent(
        Step.RECEIVED,
        tracking_id,
        message_id=message_id,
        event="care-communication-message",
        sender="hospital",
        patient="2509479989",
        at=str(kw.get("at", "2026-01-01T10:00:00.000000+00:00")),
        detail={"connector": "http", "bundle_id": f"bundle-{tracking_id}"},
    )


def routed(tracking_id: str, message_id: str, *receivers: str) -> TrackingEvent:
    return TrackingEvent(
        Step.ROUTED,
        tracking_id,
        message_id=message_id,
        detail={"receivers": [{"receiver": r, "use": "primary", "reason": "test"} for r in receivers]},
    )


def delivery(step: Step, tracking_id: str, message_id: str, receiver: str, **detail: object) -> TrackingEvent:
    return TrackingEvent(step, tracking_id, message_id=message_id, receiver=receiver, detail=dict(detail))


async def status_of(store: TrackingStore, tracking_id: str) -> str:
    found = await store.get_message(tracking_id)
    assert found is not None
    return str(found["status"])


async def test_message_goes_from_received_to_acknowledged(store: TrackingStore) -> None:
    await store.record([received("t1", "m1"), routed("t1", "m1", "kommune-a", "gp-b")])
    assert await status_of(store, "t1") == "routed"
    await store.record([delivery(Step.DELIVERED, "t1", "m1", "kommune-a", attempt=1)])
    assert await status_of(store, "t1") == "routed"
    await store.record([delivery(Step.DELIVERED, "t1", "m1", "gp-b", attempt=2)])
    assert await status_of(store, "t1") == "delivered"
    ack = TrackingEvent(Step.ACKNOWLEDGED, "ack-1", message_id="m1", receiver="kommune-a", detail={"code": "ok"})
    ack2 = TrackingEvent(Step.ACKNOWLEDGED, "ack-2", message_id="m1", receiver="gp-b", detail={"code": "ok"})
    await store.record([ack, ack2])
    found = await store.get_message("t1")
    assert found is not None
    assert found["status"] == "acknowledged"
    assert {(r["receiver"], r["acknowledgement"], r["attempts"]) for r in found["receivers"]} == {
        ("kommune-a", "ok", 1),
        ("gp-b", "ok", 2),
    }
    assert [s["step"] for s in found["timeline"]] == [
        "received",
        "routed",
        "delivered",
        "delivered",
        "acknowledged",
        "acknowledged",
    ]
    assert found["patient"] == "250947-xxxx"


async def test_acknowledgement_overtaking_the_delivery_report_still_ends_acknowledged(store: TrackingStore) -> None:
    await store.record([received("t2", "m2"), routed("t2", "m2", "kommune-a")])
    await store.record(
        [TrackingEvent(Step.ACKNOWLEDGED, "a", message_id="m2", receiver="kommune-a", detail={"code": "ok"})]
    )
    await store.record([delivery(Step.DELIVERED, "t2", "m2", "kommune-a", attempt=1)])
    assert await status_of(store, "t2") == "acknowledged"


async def test_events_seen_twice_change_nothing(store: TrackingStore) -> None:
    events = [
        received("t3", "m3"),
        routed("t3", "m3", "kommune-a"),
        delivery(Step.DELIVERY_ATTEMPT_FAILED, "t3", "m3", "kommune-a", attempt=1, error="HTTP 500"),
    ]
    await store.record(events)
    await store.record(events)
    found = await store.get_message("t3")
    assert found is not None
    assert len(found["timeline"]) == 3
    assert found["receivers"][0]["status"] == "retrying"
    assert found["receivers"][0]["last_error"] == "HTTP 500"


async def test_failures_and_rejections(store: TrackingStore) -> None:
    outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "structure"}]}
    await store.record(
        [received("t4", "m4"), TrackingEvent(Step.REJECTED, "t4", message_id="m4", detail={"outcome": outcome})]
    )
    assert await status_of(store, "t4") == "rejected"
    assert (await store.get_message("t4"))["outcome"] == outcome  # type: ignore[index]
    await store.record(
        [
            received("t5", "m5"),
            routed("t5", "m5", "kommune-a"),
            delivery(Step.DELIVERY_FAILED, "t5", "m5", "kommune-a", attempt=7, error="HTTP 404"),
        ]
    )
    assert await status_of(store, "t5") == "failed"


async def test_acknowledgement_of_an_unknown_message_is_kept_on_its_own_record(store: TrackingStore) -> None:
    await store.record([received("ack-x", "ack-message")])
    await store.record(
        [
            TrackingEvent(
                Step.ACKNOWLEDGED, "ack-x", message_id="never-sent", receiver="kommune-a", detail={"code": "ok"}
            )
        ]
    )
    found = await store.get_message("ack-x")
    assert found is not None
    assert found["timeline"][-1]["step"] == "acknowledged"
    assert "no message with this id" in found["timeline"][-1]["detail"]["note"]


async def test_search_filters(store: TrackingStore) -> None:
    await store.record([received("s1", "sm1", at="2026-01-01T10:00:00.000000+00:00"), routed("s1", "sm1", "kommune-a")])
    await store.record([received("s2", "sm2", at="2026-01-02T10:00:00.000000+00:00"), routed("s2", "sm2", "kommune-b")])
    total, found = await store.find_messages(MessageQuery(receiver="kommune-b"))
    assert total == 1 and found[0]["tracking_id"] == "s2"
    total, found = await store.find_messages(MessageQuery(since="2026-01-01T12:00:00.000000+00:00"))
    assert [m["tracking_id"] for m in found] == ["s2"]
    total, found = await store.find_messages(MessageQuery(until="2026-01-01T12:00:00.000000+00:00"))
    assert [m["tracking_id"] for m in found] == ["s1"]
    total, _ = await store.find_messages(MessageQuery(patient="2509479989", status="routed"))
    assert total == 2
    total, found = await store.find_messages(MessageQuery(limit=1))
    assert total == 2 and len(found) == 1 and found[0]["tracking_id"] == "s2"  # newest first


# --- indexes: operator lists read their newest page off an index; an older database gets the indexes added since

MESSAGE_LISTS = [MessageQuery(status="received"), MessageQuery(event="x"), MessageQuery(sender="hospital")]


@pytest.fixture
async def listening_store(tmp_path: Path) -> AsyncIterator[tuple[TrackingStore, list[str]]]:
    opened = await TrackingStore.open(f"sqlite+aiosqlite:///{tmp_path / 'hub.sqlite3'}")
    statements: list[str] = []

    @sa.event.listens_for(opened.engine.sync_engine, "before_cursor_execute")
    def _keep(_c: Any, _cur: Any, statement: str, _p: Any, _ctx: Any, _many: bool) -> None:
        statements.append(statement)

    yield opened, statements
    await opened.close()


@pytest.mark.parametrize(
    "query", MESSAGE_LISTS, ids=lambda q: next(k for k in ("status", "event", "sender") if getattr(q, k))
)
async def test_a_filtered_list_is_read_newest_first_off_an_index(
    listening_store: tuple[TrackingStore, list[str]], query: MessageQuery
) -> None:
    tracking, statements = listening_store
    await tracking.record([received(f"t{i}", f"m{i}", at=f"2026-01-01T10:00:{i:02d}.000000+00:00") for i in range(30)])
    statements.clear()
    total, rows = await tracking.find_messages(MessageQuery(**{**_fields(query), "limit": 5}))
    listing = next(s for s in statements if "ORDER BY" in s)
    async with tracking.engine.connect() as connection:
        plan = " | ".join(
            str(row[-1])
            for row in await connection.exec_driver_sql("EXPLAIN QUERY PLAN " + listing, tuple(_parameters(query)))
        )
    assert "TEMP B-TREE" not in plan, plan
    assert "received_at" in plan, plan
    if query.status or query.sender:
        assert (total, [r["tracking_id"] for r in rows]) == (30, ["t29", "t28", "t27", "t26", "t25"])


def _fields(query: MessageQuery) -> dict[str, Any]:
    return {k: getattr(query, k) for k in ("status", "event", "sender") if getattr(query, k)}


def _parameters(query: MessageQuery) -> list[Any]:
    return [*_fields(query).values(), 5, 0]


async def test_an_older_database_gets_the_indexes_added_since(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    engine = await open_database(f"sqlite+aiosqlite:///{path}")
    await engine.dispose()
    with sqlite3.connect(path) as connection:  # as a database from before these indexes (and migrations)
        connection.execute("DROP TABLE alembic_version")
        connection.execute("DROP TABLE leases")
        connection.execute("DROP TABLE purged")
        for table in ("read_audit", "read_audit_patient", "read_audit_key"):  # revision 0004's
            connection.execute(f"DROP TABLE {table}")
        connection.execute("ALTER TABLE subscriptions DROP COLUMN basis")  # revision 0005's
        for column in ("channel", "created_by"):  # revision 0006's
            connection.execute(f"ALTER TABLE subscriptions DROP COLUMN {column}")
        connection.execute("DROP TABLE subscription_events")  # revision 0007's
        connection.execute("DROP INDEX ix_messages_bundle_id")
        for column in ("rest_hook", "error", "events_count"):
            connection.execute(f"ALTER TABLE subscriptions DROP COLUMN {column}")
        for table in ("parked", "dead_letters"):
            connection.execute(f"ALTER TABLE {table} DROP COLUMN via")
        connection.execute("DROP INDEX ix_messages_status_received_at")
        connection.execute("DROP INDEX ix_deliveries_status_updated_at")
    engine = await open_database(f"sqlite+aiosqlite:///{path}")
    await engine.dispose()
    with sqlite3.connect(path) as connection:
        present = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    wanted = {index.name for table in metadata.sorted_tables for index in table.indexes}
    assert wanted <= present

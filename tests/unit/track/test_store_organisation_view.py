"""An organisation's own view of the tracking store, and the figures of a period, on a real SQLite file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.domain.tracking import Step, TrackingEvent
from hub.track.store import MessageQuery, TrackingStore
from tests.unit.track.test_store import delivery, received, routed

NOON = "2026-01-01T12:00:00.000000+00:00"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[TrackingStore]:
    opened = await TrackingStore.open(f"sqlite+aiosqlite:///{tmp_path / 'hub.sqlite3'}")
    # "hospital" sends m1 to a municipality and a GP, m2 to the GP only; "other" sends m3 to the municipality
    await opened.record(
        [
            received("t1", "m1", at=NOON),
            routed("t1", "m1", "kommune-a", "gp-b"),
            TrackingEvent(Step.DELIVERED, "t1", message_id="m1", receiver="kommune-a", at="2026-01-01T12:00:05+00:00"),
            delivery(Step.DELIVERY_ATTEMPT_FAILED, "t1", "m1", "gp-b", error="gp-b is down"),
            received("t2", "m2", at=NOON),
            routed("t2", "m2", "gp-b"),
            TrackingEvent(
                Step.RECEIVED,
                "t3",
                message_id="m3",
                event="hospital-notification-message",
                sender="other",
                patient="0101010101",
                at=NOON,
            ),
            routed("t3", "m3", "kommune-a"),
        ]
    )
    yield opened
    await opened.close()


async def tracking_ids(store: TrackingStore, **query: object) -> list[str]:
    _, found = await store.find_messages(MessageQuery(**query))  # type: ignore[arg-type]
    return sorted(m["tracking_id"] for m in found)


async def test_an_organisation_lists_what_it_sent_or_receives_and_nothing_else(store: TrackingStore) -> None:
    assert await tracking_ids(store) == ["t1", "t2", "t3"]  # the operator
    assert await tracking_ids(store, party="hospital") == ["t1", "t2"]
    assert await tracking_ids(store, party="kommune-a") == ["t1", "t3"]
    assert await tracking_ids(store, party="gp-b") == ["t1", "t2"]
    assert await tracking_ids(store, party="stranger") == []


async def test_a_patient_is_found_only_in_the_messages_the_organisation_is_a_party_to(store: TrackingStore) -> None:
    assert await tracking_ids(store, patient="2509479989", party="hospital") == ["t1", "t2"]
    assert await tracking_ids(store, patient="2509479989", party="other") == []
    assert await tracking_ids(store, patient="0101010101", party="kommune-a") == ["t3"]


async def test_a_message_of_others_is_not_there_for_an_organisation(store: TrackingStore) -> None:
    assert await store.get_message("t3", party="hospital") is None
    assert await store.get_message("t2", party="kommune-a") is None
    assert await store.get_message("no-such", party="hospital") is None
    assert await store.get_message("t3") is not None


async def test_the_sender_sees_every_receiver_a_receiver_only_itself(store: TrackingStore) -> None:
    as_sender = await store.get_message("t1", party="hospital")
    assert as_sender is not None
    assert [d["receiver"] for d in as_sender["receivers"]] == ["gp-b", "kommune-a"]
    assert any(s["receiver"] == "gp-b" for s in as_sender["timeline"])

    as_receiver = await store.get_message("t1", party="kommune-a")
    assert as_receiver is not None
    assert [d["receiver"] for d in as_receiver["receivers"]] == ["kommune-a"]
    assert {s["receiver"] for s in as_receiver["timeline"]} <= {None, "kommune-a"}
    steps = {s["step"] for s in as_receiver["timeline"]}
    assert {"received", "routed", "delivered"} <= steps and "delivery-attempt-failed" not in steps
    routing = next(s for s in as_receiver["timeline"] if s["step"] == "routed")
    assert [r["receiver"] for r in routing["detail"]["receivers"]] == ["kommune-a"]
    assert "gp-b" not in str(as_receiver)

    _, listed = await store.find_messages(MessageQuery(party="kommune-a"))
    assert {d["receiver"] for m in listed for d in m["receivers"]} == {"kommune-a"}


async def test_figures_count_by_status_and_event_and_time_the_deliveries(store: TrackingStore) -> None:
    await store.record(
        [
            TrackingEvent(Step.DELIVERED, "t2", message_id="m2", receiver="gp-b", at="2026-01-01T12:00:10+00:00"),
            TrackingEvent(Step.DELIVERED, "t3", message_id="m3", receiver="kommune-a", at="2026-01-01T12:00:30+00:00"),
        ]
    )
    period = {"since": "2026-01-01T00:00:00+00:00", "until": "2026-01-02T00:00:00+00:00"}
    everything = await store.figures(**period, acknowledgement_deadline=1800)
    assert everything["messages"]["total"] == 3
    assert everything["messages"]["by_event"]["hospital-notification-message"]["total"] == 1
    assert everything["messages"]["by_event"]["care-communication-message"]["by_status"] == {
        "delivered": 1,
        "routed": 1,
    }
    assert everything["delivery"]["count"] == 3  # t1 to kommune-a, t2 and t3

    own = await store.figures(**period, party="hospital", acknowledgement_deadline=1800)
    assert own["messages"]["total"] == 2
    assert own["delivery"]["count"] == 2  # t1 to kommune-a (gp-b is still retrying) and t2
    assert (own["delivery"]["p50_seconds"], own["delivery"]["p95_seconds"]) == (5.0, 10.0)

    receiver = await store.figures(**period, party="kommune-a", acknowledgement_deadline=1800)
    assert receiver["messages"]["total"] == 2
    assert receiver["delivery"]["count"] == 2 and receiver["delivery"]["p95_seconds"] == 30.0

    later = await store.figures(
        since="2026-01-02T00:00:00+00:00", until="2026-01-03T00:00:00+00:00", acknowledgement_deadline=1800
    )
    assert later["messages"]["total"] == 0 and later["delivery"]["p50_seconds"] is None

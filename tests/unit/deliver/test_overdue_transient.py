"""The acknowledgement watch tells a sender when its receiver answered transient-error and no ok followed within
the acknowledgement timeout: one transient-error notice per receiver and message, noted on the original's
timeline without changing its status, and not again on the next scan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from hub.broker.records import OutboxRecord
from hub.broker.topics import Topics
from hub.deliver.overdue import AcknowledgementWatch
from hub.domain.tracking import Step, TrackingEvent
from hub.route.register import Register, parse_register
from hub.track.store import TrackingStore

TOPICS = Topics("t.")
TIMEOUT = 1800.0


class Publisher:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes, list[tuple[str, bytes]]]] = []

    async def send_and_wait(self, topic: str, *, key: bytes, value: bytes, headers: Any = None) -> None:
        self.sent.append((topic, key, value, list(headers or [])))

    def events(self) -> list[TrackingEvent]:
        return [TrackingEvent.from_bytes(v) for t, _, v, _ in self.sent if t == TOPICS.events]

    def outbox(self) -> list[OutboxRecord]:
        return [OutboxRecord.from_kafka(k, v, h) for t, k, v, h in self.sent if t == TOPICS.outbox]


@pytest.fixture
def register() -> Register:
    def org(org_id: str, sor: str) -> dict[str, Any]:
        return {
            "id": org_id,
            "name": org_id.title(),
            "kind": "municipality",
            "sor": sor,
            "endpoint": {"kind": "mailbox"},
            "accepts": ["hospital-notification-message", "acknowledgement-message"],
        }

    return parse_register(
        {
            "hub": {"name": "hub", "sor": "881531000016009"},
            "organisations": [org("hospital", "265161000016000"), org("kommune", "953741000016009")],
        },
        source="test",
    )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[TrackingStore]:
    opened = await TrackingStore.open(f"sqlite+aiosqlite:///{tmp_path / 'hub.sqlite3'}")
    yield opened
    await opened.close()


def delivered_and_acknowledged(tracking_id: str, *codes: str) -> list[TrackingEvent]:
    """A notification from the hospital, delivered to the municipality, which answered with `codes` in turn."""
    message_id = f"msg-{tracking_id}"
    common: dict[str, Any] = {"message_id": message_id, "sender": "hospital"}
    found = [
        TrackingEvent(Step.RECEIVED, tracking_id, event="hospital-notification-message", **common),
        TrackingEvent(Step.ROUTED, tracking_id, detail={"receivers": [{"receiver": "kommune", "use": "primary"}]}),
        TrackingEvent(Step.DELIVERED, tracking_id, receiver="kommune", **common),
    ]
    for number, code in enumerate(codes):
        found.append(
            TrackingEvent(
                Step.ACKNOWLEDGED,
                f"ack-{tracking_id}-{number}",
                receiver="kommune",
                detail={"code": code, "acknowledgement_message_id": f"ack-{number}"},
                **common,
            )
        )
    return found


def watch(store: TrackingStore, publisher: Publisher, register: Register | None) -> AcknowledgementWatch:
    return AcknowledgementWatch(
        store=store,
        archive=None,  # type: ignore[arg-type]  # no redeliveries: the archive is not read
        publisher=publisher,  # type: ignore[arg-type]
        topics=TOPICS,
        timeout_seconds=TIMEOUT,
        redeliveries=0,
        interval=30,
        register=register,
    )


async def test_a_transient_error_never_followed_by_ok_is_told_to_the_sender_once(
    store: TrackingStore, register: Register
) -> None:
    await store.record(
        [
            *delivered_and_acknowledged("t-stuck", "transient-error"),
            *delivered_and_acknowledged("t-resolved", "transient-error", "ok"),
            *delivered_and_acknowledged("t-fine", "ok"),
        ]
    )
    publisher = Publisher()
    scanner = watch(store, publisher, register)
    assert await scanner.notify_unresolved(datetime.now(UTC)) == 0  # not yet: the receiver has its timeout
    later = datetime.now(UTC) + timedelta(seconds=TIMEOUT + 1)
    await scanner.scan(later)
    (notice,) = publisher.outbox()
    assert (notice.receiver_id, notice.sender_id) == ("hospital", "hub")
    bundle = orjson.loads(notice.raw)
    header = bundle["entry"][0]["resource"]
    assert header["response"]["code"] == "transient-error"
    assert header["response"]["identifier"] == "msg-t-stuck"
    (outcome,) = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "OperationOutcome"]
    issue = outcome["issue"][0]
    assert issue["details"]["coding"][0]["code"] == "MSG_Mailbox_Out_Of_Operation"
    assert "Kommune (SOR 953741000016009)" in issue["details"]["text"]
    (notified,) = [e for e in publisher.events() if e.step is Step.SENDER_NOTIFIED]
    assert (notified.tracking_id, notified.receiver) == ("t-stuck", "kommune")

    before = await store.get_message("t-stuck")
    await store.record(publisher.events())  # as the recorder takes them from the events topic
    after = await store.get_message("t-stuck")
    assert before is not None and after is not None
    assert after["status"] == before["status"] == "acknowledged"  # a step, not a change of status
    assert after["receivers"] == before["receivers"]
    assert [s["step"] for s in after["timeline"]][-1] == "sender-notified"
    notice_record = await store.get_message(notice.tracking_id)
    assert notice_record is not None and notice_record["sender"] == "hub"

    again = Publisher()
    assert await watch(store, again, register).notify_unresolved(later + timedelta(hours=1)) == 0
    assert again.sent == []


async def test_without_a_register_the_watch_only_flags(store: TrackingStore) -> None:
    await store.record(delivered_and_acknowledged("t-stuck", "transient-error"))
    publisher = Publisher()
    await watch(store, publisher, None).scan(datetime.now(UTC) + timedelta(seconds=TIMEOUT + 1))
    assert publisher.sent == []

"""A poison ingress record is rejected like any invalid message (tracked, its sender answered with a fatal
error) with an `exception` issue, and kept on the dead-letter topic with its reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import ConsumerRecord

import hub.pipeline.ingress as ingress_module
from hub.broker.records import IngressRecord
from hub.broker.topics import Topics
from hub.domain.tracking import Step, TrackingEvent
from hub.pipeline.ingress import IngressWorker
from hub.route.register import Register
from tests.memory_workers import HOSPITAL_SOR, two_organisations

TOPICS = Topics("t.")


class Publisher:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes, Any]] = []

    async def send_all(self, records: list[tuple[str, bytes, bytes, Any]]) -> None:
        self.sent.extend(records)


@pytest.fixture(scope="module")
def register() -> Register:
    return two_organisations()


def worker(register: Register, publisher: Publisher) -> IngressWorker:
    return IngressWorker(
        validation=None,  # type: ignore[arg-type]
        register=register,
        ledger=None,  # type: ignore[arg-type]
        publisher=publisher,  # type: ignore[arg-type]
        topics=TOPICS,
    )


def kafka_record(raw: bytes, headers: list[tuple[str, bytes]] | None = None) -> ConsumerRecord[bytes, bytes]:
    incoming = IngressRecord("trk-1", HOSPITAL_SOR, "2026-01-01T10:00:00+00:00", "http", raw, b"2509479989")
    return ConsumerRecord(
        topic=TOPICS.ingress,
        partition=0,
        offset=7,
        timestamp=0,
        timestamp_type=0,
        key=incoming.key,
        value=raw,
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=len(raw),
        headers=headers if headers is not None else incoming.headers(),
    )


def events_of(publisher: Publisher) -> list[TrackingEvent]:
    return [TrackingEvent.from_bytes(value) for topic, _, value, _ in publisher.sent if topic == TOPICS.events]


async def test_a_poison_message_is_rejected_answered_and_dead_lettered(
    register: Register, example_paths: list[Path]
) -> None:
    raw = next(p for p in example_paths if "a5e5b880" in p.name).read_bytes()
    publisher = Publisher()
    await worker(register, publisher).quarantine(kafka_record(raw), IndexError("string index out of range"))

    (dead,) = [r for r in publisher.sent if r[0] == TOPICS.dead_letters]
    assert dead[2] is raw and dict(dead[3])["hub-reason"] == b"the hub could not process this message: IndexError"
    events = events_of(publisher)
    mine = [e for e in events if e.tracking_id == "trk-1"]
    assert [e.step for e in mine] == [Step.RECEIVED, Step.REJECTED]
    (issue,) = mine[1].detail["outcome"]["issue"]
    assert issue["code"] == "exception" and "IndexError" in issue["diagnostics"]
    assert "string index" not in issue["diagnostics"]  # the exception's text is not quoted
    # the sender gets its fatal-error acknowledgement, answering the message's own MessageHeader.id
    (answer,) = [r for r in publisher.sent if r[0] == TOPICS.outbox]
    acknowledgement = orjson.loads(answer[2])
    header = acknowledgement["entry"][0]["resource"]
    assert header["response"]["code"] == "fatal-error"
    assert header["response"]["identifier"] == orjson.loads(raw)["entry"][0]["resource"]["id"]


async def test_a_poison_record_that_even_planning_fails_on_is_still_tracked_as_rejected(
    register: Register, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("plan is broken too")

    monkeypatch.setattr(ingress_module, "plan", broken)
    publisher = Publisher()
    await worker(register, publisher).quarantine(kafka_record(b"{not json"), ValueError("x"))
    assert [e.step for e in events_of(publisher)] == [Step.RECEIVED, Step.REJECTED]
    assert [r[0] for r in publisher.sent].count(TOPICS.dead_letters) == 1


async def test_a_poison_record_with_unreadable_headers_is_still_dead_lettered(register: Register) -> None:
    headers = [("hub-tracking-id", b"trk-\xff"), ("hub-sender-sor", HOSPITAL_SOR.encode())]
    publisher = Publisher()
    await worker(register, publisher).quarantine(
        kafka_record(b"{}", headers), UnicodeDecodeError("utf-8", b"", 0, 1, "x")
    )
    assert [r[0] for r in publisher.sent].count(TOPICS.dead_letters) == 1
    assert {e.step for e in events_of(publisher)} >= {Step.RECEIVED, Step.REJECTED}

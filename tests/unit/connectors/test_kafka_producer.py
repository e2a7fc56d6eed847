"""The ingress producer helper: the record contract's key, value and headers."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any, Final

import orjson
import pytest

from connectors.kafka_producer import NotAccepting, ingress_publisher, ingress_record, publish_message
from hub.broker.clients import Publisher
from hub.broker.records import IngressRecord
from hub.domain.message import OrganisationRef
from hub.simulate import MessageGenerator
from hub.track.archive import ArchivedMessage

HOSPITAL_SOR: Final = "265161000016000"
MUNICIPALITY_SOR: Final = "953741000016009"
HOSPITAL = OrganisationRef(sor=HOSPITAL_SOR, gln="5790000209354", name="Hjerteafdelingen")
MUNICIPALITY = OrganisationRef(sor=MUNICIPALITY_SOR, gln="5790001348120", name="Plejecenter Herlev")
NOW = datetime(2024, 5, 8, 10, 31, 7, tzinfo=timezone(timedelta(hours=2)))
CPR = "2302654408"  # 23 February 1965, fictional


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send_and_wait(self, topic: str, value: bytes | None = None, key: bytes | None = None, **kw: Any) -> None:
        self.sent.append({"topic": topic, "value": value, "key": key, **kw})


def message(sender: OrganisationRef = HOSPITAL) -> bytes:
    bundle = MessageGenerator(3).hospital_notification(
        sender=sender, receiver=MUNICIPALITY, event="STIN", patient_cpr=CPR, now=NOW
    )
    return orjson.dumps(bundle)


async def test_publish_message_sends_the_bytes_unchanged_keyed_by_patient_with_the_contract_headers() -> None:
    producer = FakeProducer()
    raw = message()
    tracking_id = await publish_message(producer, "hub.ingress", raw, sender_sor=HOSPITAL_SOR, trace_id="trace-17")
    assert tracking_id == "trace-17"
    [sent] = producer.sent
    assert (sent["topic"], sent["value"], sent["key"]) == ("hub.ingress", raw, CPR.encode())
    headers = dict(sent["headers"])
    assert set(headers) == {"hub-tracking-id", "hub-sender-sor", "hub-received-at", "hub-connector"}
    assert headers["hub-tracking-id"] == b"trace-17"
    assert headers["hub-sender-sor"] == HOSPITAL_SOR.encode()
    assert headers["hub-connector"] == b"kafka"
    assert datetime.fromisoformat(headers["hub-received-at"].decode()).utcoffset() == timedelta(0)
    record = IngressRecord.from_kafka(sent["key"], sent["value"], sent["headers"])
    assert (record.connector, record.sender_sor, record.raw) == ("kafka", HOSPITAL_SOR, raw)


async def test_without_a_trace_id_a_tracking_id_is_made() -> None:
    producer = FakeProducer()
    first = await publish_message(producer, "t", message(), sender_sor=HOSPITAL_SOR)
    second = await publish_message(producer, "t", message(), sender_sor=HOSPITAL_SOR)
    assert first != second and len(first) == 36


@pytest.mark.parametrize(
    ("raw", "sender_sor", "reason"),
    [
        (b"not json", HOSPITAL_SOR, "not valid JSON"),
        (b'{"resourceType": "Patient"}', HOSPITAL_SOR, "expected a FHIR Bundle"),
        (message(), MUNICIPALITY_SOR, "MessageHeader.sender has SOR code 265161000016000"),
    ],
)
async def test_what_the_hub_would_reject_is_refused_before_sending(raw: bytes, sender_sor: str, reason: str) -> None:
    producer = FakeProducer()
    with pytest.raises(ValueError, match=reason):
        await publish_message(producer, "t", raw, sender_sor=sender_sor)
    assert producer.sent == []


class FakeKafka:
    """The aiokafka producer as Publisher uses it; `stall` keeps the broker from confirming."""

    def __init__(self, log: list[str], *, stall: bool = False) -> None:
        self.sent: list[tuple[str, bytes | None, bytes | None, Any]] = []
        self.log = log
        self.stall = stall

    async def send(self, topic: str, value: bytes, key: bytes, headers: Any) -> asyncio.Future[None]:
        self.log.append("sent")
        self.sent.append((topic, value, key, headers))
        confirmed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if not self.stall:
            confirmed.set_result(None)
        return confirmed


class FakeArchive:
    def __init__(self, log: list[str]) -> None:
        self.kept: list[ArchivedMessage] = []
        self.log = log

    async def keep(self, message: ArchivedMessage) -> None:
        self.log.append("kept")
        self.kept.append(message)


async def test_ingress_publisher_keeps_the_message_then_sends_it_and_waits() -> None:
    log: list[str] = []
    kafka, archive = FakeKafka(log), FakeArchive(log)
    record = ingress_record(message(), sender_sor=HOSPITAL_SOR, connector="file")
    publish = ingress_publisher(Publisher(kafka), "itest.ingress", archive=archive)
    await publish(record)
    assert log == ["kept", "sent"]
    assert kafka.sent == [("itest.ingress", record.raw, CPR.encode(), record.headers())]
    assert archive.kept == [
        ArchivedMessage(record.tracking_id, HOSPITAL_SOR, "file", record.received_at, CPR.encode(), record.raw)
    ]


async def test_ingress_publisher_refuses_while_the_hub_stops_and_times_out_on_a_silent_broker() -> None:
    log: list[str] = []
    record = ingress_record(message(), sender_sor=HOSPITAL_SOR, connector="mllp")
    stopping = ingress_publisher(Publisher(FakeKafka(log)), "t", accepting=lambda: False)
    with pytest.raises(NotAccepting):
        await stopping(record)
    assert log == []
    silent = ingress_publisher(Publisher(FakeKafka(log, stall=True)), "t", timeout=0.05)
    with pytest.raises(TimeoutError):
        await silent(record)

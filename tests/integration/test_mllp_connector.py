"""The MLLP connector against the real embedded broker: HL7 v2 over a real TCP socket, records read back.

Each test gets its own topics, so it can count exactly what was published.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from connectors.intake import Intake
from connectors.kafka_producer import Publish, ingress_publisher
from connectors.mllp import MllpDecoder, MllpListener, encode_frame
from connectors.mllp.framing import Frame
from hub.broker.clients import Publisher, make_producer
from hub.broker.embedded import EmbeddedBroker
from hub.broker.records import IngressRecord
from hub.broker.topics import Topics, ensure_topics
from hub.domain.message import read_facts
from hub.validate.validator import Validator
from mappings.hl7v2.parse import parse_message
from tests.mailbox_organisations import MAILBOX_HOSPITAL as HOSPITAL
from tests.mailbox_organisations import MAILBOX_MUNICIPALITY as MUNICIPALITY

pytestmark = pytest.mark.integration

REGISTER = {o.sor: o for o in (HOSPITAL, MUNICIPALITY)}
CPRS = ("1109834512", "0212675873", "3005911168")  # fictional, real birth dates


def adt(
    trigger: str = "A01",
    *,
    control_id: str,
    cpr: str = CPRS[0],
    sender: str = HOSPITAL.sor,
    pid3: str | None = None,
    patient_class: str = "I",
    discharged: str = "",
) -> bytes:
    pv1 = ["PV1", "1", patient_class, f"KAR^K12^1^{HOSPITAL.sor}"] + [""] * 15 + [f"V-{cpr[:6]}"]
    pv1 += [""] * 24 + ["202405080912", discharged]
    segments = [
        f"MSH|^~\\&|EPJ^Region H|{sender}|SEKTORHUB|{MUNICIPALITY.sor}|20240508103104+0200||ADT^{trigger}^ADT_A01|"
        f"{control_id}|P|2.5|||AL|NE|DNK|UNICODE UTF-8",
        f"EVN|{trigger}|20240508103104",
        f"PID|1||{pid3 if pid3 is not None else cpr + '^^^CPR^NNDNK'}||Bæk^Søren^Ib||19831109|M",
        "|".join(pv1).rstrip("|"),
    ]
    return ("\r".join(segments) + "\r").encode()


@dataclass
class Ingress:
    bootstrap_servers: str
    topic: str
    publish: Publish


@pytest.fixture
async def ingress(broker: EmbeddedBroker) -> AsyncIterator[Ingress]:
    topics = Topics(f"itest-mllp-{uuid.uuid4().hex[:10]}.")
    await ensure_topics(broker.bootstrap_servers, topics, partitions=2)
    producer = make_producer(broker.bootstrap_servers, max_request_size=2 * 1024 * 1024)
    await producer.start()
    try:
        yield Ingress(broker.bootstrap_servers, topics.ingress, ingress_publisher(Publisher(producer), topics.ingress))
    finally:
        await producer.stop()


async def records_on(ingress: Ingress, *, expected: int, timeout: float = 15.0) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of the topic, once there are `expected` (or the timeout passed)."""
    consumer = AIOKafkaConsumer(
        ingress.topic,
        bootstrap_servers=ingress.bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    found: list[ConsumerRecord[bytes, bytes]] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(found) < expected and loop.time() < deadline:
            batches = await consumer.getmany(timeout_ms=200)
            found.extend(record for batch in batches.values() for record in batch)
    finally:
        await consumer.stop()
    return found


async def topic_size(ingress: Ingress) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=ingress.bootstrap_servers)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        partitions = consumer.partitions_for_topic(ingress.topic) or set()
        assert partitions, ingress.topic
        offsets = await consumer.end_offsets([TopicPartition(ingress.topic, p) for p in partitions])
        return sum(offsets.values())
    finally:
        await consumer.stop()


class Client:
    """An HL7 sender: writes frames, reads ACK frames."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.decoder = MllpDecoder()
        self.pending: list[bytes] = []

    @classmethod
    async def connect(cls, port: int) -> Client:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def write(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def ack(self, timeout: float = 15.0) -> dict[str, str]:
        """The next ACK's MSA-1, MSA-2 and MSA-3."""
        while not self.pending:
            chunk = await asyncio.wait_for(self.reader.read(65536), timeout)
            assert chunk, "the listener closed the connection"
            self.pending += [item.payload for item in self.decoder.feed(chunk) if isinstance(item, Frame)]
        message = parse_message(self.pending.pop(0).decode())
        assert message.message_type[0] == "ACK"
        return {"code": message.get("MSA-1"), "control_id": message.get("MSA-2"), "text": message.get("MSA-3")}

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Publish], Awaitable[Client]]]:
    """Start a listener on a free port with the given publish; returns a connected client."""
    started: list[tuple[MllpListener, Client]] = []

    async def start(publish: Publish) -> Client:
        listener = MllpListener(host="127.0.0.1", port=0, intake=Intake(publish), sender_for=REGISTER.get)
        await listener.start()
        client = await Client.connect(listener.port)
        started.append((listener, client))
        return client

    yield start
    for listener, client in started:
        await client.close()
        await listener.stop()


async def test_aa_comes_only_after_the_mapped_bundle_is_on_the_ingress_topic(
    ingress: Ingress, serve: Callable[[Publish], Awaitable[Client]]
) -> None:
    gate = asyncio.Event()
    stored: list[IngressRecord] = []

    async def publish(record: IngressRecord) -> None:
        await gate.wait()  # the broker is slow today
        await ingress.publish(record)
        stored.append(record)

    client = await serve(publish)
    await client.write(encode_frame(adt(control_id="EPJ-1001")))
    with pytest.raises(TimeoutError):  # no answer while the broker has not stored the record
        await asyncio.wait_for(client.reader.read(1), 0.5)
    assert stored == []
    gate.set()
    ack = await client.ack()
    assert len(stored) == 1  # the broker had it before the answer was written
    assert ack["code"] == "AA"
    assert ack["control_id"] == "EPJ-1001"
    assert ack["text"] == f"accepted as STIN; tracking id {stored[0].tracking_id}"

    [record] = await records_on(ingress, expected=1)
    assert record.key == CPRS[0].encode()
    headers = {key: value.decode() for key, value in record.headers}
    assert headers["hub-connector"] == "mllp"
    assert headers["hub-sender-sor"] == HOSPITAL.sor
    assert headers["hub-tracking-id"] == stored[0].tracking_id
    assert record.value == stored[0].raw
    verdict = Validator().validate(record.value)
    assert verdict.valid, [issue.as_dict() for issue in verdict.issues]
    facts = read_facts(orjson.loads(record.value))
    assert facts.event == "hospital-notification-message"
    assert facts.sender is not None and facts.sender.sor == HOSPITAL.sor
    assert facts.patient_cpr == CPRS[0]


async def test_messages_that_cannot_be_mapped_get_ae_or_ar_and_nothing_is_published(
    ingress: Ingress, serve: Callable[[Publish], Awaitable[Client]]
) -> None:
    client = await serve(ingress.publish)
    refused = [
        (adt(control_id="EPJ-2001", pid3="99887766^^^EPJ^MR"), "AE", "PID-3: no CPR number"),
        (adt(control_id="EPJ-2002", sender="123456789012345"), "AR", "MSH-4: sending facility '123456789012345'"),
        (adt("A12", control_id="EPJ-2003"), "AR", "MSH-9: ADT^A12 is not mapped"),
        (adt("A03", control_id="EPJ-2004"), "AE", "PV1-45: no discharge date/time"),
        (adt(control_id="EPJ-2005") + b"garbage segment\r", "AE", "segment 5: 'garbage se' is not a segment name"),
        (b"this is not HL7 at all", "AE", "MSH: the message does not start with an MSH segment"),
    ]
    for message, code, reason in refused:
        await client.write(encode_frame(message))
        ack = await client.ack()
        assert ack["code"] == code, ack
        assert ack["text"].startswith(reason), ack
    await client.write(encode_frame(adt(control_id="EPJ-2007", patient_class="O")))  # an outpatient visit
    skipped = await client.ack()
    assert skipped["code"] == "AA" and "no MedCom notification" in skipped["text"]
    assert await topic_size(ingress) == 0

    await client.write(encode_frame(adt(control_id="EPJ-2008")))
    assert (await client.ack())["code"] == "AA"
    assert await topic_size(ingress) == 1


async def test_frames_split_and_batched_in_any_way_are_each_answered_in_order(
    ingress: Ingress, serve: Callable[[Publish], Awaitable[Client]]
) -> None:
    client = await serve(ingress.publish)
    first = encode_frame(adt(control_id="EPJ-3001", cpr=CPRS[0]))
    second = encode_frame(adt("A03", control_id="EPJ-3002", cpr=CPRS[1], discharged="202405081000"))
    third = encode_frame(adt("A21", control_id="EPJ-3003", cpr=CPRS[2]))
    await client.write(b"\r\n" + first + second + third[:50])  # noise, two whole frames, part of one
    await asyncio.sleep(0.1)
    await client.write(third[50:])
    acks = [await client.ack() for _ in range(3)]
    assert [(a["code"], a["control_id"]) for a in acks] == [("AA", "EPJ-3001"), ("AA", "EPJ-3002"), ("AA", "EPJ-3003")]
    assert [a["text"].split(";")[0] for a in acks] == ["accepted as STIN", "accepted as SLHJ", "accepted as STOR"]
    records = await records_on(ingress, expected=3)
    assert sorted(r.key for r in records) == sorted(c.encode() for c in CPRS)


async def test_a_failed_publish_gets_ar_and_the_resend_is_accepted_once(
    ingress: Ingress, serve: Callable[[Publish], Awaitable[Client]]
) -> None:
    attempts: list[str] = []

    async def flaky(record: IngressRecord) -> None:
        attempts.append(record.tracking_id)
        if len(attempts) == 1:
            raise ConnectionError("broker unreachable")
        await ingress.publish(record)

    client = await serve(flaky)
    message = encode_frame(adt(control_id="EPJ-4001"))
    await client.write(message)
    failed = await client.ack()
    assert (failed["code"], failed["control_id"]) == ("AR", "EPJ-4001")
    assert failed["text"].startswith("not accepted, resend")
    assert await topic_size(ingress) == 0

    await client.write(message)  # the sender still has it and sends it again
    assert (await client.ack())["code"] == "AA"
    [record] = await records_on(ingress, expected=1)
    assert len(attempts) == 2
    assert dict(record.headers)["hub-tracking-id"] == attempts[1].encode()


async def test_an_oversized_frame_is_rejected_and_the_connection_goes_on(ingress: Ingress) -> None:
    listener = MllpListener(
        host="127.0.0.1", port=0, intake=Intake(ingress.publish), sender_for=REGISTER.get, max_frame_bytes=4096
    )
    async with listener:
        client = await Client.connect(listener.port)
        try:
            big = adt(control_id="EPJ-5001").replace(b"\rEVN", b"\rNTE|1||" + b"x" * 20_000 + b"\rEVN")
            await client.write(encode_frame(big))
            rejected = await client.ack()
            assert (rejected["code"], rejected["control_id"]) == ("AR", "EPJ-5001")
            assert "larger than the limit of 4096 bytes" in rejected["text"]
            await client.write(encode_frame(adt(control_id="EPJ-5002")))
            assert (await client.ack())["code"] == "AA"
        finally:
            await client.close()
    assert await topic_size(ingress) == 1

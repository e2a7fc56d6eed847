"""Producing straight to the hub's ingress topic: for hospital integrations that speak Kafka, and for the
hub's own connectors.

The ingress record contract (`hub.broker.records.IngressRecord`)
---------------------------------------------------------------

- **topic**: ``<prefix>ingress`` (``hub.ingress`` by default; ``HUB_TOPIC_PREFIX``).
- **value**: the MedCom message, FHIR JSON bytes, exactly as the sender made them. Never re-serialised:
  what the receiver gets is what the sender sent.
- **key**: the patient's CPR number (the Patient entry's ``urn:oid:1.2.208.176.1.2`` identifier), else the
  MessageHeader.id, else the Bundle.id, as UTF-8. Messages about one patient thereby share a partition and
  stay in order.
- **headers** (UTF-8 strings):

  ===================  ======================================================================================
  ``hub-tracking-id``  the id the message is tracked by (``/api/messages/<id>``); a UUID, or the sender's own
                       trace id
  ``hub-sender-sor``   the SOR code of the organisation that produced the record
  ``hub-received-at``  when it was produced, ISO 8601 in UTC
  ``hub-connector``    ``kafka`` for producers using this module; the hub's connectors write ``http``,
                       ``mllp`` and ``file``
  ===================  ======================================================================================

Authentication of Kafka-native senders
--------------------------------------

There is no token here: the broker authenticates the producer (SASL or mTLS) and Kafka ACLs allow it to
write the ingress topic, and nothing else. The ``hub-sender-sor`` header is the organisation's claim; the
hub's ingress pipeline rejects a message whose MessageHeader.sender does not carry that SOR code (the same
rule as HTTP ingest's 403), and the sender gets a MedCom ``fatal-error`` Acknowledgement. ACLs should
therefore give each organisation its own principal, so that one organisation cannot claim another's SOR
code; the hub cannot tell two organisations apart that share a principal.

Usage (aiokafka)::

    producer = AIOKafkaProducer(bootstrap_servers=..., acks="all", security_protocol="SASL_SSL", ...)
    await producer.start()
    tracking_id = await publish_message(producer, "hub.ingress", raw, sender_sor="265161000016000")

``publish_message`` returns once the broker has stored the record (``acks=all``); on an exception the
message was not accepted and the caller sends it again. The hub recognises resends by MessageHeader.id.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import orjson
from aiokafka.errors import KafkaError

from hub.broker.clients import Publisher
from hub.broker.records import IngressRecord
from hub.domain.ids import new_tracking_id
from hub.domain.message import read_facts
from hub.domain.tracking import utc_now
from hub.track.archive import ArchivedMessage

PUBLISH_TIMEOUT_SECONDS = 10.0  # as HTTP ingest: a broker that does not confirm in time has not accepted

Publish = Callable[[IngressRecord], Awaitable[None]]
"""How connectors hand an accepted message to the hub: returns once the broker has stored it, else raises."""


class Producer(Protocol):
    """The part of aiokafka's AIOKafkaProducer this module uses."""

    async def send_and_wait(
        self, topic: str, value: bytes | None = ..., key: bytes | None = ..., *args: Any, **kwargs: Any
    ) -> Any: ...


class NotAccepting(RuntimeError):
    """The hub is shutting down and takes no new messages; the sender sends the message again later."""


# what a `Publish` raises when the broker (or the hub) does not take a message now: the sender tries again
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (NotAccepting, TimeoutError, ConnectionError, KafkaError)


class Archive(Protocol):
    """Where accepted messages are kept before they are published (`hub.track.archive.MessageArchive`)."""

    async def keep(self, message: ArchivedMessage) -> None: ...


def ingress_publisher(
    publisher: Publisher,
    topic: str,
    *,
    archive: Archive | None = None,
    timeout: float | None = PUBLISH_TIMEOUT_SECONDS,
    accepting: Callable[[], bool] | None = None,
) -> Publish:
    """A `Publish` for the hub's connectors, with the guarantees HTTP ingest gives.

    The returned function raises `NotAccepting` when `accepting()` is false (the hub is stopping), keeps the
    message in `archive` (so the hub can publish it again should the broker lose it), then sends the record
    to `topic` and returns once the broker acknowledged it; it raises TimeoutError after `timeout` seconds.
    Whatever it raises, the message was not accepted and its sender must send it again.
    """

    async def publish(record: IngressRecord) -> None:
        if accepting is not None and not accepting():
            raise NotAccepting("the hub is shutting down; send the message again")
        if archive is not None:
            await archive.keep(
                ArchivedMessage(
                    record.tracking_id, record.sender_sor, record.connector, record.received_at, record.key, record.raw
                )
            )
        sending = publisher.send_and_wait(topic, key=record.key, value=record.raw, headers=record.headers())
        if timeout is None:
            await sending
        else:
            await asyncio.wait_for(sending, timeout)

    return publish


def ingress_record(raw: bytes, *, sender_sor: str, connector: str, tracking_id: str | None = None) -> IngressRecord:
    """The ingress record of a MedCom message: keyed by patient (or message), stamped now.

    Raises ValueError when `raw` is not a JSON object, or when its MessageHeader.sender names another SOR
    code than `sender_sor` (the hub would reject it; failing here tells the producer at once).
    """
    try:
        document = orjson.loads(raw.removeprefix(b"\xef\xbb\xbf"))
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"the message is not JSON: {exc}") from exc
    if not isinstance(document, dict) or document.get("resourceType") != "Bundle":
        raise ValueError("the message is not a FHIR Bundle")
    facts = read_facts(document)
    named = facts.sender.sor if facts.sender else None
    if named != sender_sor:
        raise ValueError(
            f"MessageHeader.sender names SOR code {named or '(none)'}; the record would be sent as {sender_sor}"
        )
    return IngressRecord(
        tracking_id=tracking_id or new_tracking_id(),
        sender_sor=sender_sor,
        received_at=utc_now(),
        connector=connector,
        raw=raw,
        key=facts.partition_key.encode(),
    )


async def publish_message(
    producer: Producer, topic: str, raw: bytes, *, sender_sor: str, trace_id: str | None = None
) -> str:
    """Produce one MedCom message to the ingress topic with the contract's key and headers.

    Returns the tracking id (`trace_id` when given) once the broker has the record. Raises ValueError before
    sending anything when `raw` is not a FHIR JSON Bundle from `sender_sor` (see `ingress_record`).
    """
    record = ingress_record(raw, sender_sor=sender_sor, connector="kafka", tracking_id=trace_id)
    await producer.send_and_wait(topic, value=record.raw, key=record.key, headers=record.headers())
    return record.tracking_id

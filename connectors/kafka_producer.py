"""Producing straight to the hub's ingress topic: for hospital integrations that speak Kafka.

The hub's own connectors publish through `connectors.intake` (``ingress_publisher``, ``Publish`` and
``NotAccepting`` are re-exported here from there).

The ingress record contract (`hub.broker.records.IngressRecord`)
---------------------------------------------------------------

- **topic**: ``<prefix>ingress`` (``hub.ingress`` by default; ``HUB_TOPIC_PREFIX``).
- **value**: the MedCom message, FHIR JSON or FHIR XML bytes, exactly as the sender made them. Never
  re-serialised: what a receiver that takes the same format gets is what the sender sent (one that takes the
  other format gets a faithful conversion, hub.fhirxml).
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
  ``content-type``     optional: ``application/fhir+xml`` (or ``application/xml``, ``text/xml``) for FHIR XML,
                       ``application/fhir+json`` for JSON; without it the value's first character tells
                       (``<`` XML, else JSON)
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

``publish_message`` first checks the message as the hub's intake does (`connectors.intake.check`: the
envelope, and a MessageHeader.sender with the given SOR code) and raises `MessageRefused`, a ValueError, without
sending anything when the hub would refuse it. It returns once the broker has stored the record
(``acks=all``); on another exception the message was not accepted and the caller sends it again. The hub
recognises resends by MessageHeader.id.
"""

from __future__ import annotations

from typing import Any, Protocol

from connectors.intake import (
    PUBLISH_TIMEOUT_SECONDS,
    TRANSIENT_ERRORS,
    Archive,
    NotAccepting,
    Publish,
    Refused,
    check,
    ingress_publisher,
    make_record,
)
from hub.broker.records import IngressRecord

__all__ = [
    "PUBLISH_TIMEOUT_SECONDS",
    "TRANSIENT_ERRORS",
    "Archive",
    "MessageRefused",
    "NotAccepting",
    "Producer",
    "Publish",
    "ingress_publisher",
    "ingress_record",
    "publish_message",
]


class Producer(Protocol):
    """The part of aiokafka's AIOKafkaProducer this module uses."""

    async def send_and_wait(
        self, topic: str, value: bytes | None = ..., key: bytes | None = ..., *args: Any, **kwargs: Any
    ) -> Any: ...


class MessageRefused(ValueError):
    """The hub's intake would refuse the message (`connectors.intake.check`); `refused` says why."""

    def __init__(self, refused: Refused) -> None:
        super().__init__(refused.text)
        self.refused = refused


def ingress_record(
    raw: bytes, *, sender_sor: str, connector: str, tracking_id: str | None = None, content_type: str | None = None
) -> IngressRecord:
    """The ingress record of a MedCom message: keyed by patient (or message), stamped now.

    Raises `MessageRefused` (a ValueError) when the hub's intake would refuse `raw`: not a FHIR JSON Bundle, no
    one sender SOR code, or a MessageHeader.sender that names another SOR code than `sender_sor` (the hub would
    reject it; failing here tells the producer at once).
    """
    checked = check(
        raw,
        sender_sor=sender_sor,
        authenticated_as=f"the record would be sent as {sender_sor}",
        content_type=content_type,
    )
    if isinstance(checked, Refused):
        raise MessageRefused(checked)
    return make_record(checked, connector=connector, tracking_id=tracking_id)


async def publish_message(
    producer: Producer,
    topic: str,
    raw: bytes,
    *,
    sender_sor: str,
    trace_id: str | None = None,
    content_type: str | None = None,
) -> str:
    """Produce one MedCom message to the ingress topic with the contract's key and headers.

    Returns the tracking id (`trace_id` when given) once the broker has the record. Raises ValueError before
    sending anything when `raw` is not a FHIR JSON Bundle from `sender_sor` (see `ingress_record`).
    """
    record = ingress_record(
        raw, sender_sor=sender_sor, connector="kafka", tracking_id=trace_id, content_type=content_type
    )
    await producer.send_and_wait(topic, value=record.raw, key=record.key, headers=record.headers())
    return record.tracking_id

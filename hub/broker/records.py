"""The record contracts of the hub's topics: what a record's key, value and headers carry.

Values are the message's original bytes (never re-serialised); what the hub knows about a record rides in
headers, so a consumer does not parse a message to learn where it goes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

Headers = list[tuple[str, bytes]]


def _header(headers: Sequence[tuple[str, bytes]] | None, name: str) -> str | None:
    for key, value in headers or ():
        if key == name:
            return value.decode()
    return None


@dataclass(frozen=True, slots=True)
class IngressRecord:
    """A message as a connector accepted it, before validation."""

    tracking_id: str
    sender_sor: str  # the organisation the connector authenticated
    received_at: str  # ISO 8601, UTC
    connector: str  # http | mllp | kafka | file
    raw: bytes
    key: bytes = b""
    # the media type raw is in when it is not FHIR JSON (application/fhir+xml); a record without the header
    # is told by its first character (hub.fhirxml.media), as the archive's copies of it are
    content_type: str = ""

    def headers(self) -> Headers:
        return [
            ("hub-tracking-id", self.tracking_id.encode()),
            ("hub-sender-sor", self.sender_sor.encode()),
            ("hub-received-at", self.received_at.encode()),
            ("hub-connector", self.connector.encode()),
            *([("content-type", self.content_type.encode())] if self.content_type else []),
        ]

    @classmethod
    def from_kafka(cls, key: bytes | None, value: bytes, headers: Sequence[tuple[str, bytes]]) -> IngressRecord:
        return cls(
            tracking_id=_header(headers, "hub-tracking-id") or "",
            sender_sor=_header(headers, "hub-sender-sor") or "",
            received_at=_header(headers, "hub-received-at") or "",
            connector=_header(headers, "hub-connector") or "unknown",
            raw=value,
            key=key or b"",
            content_type=_header(headers, "content-type") or "",
        )


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    """One message for one receiver."""

    tracking_id: str
    message_id: str
    receiver_id: str
    event: str
    raw: bytes
    patient_key: str = ""
    sender_id: str = ""  # register id of the message's sender: ledger entries are per sender
    resend: bool = False  # deliver even though the receiver has it (no acknowledgement came in time)
    via: str | None = None  # the receiver's rest-hook subscription: the copy goes as its notification

    @property
    def key(self) -> bytes:
        # one receiver's messages about one patient share a partition, so they stay in order
        return f"{self.receiver_id}|{self.patient_key}".encode()

    def headers(self) -> Headers:
        return [
            ("hub-tracking-id", self.tracking_id.encode()),
            ("hub-message-id", self.message_id.encode()),
            ("hub-receiver", self.receiver_id.encode()),
            ("hub-event", self.event.encode()),
            ("hub-sender", self.sender_id.encode()),
            *([("hub-resend", b"1")] if self.resend else []),
            *([("hub-subscription", self.via.encode())] if self.via else []),
        ]

    @classmethod
    def from_kafka(cls, key: bytes | None, value: bytes, headers: Sequence[tuple[str, bytes]]) -> OutboxRecord:
        receiver, _, patient = (key or b"").decode().partition("|")
        return cls(
            tracking_id=_header(headers, "hub-tracking-id") or "",
            message_id=_header(headers, "hub-message-id") or "",
            receiver_id=_header(headers, "hub-receiver") or receiver,
            event=_header(headers, "hub-event") or "",
            raw=value,
            patient_key=patient,
            sender_id=_header(headers, "hub-sender") or "",
            resend=_header(headers, "hub-resend") == "1",
            via=_header(headers, "hub-subscription") or None,
        )

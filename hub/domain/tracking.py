"""Tracking events: one record on the events topic for every step a message takes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson

from hub.domain.ids import new_event_id


class Step(StrEnum):
    RECEIVED = "received"  # a connector accepted it; validation follows
    REJECTED = "rejected"  # validation failed; a fatal-error acknowledgement goes to the sender
    ROUTED = "routed"  # receivers found; one outbox record each
    ROUTING_FAILED = "routing-failed"  # a destination could not be resolved; negative acknowledgement sent
    DELIVERY_ATTEMPT_FAILED = "delivery-attempt-failed"  # one try that did not succeed; parked, will retry
    DELIVERED = "delivered"  # the receiver's system (or mailbox) has it
    DELIVERY_FAILED = "delivery-failed"  # retries exhausted or a permanent refusal: now a dead letter
    REDRIVEN = "redriven"  # an operator sent a dead letter back to delivery
    ACKNOWLEDGEMENT_OVERDUE = "acknowledgement-overdue"  # delivered, but no acknowledgement in time
    FETCHED = "fetched"  # a mailbox receiver confirmed it took the message
    # the receiver's MedCom Acknowledgement arrived: message_id names the acknowledged message,
    # tracking_id the acknowledgement itself, receiver the organisation that acknowledged
    ACKNOWLEDGED = "acknowledged"
    # the hub told the original sender, with a MedCom Acknowledgement of its own, that a receiver did not or will
    # not take the message (a dead letter, a routing failure, a transient-error never followed by ok): recorded on
    # the original's tracking id, receiver naming the receiver; detail: code, detail_code,
    # acknowledgement_message_id, receiver. It changes no status
    SENDER_NOTIFIED = "sender-notified"


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True, slots=True)
class TrackingEvent:
    step: Step
    tracking_id: str
    message_id: str | None = None
    event: str | None = None
    sender: str | None = None  # register id of the sending organisation
    receiver: str | None = None  # register id of the receiver this step concerns
    patient: str | None = None  # CPR; kept in the store for search, never logged
    at: str = field(default_factory=utc_now)
    detail: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=new_event_id)  # makes recording idempotent on redelivery

    @property
    def key(self) -> bytes:
        # all steps of one message, acknowledgements included, share a partition and stay in order
        return (self.message_id or self.tracking_id).encode()

    def to_bytes(self) -> bytes:
        return orjson.dumps(
            {
                "step": str(self.step),
                "tracking_id": self.tracking_id,
                "message_id": self.message_id,
                "event": self.event,
                "sender": self.sender,
                "receiver": self.receiver,
                "patient": self.patient,
                "at": self.at,
                "detail": self.detail,
                "id": self.id,
            }
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> TrackingEvent:
        data = orjson.loads(raw)
        return cls(
            step=Step(data["step"]),
            tracking_id=data["tracking_id"],
            message_id=data.get("message_id"),
            event=data.get("event"),
            sender=data.get("sender"),
            receiver=data.get("receiver"),
            patient=data.get("patient"),
            at=data.get("at") or utc_now(),
            detail=data.get("detail") or {},
            id=data.get("id") or new_event_id(),
        )

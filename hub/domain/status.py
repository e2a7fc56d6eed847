"""Lifecycles of a message and of its delivery to each receiver, with their allowed transitions."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class DeliveryStatus(StrEnum):
    """Where one message stands with one receiver."""

    PENDING = "pending"  # routed, not yet handed over
    RETRYING = "retrying"  # handed over and refused or unanswered; will try again
    DELIVERED = "delivered"  # the receiver's system (or its mailbox) has it
    ACKNOWLEDGED = "acknowledged"  # the receiver answered with a MedCom Acknowledgement
    FAILED = "failed"  # gave up; visible and repairable by an operator


ALLOWED_DELIVERY_TRANSITIONS: dict[DeliveryStatus, frozenset[DeliveryStatus]] = {
    DeliveryStatus.PENDING: frozenset(
        {DeliveryStatus.RETRYING, DeliveryStatus.DELIVERED, DeliveryStatus.ACKNOWLEDGED, DeliveryStatus.FAILED}
    ),
    DeliveryStatus.RETRYING: frozenset(
        {DeliveryStatus.RETRYING, DeliveryStatus.DELIVERED, DeliveryStatus.ACKNOWLEDGED, DeliveryStatus.FAILED}
    ),
    # an acknowledgement may overtake the delivery report: both orders end acknowledged
    DeliveryStatus.DELIVERED: frozenset({DeliveryStatus.ACKNOWLEDGED}),
    DeliveryStatus.ACKNOWLEDGED: frozenset({DeliveryStatus.ACKNOWLEDGED}),
    # an operator's redrive, or a late acknowledgement, lifts a failure
    DeliveryStatus.FAILED: frozenset({DeliveryStatus.PENDING, DeliveryStatus.DELIVERED, DeliveryStatus.ACKNOWLEDGED}),
}


def next_delivery_status(current: DeliveryStatus | None, proposed: DeliveryStatus) -> DeliveryStatus:
    """The status after `proposed` is reported; reports that would step backwards leave it unchanged."""
    if current is None or proposed in ALLOWED_DELIVERY_TRANSITIONS[current]:
        return proposed
    return current


class MessageStatus(StrEnum):
    """Where a whole message stands, derived from its validation, routing and deliveries."""

    RECEIVED = "received"
    REJECTED = "rejected"  # failed validation; the sender got a fatal-error acknowledgement
    ROUTED = "routed"
    DELIVERED = "delivered"  # every receiver has it (final for acknowledgements, which are not answered)
    ACKNOWLEDGED = "acknowledged"  # every receiver acknowledged it
    FAILED = "failed"  # a receiver could not be found or reached, or answered fatal-error


def message_status(
    *,
    rejected: bool,
    routing_failed: bool,
    routed: bool,
    deliveries: Iterable[tuple[DeliveryStatus, str | None]],
) -> MessageStatus:
    """The message's status from its deliveries, given as (status, acknowledgement code) per receiver."""
    if rejected:
        return MessageStatus.REJECTED
    states = list(deliveries)
    if routing_failed or any(s is DeliveryStatus.FAILED or code == "fatal-error" for s, code in states):
        return MessageStatus.FAILED
    if not routed or not states:
        return MessageStatus.RECEIVED if not routed else MessageStatus.ROUTED
    if all(s is DeliveryStatus.ACKNOWLEDGED for s, _ in states):
        return MessageStatus.ACKNOWLEDGED
    if all(s in (DeliveryStatus.DELIVERED, DeliveryStatus.ACKNOWLEDGED) for s, _ in states):
        return MessageStatus.DELIVERED
    return MessageStatus.ROUTED

"""Subscription notifications as the Subscriptions R5 Backport IG (STU 1.1) shapes them for R4: a Bundle of type
``history`` whose first entry is the subscription's status (a Parameters resource, profile
backport-subscription-status-r4), then one entry per event it carries.

The same shape answers a handshake, a heartbeat, an event notification, ``$status`` (query-status) and ``$events``
(query-event). Pure: the caller gives the events, the numbers and the time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

import orjson

from hub.route.fhir_subscription import BACKPORT, fhir_status, topic_url
from hub.route.subscription import NotificationContent, Subscription

NOTIFICATION_PROFILE: Final = f"{BACKPORT}backport-subscription-notification-r4"
STATUS_PROFILE: Final = f"{BACKPORT}backport-subscription-status-r4"


class NotificationType(StrEnum):
    HANDSHAKE = "handshake"
    HEARTBEAT = "heartbeat"
    EVENT = "event-notification"
    QUERY_STATUS = "query-status"
    QUERY_EVENT = "query-event"


@dataclass(frozen=True, slots=True)
class SubscriptionEvent:
    """One numbered event of a subscription: a copy of a message the hub hands to the subscriber through it.
    `message` is the MedCom message's bytes, when the notification carries it (full-resource) and the hub still
    has it."""

    number: int
    at: str  # ISO 8601, when the hub numbered it
    tracking_id: str
    bundle_id: str | None
    event: str | None = None
    message: bytes | None = None


def focus_url(base: str, event: SubscriptionEvent) -> str:
    """Where the subscriber reads the message the event is about (GET /fhir/Bundle/<Bundle.id>)."""
    return f"{base}/fhir/Bundle/{event.bundle_id or event.tracking_id}"


def status_parameters(
    subscription: Subscription,
    *,
    base: str,
    kind: NotificationType,
    events_since_start: int,
    events: Sequence[SubscriptionEvent] = (),
    content: NotificationContent | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    """The backport SubscriptionStatus (R4 Parameters) of a notification or query."""
    content = content or (subscription.rest_hook.content if subscription.rest_hook else NotificationContent.ID_ONLY)
    parameters: list[dict[str, Any]] = [
        {"name": "subscription", "valueReference": {"reference": f"{base}/fhir/Subscription/{subscription.id}"}},
        {"name": "topic", "valueCanonical": topic_url(subscription.topic)},
        {"name": "status", "valueCode": fhir_status(subscription)},
        {"name": "type", "valueCode": str(kind)},
        {"name": "events-since-subscription-start", "valueString": str(events_since_start)},
    ]
    for event in events:
        parts: list[dict[str, Any]] = [
            {"name": "event-number", "valueString": str(event.number)},
            {"name": "timestamp", "valueInstant": event.at},
        ]
        if content is not NotificationContent.EMPTY:
            parts.append({"name": "focus", "valueReference": {"reference": focus_url(base, event)}})
        parameters.append({"name": "notification-event", "part": parts})
    problem = error or subscription.error
    if problem:
        parameters.append(
            {"name": "error", "valueCodeableConcept": {"text": problem}},
        )
    return {"resourceType": "Parameters", "meta": {"profile": [STATUS_PROFILE]}, "parameter": parameters}


def notification_bundle(
    subscription: Subscription,
    *,
    base: str,
    kind: NotificationType,
    events_since_start: int,
    now: datetime,
    notification_id: str,
    events: Sequence[SubscriptionEvent] = (),
    content: NotificationContent | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    """The notification Bundle: the status first, then per event its focus (id-only: a reference; full-resource:
    the message itself, or only the reference when the hub no longer has the message; empty: nothing)."""
    content = content or (subscription.rest_hook.content if subscription.rest_hook else NotificationContent.ID_ONLY)
    status = status_parameters(
        subscription,
        base=base,
        kind=kind,
        events_since_start=events_since_start,
        events=events,
        content=content,
        error=error,
    )
    status["id"] = notification_id
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": f"urn:uuid:{notification_id}",
            "resource": status,
            "request": {"method": "GET", "url": f"{base}/fhir/Subscription/{subscription.id}/$status"},
            "response": {"status": "200"},
        }
    ]
    if content is not NotificationContent.EMPTY:
        for event in events:
            entry: dict[str, Any] = {
                "fullUrl": focus_url(base, event),
                "request": {"method": "POST", "url": "Bundle"},
                "response": {"status": "201"},
            }
            if content is NotificationContent.FULL_RESOURCE and event.message is not None:
                entry["resource"] = orjson.loads(event.message)
            entries.append(entry)
    return {
        "resourceType": "Bundle",
        "id": notification_id,
        "meta": {"profile": [NOTIFICATION_PROFILE]},
        "type": "history",
        "timestamp": now.isoformat(timespec="milliseconds"),
        "entry": entries,
    }

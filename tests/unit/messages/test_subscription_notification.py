"""Notification Bundles as the Subscriptions Backport IG shapes them for R4: pure, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from hub.messages.subscription_notification import (
    NOTIFICATION_PROFILE,
    STATUS_PROFILE,
    NotificationType,
    SubscriptionEvent,
    notification_bundle,
)
from hub.route.fhir_subscription import topic_url
from hub.route.subscription import NotificationContent, RestHook, Subscription

BASE = "https://hub.example.dk"
NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
MESSAGE = orjson.dumps({"resourceType": "Bundle", "id": "b-1", "type": "message"})


def subscription(content: NotificationContent = NotificationContent.ID_ONLY) -> Subscription:
    return Subscription(
        id="s-1",
        receiver_id="kommune-101",
        topic="hospital-notification-message",
        rest_hook=RestHook("https://kommune.example.org/notify", content=content),
        channel="rest-hook",
    )


def parameters(bundle: dict[str, Any]) -> dict[str, Any]:
    status = bundle["entry"][0]["resource"]
    assert status["resourceType"] == "Parameters" and status["meta"]["profile"] == [STATUS_PROFILE]
    out: dict[str, Any] = {}
    for parameter in status["parameter"]:
        value = next((v for k, v in parameter.items() if k.startswith("value") or k == "part"), None)
        out.setdefault(parameter["name"], []).append(value)
    return out


def event(number: int) -> SubscriptionEvent:
    return SubscriptionEvent(number, "2026-12-07T09:59:00+00:00", f"t-{number}", "b-1", message=MESSAGE)


def test_a_handshake_names_the_subscription_topic_status_and_count_and_carries_no_event() -> None:
    bundle = notification_bundle(
        subscription(), base=BASE, kind=NotificationType.HANDSHAKE, events_since_start=0, now=NOW, notification_id="n"
    )
    assert (bundle["type"], bundle["meta"]["profile"]) == ("history", [NOTIFICATION_PROFILE])
    assert len(bundle["entry"]) == 1
    found = parameters(bundle)
    assert found["subscription"] == [{"reference": f"{BASE}/fhir/Subscription/s-1"}]
    assert found["topic"] == [topic_url("hospital-notification-message")]
    assert (found["type"], found["status"]) == (["handshake"], ["active"])
    assert found["events-since-subscription-start"] == ["0"]
    assert "notification-event" not in found
    assert bundle["entry"][0]["request"]["url"] == f"{BASE}/fhir/Subscription/s-1/$status"


@pytest.mark.parametrize(
    ("content", "entries", "carries_message"),
    [
        (NotificationContent.EMPTY, 1, False),
        (NotificationContent.ID_ONLY, 2, False),
        (NotificationContent.FULL_RESOURCE, 2, True),
    ],
)
def test_an_event_notification_carries_as_much_of_the_message_as_asked(
    content: NotificationContent, entries: int, carries_message: bool
) -> None:
    bundle = notification_bundle(
        subscription(content),
        base=BASE,
        kind=NotificationType.EVENT,
        events_since_start=7,
        now=NOW,
        notification_id="n",
        events=[event(7)],
    )
    assert len(bundle["entry"]) == entries
    parts = {p["name"]: p for p in parameters(bundle)["notification-event"][0]}
    assert parts["event-number"]["valueString"] == "7"
    assert ("focus" in parts) is (content is not NotificationContent.EMPTY)
    if content is not NotificationContent.EMPTY:
        assert parts["focus"]["valueReference"]["reference"] == f"{BASE}/fhir/Bundle/b-1"
        assert bundle["entry"][1]["fullUrl"] == f"{BASE}/fhir/Bundle/b-1"
        assert ("resource" in bundle["entry"][1]) is carries_message
    if carries_message:
        assert bundle["entry"][1]["resource"] == orjson.loads(MESSAGE)


def test_a_query_names_events_no_longer_kept_in_its_error() -> None:
    bundle = notification_bundle(
        subscription(),
        base=BASE,
        kind=NotificationType.QUERY_EVENT,
        events_since_start=3,
        now=NOW,
        notification_id="n",
        events=[event(3)],
        error="events no longer kept: 1, 2",
    )
    found = parameters(bundle)
    assert found["type"] == ["query-event"]
    assert found["error"] == [{"text": "events no longer kept: 1, 2"}]

"""The Subscription the demo's municipality posts for itself is one the demo register's policy allows."""

from __future__ import annotations

import pytest

from hub.route.fhir_subscription import parse_subscription
from hub.route.register import load_register
from hub.route.subscription import SubscriptionRefused, admit
from hub.settings import SCHEMAS_DIR
from hub.simulate.demo import SELF_SUBSCRIBER, notifications_line, self_subscription
from tests.unit.route.registers import EVENTS

REGISTER = load_register(
    SCHEMAS_DIR / "demo-register.yaml", environ={"DEMO_RECEIVERS_URL": "http://127.0.0.1:1", "DEMO_RECEIVER_TOKEN": "x"}
)


def _code() -> str:
    municipality = REGISTER.by_id(SELF_SUBSCRIBER)
    assert municipality is not None and municipality.municipality_code
    return municipality.municipality_code


def test_the_demo_municipality_subscribes_to_its_own_residents_within_the_policy() -> None:
    asked = parse_subscription(
        self_subscription(_code()), register=REGISTER, known_events=EVENTS, caller=SELF_SUBSCRIBER
    )
    admitted = admit(asked.subscription("demo-self"), REGISTER, EVENTS)
    assert admitted.receiver_id == SELF_SUBSCRIBER
    assert admitted.topic == "hospital-notification-message"
    assert admitted.basis and "municipality-of-residence" in admitted.basis


def test_another_municipalitys_residents_are_outside_the_policy() -> None:
    other = next(o for o in REGISTER.organisations if o.kind == "municipality" and o.id != SELF_SUBSCRIBER)
    assert other.municipality_code
    asked = parse_subscription(
        self_subscription(other.municipality_code), register=REGISTER, known_events=EVENTS, caller=SELF_SUBSCRIBER
    )
    with pytest.raises(SubscriptionRefused):
        admit(asked.subscription("demo-other"), REGISTER, EVENTS)


def _notification(kind: str, *numbers: int) -> dict[str, object]:
    parameters: list[dict[str, object]] = [{"name": "type", "valueCode": kind}]
    parameters += [
        {"name": "notification-event", "part": [{"name": "event-number", "valueString": str(n)}]} for n in numbers
    ]
    return {"entry": [{"resource": {"parameter": parameters}}]}


def test_the_banner_line_counts_what_the_subscriber_was_sent() -> None:
    assert notifications_line(SELF_SUBSCRIBER, []) is None
    sent = [_notification("handshake"), _notification("event-notification", 1), _notification("heartbeat")]
    sent.append(_notification("event-notification", 2))
    assert notifications_line(SELF_SUBSCRIBER, sent) == (
        f"{SELF_SUBSCRIBER}'s rest-hook endpoint: 1 handshake, 2 event notifications (events 1-2), 1 heartbeats"
    )

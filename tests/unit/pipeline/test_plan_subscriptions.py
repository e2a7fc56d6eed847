"""The routed step names, for every receiver a subscription reached, the basis of that copy: the subscription-policy
rule that allowed the subscription. Receivers the sender addressed need none."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hub.broker.records import IngressRecord
from hub.domain.tracking import Step
from hub.pipeline.plan import plan
from hub.route.live_subscriptions import LiveSubscriptions
from hub.route.register import parse_register
from hub.route.subscription import Subscription, SubscriptionFilters
from hub.route.subscription_index import SubscriptionIndex
from hub.validate.validator import Validator

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
HOSPITAL_SOR, MUNICIPALITY_SOR, OTHER_SOR = "265161000016000", "953741000016009", "953741000016010"
EVENTS = ("hospital-notification-message", "acknowledgement-message")


def org(org_id: str, sor: str, kind: str, accepts: list[str]) -> dict[str, Any]:
    return {"id": org_id, "name": org_id, "kind": kind, "sor": sor, "endpoint": {"kind": "mailbox"}, "accepts": accepts}


REGISTER = parse_register(
    {
        "hub": {"name": "hub", "sor": "881531000016009"},
        "organisations": [
            org("hospital", HOSPITAL_SOR, "hospital", ["acknowledgement-message"]),
            org("municipality", MUNICIPALITY_SOR, "municipality", list(EVENTS)),
            org("other-hospital", OTHER_SOR, "hospital", list(EVENTS)),
        ],
    },
    source="test",
)


def test_a_subscribers_copy_names_its_basis_in_the_routed_step(example_paths: list[Path]) -> None:
    raw = next(p for p in example_paths if "a5e5b880" in p.name).read_bytes()  # STIN to the municipality
    subscription = Subscription(
        id="by-sender",
        receiver_id="other-hospital",
        topic="hospital-notification-message",
        filters=SubscriptionFilters(sender="hospital"),
    )
    subscriptions = [
        replace(subscription, basis="hospital-by-sender: test"),
        replace(subscription, id="also-by-sender", basis="hospital-by-sender: test"),  # one basis, said once
        replace(subscription, id="addressed", receiver_id="municipality", basis="municipality-of-residence: x"),
    ]
    live = LiveSubscriptions(SubscriptionIndex.build(subscriptions, REGISTER, EVENTS))
    record = IngressRecord(
        tracking_id="t-1", sender_sor=HOSPITAL_SOR, received_at=NOW.isoformat(), connector="http", raw=raw
    )
    result = plan(record, Validator().validate(raw), REGISTER, now=NOW, subscriptions=live)
    [routed] = [e for e in result.events if e.step is Step.ROUTED]
    receivers = {r["receiver"]: r for r in routed.detail["receivers"]}
    assert receivers["other-hospital"]["use"] == "subscription"
    assert receivers["other-hospital"]["basis"] == "hospital-by-sender: test"
    assert "basis" not in receivers["municipality"]  # addressed by the sender: no subscription basis needed
    assert sorted(o.receiver_id for o in result.outbox) == ["municipality", "other-hospital"]

"""Shared by the subscription tests: a register, a patient register, messages and index builders."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hub.domain.message import MessageFacts, read_facts
from hub.route.patients import PatientEntry, PatientRegister
from hub.route.register import Register
from hub.route.subscription import Subscription, SubscriptionFilters
from hub.route.subscription_index import SubscriptionIndex
from hub.route.subscription_matching import match
from hub.simulate.generator import MessageGenerator
from tests.unit.route.registers import organisation, small_register

EVENTS = frozenset({"hospital-notification-message", "care-communication-message", "acknowledgement-message"})
NOW = datetime(2024, 5, 8, 10, 31, tzinfo=UTC)
LISTED = "0101701234"  # listed at gp-a, lives in 101
OTHER = "0202802345"  # listed at gp-b, lives in 751
UNKNOWN = "0303903456"  # not in the patient register

PATIENTS = PatientRegister(
    [PatientEntry(LISTED, municipality_code="101", gp="gp-a"), PatientEntry(OTHER, municipality_code="751", gp="gp-b")]
)


def register() -> Register:
    return small_register(
        organisation("gp-a", "300000000000002", "gp"),
        organisation("gp-b", "300000000000003", "gp"),
        organisation("kommune-kbh", "200000000000003", municipality_code="101"),
        organisation("hospital-b", "100000000000002", "hospital"),
    )


REGISTER = register()


def notification(
    cpr: str, *, event: str = "STIN", sender: str = "hospital", seed: int = 1
) -> tuple[MessageFacts, dict[str, Any]]:
    bundle = MessageGenerator(seed=seed).hospital_notification(
        sender=REGISTER.by_id(sender).ref,  # type: ignore[union-attr]
        receiver=REGISTER.by_id("kommune-a").ref,  # type: ignore[union-attr]
        event=event,
        patient_cpr=cpr,
        now=NOW,
    )
    return read_facts(bundle), bundle


def sub(sid: str, receiver: str, topic: str = "hospital-notification-message", **filters: Any) -> Subscription:
    if "activity" in filters:
        filters["activity"] = frozenset(filters["activity"])
    return Subscription(id=sid, receiver_id=receiver, topic=topic, filters=SubscriptionFilters(**filters))


def index(*subscriptions: Subscription) -> SubscriptionIndex:
    return SubscriptionIndex.build(subscriptions, REGISTER, EVENTS)


def matched(
    idx: SubscriptionIndex, facts_bundle: tuple[MessageFacts, dict[str, Any]], sender: str = "hospital"
) -> list[str]:
    facts, bundle = facts_bundle
    return [m.receiver_id for m in match(idx, facts, bundle, PATIENTS, sender)]

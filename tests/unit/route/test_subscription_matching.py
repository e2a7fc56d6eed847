"""Matching messages against subscriptions, and merging the matches into the routing decision."""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import replace
from typing import Any

import pytest
from structlog.testing import capture_logs

from hub.domain.message import MessageFacts
from hub.domain.outcome import error
from hub.route.router import Delivery, RoutingDecision, route
from hub.route.subscription import CompiledSubscription, validate_subscription
from hub.route.subscription_index import SubscriptionIndex
from hub.route.subscription_matching import SubscriptionMatch, match, merge
from tests.unit.route.registers import organisation, small_register
from tests.unit.route.subscription_examples import (
    EVENTS,
    LISTED,
    OTHER,
    PATIENTS,
    REGISTER,
    UNKNOWN,
    index,
    matched,
    notification,
    sub,
)


def test_topic_event_code_matches_every_activity_of_that_event() -> None:
    idx = index(sub("s1", "kommune-b"))
    assert matched(idx, notification(UNKNOWN, event="STIN")) == ["kommune-b"]
    assert matched(idx, notification(UNKNOWN, event="SLHJ")) == ["kommune-b"]


def test_activity_filter_narrows_the_family() -> None:
    idx = index(sub("s1", "kommune-b", activity={"admit-inpatient"}))
    assert matched(idx, notification(UNKNOWN, event="STIN")) == ["kommune-b"]
    assert matched(idx, notification(UNKNOWN, event="SLOR")) == []


def test_other_event_and_acknowledgements_do_not_match_a_topic_or_the_wildcard() -> None:
    idx = index(sub("s1", "kommune-b", topic="care-communication-message"), sub("s2", "gp-a", topic="*"))
    facts, bundle = notification(LISTED)
    assert matched(idx, (facts, bundle)) == ["gp-a"]
    ack = MessageFacts(bundle_id="b", message_id="m", event="acknowledgement-message", sender=None)
    assert match(idx, ack, {}, PATIENTS, "hospital") == []


def test_gp_list_and_municipality_come_from_the_patient_register() -> None:
    idx = index(sub("gp", "gp-a", gp_list="gp-a"), sub("kbh", "kommune-kbh", municipality_code="101"))
    assert matched(idx, notification(LISTED)) == ["gp-a", "kommune-kbh"]
    assert matched(idx, notification(OTHER)) == []
    assert matched(idx, notification(UNKNOWN)) == []


def test_all_filters_must_hold() -> None:
    idx = index(sub("s1", "gp-a", gp_list="gp-a", municipality_code="101", sender="hospital-b"))
    assert matched(idx, notification(LISTED, sender="hospital"), sender="hospital") == []
    assert matched(idx, notification(LISTED, sender="hospital-b"), sender="hospital-b") == ["gp-a"]
    assert matched(idx, notification(OTHER, sender="hospital-b"), sender="hospital-b") == []


def test_sender_filter() -> None:
    idx = index(sub("s1", "kommune-b", sender="hospital-b"))
    assert matched(idx, notification(UNKNOWN, sender="hospital-b"), sender="hospital-b") == ["kommune-b"]
    assert matched(idx, notification(UNKNOWN)) == []


def test_fhirpath_criterion_on_the_bundle() -> None:
    inpatient = "Bundle.entry.resource.ofType(Encounter).class.code = 'IMP'"
    idx = index(sub("s1", "kommune-b", criteria=inpatient))
    assert matched(idx, notification(UNKNOWN, event="STIN")) == ["kommune-b"]  # STIN is IMP
    assert matched(idx, notification(UNKNOWN, event="STAA")) == []  # STAA is EMER


def test_a_failing_criterion_is_no_match_and_no_crash(caplog: pytest.LogCaptureFixture) -> None:
    def broken(_: dict[str, Any]) -> list[Any]:
        raise ZeroDivisionError("boom")

    failing = CompiledSubscription(sub("bad", "kommune-b", criteria="x"), broken)
    good = validate_subscription(sub("good", "gp-a"), REGISTER, EVENTS)
    idx = SubscriptionIndex([failing, good])
    assert matched(idx, notification(LISTED)) == ["gp-a"]


def test_one_match_per_receiver_with_every_reason() -> None:
    idx = index(
        sub("b-gp", "gp-a", gp_list="gp-a"), sub("a-all", "gp-a"), sub("c-kbh", "gp-a", municipality_code="101")
    )
    facts, bundle = notification(LISTED)
    [only] = match(idx, facts, bundle, PATIENTS, "hospital")
    assert only.receiver_id == "gp-a"
    assert only.subscription_ids == ("a-all", "b-gp", "c-kbh")
    assert only.subscription_id == "a-all"
    assert only.reason.startswith("subscription a-all: event hospital-notification-message")
    assert "subscription b-gp: event hospital-notification-message, patient listed at gp-a" in only.reason
    assert "patient resident in municipality 101" in only.reason


def test_a_match_carries_the_bases_of_its_subscriptions_each_once() -> None:
    gp, resident, again = (
        replace(sub("a-gp", "gp-a", gp_list="gp-a"), basis="gp-listed-patients: own GP"),
        replace(sub("b-kbh", "gp-a", municipality_code="101"), basis="test-rule: x"),
        replace(sub("c-gp", "gp-a", gp_list="gp-a"), basis="gp-listed-patients: own GP"),
    )
    facts, bundle = notification(LISTED)
    [only] = match(index(gp, resident, again), facts, bundle, PATIENTS, "hospital")
    assert only.basis == "gp-listed-patients: own GP; test-rule: x"
    [merged] = [d for d in merge(route(facts, REGISTER), [only], REGISTER).deliveries if d.receiver.id == "gp-a"]
    assert (merged.use, merged.basis) == ("subscription", only.basis)
    [unrecorded] = match(index(sub("old", "gp-a", gp_list="gp-a")), facts, bundle, PATIENTS, "hospital")
    assert unrecorded.basis is None  # stored before the hub had a subscription policy


def test_the_sender_never_gets_its_own_message_back() -> None:
    idx = index(sub("s1", "hospital", topic="*"))
    assert matched(idx, notification(LISTED)) == []


def test_merge_adds_subscribers_and_explains_each_receiver() -> None:
    facts, _ = notification(LISTED)
    decision = route(facts, REGISTER)  # the primary destination is kommune-a
    assert [d.receiver.id for d in decision.deliveries] == ["kommune-a"]
    matches = [
        SubscriptionMatch("kommune-a", "s0", "subscription s0: event hospital-notification-message", facts.event or ""),
        SubscriptionMatch("gp-a", "s1", "subscription s1: patient listed at gp-a", facts.event or ""),
        SubscriptionMatch("gp-only-acks", "s2", "subscription s2: any", facts.event or ""),  # does not accept it
        SubscriptionMatch("vanished", "s3", "subscription s3: any", facts.event or ""),  # not in the register
    ]
    merged = merge(decision, matches, REGISTER)
    assert [(d.receiver.id, d.use) for d in merged.deliveries] == [("kommune-a", "primary"), ("gp-a", "subscription")]
    assert merged.deliveries[0].reason.endswith("; subscription s0: event hospital-notification-message")
    assert merged.deliveries[1].reason == "subscription s1: patient listed at gp-a"
    assert merged.failures == () and merged.complete


def test_merge_keeps_routing_failures() -> None:
    failing = RoutingDecision(
        deliveries=(), failures=(error("not-found", "Bundle.entry[0].resource.destination[0]", "x"),)
    )
    kommune = REGISTER.by_id("kommune-b")
    assert kommune is not None
    merged = merge(
        failing, [SubscriptionMatch("kommune-b", "s", "subscription s: x", "hospital-notification-message")], REGISTER
    )
    assert merged.deliveries == (Delivery(kommune, "subscription", "subscription s: x"),)
    assert merged.failures == failing.failures


def test_municipality_codes_with_or_without_the_leading_zero_are_the_same() -> None:
    idx = index(sub("kbh", "kommune-kbh", municipality_code="0101"))
    assert matched(idx, notification(LISTED)) == ["kommune-kbh"]


def test_a_subscriber_taking_only_other_versions_is_skipped_and_logged() -> None:
    """A version-restricted receiver still subscribes to the event (the topic check sees its event codes); a copy
    of a message in a version it does not take, or naming none, is skipped like an event it does not accept."""
    definition = "http://medcomfhir.dk/ig/hospitalnotification/MessageDefinition/HospitalNotification"
    versioned = small_register(
        organisation("gp-a", "300000000000002", "gp", accepts=["hospital-notification-message|3.0"]),
    )
    idx = SubscriptionIndex([validate_subscription(sub("s1", "gp-a", gp_list="gp-a"), versioned, EVENTS)])
    facts, bundle = notification(LISTED)

    def delivered(definition: str | None) -> tuple[list[str], list[MutableMapping[str, Any]]]:
        stated = replace(facts, definition=definition)
        matches = match(idx, stated, bundle, PATIENTS, "hospital")
        assert [m.receiver_id for m in matches] == ["gp-a"]
        with capture_logs() as logs:
            merged = merge(route(stated, versioned), matches, versioned)
        return [d.receiver.id for d in merged.deliveries if d.use == "subscription"], logs

    assert delivered(f"{definition}|3.0") == (["gp-a"], [])
    for other in (f"{definition}|3.1", None):
        receivers, logs = delivered(other)
        assert receivers == []
        (logged,) = logs
        assert logged["event"] == "subscriber does not accept the message's version"
        assert (logged["receiver"], logged["definition"], logged["subscriptions"]) == ("gp-a", other, ("s1",))

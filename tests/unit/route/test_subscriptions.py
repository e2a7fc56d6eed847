"""Subscriptions: the model, validation, the index, matching and merging into the routing decision."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from registers import organisation, small_register

from hub.domain.message import MessageFacts, read_facts
from hub.domain.outcome import error
from hub.route.patients import PatientEntry, PatientRegister
from hub.route.register import Register
from hub.route.router import Delivery, RoutingDecision, route
from hub.route.subscriptions import (
    CompiledSubscription,
    Subscription,
    SubscriptionError,
    SubscriptionFilters,
    SubscriptionIndex,
    SubscriptionMatch,
    SubscriptionStatus,
    compile_criteria,
    match,
    merge,
    seed_from_register_file,
    subscription_from_dict,
    validate_subscription,
)
from hub.simulate.generator import MessageGenerator

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
) -> tuple[MessageFacts, dict]:
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


def matched(idx: SubscriptionIndex, facts_bundle: tuple[MessageFacts, dict], sender: str = "hospital") -> list[str]:
    facts, bundle = facts_bundle
    return [m.receiver_id for m in match(idx, facts, bundle, PATIENTS, sender)]


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


def test_the_sender_never_gets_its_own_message_back() -> None:
    idx = index(sub("s1", "hospital", topic="*"))
    assert matched(idx, notification(LISTED)) == []


def test_paused_subscriptions_are_not_indexed_and_index_changes_make_new_indexes() -> None:
    paused = Subscription("p", "gp-a", "*", status=SubscriptionStatus.PAUSED)
    idx = index(paused, sub("s1", "kommune-b"))
    assert len(idx) == 1 and "p" not in idx
    resumed = idx.with_subscription(validate_subscription(Subscription("p", "gp-a", "*"), REGISTER, EVENTS))
    assert matched(resumed, notification(LISTED)) == ["gp-a", "kommune-b"]
    assert matched(idx, notification(LISTED)) == ["kommune-b"]  # the old index is unchanged
    assert matched(resumed.without("s1"), notification(LISTED)) == ["gp-a"]


def test_the_index_only_evaluates_candidates() -> None:
    calls = 0

    def counting(_: dict[str, Any]) -> list[Any]:
        nonlocal calls
        calls += 1
        return [True]

    others = [CompiledSubscription(sub(f"o{i}", "gp-b", gp_list="gp-b", criteria="x"), counting) for i in range(500)]
    elsewhere = [
        CompiledSubscription(sub(f"m{i}", "kommune-b", municipality_code="999", criteria="x"), counting)
        for i in range(500)
    ]
    mine = CompiledSubscription(sub("mine", "gp-a", gp_list="gp-a", criteria="x"), counting)
    idx = SubscriptionIndex([*others, *elsewhere, mine])
    assert matched(idx, notification(LISTED)) == ["gp-a"]
    assert calls == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"receiver_id": "nobody"}, "receiver"),
        ({"topic": "no-such-event"}, "topic"),
        ({"topic": "acknowledgement-message"}, "topic"),
        ({"id": "has space"}, "id"),
        ({"filters": SubscriptionFilters(gp_list="kommune-a")}, "filters.gp_list"),
        ({"filters": SubscriptionFilters(gp_list="nobody")}, "filters.gp_list"),
        ({"filters": SubscriptionFilters(sender="nobody")}, "filters.sender"),
        ({"filters": SubscriptionFilters(municipality_code="1O1")}, "filters.municipality_code"),
        ({"filters": SubscriptionFilters(criteria="entry.where(")}, "filters.criteria"),
        ({"filters": SubscriptionFilters(criteria="entry.resource.nosuchfunction()")}, "filters.criteria"),
        ({"filters": SubscriptionFilters(activity=frozenset({"Admit Inpatient"}))}, "filters.activity"),
    ],
)
def test_validation_names_the_faulty_field(change: dict[str, Any], field: str) -> None:
    base = sub("s1", "gp-a")
    faulty = replace(base, **change)
    with pytest.raises(SubscriptionError) as raised:
        validate_subscription(faulty, REGISTER, EVENTS)
    assert raised.value.field == field


def test_index_build_leaves_out_what_no_longer_fits_the_register() -> None:
    idx = index(sub("gone", "no-longer-registered"), sub("ok", "kommune-b"))
    assert [s.id for s in idx.subscriptions()] == ["ok"]


def test_criteria_compile_once_per_expression() -> None:
    expression = "Bundle.entry.resource.ofType(Patient).exists()"
    assert compile_criteria(expression) is compile_criteria(expression)


def test_subscription_from_dict_flat_or_nested() -> None:
    flat = subscription_from_dict(
        {"id": "a", "receiver": "gp-a", "topic": "*", "gp_list": "self", "municipality_code": 101}
    )
    assert flat.filters == SubscriptionFilters(gp_list="gp-a", municipality_code="101")
    nested = subscription_from_dict(
        {"id": "b", "receiver": "gp-a", "topic": "*", "filters": {"activity": "admit-inpatient"}, "status": "paused"}
    )
    assert nested.filters.activity == frozenset({"admit-inpatient"}) and nested.status is SubscriptionStatus.PAUSED
    for bad, field in (
        ({"receiver": "gp-a", "topic": "*"}, "id"),
        ({"id": "c", "receiver": "gp-a", "topic": "*", "colour": "red"}, "colour"),
        ({"id": "c", "receiver": "gp-a", "topic": "*", "status": "off"}, "status"),
        ({"id": "c", "receiver": "gp-a", "topic": "*", "sender": "x", "filters": {"sender": "y"}}, "sender"),
    ):
        with pytest.raises(SubscriptionError) as raised:
            subscription_from_dict(bad)
        assert raised.value.field == field


def test_seed_from_register_file(tmp_path: Path) -> None:
    path = tmp_path / "register.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "hub": {"name": "hub", "sor": "900000000000001"},
                "organisations": [],
                "subscriptions": [
                    {
                        "id": "gp-a-listed",
                        "receiver": "gp-a",
                        "topic": "hospital-notification-message",
                        "gp_list": "self",
                    },
                    {
                        "id": "kbh",
                        "receiver": "kommune-kbh",
                        "topic": "*",
                        "municipality_code": "101",
                        "status": "paused",
                    },
                ],
            }
        )
    )
    seeds = seed_from_register_file(path, register=REGISTER, known_events=EVENTS)
    assert [(s.id, s.filters.gp_list, str(s.status)) for s in seeds] == [
        ("gp-a-listed", "gp-a", "active"),
        ("kbh", None, "paused"),
    ]
    path.write_text(yaml.safe_dump({"subscriptions": [{"id": "x", "receiver": "nobody", "topic": "*"}]}))
    with pytest.raises(SubscriptionError, match=r"subscriptions\[0\]\.receiver"):
        seed_from_register_file(path, register=REGISTER, known_events=EVENTS)
    path.write_text(yaml.safe_dump({"hub": {}}))
    assert seed_from_register_file(path) == []


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

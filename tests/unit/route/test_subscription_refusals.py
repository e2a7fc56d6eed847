"""No subscription that could never deliver is accepted: a receiver that does not accept the topic, an activity code
the topic's messages never carry, a criterion that fails (or yields no boolean) on realistic messages of the topic.
And none outside the subscription policy: admitting one records the policy rule as its basis.

The criteria are tried on the trial messages shipped under schemas/trial-messages/.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from hub.route.criteria import compile_criteria
from hub.route.subscription import (
    SubscriptionError,
    SubscriptionRefused,
    admit,
    seed_from_register_file,
    validate_subscription,
)
from tests.unit.route.subscription_examples import EVENTS, REGISTER, sub

HN = "hospital-notification-message"
CC = "care-communication-message"


def refused(subscription: Any) -> SubscriptionError:
    with pytest.raises(SubscriptionError) as raised:
        validate_subscription(subscription, REGISTER, EVENTS)
    return raised.value


def test_a_receiver_that_does_not_accept_the_topic_is_refused_naming_what_it_accepts() -> None:
    error = refused(sub("s", "gp-only-acks", HN, gp_list="gp-only-acks"))
    assert error.field == "receiver"
    assert "gp-only-acks does not accept hospital-notification-message" in error.message
    assert "accepts acknowledgement-message" in error.message
    # '*' to a receiver that takes nothing but acknowledgements could never deliver either
    everything = refused(sub("s", "gp-only-acks", "*"))
    assert everything.field == "receiver" and "nothing but acknowledgements" in everything.message
    assert validate_subscription(sub("s", "gp-a", "*"), REGISTER, EVENTS).criterion is None


@pytest.mark.parametrize(
    ("topic", "code"),
    [
        (HN, "new-message"),  # a CareCommunication's activity, never a HospitalNotification's
        (CC, "admit-inpatient"),  # and the other way round
        (CC, "carboncopy-message"),  # a MedCom activity code, but not one of CareCommunication's
        ("*", "no-such-activity"),
    ],
)
def test_an_activity_code_the_topics_messages_never_carry_is_refused(topic: str, code: str) -> None:
    error = refused(sub("s", "gp-a", topic, activity=[code]))
    assert error.field == "filters.activity"
    assert f"{code!r} is not a MedCom activity code" in error.message


def test_the_refusal_lists_the_topics_activity_codes() -> None:
    hospital = refused(sub("s", "gp-a", HN, activity=["admit-inpatient", "reply-message"])).message
    for code in ("admit-emergency", "admit-inpatient", "discharge-inpatient-home", "cancel-admit-inpatient"):
        assert code in hospital
    assert "forward-message" not in hospital
    care = refused(sub("s", "gp-a", CC, activity=["admit-inpatient"])).message
    assert care.endswith("they carry one of forward-message, new-message, reply-message")


def test_the_topics_own_activity_codes_are_accepted() -> None:
    for topic, codes in (
        (HN, ["admit-inpatient", "admit-emergency", "discharge-emergency-home"]),
        (CC, ["new-message", "reply-message", "forward-message"]),
        ("*", ["admit-inpatient", "forward-message"]),
    ):
        validate_subscription(sub("s", "gp-a", topic, activity=codes), REGISTER, EVENTS)


@pytest.mark.parametrize(
    ("criteria", "says"),
    [
        # a dateTime compared with a number: an error on every real message, nothing on an empty Bundle
        ("Bundle.timestamp > 5", "fails on the trial message hospital-notification-message/"),
        ("Bundle.entry.resource.ofType(Patient).identifier.value.toInteger() > 'x'", "fails on the trial message"),
        # resources, not a boolean: it would "match" every message that has entries
        ("Bundle.entry", "yields a resource"),
        ("Bundle.entry.resource.ofType(Encounter).class.code", "yields a str ('IMP')"),
    ],
)
def test_a_criterion_that_fails_or_yields_no_boolean_on_real_messages_is_refused(criteria: str, says: str) -> None:
    compile_criteria(criteria)  # the empty-Bundle probe alone lets it through
    error = refused(sub("s", "gp-a", HN, criteria=criteria))
    assert error.field == "filters.criteria"
    assert says in error.message


def test_a_criterion_is_tried_on_the_messages_of_its_topic() -> None:
    # a hospital notification has no Communication: nothing to compare, no error; a CareCommunication has one
    criteria = "Bundle.entry.resource.ofType(Communication).status > 5"
    validate_subscription(sub("s", "gp-a", HN, criteria=criteria), REGISTER, EVENTS)
    on_care = refused(sub("s", "gp-a", CC, criteria=criteria))
    assert on_care.field == "filters.criteria" and "care-communication-message/" in on_care.message
    on_any = refused(sub("s", "gp-a", "*", criteria=criteria))  # '*': tried on the messages of every event
    assert on_any.field == "filters.criteria" and "care-communication-message/" in on_any.message


@pytest.mark.parametrize(
    "criteria",
    [
        "Bundle.entry.resource.ofType(Encounter).class.code = 'EMER'",
        "entry.resource.ofType(Patient).exists()",
        "Bundle.timestamp > @2020-01-01",
        "Bundle.entry.resource.ofType(Provenance).activity.coding.where(code = 'admit-inpatient').exists()",
    ],
)
def test_a_criterion_that_decides_on_every_real_message_is_accepted(criteria: str) -> None:
    for topic in (HN, CC, "*"):
        assert validate_subscription(sub("s", "gp-a", topic, criteria=criteria), REGISTER, EVENTS).criterion


def test_admitting_records_the_policy_rule_as_the_basis() -> None:
    admitted = admit(sub("s", "gp-a", HN, gp_list="gp-a"), REGISTER, EVENTS)
    assert admitted.basis == "gp-listed-patients: the patient's own GP"
    assert admitted.as_json()["basis"] == admitted.basis
    resident = admit(sub("s", "kommune-kbh", HN, municipality_code="101"), REGISTER, EVENTS)
    assert resident.basis is not None and resident.basis.startswith("municipality-of-residence: ")


def test_admitting_refuses_one_outside_the_policy_naming_the_rule() -> None:
    with pytest.raises(SubscriptionRefused) as raised:
        admit(sub("s", "kommune-kbh", HN, municipality_code="751"), REGISTER, EVENTS)
    assert (raised.value.field, raised.value.rule) == ("filters.municipality_code", "municipality-of-residence")
    # nonsense is refused before the policy is asked
    with pytest.raises(SubscriptionError) as nonsense:
        admit(sub("s", "gp-a", HN, gp_list="gp-a", activity=["new-message"]), REGISTER, EVENTS)
    assert nonsense.value.field == "filters.activity" and not isinstance(nonsense.value, SubscriptionRefused)


def _register_file(path: Path, subscriptions: list[dict[str, Any]], **extra: Any) -> Path:
    path.write_text(
        yaml.safe_dump({"hub": {"name": "hub", "sor": "900000000000001"}, **extra, "subscriptions": subscriptions})
    )
    return path


def test_a_seed_must_make_sense_and_follow_the_policy(tmp_path: Path) -> None:
    path = tmp_path / "register.yaml"
    good = {"id": "kbh", "receiver": "kommune-kbh", "topic": HN, "municipality_code": "101"}
    [seed] = seed_from_register_file(_register_file(path, [good]), register=REGISTER, known_events=EVENTS)
    assert seed.basis is not None and seed.basis.startswith("municipality-of-residence: ")

    nonsense = {**good, "criteria": "Bundle.timestamp > 5"}
    with pytest.raises(SubscriptionError, match=r"register\.yaml: subscriptions\[0\]\.filters\.criteria"):
        seed_from_register_file(_register_file(path, [nonsense]), register=REGISTER, known_events=EVENTS)
    outside = {**good, "id": "elsewhere", "municipality_code": "751"}
    with pytest.raises(SubscriptionRefused) as raised:
        seed_from_register_file(_register_file(path, [good, outside]), register=REGISTER, known_events=EVENTS)
    assert raised.value.field.endswith("subscriptions[1].filters.municipality_code")
    assert raised.value.rule == "municipality-of-residence"


def test_a_policy_naming_an_unknown_event_stops_the_seeding(tmp_path: Path) -> None:
    rule = REGISTER.subscription_policy[0]
    bad = copy.copy(REGISTER)
    bad.subscription_policy = (rule.model_copy(update={"events": frozenset({"no-such-event"})}),)
    with pytest.raises(SubscriptionError, match="'no-such-event' is not a known event code"):
        seed_from_register_file(_register_file(tmp_path / "register.yaml", []), register=bad, known_events=EVENTS)

"""The subscription policy: which kind of organisation may subscribe to what, with which filters, on what basis."""

from __future__ import annotations

from typing import Any

import pytest

from hub.route.register import Organisation, PolicyRule, RegisterError, parse_register
from hub.route.subscription_policy import Basis, Refusal, basis_for
from tests.unit.route.registers import organisation, small_register
from tests.unit.route.subscription_examples import sub

HN = "hospital-notification-message"
CC = "care-communication-message"

MUNICIPALITY = PolicyRule(
    rule="municipality-of-residence",
    kind="municipality",
    events=frozenset({HN}),
    requires={"municipality_code": "own"},
    basis="MedCom HospitalNotification guideline: the municipality of residence",
)
GP = PolicyRule(
    rule="gp-listed-patients",
    kind="gp",
    events=frozenset({HN, "sektorhub-discharge-letter-message"}),
    requires={"gp_list": "own"},
    basis="the patient's own GP",
)
POLICY = (MUNICIPALITY, GP)

REGISTER = small_register(
    organisation("kommune-kbh", "200000000000003", municipality_code="0101"),
    organisation("gp-a", "300000000000002", "gp"),
    organisation("gp-b", "300000000000003", "gp"),
)


def org(organisation_id: str) -> Organisation:
    found = REGISTER.by_id(organisation_id)
    assert found is not None
    return found


def refusal(decision: Basis | Refusal) -> Refusal:
    assert isinstance(decision, Refusal), decision
    return decision


def test_a_municipality_may_subscribe_to_hospital_notifications_about_its_own_residents() -> None:
    decision = basis_for(sub("s", "kommune-kbh", HN, municipality_code="101"), org("kommune-kbh"), POLICY)
    assert decision == Basis("municipality-of-residence", MUNICIPALITY.basis)
    assert str(decision) == f"municipality-of-residence: {MUNICIPALITY.basis}"
    # other filters may narrow it further
    narrowed = sub("s", "kommune-kbh", HN, municipality_code="0101", activity=["admit-inpatient"])
    assert isinstance(basis_for(narrowed, org("kommune-kbh"), POLICY), Basis)


@pytest.mark.parametrize(
    ("filters", "says"),
    [
        ({"municipality_code": "751"}, "must be 101 (kommune-kbh's own municipality), not 751"),
        ({}, "filters.municipality_code = the subscriber's own municipality code is required"),
        ({"sender": "hospital"}, "is required, and the subscription has none"),
    ],
)
def test_a_municipality_may_not_subscribe_to_other_residents(filters: dict[str, Any], says: str) -> None:
    refused = refusal(basis_for(sub("s", "kommune-kbh", HN, **filters), org("kommune-kbh"), POLICY))
    assert (refused.field, refused.rule) == ("filters.municipality_code", "municipality-of-residence")
    assert says in refused.message
    assert "a municipality may subscribe to hospital-notification-message" in refused.message


def test_a_municipality_without_a_municipality_code_in_the_register_has_no_residents() -> None:
    refused = refusal(basis_for(sub("s", "kommune-a", HN, municipality_code="101"), org("kommune-a"), POLICY))
    assert (refused.field, refused.rule) == ("filters.municipality_code", "municipality-of-residence")
    assert "gives kommune-a no municipality_code" in refused.message


def test_a_gp_may_subscribe_to_messages_about_its_listed_patients_only() -> None:
    allowed = basis_for(sub("s", "gp-a", HN, gp_list="gp-a"), org("gp-a"), POLICY)
    assert allowed == Basis("gp-listed-patients", GP.basis)
    letters = sub("s", "gp-a", "sektorhub-discharge-letter-message", gp_list="gp-a")
    assert isinstance(basis_for(letters, org("gp-a"), POLICY), Basis)

    other_practice = refusal(basis_for(sub("s", "gp-a", HN, gp_list="gp-b"), org("gp-a"), POLICY))
    assert (other_practice.field, other_practice.rule) == ("filters.gp_list", "gp-listed-patients")
    assert "must be gp-a (the subscriber itself), not gp-b" in other_practice.message
    residents = refusal(basis_for(sub("s", "gp-a", HN, municipality_code="101"), org("gp-a"), POLICY))
    assert (residents.field, residents.rule) == ("filters.gp_list", "gp-listed-patients")


def test_an_event_no_rule_of_the_kind_names_is_refused_on_the_topic() -> None:
    refused = refusal(basis_for(sub("s", "kommune-kbh", CC, municipality_code="101"), org("kommune-kbh"), POLICY))
    assert (refused.field, refused.rule) == ("topic", None)
    assert "to 'care-communication-message' by no rule" in refused.message
    assert "rule municipality-of-residence: a municipality may subscribe to hospital-notification-message" in (
        refused.message
    )
    everything = refusal(basis_for(sub("s", "gp-a", "*", gp_list="gp-a"), org("gp-a"), POLICY))
    assert everything.field == "topic"  # '*' needs a rule for '*'


def test_a_kind_no_rule_names_may_not_subscribe_at_all() -> None:
    refused = refusal(basis_for(sub("s", "hospital", HN, sender="hospital"), org("hospital"), POLICY))
    assert (refused.field, refused.rule) == ("receiver", None)
    assert "lets no hospital subscribe" in refused.message
    assert "rule gp-listed-patients: a gp may subscribe" in refused.message  # what it allows instead
    nothing = refusal(basis_for(sub("s", "gp-a", HN, gp_list="gp-a"), org("gp-a"), ()))
    assert (nothing.field, nothing.rule) == ("receiver", None)
    assert "no subscription_policy" in nothing.message


def test_any_means_the_filter_must_be_given_and_a_rule_for_every_event_covers_every_topic() -> None:
    by_sender = PolicyRule(
        rule="hospital-by-sender",
        kind="hospital",
        events=frozenset({"*"}),
        requires={"sender": "any"},
        basis="test",
    )
    for topic in (HN, CC, "*"):
        assert basis_for(sub("s", "hospital", topic, sender="hospital-b"), org("hospital"), [by_sender]) == Basis(
            "hospital-by-sender", "test"
        )
    refused = refusal(basis_for(sub("s", "hospital", HN), org("hospital"), [by_sender]))
    assert (refused.field, refused.rule) == ("filters.sender", "hospital-by-sender")
    assert "filters.sender given is required" in refused.message


def test_the_first_rule_that_allows_it_is_the_basis() -> None:
    strict = MUNICIPALITY.model_copy(
        update={"rule": "strict", "requires": {"municipality_code": "own", "sender": "any"}}
    )
    decision = basis_for(
        sub("s", "kommune-kbh", HN, municipality_code="101"), org("kommune-kbh"), [strict, MUNICIPALITY]
    )
    assert decision == Basis("municipality-of-residence", MUNICIPALITY.basis)
    refused = refusal(basis_for(sub("s", "kommune-kbh", HN), org("kommune-kbh"), [strict, MUNICIPALITY]))
    assert refused.rule == "strict"  # the first covering rule is the one named


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"requires": {"colour": "own"}}, "'colour' is not a subscription filter"),
        ({"requires": {"sender": "own"}}, "sender cannot be 'own'"),
        ({"requires": {"gp_list": "mine"}}, "requires.gp_list"),
        ({"kind": "pharmacy"}, "kind"),
        ({"events": []}, "events"),
        ({"basis": ""}, "basis"),
        ({"rule": "Has Space"}, "rule"),
    ],
)
def test_the_register_refuses_a_faulty_policy_entry(entry: dict[str, Any], message: str) -> None:
    rule = {"rule": "r", "kind": "gp", "events": [HN], "requires": {"gp_list": "own"}, "basis": "b", **entry}
    with pytest.raises(RegisterError, match=message):
        parse_register(
            {"hub": {"name": "hub", "sor": "900000000000001"}, "organisations": [], "subscription_policy": [rule]},
            source="test",
        )


def test_the_register_refuses_two_rules_of_one_name() -> None:
    rule = {"rule": "r", "kind": "gp", "events": [HN], "basis": "b"}
    with pytest.raises(RegisterError, match="two subscription_policy entries have rule 'r'"):
        parse_register(
            {
                "hub": {"name": "hub", "sor": "900000000000001"},
                "organisations": [],
                "subscription_policy": [rule, rule],
            },
            source="test",
        )

"""Backport Subscriptions to the hub's subscriptions and back, and every refusal naming the element by FHIRPath.

The hub's checks (admit: sense, and the subscription policy) are the ones /api/subscriptions runs; here they run on
what a Subscription resource asks for, and their refusals are turned into FHIRPaths into the resource.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import pytest

from hub.domain import medcom
from hub.route.event_catalogue import WILDCARD, shipped_event_catalogue
from hub.route.fhir_subscription import (
    BACKPORT_PROFILE,
    BASIS_EXTENSION,
    FILTER_CRITERIA,
    HEARTBEAT_PERIOD,
    MAX_COUNT,
    PAYLOAD_CONTENT,
    REGISTER_ID_SYSTEM,
    SOR_SYSTEM,
    SUBSCRIBER_EXTENSION,
    TIMEOUT,
    TOPIC_BASE,
    FhirSubscriptionError,
    Refusal,
    SubscriptionRequest,
    event_of_topic,
    parse_subscription,
    refusal,
    subscription_resource,
    subscription_topic,
    topic_events,
)
from hub.route.subscription import (
    NotificationContent,
    RestHook,
    SubscriptionError,
    SubscriptionStatus,
    admit,
)
from tests.unit.route.registers import EVENTS, organisation, small_register

HN = "hospital-notification-message"
CC = "care-communication-message"
REGISTER = small_register(
    organisation("kommune-101", "200000000000101", municipality_code="101"),
    organisation("gp-x", "300000000000002", "gp"),
)


def resource(*filters: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Subscription",
        "meta": {"profile": [BACKPORT_PROFILE]},
        "status": "requested",
        "reason": "our residents' hospital stays",
        "criteria": f"{TOPIC_BASE}{HN}",
        "channel": {
            "type": "message",
            "payload": "application/fhir+json",
            "_payload": {"extension": [{"url": PAYLOAD_CONTENT, "valueCode": "full-resource"}]},
        },
    }
    if filters:
        body["_criteria"] = {"extension": [{"url": FILTER_CRITERIA, "valueString": f} for f in filters]}
    body.update(changes)
    return body


def subscriber(value: str, system: str = REGISTER_ID_SYSTEM) -> list[dict[str, Any]]:
    return [{"url": SUBSCRIBER_EXTENSION, "valueIdentifier": {"system": system, "value": value}}]


def parse(body: Any, caller: str | None = "kommune-101") -> SubscriptionRequest:
    return parse_subscription(body, register=REGISTER, known_events=EVENTS, caller=caller)


def parse_refusal(body: Any, caller: str | None = "kommune-101") -> Refusal:
    with pytest.raises(FhirSubscriptionError) as raised:
        parse(body, caller)
    return refusal(raised.value)


def admit_refusal(body: Any, caller: str | None = "kommune-101") -> Refusal:
    asked = parse(body, caller)
    with pytest.raises(SubscriptionError) as raised:
        admit(asked.subscription("s1"), REGISTER, EVENTS)
    return refusal(raised.value, asked)


# --- topics -----------------------------------------------------------------------------------------------


def test_there_is_a_topic_per_routed_event_and_any_event_but_none_for_acknowledgements() -> None:
    assert topic_events(EVENTS) == [CC, HN, WILDCARD]
    assert event_of_topic("any-event", EVENTS) == WILDCARD
    assert event_of_topic(HN, EVENTS) == HN
    assert event_of_topic(medcom.ACKNOWLEDGEMENT_EVENT, EVENTS) is None
    assert event_of_topic("*", EVENTS) is None


def test_a_topic_names_its_url_trigger_and_every_filter_with_the_activity_codes() -> None:
    topic = subscription_topic(HN, shipped_event_catalogue())
    assert topic["resourceType"] == "SubscriptionTopic"
    assert topic["url"] == f"https://sektor-hub.dk/fhir/SubscriptionTopic/{HN}"
    assert topic["status"] == "active"
    assert topic["resourceTrigger"][0]["resource"] == "Bundle"
    assert topic["resourceTrigger"][0]["supportedInteraction"] == ["create"]
    assert topic["notificationShape"] == [{"resource": "Bundle"}]
    by_name = {f["filterParameter"]: f for f in topic["canFilterBy"]}
    assert list(by_name) == ["municipality-code", "gp-list", "sender", "activity", "criteria"]
    assert all(f["resource"] == "Bundle" for f in by_name.values())
    assert "admit-inpatient" in by_name["activity"]["description"]
    assert subscription_topic(WILDCARD, shipped_event_catalogue())["id"] == "any-event"


# --- Subscription -> hub subscription, and back ------------------------------------------------------------


def test_a_municipality_subscribes_itself_and_the_resource_comes_back_as_asked() -> None:
    body = resource("Bundle?municipality-code=0101", "Bundle?activity=admit-inpatient,discharge-inpatient-home")
    asked = parse(body)
    assert (asked.receiver, asked.topic, asked.status) == ("kommune-101", HN, SubscriptionStatus.ACTIVE)
    stored = admit(asked.subscription("s1", created_by="kommune-101"), REGISTER, EVENTS)
    assert stored.filters.municipality_code == "101"
    assert stored.filters.activity == frozenset({"admit-inpatient", "discharge-inpatient-home"})
    assert (stored.channel, stored.created_by, stored.reason) == ("message", "kommune-101", body["reason"])
    assert stored.basis is not None and stored.basis.startswith("municipality-of-residence: ")

    back = subscription_resource(stored)
    assert back["id"] == "s1"
    assert back["meta"]["profile"] == [BACKPORT_PROFILE]
    assert (back["status"], back["reason"], back["criteria"]) == ("active", body["reason"], body["criteria"])
    assert back["channel"] == body["channel"]
    assert [e["valueString"] for e in back["_criteria"]["extension"]] == [
        "Bundle?municipality-code=101",
        "Bundle?activity=admit-inpatient,discharge-inpatient-home",
    ]
    extensions = {e["url"]: e for e in back["extension"]}
    assert extensions[SUBSCRIBER_EXTENSION]["valueIdentifier"] == {"system": REGISTER_ID_SYSTEM, "value": "kommune-101"}
    assert extensions[BASIS_EXTENSION]["valueString"] == stored.basis
    # what the hub answers, sent back as it is, asks for the same
    again = parse(back)
    assert (again.receiver, again.topic, dict(again.filters)) == (
        "kommune-101",
        HN,
        dict(asked.filters) | {"municipality_code": "101"},
    )


def test_several_parameters_in_one_extension_tokens_sor_codes_and_encoded_criteria_are_understood() -> None:
    criteria = "Bundle.entry.resource.ofType(Encounter).class.code = 'IMP' and 1 < 2"
    asked = parse(
        resource(
            "Bundle?gp-list=self&sender=100000000000001",
            f"Bundle?activity={medcom.ACTIVITY_CODE_SYSTEM}|admit-inpatient",
            f"Bundle?criteria={criteria}",
        ),
        caller="gp-x",
    )
    assert dict(asked.filters) == {
        "gp_list": "self",
        "sender": "hospital",  # the SOR code's organisation
        "activity": ["admit-inpatient"],
        "criteria": criteria,
    }
    assert asked.where["filters.sender"] == "Subscription.criteria.extension[0]"
    assert asked.where["filters.criteria"] == "Subscription.criteria.extension[2]"
    stored = asked.subscription("s2")
    assert stored.filters.gp_list == "gp-x"  # self: the subscriber
    ampersand = parse(resource("Bundle?criteria=%26 %25"))
    assert ampersand.filters["criteria"] == "& %"
    with_ampersand = parse(resource("Bundle?municipality-code=101", "Bundle?criteria=('a' %26 'b') = 'ab'"))
    stored = admit(with_ampersand.subscription("s3"), REGISTER, EVENTS)
    assert stored.filters.criteria == "('a' & 'b') = 'ab'"
    assert subscription_resource(stored)["_criteria"]["extension"][1]["valueString"] == (
        "Bundle?criteria=('a' %26 'b') = 'ab'"
    )


def test_off_is_paused_and_paused_is_off() -> None:
    asked = parse(resource("Bundle?municipality-code=101", status="off"))
    assert asked.status is SubscriptionStatus.PAUSED
    stored = admit(asked.subscription("s1"), REGISTER, EVENTS)
    assert subscription_resource(stored)["status"] == "off"


def test_the_operator_names_the_receiver_by_register_id_or_sor_code() -> None:
    by_id = parse(resource("Bundle?municipality-code=101", extension=subscriber("kommune-101")), caller=None)
    assert by_id.receiver == "kommune-101"
    assert by_id.where["receiver"] == "Subscription.extension[0]"
    by_sor = parse(resource(extension=subscriber("200000000000101", SOR_SYSTEM)), caller=None)
    assert by_sor.receiver == "kommune-101"


def test_an_organisation_may_name_itself_but_no_other() -> None:
    assert parse(resource(extension=subscriber("kommune-101"))).receiver == "kommune-101"
    other = parse_refusal(resource(extension=subscriber("kommune-b")))
    assert (other.status, other.code, other.expression) == (403, "forbidden", "Subscription.extension[0]")
    assert "subscribes only itself, not kommune-b" in other.diagnostics


def test_the_operator_must_name_the_receiver() -> None:
    missing = parse_refusal(resource(), caller=None)
    assert (missing.status, missing.expression) == (400, "Subscription.extension")
    assert SUBSCRIBER_EXTENSION in missing.diagnostics
    unknown = parse_refusal(resource(extension=subscriber("nobody")), caller=None)
    assert (unknown.code, unknown.expression) == ("not-found", "Subscription.extension[0].valueIdentifier.value")
    system = parse_refusal(resource(extension=subscriber("x", "urn:other")), caller=None)
    assert system.expression == "Subscription.extension[0].valueIdentifier.system"


# --- refusals of the resource itself ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "expression", "words"),
    [
        ({"resourceType": "Patient"}, "Subscription", "expected a FHIR Subscription"),
        ({"status": "error"}, "Subscription.status", "only the hub sets"),
        ({"status": "paused"}, "Subscription.status", "not requested, active, error or off"),
        ({"status": None}, "Subscription.status", "expected non-empty text"),
        ({"reason": ""}, "Subscription.reason", "expected non-empty text"),
        ({"reason": "a\x00b"}, "Subscription.reason", "NUL"),
        ({"reason": "x" * 4001}, "Subscription.reason", "longer than 4000"),
        ({"criteria": HN}, "Subscription.criteria", "not a SubscriptionTopic of this hub"),
        ({"criteria": f"{TOPIC_BASE}{medcom.ACKNOWLEDGEMENT_EVENT}"}, "Subscription.criteria", "GET /fhir/Subscr"),
        ({"end": "2030-01-01T00:00:00Z"}, "Subscription.end", "does not end subscriptions by time"),
        ({"modifierExtension": [{"url": "x"}]}, "Subscription.modifierExtension", "no modifier extension"),
        ({"channel": None}, "Subscription.channel", "expected an object"),
        ({"channel": {"type": "websocket"}}, "Subscription.channel.type", "'rest-hook'"),
        ({"channel": {"type": "rest-hook"}}, "Subscription.channel.endpoint", "non-empty text"),
        ({"channel": {"type": "rest-hook", "endpoint": "ftp://x"}}, "Subscription.channel.endpoint", "http(s)"),
        (
            {"channel": {"type": "rest-hook", "endpoint": "https://x", "header": ["no colon"]}},
            "Subscription.channel.header[0]",
            "Name: value",
        ),
        (
            {"channel": {"type": "rest-hook", "endpoint": "https://x", "header": ["Content-Type: text/plain"]}},
            "Subscription.channel.header[0]",
            "sets Content-Type itself",
        ),
        (
            {
                "channel": {
                    "type": "rest-hook",
                    "endpoint": "https://x",
                    "extension": [{"url": HEARTBEAT_PERIOD, "valueUnsignedInt": "60"}],
                }
            },
            "Subscription.channel.extension[0].valueUnsignedInt",
            "whole number",
        ),
        (
            {"channel": {"type": "rest-hook", "endpoint": "https://x", "extension": [{"url": "urn:x"}]}},
            "Subscription.channel.extension[0].url",
            "not a channel extension",
        ),
        (
            {
                "channel": {
                    "type": "rest-hook",
                    "endpoint": "https://x",
                    "_payload": {"extension": [{"url": PAYLOAD_CONTENT, "valueCode": "everything"}]},
                }
            },
            "Subscription.channel.payload.extension[0].valueCode",
            "id-only",
        ),
        ({"channel": {"type": "message", "endpoint": "https://x"}}, "Subscription.channel.endpoint", "leave out"),
        ({"channel": {"type": "message", "header": ["A: b"]}}, "Subscription.channel.header", "leave out"),
        ({"channel": {"type": "message", "payload": "application/fhir+xml"}}, "Subscription.channel.payload", "json"),
        (
            {"channel": {"type": "message", "extension": [{"url": "x", "valueUnsignedInt": 60}]}},
            "Subscription.channel.extension[0]",
            "heartbeats",
        ),
        (
            {
                "channel": {
                    "type": "message",
                    "_payload": {"extension": [{"url": PAYLOAD_CONTENT, "valueCode": "id-only"}]},
                }
            },
            "Subscription.channel.payload.extension[0]",
            "full-resource only",
        ),
    ],
)
def test_a_resource_the_hub_would_not_honour_is_refused_naming_the_element(
    change: dict[str, Any], expression: str, words: str
) -> None:
    found = parse_refusal(resource(**change))
    assert (found.status, found.expression) == (400, expression)
    assert words in found.diagnostics


def test_an_unknown_channel_is_refused_saying_which_the_hub_offers() -> None:
    found = parse_refusal(resource(channel={"type": "email", "endpoint": "mailto:a@example.org"}))
    assert "channel 'message'" in found.diagnostics and "'rest-hook'" in found.diagnostics


def test_a_rest_hook_channel_is_read_with_its_endpoint_headers_heartbeat_timeout_and_content() -> None:
    channel = {
        "type": "rest-hook",
        "endpoint": "https://kommune.example.org/fhir/notify",
        "header": ["Authorization:  Bearer abc", "X-Tenant: 101"],
        "payload": "application/fhir+json",
        "_payload": {"extension": [{"url": PAYLOAD_CONTENT, "valueCode": "full-resource"}]},
        "extension": [
            {"url": HEARTBEAT_PERIOD, "valueUnsignedInt": 60},
            {"url": TIMEOUT, "valueUnsignedInt": 20},
            {"url": MAX_COUNT, "valuePositiveInt": 5},
        ],
    }
    asked = parse(resource(channel=channel))
    assert asked.rest_hook == RestHook(
        "https://kommune.example.org/fhir/notify",
        ("Authorization: Bearer abc", "X-Tenant: 101"),
        NotificationContent.FULL_RESOURCE,
        heartbeat_seconds=60,
        timeout_seconds=20,
    )
    made = asked.subscription("s-1", created_by="kommune-101")
    assert (made.channel, made.rest_hook) == ("rest-hook", asked.rest_hook)
    shown = subscription_resource(made)["channel"]
    assert shown["type"] == "rest-hook" and shown["endpoint"] == channel["endpoint"]
    assert shown["header"] == ["Authorization: Bearer abc", "X-Tenant: 101"]
    assert {"url": HEARTBEAT_PERIOD, "valueUnsignedInt": 60} in shown["extension"]
    assert shown["_payload"]["extension"][0]["valueCode"] == "full-resource"


def test_a_rest_hook_without_payload_content_gets_id_only_and_one_in_error_says_so() -> None:
    asked = parse(resource(channel={"type": "rest-hook", "endpoint": "http://127.0.0.1:9/hook"}))
    assert asked.rest_hook is not None and asked.rest_hook.content is NotificationContent.ID_ONLY
    failed = replace(asked.subscription("s-2"), status=SubscriptionStatus.ERROR, error="handshake failed: HTTP 503")
    shown = subscription_resource(failed)
    assert (shown["status"], shown["error"]) == ("error", "handshake failed: HTTP 503")


@pytest.mark.parametrize(
    ("filters", "expression", "words"),
    [
        (["Patient?municipality-code=101"], "Subscription.criteria.extension[0]", "not Bundle?<parameter>"),
        (["Bundle"], "Subscription.criteria.extension[0]", "not Bundle?<parameter>"),
        (["Bundle?municipality-code=101", "Bundle?colour=red"], "Subscription.criteria.extension[1]", "'colour'"),
        (["Bundle?municipality-code="], "Subscription.criteria.extension[0]", "has no value"),
        (["Bundle?sender=a", "Bundle?sender=b"], "Subscription.criteria.extension[1]", "given twice"),
        (["Bundle?activity=urn:x|admit-inpatient"], "Subscription.criteria.extension[0]", "activity codes are of"),
        (["Bundle?activity=a,"], "Subscription.criteria.extension[0]", "empty code"),
    ],
)
def test_a_filter_the_topic_does_not_have_is_refused_naming_its_extension(
    filters: list[str], expression: str, words: str
) -> None:
    found = parse_refusal(resource(*filters))
    assert (found.status, found.expression) == (400, expression)
    assert words in found.diagnostics


def test_an_extension_that_is_no_filter_criteria_is_refused() -> None:
    body = resource(_criteria={"extension": [{"url": "https://example.org/x", "valueString": "Bundle?a=b"}]})
    assert parse_refusal(body).expression == "Subscription.criteria.extension[0].url"
    assert parse_refusal(resource(_criteria={"extension": [{"url": FILTER_CRITERIA}]})).expression == (
        "Subscription.criteria.extension[0].valueString"
    )
    assert parse_refusal(resource(_criteria=[])).expression == "Subscription._criteria"


# --- the hub's own checks, named in the resource ----------------------------------------------------------


def test_outside_the_policy_is_a_business_rule_naming_the_filter_extension() -> None:
    found = admit_refusal(resource("Bundle?activity=admit-inpatient", "Bundle?municipality-code=163"))
    assert (found.status, found.code, found.expression) == (400, "business-rule", "Subscription.criteria.extension[1]")
    assert found.diagnostics.startswith("outside the subscription policy: breaks rule municipality-of-residence")
    assert "filter municipality-code must be 101" in found.diagnostics


def test_a_required_filter_left_out_names_the_criteria() -> None:
    found = admit_refusal(resource())
    assert (found.code, found.expression) == ("business-rule", "Subscription.criteria")
    assert "filter municipality-code = " in found.diagnostics


def test_a_topic_outside_the_policy_names_the_criteria() -> None:
    found = admit_refusal(resource(criteria=f"{TOPIC_BASE}{CC}"))
    assert (found.code, found.expression) == ("business-rule", "Subscription.criteria")


def test_the_three_nonsense_kinds_are_refused_naming_the_element() -> None:
    closed = admit_refusal(resource("Bundle?gp-list=self"), caller="gp-only-acks")
    assert (closed.code, closed.expression) == ("invalid", "Subscription.criteria")
    assert "gp-only-acks does not accept hospital-notification-message" in closed.diagnostics
    named = admit_refusal(resource("Bundle?gp-list=self", extension=subscriber("gp-only-acks")), caller=None)
    assert named.expression == "Subscription.extension[0]"

    activity = admit_refusal(resource("Bundle?municipality-code=101", "Bundle?activity=new-message"))
    assert activity.expression == "Subscription.criteria.extension[1]"
    assert "'new-message' is not a MedCom activity code of hospital-notification-message" in activity.diagnostics

    criteria = admit_refusal(resource("Bundle?municipality-code=101", "Bundle?criteria=Bundle.timestamp > 5"))
    assert criteria.expression == "Subscription.criteria.extension[1]"
    assert criteria.diagnostics.startswith("fails on the trial message hospital-notification-message/")


def test_a_gp_list_not_in_the_register_is_not_found() -> None:
    found = admit_refusal(resource("Bundle?gp-list=nowhere"), caller="gp-x")
    assert (found.code, found.expression) == ("not-found", "Subscription.criteria.extension[0]")


def test_a_resource_the_parser_was_never_given_is_refused_as_a_whole() -> None:
    assert refusal(SubscriptionError("id", "bad")).expression == "Subscription"
    assert parse_refusal(copy.deepcopy([resource()])).expression == "Subscription"

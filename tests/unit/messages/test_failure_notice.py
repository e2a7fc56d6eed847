"""Failure notices: what the sender is told when a receiver did not, or will not, get its message (MedCom code and
detail code, the receiver named), once per receiver and message, never for an acknowledgement or a hub message,
and valid for the hub's own validator against MedCom's acknowledgement profile."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from hub.domain import medcom
from hub.domain.message import Destination, MessageFacts, OrganisationRef, read_facts
from hub.domain.outcome import error
from hub.domain.tracking import Step
from hub.messages.acknowledgement import CodedIssue, build_acknowledgement
from hub.messages.failure_notice import (
    HUB_SENDER,
    FailedDelivery,
    FailureKind,
    FailureNotice,
    failure_notice,
    routing_failure,
)
from hub.route.register import Register, parse_register
from hub.validate.validator import Validator

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
HOSPITAL_SOR, GP_SOR = "265161000016000", "484111000016003"
VERSIONED_GP_SOR = "484121000016006"


@pytest.fixture(scope="module")
def register() -> Register:
    def org(org_id: str, name: str, sor: str, gln: str, accepts: list[str]) -> dict[str, Any]:
        return {
            "id": org_id,
            "name": name,
            "kind": "gp",
            "sor": sor,
            "gln": gln,
            "endpoint": {"kind": "http", "url": f"http://127.0.0.1:9/{org_id}"},
            "accepts": accepts,
        }

    return parse_register(
        {
            "hub": {"name": "Sektor-hub", "sor": "881531000016009", "gln": "5790000583508"},
            "organisations": [
                org(
                    "herlev-hjerte",
                    "Hjerteafdelingen, Herlev",
                    HOSPITAL_SOR,
                    "5790000209354",
                    ["acknowledgement-message"],
                ),
                org(
                    "laegehuset",
                    "Lægehuset i Byen",
                    GP_SOR,
                    "5790000484119",
                    ["hospital-notification-message", "acknowledgement-message"],
                ),
                org(
                    "laegehuset-5-0",
                    "Lægehuset der tager CareCommunication 5.0",
                    VERSIONED_GP_SOR,
                    "5790000484126",
                    ["care-communication-message|5.0", "acknowledgement-message"],
                ),
            ],
        },
        source="test",
    )


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator()


def failed(kind: FailureKind = FailureKind.REFUSED, **changes: Any) -> FailedDelivery:
    fields: dict[str, Any] = {
        "tracking_id": "0195f1c2-7a00-7000-8000-000000000001",
        "message_id": "8f7e0a43-3a6b-4f0e-8d43-2b1cbe6a9d10",
        "event": "hospital-notification-message",
        "sender_id": "herlev-hjerte",
        "receiver_id": "laegehuset",
        "kind": kind,
        "reason": "HTTP 400",
    }
    return FailedDelivery(**(fields | changes))


def notice_of(register: Register, delivery: FailedDelivery, now: datetime = NOW) -> FailureNotice:
    notice = failure_notice(delivery, register, now=now)
    assert notice is not None
    return notice


def outcome_issue(notice: FailureNotice) -> dict[str, Any]:
    bundle = orjson.loads(notice.outbox.raw)
    (outcome,) = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "OperationOutcome"]
    (issue,) = outcome["issue"]
    assert isinstance(issue, dict)
    return issue


@pytest.mark.parametrize(
    ("kind", "code", "detail_code"),
    [
        (FailureKind.REFUSED, "fatal-error", "MSG_RECEIVER_UNABLE_TO_RECEIVE_MSG_TYPE"),
        (FailureKind.EVENT_NOT_ACCEPTED, "fatal-error", "MSG_RECEIVER_UNABLE_TO_RECEIVE_MSG_TYPE"),
        (FailureKind.VERSION_NOT_ACCEPTED, "fatal-error", "MSG_RECEIVER_UNABLE_TO_RECEIVE_MSG_TYPE"),
        (FailureKind.RECEIVER_UNKNOWN, "fatal-error", "MSG_Receiver_Identifier_UNKNOWN"),
        (FailureKind.RECEIVER_MISSING, "fatal-error", "MSG_Receiver_Identifier_MISSING"),
        (FailureKind.OUT_OF_OPERATION, "transient-error", "MSG_Mailbox_Out_Of_Operation"),
        (FailureKind.UNDELIVERABLE, "transient-error", "MSG_Mailbox_Out_Of_Operation"),
        (FailureKind.TRANSIENT_UNRESOLVED, "transient-error", "MSG_Mailbox_Out_Of_Operation"),
    ],
)
def test_each_failure_gets_its_medcom_code_and_detail_code(
    register: Register, kind: FailureKind, code: str, detail_code: str
) -> None:
    notice = notice_of(register, failed(kind))
    facts = read_facts(orjson.loads(notice.outbox.raw))
    assert facts.is_acknowledgement and facts.response is not None
    assert (facts.response.code, facts.response.identifier) == (code, failed().message_id)
    assert facts.sender is not None and facts.sender.sor == "881531000016009"  # the hub says it
    assert [d.organisation.sor for d in facts.destinations if d.organisation] == [HOSPITAL_SOR]
    assert (notice.code, notice.detail_code) == (code, detail_code)
    (coding,) = outcome_issue(notice)["details"]["coding"]
    assert coding["system"] == "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-acknowledgement-error-codes"
    assert coding["code"] == detail_code
    assert coding["display"]


def test_the_receiver_is_named_by_its_register_name_and_sor_code(register: Register) -> None:
    issue = outcome_issue(notice_of(register, failed(FailureKind.OUT_OF_OPERATION, reason="not delivered in 7 d")))
    assert (
        issue["details"]["text"] == "The mailbox is temporary out of operation: Lægehuset i Byen (SOR 484111000016003)"
    )
    assert issue["diagnostics"].startswith("Lægehuset i Byen (SOR 484111000016003): not delivered in 7 d")
    assert (issue["severity"], issue["code"]) == ("error", "transient")


def test_a_receiver_gone_from_the_register_is_named_as_far_as_it_is_known(register: Register) -> None:
    issue = outcome_issue(notice_of(register, failed(FailureKind.RECEIVER_UNKNOWN, receiver_id="kommune-lukket")))
    assert "kommune-lukket" in issue["details"]["text"]
    by_sor = failed(FailureKind.RECEIVER_UNKNOWN, receiver_id="sor:111111111111111", receiver_sor="111111111111111")
    assert "SOR code 111111111111111" in outcome_issue(notice_of(register, by_sor))["details"]["text"]


def test_the_notice_goes_to_the_sender_from_the_hub_and_is_tracked_like_the_hubs_answers(register: Register) -> None:
    notice = notice_of(register, failed())
    item = notice.outbox
    assert (item.receiver_id, item.sender_id, item.event) == ("herlev-hjerte", HUB_SENDER, medcom.ACKNOWLEDGEMENT_EVENT)
    assert item.message_id == notice.message_id == read_facts(orjson.loads(item.raw)).message_id
    assert item.patient_key == failed().message_id  # notices about one message stay in order; no patient in them
    received, routed, notified = notice.events
    assert [(e.step, e.tracking_id) for e in (received, routed)] == [
        (Step.RECEIVED, item.tracking_id),
        (Step.ROUTED, item.tracking_id),
    ]
    assert received.detail["answers_tracking_id"] == failed().tracking_id
    assert routed.detail["receivers"][0]["receiver"] == "herlev-hjerte"
    # the original's timeline says who was told what, about which receiver
    assert (notified.step, notified.tracking_id, notified.receiver) == (
        Step.SENDER_NOTIFIED,
        failed().tracking_id,
        "laegehuset",
    )
    assert notified.detail == {
        "code": "fatal-error",
        "detail_code": "MSG_RECEIVER_UNABLE_TO_RECEIVE_MSG_TYPE",
        "acknowledgement_message_id": notice.message_id,
        "receiver": "laegehuset",
    }
    assert notified.patient is None


def test_the_same_failure_makes_the_same_notice_and_another_receiver_or_kind_another(register: Register) -> None:
    first = notice_of(register, failed())
    redo = notice_of(register, failed(reason="HTTP 400 again"), now=NOW + timedelta(minutes=5))
    assert redo.message_id == first.message_id
    assert redo.outbox.tracking_id == first.outbox.tracking_id
    assert [e.id for e in redo.events] == [e.id for e in first.events]  # recorded once
    others = {
        notice_of(register, failed(receiver_id="sor:111111111111111")).message_id,
        notice_of(register, failed(FailureKind.OUT_OF_OPERATION)).message_id,
        notice_of(register, failed(tracking_id="0195f1c2-7a00-7000-8000-000000000002")).message_id,
    }
    assert first.message_id not in others and len(others) == 3


@pytest.mark.parametrize(
    "delivery",
    [
        failed(event="acknowledgement-message"),  # acknowledgements are never acknowledged
        failed(sender_id=HUB_SENDER, event="acknowledgement-message"),  # a hub answer or notice: no loop
        failed(sender_id=HUB_SENDER),
        failed(sender_id="sor:999999999999999"),  # a sender nobody can answer
    ],
)
def test_no_notice_for_acknowledgements_hub_messages_or_unknown_senders(
    register: Register, delivery: FailedDelivery
) -> None:
    assert failure_notice(delivery, register, now=NOW) is None


@pytest.mark.parametrize("kind", list(FailureKind))
def test_every_notice_passes_the_hubs_own_validator_against_the_medcom_acknowledgement_profile(
    register: Register, validator: Validator, kind: FailureKind
) -> None:
    verdict = validator.validate(notice_of(register, failed(kind)).outbox.raw)
    assert verdict.valid, [issue.as_dict() for issue in verdict.issues]
    assert verdict.issues == ()  # not even a warning: the detail code is in MedCom's ValueSet


def test_the_validator_checks_the_detail_code_binding(validator: Validator) -> None:
    """The check above can fail: a code outside medcom-acknowledgement-issue-details is reported at the element
    (as a warning only: hub.validate.profiles.DOWNGRADED, for MedCom's own TestScript fixtures)."""
    hub = OrganisationRef(sor="881531000016009", gln="5790000583508", name="Sektor-hub")
    hospital = OrganisationRef(sor=HOSPITAL_SOR, gln="5790000209354", name="Herlev")
    original = MessageFacts(bundle_id=None, message_id=failed().message_id, event=None, sender=None)
    wrong = CodedIssue(error("processing", None, "refused"), detail_code="MSG_NOT_A_MEDCOM_CODE", text="refused")
    raw = orjson.dumps(
        build_acknowledgement(
            original=original, responder=hub, recipient=hospital, code="fatal-error", issues=[wrong], now=NOW
        )
    )
    verdict = validator.validate(raw)
    assert any("details.coding" in (i.expression or "") for i in verdict.issues), verdict.issues


def _facts(*destinations: Destination) -> MessageFacts:
    return MessageFacts(
        bundle_id="b", message_id="m", event="care-communication-message", sender=None, destinations=destinations
    )


def test_a_routing_failure_is_read_back_to_its_destination(register: Register) -> None:
    known = Destination("primary", OrganisationRef(sor=GP_SOR), "Bundle.entry[0].resource.destination[0]")
    unknown = Destination("cc", OrganisationRef(sor="111111111111111"), "Bundle.entry[0].resource.destination[1]")
    nameless = Destination("cc", None, "Bundle.entry[0].resource.destination[2]")
    facts = _facts(known, unknown, nameless)

    def kind_of(destination: Destination, code: str) -> tuple[FailureKind, str, str | None]:
        return routing_failure(error(code, f"{destination.expression}.receiver", "..."), facts, register)

    assert kind_of(known, "not-supported") == (FailureKind.EVENT_NOT_ACCEPTED, "laegehuset", GP_SOR)
    assert kind_of(unknown, "not-found") == (
        FailureKind.RECEIVER_UNKNOWN,
        "sor:111111111111111",
        "111111111111111",
    )
    assert kind_of(nameless, "not-found")[0] is FailureKind.RECEIVER_MISSING


def test_a_version_the_receiver_does_not_take_is_read_back_as_version_not_accepted(register: Register) -> None:
    """The router refuses a receiver it knows for the event or for the event's version: the version refusal is a
    kind of its own (its own text), with the same MedCom code as a message type not accepted."""
    versioned = Destination("primary", OrganisationRef(sor=VERSIONED_GP_SOR), "Bundle.entry[0].resource.destination[0]")
    issue = error("not-supported", f"{versioned.expression}.receiver", "...")
    definition = f"{medcom.MESSAGE_DEFINITIONS}MedComCareCommunicationMessageDefinition"

    def kind_of(event: str, definition: str | None) -> FailureKind:
        facts = MessageFacts(
            bundle_id="b", message_id="m", event=event, sender=None, destinations=(versioned,), definition=definition
        )
        return routing_failure(issue, facts, register)[0]

    assert kind_of("care-communication-message", f"{definition}|5.1") is FailureKind.VERSION_NOT_ACCEPTED
    assert kind_of("care-communication-message", None) is FailureKind.VERSION_NOT_ACCEPTED  # names no version
    assert kind_of("hospital-notification-message", f"{definition}|5.0") is FailureKind.EVENT_NOT_ACCEPTED
    notice = notice_of(register, failed(FailureKind.VERSION_NOT_ACCEPTED, receiver_id="laegehuset-5-0"))
    issue_sent = outcome_issue(notice)
    assert [c["code"] for c in issue_sent["details"]["coding"]] == [medcom.RECEIVER_UNABLE_TO_RECEIVE_MESSAGE_TYPE]
    assert issue_sent["details"]["text"].endswith(f"(SOR {VERSIONED_GP_SOR})")
    assert "same version" in issue_sent["diagnostics"]

"""The hub's refusals as MedCom acknowledgements: per kind of refusal the response code and the MedCom
issue-details code (or none, where none fits), every code one of MedCom's shipped CodeSystem, and every
acknowledgement built from the table valid against MedCom's acknowledgement profile."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from hub.domain import medcom
from hub.domain.message import MessageFacts, OrganisationRef
from hub.domain.outcome import Issue, Severity, error
from hub.messages.acknowledgement import (
    REFUSALS,
    Refusal,
    build_acknowledgement,
    refusal_issue,
    rejection_issues,
    rejection_refusal,
)
from hub.settings import SCHEMAS_DIR
from hub.validate.validator import Validator

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
HUB = OrganisationRef(sor="881531000016009", gln="5790000583508", name="Sektor-hub")
HOSPITAL = OrganisationRef(sor="265161000016000", gln="5790000209354", name="Hjerteafdelingen, Herlev")
ORIGINAL = MessageFacts(
    bundle_id=None, message_id="8f7e0a43-3a6b-4f0e-8d43-2b1cbe6a9d10", event="care-communication-message", sender=None
)
CODE_SYSTEM = SCHEMAS_DIR / "medcom" / "CodeSystem-medcom-acknowledgement-error-codes.json"


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator()


def shipped_displays() -> dict[str, str]:
    """code -> display of the shipped medcom-acknowledgement-error-codes."""
    document = orjson.loads(CODE_SYSTEM.read_bytes())
    assert document["url"] == medcom.ACKNOWLEDGEMENT_ERROR_CODE_SYSTEM
    return {c["code"]: c["display"] for c in document["concept"]}


def acknowledgement(refusal: Refusal, issue: Issue | None = None) -> dict[str, Any]:
    answer = REFUSALS[refusal]
    issue = issue or error(answer.issue_code, None, "what happened, in the hub's words")
    return build_acknowledgement(
        original=ORIGINAL,
        responder=HUB,
        recipient=HOSPITAL,
        code=answer.response_code,
        issues=[refusal_issue(refusal, issue)],
        now=NOW,
    )


def outcome_issues(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    (outcome,) = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "OperationOutcome"]
    issues: list[dict[str, Any]] = outcome["issue"]
    return issues


@pytest.mark.parametrize(
    ("refusal", "response_code", "detail_code"),
    [
        (Refusal.INVALID, "fatal-error", None),
        (Refusal.INVALID_CODE, "fatal-error", "MSG_VALUESET_VALUE_UNKNOWN"),
        (Refusal.SENDER_UNKNOWN, "fatal-error", None),
        (Refusal.RECEIVER_UNKNOWN, "fatal-error", "MSG_Receiver_Identifier_UNKNOWN"),
        (Refusal.RECEIVER_MISSING, "fatal-error", "MSG_Receiver_Identifier_MISSING"),
        (Refusal.MESSAGE_TYPE_NOT_ACCEPTED, "fatal-error", "MSG_RECEIVER_UNABLE_TO_RECEIVE_MSG_TYPE"),
        (Refusal.MESSAGE_VERSION_NOT_ACCEPTED, "fatal-error", "MSG_RECEIVER_UNABLE_TO_RECEIVE_MSG_TYPE"),
        (Refusal.DUPLICATE, "fatal-error", None),
        (Refusal.TOO_LARGE, "fatal-error", None),
        (Refusal.RECEIVER_REFUSED, "fatal-error", "MSG_RECEIVER_UNABLE_TO_RECEIVE_MSG_TYPE"),
        (Refusal.RECEIVER_UNREACHABLE, "transient-error", "MSG_Mailbox_Out_Of_Operation"),
        (Refusal.UNDELIVERABLE, "transient-error", "MSG_Mailbox_Out_Of_Operation"),
        (Refusal.ACKNOWLEDGEMENT_TIMEOUT, "transient-error", "MSG_Mailbox_Out_Of_Operation"),
        (Refusal.OTHER, "fatal-error", None),
    ],
)
def test_each_refusal_has_its_response_code_and_medcom_detail_code(
    refusal: Refusal, response_code: str, detail_code: str | None
) -> None:
    answer = REFUSALS[refusal]
    assert (answer.response_code, answer.detail_code) == (response_code, detail_code)
    header = acknowledgement(refusal)["entry"][0]["resource"]
    assert header["response"]["code"] == response_code
    (issue,) = outcome_issues(acknowledgement(refusal))
    if detail_code is None:
        assert issue["details"] == {"text": answer.text}  # only the FHIR issue type, no coding
    else:
        assert issue["details"]["coding"] == [
            {
                "system": "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-acknowledgement-error-codes",
                "code": detail_code,
                "display": shipped_displays()[detail_code],
            }
        ]
        assert issue["details"]["text"] == shipped_displays()[detail_code]
    assert issue["diagnostics"] == "what happened, in the hub's words"


def test_every_refusal_is_in_the_table() -> None:
    assert set(REFUSALS) == set(Refusal)
    assert {a.response_code for a in REFUSALS.values()} == {"fatal-error", "transient-error"}
    assert all(a.text for a in REFUSALS.values())


def test_every_detail_code_used_is_in_the_shipped_codesystem_with_its_display() -> None:
    displays = shipped_displays()
    used = {a.detail_code for a in REFUSALS.values() if a.detail_code is not None}
    assert used <= set(displays)
    for code in used:
        assert medcom.ACKNOWLEDGEMENT_ERROR_DISPLAYS[code] == displays[code]


@pytest.mark.parametrize("refusal", list(Refusal))
def test_every_refusal_acknowledgement_passes_the_hubs_own_validator(validator: Validator, refusal: Refusal) -> None:
    verdict = validator.validate(orjson.dumps(acknowledgement(refusal)))
    assert verdict.valid, [issue.as_dict() for issue in verdict.issues]
    assert verdict.issues == ()  # not even a warning: every coding is in MedCom's ValueSet


@pytest.mark.parametrize(
    ("issue_code", "refusal"),
    [
        ("code-invalid", Refusal.INVALID_CODE),
        ("too-costly", Refusal.TOO_LARGE),
        ("duplicate", Refusal.DUPLICATE),
        ("exception", Refusal.OTHER),
        ("required", Refusal.INVALID),
        ("structure", Refusal.INVALID),
        ("value", Refusal.INVALID),
        ("security", Refusal.INVALID),  # the validator's security issues are about content, not the sender
    ],
)
def test_a_rejected_messages_issue_is_a_refusal_by_its_fhir_issue_type(issue_code: str, refusal: Refusal) -> None:
    assert rejection_refusal(error(issue_code, "Bundle.x", "wrong")) is refusal


def test_rejection_issues_code_the_errors_keep_the_warnings_and_take_the_pipelines_decisions() -> None:
    bad_code = error("code-invalid", "Bundle.entry[0].resource.eventCoding.code", "unknown event code 'x'")
    missing = error("required", "Bundle.timestamp", "Bundle.timestamp is missing")
    warning = Issue(Severity.WARNING, "code-invalid", None, "odd but fine")
    posing = error("security", "Bundle.entry[0].resource.sender", "the sender is another organisation")
    coded = rejection_issues([bad_code, missing, warning, posing], refusals={3: Refusal.SENDER_UNKNOWN})
    bundle = build_acknowledgement(
        original=ORIGINAL, responder=HUB, recipient=HOSPITAL, code="fatal-error", issues=coded, now=NOW
    )
    first, second, third, fourth = outcome_issues(bundle)
    assert [c["code"] for c in first["details"]["coding"]] == ["MSG_VALUESET_VALUE_UNKNOWN"]
    assert (first["code"], first["diagnostics"]) == ("code-invalid", "unknown event code 'x'")
    assert second["details"] == {"text": REFUSALS[Refusal.INVALID].text}
    assert second["code"] == "required"  # the validator's own issue type is kept
    assert "details" not in third
    assert fourth["details"] == {"text": REFUSALS[Refusal.SENDER_UNKNOWN].text}


def test_no_cpr_number_in_the_details_or_diagnostics(validator: Validator) -> None:
    quoting = error("code-invalid", "Bundle.entry[1].resource.identifier", "the value '2509479989' is not allowed")
    raw = orjson.dumps(acknowledgement(Refusal.INVALID_CODE, quoting))
    assert b"2509479989" not in raw
    assert validator.validate(raw).valid

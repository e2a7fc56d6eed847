"""The fatal-error acknowledgements the plan sends carry MedCom's issue-details code where one fits (and a readable
details.text always), and pass the hub's own validator against MedCom's acknowledgement profile."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from hub.broker.records import IngressRecord
from hub.domain.message import read_facts
from hub.messages.acknowledgement import REFUSALS, Refusal
from hub.pipeline.plan import Plan, plan
from hub.route.register import Register, parse_register
from hub.validate.validator import Validator

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
HOSPITAL_SOR, MUNICIPALITY_SOR = "265161000016000", "953741000016009"
SYSTEM = "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-acknowledgement-error-codes"


@pytest.fixture(scope="module")
def register() -> Register:
    """The organisations of MedCom's examples, with their GLNs (which MedCom's Organization profile wants)."""

    def org(org_id: str, sor: str, gln: str, accepts: list[str]) -> dict[str, Any]:
        return {
            "id": org_id,
            "name": org_id,
            "kind": "municipality",
            "sor": sor,
            "gln": gln,
            "endpoint": {"kind": "mailbox"},
            "accepts": accepts,
        }

    return parse_register(
        {
            "hub": {"name": "Sektor-hub", "sor": "881531000016009", "gln": "5790000583508"},
            "organisations": [
                org("hospital", HOSPITAL_SOR, "5790000209354", ["acknowledgement-message"]),
                org(
                    "municipality",
                    MUNICIPALITY_SOR,
                    "5790001348120",
                    ["hospital-notification-message", "acknowledgement-message"],
                ),
            ],
        },
        source="test",
    )


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator()


def stin(example_paths: list[Path]) -> dict[str, Any]:
    """MedCom's STIN example, from the hospital to the municipality."""
    bundle: dict[str, Any] = orjson.loads(next(p for p in example_paths if "a5e5b880" in p.name).read_bytes())
    return bundle


def resource(bundle: dict[str, Any], resource_type: str) -> dict[str, Any]:
    found: dict[str, Any] = next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type
    )
    return found


def planned(bundle: dict[str, Any], register: Register, validator: Validator, sender: str = HOSPITAL_SOR) -> Plan:
    raw = orjson.dumps(bundle)
    record = IngressRecord(tracking_id="t-1", sender_sor=sender, received_at=NOW.isoformat(), connector="http", raw=raw)
    return plan(record, validator.validate(raw), register, now=NOW)


def answer_issues(result: Plan, validator: Validator) -> list[dict[str, Any]]:
    """The OperationOutcome issues of the plan's one answer, a fatal-error acknowledgement that the validator
    accepts without a single issue."""
    (answer,) = result.outbox
    verdict = validator.validate(answer.raw)
    assert verdict.issues == (), [i.as_dict() for i in verdict.issues]
    bundle = orjson.loads(answer.raw)
    facts = read_facts(bundle)
    assert facts.response is not None and facts.response.code == "fatal-error"
    issues: list[dict[str, Any]] = resource(bundle, "OperationOutcome")["issue"]
    return issues


def test_a_code_outside_its_valueset_is_answered_with_msg_valueset_value_unknown(
    example_paths: list[Path], register: Register, validator: Validator
) -> None:
    bundle = stin(example_paths)
    resource(bundle, "Encounter")["status"] = "bogus"
    (issue,) = answer_issues(planned(bundle, register, validator), validator)
    assert issue["code"] == "code-invalid"
    assert issue["details"]["coding"] == [
        {"system": SYSTEM, "code": "MSG_VALUESET_VALUE_UNKNOWN", "display": "The value provided is not in the valueSet"}
    ]
    assert issue["details"]["text"] == "The value provided is not in the valueSet"
    assert "bogus" in issue["diagnostics"]


def test_other_validation_errors_get_a_text_and_their_fhir_issue_type_only(
    example_paths: list[Path], register: Register, validator: Validator
) -> None:
    bundle = stin(example_paths)
    bundle["type"] = "batch"
    issues = answer_issues(planned(bundle, register, validator), validator)
    on_type = next(i for i in issues if i.get("expression") == ["Bundle.type"])
    assert on_type["code"] == "value"
    assert on_type["details"] == {"text": REFUSALS[Refusal.INVALID].text}  # no MedCom code fits
    assert all(i["details"]["text"] for i in issues if i["severity"] in ("error", "fatal"))


def test_a_sender_posing_as_another_organisation_is_told_so_without_a_medcom_code(
    example_paths: list[Path], register: Register, validator: Validator
) -> None:
    result = planned(stin(example_paths), register, validator, sender=MUNICIPALITY_SOR)
    (answer,) = result.outbox
    assert answer.receiver_id == "municipality"
    issues = answer_issues(result, validator)
    assert issues[-1]["code"] == "security"
    assert issues[-1]["details"] == {"text": REFUSALS[Refusal.SENDER_UNKNOWN].text}


def test_an_unknown_receiver_is_answered_with_msg_receiver_identifier_unknown(
    example_paths: list[Path], register: Register, validator: Validator
) -> None:
    bundle = stin(example_paths)
    header = resource(bundle, "MessageHeader")
    receiver_id = header["destination"][0]["receiver"]["reference"].split("/")[1]
    receiver = next(e["resource"] for e in bundle["entry"] if e["resource"]["id"] == receiver_id)
    for identifier in receiver["identifier"]:
        if identifier["system"] == "urn:oid:1.2.208.176.1.1":
            identifier["value"] = "999999999999999"
    (issue,) = answer_issues(planned(bundle, register, validator), validator)
    assert issue["code"] == "not-found"
    assert issue["details"]["coding"] == [
        {"system": SYSTEM, "code": "MSG_Receiver_Identifier_UNKNOWN", "display": "Receiver identifier unknown"}
    ]
    assert "999999999999999" in issue["details"]["text"]


def test_unreadable_bytes_are_answered_with_a_text_and_validate(register: Register, validator: Validator) -> None:
    record = IngressRecord(
        tracking_id="t-1", sender_sor=HOSPITAL_SOR, received_at=NOW.isoformat(), connector="http", raw=b"{"
    )
    result = plan(record, validator.validate(b"{"), register, now=NOW)
    (issue,) = answer_issues(result, validator)
    assert issue["details"] == {"text": REFUSALS[Refusal.INVALID].text}

"""Acknowledgements built by the hub: MedCom structure, the facts the hub reads back, determinism."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from fhir.resources.R4B.bundle import Bundle

from hub.domain import medcom
from hub.domain.message import BundleIndex, MessageFacts, OrganisationRef, read_facts
from hub.domain.outcome import Issue, Severity, error
from hub.messages import builder
from hub.messages.acknowledgement import build_acknowledgement
from hub.simulate import MessageGenerator

NOW = datetime(2025, 3, 4, 10, 15, 30, tzinfo=timezone(timedelta(hours=1)))
HOSPITAL = OrganisationRef(sor="232351000016000", gln="5790000282562", name="Herlev og Gentofte Hospital")
MUNICIPALITY = OrganisationRef(sor="355461000016000", gln="5790000535361", name="Aarhus Kommune")
ORIGINAL = MessageFacts(
    bundle_id="0c5bd1e4-0bd6-4d4e-9a55-5b1f1f6f1f4e",
    message_id="8f7e0a43-3a6b-4f0e-8d43-2b1cbe6a9d10",
    event="hospital-notification-message",
    sender=HOSPITAL,
)


def _ack(code: str = "ok", **kwargs: Any) -> dict[str, Any]:
    return build_acknowledgement(
        original=ORIGINAL, responder=MUNICIPALITY, recipient=HOSPITAL, code=code, now=NOW, **kwargs
    )


def _resources(bundle: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type]


def _references(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every (path, reference) in a JSON tree."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                yield path, value
            else:
                yield from _references(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _references(value, f"{path}[{i}]")


def _unresolved(bundle: dict[str, Any]) -> list[tuple[str, str]]:
    index = BundleIndex(bundle)
    return [(p, ref) for p, ref in _references(bundle) if index.resolve({"reference": ref}) is None]


@pytest.mark.parametrize("code", ["ok", "transient-error", "fatal-error"])
def test_acknowledgement_parses_as_fhir_and_reads_back(code: str) -> None:
    ack = _ack(code)
    Bundle.model_validate(ack)
    facts = read_facts(ack)
    assert facts.is_acknowledgement
    assert facts.response is not None
    assert facts.response.identifier == ORIGINAL.message_id
    assert facts.response.code == code
    assert facts.sender == MUNICIPALITY
    assert [(d.use, d.organisation) for d in facts.destinations] == [("primary", HOSPITAL)]
    assert facts.patient_cpr is None
    assert facts.activity == "acknowledgement"


def test_acknowledgement_has_the_medcom_shape() -> None:
    ack = _ack()
    assert ack["type"] == "message"
    assert ack["meta"]["profile"] == [medcom.ACKNOWLEDGEMENT_PROFILE]
    header = ack["entry"][0]["resource"]
    assert header["meta"]["profile"] == [medcom.ACKNOWLEDGEMENT_HEADER_PROFILE]
    assert header["eventCoding"] == {"system": medcom.EVENT_CODE_SYSTEM, "code": "acknowledgement-message"}
    assert header["source"]["endpoint"].endswith(MUNICIPALITY.sor or "")
    assert header["destination"][0]["endpoint"].endswith(HOSPITAL.sor or "")
    assert "details" not in header["response"]
    assert not _resources(ack, "OperationOutcome")
    assert not _resources(ack, "Patient")
    assert all("text" not in entry["resource"] for entry in ack["entry"])
    for entry in ack["entry"]:
        resource = entry["resource"]
        assert entry["fullUrl"] == f"{builder.BASE_URL}/{resource['resourceType']}/{resource['id']}"
    for organisation in _resources(ack, "Organization"):
        assert organisation["meta"]["profile"] == [medcom.MESSAGING_ORGANIZATION_PROFILE]
        assert {i["system"] for i in organisation["identifier"]} == {medcom.SOR_SYSTEM, medcom.GLN_SYSTEM}


def test_provenance_answers_the_original_message() -> None:
    ack = _ack()
    header = ack["entry"][0]["resource"]
    [provenance] = _resources(ack, "Provenance")
    assert provenance["meta"]["profile"] == [medcom.MESSAGING_PROVENANCE_PROFILE]
    assert provenance["target"] == [{"reference": f"MessageHeader/{header['id']}"}]
    assert provenance["activity"]["coding"] == [{"system": medcom.ACTIVITY_CODE_SYSTEM, "code": "acknowledgement"}]
    assert provenance["agent"] == [{"who": header["sender"]}]
    assert provenance["entity"] == [{"role": "revision", "what": {"reference": f"MessageHeader/{ORIGINAL.message_id}"}}]
    assert provenance["occurredDateTime"] == provenance["recorded"] == "2025-03-04T10:15:30+01:00"


def test_every_reference_resolves_except_the_acknowledged_message() -> None:
    ack = _ack("fatal-error", issues=[error("required", "Bundle.entry[0]", "no MessageHeader")])
    # the acknowledged message is named, as MedCom does, by a reference to a MessageHeader outside this Bundle
    assert _unresolved(ack) == [(".entry[4].resource.entity[0].what", f"MessageHeader/{ORIGINAL.message_id}")]


@pytest.mark.parametrize("code", ["transient-error", "fatal-error"])
def test_error_acknowledgement_carries_the_issues(code: str) -> None:
    issues = [
        error("required", "Bundle.entry[1].resource.identifier", "the patient has no CPR number"),
        Issue(Severity.WARNING, "value", None, "the timestamp is in the future"),
    ]
    ack = _ack(code, issues=issues)
    header = ack["entry"][0]["resource"]
    [outcome] = _resources(ack, "OperationOutcome")
    assert header["response"]["details"] == {"reference": f"OperationOutcome/{outcome['id']}"}
    assert outcome["meta"]["profile"] == [medcom.ACKNOWLEDGEMENT_OUTCOME_PROFILE]
    assert outcome["issue"] == [
        {
            "severity": "error",
            "code": "required",
            "diagnostics": "the patient has no CPR number",
            "expression": ["Bundle.entry[1].resource.identifier"],
        },
        {"severity": "warning", "code": "value", "diagnostics": "the timestamp is in the future"},
    ]


@pytest.mark.parametrize(("code", "issue_code"), [("transient-error", "transient"), ("fatal-error", "processing")])
def test_error_acknowledgement_without_issues_says_why_in_general(code: str, issue_code: str) -> None:
    [outcome] = _resources(_ack(code), "OperationOutcome")
    [issue] = outcome["issue"]
    assert issue["severity"] == "error"
    assert issue["code"] == issue_code
    assert issue["diagnostics"]


def test_ok_acknowledgement_ignores_issues() -> None:
    ack = _ack("ok", issues=[Issue(Severity.WARNING, "value", None, "odd but fine")])
    assert not _resources(ack, "OperationOutcome")


def test_ids_are_fresh_uuids_and_the_message_id_can_be_kept() -> None:
    first, second = _ack(), _ack()
    assert first["id"] != second["id"]
    assert first["entry"][0]["resource"]["id"] != second["entry"][0]["resource"]["id"]
    assert first["id"] != first["entry"][0]["resource"]["id"]

    kept = "3d8c2a6e-9f4b-4c1d-8e2a-7b6f5e4d3c2b"
    resend = _ack(message_id=kept)
    assert read_facts(resend).message_id == kept
    assert resend["id"] != kept


def test_seeded_ids_make_the_same_acknowledgement() -> None:
    def make() -> dict[str, Any]:
        return _ack("transient-error", new_id=builder.seeded_ids(random.Random(7)))

    assert make() == make()


def test_timestamps_carry_a_timezone() -> None:
    ack = build_acknowledgement(
        original=ORIGINAL,
        responder=MUNICIPALITY,
        recipient=HOSPITAL,
        code="ok",
        now=datetime(2025, 1, 1, tzinfo=UTC),
    )
    assert ack["timestamp"] == "2025-01-01T00:00:00+00:00"
    with pytest.raises(ValueError, match="timezone"):
        build_acknowledgement(
            original=ORIGINAL, responder=MUNICIPALITY, recipient=HOSPITAL, code="ok", now=datetime(2025, 1, 1)
        )


def test_refuses_unknown_codes_and_messages_without_id() -> None:
    with pytest.raises(ValueError, match=r"response\.code"):
        _ack("error")
    with pytest.raises(ValueError, match=r"MessageHeader\.id"):
        build_acknowledgement(
            original=MessageFacts(bundle_id="b", message_id=None, event="x", sender=HOSPITAL),
            responder=MUNICIPALITY,
            recipient=HOSPITAL,
            code="ok",
            now=NOW,
        )


def test_acknowledges_a_generated_message() -> None:
    notification = MessageGenerator(seed=3).hospital_notification(sender=HOSPITAL, receiver=MUNICIPALITY, now=NOW)
    original = read_facts(notification)
    assert original.sender is not None
    ack = build_acknowledgement(
        original=original, responder=MUNICIPALITY, recipient=original.sender, code="ok", now=NOW
    )
    Bundle.model_validate(ack)
    facts = read_facts(ack)
    assert facts.response is not None and facts.response.identifier == original.message_id
    assert facts.destinations[0].organisation == HOSPITAL


def test_a_fatal_error_acknowledgement_with_located_issues_passes_the_hubs_own_validator() -> None:
    """Issues carry their line and column as the standard OperationOutcome extensions; a peer validating the
    acknowledgement (another hub, or this one) must accept them."""
    from hub.validate.validator import Validator

    located = Issue(Severity.ERROR, "value", "Bundle.entry[0].resource.timestamp", "bad date", line=12, column=7)
    raw = orjson.dumps(_ack("fatal-error", issues=[located]))
    outcome = next(
        e["resource"] for e in orjson.loads(raw)["entry"] if e["resource"]["resourceType"] == "OperationOutcome"
    )
    assert {x["url"].rsplit("-", 1)[-1]: x["valueInteger"] for x in outcome["issue"][0]["extension"]} == {
        "line": 12,
        "col": 7,
    }
    verdict = Validator().validate(raw)
    assert verdict.valid, [issue.as_dict() for issue in verdict.issues]

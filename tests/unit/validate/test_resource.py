"""hub.validate.resource: any FHIR R4 resource against the R4 core structure or one known profile, on real files
of ../shared (official R4 examples, HL7 validator cases, MedCom examples)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from hub.domain.outcome import Issue
from hub.validate.resource import (
    R4_CORE,
    KnownProfile,
    ResourceValidator,
    UnknownProfile,
    find_profile,
    known_profiles,
    profile_lines,
)
from hub.validate.validator import Validator

SHARED = Path(__file__).resolve().parents[4] / "shared"
R4_EXAMPLES = SHARED / "fhir-test-cases" / "r4-examples"
HL7_CASES = SHARED / "fhir-test-cases" / "validator-r4" / "files"
DANISH = SHARED / "fhir-test-cases" / "messages" / "bundle-message-dk.json"
NOTIFICATION = (
    SHARED / "medcom" / "examples" / "hospitalnotification" / "Bundle-a5e5b880-c087-4055-b9ec-99108695f81d.json"
)
MEDCOM = "http://medcomfhir.dk/ig/"
CORE_PATIENT = MEDCOM + "core/StructureDefinition/medcom-core-patient"
MESSAGING_ORGANIZATION = MEDCOM + "messaging/StructureDefinition/medcom-messaging-organization"
NOTIFICATION_MESSAGE = MEDCOM + "hospitalnotification/StructureDefinition/medcom-hospitalNotification-message"


@pytest.fixture(scope="module")
def validator() -> ResourceValidator:
    return ResourceValidator()


def _against(validator: ResourceValidator, url: str | None, raw: bytes) -> tuple[bool, list[Issue]]:
    checking = ResourceValidator(rules=validator.rules, profile=find_profile(validator.rules, url) if url else None)
    verdict = checking.validate(raw)
    return verdict.valid, list(verdict.issues)


def _errors(issues: list[Issue]) -> list[tuple[str | None, str]]:
    return [(issue.expression, issue.code) for issue in issues if issue.is_error]


def _entry(path: Path, resource_type: str) -> dict[str, Any]:
    bundle = orjson.loads(path.read_bytes())
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type)


def _pretty(document: Any) -> bytes:
    return orjson.dumps(document, option=orjson.OPT_INDENT_2)


# --- the profiles the hub knows -----------------------------------------------------------------------------


def test_every_compiled_resource_profile_and_every_r4_resource_type_is_known(validator: ResourceValidator) -> None:
    rules = validator.rules
    known = known_profiles(rules)
    compiled = {url for url, profile in rules.profiles.items() if profile.type in rules.resource_types}
    assert compiled <= set(known)
    assert {CORE_PATIENT, MESSAGING_ORGANIZATION, NOTIFICATION_MESSAGE} <= compiled
    assert {R4_CORE + name for name in rules.resource_types} <= set(known)
    assert set(known) == compiled | {R4_CORE + name for name in rules.resource_types}
    assert known[R4_CORE + "Organization"] == KnownProfile(
        R4_CORE + "Organization", "Organization", "FHIR R4 core", False
    )
    assert known[CORE_PATIENT].source == "MedCom" and known[CORE_PATIENT].compiled
    lines = profile_lines(rules)
    assert len(lines) == len(known)
    assert any(line.startswith(CORE_PATIENT + " ") and line.split()[1:] == ["Patient", "MedCom"] for line in lines)


def test_a_version_suffix_is_ignored_and_an_unknown_url_says_how_to_find_the_known_ones(
    validator: ResourceValidator,
) -> None:
    assert find_profile(validator.rules, CORE_PATIENT + "|3.0.0").url == CORE_PATIENT
    with pytest.raises(UnknownProfile) as unknown:
        find_profile(validator.rules, CORE_PATIENT[:-1])
    assert "hub validate --list-profiles" in str(unknown.value)
    assert f"did you mean {CORE_PATIENT}" in str(unknown.value)
    with pytest.raises(UnknownProfile) as data_type:
        find_profile(validator.rules, MEDCOM + "core/StructureDefinition/medcom-core-ecpr-identifier")
    assert "data type Identifier" in str(data_type.value)


# --- R4 core ------------------------------------------------------------------------------------------------


def test_official_r4_examples_are_valid_against_the_core_structure(validator: ResourceValidator) -> None:
    for name in (
        "Organization-hl7.json",
        "Patient-example.json",
        "Observation-example.json",
        "Bundle-bundle-example.json",
    ):
        valid, issues = _against(validator, None, (R4_EXAMPLES / name).read_bytes())
        assert valid, (name, issues)
    organization = (R4_EXAMPLES / "Organization-hl7.json").read_bytes()
    assert _against(validator, R4_CORE + "Organization", organization)[0]


@pytest.mark.parametrize(
    ("case", "expression", "code"),
    [
        ("ai4.json", "Patient.birthDate", "value"),  # "not a date"
        ("risk-assessment-probability-range.json", "RiskAssessment.prediction[0]", "invariant"),  # ras-2, FHIRPath
        ("patient-id-bad-2.json", "Patient.id", "value"),  # a space in the id
    ],
)
def test_hl7_cases_fail_the_core_structure_at_the_element_the_hl7_validator_names(
    validator: ResourceValidator, case: str, expression: str, code: str
) -> None:
    valid, issues = _against(validator, None, (HL7_CASES / case).read_bytes())
    assert not valid
    assert (expression, code) in _errors(issues), issues
    assert all(issue.line is not None for issue in issues if issue.expression)


def test_the_core_structure_has_no_medcom_rules(validator: ResourceValidator) -> None:
    # the realistic Danish message is no MedCom message (an HL7 v2 event code, no destinationUse): the default
    # validation rejects it for MedCom's rules, the core structure alone accepts it
    raw = DANISH.read_bytes()
    medcom = Validator().validate(raw)
    assert not medcom.valid
    assert ("Bundle.entry[0].resource.eventCoding.code", "code-invalid") in _errors(list(medcom.issues))
    valid, issues = _against(validator, None, raw)
    assert valid, issues
    assert _against(validator, None, NOTIFICATION.read_bytes())[0]


def test_a_wrong_resource_type_for_an_r4_core_profile(validator: ResourceValidator) -> None:
    valid, issues = _against(validator, R4_CORE + "Patient", (R4_EXAMPLES / "Organization-hl7.json").read_bytes())
    assert not valid
    assert _errors(issues) == [("Organization", "structure")]
    assert "is for Patient resources" in issues[0].diagnostics


# --- a compiled profile --------------------------------------------------------------------------------------


def test_a_patient_of_a_medcom_message_against_the_medcom_core_patient_profile(validator: ResourceValidator) -> None:
    patient = _entry(NOTIFICATION, "Patient")
    assert _against(validator, CORE_PATIENT, _pretty(patient)) == (True, [])
    # the profile requires an identifier (a CPR number); R4 core does not
    anonymous = {key: value for key, value in patient.items() if key != "identifier"}
    raw = _pretty(anonymous)
    assert _against(validator, None, raw)[0]
    valid, issues = _against(validator, CORE_PATIENT, raw)
    assert not valid
    assert _errors(issues) == [("Patient.identifier", "required")]
    assert "medcom-core-patient" in issues[0].diagnostics
    assert (issues[0].line, issues[0].column) == (1, 1)  # absent from the text: at its resource, the opening brace


def test_an_official_r4_organization_is_no_medcom_messaging_organization(validator: ResourceValidator) -> None:
    raw = (R4_EXAMPLES / "Organization-hl7.json").read_bytes()
    valid, issues = _against(validator, MESSAGING_ORGANIZATION, raw)
    assert not valid
    assert ("Organization.identifier", "required") in _errors(issues)  # no SOR and EAN identifiers
    assert _against(validator, MESSAGING_ORGANIZATION, _pretty(_entry(NOTIFICATION, "Organization")))[0]


def test_a_message_bundle_against_its_message_profile(validator: ResourceValidator) -> None:
    message = orjson.loads(NOTIFICATION.read_bytes())
    assert _against(validator, NOTIFICATION_MESSAGE, _pretty(message))[0]
    assert ResourceValidator(rules=validator.rules).validate(NOTIFICATION.read_bytes()).event == (
        "hospital-notification-message"
    )
    message["type"] = "collection"
    valid, issues = _against(validator, NOTIFICATION_MESSAGE, _pretty(message))
    assert not valid
    assert ("Bundle.type", "value") in _errors(issues)


def test_a_resource_of_another_type_than_the_profiles(validator: ResourceValidator) -> None:
    valid, issues = _against(validator, CORE_PATIENT, (R4_EXAMPLES / "Organization-hl7.json").read_bytes())
    assert not valid
    assert _errors(issues) == [("Organization", "structure")]


# --- the envelope for any resource --------------------------------------------------------------------------


def test_envelope_faults_of_a_resource_are_named_at_its_own_paths(validator: ResourceValidator) -> None:
    valid, issues = _against(validator, None, b'{"resourceType": "Patient", "active": true, "active": false}')
    assert not valid
    assert [(i.expression, i.severity) for i in issues] == [("Patient.active", "fatal")]
    valid, issues = _against(validator, None, b"[1]")
    assert not valid and "a resource" in issues[0].diagnostics
    valid, issues = _against(validator, None, b'{"resourceType": "Nope"}')
    assert not valid and "not a FHIR R4 resource type" in issues[0].diagnostics
    assert _against(validator, None, b"\xff")[0] is False
    deep = b'{"resourceType": "Patient", "extension": ' + b"[" * 120 + b"]" * 120 + b"}"
    valid, issues = _against(validator, None, deep)
    assert not valid
    assert [(i.severity, i.code) for i in issues] == [("fatal", "too-costly")]
    assert str(issues[0].expression).startswith("Patient.extension[0]")

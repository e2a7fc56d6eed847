"""Rule classes of the MedCom profiles compiled from ../shared: each holds on an official MedCom example and fails,
at the rule's FHIRPath location, on the same example broken for that rule alone.

- slices matched by their slicing's discriminators (value/pattern, type), with the values the snapshot gives each
  slice at the discriminator's path (``Patient.name:official`` by ``use``, inherited from dk-core);
- required bindings inside slices (a CareCommunication attachment's content type), extensible ones as warnings;
- memberOf() against the value sets the compile expanded (the Provenance activity codes of a hospital notification).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson

from hub.domain.outcome import Severity
from hub.validate import Validator
from hub.validate.profiles import check_profile, prepare_profiles
from hub.validate.rules import Invariant, _member_of
from tests.medcom_examples import MEDCOM_EXAMPLES, medcom_example_messages

VALIDATOR = Validator()
CARE = MEDCOM_EXAMPLES / "carecommunication" / "Bundle-3dcb5618-3055-406a-9034-1b8fc8de0fea.json"  # an attachment
NOTIFICATION = MEDCOM_EXAMPLES / "hospitalnotification" / "Bundle-a5e5b880-c087-4055-b9ec-99108695f81d.json"
ACTIVITIES = "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-messaging-activityCodes"


def _load(path: Any) -> dict[str, Any]:
    message: dict[str, Any] = orjson.loads(path.read_bytes())
    return message


def _index(message: dict[str, Any], resource_type: str) -> int:
    return next(i for i, e in enumerate(message["entry"]) if e["resource"]["resourceType"] == resource_type)


def _errors(message: dict[str, Any]) -> list[tuple[str, str | None, str]]:
    verdict = VALIDATOR.validate(orjson.dumps(message))
    return [(i.code, i.expression, i.diagnostics) for i in verdict.issues if i.is_error]


def test_every_official_example_is_still_valid() -> None:
    paths = medcom_example_messages()
    assert len(paths) >= 20
    assert {path.name: _errors(_load(path)) for path in paths} == {path.name: [] for path in paths}


# --- (a) slices by discriminator ------------------------------------------------------------------------------


def test_a_patient_without_an_official_name_breaks_the_official_slice() -> None:
    message = _load(NOTIFICATION)
    where = _index(message, "Patient")
    patient = message["entry"][where]["resource"]
    assert [name.get("use") for name in patient["name"]] == ["official"]
    patient["name"][0]["use"] = "usual"  # a valid name-use code: only the slice's discriminator value is missing
    errors = _errors(message)
    assert [(code, at) for code, at, _ in errors] == [("required", f"Bundle.entry[{where}].resource.name")]
    assert "Patient.name:official" in errors[0][2]
    assert "medcom-core-patient" in errors[0][2]


def test_a_second_official_name_exceeds_the_slice() -> None:
    message = _load(NOTIFICATION)
    where = _index(message, "Patient")
    patient = message["entry"][where]["resource"]
    patient["name"].append(dict(patient["name"][0]))
    assert ("structure", f"Bundle.entry[{where}].resource.name") in [(c, e) for c, e, _ in _errors(message)]


def test_a_name_of_another_use_beside_the_official_one_is_valid() -> None:
    message = _load(NOTIFICATION)
    patient = message["entry"][_index(message, "Patient")]["resource"]
    patient["name"].append({"use": "nickname", "given": ["Bo"]})  # open slicing: no family name needed here
    assert _errors(message) == []


# --- (b) bindings inside slices, extensible bindings, memberOf -----------------------------------------------


def test_an_attachment_of_a_content_type_medcom_does_not_allow_is_rejected() -> None:
    message = _load(CARE)
    where = _index(message, "Communication")
    payloads = message["entry"][where]["resource"]["payload"]
    [at] = [i for i, payload in enumerate(payloads) if "contentAttachment" in payload]
    payloads[at]["contentAttachment"]["contentType"] = "application/x-msdownload"  # a valid MIME type, not MedCom's
    errors = _errors(message)
    expression = f"Bundle.entry[{where}].resource.payload[{at}].contentAttachment.contentType"
    assert [(code, e) for code, e, _ in errors] == [("code-invalid", expression)]
    assert "medcom-core-attachmentMimeTypes" in errors[0][2]


def test_a_hospital_notification_with_a_care_communication_activity_is_rejected() -> None:
    message = _load(NOTIFICATION)
    where = _index(message, "Provenance")
    provenance = message["entry"][where]["resource"]
    provenance["activity"]["coding"][0]["code"] = "new-message"  # a MedCom activity code, of another message kind
    errors = _errors(message)
    assert [(code, e) for code, e, _ in errors] == [("invariant", "Bundle")]
    assert errors[0][2].startswith("medcom-hospitalNotification-3:")


def test_member_of_reads_codes_codings_and_codeable_concepts() -> None:
    valueset = (frozenset({"new-message"}), frozenset({(ACTIVITIES, "new-message")}))
    assert _member_of("new-message", valueset)
    assert _member_of({"system": ACTIVITIES, "code": "new-message"}, valueset)
    assert _member_of(
        {"coding": [{"system": "x", "code": "y"}, {"system": ACTIVITIES, "code": "new-message"}]}, valueset
    )
    assert not _member_of({"coding": [{"system": ACTIVITIES, "code": "admit-inpatient"}]}, valueset)
    assert not _member_of({"system": "http://example.org", "code": "new-message"}, valueset)
    assert not _member_of(["new-message"], valueset)


def test_an_extensible_binding_is_a_warning() -> None:
    rules = VALIDATOR.rules
    categories = "http://medcomfhir.dk/ig/terminology/ValueSet/medcom-careCommunication-categories"
    assert categories in rules.valuesets
    spec = {
        "type": "Patient",
        "rules": [{"id": "Patient"}, {"id": "Patient.maritalStatus", "extensible": categories}],
    }

    def no_invariant(item: list[str]) -> Invariant:
        return Invariant(item[0], item[1], item[2], item[3], None)

    url = "http://example.org/StructureDefinition/extensible-test"
    local = replace(rules, profiles=prepare_profiles(rules, {url: spec}, no_invariant))
    patient = {"resourceType": "Patient", "maritalStatus": {"coding": [{"system": "http://example.org", "code": "M"}]}}
    [issue] = check_profile(local, url, patient, "Patient")
    assert (issue.severity, issue.code, issue.expression) == (Severity.WARNING, "code-invalid", "Patient.maritalStatus")
    code = sorted(rules.valuesets[categories][1])[0]
    patient["maritalStatus"] = {"coding": [{"system": code[0], "code": code[1]}]}
    assert check_profile(local, url, patient, "Patient") == []


# --- (d) the profiles of what a reference names ----------------------------------------------------------------


def test_the_sender_is_a_medcom_organisation_whatever_its_meta_profile_says() -> None:
    # MessageHeader.sender: type.targetProfile medcom-messaging-organization, which needs two identifiers
    message = _load(NOTIFICATION)
    sender = message["entry"][0]["resource"]["sender"]["reference"]
    where = next(i for i, e in enumerate(message["entry"]) if sender.endswith("/" + e["resource"]["id"]))
    organisation = message["entry"][where]["resource"]
    organisation.pop("meta")  # no meta.profile: the profile comes from the reference alone
    organisation["identifier"] = organisation["identifier"][1:]
    errors = _errors(message)
    # two identifiers, and one of them in the slice EAN-ID (decided by the system its type profile, dk-core's GLN
    # identifier, fixes): the GLN was the one removed
    assert [(code, e) for code, e, _ in errors] == [("required", f"Bundle.entry[{where}].resource.identifier")] * 2
    assert all("medcom-messaging-organization" in text for _, _, text in errors)
    assert "Organization.identifier:EAN-ID" in errors[1][2]


# --- extension definitions wherever the extension appears ----------------------------------------------------

DATETIME_EXTENSION = "http://medcomfhir.dk/ig/core/StructureDefinition/medcom-core-datetime-extension"


def test_an_extension_is_checked_against_its_definition_where_no_profile_names_it() -> None:
    message = _load(NOTIFICATION)
    where = _index(message, "Patient")
    patient = message["entry"][where]["resource"]
    patient.setdefault("extension", []).append(
        {"url": DATETIME_EXTENSION, "valueDateTime": "2020-09-28T09:00:00+02:00"}
    )
    assert _errors(message) == []  # a MedCom extension with its value: valid here too
    at = len(patient["extension"]) - 1
    patient["extension"][at] = {"url": DATETIME_EXTENSION, "valueString": "yesterday"}  # not the type it defines
    errors = _errors(message)
    place = f"Bundle.entry[{where}].resource.extension[{at}]"
    assert any(e is not None and (e == place or e.startswith(f"{place}.")) for _, e, _ in errors), errors
    patient["extension"][at] = {"url": DATETIME_EXTENSION, "extension": [{"url": "x", "valueString": "y"}]}
    errors = _errors(message)
    assert ("required", f"Bundle.entry[{where}].resource.extension[{at}].value") in [(c, e) for c, e, _ in errors]
    assert any("medcom-core-datetime-extension" in d for _, _, d in errors)

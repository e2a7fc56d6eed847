"""The invariants that follow a reference with resolve() are real checks: each holds on an official MedCom example
and fails, at the invariant's FHIRPath location, on the same example broken for that rule alone."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from hub.validate import Validator
from tests.medcom_examples import MEDCOM_EXAMPLES

VALIDATOR = Validator()
# a CareCommunication with an Encounter, a sender extension (PractitionerRole) and a CareTeam recipient
FULL = MEDCOM_EXAMPLES / "carecommunication" / "Bundle-gfd00bc2-9c26-4174-934e-f6e4360845de.json"
BASE = "https://medcomfhir.dk/ig/carecommunication/"
SENDER_ORG = "Organization/c39b114b-a9c1-46bb-ac30-e3ce71f28c3a"
RECEIVER_ORG = "Organization/33153a8a-97c8-4f55-b7ad-bbedee8bd0e1"
PRACTITIONER = "Practitioner/6397c13d-7cb2-4834-871c-47f528bb79cf"
MEDIA_PROFILE = "http://medcomfhir.dk/ig/core/StructureDefinition/medcom-core-media"


def _message() -> dict[str, Any]:
    message: dict[str, Any] = orjson.loads(FULL.read_bytes())
    return message


def _resource(message: dict[str, Any], resource_type: str) -> dict[str, Any]:
    found: dict[str, Any] = next(
        e["resource"] for e in message["entry"] if e["resource"]["resourceType"] == resource_type
    )
    return found


def _index(message: dict[str, Any], resource_type: str) -> int:
    return next(i for i, e in enumerate(message["entry"]) if e["resource"]["resourceType"] == resource_type)


def _invariants(message: dict[str, Any]) -> set[tuple[str, str | None]]:
    """(invariant key, where) of each invariant issue of the message."""
    verdict = VALIDATOR.validate(orjson.dumps(message))
    return {(i.diagnostics.split(":", 1)[0], i.expression) for i in verdict.issues if i.code == "invariant"}


def _errors(message: dict[str, Any]) -> list[tuple[str, str | None, str]]:
    verdict = VALIDATOR.validate(orjson.dumps(message))
    return [(i.code, i.expression, i.diagnostics) for i in verdict.issues if i.is_error]


def _nameless_practitioner(message: dict[str, Any], role: dict[str, Any]) -> None:
    """The PractitionerRole names another Practitioner of the Bundle, one without a name."""
    practitioner = copy.deepcopy(_resource(message, "Practitioner"))
    practitioner["id"] = "0f0e0d0c-0b0a-4909-8807-060504030201"
    practitioner.pop("name")
    practitioner.pop("text", None)
    message["entry"].append({"fullUrl": BASE + "Practitioner/" + practitioner["id"], "resource": practitioner})
    role["practitioner"] = {"reference": "Practitioner/" + practitioner["id"]}


def _with_media(message: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A medcom-core-media Media added to the message, operated by a PractitionerRole of its own (a copy of the
    author's, added too): the Media's operator's path, and that PractitionerRole."""
    role = copy.deepcopy(_resource(message, "PractitionerRole"))
    role["id"] = "5e4d3c2b-1a09-4f8e-8d7c-6b5a49382716"
    role.pop("text", None)
    message["entry"].append({"fullUrl": BASE + "PractitionerRole/" + role["id"], "resource": role})
    media: dict[str, Any] = {
        "resourceType": "Media",
        "id": "7a9d6f4e-2b1c-4d3e-9f8a-1b2c3d4e5f60",
        "meta": {"profile": [MEDIA_PROFILE]},
        "identifier": [
            {"value": "urn:uuid:7a9d6f4e-2b1c-4d3e-9f8a-1b2c3d4e5f60", "assigner": {"reference": SENDER_ORG}}
        ],
        "status": "completed",
        "operator": {"reference": "PractitionerRole/" + role["id"]},
        "content": {"contentType": "image/jpeg", "title": "Sår", "creation": "2024-05-01T12:00:00+02:00"},
    }
    message["entry"].append({"fullUrl": BASE + "Media/" + media["id"], "resource": media})
    return f"Bundle.entry[{len(message['entry']) - 1}].resource.operator", role


def test_the_example_refers_to_what_the_rules_follow() -> None:
    message = _message()
    communication = _resource(message, "Communication")
    assert communication["encounter"] == {"reference": "Encounter/2a5b01e4-8c2c-481b-ab12-e383d8e00629"}
    assert communication["recipient"] == [{"reference": "CareTeam/fb1d34fe-6672-11ed-9022-0242ac120002"}]
    assert _resource(message, "PractitionerRole")["organization"] == {"reference": SENDER_ORG}
    assert _errors(message) == []
    assert _invariants(message) == set()


def test_a_media_operated_by_a_named_practitioner_with_a_role_code_is_valid() -> None:
    message = _message()
    _with_media(message)
    assert _errors(message) == []


def test_a_care_team_member_acting_on_behalf_of_an_organisation_is_valid() -> None:
    message = _message()
    team = _resource(message, "CareTeam")
    team["participant"] = [{"member": {"reference": PRACTITIONER}, "onBehalfOf": {"reference": RECEIVER_ORG}}]
    assert _errors(message) == []


def _communication(message: dict[str, Any]) -> str:
    return f"Bundle.entry[{_index(message, 'Communication')}].resource"


def _break_cc7(message: dict[str, Any]) -> str:
    # the author's PractitionerRole has both a coded and a text role
    _resource(message, "PractitionerRole")["code"][0]["text"] = "sygeplejerske"
    return _communication(message)


def _break_cc8(message: dict[str, Any]) -> str:
    # the author's PractitionerRole names a Practitioner without a name
    _nameless_practitioner(message, _resource(message, "PractitionerRole"))
    return _communication(message)


def _break_cc9(message: dict[str, Any]) -> str:
    # the Communication's Encounter has no episodeOfCare identifier
    _resource(message, "Encounter").pop("episodeOfCare")
    return _communication(message)


def _break_cc11(message: dict[str, Any]) -> str:
    # the sender extension's PractitionerRole belongs to another organisation than the MessageHeader's sender
    _resource(message, "PractitionerRole")["organization"] = {"reference": RECEIVER_ORG}
    return "Bundle"


def _break_cc12(message: dict[str, Any]) -> str:
    # the recipient CareTeam is managed by another organisation than the MessageHeader's receiver
    _resource(message, "CareTeam")["managingOrganization"] = [{"reference": SENDER_ORG}]
    return "Bundle"


def _break_hcr5(message: dict[str, Any]) -> str:
    # the Media's operator has no role code
    where, role = _with_media(message)
    role.pop("code")
    return where


def _break_hcr6(message: dict[str, Any]) -> str:
    # the Media's operator names a Practitioner without a name
    where, role = _with_media(message)
    _nameless_practitioner(message, role)
    return where


def _break_ctm1(message: dict[str, Any]) -> str:
    # a member acting on behalf of an organisation that is an Organization, not a Practitioner
    team = _resource(message, "CareTeam")
    team["participant"] = [{"member": {"reference": RECEIVER_ORG}, "onBehalfOf": {"reference": RECEIVER_ORG}}]
    return f"Bundle.entry[{_index(message, 'CareTeam')}].resource.participant[0]"


@pytest.mark.parametrize(
    ("key", "breaks"),
    [
        ("medcom-careCommunication-7", _break_cc7),
        ("medcom-careCommunication-8", _break_cc8),
        ("medcom-careCommunication-9", _break_cc9),
        ("medcom-careCommunication-11", _break_cc11),
        ("medcom-careCommunication-12", _break_cc12),
        ("medcom-homecareReport-5", _break_hcr5),
        ("medcom-homecareReport-6", _break_hcr6),
        ("ctm-1", _break_ctm1),
    ],
)
def test_the_rule_fails_on_the_example_broken_for_it(key: str, breaks: Callable[[dict[str, Any]], str]) -> None:
    message = _message()
    where = breaks(message)
    found = _invariants(message)
    assert (key, where) in found
    assert {k for k, _ in found} == {key}  # broken for that rule alone


def test_a_reference_that_resolves_to_nothing_is_no_error_of_its_own() -> None:
    # the Encounter is gone from the Bundle: cc-9 finds no episodeOfCare identifier (as the HL7 validator does)
    message = _message()
    message["entry"].pop(_index(message, "Encounter"))
    assert ("medcom-careCommunication-9", _communication(message)) in _invariants(message)

"""The MedCom messaging rules: each fault of a real example message gives an issue at the right FHIRPath."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from hub.domain import medcom
from hub.domain.outcome import Issue, Severity
from hub.validate.messaging import RULES, check_messaging

EXAMPLES = Path(__file__).resolve().parents[3].parent / "shared" / "medcom" / "examples"
FOLDERS = ("hospitalnotification", "carecommunication", "acknowledgement", "messaging")
EXAMPLE_PATHS = sorted(p for folder in FOLDERS for p in (EXAMPLES / folder).glob("*.json"))
CARE = "carecommunication/Bundle-add5e7e2-0c0f-4a4a-bfff-f6f984fa7e3c.json"
CARE_REPLY = "carecommunication/Bundle-3dcb5618-3055-406a-9034-1b8fc8de0fea.json"
NOTIFICATION = "hospitalnotification/Bundle-a5e5b880-c087-4055-b9ec-99108695f81d.json"
ACK_FATAL = "acknowledgement/Bundle-bc9535ef-ed94-4060-a928-7baddec7ee71.json"
EMPTY = "messaging/Bundle-eb26be85-fdb7-454d-a980-95cba6d1745b.json"
CODES = frozenset(
    {
        "empty-message",
        "care-communication-message",
        "hospital-notification-message",
        "acknowledgement-message",
        "homecareobservation-message",
    }
)
HEADER = "Bundle.entry[0].resource"


def _load(name: str) -> dict[str, Any]:
    message: dict[str, Any] = orjson.loads((EXAMPLES / name).read_bytes())
    return message


def _issues(message: dict[str, Any]) -> list[Issue]:
    return check_messaging(message, event_codes=CODES)


def _only(issues: list[Issue]) -> Issue:
    assert len(issues) == 1, [issue.as_dict() for issue in issues]
    return issues[0]


def _entry_of(message: dict[str, Any], reference: str) -> int:
    """The index of the entry a (relative) reference names."""
    return next(i for i, entry in enumerate(message["entry"]) if entry["fullUrl"].endswith("/" + reference))


def _index_of(message: dict[str, Any], resource_type: str) -> int:
    return next(i for i, e in enumerate(message["entry"]) if e["resource"]["resourceType"] == resource_type)


def _header(message: dict[str, Any]) -> dict[str, Any]:
    header: dict[str, Any] = message["entry"][0]["resource"]
    return header


@pytest.mark.parametrize("path", EXAMPLE_PATHS, ids=lambda p: f"{p.parent.name}/{p.name[:15]}")
def test_official_examples_follow_the_rules(path: Path) -> None:
    assert _issues(orjson.loads(path.read_bytes())) == []


def test_rules_are_a_list_of_functions() -> None:
    assert len(RULES) >= 10
    assert all(callable(rule) for rule in RULES)


def test_bundle_type_must_be_message() -> None:
    message = _load(CARE)
    message["type"] = "collection"
    issue = _only(_issues(message))
    assert (issue.severity, issue.code, issue.expression) == (Severity.ERROR, "value", "Bundle.type")
    assert "'collection'" in issue.diagnostics
    assert "'message'" in issue.diagnostics


@pytest.mark.parametrize(("element", "code"), [("type", "required"), ("id", "required"), ("timestamp", "required")])
def test_bundle_elements_are_required(element: str, code: str) -> None:
    message = _load(CARE)
    del message[element]
    issue = _only(_issues(message))
    assert (issue.code, issue.expression) == (code, f"Bundle.{element}")


@pytest.mark.parametrize("timestamp", ["2024-05-01T12:00:00", "2024-05-01", 5, "2024-05-01T12:00+02:00"])
def test_timestamp_has_seconds_and_a_timezone(timestamp: object) -> None:
    message = _load(CARE)
    message["timestamp"] = timestamp
    issue = _only(_issues(message))
    assert (issue.code, issue.expression) == ("value", "Bundle.timestamp")
    assert "timezone" in issue.diagnostics


def test_message_header_must_be_first() -> None:
    message = _load(CARE)
    message["entry"].append(message["entry"].pop(0))
    issues = _issues(message)
    first = issues[0]
    assert (first.code, first.expression) == ("invalid", HEADER)
    assert f"Bundle.entry[{len(message['entry']) - 1}]" in first.diagnostics
    assert "found a Patient" in first.diagnostics
    assert len(issues) == 1  # the rules that read the header do not pile up on it


def test_a_message_without_entries() -> None:
    message = _load(CARE)
    message["entry"] = []
    issue = _only(_issues(message))
    assert (issue.code, issue.expression) == ("required", "Bundle.entry")


def test_one_message_header_only() -> None:
    message = _load(CARE)
    message["entry"].append(message["entry"][0])
    issue = _only(_issues(message))
    assert issue.expression == f"Bundle.entry[{len(message['entry']) - 1}].resource"


def test_message_header_id_is_required() -> None:
    message = _load(CARE)
    del _header(message)["id"]
    issue = _only(_issues(message))
    assert (issue.code, issue.expression) == ("required", f"{HEADER}.id")


def test_unknown_event_code_is_named() -> None:
    message = _load(CARE)
    _header(message)["eventCoding"]["code"] = "discharge-letter-message"
    issue = _only(_issues(message))
    assert (issue.code, issue.expression) == ("code-invalid", f"{HEADER}.eventCoding.code")
    assert "'discharge-letter-message'" in issue.diagnostics
    assert "care-communication-message" in issue.diagnostics


def test_a_long_list_of_known_codes_is_not_spelled_out() -> None:
    message = _load(CARE)
    _header(message)["eventCoding"]["code"] = "x"
    many = frozenset(f"code-{i}" for i in range(500))
    [issue] = check_messaging(message, event_codes=many)
    assert "500" in issue.diagnostics
    assert len(issue.diagnostics) < 200


def test_event_code_system_is_medcoms() -> None:
    message = _load(CARE)
    _header(message)["eventCoding"]["system"] = "http://example.org/events"
    issue = _only(_issues(message))
    assert (issue.code, issue.expression) == ("value", f"{HEADER}.eventCoding.system")
    assert medcom.EVENT_CODE_SYSTEM in issue.diagnostics


def test_event_uri_instead_of_event_coding() -> None:
    message = _load(CARE)
    header = _header(message)
    header["eventUri"] = "http://example.org/x"
    del header["eventCoding"]
    issue = _only(_issues(message))
    assert (issue.code, issue.expression) == ("required", f"{HEADER}.eventCoding")


def test_sender_without_sor() -> None:
    message = _load(CARE)
    sender = _entry_of(message, _header(message)["sender"]["reference"])
    organisation = message["entry"][sender]["resource"]
    organisation["identifier"] = [i for i in organisation["identifier"] if i["system"] != medcom.SOR_SYSTEM]
    issue = _only(_issues(message))
    assert (issue.code, issue.expression) == ("required", f"Bundle.entry[{sender}].resource.identifier")
    assert "sender" in issue.diagnostics
    assert medcom.SOR_SYSTEM in issue.diagnostics


def test_sender_with_malformed_sor_and_gln() -> None:
    message = _load(CARE)
    sender = _entry_of(message, _header(message)["sender"]["reference"])
    identifiers = message["entry"][sender]["resource"]["identifier"]
    sor = next(j for j, i in enumerate(identifiers) if i["system"] == medcom.SOR_SYSTEM)
    gln = next(j for j, i in enumerate(identifiers) if i["system"] in medcom.GLN_SYSTEMS)
    identifiers[sor]["value"] = "SOR-265161"
    identifiers[gln]["value"] = "5790000209355"
    # a GLN of MedCom's system is dk-core's GLN identifier profile's to check (hub.validate.profiles)
    issues = _issues(message)
    assert [(i.code, i.expression) for i in issues] == [
        ("value", f"Bundle.entry[{sender}].resource.identifier[{sor}].value"),
    ]
    identifiers[gln]["system"] = "http://www.gs1.org/gln"  # the spelling no profile names: checked here
    issues = _issues(message)
    assert [(i.code, i.expression) for i in issues] == [
        ("value", f"Bundle.entry[{sender}].resource.identifier[{sor}].value"),
        ("value", f"Bundle.entry[{sender}].resource.identifier[{gln}].value"),
    ]
    assert "check digit" in issues[1].diagnostics


@pytest.mark.parametrize(
    ("sender", "code"),
    [(None, "required"), ({"display": "x"}, "required"), ({"reference": "Organization/nope"}, "not-found")],
)
def test_sender_must_name_an_entry(sender: dict[str, str] | None, code: str) -> None:
    message = _load(CARE)
    if sender is None:
        del _header(message)["sender"]
    else:
        _header(message)["sender"] = sender
    issue = _only(_issues(message))
    assert (issue.code, issue.expression) == (code, f"{HEADER}.sender")


def test_sender_must_be_an_organization() -> None:
    message = _load(CARE)
    patient = message["entry"][1]
    _header(message)["sender"] = {"reference": patient["fullUrl"]}
    issue = _only(_issues(message))
    assert (issue.code, issue.expression) == ("invalid", f"{HEADER}.sender")
    assert "Patient" in issue.diagnostics


def _add_destination(message: dict[str, Any], use: str) -> None:
    destination = orjson.loads(orjson.dumps(_header(message)["destination"][0]))
    destination["extension"][0]["valueCoding"]["code"] = use
    _header(message)["destination"].append(destination)


def test_cc_destinations_are_fine() -> None:
    message = _load(CARE)
    _add_destination(message, "cc")
    _add_destination(message, "cc")
    assert _issues(message) == []


def test_two_primary_destinations() -> None:
    message = _load(CARE)
    _add_destination(message, "cc")
    _add_destination(message, "primary")
    issue = _only(_issues(message))
    assert (issue.code, issue.expression) == ("invalid", f"{HEADER}.destination[2]")
    assert "destination[0]" in issue.diagnostics


def test_no_primary_destination() -> None:
    message = _load(CARE)
    _header(message)["destination"][0]["extension"][0]["valueCoding"]["code"] = "cc"
    issue = _only(_issues(message))
    assert (issue.code, issue.expression) == ("required", f"{HEADER}.destination")


def test_no_destination() -> None:
    message = _load(CARE)
    del _header(message)["destination"]
    issue = _only(_issues(message))
    assert (issue.code, issue.expression) == ("required", f"{HEADER}.destination")


def test_destination_without_use() -> None:
    message = _load(CARE)
    _add_destination(message, "cc")
    del _header(message)["destination"][1]["extension"]
    issue = _only(_issues(message))
    assert (issue.code, issue.expression) == ("required", f"{HEADER}.destination[1].extension")


def test_destination_with_an_unknown_use() -> None:
    message = _load(CARE)
    _add_destination(message, "bcc")
    issue = _only(_issues(message))
    assert (issue.code, issue.expression) == ("code-invalid", f"{HEADER}.destination[1].extension[0].valueCoding.code")


def test_destination_use_system() -> None:
    message = _load(CARE)
    _header(message)["destination"][0]["extension"][0]["valueCoding"]["system"] = "http://example.org/use"
    issue = _only(_issues(message))
    assert issue.expression == f"{HEADER}.destination[0].extension[0].valueCoding.system"


def test_receiver_must_resolve_to_an_organization_with_sor() -> None:
    message = _load(CARE)
    _add_destination(message, "cc")
    _header(message)["destination"][1]["receiver"] = {"reference": "Organization/elsewhere"}
    del _header(message)["destination"][0]["receiver"]
    issues = _issues(message)
    assert [(i.code, i.expression) for i in issues] == [
        ("required", f"{HEADER}.destination[0].receiver"),
        ("not-found", f"{HEADER}.destination[1].receiver"),
    ]


def test_a_dangling_reference() -> None:
    message = _load(CARE)
    communication = _index_of(message, "Communication")
    message["entry"][communication]["resource"]["subject"] = {"reference": "Patient/not-in-this-bundle"}
    issue = _only(_issues(message))
    assert (issue.code, issue.expression) == ("not-found", f"Bundle.entry[{communication}].resource.subject")
    assert "'Patient/not-in-this-bundle'" in issue.diagnostics


def test_message_header_focus_must_resolve() -> None:
    message = _load(CARE)
    _header(message)["focus"][0]["reference"] = "Communication/gone"
    issue = _only(_issues(message))
    assert (issue.code, issue.expression) == ("not-found", f"{HEADER}.focus[0]")


def test_references_by_full_url_and_contained_references() -> None:
    message = _load(CARE)
    communication = _index_of(message, "Communication")
    resource = message["entry"][communication]["resource"]
    resource["subject"] = {"reference": message["entry"][1]["fullUrl"]}
    resource["contained"] = [{"resourceType": "Organization", "id": "o1", "name": "x"}]
    resource["sender"] = {"reference": "#o1"}
    assert _issues(message) == []


def test_a_reference_deep_in_an_extension() -> None:
    message = _load(CARE)
    message["entry"][1]["resource"]["extension"] = [
        {"url": "http://x", "extension": [{"url": "y", "valueReference": {"reference": "Practitioner/none"}}]}
    ]
    issue = _only(_issues(message))
    assert issue.expression == "Bundle.entry[1].resource.extension[0].extension[0].valueReference"


def test_the_provenance_history_may_point_at_earlier_messages() -> None:
    # a reply's Provenance entries name the MessageHeaders of earlier messages in the thread
    message = _load(CARE_REPLY)
    assert _issues(message) == []
    provenance = next(i for i, e in enumerate(message["entry"]) if e["resource"]["resourceType"] == "Provenance")
    message["entry"][provenance]["resource"]["agent"][0]["who"] = {"reference": "Organization/elsewhere"}
    issue = _only(_issues(message))
    assert issue.expression == f"Bundle.entry[{provenance}].resource.agent[0].who"


def test_a_malformed_cpr_number_is_the_cpr_profiles_to_report() -> None:
    # the form of a CPR number is dk-core's CPR identifier profile's invariant (tests/unit/validate/
    # test_profiles_identifiers.py); the messaging layer asks only that the patient has one, with a value
    message = _load(CARE)
    patient = message["entry"][1]["resource"]
    assert patient["identifier"][0]["system"] == medcom.CPR_SYSTEM
    patient["identifier"][0]["value"] = "3213991234"
    assert _issues(message) == []
    del patient["identifier"][0]["value"]
    issue = _only(_issues(message))
    assert (issue.code, issue.expression) == ("required", "Bundle.entry[1].resource.identifier[0].value")


def test_a_patient_without_cpr() -> None:
    message = _load(CARE)
    message["entry"][1]["resource"]["identifier"][0]["system"] = "urn:oid:1.2.3"
    issue = _only(_issues(message))
    assert (issue.code, issue.expression) == ("required", "Bundle.entry[1].resource.identifier")


@pytest.mark.parametrize("system", sorted(medcom.REPLACEMENT_CPR_SYSTEMS))
def test_a_replacement_cpr_number(system: str) -> None:
    message = _load(CARE)
    message["entry"][1]["resource"]["identifier"] = [{"system": system, "value": "0703921VJ4"}]
    assert _issues(message) == []


@pytest.mark.parametrize("name", [CARE, NOTIFICATION])
def test_the_patient_is_required(name: str) -> None:
    message = _load(name)
    message["entry"].pop(_index_of(message, "Patient"))
    # the references to the patient dangle now too; the missing patient itself is named
    issues = _issues(message)
    assert ("required", "Bundle.entry") in [(i.code, i.expression) for i in issues]
    assert all(i.code == "not-found" for i in issues if i.expression != "Bundle.entry")


def test_an_empty_message_needs_no_patient() -> None:
    message = _load(EMPTY)
    assert not any(e["resource"]["resourceType"] == "Patient" for e in message["entry"])
    assert _issues(message) == []


def test_acknowledgement_needs_a_response() -> None:
    message = _load(ACK_FATAL)
    del _header(message)["response"]
    issue = _only(_issues(message))
    assert (issue.code, issue.expression) == ("required", f"{HEADER}.response")


@pytest.mark.parametrize(
    ("change", "code", "expression"),
    [
        (lambda r: r.pop("identifier"), "required", f"{HEADER}.response.identifier"),
        (lambda r: r.pop("code"), "required", f"{HEADER}.response.code"),
        (lambda r: r.update(code="maybe"), "code-invalid", f"{HEADER}.response.code"),
    ],
)
def test_acknowledgement_response(change: Callable[[dict[str, Any]], object], code: str, expression: str) -> None:
    message = _load(ACK_FATAL)
    change(_header(message)["response"])
    issue = _only(_issues(message))
    assert (issue.code, issue.expression) == (code, expression)


def test_an_error_acknowledgement_carries_an_operation_outcome() -> None:
    message = _load(ACK_FATAL)
    del _header(message)["response"]["details"]
    message["entry"].pop(_index_of(message, "OperationOutcome"))
    issue = _only(_issues(message))
    assert (issue.code, issue.expression) == ("required", "Bundle.entry")
    assert "OperationOutcome" in issue.diagnostics


def test_an_acknowledgement_has_no_cc() -> None:
    message = _load(ACK_FATAL)
    _add_destination(message, "cc")
    issue = _only(_issues(message))
    assert (issue.code, issue.expression) == ("invalid", f"{HEADER}.destination[1]")


def test_all_faults_are_reported_together() -> None:
    message = _load(CARE)
    message["type"] = "collection"
    _header(message)["eventCoding"]["code"] = "unknown-message"
    _add_destination(message, "primary")
    del message["entry"][1]["resource"]["identifier"][0]["value"]
    expressions = {issue.expression for issue in _issues(message)}
    assert expressions == {
        "Bundle.type",
        f"{HEADER}.eventCoding.code",
        f"{HEADER}.destination[1]",
        "Bundle.entry[1].resource.identifier[0].value",
    }


GARBAGE: list[Any] = [
    {},
    {"entry": 5},
    {"entry": [None, 1, "x", [], {"resource": 5}, {"resource": {"resourceType": 5}}]},
    {"entry": [{"resource": {"resourceType": "MessageHeader"}}]},
    {
        "entry": [
            {
                "resource": {
                    "resourceType": "MessageHeader",
                    "id": 5,
                    "eventCoding": {"system": [], "code": {}},
                    "sender": "Organization/x",
                    "destination": [5, {"extension": 5, "receiver": []}, {"extension": [5, {"url": 5}]}],
                    "response": [],
                }
            },
            {"resource": {"resourceType": "Patient", "identifier": [5, {"system": medcom.CPR_SYSTEM, "value": 5}]}},
            {"resource": {"resourceType": "Organization", "identifier": {"system": medcom.SOR_SYSTEM}}},
        ]
    },
    {
        "type": [],
        "id": {},
        "timestamp": None,
        "entry": [
            {
                "fullUrl": 5,
                "resource": {
                    "resourceType": "MessageHeader",
                    "eventCoding": {"system": medcom.EVENT_CODE_SYSTEM, "code": "acknowledgement-message"},
                    "sender": {"reference": 5},
                    "destination": [{"extension": [{"url": medcom.DESTINATION_USE_EXTENSION, "valueCoding": 5}]}],
                    "response": {"identifier": 5, "code": []},
                },
            },
            {"resource": {"resourceType": "Provenance", "target": [{"reference": {"reference": "x"}}]}},
        ],
    },
]


@pytest.mark.parametrize("bundle", GARBAGE)
def test_rules_read_any_shape_without_raising(bundle: dict[str, Any]) -> None:
    issues = check_messaging({"resourceType": "Bundle", **bundle}, event_codes=CODES)
    assert all(isinstance(issue, Issue) and issue.diagnostics for issue in issues)

"""The FHIR R4 structure layer: fhir.resources R4B models plus the JSON walk, issues with FHIRPath locations."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from hub.domain.outcome import Issue, Severity
from hub.validate import paths
from hub.validate.structure import check_structure

EXAMPLES = Path(__file__).resolve().parents[3].parent / "shared" / "medcom" / "examples"
FOLDERS = ("hospitalnotification", "carecommunication", "acknowledgement", "messaging")
EXAMPLE_PATHS = sorted(p for folder in FOLDERS for p in (EXAMPLES / folder).glob("*.json"))
CARE = EXAMPLES / "carecommunication" / "Bundle-add5e7e2-0c0f-4a4a-bfff-f6f984fa7e3c.json"
HEADER = "Bundle.entry[0].resource"
PATIENT = "Bundle.entry[1].resource"


def _message() -> dict[str, Any]:
    message: dict[str, Any] = orjson.loads(CARE.read_bytes())
    assert message["entry"][1]["resource"]["resourceType"] == "Patient"
    return message


def _issues_of(change: Callable[[dict[str, Any]], object]) -> list[Issue]:
    message = _message()
    change(message)
    return check_structure(message)


def _only(issues: list[Issue]) -> Issue:
    assert len(issues) == 1, [issue.as_dict() for issue in issues]
    return issues[0]


def test_the_examples_are_found() -> None:
    assert len(EXAMPLE_PATHS) >= 25


@pytest.mark.parametrize("path", EXAMPLE_PATHS, ids=lambda p: f"{p.parent.name}/{p.name[:15]}")
def test_official_examples_have_no_structure_issues(path: Path) -> None:
    assert check_structure(orjson.loads(path.read_bytes())) == []


def test_an_unknown_element_is_reported_where_it_is() -> None:
    issue = _only(_issues_of(lambda m: m["entry"][0]["resource"].update(foo=1)))
    assert (issue.severity, issue.code, issue.expression) == (Severity.ERROR, "structure", f"{HEADER}.foo")
    assert "unknown element 'foo'" in issue.diagnostics


def test_a_number_for_an_instant_is_a_wrong_type() -> None:
    # fhir.resources reads 5 as 1970-01-01T00:00:05Z; FHIR JSON has the instant as a string
    issue = _only(_issues_of(lambda m: m.update(timestamp=5)))
    assert (issue.code, issue.expression) == ("structure", "Bundle.timestamp")
    assert "expected a JSON string, found the number 5" in issue.diagnostics


@pytest.mark.parametrize(
    ("element", "value", "expected"),
    [
        ("active", "true", "a JSON boolean"),
        ("active", 1, "a JSON boolean"),
        ("multipleBirthInteger", "2", "a JSON integer"),
        ("multipleBirthInteger", 2.5, "a JSON integer"),
        ("gender", 5, "a JSON string"),
        ("birthDate", 19920307, "a JSON string"),
    ],
)
def test_primitive_json_types(element: str, value: object, expected: str) -> None:
    issue = _only(_issues_of(lambda m: m["entry"][1]["resource"].update({element: value})))
    assert (issue.code, issue.expression) == ("structure", f"{PATIENT}.{element}")
    assert expected in issue.diagnostics


def test_a_bad_value_format() -> None:
    issue = _only(_issues_of(lambda m: m["entry"][1]["resource"].update(birthDate="1992-13-07")))
    assert (issue.code, issue.expression) == ("value", f"{PATIENT}.birthDate")
    assert "not a valid FHIR date" in issue.diagnostics


def test_a_timestamp_without_timezone() -> None:
    issue = _only(_issues_of(lambda m: m.update(timestamp="2024-05-01T12:00:00")))
    assert (issue.code, issue.expression) == ("value", "Bundle.timestamp")
    assert "timezone" in issue.diagnostics


@pytest.mark.parametrize(
    ("change", "expression", "words"),
    [
        (lambda m: m.update(id=None), "Bundle.id", "null is not allowed"),
        (lambda m: m["entry"][1]["resource"].update(identifier=[]), f"{PATIENT}.identifier", "empty JSON array"),
        (lambda m: m["entry"][1]["resource"].update(maritalStatus={}), f"{PATIENT}.maritalStatus", "empty JSON object"),
        (lambda m: m.update(id=""), "Bundle.id", "empty string"),
        (lambda m: m["entry"][1]["resource"].update(gender=""), f"{PATIENT}.gender", "empty string"),
    ],
)
def test_json_without_content(change: Callable[[dict[str, Any]], object], expression: str, words: str) -> None:
    issue = _only(_issues_of(change))
    assert issue.expression == expression
    assert words in issue.diagnostics


@pytest.mark.parametrize("key", ["timestamp__ext", "fhir_comments"])
def test_the_models_own_field_names_are_unknown_elements(key: str) -> None:
    issue = _only(_issues_of(lambda m: m.update({key: {"id": "x"}})))
    assert (issue.code, issue.expression) == ("structure", f"Bundle.{key}")


def test_a_missing_required_element() -> None:
    issue = _only(_issues_of(lambda m: m["entry"][0]["resource"].pop("source")))
    assert (issue.code, issue.expression) == ("required", f"{HEADER}.source")
    assert "'source'" in issue.diagnostics


def test_a_missing_choice_element() -> None:
    issue = _only(_issues_of(lambda m: m["entry"][0]["resource"].pop("eventCoding")))
    assert (issue.code, issue.expression) == ("required", HEADER)
    assert "eventCoding, eventUri" in issue.diagnostics


def test_two_types_of_one_choice_element() -> None:
    def change(message: dict[str, Any]) -> None:
        message["entry"][1]["resource"]["extension"] = [{"url": "http://x", "valueString": "a", "valueBoolean": True}]

    issue = _only(_issues_of(change))
    assert issue.expression == f"{PATIENT}.extension[0]"
    assert "more than one type" in issue.diagnostics


def test_a_wrong_json_type_inside_a_primitive_extension() -> None:
    def change(message: dict[str, Any]) -> None:
        message["_timestamp"] = {"extension": [{"url": "http://x", "valueBoolean": "yes"}]}

    issue = _only(_issues_of(change))
    assert issue.expression == "Bundle.timestamp.extension[0].valueBoolean"


def test_a_number_where_a_url_belongs() -> None:
    # fhir.resources 8.3 raises AttributeError here instead of a ValidationError; the walk names the place
    issue = _only(_issues_of(lambda m: m["entry"][0]["resource"]["destination"][0].update(endpoint=5)))
    assert (issue.code, issue.expression) == ("structure", f"{HEADER}.destination[0].endpoint")


def test_an_object_where_a_complex_element_must_be_an_array() -> None:
    issue = _only(_issues_of(lambda m: m["entry"][1]["resource"].update(identifier={"value": "x"})))
    assert (issue.code, issue.expression) == ("structure", f"{PATIENT}.identifier")
    assert "JSON array" in issue.diagnostics


def test_an_entry_that_is_no_object() -> None:
    issue = _only(_issues_of(lambda m: m["entry"].__setitem__(1, "Patient")))
    assert issue.expression == "Bundle.entry[1]"


@pytest.mark.parametrize(
    ("resource_type", "code", "severity", "expression"),
    [
        ("Foo", "structure", Severity.ERROR, f"{PATIENT}.resourceType"),
        ("Coding", "structure", Severity.ERROR, f"{PATIENT}.resourceType"),
        ("Resource", "structure", Severity.ERROR, f"{PATIENT}.resourceType"),
        ("Ingredient", "structure", Severity.ERROR, f"{PATIENT}.resourceType"),  # R4B only
        ("MedicinalProduct", "not-supported", Severity.WARNING, PATIENT),  # R4 only
    ],
)
def test_resource_types(resource_type: str, code: str, severity: Severity, expression: str) -> None:
    issue = _only(_issues_of(lambda m: m["entry"][1]["resource"].update(resourceType=resource_type)))
    assert (issue.code, issue.severity, issue.expression) == (code, severity, expression)


def test_a_resource_without_resource_type() -> None:
    issue = _only(_issues_of(lambda m: m["entry"][1]["resource"].pop("resourceType")))
    assert (issue.code, issue.expression) == ("required", f"{PATIENT}.resourceType")


def test_an_unknown_contained_resource_type() -> None:
    # fhir.resources raises KeyError for it; the issue names the place, no vaguer issue is added
    issue = _only(_issues_of(lambda m: m["entry"][1]["resource"].update(contained=[{"resourceType": "Foo"}])))
    assert issue.expression == f"{PATIENT}.contained[0].resourceType"


def test_issues_in_a_contained_resource() -> None:
    def change(message: dict[str, Any]) -> None:
        message["entry"][1]["resource"]["contained"] = [{"resourceType": "Organization", "id": "o", "active": "x"}]

    issue = _only(_issues_of(change))
    assert issue.expression == f"{PATIENT}.contained[0].active"


def test_every_fault_is_reported() -> None:
    def change(message: dict[str, Any]) -> None:
        message["timestamp"] = 5
        message["entry"][0]["resource"]["foo"] = 1
        message["entry"][0]["resource"].pop("source")
        message["entry"][1]["resource"]["gender"] = 5
        message["entry"][2]["resource"]["status"] = ["completed"]

    found = {issue.expression for issue in _issues_of(change)}
    assert found == {
        "Bundle.timestamp",
        f"{HEADER}.foo",
        f"{HEADER}.source",
        f"{PATIENT}.gender",
        "Bundle.entry[2].resource.status",
    }


def test_each_place_is_reported_once() -> None:
    issues = _issues_of(lambda m: m["entry"][1]["resource"].update(active="x", gender=["male"]))
    assert sorted(issue.expression or "" for issue in issues) == [f"{PATIENT}.active", f"{PATIENT}.gender"]


@pytest.mark.parametrize(
    ("parts", "expression"),
    [
        (("entry", 0, "resource", "destination", 1, "endpoint"), "Bundle.entry[0].resource.destination[1].endpoint"),
        (("_timestamp", "extension", 0), "Bundle.timestamp.extension[0]"),
        (("a b",), "Bundle.`a b`"),
        (("x" * 100,), "Bundle.`" + "x" * 61 + "...`"),
        ((), "Bundle"),
    ],
)
def test_fhirpath_of_json_locations(parts: tuple[str | int, ...], expression: str) -> None:
    assert paths.from_parts(parts) == expression

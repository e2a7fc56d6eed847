"""The validator end to end: the official MedCom examples are valid, faults are found together, nothing raises."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.domain.outcome import Severity
from hub.domain.sektorhub import EVENT_CODE_SYSTEM as SEKTORHUB_EVENT_CODE_SYSTEM
from hub.validate import Validator, Verdict, verdict_line
from hub.validate.validator import MAX_ISSUES, SCHEMAS_DIR, load_event_codes

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT.parent / "shared" / "medcom" / "examples"
FOLDERS = ("hospitalnotification", "carecommunication", "acknowledgement", "messaging")
EXAMPLE_PATHS = sorted(p for folder in FOLDERS for p in (EXAMPLES / folder).glob("*.json"))
CARE = EXAMPLES / "carecommunication" / "Bundle-add5e7e2-0c0f-4a4a-bfff-f6f984fa7e3c.json"
HEADER = "Bundle.entry[0].resource"
EVENTS = {
    "hospitalnotification": {"hospital-notification-message"},
    "carecommunication": {"care-communication-message"},
    "acknowledgement": {"acknowledgement-message", "empty-message"},
    "messaging": {"empty-message"},
}

VALIDATOR = Validator()


def _care() -> dict[str, Any]:
    message: dict[str, Any] = orjson.loads(CARE.read_bytes())
    return message


def _errors(verdict: Verdict) -> list[tuple[str, str | None]]:
    return [(issue.code, issue.expression) for issue in verdict.issues if issue.is_error]


def test_the_examples_are_found() -> None:
    assert len(EXAMPLE_PATHS) >= 25


@pytest.mark.parametrize("path", EXAMPLE_PATHS, ids=lambda p: f"{p.parent.name}/{p.name[:15]}")
def test_every_official_example_is_valid(path: Path) -> None:
    verdict = VALIDATOR.validate(path.read_bytes())
    assert verdict.valid, [issue.as_dict() for issue in verdict.issues]
    assert verdict.issues == ()
    assert verdict.event in EVENTS[path.parent.name]
    assert verdict.bundle is not None
    assert verdict.facts is not None
    assert verdict.facts.bundle_id == verdict.bundle["id"]


def test_a_bom_prefixed_message_is_valid() -> None:
    verdict = VALIDATOR.validate(b"\xef\xbb\xbf" + CARE.read_bytes())
    assert verdict.valid
    assert verdict.event == "care-communication-message"


def test_the_event_codes_come_from_schemas() -> None:
    codes = load_event_codes(SCHEMAS_DIR / "medcom" / "event-codes.json")
    assert {"hospital-notification-message", "care-communication-message", "acknowledgement-message"} <= codes
    own = load_event_codes(
        SCHEMAS_DIR / "sektorhub" / "CodeSystem-sektorhub-eventCodes.json", SEKTORHUB_EVENT_CODE_SYSTEM
    )
    assert own == {
        "sektorhub-discharge-letter-message",
        "sektorhub-referral-message",
        "sektorhub-medication-update-message",
    }
    assert VALIDATOR.event_codes == codes | own
    assert VALIDATOR.own_event_codes == own
    assert Validator(schemas_dir=SCHEMAS_DIR).event_codes == codes | own


def test_an_own_event_code_needs_the_hubs_system() -> None:
    bundle = orjson.loads(CARE.read_bytes())
    bundle["entry"][0]["resource"]["eventCoding"]["code"] = "sektorhub-referral-message"
    verdict = VALIDATOR.validate(orjson.dumps(bundle))
    assert ("code-invalid", f"{HEADER}.eventCoding.code") in _errors(verdict)


def test_event_codes_can_be_given() -> None:
    validator = Validator(event_codes=frozenset({"empty-message"}))
    verdict = validator.validate(CARE.read_bytes())
    assert _errors(verdict) == [("code-invalid", f"{HEADER}.eventCoding.code")]


def test_a_schemas_dir_without_event_codes_fails_at_start(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        Validator(schemas_dir=tmp_path)


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b'{"resourceType": "Bundle", "id": }', "line 1 column 34"),
        (b'{"resourceType": "Bundle", "id": "\xff"}', "byte offset 34"),
        (b"[]", "JSON array"),
        (b"", "empty"),
    ],
)
def test_unreadable_bytes_stop_at_the_envelope(raw: bytes, words: str) -> None:
    verdict = VALIDATOR.validate(raw)
    assert not verdict.valid
    [issue] = verdict.issues
    assert issue.severity is Severity.FATAL
    assert words in issue.diagnostics
    assert (verdict.facts, verdict.bundle, verdict.event) == (None, None, None)


def test_a_json_syntax_error_carries_the_parsers_line_and_column() -> None:
    [issue] = VALIDATOR.validate(b'{"resourceType": "Bundle",\n  "id": }').issues
    assert (issue.line, issue.column) == (2, 9)
    [issue] = VALIDATOR.validate(b'{"resourceType": "Bundle", "id": "\xff"}').issues
    assert (issue.line, issue.column) == (None, None)  # invalid UTF-8: a byte offset, in the diagnostics


def test_a_bad_json_byte_in_a_real_message() -> None:
    raw = CARE.read_bytes().replace(b'"type" : "message"', b'"type" : message"', 1)
    verdict = VALIDATOR.validate(raw)
    [issue] = verdict.issues
    assert "not valid JSON" in issue.diagnostics
    assert "line 7 column 12" in issue.diagnostics
    assert (issue.line, issue.column) == (7, 12)  # the parser's position, also as fields
    assert issue.as_dict()["line"] == 7


def test_a_message_over_the_size_limit() -> None:
    raw = CARE.read_bytes()
    verdict = Validator(max_bytes=len(raw) - 1).validate(raw)
    [issue] = verdict.issues
    assert (issue.severity, issue.code) == (Severity.FATAL, "too-costly")
    assert f"{len(raw)} bytes" in issue.diagnostics


def test_another_resource_type_stops_validation_but_keeps_the_facts() -> None:
    verdict = VALIDATOR.validate(b'{"resourceType": "Patient", "id": "p"}')
    assert _errors(verdict) == [("structure", "Bundle")]
    assert verdict.bundle == {"resourceType": "Patient", "id": "p"}
    assert verdict.facts is not None
    assert verdict.event is None


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda m: m.update(type="collection"), ("value", "Bundle.type")),
        (lambda m: m.update(timestamp=5), ("structure", "Bundle.timestamp")),
        (lambda m: m["entry"][0]["resource"].update(foo="bar"), ("structure", f"{HEADER}.foo")),
        (lambda m: m["entry"].reverse(), ("invalid", HEADER)),
        (lambda m: m["entry"][1]["resource"]["identifier"][0].update(value="3213991234"), None),
    ],
)
def test_one_fault_one_error(change: Any, expected: tuple[str, str] | None) -> None:
    message = _care()
    change(message)
    verdict = VALIDATOR.validate(orjson.dumps(message))
    assert not verdict.valid
    errors = _errors(verdict)
    assert len(errors) == 1, errors
    if expected is not None:
        assert errors == [expected]


def test_a_fault_both_layers_see_is_reported_once() -> None:
    message = _care()
    message["timestamp"] = "2024-05-01T12:00:00"  # a bad FHIR instant and a MedCom timestamp without timezone
    verdict = VALIDATOR.validate(orjson.dumps(message))
    assert _errors(verdict) == [("value", "Bundle.timestamp")]


def test_all_faults_of_a_message_are_reported_together() -> None:
    message = _care()
    message["type"] = "collection"
    message["timestamp"] = 5
    message["entry"][0]["resource"]["eventCoding"]["code"] = "no-such-message"
    message["entry"][0]["resource"]["focus"][0]["reference"] = "Communication/gone"
    message["entry"][1]["resource"]["active"] = "yes"
    verdict = VALIDATOR.validate(orjson.dumps(message))
    assert set(_errors(verdict)) == {
        ("value", "Bundle.type"),
        ("structure", "Bundle.timestamp"),
        ("code-invalid", f"{HEADER}.eventCoding.code"),
        ("not-found", f"{HEADER}.focus[0]"),
        ("structure", "Bundle.entry[1].resource.active"),
    }
    assert verdict.event == "no-such-message"


def test_verdict_line() -> None:
    message = _care()
    message["type"] = "collection"
    raw = orjson.dumps(message)
    line = verdict_line("in/a.json", VALIDATOR.validate(raw))
    assert line == {
        "path": "in/a.json",
        "valid": False,
        "event": "care-communication-message",
        "issues": [
            {
                "severity": "error",
                "code": "value",
                "expression": "Bundle.type",
                "diagnostics": "Bundle.type is 'collection'; a MedCom message has type 'message'",
                "line": 1,
                "column": raw.index(b'"type"') + 1,
            }
        ],
    }
    orjson.dumps(line)
    assert verdict_line("x", VALIDATOR.validate(b"")) == {
        "path": "x",
        "valid": False,
        "event": None,
        "issues": [
            {
                "severity": "fatal",
                "code": "structure",
                "expression": None,
                "diagnostics": "the message is empty; expected a JSON object (a Bundle)",
            }
        ],
    }


HOSPITAL_NOTIFICATION = EXAMPLES / "hospitalnotification" / "Bundle-a5e5b880-c087-4055-b9ec-99108695f81d.json"


@pytest.mark.parametrize("path", [CARE, HOSPITAL_NOTIFICATION], ids=["carecommunication", "hospitalnotification"])
def test_a_medcom_message_without_the_patients_name_is_rejected(path: Path) -> None:
    # medcom-core-patient requires Patient.name: the MedCom profiles apply to MedCom's messages too
    message = orjson.loads(path.read_bytes())
    [where] = [i for i, e in enumerate(message["entry"]) if e["resource"]["resourceType"] == "Patient"]
    del message["entry"][where]["resource"]["name"]
    verdict = VALIDATOR.validate(orjson.dumps(message))
    assert not verdict.valid
    [issue] = [issue for issue in verdict.issues if issue.is_error]
    assert (issue.code, issue.expression) == ("required", f"Bundle.entry[{where}].resource.name")
    assert "profile medcom-core-patient" in issue.diagnostics


def test_a_medcom_organisation_needs_both_its_gln_and_its_sor_code() -> None:
    message = _care()
    [where] = [i for i, e in enumerate(message["entry"]) if e["resource"]["resourceType"] == "Organization"][:1]
    organisation = message["entry"][where]["resource"]
    organisation["identifier"] = [i for i in organisation["identifier"] if "gln" not in i["system"]]
    verdict = VALIDATOR.validate(orjson.dumps(message))
    errors = [(issue.code, issue.expression) for issue in verdict.issues if issue.is_error]
    assert ("required", f"Bundle.entry[{where}].resource.identifier") in errors


def test_a_warning_leaves_the_message_valid() -> None:
    message = _care()
    # an extension in a Danish namespace whose definition schemas/ lacks: a warning, not an error
    message["entry"][1]["resource"].setdefault("extension", []).append(
        {"url": "http://hl7.dk/fhir/core/StructureDefinition/not-in-schemas", "valueString": "x"}
    )
    verdict = VALIDATOR.validate(orjson.dumps(message))
    assert verdict.valid
    assert [issue.severity for issue in verdict.issues] == [Severity.WARNING]


# --- robustness ---------------------------------------------------------------------------------------------

FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
# names the validator looks at, so generated objects reach the rules rather than only "unknown element"
NAMES = st.sampled_from(
    [
        "resourceType",
        "type",
        "id",
        "timestamp",
        "entry",
        "fullUrl",
        "resource",
        "reference",
        "eventCoding",
        "system",
        "code",
        "sender",
        "destination",
        "receiver",
        "extension",
        "url",
        "valueCoding",
        "identifier",
        "value",
        "response",
        "focus",
        "target",
        "_timestamp",
        "contained",
    ]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(["Bundle", "MessageHeader", "Organization", "Patient", "Provenance", "message", "primary"])
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(NAMES | st.text(max_size=8), inner, max_size=5),
    max_leaves=30,
)


def _check(verdict: Verdict) -> None:
    assert isinstance(verdict, Verdict)
    assert all(issue.diagnostics for issue in verdict.issues)
    orjson.dumps(verdict_line("fuzz", verdict))


@FUZZ
@given(st.binary(max_size=300))
def test_any_bytes(raw: bytes) -> None:
    _check(VALIDATOR.validate(raw))


@FUZZ
@given(JSON)
def test_any_json_value(value: Any) -> None:
    _check(VALIDATOR.validate(orjson.dumps(value)))


@FUZZ
@given(st.dictionaries(NAMES, JSON, max_size=8))
def test_any_bundle_shaped_object(fields: dict[str, Any]) -> None:
    _check(VALIDATOR.validate(orjson.dumps({**fields, "resourceType": "Bundle"})))


def _places(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _places(child, (*path, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            found += _places(child, (*path, i))
    return found


CARE_PLACES = _places(_care())[1:]


_GONE = object()


def _child(parent: Any, step: Any) -> Any:
    if isinstance(parent, dict) and isinstance(step, str):
        return parent.get(step, _GONE)
    if isinstance(parent, list) and isinstance(step, int) and step < len(parent):
        return parent[step]
    return _GONE


def _replace(document: Any, place: tuple[Any, ...], value: Any) -> None:
    """Put value at place, if earlier replacements left that place in the document."""
    *steps, last = place
    parent = document
    for step in steps:
        parent = _child(parent, step)
    if _child(parent, last) is not _GONE:
        parent[last] = value


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(CARE_PLACES), JSON), min_size=1, max_size=3))
def test_a_real_message_with_any_parts_replaced(changes: list[tuple[tuple[Any, ...], Any]]) -> None:
    message = _care()
    for place, value in changes:
        _replace(message, place, value)
    _check(VALIDATOR.validate(orjson.dumps(message)))


def test_deep_nesting_inside_a_real_message() -> None:
    message = _care()
    deep: Any = {"url": "http://x", "valueString": "a"}
    for _ in range(60):
        deep = {"url": "http://x", "extension": [deep]}
    message["entry"][1]["resource"]["extension"] = [deep]
    verdict = VALIDATOR.validate(orjson.dumps(message))
    assert [issue.code for issue in verdict.issues] == ["too-costly"]
    assert verdict.facts is not None


def test_huge_strings() -> None:
    message = _care()
    message["entry"][1]["resource"]["name"][0]["family"] = "x" * 2_000_000
    message["entry"][0]["resource"]["eventCoding"]["code"] = "y" * 1_000_000
    message["z" * 100_000] = 1
    verdict = VALIDATOR.validate(orjson.dumps(message))
    assert not verdict.valid
    assert all(len(issue.diagnostics) < 500 for issue in verdict.issues)
    assert all(len(issue.expression or "") < 500 for issue in verdict.issues)


def test_a_flood_of_issues_is_cut_short() -> None:
    message = _care()
    message.update({f"unknown{i}": i for i in range(MAX_ISSUES * 5)})
    verdict = VALIDATOR.validate(orjson.dumps(message))
    assert len(verdict.issues) == MAX_ISSUES
    last = verdict.issues[-1]
    assert (last.severity, last.code) == (Severity.ERROR, "too-costly")
    assert f"{MAX_ISSUES * 4 + 1} more issues" in last.diagnostics


# --- hostile input: never raises, always errors, each issue located -----------------------------------------


def _located_errors(raw: bytes) -> Verdict:
    """The verdict on raw, checked: errors, and each issue with an expression or a line and column within raw."""
    verdict = VALIDATOR.validate(raw)
    _check(verdict)
    assert not verdict.valid
    lines = raw.count(b"\n") + 1
    for issue in verdict.issues:
        assert issue.expression or issue.line is not None, issue.as_dict()
        if issue.line is not None:
            assert 1 <= issue.line <= lines, issue.as_dict()
            assert issue.column is not None and issue.column >= 1, issue.as_dict()
    return verdict


@pytest.mark.parametrize(
    "deep", [b"[" * 10_000 + b"]" * 10_000, b'{"a": ' * 10_000 + b"1" + b"}" * 10_000], ids=["arrays", "objects"]
)
@pytest.mark.parametrize("where", ["top", "inside"])
def test_ten_thousand_levels_of_nesting(deep: bytes, where: str) -> None:
    if where == "top":
        raw = b'{"resourceType": "Bundle", "deep": ' + deep + b"}"
    else:
        message = _care()
        message["entry"][1]["resource"]["extension"] = [{"url": "http://x", "valueString": "PLACE"}]
        raw = orjson.dumps(message, option=orjson.OPT_INDENT_2).replace(b'"PLACE"', deep, 1)
    [issue] = _located_errors(raw).issues
    assert issue.severity is Severity.FATAL
    assert issue.line is not None  # the parser's own position: where it gave up


@pytest.mark.parametrize("depth", [101, 1000])
def test_nesting_just_too_deep_is_located(depth: int) -> None:
    message = _care()
    message["entry"][1]["resource"]["extension"] = [{"url": "http://x", "valueString": "PLACE"}]
    raw = orjson.dumps(message, option=orjson.OPT_INDENT_2).replace(b'"PLACE"', b"[" * depth + b"]" * depth, 1)
    [issue] = _located_errors(raw).issues
    assert issue.code == "too-costly"
    assert issue.expression is not None and issue.expression.startswith("Bundle.entry[1].resource.extension[0]")
    text = raw.decode()
    assert issue.line == text[: text.index("[[[")].count("\n") + 1


def test_a_five_megabyte_string() -> None:
    message = _care()
    message["entry"][2]["resource"]["payload"][0]["contentString"] = "æ\n" * 2_500_000
    raw = orjson.dumps(message, option=orjson.OPT_INDENT_2)
    verdict = _located_errors(raw)
    [issue] = [i for i in verdict.issues if i.expression == "Bundle.entry[2].resource.payload[0].contentString"]
    text = raw.decode()
    assert (issue.line, issue.column) == (text[: text.index('"contentString"')].count("\n") + 1, 13)


def _wrong(value: Any, kind: str) -> Any:
    """value replaced by a wrong type of the kind named, or _GONE when that kind is no fault for value."""
    if kind == "number for string":
        return 42 if isinstance(value, str) else _GONE
    if kind == "list for object":
        return [value] if isinstance(value, dict) else _GONE
    if kind == "number for list":
        return 42 if isinstance(value, list) else _GONE
    if kind == "object for list":
        return {"item": value} if isinstance(value, list) else _GONE
    return {"null": None, "{}": {}, "[]": []}[kind]


@pytest.mark.parametrize(
    "kind", ["number for string", "list for object", "number for list", "object for list", "null", "{}", "[]"]
)
def test_every_element_of_a_real_message_of_a_wrong_type(kind: str) -> None:
    original = _care()
    tried = 0
    for place in CARE_PLACES:
        message = _care()
        parent = message
        for step in place[:-1]:
            parent = parent[step]
        wrong = _wrong(parent[place[-1]], kind)
        if wrong is _GONE:
            continue
        parent[place[-1]] = wrong
        raw = orjson.dumps(message, option=orjson.OPT_INDENT_2)
        verdict = _located_errors(raw)
        assert all(issue.expression for issue in verdict.issues), (place, [i.as_dict() for i in verdict.issues])
        tried += 1
    assert tried > 20
    assert _care() == original

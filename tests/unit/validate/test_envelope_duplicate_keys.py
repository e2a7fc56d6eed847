"""One reading of a message: a key given twice in a JSON object is refused by the envelope, named with its path,
line and column; the cheap count that decides whether to look agrees with an exact parse on any JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from hub.domain.identifiers import mask_cpr_in_text
from hub.domain.message import read_facts
from hub.domain.outcome import Severity
from hub.validate import paths
from hub.validate.envelope import MAX_DUPLICATE_KEYS, _has_no_duplicate_keys, _shape, read_envelope
from hub.validate.positions import duplicate_keys
from hub.validate.validator import Validator

SHARED = Path(__file__).resolve().parents[3].parent / "shared"
EXAMPLE = SHARED / "medcom/examples/carecommunication/Bundle-add5e7e2-0c0f-4a4a-bfff-f6f984fa7e3c.json"
BENCHMARK = SHARED / "fhir-test-cases/messages/bundle-message-dk.json"
LIMIT = 10 * 1024 * 1024
HOSPITAL_A = "Organization/b581c63c-181f-46f6-990d-b9942c576724"  # the example's sender
HOSPITAL_B = "Organization/hospital-b"


def _duplicates(raw: bytes) -> list[tuple[str, int | None, int | None, str]]:
    return [
        (issue.expression or "", issue.line, issue.column, issue.diagnostics)
        for issue in read_envelope(raw, max_bytes=LIMIT).issues
        if "more than once" in issue.diagnostics
    ]


def _position(text: str, line: int, column: int) -> int:
    """The character offset of a 1-based line and column."""
    return sum(len(part) + 1 for part in text.split("\n")[: line - 1]) + column - 1


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator()


# --- the examples the issue names -----------------------------------------------------------------------------


def test_a_sender_reference_given_twice_is_refused_with_its_place(validator: Validator) -> None:
    """Hospital A's token, hospital B first and A last: a receiver keeping the first value would read B."""
    text = EXAMPLE.read_text()  # HL7's style: "key" : value
    header_sender = f'"sender" : {{\n        "reference" : "{HOSPITAL_A}"'
    assert header_sender in text, "the example's MessageHeader.sender as this test expects it"
    forged = text.replace(
        header_sender,
        f'"sender" : {{\n        "reference" : "{HOSPITAL_B}",\n        "reference" : "{HOSPITAL_A}"',
        1,
    )
    raw = forged.encode()
    assert read_facts(orjson.loads(raw)).sender == read_facts(orjson.loads(EXAMPLE.read_bytes())).sender  # the trap

    envelope = read_envelope(raw, max_bytes=LIMIT)
    assert not envelope.ok
    [issue] = envelope.issues
    assert (issue.severity, issue.code) == (Severity.FATAL, "structure")
    assert issue.expression == "Bundle.entry[0].resource.sender.reference"
    assert "'reference'" in issue.diagnostics and "FHIR JSON forbids duplicate keys" in issue.diagnostics
    assert issue.line is not None and issue.column is not None
    at = _position(forged, issue.line, issue.column)
    assert forged[at:].startswith(f'"reference" : "{HOSPITAL_A}"')  # the second one, where the sender looks
    first = forged.index(f'"reference" : "{HOSPITAL_B}"')
    first_line = forged.count("\n", 0, first) + 1
    assert f"line {first_line} column" in issue.diagnostics

    verdict = validator.validate(raw)  # the ingress path: the same envelope, so the same refusal
    assert not verdict.valid
    assert [i.expression for i in verdict.issues if i.is_error] == ["Bundle.entry[0].resource.sender.reference"]


def test_an_organization_identifier_given_twice_is_refused() -> None:
    document = orjson.loads(EXAMPLE.read_bytes())
    entry = next(i for i, e in enumerate(document["entry"]) if e["resource"].get("id") == HOSPITAL_A.split("/")[1])
    compact = orjson.dumps(document).decode()
    organisation = orjson.dumps(document["entry"][entry]["resource"]).decode()
    other = '"identifier":[{"system":"urn:oid:1.2.208.176.1.1","value":"123456789012345"}],'
    forged = compact.replace(organisation, organisation.replace('"identifier":', other + '"identifier":', 1))
    assert forged != compact
    [(expression, line, column, diagnostics)] = _duplicates(forged.encode())
    assert expression == f"Bundle.entry[{entry}].resource.identifier"
    assert line == 1 and column is not None
    assert forged[column - 1 :].startswith('"identifier":[{"system":"https://www.gs1.org/gln"')
    assert "123456789012345" not in diagnostics  # keys are named, values never quoted


def test_keys_are_compared_decoded_and_x_is_not__x() -> None:
    assert [d[0] for d in _duplicates(b'{"resourceType":"Bundle","id":"1","\\u0069d":"2"}')] == ["Bundle.id"]
    assert _duplicates(b'{"resourceType":"Bundle","birthDate":"2000","_birthDate":{"id":"x"}}') == []
    assert _duplicates(b'{"resourceType":"Bundle","a":{"x":1},"b":{"x":1}}') == []  # other objects


def test_every_key_given_again_is_named_up_to_a_bound() -> None:
    members = ",".join(f'"k{i}":1,"k{i}":2' for i in range(MAX_DUPLICATE_KEYS + 5))
    issues = read_envelope(f'{{"resourceType":"Bundle",{members}}}'.encode(), max_bytes=LIMIT).issues
    assert len(issues) == MAX_DUPLICATE_KEYS + 1
    assert [i.expression for i in issues[:3]] == ["Bundle.k0", "Bundle.k1", "Bundle.k2"]
    assert "more than" in issues[-1].diagnostics
    assert all(i.severity == Severity.FATAL for i in issues)


def test_a_key_given_three_times_is_named_at_each_repetition() -> None:
    found = duplicate_keys(b'{"a":1,\n"a":2,\n"a":3}')
    assert [(d.key, d.expression, d.position, d.first) for d in found] == [
        ("a", "Bundle.a", (2, 1), (1, 2)),
        ("a", "Bundle.a", (3, 1), (1, 2)),
    ]


def test_an_escaped_colon_makes_the_count_uncertain_but_is_no_duplicate() -> None:
    raw = b'{"resourceType":"Bundle","a":"\\u003a","b":"x\\u003Ay"}'
    assert _shape(raw, 100)[1] == -1
    assert read_envelope(raw, max_bytes=LIMIT).ok
    # and an escaped colon cannot hide a duplicate: one colon more in the document, one member less
    assert _duplicates(b'{"resourceType":"Bundle","a":"\\u003a","a":"1"}')[0][0] == "Bundle.a"


def test_a_bom_and_a_deep_document_are_handled_first() -> None:
    raw = b'\xef\xbb\xbf{"resourceType":"Bundle",\n"id":"1","id":"2"}'
    [(expression, line, column, _)] = _duplicates(raw)
    assert (expression, line, column) == ("Bundle.id", 2, 10)


def test_realistic_messages_take_the_cheap_path() -> None:
    """No exact pass for messages without duplicates: the counts agree (they have escapes, URLs, XHTML)."""
    for path in (EXAMPLE, BENCHMARK):
        raw = path.read_bytes()
        _, colons = _shape(raw.removeprefix(b"\xef\xbb\xbf"), 100)
        assert colons == orjson.dumps(orjson.loads(raw)).count(b":")
        assert read_envelope(raw, max_bytes=LIMIT).ok


# --- property: the check agrees with an exact parse -------------------------------------------------------------


class _Pairs(list[tuple[str, Any]]):
    """An object as json.loads(object_pairs_hook=...) gives it: every member, in order, duplicates too."""


def _reference_duplicates(text: str) -> list[str]:
    """The path of every key given again in its object, in text order, by the standard library's parser."""
    found: list[str] = []

    def walk(value: Any, where: str) -> None:
        if isinstance(value, _Pairs):
            seen: set[str] = set()
            for key, child in value:
                path = paths.child(where, key)
                if key in seen:
                    found.append(path)
                seen.add(key)
                walk(child, path)
        elif isinstance(value, list):
            for i, child in enumerate(value):
                walk(child, paths.item(where, i))

    walk(json.loads(text, object_pairs_hook=_Pairs), "Bundle")
    return found


_KEYS = st.sampled_from(["a", "b", "_a", "id", "x:y", ":", " :", "\u00e6", "a\\", 'q"', "{", "[", ","]) | st.text(
    max_size=4
)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.sampled_from('ab:{}[]",\\ \n\u00e6\u2028'), max_size=6)
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.lists(st.tuples(_KEYS, inner), max_size=4),
    max_leaves=25,
)


_ESCAPED = {"colons": {":": "\\u003a"}, "upper colons": {":": "\\u003A"}, "letters": {"a": "\\u0061", "i": "\\u0069"}}


def _encode_string(value: str, escape: str) -> str:
    """A JSON string; "ascii" escapes what is not ASCII, "colons" colons (either case), "letters" some letters."""
    if escape in ("none", "ascii"):
        return json.dumps(value, ensure_ascii=escape == "ascii")
    chosen = _ESCAPED[escape]
    return '"' + "".join(chosen.get(c) or json.dumps(c)[1:-1] for c in value) + '"'


def _encode(value: Any, escape: str, indent: str | None, depth: int = 0) -> str:
    """JSON text of value, where a list of (key, value) tuples is an object with exactly those members."""
    if isinstance(value, str):
        return _encode_string(value, escape)
    if not isinstance(value, list):
        return json.dumps(value)
    is_object = bool(value) and all(isinstance(v, tuple) for v in value)
    if not value:
        return "[]"
    inner = "" if indent is None else "\n" + indent * (depth + 1)
    outer = "" if indent is None else "\n" + indent * depth
    separator = ": " if indent is not None else ":"
    if is_object:
        parts = [f"{_encode_string(k, escape)}{separator}{_encode(v, escape, indent, depth + 1)}" for k, v in value]
        return "{" + ",".join(inner + p for p in parts) + outer + "}"
    parts = [_encode(v, escape, indent, depth + 1) for v in value]
    return "[" + ",".join(inner + p for p in parts) + outer + "]"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    members=st.lists(st.tuples(_KEYS, _JSON), max_size=6),
    escape=st.sampled_from(["none", "ascii", "colons", "upper colons", "letters"]),
    indent=st.sampled_from([None, "  ", "\t"]),
    data=st.data(),
)
def test_the_envelope_finds_exactly_the_duplicates_an_exact_parse_finds(
    members: list[tuple[str, Any]], escape: str, indent: str | None, data: st.DataObject
) -> None:
    document = [("resourceType", "Bundle"), *members]
    if data.draw(st.booleans(), label="inject a duplicate"):
        target = data.draw(st.sampled_from(_objects(document)), label="object")
        key, _ = data.draw(st.sampled_from(target), label="member")
        target.insert(data.draw(st.integers(0, len(target)), label="at"), (key, data.draw(_SCALARS)))
    text = _encode(document, escape, indent)
    raw = text.encode()
    expected = [mask_cpr_in_text(path) for path in _reference_duplicates(text)][:MAX_DUPLICATE_KEYS]

    cheap = _has_no_duplicate_keys(_shape(raw, 100)[1], orjson.loads(raw))
    if expected:
        assert not cheap  # never a duplicate the cheap count lets through
    elif "colons" not in escape:
        assert cheap  # and the exact pass is only for the suspect
    found = _duplicates(raw)
    event("duplicates" if expected else "no duplicates")
    assert [expression for expression, *_ in found] == expected
    for expression, line, column, _ in found:  # each at the key given again, which is that expression's key
        assert line is not None and column is not None
        key, _ = json.JSONDecoder().raw_decode(text, _position(text, line, column))
        assert expression.endswith(mask_cpr_in_text(paths.child("", key)))


def _objects(value: Any) -> list[list[tuple[str, Any]]]:
    """Every object (a list of member tuples) in value, the value itself included when it is one."""
    found: list[list[tuple[str, Any]]] = []
    todo = [value]
    while todo:
        current = todo.pop()
        if isinstance(current, list):
            if current and all(isinstance(v, tuple) for v in current):
                found.append(current)
                todo.extend(v for _, v in current)
            else:
                todo.extend(current)
    return found

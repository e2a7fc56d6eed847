"""No CPR number in any outcome: whatever field of a real MedCom message a CPR-shaped value is put in (a string, a
JSON number, a resource id, a reference, an extension, a key), no issue of its validation quotes it, in its
diagnostics or its expression, nor does the OperationOutcome made of them."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.domain.outcome import operation_outcome
from hub.validate.envelope import read_envelope
from hub.validate.validator import Validator
from tests.medcom_examples import medcom_example_messages

# Places in a document: the steps (keys and indices) from the root to a value
Place = tuple[str | int, ...]


@cache
def _validator() -> Validator:
    return Validator()


@cache
def _examples() -> tuple[tuple[Path, dict[str, Any]], ...]:
    paths = medcom_example_messages()
    assert paths, "expected the MedCom examples under ../shared/medcom"
    return tuple((path, orjson.loads(path.read_bytes())) for path in paths)


def _places(document: Any) -> list[Place]:
    """Every value's place in the document, containers and scalars, the root aside."""
    found: list[Place] = []
    todo: list[tuple[Any, Place]] = [(document, ())]
    while todo:
        value, place = todo.pop()
        if place:
            found.append(place)
        if isinstance(value, dict):
            todo.extend((child, (*place, key)) for key, child in value.items())
        elif isinstance(value, list):
            todo.extend((child, (*place, i)) for i, child in enumerate(value))
    return found


def _at(document: Any, place: Place) -> Any:
    for step in place:
        document = document[step]
    return document


def _cprs() -> st.SearchStrategy[str]:
    """CPR numbers: a calendar date (DDMMYY) and four digits; the day from 10 so that it is also a JSON number."""
    return st.builds(
        lambda day, month, year, serial: f"{day:02d}{month:02d}{year:02d}{serial:04d}",
        st.integers(10, 28),
        st.integers(1, 12),
        st.integers(0, 99),
        st.integers(0, 9999),
    )


KINDS = (
    "string",  # the value becomes the CPR
    "dashed",  # DDMMYY-XXXX
    "number",  # a JSON number
    "float",  # a JSON number with a fraction
    "in text",  # inside a longer string
    "resource id",  # the id of the resource the place is in (and of the references to it)
    "reference",  # a Reference to Patient/<cpr>
    "extension",  # an extension whose url and value carry it
    "key",  # a key of the object the place is in
    "identifier",  # an identifier of the resource (any system)
)


def _inject(document: dict[str, Any], place: Place, kind: str, cpr: str) -> None:
    parent_place, last = place[:-1], place[-1]
    parent = _at(document, parent_place)
    dashed = f"{cpr[:6]}-{cpr[6:]}"
    if kind == "string":
        parent[last] = cpr
    elif kind == "dashed":
        parent[last] = dashed
    elif kind == "number":
        parent[last] = int(cpr)
    elif kind == "float":
        parent[last] = int(cpr) + 0.5
    elif kind == "in text":
        parent[last] = f"patient {cpr} was here"
    elif kind == "reference":
        parent[last] = {"reference": f"Patient/{cpr}"}
    elif kind == "extension":
        holder = parent if isinstance(parent, dict) else document
        holder.setdefault("extension", [])
        if isinstance(holder["extension"], list):
            holder["extension"].append({"url": f"http://example.org/{cpr}", "valueString": dashed})
            holder["extension"].append({"url": "http://example.org/cpr", "valueInteger": int(cpr)})
    elif kind == "key":
        if isinstance(parent, dict):
            parent[cpr] = parent.pop(last)
        else:
            parent[last] = {cpr: "x"}
    elif kind in ("resource id", "identifier"):
        resource = _resource_of(document, place)
        if kind == "resource id":
            old = resource.get("id")
            resource["id"] = cpr
            if isinstance(old, str):  # the references follow, so the message stays otherwise whole
                raw = orjson.dumps(document).replace(f'/{old}"'.encode(), f'/{cpr}"'.encode())
                document.clear()
                document.update(orjson.loads(raw))
        else:
            resource.setdefault("identifier", [])
            if isinstance(resource["identifier"], list):
                resource["identifier"].append({"system": "urn:oid:1.2.208.176.1.1", "value": cpr})


def _resource_of(document: dict[str, Any], place: Place) -> dict[str, Any]:
    """The innermost resource (an object with a resourceType) around the place."""
    found = document
    value: Any = document
    for step in place:
        value = value[step]
        if isinstance(value, dict) and "resourceType" in value:
            found = value
    return found


def _leaks(issues: Any, cpr: str) -> list[str]:
    dashed = f"{cpr[:6]}-{cpr[6:]}"
    texts = [f"{issue.expression} {issue.diagnostics}" for issue in issues]
    texts.append(orjson.dumps(operation_outcome(list(issues))).decode())
    return [text for text in texts if cpr in text or dashed in text]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), cpr=_cprs(), kind=st.sampled_from(KINDS), pretty=st.booleans())
def test_no_issue_quotes_a_cpr_put_anywhere(data: st.DataObject, cpr: str, kind: str, pretty: bool) -> None:
    path, example = data.draw(st.sampled_from(_examples()), label="example")
    document = copy.deepcopy(example)
    place = data.draw(st.sampled_from(_places(document)), label="place")
    _inject(document, place, kind, cpr)
    raw = orjson.dumps(document, option=orjson.OPT_INDENT_2 if pretty else 0)
    verdict = _validator().validate(raw)
    assert _leaks(verdict.issues, cpr) == [], path.name


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_of_place_in_the_patient(kind: str) -> None:
    """The most likely places, each kind once: in the Patient resource, where the CPR belongs."""
    cpr = "2509479989"
    for path, example in _examples():
        document = copy.deepcopy(example)
        patients = [i for i, e in enumerate(document["entry"]) if e["resource"]["resourceType"] == "Patient"]
        if not patients:
            continue
        place: Place = ("entry", patients[0], "resource", "identifier", 0, "value")
        _inject(document, place, kind, cpr)
        verdict = _validator().validate(orjson.dumps(document))
        assert _leaks(verdict.issues, cpr) == [], path.name


def test_a_cpr_in_a_key_given_twice_is_not_quoted() -> None:
    raw = b'{"resourceType":"Bundle","2509479989":1,"2509479989":2}'
    issues = read_envelope(raw, max_bytes=1000).issues
    assert issues and _leaks(issues, "2509479989") == []
    assert "250947-xxxx" in issues[0].diagnostics

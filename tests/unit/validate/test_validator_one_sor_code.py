"""An Organization with more than one SOR identifier names no one organisation: the validator rejects it, naming
the element, and the facts the hub acts on name no SOR code for it (so intake cannot match it on either)."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import pytest

from hub.domain import medcom
from hub.domain.message import BundleIndex, read_facts
from hub.validate.validator import Validator

EXAMPLE = (
    Path(__file__).resolve().parents[3].parent
    / "shared/medcom/examples/carecommunication/Bundle-add5e7e2-0c0f-4a4a-bfff-f6f984fa7e3c.json"
)
HOSPITAL_B_SOR = "123456789012345"


@cache
def _example() -> dict[str, Any]:
    found: dict[str, Any] = orjson.loads(EXAMPLE.read_bytes())
    return found


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator()


def _entry_of(bundle: dict[str, Any], reference: dict[str, Any]) -> int:
    resource = BundleIndex(bundle).resolve(reference)
    return next(i for i, e in enumerate(bundle["entry"]) if e["resource"] is resource)


def _with_second_sor(reference_of: str, *, first: bool) -> tuple[dict[str, Any], int]:
    bundle = copy.deepcopy(_example())
    header = bundle["entry"][0]["resource"]
    reference = header["sender"] if reference_of == "sender" else header["destination"][0]["receiver"]
    i = _entry_of(bundle, reference)
    sor = {"system": medcom.SOR_SYSTEM, "value": HOSPITAL_B_SOR}
    identifiers = bundle["entry"][i]["resource"]["identifier"]
    identifiers.insert(0, sor) if first else identifiers.append(sor)
    return bundle, i


@pytest.mark.parametrize("first", [True, False])
def test_a_sender_with_two_sor_codes_is_rejected_naming_the_element(validator: Validator, first: bool) -> None:
    bundle, i = _with_second_sor("sender", first=first)
    verdict = validator.validate(orjson.dumps(bundle))
    assert not verdict.valid
    [issue] = [issue for issue in verdict.issues if issue.is_error]
    assert issue.code == "structure"
    assert issue.expression is not None and issue.expression.startswith(f"Bundle.entry[{i}].resource.identifier[")
    assert "the sender organisation has 2 SOR identifiers" in issue.diagnostics
    assert HOSPITAL_B_SOR not in issue.diagnostics
    assert issue.line is not None


def test_a_receiver_with_two_sor_codes_is_rejected(validator: Validator) -> None:
    bundle, i = _with_second_sor("receiver", first=False)
    [issue] = [issue for issue in validator.validate(orjson.dumps(bundle)).issues if issue.is_error]
    assert issue.expression == f"Bundle.entry[{i}].resource.identifier[2]"
    assert "receiver of destination[0] organisation has 2 SOR identifiers" in issue.diagnostics


def test_any_organization_with_two_sor_codes_is_rejected(validator: Validator) -> None:
    bundle = copy.deepcopy(_example())
    extra = {
        "resourceType": "Organization",
        "id": "another",
        "identifier": [
            {"system": medcom.SOR_SYSTEM, "value": "265161000016000"},
            {"system": medcom.SOR_SYSTEM, "value": HOSPITAL_B_SOR},
        ],
    }
    bundle["entry"].append({"fullUrl": "Organization/another", "resource": extra})
    issues = [issue for issue in validator.validate(orjson.dumps(bundle)).issues if issue.is_error]
    n = len(bundle["entry"]) - 1
    assert f"Bundle.entry[{n}].resource.identifier[1]" in [issue.expression for issue in issues]


@pytest.mark.parametrize("first", [True, False])
def test_the_facts_name_no_sor_code_for_an_organisation_with_two(first: bool) -> None:
    bundle, _ = _with_second_sor("sender", first=first)
    sender = read_facts(bundle).sender
    assert sender is not None
    assert (sender.sor, sender.several_sor) == (None, True)
    assert sender.gln == "5790000209354"
    original = read_facts(_example()).sender
    assert original is not None and (original.sor, original.several_sor) == ("265161000016000", False)


def test_the_facts_are_read_from_the_document_the_validator_checked(validator: Validator) -> None:
    """One parse: the verdict's facts are those of its bundle, the very object the checks walked."""
    raw = EXAMPLE.read_bytes()
    verdict = validator.validate(raw)
    assert verdict.valid and verdict.bundle is not None
    assert verdict.facts == read_facts(verdict.bundle)

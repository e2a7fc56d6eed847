"""Profiles applied from the event code and meta.profile: the hub's own and MedCom's."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest

from hub.validate import Validator
from hub.validate.profiles import check_profiles, profiles_for

SAMPLES = sorted((Path(__file__).resolve().parents[3] / "schemas" / "samples").glob("*.json"))
CANCEL = Path(__file__).resolve().parents[3] / "schemas" / "samples" / "referral-cancel.json"
VALIDATOR = Validator()


def _errors(message: dict[str, Any]) -> list[tuple[str, str | None, str]]:
    verdict = VALIDATOR.validate(orjson.dumps(message))
    return [(i.code, i.expression, i.diagnostics) for i in verdict.issues if i.is_error]


def _request(message: dict[str, Any]) -> dict[str, Any]:
    return next(e["resource"] for e in message["entry"] if e["resource"]["resourceType"] == "ServiceRequest")


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_samples_are_valid(path: Path) -> None:
    assert len(SAMPLES) == 7  # with the discharge letter's and the medication update's carbon copies
    assert _errors(orjson.loads(path.read_bytes())) == []


def test_the_event_code_selects_bundle_header_and_focus_profiles() -> None:
    message = orjson.loads(CANCEL.read_bytes())
    urls = {url.rsplit("/", 1)[-1] for url, _, _ in profiles_for(VALIDATOR.rules, message)}
    assert {
        "sektorhub-referral-message",
        "sektorhub-referral-messageHeader",
        "sektorhub-referral-serviceRequest",
        "medcom-core-patient",
    } <= urls


@pytest.mark.parametrize(
    ("change", "code", "expression"),
    [
        (lambda m: _request(m).__setitem__("intent", "plan"), "value", "Bundle.entry[1].resource.intent"),
        (lambda m: _request(m).pop("performer"), "required", "Bundle.entry[1].resource.performer"),
        (lambda m: _request(m).__setitem__("status", "active"), "invariant", "Bundle"),
        (
            lambda m: m["entry"][0]["resource"]["eventCoding"].__setitem__(
                "code", "sektorhub-discharge-letter-message"
            ),
            "value",
            "Bundle.entry[0].resource.eventCoding.code",
        ),
    ],
)
def test_profile_faults(change: Any, code: str, expression: str) -> None:
    message = orjson.loads(CANCEL.read_bytes())
    change(message)
    assert (code, expression) in [(c, e) for c, e, _ in _errors(message)]


def test_medcom_patient_profile_requires_a_name() -> None:
    message = orjson.loads(CANCEL.read_bytes())
    patient = next(e["resource"] for e in message["entry"] if e["resource"]["resourceType"] == "Patient")
    patient.pop("name")
    errors = _errors(copy.deepcopy(message))
    assert any(c == "required" and e is not None and e.endswith(".name") for c, e, _ in errors)


MEDCOM = Path(__file__).resolve().parents[4] / "shared" / "medcom" / "examples"


@pytest.mark.skipif(not MEDCOM.exists(), reason="../shared/medcom is not present")
def test_medcom_profiles_accept_every_official_example() -> None:
    files = sorted(
        p
        for f in ("hospitalnotification", "carecommunication", "acknowledgement", "messaging")
        for p in (MEDCOM / f).glob("Bundle-*.json")
    )
    assert len(files) >= 20
    for path in files:
        bundle = orjson.loads(path.read_bytes())
        assert profiles_for(VALIDATOR.rules, bundle), path.name
        assert [i for i in check_profiles(VALIDATOR.rules, bundle) if i.is_error] == [], path.name


@pytest.mark.parametrize(
    "change",
    [
        lambda m: m["entry"][0]["resource"]["eventCoding"].__setitem__("code", []),
        lambda m: m["entry"][0]["resource"]["eventCoding"].__setitem__("system", {"a": 1}),
        lambda m: m["meta"].__setitem__("profile", [[], {"x": 1}, 5]),
        lambda m: m["entry"][1]["resource"]["meta"].__setitem__("profile", [["http://x"]]),
    ],
    ids=["code-list", "system-object", "bundle-profiles", "resource-profiles"],
)
def test_json_where_a_string_belongs_is_an_issue_not_a_crash(change: Any) -> None:
    # a JSON list or object cannot be looked up as an event code, profile url or value-set code
    message = orjson.loads(CANCEL.read_bytes())
    change(message)
    check_profiles(VALIDATOR.rules, message)
    assert _errors(message)

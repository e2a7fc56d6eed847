"""The official MedCom example messages are valid; the MedCom TestScript fixtures get the expected verdicts."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.validate import Validator

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "medcom"
FOLDERS = ("hospitalnotification", "carecommunication", "acknowledgement", "messaging")
EXAMPLES = sorted(p for folder in FOLDERS for p in (SHARED / "examples" / folder).glob("Bundle-*.json"))
FIXTURES = sorted((SHARED / "testscripts").glob("*/Bundle-*.json"))
pytestmark = pytest.mark.skipif(not EXAMPLES, reason="../shared/medcom is not present")
VALIDATOR = Validator()

# Receive fixtures of MedCom's TestScript packages that are faulty, with the fault the hub reports. The
# TestScripts that use fixtures from their packages for the receiving side expect the receiver to answer
# a faulty message with a negative acknowledgement; every other fixture must be accepted.
REJECTED_FIXTURES = {
    # Patient without CPR or replacement CPR identifier
    "Bundle-R-Tek-B-82875f08-4b9e-4a23-b81a-e23ec1251334.json": "required",
    # MessageHeader without eventCoding, Encounter without class
    "Bundle-17a0c807-372b-452c-972e-c59036153b57.json": "required",
    # two entries with the same fullUrl (bdl-7)
    "Bundle-70dfd9bb-362a-4424-a5b8-98fe11e95f42.json": "invariant",
    # Provenance.agent.who names an Organization that is not in the Bundle
    "Bundle-cac520bc-f88b-4e7a-b8fd-bb8750e38c7a.json": "not-found",
}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: f"{p.parent.name}/{p.name[:15]}")
def test_official_examples_are_valid(path: Path) -> None:
    verdict = VALIDATOR.validate(path.read_bytes())
    assert verdict.valid, [issue.as_dict() for issue in verdict.issues if issue.is_error]


def test_testscript_fixtures() -> None:
    assert len(FIXTURES) >= 50
    verdicts = {}
    for path in FIXTURES:
        verdict = VALIDATOR.validate(path.read_bytes())
        errors = [issue for issue in verdict.issues if issue.is_error]
        verdicts[path.name] = errors[0].code if errors else None
    rejected = {name: code for name, code in verdicts.items() if code is not None}
    assert rejected == REJECTED_FIXTURES

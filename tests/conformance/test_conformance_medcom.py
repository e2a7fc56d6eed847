"""The official MedCom example messages are valid; the MedCom TestScript fixtures get the expected verdicts."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.domain.outcome import Severity
from hub.validate import Validator
from hub.validate.profiles import DOWNGRADED

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
# Fixtures of the HospitalNotification TestScript package 3.0.1 that no TestScript of ../shared names (they name
# TouchStone XML fixtures only, which have no LPR3 identifier) and that break a rule of MedCom's own: their
# Encounter's LPR3 episode-of-care identifier is a UUID version 4, where MedCom core 3.0.1's lpr3-Identifier
# (invariant uuidv5) requires version 5, as LPR3 assigns them (MedCom's examples: ...-5773-...). No TestScript
# expects them to be accepted, so the rule stays an error (not DOWNGRADED).
UNUSED_FAULTY_FIXTURES = {
    "Bundle-9479ce7a-6837-42a5-a4d2-08f09254cbc9.json": "invariant",
    "Bundle-9fc89121-a0aa-43e0-a753-88bbe142ba91.json": "invariant",
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
    assert rejected == {**REJECTED_FIXTURES, **UNUSED_FAULTY_FIXTURES}


# Fixtures that break a profile rule in DOWNGRADED although their TestScript expects them to be accepted: they are
# accepted with a warning at that element. fixture -> (profile, element id, where the warning is)
DOWNGRADED_FIXTURES = {
    # transient-error and fatal-error acknowledgements coded with terminology 1.1.1's message-development-error
    "Bundle-32f3e314-8fcb-4147-87d4-fbed2ea2f741.json": (
        "medcom-acknowledgement-operationoutcome",
        "OperationOutcome.issue.details.coding",
        "Bundle.entry[1].resource.issue[0].details.coding[0]",
    ),
    "Bundle-fd618b85-9376-45ac-b0bd-67b0541f4fa4.json": (
        "medcom-acknowledgement-operationoutcome",
        "OperationOutcome.issue.details.coding",
        "Bundle.entry[1].resource.issue[0].details.coding[0]",
    ),
}


@pytest.mark.parametrize("name", sorted(DOWNGRADED_FIXTURES))
def test_fixtures_that_break_a_downgraded_rule_are_accepted_with_a_warning(name: str) -> None:
    profile, element, where = DOWNGRADED_FIXTURES[name]
    [path] = [p for p in FIXTURES if p.name == name]
    verdict = VALIDATOR.validate(path.read_bytes())
    assert verdict.valid
    warnings = [i for i in verdict.issues if i.expression == where]
    assert [(i.severity, i.code) for i in warnings] == [(Severity.WARNING, "code-invalid")]
    assert f"{element} is not in the required value set" in warnings[0].diagnostics
    assert f"(profile {profile})" in warnings[0].diagnostics


def test_every_downgraded_rule_is_needed_and_says_why() -> None:
    assert set(DOWNGRADED) == {(profile, element) for profile, element, _ in DOWNGRADED_FIXTURES.values()}
    assert all(len(reason) > 40 for reason in DOWNGRADED.values())

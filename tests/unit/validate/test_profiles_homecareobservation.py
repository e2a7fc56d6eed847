"""HomeCareObservation 1.2.1 (MedCom's FSH translated into schemas/medcom/homecareobservation/): its profiles are
compiled and chosen by event code, MedCom's own examples (translated from FSH, tests/data/homecareobservation/)
are valid, and a message broken against one rule of a profile is rejected with an issue at that rule's FHIRPath."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from hub.domain import homecare
from hub.settings import SCHEMAS_DIR
from hub.validate import Validator
from hub.validate.rules import load_rules

VALIDATOR = Validator()
EXAMPLES = Path(__file__).resolve().parents[2] / "data" / "homecareobservation"
WITH_COMMENTS = EXAMPLES / "ig" / "Bundle-401cbc36-db1e-4fe0-bf90-6df331dde179.json"


def homecare_examples() -> list[Path]:
    return sorted(EXAMPLES.glob("*/Bundle-*.json"))


def test_the_profiles_are_compiled_and_chosen_by_the_event_code() -> None:
    rules = load_rules(SCHEMAS_DIR)
    event = rules.events[homecare.HOMECARE_OBSERVATION_EVENT]
    assert (event["bundle"], event["header"]) == (homecare.MESSAGE_PROFILE, homecare.HEADER_PROFILE)
    assert event["focus"] == [homecare.DIAGNOSTIC_REPORT_PROFILE]
    for url in (homecare.MESSAGE_PROFILE, homecare.HEADER_PROFILE, homecare.DIAGNOSTIC_REPORT_PROFILE):
        assert url in rules.profiles
    assert rules.profiles[homecare.OBSERVATION_PROFILE].type == "Observation"


def test_there_are_fifteen_official_examples() -> None:
    assert len(homecare_examples()) == 15


@pytest.mark.parametrize("path", homecare_examples(), ids=lambda p: p.name)
def test_every_official_example_is_valid(path: Path) -> None:
    verdict = VALIDATOR.validate(path.read_bytes())
    assert [(i.code, i.expression, i.diagnostics) for i in verdict.issues if i.is_error] == []


def _resource(message: dict[str, Any], resource_type: str) -> tuple[int, dict[str, Any]]:
    found: tuple[int, dict[str, Any]] = next(
        (i, e["resource"]) for i, e in enumerate(message["entry"]) if e["resource"]["resourceType"] == resource_type
    )
    return found


def _report_not_final(message: dict[str, Any]) -> str:
    at, report = _resource(message, "DiagnosticReport")
    report["status"] = "preliminary"
    return f"Bundle.entry[{at}].resource.status"


def _one_performer(message: dict[str, Any]) -> str:
    at, report = _resource(message, "DiagnosticReport")
    report["performer"] = report["performer"][:1]
    return f"Bundle.entry[{at}].resource.performer"


def _no_definition(message: dict[str, Any]) -> str:
    message["entry"][0]["resource"].pop("definition")
    return "Bundle.entry[0].resource.definition"


def _interpreted(message: dict[str, Any]) -> str:
    at, observation = _resource(message, "Observation")
    observation["interpretation"][0]["coding"][0]["code"] = "H"
    return f"Bundle.entry[{at}].resource.interpretation[0].coding[0].code"


def _two_interpretations(message: dict[str, Any]) -> str:
    at, observation = _resource(message, "Observation")
    observation["interpretation"].append(copy.deepcopy(observation["interpretation"][0]))
    return f"Bundle.entry[{at}].resource.interpretation"


def _no_issued(message: dict[str, Any]) -> str:
    at, report = _resource(message, "DiagnosticReport")
    report.pop("issued")
    return f"Bundle.entry[{at}].resource.issued"


@pytest.mark.parametrize(
    ("profile", "breaks"),
    [
        (homecare.DIAGNOSTIC_REPORT_PROFILE, _report_not_final),  # status = #final
        (homecare.DIAGNOSTIC_REPORT_PROFILE, _one_performer),  # performer 2..2
        (homecare.HEADER_PROFILE, _no_definition),  # definition 1..1
        (homecare.OBSERVATION_PROFILE, _interpreted),  # interpretation.coding.code = #NI
        (homecare.OBSERVATION_PROFILE, _two_interpretations),  # interpretation 0..1
        (homecare.DIAGNOSTIC_REPORT_PROFILE, _no_issued),  # medcom core 2.4.0: issued 1..1
    ],
    ids=lambda x: x.rsplit("/", 1)[-1] if isinstance(x, str) else x.__name__,
)
def test_a_message_broken_against_one_rule_is_rejected_at_its_fhirpath(
    profile: str, breaks: Callable[[dict[str, Any]], str]
) -> None:
    message: dict[str, Any] = orjson.loads(WITH_COMMENTS.read_bytes())
    where = breaks(message)
    verdict = VALIDATOR.validate(orjson.dumps(message))
    name = profile.rsplit("/", 1)[-1]
    errors = [(i.expression, i.diagnostics) for i in verdict.issues if i.is_error]
    assert any(expression == where and f"(profile {name})" in text for expression, text in errors), errors

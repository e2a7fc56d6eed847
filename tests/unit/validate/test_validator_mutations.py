"""The mutation suite: every min > 0, fixed and pattern value, required binding and invariant of every MedCom profile
the hub loads, broken alone on an official example where its element exists; `hub validate` (the Validator) must
reject the broken message with an issue where the rule is broken (see tests/unit/validate/mutation.py).

A rule the generator cannot break is named in UNEXERCISED; the test of that list fails when one of them becomes
breakable (an example gains the element, the hub learns a value set) or another one stops being so.
"""

from __future__ import annotations

from functools import cache

import orjson
import pytest

from hub.validate import Validator
from tests.unit.validate.mutation import Case, Rule, Unexercised, cases, example_paths, medcom_rules

VALIDATOR = Validator()
RULES = medcom_rules()


@cache
def _case(rule: Rule) -> Case | Unexercised:
    return cases(rule, VALIDATOR)


@cache
def _example_errors(name: str) -> list[str]:
    path = next(p for p in example_paths() if p.name == name)
    verdict = VALIDATOR.validate(path.read_bytes())
    return [f"{i.expression}: {i.diagnostics}" for i in verdict.issues if i.is_error]


def test_the_suite_holds_every_rule_class_of_the_medcom_profiles() -> None:
    kinds = {rule.kind for rule in RULES}
    assert kinds == {"min", "fixed", "pattern", "binding", "invariant"}
    profiles = {rule.profile for rule in RULES}
    assert all(url.startswith("http://medcomfhir.dk/") for url in profiles)
    # every MedCom message kind's profiles are among them
    for ig in ("acknowledgement", "carecommunication", "hospitalnotification", "homecareobservation", "messaging"):
        assert any(f"/ig/{ig}/" in url for url in profiles), ig
    assert len({rule.name for rule in RULES}) == len(RULES)  # each rule has its own test


@pytest.mark.parametrize("rule", RULES, ids=[rule.name for rule in RULES])
def test_a_rule_broken_alone_is_reported_where_it_is_broken(rule: Rule) -> None:
    case = _case(rule)
    if isinstance(case, Unexercised):
        pytest.skip(case.reason)  # named in UNEXERCISED, which the test below holds
    assert _example_errors(case.example) == []  # unbroken, the example is valid: the issue is the edit's
    verdict = VALIDATOR.validate(orjson.dumps(case.message))
    found = [
        issue
        for issue in verdict.issues
        if issue.expression in case.expressions
        and issue.severity.value == case.severity
        and (case.key is None or issue.diagnostics.startswith(f"{case.key}:"))
    ]
    shown = [(i.severity.value, i.code, i.expression, i.diagnostics[:120]) for i in verdict.issues]
    assert found, f"{case.edit} in {case.example}: expected {case.severity} at {case.expressions}; got {shown}"
    if case.severity == "error":
        assert not verdict.valid


def test_the_rules_the_suite_cannot_break_are_the_named_ones() -> None:
    unexercised = {rule.name: case.reason for rule in RULES if isinstance(case := _case(rule), Unexercised)}
    assert set(unexercised) == set(UNEXERCISED), {
        "newly unexercised": {n: r for n, r in unexercised.items() if n not in UNEXERCISED},
        "now exercised": sorted(set(UNEXERCISED) - set(unexercised)),
    }
    for name, reason in unexercised.items():
        assert reason.startswith(UNEXERCISED[name]), (name, reason)


# rule -> the start of the reason the generator gives (mutation.py); the closing note of issue 19 lists them
_ABSENT = "the element is in no official example"
_SLICE = "the value tells the optional slice"
_VALUESET = "the value set"
_CONFORMS = "conformsTo(url) holds by design"
_SYSTEM = "the system is what makes"
UNEXERCISED: dict[str, str] = {
    "medcom-messaging-acknowledgement Bundle invariant medcom-acknowledgement-2": _CONFORMS,
    "medcom-careCommunication-messageHeader destination:cc.extension min": _ABSENT,
    "medcom-careCommunication-messageHeader destination:cc.extension:use min": _ABSENT,
    "medcom-careCommunication-messageHeader destination:cc.extension:use.url min": _ABSENT,
    "medcom-careCommunication-messageHeader destination:cc.extension:use.url fixed": _ABSENT,
    "medcom-careCommunication-messageHeader destination:cc.extension:use.value[x].system min": _ABSENT,
    "medcom-careCommunication-messageHeader destination:cc.extension:use.value[x].system pattern": _ABSENT,
    "medcom-careCommunication-messageHeader destination:cc.extension:use.value[x].code min": _ABSENT,
    "medcom-careCommunication-messageHeader destination:cc.extension:use.value[x].code pattern": _ABSENT,
    "medcom-careCommunication-messageHeader destination:cc.endpoint min": _ABSENT,
    "medcom-careCommunication-messageHeader destination:cc.receiver min": _ABSENT,
    "lpr3-Identifier system min": _SYSTEM,
    "lpr3-Identifier system fixed": _SYSTEM,
    "medcom-core-diagnosticreport identifier min": _ABSENT,
    "medcom-core-diagnosticreport identifier.value min": _ABSENT,
    "medcom-core-diagnosticreport identifier.value invariant medcom-uuidv4": _ABSENT,
    "medcom-core-diagnosticreport status min": _ABSENT,
    "medcom-core-diagnosticreport status binding": _ABSENT,
    "medcom-core-diagnosticreport code min": _ABSENT,
    "medcom-core-diagnosticreport code binding": _ABSENT,
    "medcom-core-diagnosticreport subject min": _ABSENT,
    "medcom-core-diagnosticreport issued min": _ABSENT,
    "medcom-core-diagnosticreport media.link min": _ABSENT,
    "medcom-core-ecpr-identifier use fixed": _ABSENT,
    "medcom-core-ecpr-identifier use binding": _ABSENT,
    "medcom-core-ecpr-identifier system min": _ABSENT,
    "medcom-core-ecpr-identifier system binding": _VALUESET,
    "medcom-core-ecpr-identifier value min": _ABSENT,
    "medcom-core-encounter class binding": _VALUESET,
    "medcom-core-observation identifier min": _ABSENT,
    "medcom-core-observation identifier.value min": _ABSENT,
    "medcom-core-observation identifier.value invariant medcom-uuidv4": _ABSENT,
    "medcom-core-observation status min": _ABSENT,
    "medcom-core-observation status binding": _ABSENT,
    "medcom-core-observation code min": _ABSENT,
    "medcom-core-observation code.coding:LOINC.system min": _SLICE,
    "medcom-core-observation code.coding:LOINC.system fixed": _SLICE,
    "medcom-core-observation code.coding:LOINC.code min": _ABSENT,
    "medcom-core-observation code.coding:SNOMEDCT.system min": _SLICE,
    "medcom-core-observation code.coding:SNOMEDCT.system fixed": _SLICE,
    "medcom-core-observation code.coding:SNOMEDCT.code min": _ABSENT,
    "medcom-core-observation code.coding:NPU.system min": _SLICE,
    "medcom-core-observation code.coding:NPU.system fixed": _SLICE,
    "medcom-core-observation code.coding:NPU.code min": _ABSENT,
    "medcom-core-observation code.coding:IEEE.system min": _SLICE,
    "medcom-core-observation code.coding:IEEE.system fixed": _SLICE,
    "medcom-core-observation code.coding:IEEE.code min": _ABSENT,
    "medcom-core-observation code.coding:MedCom.system min": _SLICE,
    "medcom-core-observation code.coding:MedCom.system fixed": _SLICE,
    "medcom-core-observation code.coding:MedCom.code min": _ABSENT,
    "medcom-core-observation code.coding:SKS.system min": _SLICE,
    "medcom-core-observation code.coding:SKS.system fixed": _SLICE,
    "medcom-core-observation code.coding:SKS.code min": _ABSENT,
    "medcom-core-observation subject min": _ABSENT,
    "medcom-messaging-contactpoint system binding": _ABSENT,
    "medcom-messaging-contactpoint use binding": _ABSENT,
    "medcom-homecare-observation interpretation binding": _VALUESET,
    "medcom-homecareobservation-message Bundle invariant medcom-homecareObsMessage-1": _CONFORMS,
    "medcom-homecareobservation-messageheader text.status min": _ABSENT,
    "medcom-homecareobservation-messageheader text.status binding": _ABSENT,
    "medcom-homecareobservation-messageheader text.div min": _ABSENT,
    "medcom-homecareobservation-messageheader destination:cc.extension min": _ABSENT,
    "medcom-homecareobservation-messageheader destination:cc.extension:use min": _ABSENT,
    "medcom-homecareobservation-messageheader destination:cc.extension:use.url min": _ABSENT,
    "medcom-homecareobservation-messageheader destination:cc.extension:use.url fixed": _ABSENT,
    "medcom-homecareobservation-messageheader destination:cc.extension:use.value[x].system min": _ABSENT,
    "medcom-homecareobservation-messageheader destination:cc.extension:use.value[x].system pattern": _ABSENT,
    "medcom-homecareobservation-messageheader destination:cc.extension:use.value[x].code min": _ABSENT,
    "medcom-homecareobservation-messageheader destination:cc.extension:use.value[x].code pattern": _ABSENT,
    "medcom-homecareobservation-messageheader destination:cc.endpoint min": _ABSENT,
    "medcom-homecareobservation-messageheader destination:cc.receiver min": _ABSENT,
    "medcom-hospitalNotification-message Bundle invariant medcom-hospitalNotification-1": _CONFORMS,
    "medcom-messaging-messageHeader destination:cc.extension min": _ABSENT,
    "medcom-messaging-messageHeader destination:cc.extension:use min": _ABSENT,
    "medcom-messaging-messageHeader destination:cc.extension:use.url min": _ABSENT,
    "medcom-messaging-messageHeader destination:cc.extension:use.url fixed": _ABSENT,
    "medcom-messaging-messageHeader destination:cc.extension:use.value[x].system min": _ABSENT,
    "medcom-messaging-messageHeader destination:cc.extension:use.value[x].system pattern": _ABSENT,
    "medcom-messaging-messageHeader destination:cc.extension:use.value[x].code min": _ABSENT,
    "medcom-messaging-messageHeader destination:cc.extension:use.value[x].code pattern": _ABSENT,
    "medcom-messaging-messageHeader destination:cc.endpoint min": _ABSENT,
    "medcom-messaging-messageHeader destination:cc.receiver min": _ABSENT,
    "medcom-producer-organization text.status min": _ABSENT,
    "medcom-producer-organization text.status binding": _ABSENT,
    "medcom-producer-organization text.div min": _ABSENT,
    "medcom-producer-organization identifier:ProducentID.system min": _SLICE,
    "medcom-producer-organization identifier:ProducentID.system fixed": _SLICE,
    "medcom-producer-organization identifier:ProducentID.value min": _ABSENT,
    "medcom-requesterorganization text.status min": _ABSENT,
    "medcom-requesterorganization text.status binding": _ABSENT,
    "medcom-requesterorganization text.div min": _ABSENT,
}

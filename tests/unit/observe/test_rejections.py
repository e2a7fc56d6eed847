"""The rule label of a rejection: issue code and the resource it is about, from a bounded set of values."""

from __future__ import annotations

from typing import Any

from hub.domain.outcome import Issue, Severity, error, operation_outcome
from hub.observe.rejections import first_fault, outcome_issues, poison_rule, rejection_rule, resource_at

BUNDLE: dict[str, Any] = {
    "resourceType": "Bundle",
    "entry": [
        {"resource": {"resourceType": "MessageHeader"}},
        {"resource": {"resourceType": "Patient"}},
        {"resource": {"resourceType": "Spaceship"}},
        {"resource": "not an object"},
    ],
}


def warning(code: str) -> Issue:
    return Issue(Severity.WARNING, code, None, "only a warning")


def test_the_first_fatal_issue_wins_over_earlier_errors() -> None:
    fatal = Issue(Severity.FATAL, "structure", "Bundle.entry[1].resource", "broken")
    issues = [warning("value"), error("required", "Bundle.entry[0].resource.focus", "missing"), fatal]
    assert first_fault(issues) is fatal
    assert rejection_rule(issues, BUNDLE) == "structure/Patient"


def test_without_a_fatal_issue_the_first_error_counts() -> None:
    issues = [warning("value"), error("required", "Bundle.entry[0].resource.focus", "missing 0101011234")]
    assert rejection_rule(issues, BUNDLE) == "required/MessageHeader"
    assert first_fault([warning("value")]) is None
    assert rejection_rule([warning("value")], BUNDLE) == "other/message"


def test_where_an_issue_points() -> None:
    assert resource_at("Bundle.entry[0].resource", BUNDLE) == "MessageHeader"
    assert resource_at("Bundle.entry[1].resource.name[0].family", BUNDLE) == "Patient"
    assert resource_at("Bundle.entry[2].resource.id", BUNDLE) == "other"  # a made-up resource type
    assert resource_at("Bundle.entry[3].resource", BUNDLE) == "other"
    assert resource_at("Bundle.entry[9].resource", BUNDLE) == "other"  # no such entry
    assert resource_at("Bundle.type", BUNDLE) == "Bundle"
    assert resource_at("Bundle", BUNDLE) == "Bundle"
    assert resource_at("Observation.value", BUNDLE) == "other"
    assert resource_at(None, BUNDLE) == "message"
    assert resource_at("Bundle.type", None) == "envelope"  # the bytes were no Bundle


def test_no_text_of_the_message_reaches_the_label() -> None:
    made_up = error("not-a-fhir-code 0101011234", "Bundle.entry[1].resource", "diagnostics quoting the message")
    assert rejection_rule([made_up], BUNDLE) == "other/Patient"
    assert rejection_rule([error("invalid", None, "not JSON")], None) == "invalid/envelope"


def test_a_poison_record_is_filed_as_such() -> None:
    assert poison_rule([error("exception", None, "the hub could not process this message")]) == "exception/poison"
    assert poison_rule([]) == "other/poison"


def test_the_issues_of_a_tracked_outcome_are_read_back() -> None:
    issues = [
        Issue(Severity.ERROR, "security", "Bundle.entry[0].resource.sender", "another SOR code"),
        Issue(Severity.FATAL, "value", None, "bad"),
    ]
    read = outcome_issues(operation_outcome(issues))
    assert [(i.severity, i.code, i.expression) for i in read] == [(i.severity, i.code, i.expression) for i in issues]
    assert rejection_rule(read, BUNDLE) == "value/message"
    assert outcome_issues(None) == [] and outcome_issues({"issue": "x"}) == []
    assert outcome_issues({"issue": [{"severity": "loud", "code": "x"}, "x", {"severity": "error"}]})[0].code == "None"

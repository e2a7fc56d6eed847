"""hub.domain.outcome: issues, their dict form, and FHIR OperationOutcomes with the line and column extensions."""

from __future__ import annotations

from dataclasses import replace

from hub.domain.outcome import (
    ISSUE_COLUMN_EXTENSION,
    ISSUE_LINE_EXTENSION,
    Issue,
    Severity,
    error,
    operation_outcome,
)

ISSUE = error("value", "Bundle.timestamp", "not an instant")


def test_line_and_column_are_optional() -> None:
    assert (ISSUE.line, ISSUE.column) == (None, None)
    assert Issue(Severity.WARNING, "invariant", None, "x") == Issue(
        Severity.WARNING, "invariant", None, "x", None, None
    )
    located = Issue(Severity.ERROR, "value", "Bundle.timestamp", "not an instant", line=8, column=3)
    assert located == replace(ISSUE, line=8, column=3)
    assert located.is_error


def test_as_dict_names_line_and_column_only_when_known() -> None:
    assert ISSUE.as_dict() == {
        "severity": "error",
        "code": "value",
        "expression": "Bundle.timestamp",
        "diagnostics": "not an instant",
    }
    assert replace(ISSUE, line=8, column=3).as_dict() == {
        "severity": "error",
        "code": "value",
        "expression": "Bundle.timestamp",
        "diagnostics": "not an instant",
        "line": 8,
        "column": 3,
    }


def test_operation_outcome_carries_line_and_column_as_the_standard_extensions() -> None:
    outcome = operation_outcome([replace(ISSUE, line=8, column=3), ISSUE], resource_id="o1")
    assert outcome == {
        "resourceType": "OperationOutcome",
        "id": "o1",
        "issue": [
            {
                "extension": [
                    {"url": "http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-line", "valueInteger": 8},
                    {"url": "http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-col", "valueInteger": 3},
                ],
                "severity": "error",
                "code": "value",
                "diagnostics": "not an instant",
                "expression": ["Bundle.timestamp"],
            },
            {
                "severity": "error",
                "code": "value",
                "diagnostics": "not an instant",
                "expression": ["Bundle.timestamp"],
            },
        ],
    }
    assert (ISSUE_LINE_EXTENSION, ISSUE_COLUMN_EXTENSION) == (
        "http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-line",
        "http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-col",
    )
    assert all("location" not in issue for issue in outcome["issue"])  # deprecated in R4


def test_a_line_without_a_column() -> None:
    [entry] = operation_outcome([replace(ISSUE, line=2)])["issue"]
    assert entry["extension"] == [{"url": ISSUE_LINE_EXTENSION, "valueInteger": 2}]


def test_no_issues_is_all_ok() -> None:
    assert operation_outcome([]) == {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "information", "code": "informational", "diagnostics": "All OK"}],
    }

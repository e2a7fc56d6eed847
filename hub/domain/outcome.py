"""Validation and processing outcomes as FHIR OperationOutcome issues."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    FATAL = "fatal"
    ERROR = "error"
    WARNING = "warning"
    INFORMATION = "information"


@dataclass(frozen=True, slots=True)
class Issue:
    """One finding about a message: what is wrong (diagnostics) and where (a FHIRPath expression)."""

    severity: Severity
    code: str  # FHIR issue-type: structure, required, value, invalid, not-found, security, ...
    expression: str | None
    diagnostics: str

    @property
    def is_error(self) -> bool:
        return self.severity in (Severity.FATAL, Severity.ERROR)

    def as_dict(self) -> dict[str, Any]:
        return {
            "severity": str(self.severity),
            "code": self.code,
            "expression": self.expression,
            "diagnostics": self.diagnostics,
        }


def error(code: str, expression: str | None, diagnostics: str) -> Issue:
    return Issue(Severity.ERROR, code, expression, diagnostics)


def operation_outcome(issues: list[Issue] | tuple[Issue, ...], *, resource_id: str | None = None) -> dict[str, Any]:
    """A FHIR R4 OperationOutcome resource for the issues (an informational one when there are none)."""
    fhir_issues = []
    for issue in issues or (Issue(Severity.INFORMATION, "informational", None, "All OK"),):
        entry: dict[str, Any] = {
            "severity": str(issue.severity),
            "code": issue.code,
            "diagnostics": issue.diagnostics,
        }
        if issue.expression:
            entry["expression"] = [issue.expression]
        fhir_issues.append(entry)
    outcome: dict[str, Any] = {"resourceType": "OperationOutcome"}
    if resource_id:
        outcome["id"] = resource_id
    outcome["issue"] = fhir_issues
    return outcome

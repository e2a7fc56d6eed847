"""Validation and processing outcomes as FHIR OperationOutcome issues.

No CPR number is ever in an issue: the diagnostics and expression of every Issue are masked when it is made
(hub.domain.identifiers.mask_cpr_in_text), so whatever an issue is stored in, logged, shown or sent as is masked
too, however the check that made it quoted the message.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from hub.domain.identifiers import mask_cpr_in_text


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
    # where the element is in the original JSON text (1-based; the column counts characters), when known
    line: int | None = None
    column: int | None = None

    def __post_init__(self) -> None:
        diagnostics = mask_cpr_in_text(self.diagnostics) if isinstance(self.diagnostics, str) else self.diagnostics
        if diagnostics is not self.diagnostics:
            object.__setattr__(self, "diagnostics", diagnostics)
        if isinstance(self.expression, str):
            expression = mask_cpr_in_text(self.expression)
            if expression is not self.expression:
                object.__setattr__(self, "expression", expression)

    @property
    def is_error(self) -> bool:
        return self.severity in (Severity.FATAL, Severity.ERROR)

    def as_dict(self) -> dict[str, Any]:
        """severity, code, expression, diagnostics, and line and column when they are known."""
        found: dict[str, Any] = {
            "severity": str(self.severity),
            "code": self.code,
            "expression": self.expression,
            "diagnostics": self.diagnostics,
        }
        if self.line is not None:
            found["line"] = self.line
        if self.column is not None:
            found["column"] = self.column
        return found


def error(code: str, expression: str | None, diagnostics: str) -> Issue:
    return Issue(Severity.ERROR, code, expression, diagnostics)


# The standard extensions for where an issue is in the text of the resource (R4's OperationOutcome.issue.location
# is deprecated, and was an XPath anyway)
ISSUE_LINE_EXTENSION = "http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-line"
ISSUE_COLUMN_EXTENSION = "http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-col"


def operation_outcome(issues: list[Issue] | tuple[Issue, ...], *, resource_id: str | None = None) -> dict[str, Any]:
    """A FHIR R4 OperationOutcome resource for the issues (an informational one when there are none)."""
    fhir_issues = []
    for issue in issues or (Issue(Severity.INFORMATION, "informational", None, "All OK"),):
        entry: dict[str, Any] = {}
        place = [
            {"url": url, "valueInteger": value}
            for url, value in ((ISSUE_LINE_EXTENSION, issue.line), (ISSUE_COLUMN_EXTENSION, issue.column))
            if value is not None
        ]
        if place:
            entry["extension"] = place
        entry |= {
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

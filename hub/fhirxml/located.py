"""A verdict's issues placed where their elements are in the XML a message came in as.

The validator works on the message converted to JSON, so the line and column it finds are those of the JSON
text, which the sender never saw. Each issue with a FHIRPath gets instead the line and column of its element's
start tag in the XML (for an element that is not there, its nearest ancestor's, as in JSON), which the
OperationOutcome carries in the standard issue-line and issue-col extensions (hub.domain.outcome) and the
diagnostics repeat (``(XML line 12, column 7)``), for readers that show only the text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import structlog

from hub.domain.outcome import Issue, Severity
from hub.faults import fault_kind
from hub.fhirxml.reader import Position, XmlRefused, read_xml

log = structlog.get_logger(__name__)


def refusal_issue(refused: XmlRefused) -> Issue:
    """The issue for XML that could not be read: fatal, at its line and column."""
    where = f" (XML line {refused.line}, column {refused.column})" if refused.line is not None else ""
    return Issue(
        Severity.FATAL,
        refused.code,
        refused.expression,
        refused.diagnostics + where,
        line=refused.line,
        column=refused.column,
    )


def position_of(expression: str, positions: dict[str, Position]) -> Position | None:
    """Where `expression`'s element is, else its nearest ancestor that is found (cut at `.` and `[`)."""
    path = expression
    while path:
        if path in positions:
            return positions[path]
        path = path[: max(path.rfind("."), path.rfind("["), 0)]
    return None


def located_in_xml(raw: bytes, issues: Sequence[Issue]) -> tuple[Issue, ...]:
    """The issues with the XML's line and column (JSON positions dropped); never raises."""
    expressions = [issue.expression for issue in issues if issue.expression]
    positions: dict[str, Position] = {}
    if expressions:
        try:
            positions = read_xml(raw, locate=expressions).positions
        except Exception as exc:  # positions help the reader; they are never a reason to fail
            log.error("issue positions not found in the XML", error=fault_kind(exc))
    located = []
    for issue in issues:
        place = position_of(issue.expression, positions) if issue.expression else None
        if place is None:
            located.append(replace(issue, line=None, column=None))
            continue
        line, column = place
        diagnostics = f"{issue.diagnostics} (XML line {line}, column {column})"
        located.append(replace(issue, line=line, column=column, diagnostics=diagnostics))
    return tuple(located)

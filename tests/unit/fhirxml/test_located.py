"""Issues placed at their line and column in the XML, and the XML's own faults as issues."""

from __future__ import annotations

from hub.domain.outcome import Issue, Severity, error, operation_outcome
from hub.fhirxml.located import located_in_xml, position_of, refusal_issue
from hub.fhirxml.reader import XmlRefused

RAW = b'<Bundle xmlns="http://hl7.org/fhir">\n  <type value="messages"/>\n  <entry/>\n</Bundle>'


def test_issues_get_the_xml_place_of_their_element_or_its_nearest_ancestor() -> None:
    issues = [
        Issue(Severity.ERROR, "code-invalid", "Bundle.type", "bad code", line=1, column=99),  # JSON's place: dropped
        error("required", "Bundle.entry[0].resource", "missing"),
        error("invariant", "Bundle.entry.where(resource.exists())", "bdl"),
        error("security", None, "no place"),
        Issue(Severity.ERROR, "exception", None, "had a JSON place", line=3, column=4),
    ]
    placed = located_in_xml(RAW, issues)
    assert [(i.line, i.column) for i in placed] == [(2, 3), (3, 3), (1, 1), (None, None), (None, None)]
    assert placed[0].diagnostics == "bad code (XML line 2, column 3)"
    entry = operation_outcome(placed)["issue"][0]
    assert entry["extension"] == [
        {"url": "http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-line", "valueInteger": 2},
        {"url": "http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-col", "valueInteger": 3},
    ]


def test_issues_keep_going_without_places_when_the_xml_cannot_be_read() -> None:
    [issue] = located_in_xml(b"<not xml", [error("value", "Bundle.type", "bad")])
    assert (issue.line, issue.column, issue.diagnostics) == (None, None, "bad")


def test_position_of_cuts_at_dots_and_brackets() -> None:
    assert position_of("Bundle.entry[2].x", {"Bundle.entry[2]": (5, 1), "Bundle": (1, 1)}) == (5, 1)
    assert position_of("Patient.x", {"Bundle": (1, 1)}) is None


def test_a_refusal_is_a_fatal_issue_at_its_place() -> None:
    issue = refusal_issue(XmlRefused("no DTD", line=1, column=2, code="security", expression=None))
    assert (issue.severity, issue.code, issue.line, issue.column) == (Severity.FATAL, "security", 1, 2)
    assert issue.diagnostics == "no DTD (XML line 1, column 2)"

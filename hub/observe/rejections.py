"""The rule a rejected message broke, as a label with a bounded set of values (pure).

A rejection carries OperationOutcome issues whose diagnostics quote the message; the label takes none of that
text. It is ``<issue code>/<where>`` for the first fatal issue (else the first error): the FHIR issue type
(``required``, ``value``, ``code-invalid``, ``security``, ...) and the resource the issue is about
(``MessageHeader``, ``Patient``, ...: the resource type of the Bundle entry its expression points into),
``Bundle`` for the Bundle itself, ``envelope`` when the bytes were no FHIR JSON Bundle at all, ``message`` for
an issue about the message as a whole. Codes outside FHIR's issue-type value set and resource types MedCom's
profiles do not use are ``other``, so no sender can make up label values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from hub.domain.outcome import Issue, Severity

# http://hl7.org/fhir/R4/valueset-issue-type.html
ISSUE_TYPES: Final = frozenset(
    {
        "invalid", "structure", "required", "value", "invariant", "security", "login", "unknown", "expired",
        "forbidden", "suppressed", "processing", "not-supported", "duplicate", "multiple-matches", "not-found",
        "deleted", "too-long", "code-invalid", "extension", "too-costly", "business-rule", "conflict", "transient",
        "lock-error", "no-store", "exception", "timeout", "incomplete", "throttled", "informational",
    }
)  # fmt: skip
# the resource types of MedCom's messaging profiles (schemas/compiled/profiles.json.gz) and their usual companions
RESOURCE_TYPES: Final = frozenset(
    {
        "Binary", "CareTeam", "Communication", "Composition", "Condition", "DiagnosticReport", "DocumentReference",
        "Encounter", "EpisodeOfCare", "List", "Media", "MedicationStatement", "MessageHeader", "Observation",
        "OperationOutcome", "Organization", "Patient", "Practitioner", "PractitionerRole", "Provenance",
        "ServiceRequest", "Task",
    }
)  # fmt: skip
OTHER: Final = "other"
_ENTRY = re.compile(r"^Bundle\.entry\[(\d+)\]\.resource(?:$|[.\[])")


def first_fault(issues: Iterable[Issue]) -> Issue | None:
    """The issue a rejection is filed under: the first fatal one, else the first error, else None."""
    errors = [issue for issue in issues if issue.is_error]
    return next((issue for issue in errors if issue.severity is Severity.FATAL), errors[0] if errors else None)


def resource_at(expression: str | None, bundle: Mapping[str, Any] | None) -> str:
    """What an issue's FHIRPath expression points into: an entry's resource type, the Bundle, or the message."""
    if bundle is None:
        return "envelope"
    if not expression:
        return "message"
    found = _ENTRY.match(expression)
    if found is None:
        return "Bundle" if expression == "Bundle" or expression.startswith(("Bundle.", "Bundle[")) else OTHER
    entries = bundle.get("entry")
    index = int(found.group(1))
    entry = entries[index] if isinstance(entries, list) and index < len(entries) else None
    resource = entry.get("resource") if isinstance(entry, dict) else None
    kind = resource.get("resourceType") if isinstance(resource, dict) else None
    return kind if isinstance(kind, str) and kind in RESOURCE_TYPES else OTHER


def rejection_rule(issues: Sequence[Issue], bundle: Mapping[str, Any] | None) -> str:
    """The rule label of a rejection with these issues, about this parsed Bundle (None: it did not parse)."""
    fault = first_fault(issues)
    if fault is None:
        return f"{OTHER}/message"
    code = fault.code if fault.code in ISSUE_TYPES else OTHER
    return f"{code}/{resource_at(fault.expression, bundle)}"


def poison_rule(issues: Sequence[Issue]) -> str:
    """The rule label of a poison record (hub.broker.isolation): rejected because handling it raised every time."""
    fault = first_fault(issues)
    code = fault.code if fault is not None and fault.code in ISSUE_TYPES else OTHER
    return f"{code}/poison"


def outcome_issues(outcome: object) -> list[Issue]:
    """The issues of an OperationOutcome as the tracking events carry it (hub.domain.outcome.operation_outcome):
    severity, code and the first expression; what cannot be read is left out."""
    found: list[Issue] = []
    entries = outcome.get("issue") if isinstance(outcome, Mapping) else None
    for entry in entries if isinstance(entries, list) else ():
        if not isinstance(entry, Mapping):
            continue
        try:
            severity = Severity(str(entry.get("severity")))
        except ValueError:
            continue
        expressions = entry.get("expression")
        expression = expressions[0] if isinstance(expressions, list) and expressions else None
        found.append(Issue(severity, str(entry.get("code")), expression if isinstance(expression, str) else None, ""))
    return found

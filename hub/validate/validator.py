"""The validator: bytes in, a Verdict out. Layers run cheapest first:

1. envelope: size, BOM, UTF-8, JSON, nesting depth, a Bundle object (a failure here stops validation);
2. FHIR R4 structure from the compiled core definitions in schemas/compiled/ (hub.validate.core);
3. MedCom messaging rules.

Layers 2 and 3 both run, so a sender learns all faults of a message at once. Validation is pure: the event
codes are read from schemas/ when the Validator is built, never while validating.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

import orjson

from hub.domain import medcom
from hub.domain.message import MessageFacts, read_facts
from hub.domain.outcome import Issue, Severity
from hub.validate.core import check_resource
from hub.validate.envelope import read_envelope
from hub.validate.messaging import SEKTORHUB_EVENT_CODE_SYSTEM, check_messaging
from hub.validate.positions import locate
from hub.validate.profiles import check_profiles
from hub.validate.rules import Rules, load_rules

SCHEMAS_DIR = Path(__file__).resolve().parents[2] / "schemas"
EVENT_CODES_FILE = Path("medcom") / "event-codes.json"
OWN_EVENT_CODES_FILE = Path("sektorhub") / "CodeSystem-sektorhub-eventCodes.json"
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
# A verdict lists at most this many issues (plus one saying how many more there were): a hostile 10 MB
# message could otherwise yield a million issues and an OperationOutcome of hundreds of megabytes.
MAX_ISSUES = 200

# A messaging issue at an element the structure layer already faulted for its type or presence says the same
# thing again; it is left out. Its other findings (an unknown code, a dangling reference) are kept.
_REPEATS_STRUCTURE = frozenset({"structure", "required", "value"})


@dataclass(frozen=True, slots=True)
class Verdict:
    issues: tuple[Issue, ...]
    facts: MessageFacts | None  # read_facts(bundle) once the bytes parse to a JSON object, else None
    bundle: dict[str, Any] | None  # the parsed JSON object, else None

    @property
    def valid(self) -> bool:
        """No issue with severity fatal or error."""
        return not any(issue.is_error for issue in self.issues)

    @property
    def event(self) -> str | None:
        return self.facts.event if self.facts is not None else None


@cache
def load_event_codes(path: Path, system: str = medcom.EVENT_CODE_SYSTEM) -> frozenset[str]:
    """The codes of the event-code CodeSystem `system` (MedCom's by default) stored at path (read once per path)."""
    document = orjson.loads(path.read_bytes())
    if not isinstance(document, dict) or document.get("resourceType") != "CodeSystem":
        raise ValueError(f"{path} is not a FHIR CodeSystem")
    if document.get("url") != system:
        raise ValueError(f"{path} is not the CodeSystem {system}")
    codes: set[str] = set()
    pending = list(document.get("concept") or [])
    while pending:
        concept = pending.pop()
        codes.add(concept["code"])
        pending.extend(concept.get("concept") or [])
    if not codes:
        raise ValueError(f"{path} defines no event codes")
    return frozenset(codes)


class Validator:
    """Validates raw MedCom messages; one instance serves any number of messages (and threads)."""

    __slots__ = ("event_codes", "max_bytes", "own_event_codes", "rules")

    def __init__(
        self,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        event_codes: frozenset[str] | None = None,
        schemas_dir: Path | None = None,
    ) -> None:
        self.max_bytes = max_bytes
        schemas = (schemas_dir or SCHEMAS_DIR).resolve()
        if event_codes is None:
            event_codes = load_event_codes(schemas / EVENT_CODES_FILE)
        # the hub's own message types (schemas/sektorhub/), known with their own CodeSystem's system URL
        self.own_event_codes = load_event_codes(schemas / OWN_EVENT_CODES_FILE, SEKTORHUB_EVENT_CODE_SYSTEM)
        self.event_codes = frozenset(event_codes) | self.own_event_codes
        self.rules: Rules = load_rules(schemas)

    def validate(self, raw: bytes) -> Verdict:
        """All issues of a message; never raises."""
        envelope = read_envelope(raw, max_bytes=self.max_bytes)
        bundle = envelope.document
        if bundle is None:
            return Verdict(envelope.issues, None, None)
        facts = read_facts(bundle)
        if not envelope.ok:
            return Verdict(_located(raw, envelope.issues), facts, bundle)
        issues = check_resource(bundle, self.rules, "Bundle")
        faulted = {issue.expression for issue in issues if issue.is_error}
        issues.extend(
            issue
            for issue in check_messaging(bundle, event_codes=self.event_codes, own_event_codes=self.own_event_codes)
            if not (issue.expression in faulted and issue.code in _REPEATS_STRUCTURE)
        )
        reported = {(issue.expression, issue.code) for issue in issues}
        # a profile's value or binding issue at an element whose value (or a part of it) an earlier layer already
        # faulted says the same thing again: an unknown event code also breaks the profile's pattern and binding
        holders: set[str] = set()
        for path in (i.expression for i in issues if i.is_error and i.code in ("value", "code-invalid")):
            while path and path not in holders:
                holders.add(path)
                path = path[: max(path.rfind("."), path.rfind("["), 0)]
        issues.extend(
            issue
            for issue in check_profiles(self.rules, bundle)
            if (issue.expression, issue.code) not in reported
            and issue.expression not in faulted
            and not (issue.code in ("value", "code-invalid") and issue.expression in holders)
        )
        return Verdict(_located(raw, _at_most(MAX_ISSUES, [*envelope.issues, *issues])), facts, bundle)


def _at_most(limit: int, issues: list[Issue]) -> tuple[Issue, ...]:
    if len(issues) <= limit:
        return tuple(issues)
    kept, dropped = issues[: limit - 1], issues[limit - 1 :]
    severity = Severity.ERROR if any(issue.is_error for issue in dropped) else Severity.WARNING
    more = Issue(severity, "too-costly", None, f"{len(dropped)} more issues are not listed")
    return (*kept, more)


def _located(raw: bytes, issues: tuple[Issue, ...]) -> tuple[Issue, ...]:
    """The issues with the line and column of their element in raw (hub.validate.positions), where found.

    Only a message with issues is scanned for them, once; a valid one pays nothing.
    """
    if not any(issue.expression and issue.line is None for issue in issues):
        return issues
    found = locate(raw, [issue.expression for issue in issues])
    return tuple(
        replace(issue, line=place[0], column=place[1])
        if place is not None and issue.expression and issue.line is None
        else issue
        for issue, place in zip(issues, found, strict=True)
    )


def verdict_line(path: str, verdict: Verdict) -> dict[str, Any]:
    """The JSON line `hub validate` prints for one file."""
    return {
        "path": path,
        "valid": verdict.valid,
        "event": verdict.event,
        "issues": [issue.as_dict() for issue in verdict.issues],
    }

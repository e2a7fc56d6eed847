"""The validator: bytes in, a Verdict out. Layers run cheapest first:

1. envelope: size, BOM, UTF-8, JSON, nesting depth, a Bundle object (a failure here stops validation);
2. FHIR R4 structure from the compiled core definitions in schemas/compiled/ (hub.validate.core);
3. MedCom messaging rules.

Layers 2 and 3 both run, so a sender learns all faults of a message at once. Validation is pure: the event
codes are read from schemas/ when the Validator is built, never while validating.

A fault of the validator itself (a layer that raises, a check that fails on a value it did not foresee) never
escapes: it becomes one `exception` issue, so that message is rejected and every other goes on. The issue
names the exception's type only, never the value (hub.faults).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import structlog

from hub.domain import medcom
from hub.domain.message import MessageFacts, read_facts
from hub.domain.outcome import Issue, Severity
from hub.domain.sektorhub import EVENT_CODE_SYSTEM as SEKTORHUB_EVENT_CODE_SYSTEM
from hub.faults import fault_kind, fault_place
from hub.validate.copies import check_copies
from hub.validate.core import FoundIdentifier, check_resource
from hub.validate.envelope import Envelope, read_envelope
from hub.validate.fhirpath.resolution import within
from hub.validate.messaging import check_messaging
from hub.validate.positions import locate
from hub.validate.profiles import check_profiles
from hub.validate.rules import CHECK_FAILED, Rules, load_rules

log = structlog.get_logger(__name__)

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
        """All issues of a message; never raises (a fault of the validator rejects the message, see above)."""
        try:
            return self._validate(raw)
        except Exception as exc:  # the last guard; each layer has its own below
            return Verdict((validator_failed(exc, "validation"),), None, None)

    def _validate(self, raw: bytes) -> Verdict:
        failures: list[Issue] = []
        try:
            envelope = read_envelope(raw, max_bytes=self.max_bytes)
        except Exception as exc:
            return Verdict((validator_failed(exc, "envelope"),), None, None)
        bundle = envelope.document
        if bundle is None:
            return Verdict(envelope.issues, None, None)
        try:
            facts: MessageFacts | None = read_facts(bundle)
        except Exception as exc:
            facts = None
            failures.append(validator_failed(exc, "facts"))
        if not envelope.ok:
            return Verdict(_located(raw, (*envelope.issues, *failures)), facts, bundle)
        with within(bundle):  # one index of the Bundle for resolve() in the invariants of both layers
            return self._layers(raw, envelope, bundle, facts, failures)

    def _layers(
        self, raw: bytes, envelope: Envelope, bundle: dict[str, Any], facts: MessageFacts | None, failures: list[Issue]
    ) -> Verdict:
        """Structure, messaging and profiles on a Bundle the envelope accepted."""
        identifiers: list[FoundIdentifier] = []  # (met by the structure walk; checked by the profiles layer)
        issues = _layer(
            failures, "structure", lambda: check_resource(bundle, self.rules, "Bundle", identifiers=identifiers)
        )
        issues = [_as_exception(issue) for issue in issues]
        faulted = {issue.expression for issue in issues if issue.is_error}
        issues.extend(
            issue
            for issue in _layer(
                failures,
                "messaging",
                lambda: check_messaging(bundle, event_codes=self.event_codes, own_event_codes=self.own_event_codes),
            )
            if not (issue.expression in faulted and issue.code in _REPEATS_STRUCTURE)
        )
        issues.extend(_layer(failures, "copies", lambda: check_copies(bundle)))  # MedCom's rules for copies
        reported = {(issue.expression, issue.code) for issue in issues}
        # a profile's value or binding issue at an element whose value (or a part of it) an earlier layer already
        # faulted says the same thing again: an unknown event code also breaks the profile's pattern and binding
        holders: set[str] = set()
        # a profile's count of an element's items (a slice's at most 1: SOR-ID) said again where an earlier layer
        # named the item too many (the second SOR identifier), at that element
        counted = {
            i.expression[: i.expression.rfind("[")]
            for i in issues
            if i.is_error and i.code == "structure" and i.expression and i.expression.endswith("]")
        }
        for path in (i.expression for i in issues if i.is_error and i.code in ("value", "code-invalid")):
            while path and path not in holders:
                holders.add(path)
                path = path[: max(path.rfind("."), path.rfind("["), 0)]
        issues.extend(
            _as_exception(issue)
            for issue in _layer(failures, "profiles", lambda: check_profiles(self.rules, bundle, identifiers))
            if (issue.expression, issue.code) not in reported
            and issue.expression not in faulted
            and not (issue.code in ("value", "code-invalid") and issue.expression in holders)
            and not (issue.code == "structure" and issue.expression in counted)
        )
        found = _at_most(MAX_ISSUES, [*failures, *envelope.issues, *issues])
        # the envelope accepted the text, so no object of it has a key twice (read_envelope)
        return Verdict(_located(raw, found, unique_keys=True), facts, bundle)


def validator_failed(exc: BaseException, layer: str, expression: str | None = None) -> Issue:
    """The issue that rejects a message the validator failed on: the exception's type, never the content."""
    log.error("the validator failed on a message", layer=layer, error=fault_kind(exc), at=fault_place(exc))
    return Issue(
        Severity.ERROR,
        "exception",
        expression,
        f"the validator failed on this message ({fault_kind(exc)}); it is rejected. This is a fault of the hub, "
        "not necessarily of the message: the hub's operators can see where it failed in the hub's log",
    )


def _layer(failures: list[Issue], name: str, run: Callable[[], Iterable[Issue]]) -> list[Issue]:
    """The issues of one layer; when the layer raises, none, and one `exception` issue in `failures`."""
    try:
        return list(run())
    except Exception as exc:
        failures.append(validator_failed(exc, name))
        return []


def _as_exception(issue: Issue) -> Issue:
    """A primitive check that failed itself (hub.validate.rules.check_failed) is an `exception` issue."""
    if issue.code == "value" and issue.diagnostics.startswith(CHECK_FAILED):
        return replace(issue, severity=Severity.ERROR, code="exception")
    return issue


def _at_most(limit: int, issues: list[Issue]) -> tuple[Issue, ...]:
    if len(issues) <= limit:
        return tuple(issues)
    kept, dropped = issues[: limit - 1], issues[limit - 1 :]
    severity = Severity.ERROR if any(issue.is_error for issue in dropped) else Severity.WARNING
    more = Issue(severity, "too-costly", None, f"{len(dropped)} more issues are not listed")
    return (*kept, more)


def _located(raw: bytes, issues: tuple[Issue, ...], *, unique_keys: bool = False) -> tuple[Issue, ...]:
    """The issues with the line and column of their element in raw (hub.validate.positions), where found.

    Only a message with issues is scanned for them, once (with unique_keys, a text without a key given twice in
    an object, only up to the last element an issue names); a valid one pays nothing.
    """
    if not any(issue.expression and issue.line is None for issue in issues):
        return issues
    try:
        found = locate(raw, [issue.expression for issue in issues], unique_keys=unique_keys)
    except Exception as exc:  # the positions are a help to the sender, not a finding: the issues go without them
        log.error("issue positions not found", error=fault_kind(exc), at=fault_place(exc))
        return issues
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

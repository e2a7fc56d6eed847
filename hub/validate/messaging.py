"""Layer 3, MedCom messaging rules (MedCom Messaging 4.0 / HospitalNotification 3.0 / CareCommunication 5.0 /
Acknowledgement 2.0): Bundle envelope, MessageHeader, sender and destinations, references, patient, response.

Each rule is a small function of a MessageContext yielding issues; RULES lists them in the order their issues
are reported. The rules read the parsed JSON defensively (it may have any shape: the structure layer reports
wrong types; a rule skips what it cannot read rather than repeating that report).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from hub.domain import medcom
from hub.domain.identifiers import gln_problem, sor_problem
from hub.domain.medcom import RESPONSE_CODES
from hub.domain.message import BundleIndex, message_header
from hub.domain.outcome import Issue, error
from hub.domain.sektorhub import EVENT_CODE_SYSTEM as SEKTORHUB_EVENT_CODE_SYSTEM
from hub.domain.sektorhub import EVENTS as SEKTORHUB_EVENTS
from hub.validate import paths

HEADER: Final = "Bundle.entry[0].resource"
# events whose message is about a patient, who must then be in the Bundle
PATIENT_REQUIRED_EVENTS: Final = frozenset(
    {medcom.HOSPITAL_NOTIFICATION_EVENT, medcom.CARE_COMMUNICATION_EVENT, *SEKTORHUB_EVENTS}
)
# Provenance.target and Provenance.entity.what point into the message history: the MessageHeaders of earlier
# messages of the thread (or an EDIFACT/OIOXML letter), which the Bundle does not carry (MedCom Messaging,
# MedComMessagingProvenance "History"); every official CareCommunication reply/forward does this.
_HISTORY_REFERENCE = re.compile(r"\.(?:target\[\d+\]|entity\[\d+\]\.what)")
_INSTANT_WITH_ZONE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})")
_SHOWN_CODES = 8  # a diagnostic names the known event codes when there are at most this many


@dataclass(frozen=True, slots=True)
class MessageContext:
    """What the rules look at: the Bundle, its entries' resources by position and by reference."""

    bundle: dict[str, Any]
    event_codes: frozenset[str]
    own_event_codes: frozenset[str]  # codes of SEKTORHUB_EVENT_CODE_SYSTEM
    header: dict[str, Any] | None  # the first entry's resource, when it is a MessageHeader
    resources: tuple[tuple[int, dict[str, Any]], ...]  # (entry index, resource) of every entry with one
    index: BundleIndex
    _positions: dict[int, int] = field(repr=False)

    @classmethod
    def of(
        cls, bundle: dict[str, Any], event_codes: frozenset[str], own_event_codes: frozenset[str] = frozenset()
    ) -> MessageContext:
        entries = bundle.get("entry")
        resources = tuple(
            (i, entry["resource"])
            for i, entry in enumerate(entries if isinstance(entries, list) else ())
            if isinstance(entry, dict) and isinstance(entry.get("resource"), dict)
        )
        return cls(
            bundle=bundle,
            event_codes=event_codes,
            own_event_codes=own_event_codes,
            header=message_header(bundle),
            resources=resources,
            index=BundleIndex(bundle),
            _positions={id(resource): i for i, resource in resources},
        )

    @property
    def event(self) -> str | None:
        coding = self.header.get("eventCoding") if self.header else None
        code = coding.get("code") if isinstance(coding, dict) else None
        return code if isinstance(code, str) else None

    def resolve(self, reference: Any) -> tuple[int, dict[str, Any]] | None:
        """The entry index and resource a Reference element points to, or None."""
        resource = self.index.resolve(reference)
        if resource is None:
            return None
        return self._positions[id(resource)], resource

    def of_type(self, resource_type: str) -> list[tuple[int, dict[str, Any]]]:
        return [(i, r) for i, r in self.resources if r.get("resourceType") == resource_type]


Rule = Callable[[MessageContext], Iterable[Issue]]


def check_messaging(
    bundle: dict[str, Any], *, event_codes: frozenset[str], own_event_codes: frozenset[str] = frozenset()
) -> list[Issue]:
    """All MedCom messaging issues of a Bundle, each (expression, code) once.

    event_codes: the MedCom event codes; own_event_codes: those of the hub's own CodeSystem
    (SEKTORHUB_EVENT_CODE_SYSTEM), accepted with that system.
    """
    context = MessageContext.of(bundle, event_codes, own_event_codes)
    issues: list[Issue] = []
    seen: set[tuple[str | None, str]] = set()
    for rule in RULES:
        for issue in rule(context):
            key = (issue.expression, issue.code)
            if key not in seen:
                seen.add(key)
                issues.append(issue)
    return issues


# --- helpers ------------------------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    """A non-empty string, else None."""
    return value if isinstance(value, str) and value else None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _shown(value: Any, limit: int = 60) -> str:
    """A value for a diagnostic: quoted, shortened; containers only by kind."""
    if isinstance(value, dict | list):
        return "a JSON object" if isinstance(value, dict) else "a JSON array"
    text = value if isinstance(value, str) else repr(value)
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _kind(resource: dict[str, Any]) -> str:
    """The resource type, for a diagnostic."""
    resource_type = resource.get("resourceType")
    if isinstance(resource_type, str) and resource_type.isidentifier() and len(resource_type) <= 40:
        return resource_type
    return "resource without a valid resourceType"


_SOR_SYSTEMS: Final = frozenset({medcom.SOR_SYSTEM})
_CPR_SYSTEMS: Final = frozenset({medcom.CPR_SYSTEM})
# The GLN systems whose values are checked here: a GLN of MedCom's system (https://www.gs1.org/gln) is checked by
# dk-core's GLN identifier profile (gln-length, gln-modulus-10: the same rule), wherever it appears
# (hub.validate.profiles); the other spelling seen in the wild (http://www.gs1.org/gln) has no profile of its own
_GLN_SYSTEMS_CHECKED_HERE: Final = medcom.GLN_SYSTEMS - {medcom.GLN_SYSTEM}


def _identifiers(resource: dict[str, Any], systems: Iterable[str]) -> list[tuple[int, dict[str, Any]]]:
    identifiers = resource.get("identifier")
    if not isinstance(identifiers, list):
        return []
    wanted = systems if isinstance(systems, frozenset) else frozenset(systems)
    return [
        (j, ident)
        for j, ident in enumerate(identifiers)
        if isinstance(ident, dict) and isinstance(ident.get("system"), str) and ident["system"] in wanted
    ]


def _organisation(context: MessageContext, reference: Any, where: str, role: str) -> Iterator[Issue]:
    """The Reference at `where` names an Organization entry with a well-formed SOR code (and GLN, if any)."""
    if reference is None:
        yield error("required", where, f"the {role} is missing; expected a reference to an Organization entry")
        return
    target = _text(reference.get("reference")) if isinstance(reference, dict) else None
    if target is None:
        yield error("required", where, f"the {role} has no reference; expected a reference to an Organization entry")
        return
    found = context.resolve(reference)
    if found is None:
        yield error("not-found", where, f"the {role} reference {_shown(target)} names no entry of the Bundle")
        return
    i, resource = found
    at = f"Bundle.entry[{i}].resource"
    resource_type = resource.get("resourceType")
    if resource_type != "Organization":
        yield error("invalid", where, f"the {role} must be an Organization; {_shown(target)} is a {_kind(resource)}")
        return
    sor_codes = _identifiers(resource, _SOR_SYSTEMS)
    if not sor_codes:
        yield error(
            "required",
            paths.child(at, "identifier"),
            f"the {role} organisation has no SOR identifier (system {medcom.SOR_SYSTEM})",
        )
    yield from _one_sor_code(at, sor_codes, f"the {role} organisation")
    for j, ident in sor_codes:
        value = _text(ident.get("value"))
        if value is None:
            yield error(
                "required", f"{at}.identifier[{j}].value", f"the SOR identifier of the {role} organisation has no value"
            )
        elif problem := sor_problem(value):
            # (the value itself is not quoted: a diagnostic never quotes an identifier)
            yield error("value", f"{at}.identifier[{j}].value", f"the SOR code of the {role} organisation: {problem}")
    for j, ident in _identifiers(resource, _GLN_SYSTEMS_CHECKED_HERE):
        value = _text(ident.get("value"))
        if value is not None and (problem := gln_problem(value)):
            yield error("value", f"{at}.identifier[{j}].value", f"the GLN of the {role} organisation: {problem}")


def _one_sor_code(at: str, sor_codes: list[tuple[int, dict[str, Any]]], who: str) -> Iterator[Issue]:
    """An error at each SOR identifier after the first: an Organization with two names no one organisation (one
    reader would take the first, another the last), and MedCom allows one."""
    if len(sor_codes) < 2:
        return
    places = ", ".join(f"identifier[{j}]" for j, _ in sor_codes)
    for j, _ in sor_codes[1:]:
        yield error(
            "structure",
            f"{at}.identifier[{j}]",
            f"{who} has {len(sor_codes)} SOR identifiers (system {medcom.SOR_SYSTEM}: {places}); MedCom allows"
            " one, and with more it cannot be told which organisation this is",
        )


def _reference_strings(value: Any) -> Iterator[str]:
    """The reference strings under value, like _references but without their paths (cheaper)."""
    todo: list[Any] = [value]
    while todo:
        current = todo.pop()
        if isinstance(current, dict):
            reference = current.get("reference")
            if isinstance(reference, str):
                yield reference
            todo.extend(child for child in current.values() if isinstance(child, dict | list))
        else:
            todo.extend(child for child in current if isinstance(child, dict | list))


# In compact JSON (orjson.dumps), "reference":" after { or , is a member "reference" whose value is a string, of
# an object at any depth: inside a string a quote is escaped, so a quote after { or , opens a member name (a key
# may end with an escaped quote and reference, hence the { or ,). What follows it is the string's content.
_REFERENCE_MEMBER = b'{"reference":"'
_LATER_REFERENCE_MEMBER = b',"reference":"'
_STRING_REST = re.compile(rb'((?:[^"\\]|\\.)*)"')


def _all_reference_strings(value: dict[str, Any]) -> list[str] | None:
    """The string value of every "reference" member anywhere in value, found by serialising it once (orjson)
    and searching the text, not by a walk in Python; None when it cannot be serialised."""
    try:
        text = orjson.dumps(value)
    except (orjson.JSONEncodeError, TypeError):  # not from JSON (keys that are no strings, ...): walk instead
        return None
    found: list[str] = []
    for rest in text.replace(_LATER_REFERENCE_MEMBER, _REFERENCE_MEMBER).split(_REFERENCE_MEMBER)[1:]:
        end = rest.find(b'"')
        raw = rest[:end]
        if b"\\" in raw:  # escapes: the first quote may be one of them
            match = _STRING_REST.match(rest)
            found.append(orjson.loads(b'"' + (match.group(1) if match else raw) + b'"'))
        else:
            found.append(raw.decode())
    return found


def _references(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """(FHIRPath of the Reference element, its reference string) of every {"reference": "..."} under value.

    Iterative: the depth of the input cannot reach Python's recursion limit (the envelope bounds it anyway).
    """
    todo: list[tuple[Any, str]] = [(value, path)]
    while todo:
        current, where = todo.pop()
        if isinstance(current, dict):
            reference = current.get("reference")
            if isinstance(reference, str):
                yield where, reference
            todo.extend(
                (child, paths.child(where, key))
                for key, child in reversed(current.items())
                if isinstance(child, dict | list)
            )
        elif isinstance(current, list):
            todo.extend(
                (child, paths.item(where, i))
                for i, child in reversed(list(enumerate(current)))
                if isinstance(child, dict | list)
            )


# --- the rules ----------------------------------------------------------------------------------------------


def bundle_type(context: MessageContext) -> Iterator[Issue]:
    kind = context.bundle.get("type")
    if kind is None:
        yield error("required", "Bundle.type", "Bundle.type is missing; a MedCom message has type 'message'")
    elif kind != "message":
        yield error("value", "Bundle.type", f"Bundle.type is {_shown(kind)}; a MedCom message has type 'message'")


def bundle_id(context: MessageContext) -> Iterator[Issue]:
    if not _text(context.bundle.get("id")):
        yield error("required", "Bundle.id", "Bundle.id is missing; every sending of a message has a new Bundle.id")


def bundle_timestamp(context: MessageContext) -> Iterator[Issue]:
    timestamp = context.bundle.get("timestamp")
    if timestamp is None:
        yield error("required", "Bundle.timestamp", "Bundle.timestamp is missing; expected the time of sending")
    elif not isinstance(timestamp, str) or not _INSTANT_WITH_ZONE.fullmatch(timestamp):
        yield error(
            "value",
            "Bundle.timestamp",
            f"Bundle.timestamp {_shown(timestamp)} is not a date and time with seconds and a timezone,"
            " e.g. 2024-05-01T12:00:00+02:00",
        )


def header_first(context: MessageContext) -> Iterator[Issue]:
    entries = context.bundle.get("entry")
    if not isinstance(entries, list) or not entries:
        yield error("required", "Bundle.entry", "the message has no entries; the first entry is its MessageHeader")
        return
    headers = [i for i, _ in context.of_type("MessageHeader")]
    if context.header is None:
        first = entries[0].get("resource") if isinstance(entries[0], dict) else None
        found = f"a {_kind(first)}" if isinstance(first, dict) else "no resource"
        elsewhere = f" (a MessageHeader is at Bundle.entry[{headers[0]}])" if headers else ""
        yield error("invalid", HEADER, f"the first entry must be the MessageHeader, found {found}{elsewhere}")
    for i in headers[1:]:
        yield error("invalid", f"Bundle.entry[{i}].resource", "a message has exactly one MessageHeader")


def header_id(context: MessageContext) -> Iterator[Issue]:
    if context.header is not None and not _text(context.header.get("id")):
        yield error("required", f"{HEADER}.id", "MessageHeader.id is missing; it identifies the message across resends")


def event_coding(context: MessageContext) -> Iterator[Issue]:
    header = context.header
    if header is None:
        return
    where = f"{HEADER}.eventCoding"
    coding = header.get("eventCoding")
    if not isinstance(coding, dict):
        yield error(
            "required", where, f"MessageHeader.eventCoding is missing; expected a code of {medcom.EVENT_CODE_SYSTEM}"
        )
        return
    system = coding.get("system")
    own = bool(context.own_event_codes) and system == SEKTORHUB_EVENT_CODE_SYSTEM
    if system != medcom.EVENT_CODE_SYSTEM and not own:
        problem = "missing" if system is None else f"{_shown(system)}"
        also = f" or {SEKTORHUB_EVENT_CODE_SYSTEM}" if context.own_event_codes else ""
        yield error(
            "value", f"{where}.system", f"the event code system is {problem}; expected {medcom.EVENT_CODE_SYSTEM}{also}"
        )
    code = coding.get("code")
    codes = context.own_event_codes if own else context.event_codes - context.own_event_codes
    if not _text(code):
        yield error("required", f"{where}.code", "the event code is missing")
    elif code not in codes:
        known = sorted(codes)
        expected = (
            "one of " + ", ".join(known)
            if len(known) <= _SHOWN_CODES
            else f"one of the {len(known)} MedCom event codes"
        )
        yield error("code-invalid", f"{where}.code", f"unknown event code {_shown(code)}; expected {expected}")


def sender(context: MessageContext) -> Iterator[Issue]:
    if context.header is not None:
        yield from _organisation(context, context.header.get("sender"), f"{HEADER}.sender", "sender")


def destinations(context: MessageContext) -> Iterator[Issue]:
    if context.header is None:
        return
    where = f"{HEADER}.destination"
    listed = context.header.get("destination")
    if not isinstance(listed, list) or not listed:
        yield error("required", where, "the message has no destination; exactly one primary destination is required")
        return
    primaries: list[int] = []
    for k, destination in enumerate(listed):
        at = paths.item(where, k)
        if not isinstance(destination, dict):
            continue  # the structure layer reports it
        uses = [
            (x, ext)
            for x, ext in enumerate(_list(destination.get("extension")))
            if isinstance(ext, dict) and ext.get("url") == medcom.DESTINATION_USE_EXTENSION
        ]
        if not uses:
            yield error(
                "required",
                f"{at}.extension",
                f"destination[{k}] has no destinationUse extension ({medcom.DESTINATION_USE_EXTENSION});"
                " expected primary or cc",
            )
        for x, ext in uses[:1]:
            coding = ext.get("valueCoding")
            coding = coding if isinstance(coding, dict) else {}
            code = coding.get("code")
            if code == "primary":
                primaries.append(k)
            elif code != "cc":
                yield error(
                    "code-invalid",
                    f"{at}.extension[{x}].valueCoding.code",
                    f"destinationUse is {_shown(code) if code is not None else 'missing'}; expected primary or cc",
                )
            if coding.get("system") != medcom.DESTINATION_USE_SYSTEM:
                yield error(
                    "value",
                    f"{at}.extension[{x}].valueCoding.system",
                    f"the destinationUse code system is {_shown(coding.get('system'))};"
                    f" expected {medcom.DESTINATION_USE_SYSTEM}",
                )
        for x, _ in uses[1:]:
            yield error("invalid", f"{at}.extension[{x}]", f"destination[{k}] has more than one destinationUse")
        yield from _organisation(
            context, destination.get("receiver"), f"{at}.receiver", f"receiver of destination[{k}]"
        )
    if not primaries:
        yield error("required", where, "no destination has destinationUse primary; exactly one must")
    for k in primaries[1:]:
        yield error(
            "invalid",
            paths.item(where, k),
            f"destination[{k}] is a second primary destination (destination[{primaries[0]}] is primary);"
            " exactly one is primary, the others are cc",
        )


def references(context: MessageContext) -> Iterator[Issue]:
    """Every reference resolves to an entry of the Bundle (contained #refs and the Provenance history aside)."""
    by_reference = context.index.by_reference

    def dangles(target: str) -> bool:
        return not target.startswith("#") and target not in by_reference

    everywhere = _all_reference_strings(context.bundle)
    if everywhere is not None and not any(dangles(target) for target in everywhere):
        return  # the common case: every reference of the whole Bundle resolves (a superset of those checked)
    top = {key: value for key, value in context.bundle.items() if key != "entry"}
    parts = [(top, "Bundle", False)]
    parts.extend(
        (resource, f"Bundle.entry[{i}].resource", resource.get("resourceType") == "Provenance")
        for i, resource in context.resources
    )
    for part, base, provenance in parts:
        found = _all_reference_strings(part)
        if not any(dangles(target) for target in (_reference_strings(part) if found is None else found)):
            continue  # the common case, found without building a path for every element
        for where, target in _references(part, base):
            if dangles(target) and not (provenance and _HISTORY_REFERENCE.fullmatch(where, len(base))):
                yield error("not-found", where, f"the reference {_shown(target)} names no entry of the Bundle")


def patient(context: MessageContext) -> Iterator[Issue]:
    patients = context.of_type("Patient")
    event = context.event
    if not patients and event in PATIENT_REQUIRED_EVENTS:
        yield error("required", "Bundle.entry", f"a {event} is about a patient, but the Bundle has no Patient entry")
    replacement_systems = sorted(medcom.REPLACEMENT_CPR_SYSTEMS)
    for i, resource in patients:
        at = f"Bundle.entry[{i}].resource"
        cprs = _identifiers(resource, _CPR_SYSTEMS)
        replacements = _identifiers(resource, medcom.REPLACEMENT_CPR_SYSTEMS)
        if not cprs and not replacements:
            yield error(
                "required",
                f"{at}.identifier",
                f"the patient has no CPR number (system {medcom.CPR_SYSTEM}) and no replacement CPR number"
                f" (system {' or '.join(replacement_systems)})",
            )
        for j, ident in cprs:
            # (a CPR number's form is dk-core's CPR identifier profile's invariant cpr, checked by hub.validate.profiles
            # wherever an identifier of that system appears, without quoting it)
            if _text(ident.get("value")) is None:
                yield error("required", f"{at}.identifier[{j}].value", "the CPR identifier has no value")
        for j, ident in replacements:
            if not _text(ident.get("value")):
                yield error("required", f"{at}.identifier[{j}].value", "the replacement CPR identifier has no value")


def organisations(context: MessageContext) -> Iterator[Issue]:
    """No Organization of the message has more than one SOR identifier (the sender's and the receivers' are
    reported by their rules, with their role, first)."""
    for i, resource in context.of_type("Organization"):
        yield from _one_sor_code(
            f"Bundle.entry[{i}].resource", _identifiers(resource, _SOR_SYSTEMS), "the Organization"
        )


def acknowledgement(context: MessageContext) -> Iterator[Issue]:
    """An acknowledgement answers one message: response.identifier is its MessageHeader.id, with a code."""
    header = context.header
    if header is None or context.event != medcom.ACKNOWLEDGEMENT_EVENT:
        return
    where = f"{HEADER}.response"
    response = header.get("response")
    if not isinstance(response, dict):
        yield error(
            "required", where, "an acknowledgement-message has a response naming the acknowledged message and a code"
        )
        return
    if not _text(response.get("identifier")):
        yield error(
            "required",
            f"{where}.identifier",
            "response.identifier is missing; expected the MessageHeader.id of the acknowledged message",
        )
    code = response.get("code")
    if code is None:
        yield error("required", f"{where}.code", f"response.code is missing; expected {', '.join(RESPONSE_CODES)}")
    elif code not in RESPONSE_CODES:
        yield error(
            "code-invalid", f"{where}.code", f"response.code {_shown(code)} is not one of {', '.join(RESPONSE_CODES)}"
        )
    elif code != "ok" and not context.of_type("OperationOutcome"):
        # medcom-acknowledgement-1
        yield error(
            "required",
            "Bundle.entry",
            f"an acknowledgement with response.code {code} carries an OperationOutcome entry with the errors",
        )
    for k, destination in enumerate(_list(header.get("destination"))):
        uses = [
            ext
            for ext in _list(destination.get("extension") if isinstance(destination, dict) else None)
            if isinstance(ext, dict) and ext.get("url") == medcom.DESTINATION_USE_EXTENSION
        ]
        coding = uses[0].get("valueCoding") if uses else None
        if isinstance(coding, dict) and coding.get("code") == "cc":
            yield error(
                "invalid",
                f"{HEADER}.destination[{k}]",
                "an acknowledgement goes only to the sender of the acknowledged message: no cc destinations",
            )


RULES: tuple[Rule, ...] = (
    bundle_type,
    bundle_id,
    bundle_timestamp,
    header_first,
    header_id,
    event_coding,
    sender,
    destinations,
    references,
    patient,
    organisations,
    acknowledgement,
)

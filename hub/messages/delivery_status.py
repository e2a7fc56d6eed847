"""A message's tracking as MedCom EHMI Delivery Status (EDS): FHIR AuditEvents, and the EDS search over them.

EDS (MedCom's dk-ehmi-eds IG) records one AuditEvent for every station a message passes on its way from the
sender's end-user application to the receiver's: each says what happened (subtype: received, sent,
finalized), whether it went well (outcome), who sent the message to whom (agents, by SOR code and GLN), which
system reports it (source) and which message it was (entities: the message's id, type and version, and its
envelope's id). The hub is one such station, a Message Service Handler: every AuditEvent here is one the hub
reports, made from a message's tracking view (``TrackingStore.get_message``). Pure functions, no I/O.

The mapping, step by step (docs/contracts/delivery-status.md gives the reasons):

| hub step | subtype | outcome | receiver agent |
|---|---|---|---|
| received | msg-received | 0 | each receiver of the view (the hub until the message is routed) |
| rejected, routing-failed | msg-received | 8 | the hub, which received it and could take it no further |
| delivered | msg-sent | 0 | the step's receiver |
| delivery-failed | msg-sent | 8 | the step's receiver |
| acknowledged | msg-finalized | 0 for ``ok``, else 8 | the receiver that acknowledged |

Routing, single failed attempts, redrives, overdue flags and mailbox fetches are the hub's own business, or
repeat what another step says, and make no AuditEvent.

No CPR number: the hub shows none, and the view's patient is masked already. EdsPatientDeliveryStatus needs the
patient's identifier (the CPR number) in its ehmiPatient entity, so every AuditEvent here is an
EdsBasicDeliveryStatus, also for a message about a patient. A caller that knows the CPR number can still search
by it (``cpr``); the answer does not show it.
"""

from __future__ import annotations

import copy
import hashlib
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from hub.domain import medcom, sektorhub
from hub.domain.identifiers import cpr_problem
from hub.domain.outcome import Issue, error
from hub.domain.tracking import Step
from hub.route.register import Register

# --- EDS canonical URLs and codes (dk.ehmi.eds-fsh, dk.ehmi.terminology-fsh) ---------------------------------

EDS_CANONICAL: Final = "http://medcomehmi.dk/ig/eds"
BASIC_PROFILE: Final = f"{EDS_CANONICAL}/StructureDefinition/EdsBasicDeliveryStatus"
PATIENT_PROFILE: Final = f"{EDS_CANONICAL}/StructureDefinition/EdsPatientDeliveryStatus"  # not used: see above
OTHER_ID_EXTENSION: Final = f"{EDS_CANONICAL}/StructureDefinition/eds-otherId"

_TERMINOLOGY: Final = "http://medcomehmi.dk/ig/terminology/CodeSystem"
TYPE_SYSTEM: Final = f"{_TERMINOLOGY}/ehmi-delivery-status-types"
SUBTYPE_SYSTEM: Final = f"{_TERMINOLOGY}/ehmi-delivery-status-sub-types"
ROLE_SYSTEM: Final = f"{_TERMINOLOGY}/ehmi-delivery-status-participationroletype"
AGENT_IDENTIFIER_TYPE_SYSTEM: Final = f"{_TERMINOLOGY}/ehmi-delivery-status-agent-who-identifier-types"
SOURCE_TYPE_SYSTEM: Final = f"{_TERMINOLOGY}/ehmi-delivery-status-source-type"
ENTITY_TYPE_SYSTEM: Final = f"{_TERMINOLOGY}/ehmi-delivery-status-entity-type"
OUTCOME_SYSTEM: Final = "http://hl7.org/fhir/audit-event-outcome"

MESSAGING_EVENT: Final = "ehmiMessaging"
SUBTYPES: Final = {
    "msg-created": "Message created",
    "msg-created-and-sent": "Message created and sent",
    "msg-sent": "Message sent",
    "msg-received": "Message received",
    "msg-received-and-finalized": "Message received and finalized",
    "msg-finalized": "Message finalized",
}
SUCCESS: Final = "0"  # the EDS outcome value set holds only these two codes of audit-event-outcome
SERIOUS_FAILURE: Final = "8"
OUTCOMES: Final = frozenset({SUCCESS, SERIOUS_FAILURE})
ENVELOPE_TYPE: Final = "Bundle"  # what SBDH/DocumentIdentification/Type says of a MedCom FHIR message

HUB_ID: Final = "hub"  # the register's name for the hub itself (Register.name_of)
DEVICE_ID: Final = "hub"  # the contained Device that stands for the hub as the reporting station

# ehmiMessageVersion: SBDH/DocumentIdentification/TypeVersion, the version part of MessageHeader.definition,
# for the message types the hub validates (the package versions in schemas/SOURCES.md)
MESSAGE_VERSIONS: Final = {
    medcom.HOSPITAL_NOTIFICATION_EVENT: "3.0",
    medcom.CARE_COMMUNICATION_EVENT: "5.0",
    medcom.ACKNOWLEDGEMENT_EVENT: "2.0",
    **{event: "1.0" for event in sektorhub.EVENTS},
}


@dataclass(frozen=True, slots=True)
class _Mapped:
    subtype: str
    outcome: str
    receivers: tuple[str, ...]


def audit_events(view: Mapping[str, Any], *, register: Register) -> list[dict[str, Any]]:
    """The EDS AuditEvents of one message, oldest first: one per step of its timeline that EDS records, and for a
    step that concerns the whole message one per receiver (an EDS AuditEvent names exactly one receiver).

    A message that lacks what every EDS AuditEvent must carry (its MessageHeader.id, its Bundle id, a message type
    the hub knows a version of, a sender the register knows) has none. Ids are stable: the same view gives the
    same ids, and so does an organisation's narrower view of the same message (``audit_event_id``)."""
    sender = _party(view.get("sender"), register)
    message = _message_entities(view)
    tracking_id = view.get("tracking_id")
    if sender is None or message is None or not isinstance(tracking_id, str):
        return []
    receivers = tuple(d["receiver"] for d in view.get("receivers", []) if isinstance(d.get("receiver"), str))
    events: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for step in view.get("timeline", []):
        mapped = _mapped(step, receivers)
        if mapped is None:
            continue
        for receiver_id in mapped.receivers:
            receiver = _party(receiver_id, register)
            if receiver is None:
                continue
            key = f"{step.get('step')}|{step.get('receiver')}|{step.get('at')}|{receiver_id}"
            seen[key] = seen.get(key, 0) + 1
            event_id = audit_event_id(tracking_id, f"{key}|{seen[key]}")
            recorded = instant(str(step.get("at") or view.get("received_at") or ""))
            events.append(_audit_event(event_id, recorded, mapped, sender, receiver, message, register))
    return events


def _audit_event(
    event_id: str,
    recorded: str,
    mapped: _Mapped,
    sender: _Party,
    receiver: _Party,
    entities: list[dict[str, Any]],
    register: Register,
) -> dict[str, Any]:
    """One EdsBasicDeliveryStatus, reported by the hub (the contained Device) as a Message Service Handler."""
    subtype = {"system": SUBTYPE_SYSTEM, "code": mapped.subtype, "display": SUBTYPES[mapped.subtype]}
    return {
        "resourceType": "AuditEvent",
        "id": event_id,
        "meta": {"profile": [BASIC_PROFILE]},
        "contained": [_device(register)],
        "type": {"system": TYPE_SYSTEM, "code": MESSAGING_EVENT, "display": "EHMI messaging event"},
        "subtype": [subtype],
        "action": "C",
        "recorded": recorded,
        "outcome": mapped.outcome,
        "agent": [_agent("ehmiSender", "Sender", sender), _agent("ehmiReceiver", "Receiver", receiver)],
        "source": {
            "observer": {"reference": f"#{DEVICE_ID}", "display": register.hub.name},
            "type": [{"system": SOURCE_TYPE_SYSTEM, "code": "MSH", "display": "MSH (Application Server)"}],
        },
        "entity": copy.deepcopy(entities),
    }


def _mapped(step: Mapping[str, Any], receivers: tuple[str, ...]) -> _Mapped | None:
    """What EDS records of one timeline step, or None when it records nothing of it."""
    name, receiver = step.get("step"), step.get("receiver")
    found = step.get("detail")
    detail: Mapping[str, Any] = found if isinstance(found, dict) else {}
    if name == Step.RECEIVED:
        return _Mapped("msg-received", SUCCESS, receivers or (HUB_ID,))
    if name in (Step.REJECTED, Step.ROUTING_FAILED):
        return _Mapped("msg-received", SERIOUS_FAILURE, (HUB_ID,))
    if not isinstance(receiver, str):
        return None
    if name == Step.DELIVERED:
        return _Mapped("msg-sent", SUCCESS, (receiver,))
    if name == Step.DELIVERY_FAILED:
        return _Mapped("msg-sent", SERIOUS_FAILURE, (receiver,))
    if name == Step.ACKNOWLEDGED and "note" not in detail:  # a note: it answers nothing the hub carried
        return _Mapped("msg-finalized", SUCCESS if detail.get("code") == "ok" else SERIOUS_FAILURE, (receiver,))
    return None


_ID_LETTERS: Final = "abcdefghijklmnop"  # hex digits as letters: no run of digits in an id looks like a CPR number
_SUFFIX_LENGTH: Final = 16


def audit_event_id(tracking_id: str, key: str) -> str:
    """``<tracking id>.<16 letters>``: the message's tracking id (so that a read by id finds the message) and a
    digest of what the AuditEvent records (step, its receiver, when, the receiver it names). FHIR ids are at most
    64 characters of ``A-Za-z0-9-.``; the hub's tracking ids (UUIDs) fit."""
    digest = hashlib.sha256(f"{tracking_id}|{key}".encode()).hexdigest()[:_SUFFIX_LENGTH]
    return f"{tracking_id}.{''.join(_ID_LETTERS[int(c, 16)] for c in digest)}"


def tracking_id_of(audit_event_id: str) -> str | None:
    """The tracking id an AuditEvent id was made from, or None when it is not one ``audit_event_id`` makes."""
    tracking_id, dot, suffix = audit_event_id.rpartition(".")
    if not dot or not tracking_id or len(suffix) != _SUFFIX_LENGTH or set(suffix) - set(_ID_LETTERS):
        return None
    return tracking_id


def instant(value: str) -> str:
    """A FHIR instant in UTC (microseconds) for a stored timestamp; one that cannot be read is returned as it is."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True, slots=True)
class _Party:
    """An organisation as an EDS agent names it."""

    id: str
    sor: str
    gln: str | None
    name: str


def _party(party_id: object, register: Register) -> _Party | None:
    if not isinstance(party_id, str):
        return None
    if party_id == HUB_ID:
        return _Party(HUB_ID, register.hub.sor, register.hub.gln, register.hub.name)
    organisation = register.by_id(party_id)
    if organisation is None:
        return None
    return _Party(organisation.id, organisation.sor, organisation.gln, organisation.name)


def _agent(role: str, display: str, party: _Party) -> dict[str, Any]:
    """An ehmiSender or ehmiReceiver agent: the SOR code as who.identifier, the GLN in the eds-otherId extension."""
    agent: dict[str, Any] = {}
    if party.gln:
        agent["extension"] = [
            {
                "url": OTHER_ID_EXTENSION,
                "valueIdentifier": {
                    "type": {"coding": [{"system": AGENT_IDENTIFIER_TYPE_SYSTEM, "code": "GLN", "display": "GLN"}]},
                    "system": medcom.GLN_SYSTEM,
                    "value": party.gln,
                },
            }
        ]
    agent |= {
        "type": {"coding": [{"system": ROLE_SYSTEM, "code": role, "display": display}]},
        "who": {"identifier": {"system": medcom.SOR_SYSTEM, "value": party.sor}, "display": party.name},
        "name": party.name,
        "requestor": role == "ehmiSender",
    }
    return agent


def _device(register: Register) -> dict[str, Any]:
    """The hub as the EDS client that reports: a Device of source type MSH, owned by the hub's organisation."""
    return {
        "resourceType": "Device",
        "id": DEVICE_ID,
        "identifier": [
            {
                "type": {"coding": [{"system": AGENT_IDENTIFIER_TYPE_SYSTEM, "code": "ehmiDEVICEID"}]},
                "value": "sektor-hub",
            }
        ],
        "status": "active",
        "deviceName": [{"name": register.hub.name, "type": "user-friendly-name"}],
        "type": {"coding": [{"system": SOURCE_TYPE_SYSTEM, "code": "MSH", "display": "MSH (Application Server)"}]},
        "owner": {"identifier": {"system": medcom.SOR_SYSTEM, "value": register.hub.sor}, "display": register.hub.name},
    }


def _message_entities(view: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """The ehmiMessage entity (MessageHeader.id, message type and version) and the ehmiMessageEnvelope (Bundle.id)."""
    message_id, bundle_id, event = view.get("message_id"), view.get("bundle_id"), view.get("event")
    if not (isinstance(message_id, str) and message_id and isinstance(bundle_id, str) and bundle_id):
        return None
    if not isinstance(event, str) or event not in MESSAGE_VERSIONS:
        return None
    return [
        {
            "what": {"identifier": {"value": message_id}},
            "type": {"system": ENTITY_TYPE_SYSTEM, "code": "ehmiMessage", "display": "Message"},
            "detail": [
                {"type": "ehmiMessageType", "valueString": event},
                {"type": "ehmiMessageVersion", "valueString": MESSAGE_VERSIONS[event]},
            ],
        },
        {
            "what": {"identifier": {"value": bundle_id}},
            "type": {"system": ENTITY_TYPE_SYSTEM, "code": "ehmiMessageEnvelope", "display": "Message Envelope"},
            "detail": [{"type": "ehmiMessageEnvelopeType", "valueString": ENVELOPE_TYPE}],
        },
    ]


# --- the search -------------------------------------------------------------------------------------------------

DEFAULT_COUNT: Final = 50
LARGEST_COUNT: Final = 1000
LARGEST_OFFSET: Final = 2**31 - 1
LONGEST_VALUE: Final = 256
JSON_FORMATS: Final = frozenset({"json", "application/json", "application/fhir+json", "fhir+json"})

# organisation parameters (SearchParameter-EDS-*): which agent, and which of its values they match
_ORGANISATION_PARAMETERS: Final = {
    "senderOrg": ("sender", ("sor", "gln", "name")),
    "sender-sor": ("sender", ("sor",)),
    "sender-gln": ("sender", ("gln",)),
    "sender-name": ("sender", ("name",)),
    "receiverOrg": ("receiver", ("sor", "gln", "name")),
    "receiver-sor": ("receiver", ("sor",)),
    "receiver-gln": ("receiver", ("gln",)),
    "receiver-name": ("receiver", ("name",)),
    "participant-sor": ("participant", ("sor",)),
}
_SINGLE_VALUED: Final = ("message-id", "ehmiMessageType", "cpr", "_count", "_offset", "_format")
_TOKEN_LISTS: Final = ("subtype", "outcome")
SUPPORTED: Final = (*_ORGANISATION_PARAMETERS, *_SINGLE_VALUED, *_TOKEN_LISTS, "date")
# EDS search parameters whose entities the hub's AuditEvents never carry
_NOT_CARRIED: Final = {
    "orig-message-id": "the hub's AuditEvents carry no ehmiOrigMessage entity",
    "entityIdentifier": "search by message-id (MessageHeader.id) instead",
}
_STRING_MODIFIERS: Final = ("", "exact", "contains")


@dataclass(frozen=True, slots=True)
class AuditEventSearch:
    """An EDS AuditEvent search as the hub understands it. Organisations are sets of register ids (``hub`` for the
    hub itself): the AuditEvent's agent must be one of them; None means any."""

    senders: frozenset[str] | None = None
    receivers: frozenset[str] | None = None
    participants: frozenset[str] | None = None  # sender or receiver
    message_type: str | None = None  # MedCom event code (ehmiMessageType)
    message_id: str | None = None  # MessageHeader.id (message-id), matched exactly
    cpr: str | None = None  # the patient's CPR number: never shown, only searched by
    recorded_from: datetime | None = None  # AuditEvent.recorded at or after
    recorded_before: datetime | None = None  # AuditEvent.recorded before
    subtypes: frozenset[str] | None = None
    outcomes: frozenset[str] | None = None
    matches_nothing: bool = False  # e.g. an ehmiMessageType in a code system the AuditEvents do not use
    count: int = DEFAULT_COUNT
    offset: int = 0


def parse_search(params: Any, *, register: Register) -> AuditEventSearch | list[Issue]:
    """The search that the query parameters ask for, or the issues with them (one per bad parameter).

    `params` is a Mapping[str, list[str]] or a Starlette ``QueryParams`` (``multi_items``). The names and their
    meanings are EDS's SearchParameters; ``date`` (AuditEvent.recorded), ``subtype`` and ``outcome`` are FHIR's
    own for AuditEvent. Organisation parameters are FHIR string parameters: a value matches an organisation whose
    SOR code, GLN or name (as the parameter says) starts with it, ignoring case and accents (``:exact``: equals it;
    ``:contains``: holds it). One that names no organisation matches nothing. A parameter with an empty value is
    ignored, as FHIR says; one the hub does not know is an issue."""
    issues: list[Issue] = []
    values: dict[str, list[str]] = {}
    organisations: dict[str, frozenset[str]] = {}
    dates: list[str] = []
    for raw_name, value in _items(params):
        name, _, modifier = raw_name.partition(":")
        where = f"http.{raw_name}"
        problem = _value_problem(value)
        if problem:
            issues.append(error("value", where, f"{raw_name}: {problem}"))
            continue
        if name in _NOT_CARRIED:
            issues.append(error("not-supported", where, f"{name} is not supported: {_NOT_CARRIED[name]}"))
        elif name not in SUPPORTED:
            issues.append(
                error("not-supported", where, f"unknown search parameter {raw_name}; supported: {', '.join(SUPPORTED)}")
            )
        elif modifier and (name not in _ORGANISATION_PARAMETERS or modifier not in _STRING_MODIFIERS):
            issues.append(error("not-supported", where, f"{raw_name}: the modifier :{modifier} is not supported here"))
        elif not value:
            continue  # FHIR: a parameter without a value is ignored
        elif name in _ORGANISATION_PARAMETERS:
            side, fields = _ORGANISATION_PARAMETERS[name]
            found = _organisations(register, fields, value.split(","), modifier)
            organisations[side] = organisations[side] & found if side in organisations else found
        elif name == "date":
            dates.append(value)
        elif name in _SINGLE_VALUED and name in values:
            issues.append(error("value", where, f"{name} may be given once, with one value"))
        else:
            values.setdefault(name, []).append(value)
    found_range = _date_range(dates, issues)
    search = _typed(values, issues)
    if issues or search is None or found_range is None:
        return issues
    recorded_from, recorded_before = found_range
    return AuditEventSearch(
        senders=organisations.get("sender"),
        receivers=organisations.get("receiver"),
        participants=organisations.get("participant"),
        message_type=search.message_type,
        message_id=search.message_id,
        cpr=search.cpr,
        recorded_from=recorded_from,
        recorded_before=recorded_before,
        subtypes=search.subtypes,
        outcomes=search.outcomes,
        matches_nothing=search.matches_nothing,
        count=search.count,
        offset=search.offset,
    )


def _items(params: Any) -> list[tuple[str, str]]:
    if hasattr(params, "multi_items"):
        return [(str(k), str(v)) for k, v in params.multi_items()]
    return [(str(k), str(v)) for k, vs in params.items() for v in vs]


def _value_problem(value: str) -> str | None:
    if len(value) > LONGEST_VALUE:
        return f"a value is at most {LONGEST_VALUE} characters"
    if "\x00" in value:
        return "the value holds a NUL character (U+0000)"
    return None


def _folded(text: str) -> str:
    """Text as FHIR string search compares it: case and accents ignored."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _organisations(register: Register, fields: Sequence[str], wanted: Iterable[str], modifier: str) -> frozenset[str]:
    """The register ids (``hub`` for the hub) of the organisations any of the values matches."""
    candidates: list[tuple[str, dict[str, str | None]]] = [
        (HUB_ID, {"sor": register.hub.sor, "gln": register.hub.gln, "name": register.hub.name}),
        *((o.id, {"sor": o.sor, "gln": o.gln, "name": o.name}) for o in register.organisations),
    ]
    found = set()
    for value in (v for v in wanted if v):
        for organisation_id, known in candidates:
            if any(_string_matches(known[f], value, modifier) for f in fields if known[f]):
                found.add(organisation_id)
    return frozenset(found)


def _string_matches(known: str | None, value: str, modifier: str) -> bool:
    if known is None:
        return False
    if modifier == "exact":
        return known == value
    if modifier == "contains":
        return _folded(value) in _folded(known)
    return _folded(known).startswith(_folded(value))


@dataclass(frozen=True, slots=True)
class _Scalars:
    message_type: str | None
    message_id: str | None
    cpr: str | None
    subtypes: frozenset[str] | None
    outcomes: frozenset[str] | None
    matches_nothing: bool
    count: int
    offset: int


def _typed(values: Mapping[str, list[str]], issues: list[Issue]) -> _Scalars | None:
    """The parameters other than organisations and dates, checked; None when one of them is bad."""
    before = len(issues)
    first = {name: listed[0] for name, listed in values.items()}
    count = _integer(first.get("_count"), "_count", DEFAULT_COUNT, LARGEST_COUNT, issues)
    offset = _integer(first.get("_offset"), "_offset", 0, LARGEST_OFFSET, issues)
    if "_format" in first and first["_format"] not in JSON_FORMATS:
        issues.append(error("not-supported", "http._format", "_format: the hub answers in FHIR JSON only"))
    cpr = first.get("cpr")
    if cpr is not None:
        cpr = cpr.replace("-", "")
        problem = cpr_problem(cpr)
        if problem:
            issues.append(error("value", "http.cpr", f"cpr: {problem}"))
    message_type, nothing = first.get("ehmiMessageType"), False
    if message_type is not None and "|" in message_type:
        system, _, message_type = message_type.partition("|")
        nothing = bool(system)  # the ehmiMessageType detail is a plain string: it is in no code system
    subtypes = _tokens(values.get("subtype"), "subtype", SUBTYPE_SYSTEM, frozenset(SUBTYPES), issues)
    outcomes = _tokens(values.get("outcome"), "outcome", OUTCOME_SYSTEM, OUTCOMES, issues)
    if len(issues) > before:
        return None
    return _Scalars(
        message_type=message_type or None,
        message_id=first.get("message-id"),
        cpr=cpr,
        subtypes=subtypes,
        outcomes=outcomes,
        matches_nothing=nothing,
        count=count,
        offset=offset,
    )


def _integer(value: str | None, name: str, default: int, largest: int, issues: list[Issue]) -> int:
    if value is None:
        return default
    if not value.isascii() or not value.isdigit() or int(value) > largest:
        issues.append(error("value", f"http.{name}", f"{name}: a whole number from 0 to {largest}"))
        return default
    return int(value)


def _tokens(
    listed: list[str] | None, name: str, system: str, known: frozenset[str], issues: list[Issue]
) -> frozenset[str] | None:
    """A token parameter's codes: ``code``, ``|code`` or ``system|code``, comma for OR; repeats are AND."""
    if listed is None:
        return None
    result: frozenset[str] | None = None
    for value in listed:
        codes = set()
        for token in value.split(","):
            given_system, bar, code = token.rpartition("|") if "|" in token else ("", "", token)
            if bar and given_system and given_system != system:
                continue  # a code of another system: matches nothing
            if code not in known:
                issues.append(error("value", f"http.{name}", f"{name}: {code!r} is none of {', '.join(sorted(known))}"))
                return None
            codes.add(code)
        result = frozenset(codes) if result is None else result & codes
    return result


# FHIR date search: a value is the whole range its precision covers (2025 is the year 2025)
_DATE_PREFIXES: Final = ("eq", "ge", "gt", "le", "lt")
_UNSUPPORTED_PREFIXES: Final = ("ne", "sa", "eb", "ap")


def _date_range(values: Sequence[str], issues: list[Issue]) -> tuple[datetime | None, datetime | None] | None:
    """[from, before) of AuditEvent.recorded that every ``date`` parameter allows; None when one is bad."""
    low: datetime | None = None
    high: datetime | None = None
    for value in values:
        prefix, text = (value[:2], value[2:]) if value[:2] in _DATE_PREFIXES + _UNSUPPORTED_PREFIXES else ("eq", value)
        if prefix in _UNSUPPORTED_PREFIXES:
            issues.append(error("not-supported", "http.date", f"date: the prefix {prefix} is not supported"))
            return None
        covered = _covered(text)
        if covered is None:
            issues.append(
                error(
                    "value",
                    "http.date",
                    f"date: {text!r} is not a FHIR date or dateTime (YYYY, YYYY-MM, YYYY-MM-DD, YYYY-MM-DDThh:mm:ss"
                    " with a time zone) after an optional prefix eq, ge, gt, le or lt",
                )
            )
            return None
        start, end = covered
        lower, upper = {
            "eq": (start, end),
            "ge": (start, None),
            "gt": (end, None),
            "lt": (None, start),
            "le": (None, end),
        }[prefix]
        low = lower if low is None or (lower is not None and lower > low) else low
        high = upper if high is None or (upper is not None and upper < high) else high
    return low, high


def _covered(text: str) -> tuple[datetime, datetime] | None:
    """The instants a FHIR date or dateTime stands for: [start, end), in UTC (one without a zone is taken as UTC)."""
    try:
        if len(text) == 4 and text.isdigit():
            start = datetime(int(text), 1, 1, tzinfo=UTC)
            return start, _add_months(start, 12)
        if len(text) == 7 and text[4] == "-":
            start = datetime(int(text[:4]), int(text[5:]), 1, tzinfo=UTC)
            return start, _add_months(start, 1)
        if len(text) == 10:
            start = datetime.fromisoformat(text).replace(tzinfo=UTC)
            return start, start + timedelta(days=1)
        if len(text) > 10 and text[10] == "T" and text[:4].isdigit():
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            start = moment.astimezone(UTC)
            return start, start + (timedelta(microseconds=1) if "." in text[16:] else timedelta(seconds=1))
    except (ValueError, OverflowError):
        return None
    return None


def _add_months(start: datetime, months: int) -> datetime:
    year, month = divmod(start.month - 1 + months, 12)
    if start.year + year > 9999:
        return datetime.max.replace(tzinfo=UTC)
    return start.replace(year=start.year + year, month=month + 1)


def matches(event: Mapping[str, Any], search: AuditEventSearch, *, register: Register) -> bool:
    """Whether one AuditEvent (as ``audit_events`` makes it) is in the search's answer."""
    if search.matches_nothing:
        return False
    sender, receiver = (_agent_id(event, role, register) for role in ("ehmiSender", "ehmiReceiver"))
    if search.senders is not None and sender not in search.senders:
        return False
    if search.receivers is not None and receiver not in search.receivers:
        return False
    if search.participants is not None and not {sender, receiver} & search.participants:
        return False
    message = next((e for e in event.get("entity", []) if e["type"]["code"] == "ehmiMessage"), None)
    if message is None:
        return False
    if search.message_id is not None and message["what"]["identifier"]["value"] != search.message_id:
        return False
    if search.message_type is not None and all(d["valueString"] != search.message_type for d in message["detail"]):
        return False
    if search.subtypes is not None and all(s["code"] not in search.subtypes for s in event.get("subtype", [])):
        return False
    if search.outcomes is not None and event.get("outcome") not in search.outcomes:
        return False
    return _recorded_within(str(event.get("recorded", "")), search)


def _agent_id(event: Mapping[str, Any], role: str, register: Register) -> str | None:
    for agent in event.get("agent", []):
        if agent["type"]["coding"][0]["code"] == role:
            return register.name_of(agent["who"]["identifier"]["value"])
    return None


def _recorded_within(recorded: str, search: AuditEventSearch) -> bool:
    if search.recorded_from is None and search.recorded_before is None:
        return True
    try:
        moment = datetime.fromisoformat(recorded)
    except ValueError:
        return False
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if search.recorded_from is not None and moment < search.recorded_from:
        return False
    return search.recorded_before is None or moment < search.recorded_before


def newest_first(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """AuditEvents in the order a search answers with them: the most recently recorded first, then by id."""
    by_id = sorted(events, key=lambda e: str(e["id"]))
    return sorted(by_id, key=lambda e: _sort_instant(str(e.get("recorded", ""))), reverse=True)


def _sort_instant(recorded: str) -> datetime:
    try:
        moment = datetime.fromisoformat(recorded)
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

"""MedCom's rules for copies (carbon copies, cc), where the other layers do not already check them.

A cc receiver gets a message of its own: an exact copy of the original with a new Bundle.id and MessageHeader.id
and one more Provenance on the stack, activity carboncopy-message (MedCom governance 040 "Governance4FHIR-Messaging",
scenarios #2 and #3a). Which message kinds may have cc receivers at all is the MessageHeader profile's
`destination:cc` slice:

- CareCommunication 5.0.2 (medcom-careCommunication-messageHeader) and HomeCareObservation
  (medcom-homecareobservation-messageheader): `destination:cc` 0..0. Checked here (`cc_destinations`); the
  profiles layer does not decide membership of that slice.
- HospitalNotification 3.0.2: `destination:cc` 0..0 and invariant medcom-hospitalNotification-5 ("The receiver of
  a HospitalNotification shall always be a primary receiver"), which the profiles layer checks.
- Acknowledgement 2.0.3: `destination:cc` 0..0, which hub.validate.messaging.acknowledgement checks.

A carboncopy-message Provenance in a message of those kinds is refused too (`copy_activity`): CareCommunication's
Provenance binding excludes the code (ValueSet medcom-careCommunication-messagingActivities), and
medcom-hospitalNotification-3 requires HospitalNotification's own activities, an invariant whose memberOf() the
hub cannot evaluate against MedCom's (unresolvable) ValueSet URL.

A message whose own Provenance (the one whose target is its MessageHeader) has activity carboncopy-message is a
copy (`carbon_copy`): it keeps the original's destinations, so it names a cc receiver (the copy is theirs, and
hub.route.router delivers it to them); and its Provenance names the original (entity, role revision, what: the
original's MessageHeader, MedComMessagingProvenance "History"), which is not the copy itself, since a copy's
MessageHeader.id SHALL be changed.

Pure functions of the parsed Bundle; they read it defensively and skip what they cannot read (the structure layer
reports a wrong shape).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from hub.domain import medcom
from hub.domain.message import destination_use, message_header
from hub.domain.outcome import Issue, error

HEADER: Final = "Bundle.entry[0].resource"
# message kinds whose MessageHeader profile has destination:cc 0..0 -> that profile
NO_CC_PROFILES: Final = {
    medcom.CARE_COMMUNICATION_EVENT: "medcom-careCommunication-messageHeader (CareCommunication 5.0.2)",
    medcom.HOSPITAL_NOTIFICATION_EVENT: "medcom-hospitalNotification-messageHeader (HospitalNotification 3.0.2)",
    medcom.ACKNOWLEDGEMENT_EVENT: "medcom-messaging-acknowledgementHeader (Acknowledgement 2.0.3)",
    "homecareobservation-message": "medcom-homecareobservation-messageheader (HomeCareObservation)",
}
# of those, the kinds whose cc destinations another layer refuses already (see the module's docstring)
CC_REFUSED_ELSEWHERE: Final = frozenset({medcom.HOSPITAL_NOTIFICATION_EVENT, medcom.ACKNOWLEDGEMENT_EVENT})


def check_copies(bundle: dict[str, Any]) -> list[Issue]:
    """Every breach of MedCom's rules for copies in the message (see the module's docstring)."""
    header = message_header(bundle)
    if header is None:
        return []
    provenances = [
        (i, entry["resource"])
        for i, entry in enumerate(_list(bundle.get("entry")))
        if isinstance(entry, dict)
        and isinstance(entry.get("resource"), dict)
        and entry["resource"].get("resourceType") == "Provenance"
    ]
    return [
        *cc_destinations(header),
        *copy_activity(header, provenances),
        *carbon_copy(header, provenances),
    ]


def cc_destinations(header: dict[str, Any]) -> Iterator[Issue]:
    """A cc destination in a message whose profile has none (and no other layer refuses it)."""
    event = _event(header)
    if event not in NO_CC_PROFILES or event in CC_REFUSED_ELSEWHERE:
        return
    for k, destination in enumerate(_list(header.get("destination"))):
        if isinstance(destination, dict) and destination_use(destination) == "cc":
            yield error(
                "invalid",
                f"{HEADER}.destination[{k}]",
                f"{event} messages have no cc receivers ({NO_CC_PROFILES[event]}: destination:cc 0..0);"
                " send the other receiver a message of its own, e.g. a forward-message",
            )


def copy_activity(header: dict[str, Any], provenances: list[tuple[int, dict[str, Any]]]) -> Iterator[Issue]:
    """A carboncopy-message Provenance in a message kind that has no cc receivers."""
    event = _event(header)
    if event not in NO_CC_PROFILES:
        return
    for i, resource in provenances:
        if _activity(resource) == medcom.CARBON_COPY_ACTIVITY:
            yield error(
                "code-invalid",
                f"Bundle.entry[{i}].resource.activity",
                f"Provenance.activity is {medcom.CARBON_COPY_ACTIVITY}, but {event} messages have no cc receivers"
                f" and so no carbon copies ({NO_CC_PROFILES[event]}: destination:cc 0..0)",
            )


def carbon_copy(header: dict[str, Any], provenances: list[tuple[int, dict[str, Any]]]) -> Iterator[Issue]:
    """A copy names a cc receiver and, in its own Provenance, the original message (not itself)."""
    if _event(header) in NO_CC_PROFILES or not isinstance(header.get("id"), str):
        return
    own = f"MessageHeader/{header['id']}"
    for i, resource in provenances:
        targets = [t.get("reference") for t in _list(resource.get("target")) if isinstance(t, dict)]
        if own not in targets or _activity(resource) != medcom.CARBON_COPY_ACTIVITY:
            continue
        where = f"Bundle.entry[{i}].resource"
        listed = [d for d in _list(header.get("destination")) if isinstance(d, dict)]
        if not any(destination_use(d) == "cc" for d in listed):
            yield error(
                "required",
                f"{HEADER}.destination",
                f"the message is a carbon copy ({where}.activity is {medcom.CARBON_COPY_ACTIVITY}) but names no cc"
                " receiver; a copy keeps the original's destinations, primary and cc, and is the cc receivers'"
                " message (MedCom governance 040, scenario #3a)",
            )
        originals: list[tuple[int, dict[str, Any]]] = [
            (j, entity["what"])
            for j, entity in enumerate(_list(resource.get("entity")))
            if isinstance(entity, dict) and entity.get("role") == "revision" and isinstance(entity.get("what"), dict)
        ]
        if not originals:
            yield error(
                "required",
                f"{where}.entity",
                "a carbon copy's Provenance names the original message: an entity with role revision whose"
                " what.reference is the original's MessageHeader (MessageHeader/<id>)",
            )
        for j, what in originals:
            if what.get("reference") == own:
                yield error(
                    "invalid",
                    f"{where}.entity[{j}].what.reference",
                    "a carbon copy names itself as the original: a copy has a MessageHeader.id of its own (it SHALL"
                    " be changed, MedCom governance 040, scenario #3a), and its Provenance names the original's",
                )


def _event(header: dict[str, Any]) -> str | None:
    coding = header.get("eventCoding")
    code = coding.get("code") if isinstance(coding, dict) else None
    return code if isinstance(code, str) else None


def _activity(provenance: dict[str, Any]) -> str | None:
    activity = provenance.get("activity")
    for coding in _list(activity.get("coding") if isinstance(activity, dict) else None):
        code = coding.get("code") if isinstance(coding, dict) else None
        if isinstance(code, str):
            return code
    return None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []

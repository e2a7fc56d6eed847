"""HL7 v2 ADT -> MedCom HospitalNotification message (HospitalNotification 3.0, FHIR R4).

`map_adt(text, now=..., new_id=...)` is a pure function: the same message, clock and id factory give the same
Bundle. Which ADT event becomes which notification is data, in :mod:`mappings.hl7v2.rules`; the message is
built with the hub's own builders (`hub.messages.builder`, `hub.messages.hospital_notification`).

The contract with the sending hospital: what an ADT message must carry
------------------------------------------------------------------------

=================  ==========================================================================================
MSH-4              sending facility: the SOR code of the hospital (MSH-4.1), or an HL7 facility code its register
                   entry lists (MSH-4.2 universal id, else MSH-4.1 namespace id; mappings.hl7v2.addressing). The
                   organisation is the MedCom sender; the MLLP connector accepts only organisations it knows.
MSH-6              receiving facility: only a fallback for the municipality (below), when it names a registered
                   municipality. A MedCom Organization carries both its SOR code and its GLN
                   (medcom-messaging-organization): the register must know the GLN of sender and municipality.
PID-11, PID-12     the municipality of residence, the primary receiver: the kommunekode in PID-11.9 (home, legal
                   or untyped address) or PID-12; else the patient register's by CPR number; else MSH-6. Not
                   found, or not registered: an error. A home address abroad (PID-11.6) of a patient the patient
                   register does not know: not notified (MedCom notifies citizens living in Denmark).
MSH-9              ADT^<trigger> (EVN-1 when MSH-9.2 is empty). Triggers: see `rules.TRIGGERS`.
MSH-10             message control id. MessageHeader.id is a UUID v5 of it, MSH-3, the sender's SOR code, the
                   trigger, the CPR number, the visit number and EVN-2: a message the sender sends again is the
                   same MedCom message, which the hub recognises as a resend, while a control id that a sender's
                   counter hands out a second time still makes a new message.
PID-3              the patient's CPR number: the repetition whose assigning authority (PID-3.4) is ``CPR`` or
                   the CPR OID 1.2.208.176.1.2, or whose identifier type (PID-3.5) is ``CPR``; without one, a
                   10-digit id that names no other assigning authority. ``DDMMYY-SSSS`` is accepted. A patient
                   named only by a replacement CPR number or a foreign id (PID-3.5 PPN, NN<country>, ...) is not
                   notified: MedCom notifies citizens with a CPR number (medcom-hospitalNotification-4).
PID-5              the patient's name: family^given^middle. Required, with the family name: MedCom's Patient
                   (medcom-core-patient) has an official name with a family name.
PID-29, PID-30     death date/time and death indicator (``Y``: the notification is MORS).
PV1-2              patient class: ``I`` inpatient (Encounter.class IMP) or ``E`` emergency, i.e. acute
                   ambulant (EMER). Other classes are not notified (the message is acknowledged, nothing sent).
PV1-3              the department: a point of care (PV1-3.1) in a facility (PV1-3.4) that the sender's register
                   entry lists with a SOR unit is the Encounter's serviceProvider (else MSH-4's unit, else the
                   sender). PV1-3.4 and PV1-6.4, the facility of the current and the prior location: an A02
                   between two facilities is a new start of stay at the receiving hospital, one within one is not
                   notified.
PV1-19             visit number (else PID-18, the account number): it identifies the stay. The Encounter's
                   episode-of-care identifier is a UUID v5 of it and the sender's SOR code, so every
                   notification of one stay carries the same one.
PV1-36             discharge disposition: a death code makes an A03 a MORS, a transfer code means no SLHJ
                   (see `rules.DEATH_DISPOSITIONS` and `rules.TRANSFER_DISPOSITIONS`).
PV1-44             admit date/time: Encounter.period.start. Required.
PV1-45             discharge date/time: Encounter.period.end of a discharge (else PID-29 for a death).
EVN-6              when the event happened (else EVN-2, else MSH-7): the start of a leave (A21), the end of one
                   (A22).
PV2-46             on a return from leave (A22), when the leave began: MedCom's SLOR carries the leave period with
                   start and end, and HL7 has no other field for it (``rules.LEAVE_START_FIELD``).
=================  ==========================================================================================

Timestamps need at least minutes (YYYYMMDDHHMM); without a UTC offset they are Danish local time
(Europe/Copenhagen). A message whose sender or municipality cannot be found (or whose organisations have no
known GLN), without a CPR number or without the patient's family name cannot be mapped: the result then carries
errors, each naming the segment and field (``PID-3: no CPR number ...``), and every error of the message is
reported at once.

What a stateless mapping cannot know is the MessageHeader.id of the earlier notification that a follow-up,
correction or cancellation refers to (MedCom's Provenance.entity with role revision or removal). It leaves
Provenance.entity out; receivers relate the notifications of one stay by the common episode-of-care id.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Final
from zoneinfo import ZoneInfo

from hub.domain import medcom
from hub.domain.hl7v2 import (
    DATA_TYPE_ERROR,
    REQUIRED_FIELD_MISSING,
    UNKNOWN_KEY_IDENTIFIER,
    UNSUPPORTED_EVENT_CODE,
    UNSUPPORTED_MESSAGE_TYPE,
)
from hub.domain.identifiers import cpr_problem, mask_cpr
from hub.domain.message import OrganisationRef
from hub.messages import builder, hospital_notification
from hub.messages.hospital_notification import StayEvent
from mappings.hl7v2 import addressing, rules
from mappings.hl7v2.addressing import Directory
from mappings.hl7v2.parse import Hl7ParseError, Message, Segment, parse_message

DANISH_TIME: Final = ZoneInfo("Europe/Copenhagen")
# PID-3.4 assigning authorities (and PID-3.5 identifier types) that mark a CPR number
CPR_NAMES: Final = frozenset({"CPR", "DK-CPR", "NNDNK", medcom.CPR_OID})
# ... and those that mark a replacement CPR number (erstatnings-CPR), which MedCom does not notify
REPLACEMENT_CPR_NAMES: Final = frozenset(
    {"ECPR", "X-ECPR", "ERSTATNINGS-CPR", "XCPR"}
    | {system.removeprefix("urn:oid:") for system in medcom.REPLACEMENT_CPR_SYSTEMS}
)
# PID-3.5 identifier types (HL7 table 0203) that name a person by another country's or authority's id: a patient
# named only by these has no CPR number (NN<country>: a national person identifier; NNDNK is the CPR number)
FOREIGN_ID_TYPES: Final = frozenset({"PPN", "NI", "SS", "PRC", "DL", "PEN", "EI"})
_FOREIGN_NATIONAL_ID = re.compile(r"^NN[A-Z]{3}$")
# Encounter.serviceProvider when it is a unit other than the sender: a MedCom core Organization with its SOR code
CORE_ORGANIZATION_PROFILE: Final = f"{medcom.CORE_PROFILES}medcom-core-organization"
# Name-based (v5) UUIDs: MessageHeader.id of a mapped message, and the episode-of-care id of a stay
MESSAGE_ID_NAMESPACE: Final = uuid.uuid5(uuid.NAMESPACE_URL, "https://sektor-hub.example/hl7v2/message")
EPISODE_ID_NAMESPACE: Final = uuid.uuid5(uuid.NAMESPACE_URL, "https://sektor-hub.example/hl7v2/episode-of-care")

_TIMESTAMP = re.compile(r"^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(?:(\d{2})(?:\.\d{1,4})?)?(?:([+-])(\d{2})(\d{2}))?$")
_DASHED_CPR = re.compile(r"^(\d{6})-(\d{4})$")


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a message cannot be mapped: where (``PID-3``), what, and the HL7 error condition code (table 0357,
    hub.domain.hl7v2)."""

    location: str | None
    text: str
    code: str = REQUIRED_FIELD_MISSING

    def __str__(self) -> str:
        return f"{self.location}: {self.text}" if self.location else self.text


@dataclass(frozen=True, slots=True)
class MappingResult:
    """The outcome of mapping one ADT message.

    Exactly one of: `bundle` (the MedCom message), `problems` (it cannot be mapped; `unsupported` when its
    message type or trigger is not mapped at all) or `skipped` (it is well-formed, but MedCom sends no
    notification for it, e.g. an outpatient visit or a transfer between departments; the reason).
    """

    control_id: str = ""  # MSH-10
    bundle: dict[str, Any] | None = None
    problems: tuple[Problem, ...] = ()
    unsupported: bool = False
    skipped: str | None = None
    trigger: str | None = None  # e.g. A01
    notification: str | None = None  # the MedCom name of the mapped message: STIN, RE_STIN, AN_STIN, ...
    sender_sor: str | None = None  # MSH-4
    receiver_sor: str | None = None  # the municipality of residence
    patient_cpr: str | None = None  # PID-3
    residence: str | None = None  # what named the municipality: PID-11.9, PID-12, patient register or MSH-6

    @property
    def errors(self) -> list[str]:
        """Each problem as ``SEGMENT-FIELD: what is wrong``."""
        return [str(problem) for problem in self.problems]

    @property
    def ok(self) -> bool:
        return self.bundle is not None

    @property
    def message_id(self) -> str | None:
        """MessageHeader.id of the mapped message."""
        if self.bundle is None:
            return None
        return str(self.bundle["entry"][0]["resource"]["id"])


def map_adt(
    message_text: str,
    *,
    now: datetime,
    new_id: builder.IdFactory = builder.random_id,
    directory: Directory | Callable[[str], OrganisationRef | None] | None = None,
) -> MappingResult:
    """Map one HL7 v2 ADT message to a MedCom HospitalNotification (see the module docstring).

    `now` is the message's send time (Bundle.timestamp, Provenance); `new_id` makes the ids of the Bundle and
    its resources; `directory` is what the hub's registers know (`addressing.Directory`: organisations, HL7
    facility codes, municipalities, the patient register), or a lookup of organisations by SOR code alone.
    """
    try:
        message = parse_message(message_text)
    except Hl7ParseError as exc:
        return MappingResult(problems=(Problem(None, str(exc), DATA_TYPE_ERROR),))
    if directory is None:
        directory = addressing.SorDirectory(lambda _: None)
    elif not isinstance(directory, Directory):
        directory = addressing.SorDirectory(directory)
    return _map(message, now=now, new_id=new_id, directory=directory)


def _map(message: Message, *, now: datetime, new_id: builder.IdFactory, directory: Directory) -> MappingResult:
    problems: list[Problem] = []
    control_id = message.control_id
    if not control_id:
        problems.append(Problem("MSH-10", "no message control id; the acknowledgement names the message by it"))
    kind, trigger = message.message_type
    if kind != "ADT":
        problem = Problem(
            "MSH-9",
            f"message type {kind or '(none)'} is not supported; this interface takes ADT",
            UNSUPPORTED_MESSAGE_TYPE,
        )
        return MappingResult(control_id, problems=(problem,), unsupported=True, trigger=trigger or None)
    rule = rules.TRIGGERS.get(trigger)
    if rule is None and trigger in rules.NOT_NOTIFIED:
        return MappingResult(
            control_id,
            trigger=trigger,
            skipped=f"ADT^{trigger} ({rules.NOT_NOTIFIED[trigger]}): MedCom sends no HospitalNotification for it",
        )
    if rule is None:
        problem = Problem(
            "MSH-9",
            f"ADT^{trigger or '(no trigger)'} is not mapped to a MedCom HospitalNotification;"
            f" mapped triggers: {', '.join(rules.SUPPORTED_TRIGGERS)}",
            UNSUPPORTED_EVENT_CODE,
        )
        return MappingResult(control_id, problems=(problem,), unsupported=True, trigger=trigger or None)

    found = addressing.sending_facility(message.msh, directory)
    facility: addressing.Facility | None = None
    if isinstance(found, addressing.Finding):
        problems.append(_problem(found))
    else:
        facility = found
    sender_sor = facility.organisation.sor if facility is not None else None
    pid = message.segment("PID")
    pv1 = message.segment("PV1")
    cpr: str | None = None
    no_cpr: str | None = None
    if pid is None:
        problems.append(Problem("PID", "no PID segment; the patient is identified by the CPR number in PID-3"))
    else:
        cpr, no_cpr = _cpr(pid, problems)
    known = MappingResult(control_id, trigger=trigger, sender_sor=sender_sor, patient_cpr=cpr)
    if pv1 is None:
        problems.append(Problem("PV1", "no PV1 segment; the stay (patient class, visit number, times) is read from it"))
        return replace(known, problems=tuple(problems))

    patient_class = pv1.value(2).upper()
    conditions = _conditions(pid, pv1)
    case = next(case for case in rule.cases if conditions[case.when])
    if isinstance(case.then, str):
        return replace(known, skipped=f"ADT^{trigger} ({rule.meaning}): {case.then}")
    notification = case.then
    if not patient_class:
        problems.append(Problem("PV1-2", "no patient class; expected I (inpatient) or E (emergency)"))
        return replace(known, problems=tuple(problems))
    encounter_class = rules.PATIENT_CLASSES.get(patient_class)
    if encounter_class is None or encounter_class not in notification.names:
        meaning = rules.PATIENT_CLASS_NAMES.get(patient_class, "a class HL7 does not define")
        notified = ", ".join(k for k, v in rules.PATIENT_CLASSES.items() if v in notification.names)
        return replace(
            known,
            skipped=f"ADT^{trigger} ({rule.meaning}) for patient class {patient_class} ({meaning}) is not notified;"
            f" MedCom notifies it for patient class {notified}",
        )
    if no_cpr is not None:
        return replace(known, skipped=f"ADT^{trigger} ({rule.meaning}): {no_cpr}")

    receiver: OrganisationRef | None = None
    residence_basis: str | None = None
    if cpr is not None:
        residence = addressing.municipality_of_residence(message, pid, cpr, directory)
        if isinstance(residence, addressing.Abroad):
            return replace(known, skipped=f"ADT^{trigger} ({rule.meaning}): {residence.reason}")
        if isinstance(residence, addressing.Finding):
            problems.append(_problem(residence))
        else:
            receiver = _with_gln(residence.municipality, residence.basis, "the municipality", directory, problems)
            residence_basis = residence.basis
    known = replace(known, receiver_sor=receiver.sor if receiver is not None else None, residence=residence_basis)

    visit = pv1.value(19) or (pid.value(18) if pid is not None else "")
    if not visit:
        problems.append(
            Problem("PV1-19", "no visit number (nor an account number in PID-18); it identifies the hospital stay")
        )
    admitted = _timestamp(pv1, 44, "admit date/time", problems, required=True)
    ended: datetime | None = None
    if notification.ended:
        ended = _end_of_stay(pid, pv1, notification, problems)
    if admitted is not None and ended is not None and ended < admitted:
        problems.append(
            Problem("PV1-45", f"the stay ends ({ended:%Y-%m-%d %H:%M}) before it began (PV1-44)", DATA_TYPE_ERROR)
        )
    leave = _leave(message, notification, admitted, problems)
    name = _name(pid, problems) if pid is not None else None
    sender = (
        _with_gln(facility.organisation, "MSH-4", "the sending facility", directory, problems)
        if facility is not None
        else None
    )
    if problems or not (sender_sor and facility and sender and receiver and cpr and admitted and name):
        return replace(known, problems=tuple(problems))

    bundle = _build(
        notification,
        encounter_class=encounter_class,
        sender=sender,
        receiver=receiver,
        cpr=cpr,
        name=name,
        episode_id=str(uuid.uuid5(EPISODE_ID_NAMESPACE, f"{sender_sor}|{visit}")),
        message_id=_message_id(message, sender_sor=sender_sor, trigger=trigger, cpr=cpr, visit=visit),
        period=(admitted, ended),
        leave=leave,
        now=now,
        new_id=new_id,
    )
    unit = addressing.service_provider(pv1, facility, directory)
    if unit.sor != sender.sor:
        bundle = _with_service_provider(bundle, unit, resource_id=new_id())
    return replace(known, bundle=bundle, notification=notification.names[encounter_class])


def _build(
    notification: rules.Notification,
    *,
    encounter_class: str,
    sender: OrganisationRef,
    receiver: OrganisationRef,
    cpr: str,
    name: tuple[list[str], str],
    episode_id: str,
    message_id: str,
    period: tuple[datetime, datetime | None],
    leave: tuple[datetime, datetime | None] | None,
    now: datetime,
    new_id: builder.IdFactory,
) -> dict[str, Any]:
    stay = StayEvent(
        classes=(encounter_class,),
        status=notification.status,
        activity=notification.activity,
        ended=notification.ended,
        leave="start" if notification.leave_start else "end" if notification.leave_end else None,
        deceased=bool(notification.deceased),
    )
    hospital = builder.organization(sender, resource_id=new_id())
    municipality = builder.organization(receiver, resource_id=new_id())
    given, family = name
    patient = builder.patient(cpr, resource_id=new_id(), family=family, given=given, deceased=notification.deceased)
    encounter = hospital_notification.encounter(
        resource_id=new_id(),
        stay=stay,
        encounter_class=encounter_class,
        patient=patient,
        hospital=hospital,
        episode_id=episode_id,
        period=period,
        leave=leave,
    )
    return hospital_notification.build_hospital_notification(
        new_id=new_id,
        now=now,
        stay=stay,
        encounter_class=encounter_class,
        hospital=hospital,
        municipality=municipality,
        patient=patient,
        encounter=encounter,
        report_of_admission=True if notification.report_of_admission else None,
        # the admission report goes to the sending hospital unit
        report_recipient=hospital if notification.report_of_admission else None,
        message_id=message_id,
    )


# --- reading the ADT message -------------------------------------------------------------------------------


def _cpr(pid: Segment, problems: list[Problem]) -> tuple[str | None, str | None]:
    """(the CPR number, None), or (None, why the patient has none) when PID-3 names the patient only by a
    replacement CPR number or a foreign id (passport, another country's national id, ...): MedCom notifies only
    citizens with a CPR number. A hospital's own ids alone (record numbers) are an error: the CPR is missing."""
    marked: list[str] = []
    bare: list[str] = []
    others: list[str] = []
    for repetition in pid.repetitions(3):
        value = repetition[0][0].strip() if repetition and repetition[0] else ""
        if not value:
            continue
        dashed = _DASHED_CPR.match(value)
        if dashed:
            value = dashed.group(1) + dashed.group(2)
        authority = repetition[3] if len(repetition) > 3 else []
        type_code = repetition[4][0].strip().upper() if len(repetition) > 4 and repetition[4] else ""
        names = {part.strip().upper() for part in authority if part.strip()} | ({type_code} if type_code else set())
        if names & CPR_NAMES:
            marked.append(value)
        elif not names and len(value) == 10 and value.isdigit():
            bare.append(value)
        elif names & REPLACEMENT_CPR_NAMES or type_code in FOREIGN_ID_TYPES or _FOREIGN_NATIONAL_ID.match(type_code):
            others.append(_kind_of_id(names, type_code))
        # else a hospital's own id (a record number, PID-3.5 MR, PI, ...): it says nothing about a CPR number
    candidates = marked or bare
    if not candidates:
        if others:
            kinds = ", ".join(sorted(set(others)))
            return None, (
                f"the patient has no Danish CPR number (PID-3 carries {kinds}); MedCom sends HospitalNotifications"
                " only for citizens with a CPR number and a home address in Denmark (HospitalNotification clinical"
                " guidelines, section 5; rule medcom-hospitalNotification-4: Patient.identifier is a CPR number)"
            )
        problems.append(
            Problem(
                "PID-3",
                "no CPR number; expected an identifier with assigning authority CPR (PID-3.4) or identifier type"
                " CPR (PID-3.5), or a 10-digit id",
            )
        )
        return None, None
    cpr = candidates[0]
    problem = cpr_problem(cpr)
    if problem:
        problems.append(
            Problem("PID-3", f"the CPR number {mask_cpr(cpr)} is not well-formed: {problem}", DATA_TYPE_ERROR)
        )
        return None, None
    return cpr, None


def _kind_of_id(names: set[str], type_code: str) -> str:
    """What an identifier without a CPR number is, for the acknowledgement (never its value)."""
    if names & REPLACEMENT_CPR_NAMES:
        return "a replacement CPR number"
    return f"an identifier of type {type_code[:10]}"


def _name(pid: Segment, problems: list[Problem]) -> tuple[list[str], str] | None:
    """(given names, family name) from the first PID-5 repetition; MedCom's Patient needs the family name."""
    family = pid.value(5, 1).strip()
    given = [part for part in (pid.value(5, 2).strip(), pid.value(5, 3).strip()) if part]
    if not family:
        missing = "no family name in PID-5.1" if given else "no patient name"
        problems.append(
            Problem(
                "PID-5",
                f"{missing}; a MedCom HospitalNotification names the patient by an official name with a family"
                " name (medcom-core-patient)",
            )
        )
        return None
    return given, family


def _conditions(pid: Segment | None, pv1: Segment) -> dict[rules.Condition, bool]:
    disposition = pv1.value(36).upper()
    death_indicator = pid.value(30).upper() if pid is not None else ""
    facility, prior_facility = pv1.value(3, 4), pv1.value(6, 4)
    return {
        rules.Condition.DECEASED: death_indicator in rules.DEATH_INDICATORS or disposition in rules.DEATH_DISPOSITIONS,
        rules.Condition.TRANSFERRED: disposition in rules.TRANSFER_DISPOSITIONS,
        rules.Condition.DISCHARGED: bool(pv1.value(45)),
        rules.Condition.OTHER_HOSPITAL: bool(facility and prior_facility and facility != prior_facility),
        rules.Condition.ALWAYS: True,
    }


def parse_timestamp(value: str) -> datetime:
    """An HL7 DTM with at least minutes (YYYYMMDDHHMM[SS[.S]][+/-ZZZZ]); Danish local time without an offset."""
    match = _TIMESTAMP.match(value.strip())
    if not match:
        raise ValueError(f"{value[:40]!r} is not a date and time YYYYMMDDHHMM[SS][+ZZZZ]")
    year, month, day, hour, minute, second, sign, off_h, off_m = match.groups()
    zone: timezone | ZoneInfo = DANISH_TIME
    if sign:
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        zone = timezone(-offset if sign == "-" else offset)
    try:
        return datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0), tzinfo=zone)
    except ValueError as exc:
        raise ValueError(f"{value[:40]!r} is not a valid date and time: {exc}") from exc


def _timestamp(
    segment: Segment, number: int, meaning: str, problems: list[Problem], *, required: bool
) -> datetime | None:
    value = segment.value(number)
    location = f"{segment.name}-{number}"
    if not value:
        if required:
            problems.append(Problem(location, f"no {meaning}"))
        return None
    try:
        return parse_timestamp(value)
    except ValueError as exc:
        problems.append(Problem(location, f"{meaning}: {exc}", DATA_TYPE_ERROR))
        return None


def _end_of_stay(
    pid: Segment | None, pv1: Segment, notification: rules.Notification, problems: list[Problem]
) -> datetime | None:
    if pv1.value(45) or not notification.deceased or pid is None or not pid.value(29):
        return _timestamp(pv1, 45, "discharge date/time: when the stay ended", problems, required=True)
    return _timestamp(pid, 29, "death date/time", problems, required=True)


def _event_time(message: Message, problems: list[Problem]) -> datetime | None:
    evn = message.segment("EVN")
    for segment, number in ((evn, 6), (evn, 2), (message.msh, 7)):
        if segment is not None and segment.value(number):
            return _timestamp(segment, number, "event date/time", problems, required=True)
    problems.append(Problem("EVN-6", "no event date/time (nor EVN-2 or MSH-7): when the leave began"))
    return None


def _message_id(message: Message, *, sender_sor: str, trigger: str, cpr: str, visit: str) -> str:
    """MessageHeader.id: the same for a message sent again, new for any other (see the module docstring)."""
    parts = (sender_sor, message.msh.value(3), message.control_id, trigger, cpr, visit, message.get("EVN-2"))
    return str(uuid.uuid5(MESSAGE_ID_NAMESPACE, "|".join(parts)))


def _with_gln(
    found: OrganisationRef, location: str, role: str, directory: Directory, problems: list[Problem]
) -> OrganisationRef | None:
    """The organisation as the register knows it; a MedCom Organization needs its GLN too."""
    known = (directory.organisation(found.sor) if found.sor else None) or found
    if not known.gln:
        problems.append(
            Problem(
                location if "-" in location else "PID-3",
                f"no GLN is known for {role} {found.sor} (found by {location}); a MedCom Organization is identified"
                " by its SOR code and its GLN (medcom-messaging-organization), so the hub's register must hold the GLN",
                UNKNOWN_KEY_IDENTIFIER,
            )
        )
        return None
    return known


def _problem(finding: addressing.Finding) -> Problem:
    return Problem(finding.location, finding.text, finding.code)


def _leave(
    message: Message, notification: rules.Notification, admitted: datetime | None, problems: list[Problem]
) -> tuple[datetime, datetime | None] | None:
    """The leave period: from the event time on leave (A21); from PV2-46 to the event time on return (A22)."""
    if not (notification.leave_start or notification.leave_end):
        return None
    at = _event_time(message, problems)
    if at is None:
        return None
    if notification.leave_start:
        return at, None
    segment_name, number = rules.LEAVE_START_FIELD
    segment = message.segment(segment_name)
    location = f"{segment_name}-{number}"
    if segment is None or not segment.value(number):
        problems.append(
            Problem(
                location,
                "no start of the leave this return ends; MedCom's end of leave (SLOR) carries the leave period with"
                f" its start and end (HospitalNotification Encounter profile, leavePeriod): send it in {location}",
            )
        )
        return None
    started = _timestamp(segment, number, "start of the leave", problems, required=True)
    if started is None:
        return None
    if at < started:
        problems.append(
            Problem("EVN-6", f"the leave ends ({at:%Y-%m-%d %H:%M}) before it began ({location})", DATA_TYPE_ERROR)
        )
        return None
    if admitted is not None and started < admitted:
        problems.append(
            Problem(location, f"the leave began ({started:%Y-%m-%d %H:%M}) before the stay (PV1-44)", DATA_TYPE_ERROR)
        )
        return None
    return started, at


def _with_service_provider(bundle: dict[str, Any], unit: OrganisationRef, *, resource_id: str) -> dict[str, Any]:
    """The Bundle with the Encounter's serviceProvider a unit of its own: a MedCom core Organization entry (as in
    MedCom's example m908i967, where the sender is a higher-level unit than the serviceProvider)."""
    organization: dict[str, Any] = {
        "resourceType": "Organization",
        "id": resource_id,
        "meta": {"profile": [CORE_ORGANIZATION_PROFILE]},
        "identifier": [{"system": medcom.SOR_SYSTEM, "value": unit.sor}],
    }
    if unit.name:
        organization["name"] = unit.name
    entries = list(bundle["entry"])
    at = next(i for i, entry in enumerate(entries) if entry["resource"]["resourceType"] == "Encounter")
    encounter = dict(entries[at]["resource"]) | {"serviceProvider": builder.reference(organization)}
    entries[at] = {**entries[at], "resource": encounter}
    entries.insert(at + 1, {"fullUrl": builder.full_url(organization), "resource": organization})
    return bundle | {"entry": entries}

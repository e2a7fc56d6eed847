"""HL7 v2 ADT -> MedCom HospitalNotification message (HospitalNotification 3.0, FHIR R4).

`map_adt(text, now=..., new_id=...)` is a pure function: the same message, clock and id factory give the same
Bundle. Which ADT event becomes which notification is data, in :mod:`mappings.hl7v2.rules`; the message is
built with the hub's own builders (`hub.messages.builder`, `hub.messages.hospital_notification`).

The contract with the sending hospital: what an ADT message must carry
------------------------------------------------------------------------

=================  ==========================================================================================
MSH-4.1            sending facility: the SOR code of the hospital (unit) that sends the notification. It is
                   the MedCom sender, and the MLLP connector accepts only organisations the register knows.
MSH-6.1            receiving facility: the SOR code of the citizen's municipality, the primary receiver.
                   A MedCom Organization carries both its SOR code and its GLN (medcom-messaging-organization):
                   the `directory` (the hub's register) must know the GLN of both organisations.
MSH-9              ADT^<trigger> (EVN-1 when MSH-9.2 is empty). Triggers: see `rules.TRIGGERS`.
MSH-10             message control id. MessageHeader.id is a UUID v5 of it, MSH-3, MSH-4, the trigger, the
                   CPR number, the visit number and EVN-2: a message the sender sends again is the same MedCom
                   message, which the hub recognises as a resend, while a control id that a sender's counter
                   hands out a second time still makes a new message.
PID-3              the patient's CPR number: the repetition whose assigning authority (PID-3.4) is ``CPR`` or
                   the CPR OID 1.2.208.176.1.2, or whose identifier type (PID-3.5) is ``CPR``; without one, a
                   10-digit id that names no other assigning authority. ``DDMMYY-SSSS`` is accepted.
PID-5              the patient's name: family^given^middle. Required, with the family name: MedCom's Patient
                   (medcom-core-patient) has an official name with a family name.
PID-29, PID-30     death date/time and death indicator (``Y``: the notification is MORS).
PV1-2              patient class: ``I`` inpatient (Encounter.class IMP) or ``E`` emergency, i.e. acute
                   ambulant (EMER). Other classes are not notified (the message is acknowledged, nothing sent).
PV1-3.4, PV1-6.4   facility of the current and the prior location: an A02 between two facilities is a new
                   start of stay at the receiving hospital, an A02 within one is not notified.
PV1-19             visit number (else PID-18, the account number): it identifies the stay. The Encounter's
                   episode-of-care identifier is a UUID v5 of it and the sender's SOR code, so every
                   notification of one stay carries the same one.
PV1-36             discharge disposition: a death code makes an A03 a MORS, a transfer code means no SLHJ
                   (see `rules.DEATH_DISPOSITIONS` and `rules.TRANSFER_DISPOSITIONS`).
PV1-44             admit date/time: Encounter.period.start. Required.
PV1-45             discharge date/time: Encounter.period.end of a discharge (else PID-29 for a death).
EVN-6              when a leave of absence started (A21); else EVN-2, else MSH-7.
=================  ==========================================================================================

Timestamps need at least minutes (YYYYMMDDHHMM); without a UTC offset they are Danish local time
(Europe/Copenhagen). A message without the two SOR codes (or whose organisations have no known GLN), without a
CPR number or without the patient's family name cannot be mapped: the result then carries errors, each naming
the segment and field (``PID-3: no CPR number ...``), and every error of the message is reported at once.

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
from hub.domain.identifiers import cpr_problem, mask_cpr, sor_problem
from hub.domain.message import OrganisationRef
from hub.messages import builder, hospital_notification
from hub.messages.hospital_notification import StayEvent
from mappings.hl7v2 import rules
from mappings.hl7v2.parse import Hl7ParseError, Message, Segment, parse_message

DANISH_TIME: Final = ZoneInfo("Europe/Copenhagen")
# PID-3.4 assigning authorities (and PID-3.5 identifier types) that mark a CPR number
CPR_NAMES: Final = frozenset({"CPR", "DK-CPR", medcom.CPR_OID})
# Name-based (v5) UUIDs: MessageHeader.id of a mapped message, and the episode-of-care id of a stay
MESSAGE_ID_NAMESPACE: Final = uuid.uuid5(uuid.NAMESPACE_URL, "https://sektor-hub.example/hl7v2/message")
EPISODE_ID_NAMESPACE: Final = uuid.uuid5(uuid.NAMESPACE_URL, "https://sektor-hub.example/hl7v2/episode-of-care")

_TIMESTAMP = re.compile(r"^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(?:(\d{2})(?:\.\d{1,4})?)?(?:([+-])(\d{2})(\d{2}))?$")
_DASHED_CPR = re.compile(r"^(\d{6})-(\d{4})$")

Directory = Callable[[str], OrganisationRef | None]


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
    receiver_sor: str | None = None  # MSH-6
    patient_cpr: str | None = None  # PID-3

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
    directory: Directory | None = None,
) -> MappingResult:
    """Map one HL7 v2 ADT message to a MedCom HospitalNotification (see the module docstring).

    `now` is the message's send time (Bundle.timestamp, Provenance); `new_id` makes the ids of the Bundle and
    its resources; `directory` may name the organisations (name, GLN) by SOR code.
    """
    try:
        message = parse_message(message_text)
    except Hl7ParseError as exc:
        return MappingResult(problems=(Problem(None, str(exc), DATA_TYPE_ERROR),))
    return _map(message, now=now, new_id=new_id, directory=directory)


def _map(message: Message, *, now: datetime, new_id: builder.IdFactory, directory: Directory | None) -> MappingResult:
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
    if rule is None:
        problem = Problem(
            "MSH-9",
            f"ADT^{trigger or '(no trigger)'} is not mapped to a MedCom HospitalNotification;"
            f" mapped triggers: {', '.join(rules.SUPPORTED_TRIGGERS)}",
            UNSUPPORTED_EVENT_CODE,
        )
        return MappingResult(control_id, problems=(problem,), unsupported=True, trigger=trigger or None)

    sender_sor = _sor(message.msh, 4, "sending facility", "the sending hospital", problems)
    receiver_sor = _sor(message.msh, 6, "receiving facility", "the citizen's municipality", problems)
    pid = message.segment("PID")
    pv1 = message.segment("PV1")
    cpr: str | None = None
    if pid is None:
        problems.append(Problem("PID", "no PID segment; the patient is identified by the CPR number in PID-3"))
    else:
        cpr = _cpr(pid, problems)
    known = MappingResult(
        control_id, trigger=trigger, sender_sor=sender_sor, receiver_sor=receiver_sor, patient_cpr=cpr
    )
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
    leave: tuple[datetime, datetime | None] | None = None
    if notification.leave_start:
        started = _event_time(message, problems)
        leave = (started, None) if started is not None else None
    name = _name(pid, problems) if pid is not None else None
    sender = _organisation(sender_sor, 4, "sending facility", directory, problems) if sender_sor else None
    receiver = _organisation(receiver_sor, 6, "receiving facility", directory, problems) if receiver_sor else None
    if problems or not (sender_sor and sender and receiver and cpr and admitted and name):
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
        leave="start" if notification.leave_start else None,
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


def _sor(msh: Segment, number: int, field_name: str, role: str, problems: list[Problem]) -> str | None:
    value = msh.value(number)
    if not value:
        problems.append(Problem(f"MSH-{number}", f"no {field_name}; expected the SOR code of {role} in MSH-{number}.1"))
        return None
    problem = sor_problem(value)
    if problem:
        problems.append(
            Problem(
                f"MSH-{number}", f"{field_name} {value[:40]!r} is not a SOR code of {role}: {problem}", DATA_TYPE_ERROR
            )
        )
        return None
    return value


def _cpr(pid: Segment, problems: list[Problem]) -> str | None:
    marked: list[str] = []
    bare: list[str] = []
    for repetition in pid.repetitions(3):
        value = repetition[0][0].strip() if repetition and repetition[0] else ""
        if not value:
            continue
        dashed = _DASHED_CPR.match(value)
        if dashed:
            value = dashed.group(1) + dashed.group(2)
        authority = repetition[3] if len(repetition) > 3 else []
        type_code = repetition[4][0].strip().upper() if len(repetition) > 4 else ""
        names = {part.strip().upper() for part in authority if part.strip()} | ({type_code} if type_code else set())
        if names & CPR_NAMES:
            marked.append(value)
        elif not names and len(value) == 10 and value.isdigit():
            bare.append(value)
    candidates = marked or bare
    if not candidates:
        problems.append(
            Problem(
                "PID-3",
                "no CPR number; expected an identifier with assigning authority CPR (PID-3.4) or identifier type"
                " CPR (PID-3.5), or a 10-digit id",
            )
        )
        return None
    cpr = candidates[0]
    problem = cpr_problem(cpr)
    if problem:
        problems.append(
            Problem("PID-3", f"the CPR number {mask_cpr(cpr)} is not well-formed: {problem}", DATA_TYPE_ERROR)
        )
        return None
    return cpr


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


def _organisation(
    sor: str, number: int, field_name: str, directory: Directory | None, problems: list[Problem]
) -> OrganisationRef | None:
    """The organisation of a SOR code as the directory knows it; a MedCom Organization needs its GLN too."""
    known = directory(sor) if directory is not None else None
    if known is None or known.sor != sor or not known.gln:
        problems.append(
            Problem(
                f"MSH-{number}",
                f"no GLN is known for the {field_name} {sor}; a MedCom Organization is identified by its SOR code"
                " and its GLN (medcom-messaging-organization), so the hub's register must hold the GLN",
                UNKNOWN_KEY_IDENTIFIER,
            )
        )
        return None
    return known

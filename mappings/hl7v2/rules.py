"""The ADT -> MedCom HospitalNotification mapping, as data.

`TRIGGERS` says, for each ADT trigger event, which MedCom notification it becomes. A trigger has cases; the
first case whose condition holds decides: either a `Notification` (Encounter.status, Provenance activity,
which Encounter classes it applies to and the MedCom name it has for each) or the reason no notification is
sent. The mapping code (`adt_to_notification`) evaluates conditions and builds the message; it holds no
event-specific branches, so a change to what an ADT event means is a change to this table.

Sources (in ../shared/medcom):
- activity codes: terminology 1.4.0, CodeSystem medcom-messaging-activityCodes (admit-*, start-leave-*,
  end-leave-*, discharge-*-home, and their revise-* and cancel-* forms);
- Encounter status per event, correction (RE_) and cancellation (AN_): the examples RE_STIN (bfab3e80) and
  AN_STIN (c83671a4), and MedCom's HospitalNotification TouchStone scripts (TestSendUseCase-update/-cancel):
  AN_STIN/AN_STAA entered-in-error; AN_SLHJ in-progress; AN_STOR in-progress; a correction keeps the state
  it corrects; MORS keeps the activity of the stay and sets Patient.deceased;
- when a notification is sent at all: HospitalNotification clinical guidelines, table 1 and business rules
  2, 3, 4, 5 and 8 (no notification for a transfer between departments of one hospital; none from the
  hospital a patient is transferred from; the receiving hospital sends a new start of stay).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Final

# PV1-2 patient class (HL7 table 0004) -> Encounter.class (v3 ActCode). Only these stays are notified.
PATIENT_CLASSES: Final[Mapping[str, str]] = {"I": "IMP", "E": "EMER"}
PATIENT_CLASS_NAMES: Final[Mapping[str, str]] = {
    "I": "inpatient",
    "E": "emergency",
    "O": "outpatient",
    "P": "preadmit",
    "R": "recurring patient",
    "B": "obstetrics",
    "C": "commercial account",
    "N": "not applicable",
    "U": "unknown",
}

# PV1-36 discharge disposition (HL7 user-defined table 0112; the values are the usual UB-04 codes, and a
# site may add its own). Death: the notification is MORS. Transfer to another hospital, or hospice
# (business rules 8 and 9): the discharging hospital sends nothing.
DEATH_DISPOSITIONS: Final = frozenset({"20", "40", "41", "42"})
TRANSFER_DISPOSITIONS: Final = frozenset({"02", "05", "43", "50", "51", "61", "62", "63", "65", "66"})
# PID-30 patient death indicator
DEATH_INDICATORS: Final = frozenset({"Y"})


class Condition(StrEnum):
    DECEASED = "deceased"  # PID-30 is Y, or PV1-36 is a death disposition
    TRANSFERRED = "transferred"  # PV1-36 is a transfer disposition
    DISCHARGED = "discharged"  # PV1-45 (discharge date/time) is set
    OTHER_HOSPITAL = "other-hospital"  # PV1-6.4 (prior facility) is set and differs from PV1-3.4
    ALWAYS = "always"


@dataclass(frozen=True, slots=True)
class Notification:
    """One kind of HospitalNotification: what its Encounter, Provenance and Patient say."""

    names: Mapping[str, str]  # Encounter.class -> MedCom name; the classes it applies to
    status: str  # Encounter.status
    activity: str  # Provenance activity; {stay} is inpatient (IMP) or emergency (EMER)
    ended: bool = False  # Encounter.period.end: the discharge (PV1-45) or death time
    leave_start: bool = False  # the leave-period extension, starting at the event time (EVN-6)
    # the leave-period extension with start (LEAVE_START_FIELD) and end (the event time, EVN-6): a return
    leave_end: bool = False
    deceased: bool | None = None  # Patient.deceasedBoolean
    report_of_admission: bool = False  # asks the municipality for an admission report (XDIS16)


@dataclass(frozen=True, slots=True)
class Case:
    when: Condition
    then: Notification | str  # the notification, or why none is sent


@dataclass(frozen=True, slots=True)
class Trigger:
    meaning: str
    cases: tuple[Case, ...]


def _named(prefix: str = "", *, imp: str, emer: str | None = None) -> Mapping[str, str]:
    names = {"IMP": f"{prefix}{imp}"}
    if emer is not None:
        names["EMER"] = f"{prefix}{emer}"
    return names


START: Final = Notification(_named(imp="STIN", emer="STAA"), "in-progress", "admit-{stay}", report_of_admission=True)
# after a transfer between hospitals the receiving hospital starts the stay; it usually shares the region
# with the sending one, where MedCom asks for no admission report (clinical guidelines, table 1)
START_AFTER_TRANSFER: Final = replace(START, report_of_admission=False)
DEAD_ON_ARRIVAL: Final = Notification(_named(imp="MORS", emer="MORS"), "in-progress", "admit-{stay}", deceased=True)
DISCHARGE: Final = Notification(_named(imp="SLHJ", emer="SLHJ"), "finished", "discharge-{stay}-home", ended=True)
DEATH: Final = Notification(_named(imp="MORS", emer="MORS"), "finished", "admit-{stay}", ended=True, deceased=True)
LEAVE_START: Final = Notification(_named(imp="STOR"), "onleave", "start-leave-inpatient", leave_start=True)
LEAVE_END: Final = Notification(_named(imp="SLOR"), "in-progress", "end-leave-inpatient", leave_end=True)
# Where a return from leave (A22) says when the leave began: HL7 has no field for it, and MedCom's SLOR carries the
# leave period with start and end (HospitalNotification IG, Encounter profile, "Leave"). PV2-46 (patient status
# effective date) is the date the status "on leave" took effect; a stateless mapping cannot remember the A21.
LEAVE_START_FIELD: Final = ("PV2", 46)

REVISE_START: Final = Notification(_named("RE_", imp="STIN", emer="STAA"), "in-progress", "revise-admit-{stay}")
REVISE_DISCHARGE: Final = Notification(
    _named("RE_", imp="SLHJ", emer="SLHJ"), "finished", "revise-discharge-{stay}-home", ended=True
)
REVISE_DEATH: Final = replace(DEATH, names=_named("RE_", imp="MORS", emer="MORS"))

CANCEL_ADMIT: Final = Notification(_named("AN_", imp="STIN", emer="STAA"), "entered-in-error", "cancel-admit-{stay}")
CANCEL_DISCHARGE: Final = Notification(
    _named("AN_", imp="SLHJ", emer="SLHJ"), "in-progress", "cancel-discharge-{stay}-home"
)
CANCEL_LEAVE_START: Final = Notification(_named("AN_", imp="STOR"), "in-progress", "cancel-start-leave-inpatient")

TRIGGERS: Final[Mapping[str, Trigger]] = {
    "A01": Trigger(
        "admit/visit notification",
        (Case(Condition.DECEASED, DEAD_ON_ARRIVAL), Case(Condition.ALWAYS, START)),
    ),
    "A04": Trigger(
        "register a patient (emergency registration)",
        (Case(Condition.DECEASED, DEAD_ON_ARRIVAL), Case(Condition.ALWAYS, START)),
    ),
    # business rules 3 and 4: a changed kind of stay is a new start of stay, with no end of the old one
    "A06": Trigger("change an outpatient to an inpatient", (Case(Condition.ALWAYS, START),)),
    "A07": Trigger("change an inpatient to an outpatient", (Case(Condition.ALWAYS, START),)),
    "A02": Trigger(
        "transfer a patient",
        (
            Case(Condition.OTHER_HOSPITAL, START_AFTER_TRANSFER),
            Case(
                Condition.ALWAYS,
                "a transfer within one hospital (PV1-6.4 names no other facility than PV1-3.4) is not notified"
                " (MedCom HospitalNotification clinical guidelines, table 1)",
            ),
        ),
    ),
    "A03": Trigger(
        "discharge/end visit",
        (
            Case(Condition.DECEASED, DEATH),
            Case(
                Condition.TRANSFERRED,
                "a discharge to another hospital or hospice (PV1-36) is not notified by the discharging hospital;"
                " the receiving one sends a start of stay (MedCom business rules 2, 8 and 9)",
            ),
            Case(Condition.ALWAYS, DISCHARGE),
        ),
    ),
    # A08 corrects the notification of the stay's current state: the discharge when PV1-45 is set, else the
    # start of stay (a leave cannot be told from an A08)
    "A08": Trigger(
        "update patient information",
        (
            Case(Condition.DECEASED, REVISE_DEATH),
            Case(Condition.DISCHARGED, REVISE_DISCHARGE),
            Case(Condition.ALWAYS, REVISE_START),
        ),
    ),
    "A11": Trigger("cancel admit/visit notification", (Case(Condition.ALWAYS, CANCEL_ADMIT),)),
    "A13": Trigger("cancel discharge/end visit", (Case(Condition.ALWAYS, CANCEL_DISCHARGE),)),
    "A21": Trigger("patient goes on a leave of absence", (Case(Condition.ALWAYS, LEAVE_START),)),
    "A22": Trigger("patient returns from a leave of absence", (Case(Condition.ALWAYS, LEAVE_END),)),
    "A52": Trigger("cancel leave of absence", (Case(Condition.ALWAYS, CANCEL_LEAVE_START),)),
}

SUPPORTED_TRIGGERS: Final = tuple(sorted(TRIGGERS))

# ADT events HL7 defines that MedCom sends no notification for: the message is acknowledged (AA) and nothing is
# sent. Planned and pending events, because "HospitalNotifications shall only be triggered when the event occurs,
# i.e. at the patient's physical attendance" (HospitalNotification technical spec, section 4); events about the
# person or the record rather than the stay, because MedCom's table of events (clinical guidelines, table 1) has
# none for them. Any other trigger is refused (AR, HL7 table 0357 code 201): the hub cannot tell what it means.
NOT_NOTIFIED: Final[Mapping[str, str]] = {
    "A05": "pre-admit a patient: a planned stay is notified when the patient arrives",
    "A14": "pending admit: a planned stay is notified when the patient arrives",
    "A15": "pending transfer: notified when it happens",
    "A16": "pending discharge: notified when it happens",
    "A25": "cancel pending discharge: nothing was notified",
    "A26": "cancel pending transfer: nothing was notified",
    "A27": "cancel pending admit: nothing was notified",
    "A28": "add person information: not a hospital stay",
    "A31": "update person information: not a hospital stay",
    "A38": "cancel pre-admit: nothing was notified",
    "A40": "merge patient identifiers: not a change of the stay",
    "A47": "change patient identifier list: not a change of the stay",
    "A54": "change attending doctor: not among MedCom's events",
    "A60": "update allergy information: not among MedCom's events",
}

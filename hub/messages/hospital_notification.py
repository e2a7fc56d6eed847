"""MedCom HospitalNotification messages (HospitalNotification 3.0): a hospital tells the citizen's municipality
that a stay began, changed or ended.

The message is a MessageHeader (event hospital-notification-message) whose focus is an Encounter: its status,
class (IMP admitted, EMER acute ambulant), episode of care and period say what happened; the Provenance
activity names the event (admit-inpatient, discharge-emergency-home, ...). `StayEvent` is how one event shows in
those places, `HOSPITAL_NOTIFICATION_EVENTS` the MedCom events by their short names (STIN, SLHJ, ...).

Built by the HL7 v2 ADT mapping (mappings.hl7v2) and by the demo's simulated hospitals. Pure functions:
ids come from the caller, time from `now`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from hub.domain import medcom
from hub.messages import builder
from hub.messages.builder import IdFactory, Resource


@dataclass(frozen=True, slots=True)
class StayEvent:
    """How a HospitalNotification event shows in Encounter, Provenance and Patient (MedCom code overview)."""

    classes: tuple[str, ...]  # Encounter.class: IMP (admitted) and/or EMER (acute ambulant)
    status: str  # Encounter.status
    activity: str  # Provenance.activity; {stay} is inpatient or emergency after the class
    ended: bool = False  # Encounter.period.end is set
    leave: str | None = None  # "start" or "end": the leave-period extension
    deceased: bool = False  # Patient.deceasedBoolean (MORS keeps the activity of the stay)

    def activity_for(self, encounter_class: str) -> str:
        return self.activity.format(stay="inpatient" if encounter_class == "IMP" else "emergency")


HOSPITAL_NOTIFICATION_EVENTS: Final = {
    "STAA": StayEvent(("EMER",), "in-progress", "admit-{stay}"),
    "STIN": StayEvent(("IMP",), "in-progress", "admit-{stay}"),
    "STOR": StayEvent(("IMP",), "onleave", "start-leave-{stay}", leave="start"),
    "SLOR": StayEvent(("IMP",), "in-progress", "end-leave-{stay}", leave="end"),
    "SLHJ": StayEvent(("IMP", "EMER"), "finished", "discharge-{stay}-home", ended=True),
    "MORS": StayEvent(("IMP", "EMER"), "finished", "admit-{stay}", ended=True, deceased=True),
}


def _period(start: datetime, end: datetime | None) -> dict[str, str]:
    period = {"start": builder.fhir_datetime(start)}
    if end is not None:
        period["end"] = builder.fhir_datetime(end)
    return period


def encounter(
    *,
    resource_id: str,
    stay: StayEvent,
    encounter_class: str,
    patient: Resource,
    hospital: Resource,
    episode_id: str,
    period: tuple[datetime, datetime | None],
    leave: tuple[datetime, datetime | None] | None = None,
) -> Resource:
    """The HospitalNotification Encounter: status, class, episode of care, period, leave, service provider."""
    resource: Resource = {
        "resourceType": "Encounter",
        "id": resource_id,
        "meta": {"profile": [medcom.HOSPITAL_NOTIFICATION_ENCOUNTER_PROFILE]},
    }
    if leave is not None:
        resource["extension"] = [{"url": medcom.LEAVE_PERIOD_EXTENSION, "valuePeriod": _period(*leave)}]
    return resource | {
        "status": stay.status,
        "class": builder.coding(medcom.ENCOUNTER_CLASS_SYSTEM, encounter_class),
        "subject": builder.reference(patient),
        # the episode of care is named by an id the hospital assigned: its system is the hospital's SOR entry
        "episodeOfCare": [{"identifier": {"system": builder.sor_endpoint(hospital), "value": episode_id}}],
        "period": _period(*period),
        "serviceProvider": builder.reference(hospital),
    }


def report_of_admission_extension(flag: bool) -> dict[str, Any]:
    """The MessageHeader extension saying whether the municipality is asked for a report of admission."""
    return {"url": medcom.REPORT_OF_ADMISSION_EXTENSION, "valueBoolean": flag}


def report_of_admission_recipient_extension(unit: Resource) -> dict[str, Any]:
    """The MessageHeader extension naming the Organization (hospital unit) the report of admission goes to."""
    return {"url": medcom.REPORT_OF_ADMISSION_RECIPIENT_EXTENSION, "valueReference": builder.reference(unit)}


def build_hospital_notification(
    *,
    new_id: IdFactory,
    now: datetime,
    stay: StayEvent,
    encounter_class: str,
    hospital: Resource,
    municipality: Resource,
    patient: Resource,
    encounter: Resource,
    report_of_admission: bool | None = None,
    report_recipient: Resource | None = None,
    message_id: str | None = None,
) -> Resource:
    """A HospitalNotification from `hospital` to `municipality` (primary) about `patient`'s stay (`encounter`).

    `report_of_admission` (when not None) says whether the municipality is asked for a report of admission, and
    `report_recipient` names who gets it. `message_id` keeps a MessageHeader.id (a resend); by default it is new.
    """
    extensions: list[dict[str, Any]] = []
    if report_of_admission is not None:
        extensions.append(report_of_admission_extension(report_of_admission))
    if report_recipient is not None:
        extensions.append(report_of_admission_recipient_extension(report_recipient))
    return builder.message(
        new_id=new_id,
        now=now,
        bundle_profile=medcom.HOSPITAL_NOTIFICATION_MESSAGE_PROFILE,
        header_profile=medcom.HOSPITAL_NOTIFICATION_HEADER_PROFILE,
        event=medcom.HOSPITAL_NOTIFICATION_EVENT,
        activity=stay.activity_for(encounter_class),
        sender=hospital,
        receivers=[(municipality, "primary")],
        content=[patient, encounter],
        focus=encounter,
        header_extensions=extensions,
        message_id=message_id,
    )

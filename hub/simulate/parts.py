"""Pure builders for the resources only generated messages need: Encounter, Communication, its author.

The shared message parts (Organization, Patient, MessageHeader, Provenance, Bundle) are in
`hub.messages.builder`; these add the HospitalNotification and CareCommunication content around them.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from hub.messages import builder
from hub.messages.builder import Resource

HN: Final = "http://medcomfhir.dk/ig/hospitalnotification/StructureDefinition/"
CC: Final = "http://medcomfhir.dk/ig/carecommunication/StructureDefinition/"
CORE: Final = "http://medcomfhir.dk/ig/core/StructureDefinition/"
CARE_COMMUNICATION_DEFINITION: Final = (
    "http://medcomfhir.dk/ig/messagedefinitions/MessageDefinition/MedComCareCommunicationMessageDefinition|5.0"
)
CATEGORY_SYSTEM: Final = "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-careCommunication-categoryCodes"
ROLE_SYSTEM: Final = "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-core-PractitionerRolesSKSadministrativ"
ENCOUNTER_CLASS_SYSTEM: Final = "http://terminology.hl7.org/CodeSystem/v3-ActCode"


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
        "meta": {"profile": [f"{HN}medcom-hospitalNotification-encounter"]},
    }
    if leave is not None:
        resource["extension"] = [
            {"url": f"{HN}medcom-hospitalnotifiation-leave-period-extension", "valuePeriod": _period(*leave)}
        ]
    return resource | {
        "status": stay.status,
        "class": builder.coding(ENCOUNTER_CLASS_SYSTEM, encounter_class),
        "subject": builder.reference(patient),
        # the episode of care is named by an id the hospital assigned: its system is the hospital's SOR entry
        "episodeOfCare": [{"identifier": {"system": builder.sor_endpoint(hospital), "value": episode_id}}],
        "period": _period(*period),
        "serviceProvider": builder.reference(hospital),
    }


def report_of_admission(flag: bool) -> dict[str, Any]:
    """The MessageHeader extension saying whether the municipality is asked for a report of admission."""
    return {"url": f"{HN}medcom-messaging-reportOfAdmissionExtension", "valueBoolean": flag}


def practitioner(*, resource_id: str, family: str, given: str) -> Resource:
    return {
        "resourceType": "Practitioner",
        "id": resource_id,
        "meta": {"profile": [f"{CORE}medcom-core-practitioner"]},
        "name": [{"family": family, "given": [given]}],
    }


def practitioner_role(*, resource_id: str, practitioner: Resource, role: str) -> Resource:
    return {
        "resourceType": "PractitionerRole",
        "id": resource_id,
        "meta": {"profile": [f"{CORE}medcom-core-practitionerrole"]},
        "practitioner": builder.reference(practitioner),
        "code": [{"coding": [builder.coding(ROLE_SYSTEM, role)]}],
    }


def payload(
    *, identifier: str, organisation: Resource, author: Resource, now: datetime, phone: str | None = None
) -> dict[str, Any]:
    """The extensions of a Communication.payload: date, identifier, author and (for text) a contact."""
    extensions: list[dict[str, Any]] = [
        {"url": f"{CORE}medcom-core-datetime-extension", "valueDateTime": builder.fhir_datetime(now)},
        {
            "url": f"{CORE}medcom-core-identifier-extension",
            "valueIdentifier": {"value": identifier, "assigner": builder.reference(organisation)},
        },
        {"url": f"{CORE}medcom-core-practitioner-extension", "valueReference": builder.reference(author)},
    ]
    if phone:
        extensions.append(
            {
                "url": f"{CORE}medcom-core-contact-extension",
                "valueContactPoint": {"system": "phone", "value": phone},
            }
        )
    return {"extension": extensions}


def source_entity(identifier: str) -> dict[str, Any]:
    """A Provenance.entity naming a payload segment of the message by its identifier (role source)."""
    return {"role": "source", "what": {"identifier": {"value": identifier}}}


def pdf_attachment(*, title: str, text: str, now: datetime) -> dict[str, Any]:
    """A small PDF-like attachment (PDF header, the text, trailer): enough to look like a document."""
    content = f"%PDF-1.4\n% Sektor-hub demo attachment\n({title})\n({text})\n%%EOF\n".encode()
    return {
        "contentType": "application/pdf",
        "data": base64.b64encode(content).decode("ascii"),
        "title": title,
        "creation": builder.fhir_datetime(now),
    }


def communication(
    *,
    resource_id: str,
    identifier: str,
    category: str,
    patient: Resource,
    payloads: Sequence[dict[str, Any]],
    topic: str | None = None,
) -> Resource:
    """A CareCommunication Communication: identifier, category, subject, topic and payload segments."""
    resource: Resource = {
        "resourceType": "Communication",
        "id": resource_id,
        "meta": {"profile": [f"{CC}medcom-careCommunication-communication"]},
        "identifier": [{"value": identifier}],
        "status": "unknown",
        "category": [{"coding": [builder.coding(CATEGORY_SYSTEM, category)]}],
        "subject": builder.reference(patient),
    }
    if topic:
        resource["topic"] = {"text": topic}
    resource["payload"] = list(payloads)
    return resource

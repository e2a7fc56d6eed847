"""MedCom CareCommunication messages (CareCommunication 5.0): correspondence about a patient between sectors.

The message is a MessageHeader (event care-communication-message) whose focus is a Communication: an
identifier, a category, the patient and one or more payload segments (text or attachment), each with its date,
identifier and author (a PractitionerRole); the Provenance names each segment as a source entity.

Pure functions: ids come from the caller, time from `now`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from hub.domain import medcom
from hub.messages import builder
from hub.messages.builder import IdFactory, Resource


def practitioner(*, resource_id: str, family: str, given: str) -> Resource:
    return {
        "resourceType": "Practitioner",
        "id": resource_id,
        "meta": {"profile": [medcom.CORE_PRACTITIONER_PROFILE]},
        "name": [{"family": family, "given": [given]}],
    }


def practitioner_role(*, resource_id: str, practitioner: Resource, role: str) -> Resource:
    return {
        "resourceType": "PractitionerRole",
        "id": resource_id,
        "meta": {"profile": [medcom.CORE_PRACTITIONER_ROLE_PROFILE]},
        "practitioner": builder.reference(practitioner),
        "code": [{"coding": [builder.coding(medcom.PRACTITIONER_ROLE_SYSTEM, role)]}],
    }


def payload(
    *, identifier: str, organisation: Resource, author: Resource, now: datetime, phone: str | None = None
) -> dict[str, Any]:
    """The extensions of a Communication.payload: date, identifier, author and (for text) a contact."""
    extensions: list[dict[str, Any]] = [
        {"url": medcom.PAYLOAD_DATETIME_EXTENSION, "valueDateTime": builder.fhir_datetime(now)},
        {
            "url": medcom.PAYLOAD_IDENTIFIER_EXTENSION,
            "valueIdentifier": {"value": identifier, "assigner": builder.reference(organisation)},
        },
        {"url": medcom.PAYLOAD_AUTHOR_EXTENSION, "valueReference": builder.reference(author)},
    ]
    if phone:
        extensions.append(
            {
                "url": medcom.PAYLOAD_CONTACT_EXTENSION,
                "valueContactPoint": {"system": "phone", "value": phone},
            }
        )
    return {"extension": extensions}


def source_entity(identifier: str) -> dict[str, Any]:
    """A Provenance.entity naming a payload segment of the message by its identifier (role source)."""
    return {"role": "source", "what": {"identifier": {"value": identifier}}}


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
        "meta": {"profile": [medcom.CARE_COMMUNICATION_COMMUNICATION_PROFILE]},
        "identifier": [{"value": identifier}],
        "status": "unknown",
        "category": [{"coding": [builder.coding(medcom.CARE_COMMUNICATION_CATEGORY_SYSTEM, category)]}],
        "subject": builder.reference(patient),
    }
    if topic:
        resource["topic"] = {"text": topic}
    resource["payload"] = list(payloads)
    return resource


def build_care_communication(
    *,
    new_id: IdFactory,
    now: datetime,
    sender: Resource,
    receiver: Resource,
    patient: Resource,
    communication: Resource,
    author: Resource,
    practitioner: Resource,
    segment_ids: Sequence[str],
) -> Resource:
    """A new CareCommunication from `sender` to `receiver` (primary): the Communication, its patient and author;
    the Provenance names the payload segments (`segment_ids`, their identifiers)."""
    return builder.message(
        new_id=new_id,
        now=now,
        bundle_profile=medcom.CARE_COMMUNICATION_MESSAGE_PROFILE,
        header_profile=medcom.CARE_COMMUNICATION_HEADER_PROFILE,
        event=medcom.CARE_COMMUNICATION_EVENT,
        activity=medcom.NEW_MESSAGE_ACTIVITY,
        sender=sender,
        receivers=[(receiver, "primary")],
        content=[patient, communication, author, practitioner],
        focus=communication,
        definition=medcom.CARE_COMMUNICATION_DEFINITION,
        provenance_profile=medcom.CARE_COMMUNICATION_PROVENANCE_PROFILE,
        entities=[source_entity(segment_id) for segment_id in segment_ids],
    )

"""The hub's own message types (no MedCom FHIR standard exists for them): discharge letter, referral, medication update.

Each is a MedCom-style message (hub.messages.builder) whose MessageHeader.eventCoding comes from the hub's own
event-code CodeSystem and whose focus follows the hub's profiles in schemas/sektorhub/:
- discharge letter: a Composition of type LOINC 18842-5 with its sections; to the GP (primary) and the
  municipality (cc);
- referral: a ServiceRequest to its named recipient (primary); new, update and cancel are the Provenance
  activities new-message, modified-message and retract-message, and a cancelled referral is revoked;
- medication update: a List (LOINC 10160-0) of MedicationStatements; to the GP (primary) and the municipality (cc).

A message with a cc destination goes to its primary receiver only; the cc receiver gets a message of its own, the
carbon copy (hub.messages.builder.carbon_copy: new Bundle.id and MessageHeader.id, a carboncopy-message Provenance
naming the original), as MedCom's rule for copies says. `with_copies` gives the original and its copy: what a
sender sends.

Pure functions: ids come from `new_id` (pass builder.seeded_ids(rng) for reproducible messages), time from `now`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Final, Literal

from hub.domain import medcom
from hub.domain.medcom import ATC_SYSTEM as ATC
from hub.domain.medcom import LOINC_SYSTEM as LOINC
from hub.domain.medcom import SNOMED_CT_SYSTEM as SNOMED
from hub.domain.message import OrganisationRef
from hub.domain.sektorhub import DISCHARGE_LETTER_EVENT, MEDICATION_UPDATE_EVENT, REFERRAL_EVENT
from hub.domain.sektorhub import MESSAGE_DEFINITIONS as MESSAGE_DEFINITION
from hub.domain.sektorhub import PROFILES as SD
from hub.messages import builder
from hub.messages.builder import IdFactory, Resource

XHTML: Final = "http://www.w3.org/1999/xhtml"
ReferralEvent = Literal["new", "update", "cancel"]
REFERRAL_ACTIVITIES: Final = {
    "new": medcom.NEW_MESSAGE_ACTIVITY,
    "update": medcom.MODIFIED_MESSAGE_ACTIVITY,
    "cancel": medcom.RETRACT_MESSAGE_ACTIVITY,
}


@dataclass(frozen=True, slots=True)
class Section:
    """One section of a discharge letter: title, LOINC code, plain text."""

    title: str
    code: str
    text: str


@dataclass(frozen=True, slots=True)
class Drug:
    """One drug of a medication list: ATC code and name, dosage in words."""

    atc: str
    name: str
    dosage: str


DEFAULT_SECTIONS: Final = (
    Section("Diagnoser", "11535-2", "Venstresidig pneumoni, behandlet."),
    Section("Forløb", "8648-8", "Indlagt med feber og hoste; behandlet med antibiotika i fem dage."),
    Section("Medicin ved udskrivelse", "10183-2", "Se medicinlisten; penicillin afsluttet."),
    Section("Plan og opfølgning", "18776-5", "Kontrol hos egen læge om to uger."),
)
DEFAULT_DRUGS: Final = (
    Drug("C09AA05", "Ramipril", "5 mg en gang dagligt"),
    Drug("N02BE01", "Paracetamol", "1 g op til fire gange dagligt ved behov"),
)


def _div(text: str) -> dict[str, str]:
    return {"status": "generated", "div": f'<div xmlns="{XHTML}"><p>{escape(text)}</p></div>'}


def _parties(
    new_id: IdFactory, sender: OrganisationRef, receivers: Sequence[OrganisationRef]
) -> tuple[Resource, list[Resource]]:
    return (
        builder.organization(sender, resource_id=new_id()),
        [builder.organization(receiver, resource_id=new_id()) for receiver in receivers],
    )


def discharge_letter(
    *,
    sender: OrganisationRef,
    gp: OrganisationRef,
    municipality: OrganisationRef,
    patient_cpr: str,
    now: datetime,
    sections: Sequence[Section] = DEFAULT_SECTIONS,
    new_id: IdFactory = builder.random_id,
) -> Resource:
    """A discharge letter from the hospital `sender` to the patient's GP (primary), copy to the municipality (cc)."""
    hospital, (gp_org, municipality_org) = _parties(new_id, sender, (gp, municipality))
    patient = builder.patient(patient_cpr, resource_id=new_id(), family="Jensen", given=("Karen",))
    letter: Resource = {
        "resourceType": "Composition",
        "id": new_id(),
        "meta": {"profile": [f"{SD}sektorhub-dischargeLetter-composition"]},
        "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{new_id()}"},
        "status": "final",
        "type": {"coding": [{"system": LOINC, "code": "18842-5", "display": "Discharge summary"}]},
        "subject": builder.reference(patient),
        "date": builder.fhir_datetime(now),
        "author": [builder.reference(hospital)],
        "title": "Udskrivningsepikrise",
        "custodian": builder.reference(hospital),
        "section": [
            {"title": s.title, "code": {"coding": [{"system": LOINC, "code": s.code}]}, "text": _div(s.text)}
            for s in sections
        ],
    }
    return builder.message(
        new_id=new_id,
        now=now,
        bundle_profile=f"{SD}sektorhub-dischargeLetter-message",
        header_profile=f"{SD}sektorhub-dischargeLetter-messageHeader",
        event=DISCHARGE_LETTER_EVENT,
        activity=medcom.NEW_MESSAGE_ACTIVITY,
        sender=hospital,
        receivers=[(gp_org, "primary"), (municipality_org, "cc")],
        content=[letter, patient],
        focus=letter,
        definition=f"{MESSAGE_DEFINITION}sektorhub-discharge-letter",
    )


def referral(
    *,
    sender: OrganisationRef,
    recipient: OrganisationRef,
    patient_cpr: str,
    now: datetime,
    event: ReferralEvent = "new",
    referral_id: str | None = None,
    previous_message_id: str | None = None,
    reason: str = "Vedvarende rygsmerter trods fysioterapi; udredning ønskes.",
    new_id: IdFactory = builder.random_id,
) -> Resource:
    """A referral to `recipient` (primary): new, an update or a cancellation of the referral `referral_id`.

    An update or cancel keeps the referral's identifier (`referral_id`) and names the earlier message
    (`previous_message_id`) in its Provenance.
    """
    if event not in REFERRAL_ACTIVITIES:
        raise ValueError(f"a referral event is new, update or cancel, not {event!r}")
    if event != "new" and referral_id is None:
        raise ValueError(f"a referral {event} names the referral it changes (referral_id)")
    requester, (performer,) = _parties(new_id, sender, (recipient,))
    patient = builder.patient(patient_cpr, resource_id=new_id(), family="Jensen", given=("Karen",))
    request: Resource = {
        "resourceType": "ServiceRequest",
        "id": new_id(),
        "meta": {"profile": [f"{SD}sektorhub-referral-serviceRequest"]},
        "identifier": [{"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{referral_id or new_id()}"}],
        "status": "revoked" if event == "cancel" else "active",
        "intent": "order",
        "code": {"coding": [{"system": SNOMED, "code": "3457005", "display": "Patient referral"}]},
        "subject": builder.reference(patient),
        "authoredOn": builder.fhir_datetime(now),
        "requester": builder.reference(requester),
        "performer": [builder.reference(performer)],
        "reasonCode": [{"text": reason}],
    }
    entities = [builder.revision_of(previous_message_id)] if previous_message_id else []
    return builder.message(
        new_id=new_id,
        now=now,
        bundle_profile=f"{SD}sektorhub-referral-message",
        header_profile=f"{SD}sektorhub-referral-messageHeader",
        event=REFERRAL_EVENT,
        activity=REFERRAL_ACTIVITIES[event],
        sender=requester,
        receivers=[(performer, "primary")],
        content=[request, patient],
        focus=request,
        definition=f"{MESSAGE_DEFINITION}sektorhub-referral",
        entities=entities,
    )


def medication_update(
    *,
    sender: OrganisationRef,
    gp: OrganisationRef,
    municipality: OrganisationRef,
    patient_cpr: str,
    now: datetime,
    drugs: Sequence[Drug] = DEFAULT_DRUGS,
    new_id: IdFactory = builder.random_id,
) -> Resource:
    """The patient's medication at discharge, to the GP (primary) and the municipality (cc)."""
    if not drugs:
        raise ValueError("a medication update lists at least one drug")
    hospital, (gp_org, municipality_org) = _parties(new_id, sender, (gp, municipality))
    patient = builder.patient(patient_cpr, resource_id=new_id(), family="Jensen", given=("Karen",))
    stamp = builder.fhir_datetime(now)
    statements: list[Resource] = [
        {
            "resourceType": "MedicationStatement",
            "id": new_id(),
            "meta": {"profile": [f"{SD}sektorhub-medicationStatement"]},
            "status": "active",
            "medicationCodeableConcept": {
                "coding": [{"system": ATC, "code": d.atc, "display": d.name}],
                "text": d.name,
            },
            "subject": builder.reference(patient),
            "effectiveDateTime": stamp,
            "dateAsserted": stamp,
            "dosage": [{"text": d.dosage}],
        }
        for d in drugs
    ]
    medication_list: Resource = {
        "resourceType": "List",
        "id": new_id(),
        "meta": {"profile": [f"{SD}sektorhub-medicationUpdate-list"]},
        "status": "current",
        "mode": "snapshot",
        "title": "Medicin ved udskrivelse",
        "code": {"coding": [{"system": LOINC, "code": "10160-0", "display": "History of Medication use Narrative"}]},
        "subject": builder.reference(patient),
        "date": stamp,
        "source": builder.reference(hospital),
        "entry": [{"item": builder.reference(statement)} for statement in statements],
    }
    return builder.message(
        new_id=new_id,
        now=now,
        bundle_profile=f"{SD}sektorhub-medicationUpdate-message",
        header_profile=f"{SD}sektorhub-medicationUpdate-messageHeader",
        event=MEDICATION_UPDATE_EVENT,
        activity=medcom.NEW_MESSAGE_ACTIVITY,
        sender=hospital,
        receivers=[(gp_org, "primary"), (municipality_org, "cc")],
        content=[medication_list, *statements, patient],
        focus=medication_list,
        definition=f"{MESSAGE_DEFINITION}sektorhub-medication-update",
    )


def with_copies(original: Resource, *, now: datetime, new_id: IdFactory = builder.random_id) -> tuple[Resource, ...]:
    """What a sender sends for `original`: the original, then the carbon copy for its cc receivers when it names one.

    The original goes to the primary receiver, the copy to the cc receivers (hub.route.router); each is acknowledged
    by its own receivers and tracked as a message of its own.
    """
    if not builder.cc_receivers(original):
        return (original,)
    return (original, builder.carbon_copy(original, new_id=new_id, now=now))

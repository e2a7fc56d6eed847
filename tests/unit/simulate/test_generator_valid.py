"""Every kind of message the hub generates passes the whole validator, MedCom profiles included, without an issue."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
import pytest

from hub.domain.message import OrganisationRef, read_facts
from hub.domain.sektorhub import EVENT_CODE_SYSTEM as SEKTORHUB_EVENT_CODE_SYSTEM
from hub.messages import builder
from hub.messages.acknowledgement import build_acknowledgement
from hub.simulate import HOSPITAL_NOTIFICATION_EVENTS, MessageGenerator, clinical, samples
from hub.simulate.adt import adt_message
from hub.validate import Validator
from hub.validate.profiles import check_profiles, profiles_for
from mappings.hl7v2 import map_adt

NOW = datetime(2025, 3, 4, 10, 15, 30, tzinfo=timezone(timedelta(hours=1)))
CPR = "0703861234"
HOSPITAL = OrganisationRef(sor="232351000016000", gln="5790000282562", name="Herlev og Gentofte Hospital")
MUNICIPALITY = OrganisationRef(sor="708991000016009", gln="5790000757749", name="Københavns Kommune")
GP = OrganisationRef(sor="473881000016000", gln="5790000123117", name="Lægerne Strandvejen")
CLINIC = OrganisationRef(sor="1144561000016002", gln="5790001382445", name="Rygklinikken")
REGISTER = {org.sor: org for org in (HOSPITAL, MUNICIPALITY)}
VALIDATOR = Validator()
CORE_PATIENT = "http://medcomfhir.dk/ig/core/StructureDefinition/medcom-core-patient"
MESSAGING_ORGANIZATION = "http://medcomfhir.dk/ig/messaging/StructureDefinition/medcom-messaging-organization"


def _profiles(message: dict[str, Any]) -> set[str]:
    return {url for url, _, _ in profiles_for(VALIDATOR.rules, message)}


def _assert_valid(message: dict[str, Any], *, patient: bool = True) -> None:
    verdict = VALIDATOR.validate(orjson.dumps(message))
    assert verdict.issues == (), [issue.as_dict() for issue in verdict.issues]
    assert check_profiles(VALIDATOR.rules, message) == []
    # the MedCom profiles did apply: the message's own, its Organizations' and (when there is one) its Patient's
    profiles = _profiles(message)
    assert MESSAGING_ORGANIZATION in profiles
    assert (CORE_PATIENT in profiles) is patient
    assert message["meta"]["profile"][0] in profiles
    assert message["entry"][0]["resource"]["meta"]["profile"][0] in profiles


def _notifications() -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(event, Encounter.class, message) for every HospitalNotification event with each class it has."""
    for event, stay in sorted(HOSPITAL_NOTIFICATION_EVENTS.items()):
        wanted = set(stay.classes)
        generator = MessageGenerator(seed=len(event))
        for _ in range(50):
            message = generator.hospital_notification(
                sender=HOSPITAL, receiver=MUNICIPALITY, event=event, patient_cpr=CPR, now=NOW
            )
            [encounter] = [e["resource"] for e in message["entry"] if e["resource"]["resourceType"] == "Encounter"]
            if encounter["class"]["code"] in wanted:
                wanted.discard(encounter["class"]["code"])
                yield event, encounter["class"]["code"], message
            if not wanted:
                break
        assert not wanted, (event, wanted)


NOTIFICATIONS = list(_notifications())


@pytest.mark.parametrize(
    ("event", "encounter_class", "message"), NOTIFICATIONS, ids=[f"{e}-{c}" for e, c, _ in NOTIFICATIONS]
)
def test_every_hospital_notification_is_valid(event: str, encounter_class: str, message: dict[str, Any]) -> None:
    _assert_valid(message)
    [encounter] = [e["resource"] for e in message["entry"] if e["resource"]["resourceType"] == "Encounter"]
    assert (encounter["class"]["code"], encounter["status"]) == (
        encounter_class,
        HOSPITAL_NOTIFICATION_EVENTS[event].status,
    )


@pytest.mark.parametrize("with_attachment", [False, True])
def test_every_care_communication_is_valid(with_attachment: bool) -> None:
    generator = MessageGenerator(seed=17)
    categories: set[str] = set()
    for _ in range(200):
        message = generator.care_communication(
            sender=MUNICIPALITY, receiver=HOSPITAL, with_attachment=with_attachment, now=NOW
        )
        _assert_valid(message)
        [communication] = [e["resource"] for e in message["entry"] if e["resource"]["resourceType"] == "Communication"]
        categories.add(communication["category"][0]["coding"][0]["code"])
        if len(categories) == len(samples.CARE_NOTES):
            break
    assert categories == {note.category for note in samples.CARE_NOTES}


def _ids() -> builder.IdFactory:
    return builder.seeded_ids(random.Random(4))


OWN_MESSAGES = {
    "discharge letter": lambda: clinical.discharge_letter(
        sender=HOSPITAL, gp=GP, municipality=MUNICIPALITY, patient_cpr=CPR, now=NOW, new_id=_ids()
    ),
    "referral": lambda: clinical.referral(sender=GP, recipient=CLINIC, patient_cpr=CPR, now=NOW, new_id=_ids()),
    "referral update": lambda: clinical.referral(
        sender=GP,
        recipient=CLINIC,
        patient_cpr=CPR,
        now=NOW,
        event="update",
        referral_id="5d0a1c7e-4c7e-4f39-9d51-7d1f1d0f3a11",
        previous_message_id="0b3f3a70-8d2c-4f55-a7a4-0fb9a7f3c9d2",
        new_id=_ids(),
    ),
    "referral cancel": lambda: clinical.referral(
        sender=GP,
        recipient=CLINIC,
        patient_cpr=CPR,
        now=NOW,
        event="cancel",
        referral_id="5d0a1c7e-4c7e-4f39-9d51-7d1f1d0f3a11",
        new_id=_ids(),
    ),
    "medication update": lambda: clinical.medication_update(
        sender=HOSPITAL, gp=GP, municipality=MUNICIPALITY, patient_cpr=CPR, now=NOW, new_id=_ids()
    ),
}


@pytest.mark.parametrize("kind", sorted(OWN_MESSAGES))
def test_every_own_message_type_is_valid(kind: str) -> None:
    message = OWN_MESSAGES[kind]()
    _assert_valid(message)
    # builder.message gives the hub's own events the hub's event-code system
    assert message["entry"][0]["resource"]["eventCoding"]["system"] == SEKTORHUB_EVENT_CODE_SYSTEM


@pytest.mark.parametrize("code", ["ok", "transient-error", "fatal-error"])
def test_every_acknowledgement_is_valid(code: str) -> None:
    original = MessageGenerator(seed=2).care_communication(sender=HOSPITAL, receiver=MUNICIPALITY, now=NOW)
    acknowledgement = build_acknowledgement(
        original=read_facts(original), responder=MUNICIPALITY, recipient=HOSPITAL, code=code, now=NOW, new_id=_ids()
    )
    _assert_valid(acknowledgement, patient=False)


@pytest.mark.parametrize("trigger", ["A01", "A03"])
def test_every_demo_adt_message_maps_to_a_valid_notification(trigger: str) -> None:
    text = adt_message(
        trigger=trigger,
        sending_facility=HOSPITAL.sor or "",
        receiving_facility=MUNICIPALITY.sor or "",
        cpr=CPR,
        visit="V-1",
        admitted=NOW - timedelta(days=2),
        discharged=NOW - timedelta(hours=1) if trigger == "A03" else None,
        now=NOW,
        control_id="DEMO-1",
    )
    result = map_adt(text, now=NOW, new_id=_ids(), directory=REGISTER.get)
    assert result.errors == []
    assert result.bundle is not None
    _assert_valid(result.bundle)

"""The hub's own message types: each generated message is valid and addressed as its MessageDefinition says."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from hub.domain.message import OrganisationRef, read_facts
from hub.domain.sektorhub import EVENT_CODE_SYSTEM as SEKTORHUB_EVENT_CODE_SYSTEM
from hub.messages import builder
from hub.simulate import clinical
from hub.validate import Validator

NOW = datetime(2025, 3, 4, 10, 30, tzinfo=UTC)
CPR = "0101701234"
HOSPITAL = OrganisationRef(sor="232351000016000", gln="5790000282562", name="Herlev og Gentofte Hospital")
GP = OrganisationRef(sor="473881000016000", gln="5790000123117", name="Lægerne Strandvejen")
MUNICIPALITY = OrganisationRef(sor="708991000016009", gln="5790000757749", name="Københavns Kommune")
CLINIC = OrganisationRef(sor="1144561000016002", gln="5790001382445", name="Rygklinikken")
VALIDATOR = Validator()


def _ids(seed: int = 1) -> builder.IdFactory:
    return builder.seeded_ids(random.Random(seed))


def _valid(message: dict[str, Any]) -> None:
    verdict = VALIDATOR.validate(orjson.dumps(message))
    assert verdict.valid, [issue.as_dict() for issue in verdict.issues if issue.is_error]
    assert not [issue for issue in verdict.issues if issue.code == "invariant"], verdict.issues


def _destinations(message: dict[str, Any]) -> list[tuple[str, OrganisationRef | None]]:
    return [(d.use, d.organisation) for d in read_facts(message).destinations]


def test_discharge_letter() -> None:
    message = clinical.discharge_letter(
        sender=HOSPITAL, gp=GP, municipality=MUNICIPALITY, patient_cpr=CPR, now=NOW, new_id=_ids()
    )
    _valid(message)
    facts = read_facts(message)
    assert facts.event == "sektorhub-discharge-letter-message"
    assert facts.patient_cpr == CPR
    assert facts.sender == HOSPITAL
    assert _destinations(message) == [("primary", GP), ("cc", MUNICIPALITY)]
    header = message["entry"][0]["resource"]
    assert header["eventCoding"]["system"] == SEKTORHUB_EVENT_CODE_SYSTEM
    [letter] = [e["resource"] for e in message["entry"] if e["resource"]["resourceType"] == "Composition"]
    assert letter["type"]["coding"][0]["code"] == "18842-5"
    assert len(letter["section"]) == len(clinical.DEFAULT_SECTIONS)


@pytest.mark.parametrize(
    ("event", "activity", "status"),
    [
        ("new", "new-message", "active"),
        ("update", "modified-message", "active"),
        ("cancel", "retract-message", "revoked"),
    ],
)
def test_referral(event: clinical.ReferralEvent, activity: str, status: str) -> None:
    message = clinical.referral(
        sender=GP,
        recipient=CLINIC,
        patient_cpr=CPR,
        now=NOW,
        event=event,
        referral_id=None if event == "new" else "5b0c1f0e-64a4-4b2e-9a3f-6c9c2c1f9e11",
        previous_message_id=None if event == "new" else "0c3c7d16-5a84-4c3f-8d9a-3d0f0e36a1b2",
        new_id=_ids(2),
    )
    _valid(message)
    facts = read_facts(message)
    assert facts.event == "sektorhub-referral-message"
    assert facts.activity == activity
    assert _destinations(message) == [("primary", CLINIC)]
    [request] = [e["resource"] for e in message["entry"] if e["resource"]["resourceType"] == "ServiceRequest"]
    assert request["status"] == status


def test_a_changed_referral_names_the_referral() -> None:
    with pytest.raises(ValueError, match="referral_id"):
        clinical.referral(sender=GP, recipient=CLINIC, patient_cpr=CPR, now=NOW, event="cancel")
    with pytest.raises(ValueError, match="new, update or cancel"):
        clinical.referral(sender=GP, recipient=CLINIC, patient_cpr=CPR, now=NOW, event="delete")  # type: ignore[arg-type]


def test_medication_update() -> None:
    message = clinical.medication_update(
        sender=HOSPITAL, gp=GP, municipality=MUNICIPALITY, patient_cpr=CPR, now=NOW, new_id=_ids(3)
    )
    _valid(message)
    assert read_facts(message).event == "sektorhub-medication-update-message"
    assert _destinations(message) == [("primary", GP), ("cc", MUNICIPALITY)]
    statements = [e for e in message["entry"] if e["resource"]["resourceType"] == "MedicationStatement"]
    assert len(statements) == len(clinical.DEFAULT_DRUGS)
    with pytest.raises(ValueError):
        clinical.medication_update(
            sender=HOSPITAL, gp=GP, municipality=MUNICIPALITY, patient_cpr=CPR, now=NOW, drugs=()
        )


def test_same_ids_same_message() -> None:
    def make() -> dict[str, Any]:
        return clinical.discharge_letter(
            sender=HOSPITAL, gp=GP, municipality=MUNICIPALITY, patient_cpr=CPR, now=NOW, new_id=_ids(7)
        )

    assert make() == make()


def test_the_hub_event_codes_need_the_hubs_code_system() -> None:
    message = clinical.discharge_letter(sender=HOSPITAL, gp=GP, municipality=MUNICIPALITY, patient_cpr=CPR, now=NOW)
    message["entry"][0]["resource"]["eventCoding"]["system"] = (
        "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-messaging-eventCodes"
    )
    verdict = VALIDATOR.validate(orjson.dumps(message))
    assert not verdict.valid

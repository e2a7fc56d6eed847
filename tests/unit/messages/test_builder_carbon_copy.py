"""builder.carbon_copy: the cc receiver's own message, as MedCom's rule for copies says (governance 040, #3a)."""

from __future__ import annotations

import copy
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from hub.domain import medcom
from hub.domain.message import OrganisationRef, read_facts
from hub.messages import builder
from hub.simulate import MessageGenerator, clinical
from hub.validate import Validator

NOW = datetime(2025, 3, 4, 10, 30, tzinfo=UTC)
LATER = NOW + timedelta(seconds=2)
HOSPITAL = OrganisationRef(sor="232351000016000", gln="5790000282562", name="Herlev og Gentofte Hospital")
GP = OrganisationRef(sor="473881000016000", gln="5790000123117", name="Lægerne Strandvejen")
MUNICIPALITY = OrganisationRef(sor="708991000016009", gln="5790000757749", name="Københavns Kommune")
CLINIC = OrganisationRef(sor="1144561000016002", gln="5790001382445", name="Rygklinikken")
CPR = "0101701234"
VALIDATOR = Validator()


def _ids(seed: int = 1) -> builder.IdFactory:
    return builder.seeded_ids(random.Random(seed))


def _letter() -> dict[str, Any]:
    return clinical.discharge_letter(
        sender=HOSPITAL, gp=GP, municipality=MUNICIPALITY, patient_cpr=CPR, now=NOW, new_id=_ids()
    )


def _provenances(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in message["entry"] if e["resource"]["resourceType"] == "Provenance"]


def test_the_copy_is_the_original_with_new_ids_and_one_more_provenance() -> None:
    original = _letter()
    kept = copy.deepcopy(original)
    cc = builder.carbon_copy(original, new_id=_ids(2), now=LATER)
    assert original == kept  # the original is not changed
    assert cc["id"] != original["id"] and cc["timestamp"] == builder.fhir_datetime(LATER)
    header, first = cc["entry"][0]["resource"], original["entry"][0]["resource"]
    assert header["id"] != first["id"]
    assert cc["entry"][0]["fullUrl"] == f"{builder.BASE_URL}/MessageHeader/{header['id']}"
    assert {k: v for k, v in header.items() if k != "id"} == {k: v for k, v in first.items() if k != "id"}
    # every other entry is unchanged; the copy's Provenance is added at the end of the stack
    assert cc["entry"][1:-1] == original["entry"][1:]
    assert [p["activity"]["coding"][0]["code"] for p in _provenances(cc)] == ["new-message", "carboncopy-message"]


def test_the_copys_provenance_targets_the_copy_and_names_the_original() -> None:
    original = _letter()
    cc = builder.carbon_copy(original, new_id=_ids(2), now=LATER)
    added = _provenances(cc)[-1]
    assert added["target"] == [{"reference": f"MessageHeader/{cc['entry'][0]['resource']['id']}"}]
    assert added["entity"] == [
        {"role": "revision", "what": {"reference": f"MessageHeader/{original['entry'][0]['resource']['id']}"}}
    ]
    assert added["activity"]["coding"] == [{"system": medcom.ACTIVITY_CODE_SYSTEM, "code": "carboncopy-message"}]
    assert added["agent"] == [{"who": original["entry"][0]["resource"]["sender"]}]
    assert added["occurredDateTime"] == added["recorded"] == builder.fhir_datetime(LATER)
    assert added["meta"] == _provenances(original)[0]["meta"]


def test_both_messages_are_valid_and_name_both_destinations() -> None:
    original = _letter()
    cc = builder.carbon_copy(original, new_id=_ids(2), now=LATER)
    for message in (original, cc):
        verdict = VALIDATOR.validate(orjson.dumps(message))
        assert verdict.valid, [i.as_dict() for i in verdict.issues]
        assert [(d.use, d.organisation) for d in read_facts(message).destinations] == [
            ("primary", GP),
            ("cc", MUNICIPALITY),
        ]
    assert read_facts(original).activity == "new-message"
    assert read_facts(cc).activity == "carboncopy-message"


def test_the_same_ids_give_the_same_copy() -> None:
    assert builder.carbon_copy(_letter(), new_id=_ids(2), now=LATER) == builder.carbon_copy(
        _letter(), new_id=_ids(2), now=LATER
    )


def test_a_message_without_cc_has_no_copy_and_a_copy_is_not_copied() -> None:
    referral = clinical.referral(sender=GP, recipient=CLINIC, patient_cpr=CPR, now=NOW, new_id=_ids())
    with pytest.raises(ValueError, match="no cc destination"):
        builder.carbon_copy(referral, new_id=_ids(2), now=LATER)
    cc = builder.carbon_copy(_letter(), new_id=_ids(2), now=LATER)
    with pytest.raises(ValueError, match="itself a carbon copy"):
        builder.carbon_copy(cc, new_id=_ids(3), now=LATER)


def test_cc_receivers() -> None:
    letter = _letter()
    municipality = letter["entry"][0]["resource"]["destination"][1]["receiver"]["reference"]
    assert builder.cc_receivers(letter) == [municipality]


@pytest.mark.parametrize("kind", ["discharge letter", "medication update"])
def test_with_copies_sends_the_original_and_the_copy(kind: str) -> None:
    make = clinical.discharge_letter if kind == "discharge letter" else clinical.medication_update
    original = make(sender=HOSPITAL, gp=GP, municipality=MUNICIPALITY, patient_cpr=CPR, now=NOW, new_id=_ids())
    sent = clinical.with_copies(original, now=LATER, new_id=_ids(2))
    assert sent[0] is original and len(sent) == 2
    assert [read_facts(m).activity for m in sent] == ["new-message", "carboncopy-message"]
    assert len({read_facts(m).message_id for m in sent}) == len({read_facts(m).bundle_id for m in sent}) == 2


def test_with_copies_of_a_message_without_cc_is_the_message() -> None:
    referral = clinical.referral(sender=GP, recipient=CLINIC, patient_cpr=CPR, now=NOW, new_id=_ids())
    assert clinical.with_copies(referral, now=LATER) == (referral,)


def test_the_generator_copies_with_its_own_seeded_ids() -> None:
    first, second = MessageGenerator(seed=5), MessageGenerator(seed=5)
    assert first.carbon_copy(_letter(), now=LATER) == second.carbon_copy(_letter(), now=LATER)
    assert read_facts(first.carbon_copy(_letter(), now=LATER)).activity == "carboncopy-message"

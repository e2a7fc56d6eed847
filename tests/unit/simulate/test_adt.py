"""The demo hospital's ADT, shaped as real feeds send it, maps through the demo register to valid notifications."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest

from connectors.mllp.directory import RegisterDirectory
from hub.domain.message import read_facts
from hub.messages import builder
from hub.route.patients import PatientRegister
from hub.route.register import load_register
from hub.simulate.adt import CHARSETS, adt_message
from hub.simulate.hospital import hl7_codes
from hub.validate import Validator
from mappings.hl7v2 import decode_message, map_adt

NOW = datetime(2025, 3, 4, 10, 15, 30, tzinfo=timezone(timedelta(hours=1)))
CPR = "0703861234"
REGISTER = load_register(
    Path(__file__).resolve().parents[3] / "schemas" / "demo-register.yaml",
    environ={"DEMO_RECEIVERS_URL": "http://127.0.0.1:1", "DEMO_RECEIVER_TOKEN": "unused"},
)
DIRECTORY = RegisterDirectory(REGISTER, PatientRegister())
VALIDATOR = Validator()


@pytest.mark.parametrize("charset", sorted(CHARSETS))
@pytest.mark.parametrize("trigger", ["A01", "A21", "A22", "A03"])
def test_the_demo_hospitals_adt_with_local_codes_maps_to_a_valid_notification(trigger: str, charset: str) -> None:
    hospital = next(o for o in REGISTER.organisations if o.id == "region-h-herlev")
    municipality = next(o for o in REGISTER.organisations if o.id == "kommune-aarhus")
    facility, department = hl7_codes(hospital)
    assert (facility, department) == ("HGH", "KAR")
    text = adt_message(
        trigger=trigger,
        sending_facility=facility,
        receiving_facility="SEKTORHUB",
        cpr=CPR,
        visit="V-1",
        admitted=NOW - timedelta(days=2),
        discharged=NOW - timedelta(hours=1) if trigger == "A03" else None,
        leave_started=NOW - timedelta(hours=5) if trigger == "A22" else None,
        now=NOW,
        control_id="DEMO-1",
        name="Sørensen^Åse",
        department=department,
        municipality_code=municipality.municipality_code or "",
        charset=charset,
    )
    raw = text.encode(CHARSETS[charset])
    result = map_adt(decode_message(raw), now=NOW, new_id=builder.seeded_ids(random.Random(1)), directory=DIRECTORY)
    assert result.errors == []
    assert result.bundle is not None
    verdict = VALIDATOR.validate(orjson.dumps(result.bundle))
    assert verdict.valid, [issue.as_dict() for issue in verdict.issues]
    assert (result.sender_sor, result.receiver_sor, result.residence) == (hospital.sor, municipality.sor, "PID-11.9")
    facts = read_facts(result.bundle)
    assert facts.patient_cpr == CPR
    encounter = next(e["resource"] for e in result.bundle["entry"] if e["resource"]["resourceType"] == "Encounter")
    unit = next(
        e["resource"]
        for e in result.bundle["entry"]
        if f"Organization/{e['resource']['id']}" == encounter["serviceProvider"]["reference"]
    )
    assert unit["identifier"][0]["value"] == "232361000016007"  # the ward PV1-3 names

"""ADT as hospital feeds send it: local facility codes in MSH-4, departments in PV1-3, the municipality of
residence from PID-11 or the patient register (MSH-6 only as a fallback), leave periods, ISO 8859-1, patients
without a CPR number. The register and patient register are the hub's real ones, built from data."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
import pytest

from connectors.mllp.directory import RegisterDirectory
from hub.domain import medcom
from hub.domain.message import read_facts
from hub.messages import builder
from hub.route.patients import PatientEntry, PatientRegister
from hub.route.register import Register, parse_register
from hub.validate.validator import Validator
from mappings.hl7v2 import decode_message, map_adt
from mappings.hl7v2.adt_to_notification import CORE_ORGANIZATION_PROFILE, MappingResult
from tests.unit.mappings.hl7v2.adt_samples import CPR, HOSPITAL_SOR, MUNICIPALITY_SOR, OTHER_CPR, adt

NOW = datetime(2024, 5, 8, 10, 31, 7, tzinfo=timezone(timedelta(hours=2)))
VALIDATOR = Validator()
LEAVE_PERIOD = medcom.LEAVE_PERIOD_EXTENSION
WARD_SOR = "399841000016000"  # Hjertemedicinsk sengeafs. S103 (MedCom's example m908i967)
CLINIC_SOR = "326071000016004"  # a department that sends as a facility of its own (invented)
COPENHAGEN_SOR = "708991000016009"
OTHER_HOSPITAL_SOR = "654991000016003"


def _register() -> Register:
    def mailbox(**fields: Any) -> dict[str, Any]:
        return fields | {"endpoint": {"kind": "mailbox"}, "accepts": ["hospital-notification-message"]}

    return parse_register(
        {
            "hub": {"name": "Sektor-hub", "sor": "881531000016009"},
            "organisations": [
                mailbox(
                    id="herlev-hjerte",
                    name="Hjerteafdelingen på Herlev og Gentofte Hospital",
                    kind="hospital",
                    sor=HOSPITAL_SOR,
                    gln="5790000209354",
                    hl7=[
                        {"namespace_id": "HGH"},
                        {"universal_id": "1.2.208.176.1.1.265161000016000"},
                        {"namespace_id": "HGH", "point_of_care": "S103", "unit_sor": WARD_SOR, "unit_name": "S103"},
                        {"namespace_id": "HGH-AMB", "unit_sor": CLINIC_SOR, "unit_name": "Hjerteambulatoriet"},
                    ],
                ),
                mailbox(id="rigshospitalet", name="Rigshospitalet", kind="hospital", sor=OTHER_HOSPITAL_SOR),
                mailbox(
                    id="kommune-herlev",
                    name="Herlev Kommune",
                    kind="municipality",
                    sor=MUNICIPALITY_SOR,
                    gln="5790001348120",
                    municipality_code="0163",
                    hl7=[{"namespace_id": "HERLEV-KOM"}],
                ),
                mailbox(
                    id="kommune-koebenhavn",
                    name="Københavns Kommune",
                    kind="municipality",
                    sor=COPENHAGEN_SOR,
                    gln="5790000757749",
                    municipality_code="101",
                ),
            ],
        },
        source="test",
        environ={},
    )


REGISTER = _register()
PATIENTS = PatientRegister([PatientEntry(OTHER_CPR, municipality_code="101")])
DIRECTORY = RegisterDirectory(REGISTER, PATIENTS)
# what a real feed sends: the hospital by its local code, an interface engine as receiver, the kommunekode in PID-11
LOCAL: dict[str, Any] = {
    "sender": "HGH",
    "receiver": "INTEGRATIONSMOTOR",
    "address": "Hovedgaden 12^^Herlev^^2730^DNK^H^^0163",
}


def _map(text: str) -> MappingResult:
    return map_adt(text, now=NOW, new_id=builder.seeded_ids(random.Random(3)), directory=DIRECTORY)


def _valid(result: MappingResult) -> dict[str, Any]:
    assert result.errors == [], result.errors
    assert result.bundle is not None, result.skipped
    verdict = VALIDATOR.validate(orjson.dumps(result.bundle))
    assert verdict.valid, [issue.as_dict() for issue in verdict.issues]
    return result.bundle


def _resource(bundle: dict[str, Any], resource_type: str, reference: str | None = None) -> dict[str, Any]:
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == resource_type and reference in (None, f"{resource_type}/{resource['id']}"):
            return dict(resource)
    raise AssertionError(resource_type)


def _receiver(bundle: dict[str, Any]) -> str | None:
    destination = read_facts(bundle).destinations[0]
    return destination.organisation.sor if destination.organisation else None


# --- the sender ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sender", ["HGH", "^1.2.208.176.1.1.265161000016000^ISO", HOSPITAL_SOR, "HGH-AMB"], ids=str)
def test_the_sending_facility_is_found_by_its_local_code_its_oid_or_its_sor_code(sender: str) -> None:
    result = _map(adt("A01", **(LOCAL | {"sender": sender})))
    bundle = _valid(result)
    facts = read_facts(bundle)
    assert facts.sender is not None and facts.sender.sor == HOSPITAL_SOR
    assert facts.sender.gln == "5790000209354"
    assert result.sender_sor == HOSPITAL_SOR


def test_an_unknown_sending_facility_code_is_an_error_naming_it() -> None:
    result = _map(adt("A01", **(LOCAL | {"sender": "XYZ"})))
    assert result.errors[0].startswith("MSH-4: sending facility 'XYZ' is not an organisation the hub knows")
    assert result.problems[0].code == "204"


# --- the service provider --------------------------------------------------------------------------------------


def test_the_department_in_pv1_3_becomes_the_encounters_service_provider() -> None:
    bundle = _valid(_map(adt("A01", **LOCAL, location="S103^12^1^HGH")))
    encounter = _resource(bundle, "Encounter")
    unit = _resource(bundle, "Organization", encounter["serviceProvider"]["reference"])
    assert unit["meta"]["profile"] == [CORE_ORGANIZATION_PROFILE]
    assert unit["identifier"] == [{"system": medcom.SOR_SYSTEM, "value": WARD_SOR}]
    assert unit["name"] == "S103"
    header = bundle["entry"][0]["resource"]
    assert header["sender"] != encounter["serviceProvider"]  # the sender stays the registered organisation


def test_a_department_facility_code_in_msh_4_is_the_service_provider_when_pv1_3_names_no_known_unit() -> None:
    bundle = _valid(_map(adt("A01", **(LOCAL | {"sender": "HGH-AMB"}), location="X99^^^HGH-AMB")))
    encounter = _resource(bundle, "Encounter")
    unit = _resource(bundle, "Organization", encounter["serviceProvider"]["reference"])
    assert unit["identifier"][0]["value"] == CLINIC_SOR


def test_an_unknown_department_leaves_the_sender_as_service_provider() -> None:
    bundle = _valid(_map(adt("A01", **LOCAL, location="Z1^^^HGH")))
    encounter = _resource(bundle, "Encounter")
    assert encounter["serviceProvider"] == bundle["entry"][0]["resource"]["sender"]
    assert len([e for e in bundle["entry"] if e["resource"]["resourceType"] == "Organization"]) == 2


# --- the municipality of residence -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "receiver", "basis"),
    [
        ({}, MUNICIPALITY_SOR, "PID-11.9"),
        ({"address": "Hovedgaden 12^^Herlev^^2730^DNK^H^^163"}, MUNICIPALITY_SOR, "PID-11.9"),
        # the home address counts, not a temporary one
        (
            {"address": "Kongevej 1^^Kbh^^1000^DNK^C^^0101~Hovedgaden 12^^Herlev^^2730^DNK^H^^0163"},
            MUNICIPALITY_SOR,
            "PID-11.9",
        ),
        ({"address": "Hovedgaden 12^^Herlev^^2730^DNK", "county": "0101"}, COPENHAGEN_SOR, "PID-12"),
        ({"address": "", "cpr": OTHER_CPR}, COPENHAGEN_SOR, "patient register"),
        # the message's own data comes before the patient register
        ({"cpr": OTHER_CPR}, MUNICIPALITY_SOR, "PID-11.9"),
        ({"address": "", "receiver": "HERLEV-KOM"}, MUNICIPALITY_SOR, "MSH-6"),
        ({"address": "", "receiver": MUNICIPALITY_SOR}, MUNICIPALITY_SOR, "MSH-6"),
        (
            {"address": "Hovedgaden 12^^Herlev^^2730^DNK^H^^Hovedstaden", "receiver": "HERLEV-KOM"},
            MUNICIPALITY_SOR,
            "MSH-6",
        ),
    ],
)
def test_the_municipality_comes_from_pid_11_the_patient_register_then_msh_6(
    changes: dict[str, str], receiver: str, basis: str
) -> None:
    result = _map(adt("A01", **(LOCAL | changes)))
    bundle = _valid(result)
    assert _receiver(bundle) == receiver
    assert (result.receiver_sor, result.residence) == (receiver, basis)


@pytest.mark.parametrize(
    ("changes", "error", "code"),
    [
        (
            {"address": "Hovedgaden 12^^Herlev^^2730^DNK"},
            "PID-11.9: the municipality of residence cannot be found: PID-11.9 (county/parish code of the home"
            " address) and PID-12 carry no kommunekode, the patient register does not know the patient, and MSH-6"
            " (INTEGRATIONSMOTOR) names no registered municipality",
            "101",
        ),
        # MSH-6 naming a hospital is no municipality
        (
            {"address": "", "receiver": OTHER_HOSPITAL_SOR},
            "PID-11.9: the municipality of residence cannot be found",
            "101",
        ),
        (
            {"address": "Nørregade 1^^Frederiksberg^^2000^DNK^H^^0147"},
            "PID-11.9: the patient lives in municipality 0147 (kommunekode), which is not in the hub's register",
            "204",
        ),
        (
            {"address": "^^^^^^H^^Hovedstaden"},
            "PID-11.9: 'Hovedstaden' is not a kommunekode (1-4 digits) of the patient's municipality",
            "103",
        ),
    ],
)
def test_a_municipality_that_cannot_be_found_is_an_error_saying_so(
    changes: dict[str, str], error: str, code: str
) -> None:
    result = _map(adt("A01", **(LOCAL | changes)))
    assert result.bundle is None
    assert result.errors[0].startswith(error), result.errors
    assert [p.code for p in result.problems] == [code]
    assert CPR not in " ".join(result.errors)


def test_a_patient_living_abroad_is_not_notified() -> None:
    result = _map(adt("A01", **(LOCAL | {"address": "Storgatan 1^^Malmö^^21120^SWE^H"})))
    assert result.bundle is None and result.errors == []
    assert result.skipped is not None and "the patient's address is abroad (PID-11.6 SWE)" in result.skipped
    # ... unless the patient register places the patient in a Danish municipality
    known = _map(adt("A01", **(LOCAL | {"address": "Storgatan 1^^Malmö^^21120^SWE^H"}), cpr=OTHER_CPR))
    assert _receiver(_valid(known)) == COPENHAGEN_SOR


@pytest.mark.parametrize(
    ("pid3", "kind"),
    [
        ("0703590ZZ1^^^1.2.208.176.1.6.1.1", "a replacement CPR number"),
        ("0703590ZZ1^^^X-eCPR", "a replacement CPR number"),
        ("C01234567^^^DEU^PPN", "an identifier of type PPN"),
        ("195903071234^^^SE^NNSWE~4711093^^^SP^MR", "an identifier of type NNSWE"),
    ],
)
def test_a_patient_without_a_danish_cpr_number_is_not_notified(pid3: str, kind: str) -> None:
    result = _map(adt("A01", **LOCAL, pid3=pid3))
    assert result.bundle is None and result.errors == []
    assert result.skipped is not None
    assert f"the patient has no Danish CPR number (PID-3 carries {kind})" in result.skipped
    assert "medcom-hospitalNotification-4" in result.skipped


def test_a_cpr_number_typed_nndnk_is_a_cpr_number() -> None:
    assert _map(adt("A01", **LOCAL, pid3=f"{CPR}^^^SP^NNDNK")).patient_cpr == CPR


# --- leave -------------------------------------------------------------------------------------------------------


def test_a_leave_and_the_return_carry_the_leave_period_medcom_asks_for() -> None:
    left = _valid(_map(adt("A21", **LOCAL, event_time="202405071400")))
    back = _valid(_map(adt("A22", **LOCAL, event_time="202405081030", leave_started="202405071400")))
    on_leave, returned = _resource(left, "Encounter"), _resource(back, "Encounter")
    assert on_leave["status"] == "onleave"
    assert on_leave["extension"] == [{"url": LEAVE_PERIOD, "valuePeriod": {"start": "2024-05-07T14:00:00+02:00"}}]
    assert returned["status"] == "in-progress"
    assert returned["extension"] == [
        {"url": LEAVE_PERIOD, "valuePeriod": {"start": "2024-05-07T14:00:00+02:00", "end": "2024-05-08T10:30:00+02:00"}}
    ]
    assert on_leave["episodeOfCare"] == returned["episodeOfCare"]  # one stay
    assert [read_facts(b).activity for b in (left, back)] == ["start-leave-inpatient", "end-leave-inpatient"]


@pytest.mark.parametrize(
    ("leave_started", "event_time", "error"),
    [
        ("", "202405081030", "PV2-46: no start of the leave this return ends"),
        ("202405081200", "202405081030", "EVN-6: the leave ends (2024-05-08 10:30) before it began (PV2-46)"),
        ("202405051200", "202405081030", "PV2-46: the leave began (2024-05-05 12:00) before the stay (PV1-44)"),
        ("2024050", "202405081030", "PV2-46: start of the leave: '2024050' is not a date and time"),
    ],
)
def test_a_return_without_a_usable_leave_start_is_an_error(leave_started: str, event_time: str, error: str) -> None:
    result = _map(adt("A22", **LOCAL, leave_started=leave_started, event_time=event_time))
    assert result.bundle is None
    assert [e[: len(error)] for e in result.errors] == [error]


# --- character sets ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("charset", ["8859/1", ""], ids=["declared", "undeclared"])
def test_an_iso_8859_1_message_maps_with_its_danish_letters(charset: str) -> None:
    raw = adt("A01", **LOCAL, charset=charset, name="Ærø^Søren^Åge").encode("latin-1")
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    bundle = _valid(_map(decode_message(raw)))
    assert _resource(bundle, "Patient")["name"] == [{"use": "official", "family": "Ærø", "given": ["Søren", "Åge"]}]


# --- feeds with SOR codes keep working ----------------------------------------------------------------------------


def test_a_feed_with_sor_codes_in_msh_4_and_msh_6_maps_as_before() -> None:
    result = _map(adt("A01"))  # MSH-4 and MSH-6 SOR codes, PID-11 without a kommunekode
    bundle = _valid(result)
    assert (result.sender_sor, result.receiver_sor, result.residence) == (HOSPITAL_SOR, MUNICIPALITY_SOR, "MSH-6")
    assert _resource(bundle, "Encounter")["serviceProvider"] == bundle["entry"][0]["resource"]["sender"]

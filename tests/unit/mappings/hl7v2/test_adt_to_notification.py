"""ADT -> MedCom HospitalNotification: every event, what is skipped, and every reason a message is refused."""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest

from hub.domain import medcom
from hub.domain.message import OrganisationRef, read_facts
from hub.messages import builder
from hub.validate.validator import Validator
from mappings.hl7v2 import map_adt, rules
from mappings.hl7v2.adt_to_notification import MappingResult, parse_timestamp
from tests.unit.mappings.hl7v2.adt_samples import (
    CPR,
    HOSPITAL_SOR,
    MUNICIPALITY_SOR,
    OTHER_CPR,
    OTHER_HOSPITAL_SOR,
    VISIT,
    adt,
)

SHARED = Path(__file__).resolve().parents[4].parent / "shared" / "medcom"
ACTIVITY_CODES = (
    SHARED / "profiles" / "medcom.fhir.dk.terminology-1.4.0" / "CodeSystem-medcom-messaging-activityCodes.json"
)
EXAMPLES = SHARED / "examples" / "hospitalnotification"
RE_STIN_EXAMPLE = EXAMPLES / "Bundle-bfab3e80-9584-11ec-b909-0242ac120002.json"
AN_STIN_EXAMPLE = EXAMPLES / "Bundle-c83671a4-9584-11ec-b909-0242ac120002.json"
NOW = datetime(2024, 5, 8, 10, 31, 7, tzinfo=timezone(timedelta(hours=2)))
LEAVE_PERIOD = (
    "http://medcomfhir.dk/ig/hospitalnotification/StructureDefinition/medcom-hospitalnotifiation-leave-period-extension"
)
REPORT_OF_ADMISSION = (
    "http://medcomfhir.dk/ig/hospitalnotification/StructureDefinition/medcom-messaging-reportOfAdmissionExtension"
)

VALIDATOR = Validator()
# the hub's register as the mapping sees it: a MedCom Organization carries its SOR code and its GLN
KNOWN = {
    HOSPITAL_SOR: OrganisationRef(HOSPITAL_SOR, "5790000209354"),
    OTHER_HOSPITAL_SOR: OrganisationRef(OTHER_HOSPITAL_SOR, "5790000144525"),
    MUNICIPALITY_SOR: OrganisationRef(MUNICIPALITY_SOR, "5790001348120"),
}
DIRECTORY = KNOWN.get


def _map(text: str, **kwargs: Any) -> MappingResult:
    kwargs.setdefault("directory", DIRECTORY)
    return map_adt(text, now=NOW, new_id=builder.seeded_ids(random.Random(7)), **kwargs)


def _resource(bundle: dict[str, Any], resource_type: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type
    ]
    assert len(found) == 1, resource_type
    return found[0]


def _extension(resource: dict[str, Any], url: str) -> dict[str, Any] | None:
    return next((e for e in resource.get("extension", []) if e["url"] == url), None)


# name -> (ADT message, MedCom name, Encounter.class, Encounter.status, Provenance activity, flags), where the
# flags say which of Encounter.period.end ("ended"), the leave extension ("leave") and Patient.deceased are set
EVENTS: dict[str, tuple[str, str, str, str, str, str]] = {
    "A01 inpatient": (adt("A01"), "STIN", "IMP", "in-progress", "admit-inpatient", ""),
    "A01 emergency": (adt("A01", patient_class="E"), "STAA", "EMER", "in-progress", "admit-emergency", ""),
    "A04 emergency": (adt("A04", patient_class="E"), "STAA", "EMER", "in-progress", "admit-emergency", ""),
    "A06 to inpatient": (adt("A06"), "STIN", "IMP", "in-progress", "admit-inpatient", ""),
    "A07 to emergency": (adt("A07", patient_class="E"), "STAA", "EMER", "in-progress", "admit-emergency", ""),
    "A02 from another hospital": (
        adt("A02", prior_facility=OTHER_HOSPITAL_SOR),
        *("STIN", "IMP", "in-progress", "admit-inpatient", ""),
    ),
    "A03 inpatient home": (
        adt("A03", discharged="202405081015", disposition="01"),
        *("SLHJ", "IMP", "finished", "discharge-inpatient-home", "ended"),
    ),
    "A03 emergency home": (
        adt("A03", patient_class="E", discharged="202405061930"),
        *("SLHJ", "EMER", "finished", "discharge-emergency-home", "ended"),
    ),
    "A03 died (PV1-36)": (
        adt("A03", discharged="202405080412", disposition="20"),
        *("MORS", "IMP", "finished", "admit-inpatient", "ended deceased"),
    ),
    "A03 died (PID-30)": (
        adt("A03", patient_class="E", death_indicator="Y", death_time="202405061905"),
        *("MORS", "EMER", "finished", "admit-emergency", "ended deceased"),
    ),
    "A01 dead on arrival": (
        adt("A01", patient_class="E", death_indicator="Y"),
        *("MORS", "EMER", "in-progress", "admit-emergency", "deceased"),
    ),
    "A21 leave": (adt("A21"), "STOR", "IMP", "onleave", "start-leave-inpatient", "leave"),
    "A22 back from leave": (adt("A22"), "SLOR", "IMP", "in-progress", "end-leave-inpatient", "leave"),
    "A52 leave cancelled": (adt("A52"), "AN_STOR", "IMP", "in-progress", "cancel-start-leave-inpatient", ""),
    "A11 inpatient": (adt("A11"), "AN_STIN", "IMP", "entered-in-error", "cancel-admit-inpatient", ""),
    "A11 emergency": (
        adt("A11", patient_class="E"),
        *("AN_STAA", "EMER", "entered-in-error", "cancel-admit-emergency", ""),
    ),
    "A13": (adt("A13"), "AN_SLHJ", "IMP", "in-progress", "cancel-discharge-inpatient-home", ""),
    "A08 admitted": (adt("A08"), "RE_STIN", "IMP", "in-progress", "revise-admit-inpatient", ""),
    "A08 emergency": (adt("A08", patient_class="E"), "RE_STAA", "EMER", "in-progress", "revise-admit-emergency", ""),
    "A08 discharged": (
        adt("A08", discharged="202405081015"),
        *("RE_SLHJ", "IMP", "finished", "revise-discharge-inpatient-home", "ended"),
    ),
    "A08 died": (
        adt("A08", discharged="202405080412", death_indicator="Y"),
        *("RE_MORS", "IMP", "finished", "admit-inpatient", "ended deceased"),
    ),
}


@pytest.mark.parametrize(
    ("text", "name", "encounter_class", "status", "activity", "flags"), list(EVENTS.values()), ids=list(EVENTS)
)
def test_each_event_becomes_a_valid_hospital_notification(
    text: str, name: str, encounter_class: str, status: str, activity: str, flags: str
) -> None:
    result = _map(text)
    assert result.errors == []
    assert result.skipped is None
    assert result.notification == name
    assert result.bundle is not None
    raw = orjson.dumps(result.bundle)
    verdict = VALIDATOR.validate(raw)
    assert verdict.valid, [issue.as_dict() for issue in verdict.issues]

    facts = read_facts(result.bundle)
    assert facts.event == "hospital-notification-message"
    assert facts.sender is not None and facts.sender.sor == HOSPITAL_SOR
    assert [(d.use, d.organisation.sor if d.organisation else None) for d in facts.destinations] == [
        ("primary", MUNICIPALITY_SOR)
    ]
    assert facts.patient_cpr == CPR
    assert facts.activity == activity
    assert result.control_id == "SP-000184311"
    assert (result.sender_sor, result.receiver_sor, result.patient_cpr) == (HOSPITAL_SOR, MUNICIPALITY_SOR, CPR)

    encounter = _resource(result.bundle, "Encounter")
    assert encounter["class"]["code"] == encounter_class
    assert encounter["status"] == status
    assert encounter["period"]["start"] == "2024-05-06T13:42:00+02:00"
    assert ("end" in encounter["period"]) is ("ended" in flags)
    assert (_extension(encounter, LEAVE_PERIOD) is not None) is ("leave" in flags)
    header = result.bundle["entry"][0]["resource"]
    assert header["focus"] == [{"reference": f"Encounter/{encounter['id']}"}]
    patient = _resource(result.bundle, "Patient")
    assert patient.get("deceasedBoolean") is (True if "deceased" in flags else None)
    assert patient["name"] == [{"use": "official", "family": "Sørensen", "given": ["Anne", "Marie"]}]


def test_an_admission_asks_for_an_admission_report_to_the_sending_unit() -> None:
    result = _map(adt("A01"))
    assert result.bundle is not None
    header = result.bundle["entry"][0]["resource"]
    sender = header["sender"]
    assert _extension(header, REPORT_OF_ADMISSION) == {"url": REPORT_OF_ADMISSION, "valueBoolean": True}
    assert _extension(header, medcom.REPORT_OF_ADMISSION_RECIPIENT_EXTENSION) == {
        "url": medcom.REPORT_OF_ADMISSION_RECIPIENT_EXTENSION,
        "valueReference": sender,
    }
    for later in (adt("A03", discharged="202405081015"), adt("A02", prior_facility=OTHER_HOSPITAL_SOR)):
        bundle = _map(later).bundle
        assert bundle is not None
        assert "extension" not in bundle["entry"][0]["resource"]


def test_times_are_the_stays_in_danish_time_unless_an_offset_is_given() -> None:
    bundle = _map(adt("A03", discharged="202412241930", admitted="20241220080512+0000")).bundle
    assert bundle is not None
    period = _resource(bundle, "Encounter")["period"]
    assert period == {"start": "2024-12-20T08:05:12+00:00", "end": "2024-12-24T19:30:00+01:00"}
    assert parse_timestamp("202407011200").isoformat() == "2024-07-01T12:00:00+02:00"
    assert parse_timestamp("20240701120030.1234-0130").isoformat() == "2024-07-01T12:00:30-01:30"
    leave = _extension(_resource(_map(adt("A21", event_time="202405081030")).bundle or {}, "Encounter"), LEAVE_PERIOD)
    assert leave == {"url": LEAVE_PERIOD, "valuePeriod": {"start": "2024-05-08T10:30:00+02:00"}}


def test_the_leave_start_falls_back_to_the_recorded_time() -> None:
    text = adt("A21", event_time="", sent="20240508103104+0200")
    encounter = _resource(_map(text).bundle or {}, "Encounter")
    assert _extension(encounter, LEAVE_PERIOD) == {
        "url": LEAVE_PERIOD,
        "valuePeriod": {"start": "2024-05-08T10:31:04+02:00"},
    }


def test_the_same_message_maps_to_the_same_bundle_whatever_its_line_ends() -> None:
    bundles = [_map(adt("A01", separator=separator)).bundle for separator in ("\r", "\n", "\r\n")]
    assert bundles[0] is not None
    assert bundles[0] == bundles[1] == bundles[2]


def test_message_header_id_follows_msh_10_so_a_resend_is_recognised() -> None:
    first = map_adt(adt("A01"), now=NOW, directory=DIRECTORY)
    again = map_adt(adt("A01"), now=NOW + timedelta(minutes=5), directory=DIRECTORY)
    other = map_adt(adt("A01", control_id="SP-000184312"), now=NOW, directory=DIRECTORY)
    reused_control_id = map_adt(adt("A01", cpr=OTHER_CPR), now=NOW, directory=DIRECTORY)  # a counter came round
    assert first.message_id == again.message_id
    assert first.message_id != other.message_id
    assert first.message_id != reused_control_id.message_id
    assert first.bundle is not None and again.bundle is not None
    assert first.bundle["id"] != again.bundle["id"]  # every send has a new Bundle.id
    assert uuid.UUID(str(first.message_id)).version == 5


def test_the_notifications_of_one_stay_share_its_episode_of_care() -> None:
    def episode(text: str) -> dict[str, Any]:
        bundle = _map(text).bundle
        assert bundle is not None
        return dict(_resource(bundle, "Encounter")["episodeOfCare"][0]["identifier"])

    admitted = episode(adt("A01"))
    assert admitted == episode(adt("A03", discharged="202405081015", control_id="SP-2"))
    assert admitted["system"] == f"https://sor2.sum.dsdn.dk/#id={HOSPITAL_SOR}"
    assert uuid.UUID(admitted["value"]).version == 5
    assert episode(adt("A01", visit="V2024-0042118")) != admitted
    # without a visit number the account number (PID-18) identifies the stay
    assert episode(adt("A01", visit="")) != admitted


def test_known_organisations_get_their_names_and_glns() -> None:
    directory = {
        HOSPITAL_SOR: OrganisationRef(HOSPITAL_SOR, "5790000209354", "Hjerteafdelingen, Herlev og Gentofte"),
        MUNICIPALITY_SOR: OrganisationRef(MUNICIPALITY_SOR, "5790001348120", "Plejecenter Herlev"),
    }
    result = _map(adt("A01"), directory=directory.get)
    assert result.bundle is not None
    assert VALIDATOR.validate(orjson.dumps(result.bundle)).valid
    organisations = [e["resource"] for e in result.bundle["entry"] if e["resource"]["resourceType"] == "Organization"]
    assert [o["name"] for o in organisations] == ["Hjerteafdelingen, Herlev og Gentofte", "Plejecenter Herlev"]
    assert {"system": medcom.GLN_SYSTEM, "value": "5790000209354"} in organisations[0]["identifier"]


@pytest.mark.parametrize(
    "pid3",
    [
        f"{CPR}^^^CPR",
        f"{CPR}^^^^CPR",
        f"4711093^^^SP^MR~{CPR}^^^&1.2.208.176.1.2&ISO^NNDNK",
        f"{CPR[:6]}-{CPR[6:]}^^^CPR",
        CPR,  # a bare 10-digit id
    ],
)
def test_the_cpr_number_is_found_in_pid_3(pid3: str) -> None:
    result = _map(adt("A01", pid3=pid3))
    assert result.patient_cpr == CPR
    assert result.bundle is not None


def test_escape_sequences_reach_the_message_unescaped() -> None:
    result = _map(adt("A01", name="Holm \\T\\ S\\XC3B8\\rensen^Bo\\F\\Ib"))
    assert result.bundle is not None
    assert _resource(result.bundle, "Patient")["name"][0] == {
        "use": "official",
        "family": "Holm & Sørensen",
        "given": ["Bo|Ib"],
    }
    assert VALIDATOR.validate(orjson.dumps(result.bundle)).valid


# --- what MedCom does not notify ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (adt("A01", patient_class="O"), "patient class O (outpatient) is not notified"),
        (adt("A01", patient_class="P"), "patient class P (preadmit)"),
        (adt("A21", patient_class="E"), "MedCom notifies it for patient class I"),
        (adt("A02"), "a transfer within one hospital"),
        (adt("A02", prior_facility=HOSPITAL_SOR), "a transfer within one hospital"),
        (adt("A03", discharged="202405081015", disposition="02"), "to another hospital or hospice"),
        (adt("A05"), "ADT^A05 (pre-admit a patient: a planned stay is notified when the patient arrives)"),
        (adt("A31"), "ADT^A31 (update person information: not a hospital stay)"),
        (adt("A01", pid3="X123456789^^^1.2.208.176.1.6.1.1"), "the patient has no Danish CPR number (PID-3 carries a"),
        (adt("A01", pid3="P1234567^^^DEU^PPN"), "PID-3 carries an identifier of type PPN"),
        (adt("A01", pid3="198001011234^^^SE^NNSWE"), "PID-3 carries an identifier of type NNSWE"),
    ],
)
def test_events_medcom_does_not_notify_are_skipped_with_the_reason(text: str, reason: str) -> None:
    result = _map(text)
    assert result.bundle is None
    assert result.errors == []
    assert result.skipped is not None and reason in result.skipped
    assert result.control_id == "SP-000184311"


# --- what cannot be mapped ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (adt("A01", pid3="4711093^^^SP^MR"), ["PID-3: no CPR number; expected an identifier"]),
        (adt("A01", pid3=""), ["PID-3: no CPR number"]),
        (adt("A01", cpr="3102591234"), ["PID-3: the CPR number 310259-xxxx is not well-formed: a CPR number"]),
        (adt("A01", sender=""), ["MSH-4: no sending facility; expected the SOR code or a registered HL7 facility"]),
        (adt("A01", sender="HGH"), ["MSH-4: sending facility 'HGH' is not an organisation the hub knows"]),
        (adt("A01", receiver="Herlev Kommune"), ["PID-11.9: the municipality of residence cannot be found"]),
        (adt("A01", admitted=""), ["PV1-44: no admit date/time"]),
        (adt("A01", admitted="20240506"), ["PV1-44: admit date/time: '20240506' is not a date and time"]),
        (adt("A01", admitted="202402301200"), ["PV1-44: admit date/time: '202402301200' is not a valid date"]),
        (adt("A03"), ["PV1-45: no discharge date/time"]),
        (adt("A03", discharged="202405011200"), ["PV1-45: the stay ends (2024-05-01 12:00) before it began"]),
        (adt("A01", visit=""), []),  # PID-18 stands in
        (adt("A01", patient_class=""), ["PV1-2: no patient class"]),
        (adt("A01", with_pv1=False), ["PV1: no PV1 segment"]),
        (adt("A01", control_id=""), ["MSH-10: no message control id"]),
        # MedCom's Patient (medcom-core-patient) has an official name with a family name
        (adt("A01", name=""), ["PID-5: no patient name; a MedCom HospitalNotification names the patient"]),
        (adt("A01", name="^Anne^Marie"), ["PID-5: no family name in PID-5.1"]),
        (
            adt("A01", sender="", receiver="", pid3="", admitted=""),
            ["MSH-4: no sending facility", "PID-3: no CPR number", "PV1-44: no admit"],
        ),
    ],
)
def test_a_message_that_cannot_be_mapped_says_where_and_why(text: str, expected: list[str]) -> None:
    result = _map(text)
    assert len(result.errors) == len(expected), result.errors
    for error, start in zip(result.errors, expected, strict=True):
        assert error.startswith(start), error
    if expected:
        assert result.bundle is None
        assert not result.unsupported
        assert CPR not in " ".join(result.errors)


def test_organisations_without_a_known_gln_are_an_error() -> None:
    # a MedCom Organization carries its SOR code and its GLN (medcom-messaging-organization); HL7 has only the SOR
    without_gln = {**KNOWN, MUNICIPALITY_SOR: OrganisationRef(MUNICIPALITY_SOR)}
    result = _map(adt("A01"), directory=without_gln.get)
    assert result.bundle is None
    assert result.errors == [
        f"MSH-6: no GLN is known for the municipality {MUNICIPALITY_SOR} (found by MSH-6); a MedCom Organization is"
        " identified by its SOR code and its GLN (medcom-messaging-organization), so the hub's register must hold"
        " the GLN"
    ]
    assert [problem.code for problem in result.problems] == ["204"]
    unknown = map_adt(adt("A01"), now=NOW)  # no register at all
    assert [error.split(";")[0] for error in unknown.errors] == [
        f"MSH-4: sending facility '{HOSPITAL_SOR}' is not an organisation the hub knows",
        "PID-11.9: the municipality of residence cannot be found: PID-11.9 (county/parish code of the home address)"
        " and PID-12 carry no kommunekode, the patient register does not know the patient, and MSH-6"
        f" ({MUNICIPALITY_SOR}) names no registered municipality",
    ]
    # what is not notified needs no organisations
    skipped = map_adt(adt("A01", patient_class="O"), now=NOW)
    assert skipped.errors == [] and skipped.skipped is not None


def test_a_missing_visit_number_and_account_number_is_an_error() -> None:
    text = adt("A01", visit="").replace("A-99120", "")
    assert _map(text).errors == [
        "PV1-19: no visit number (nor an account number in PID-18); it identifies the hospital stay"
    ]


def test_a_missing_pid_segment_is_an_error() -> None:
    text = "\r".join(line for line in adt("A01").split("\r") if not line.startswith("PID"))
    assert _map(text).errors[0].startswith("PID: no PID segment")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (adt("A12"), "MSH-9: ADT^A12 is not mapped to a MedCom HospitalNotification; mapped triggers: A01, A02"),
        (adt("A09"), "MSH-9: ADT^A09 is not mapped"),
        (adt("R01", message_type="ORU"), "MSH-9: message type ORU is not supported; this interface takes ADT"),
    ],
)
def test_unsupported_message_types_and_events_are_marked_unsupported(text: str, expected: str) -> None:
    result = _map(text)
    assert result.unsupported
    assert result.bundle is None
    assert result.errors[0].startswith(expected)
    assert result.problems[0].code in ("200", "201")


def test_text_that_is_not_hl7_is_an_error() -> None:
    result = _map("Hello, this is not HL7")
    assert result.errors == ["MSH: the message does not start with an MSH segment"]
    assert result.control_id == ""


# --- the rules table against MedCom's code systems and examples ----------------------------------------------


def _activity_codes() -> set[str]:
    document = json.loads(ACTIVITY_CODES.read_text(encoding="utf-8"))
    return {concept["code"] for concept in document["concept"]}


def test_every_activity_the_table_uses_is_a_medcom_activity_code() -> None:
    codes = _activity_codes()
    stays = {"IMP": "inpatient", "EMER": "emergency"}
    for trigger in rules.TRIGGERS.values():
        for case in trigger.cases:
            if isinstance(case.then, rules.Notification):
                for encounter_class in case.then.names:
                    activity = case.then.activity.format(stay=stays[encounter_class])
                    assert activity in codes, (trigger.meaning, activity)


def _activity_status_and_class(bundle: dict[str, Any]) -> tuple[str, str, str]:
    """This message's activity (its Provenance targets its own MessageHeader), Encounter status and class."""
    header = bundle["entry"][0]["resource"]
    own = [
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Provenance"
        and e["resource"]["target"] == [{"reference": f"MessageHeader/{header['id']}"}]
    ]
    assert len(own) == 1
    encounter = _resource(bundle, "Encounter")
    return own[0]["activity"]["coding"][0]["code"], encounter["status"], encounter["class"]["code"]


@pytest.mark.parametrize(
    ("example", "text"),
    [(RE_STIN_EXAMPLE, adt("A08")), (AN_STIN_EXAMPLE, adt("A11"))],
    ids=["RE_STIN", "AN_STIN"],
)
def test_corrections_and_cancellations_match_medcoms_examples(example: Path, text: str) -> None:
    expected = _activity_status_and_class(json.loads(example.read_text(encoding="utf-8")))
    bundle = _map(text).bundle
    assert bundle is not None
    assert _activity_status_and_class(bundle) == expected


def test_the_mapping_is_pure() -> None:
    assert _map(adt("A01")) == _map(adt("A01"))
    assert map_adt(adt("A01"), now=datetime(2024, 5, 8, tzinfo=UTC), directory=DIRECTORY).bundle is not None
    assert medcom.CPR_SYSTEM in orjson.dumps(_map(adt("A01")).bundle).decode()
    assert VISIT not in orjson.dumps(_map(adt("A01")).bundle).decode()  # the visit number is hashed into a UUID

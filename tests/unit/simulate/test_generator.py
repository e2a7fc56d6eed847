"""The message generator and the demo register: well-formed, realistic, unique, reproducible."""

from __future__ import annotations

import base64
import hashlib
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from fhir.resources.R4B.bundle import Bundle

from hub.domain import medcom
from hub.domain.identifiers import cpr_problem, gln_problem, sor_problem
from hub.domain.message import BundleIndex, OrganisationRef, read_facts
from hub.route.accepts import parse_accepts
from hub.simulate import HOSPITAL_NOTIFICATION_EVENTS, MessageGenerator

NOW = datetime(2025, 3, 4, 10, 15, 30, tzinfo=timezone(timedelta(hours=1)))
HOSPITAL = OrganisationRef(sor="232351000016000", gln="5790000282562", name="Herlev og Gentofte Hospital")
MUNICIPALITY = OrganisationRef(sor="708991000016009", gln="5790000757749", name="Københavns Kommune")
REGISTER = Path(__file__).parents[3] / "schemas" / "demo-register.yaml"

# event -> (Encounter.class, Encounter.status, Provenance.activity) per the MedCom HospitalNotification codes
EXPECTED_STAY = {
    "STAA": ({"EMER"}, "in-progress", {"admit-emergency"}),
    "STIN": ({"IMP"}, "in-progress", {"admit-inpatient"}),
    "STOR": ({"IMP"}, "onleave", {"start-leave-inpatient"}),
    "SLOR": ({"IMP"}, "in-progress", {"end-leave-inpatient"}),
    "SLHJ": ({"IMP", "EMER"}, "finished", {"discharge-inpatient-home", "discharge-emergency-home"}),
    "MORS": ({"IMP", "EMER"}, "finished", {"admit-inpatient", "admit-emergency"}),
}


def _resources(bundle: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type]


def _references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                yield value
            else:
                yield from _references(value)
    elif isinstance(node, list):
        for value in node:
            yield from _references(value)


def _assert_well_formed(message: dict[str, Any]) -> None:
    Bundle.model_validate(message)
    index = BundleIndex(message)
    unresolved = [ref for ref in _references(message) if index.resolve({"reference": ref}) is None]
    assert unresolved == []
    assert message["id"] != message["entry"][0]["resource"]["id"]
    assert datetime.fromisoformat(message["timestamp"]).utcoffset() is not None
    assert all("text" not in entry["resource"] for entry in message["entry"])
    assert len({entry["fullUrl"] for entry in message["entry"]}) == len(message["entry"])


def _ids(message: dict[str, Any]) -> list[str]:
    """Every id the message carries: Bundle, resources and urn:uuid identifiers."""
    found = [message["id"], *(entry["resource"]["id"] for entry in message["entry"])]
    found += [v for v in _values(message) if v.startswith("urn:uuid:")]
    return found


def _values(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for value in node.values():
            yield from _values(value)
    elif isinstance(node, list):
        for value in node:
            yield from _values(value)
    elif isinstance(node, str):
        yield node


@pytest.mark.parametrize("event", sorted(HOSPITAL_NOTIFICATION_EVENTS))
def test_hospital_notification(event: str) -> None:
    message = MessageGenerator(seed=11).hospital_notification(
        sender=HOSPITAL, receiver=MUNICIPALITY, event=event, patient_cpr="0703861234", now=NOW
    )
    _assert_well_formed(message)
    facts = read_facts(message)
    assert facts.event == "hospital-notification-message"
    assert facts.sender == HOSPITAL
    assert [(d.use, d.organisation) for d in facts.destinations] == [("primary", MUNICIPALITY)]
    assert facts.patient_cpr == "0703861234"
    classes, status, activities = EXPECTED_STAY[event]
    assert facts.activity in activities

    header = message["entry"][0]["resource"]
    [encounter] = _resources(message, "Encounter")
    [patient] = _resources(message, "Patient")
    assert header["focus"] == [{"reference": f"Encounter/{encounter['id']}"}]
    assert encounter["class"]["code"] in classes
    assert encounter["status"] == status
    stay = "inpatient" if encounter["class"]["code"] == "IMP" else "emergency"
    assert facts.activity is not None and facts.activity.endswith((stay, f"{stay}-home"))
    assert encounter["serviceProvider"] == header["sender"]
    assert encounter["subject"] == {"reference": f"Patient/{patient['id']}"}
    assert encounter["episodeOfCare"][0]["identifier"]["value"]
    start = datetime.fromisoformat(encounter["period"]["start"])
    assert start < NOW
    assert ("end" in encounter["period"]) == (status == "finished")
    assert patient.get("deceasedBoolean", False) is (event == "MORS")
    leave = [x["valuePeriod"] for x in encounter.get("extension", [])]
    assert len(leave) == (1 if event in ("STOR", "SLOR") else 0)
    if event == "SLOR":
        assert start <= datetime.fromisoformat(leave[0]["start"]) < datetime.fromisoformat(leave[0]["end"]) < NOW


def test_hospital_notification_picks_a_known_event_when_none_is_given() -> None:
    generator = MessageGenerator(seed=5)
    activities = {
        read_facts(generator.hospital_notification(sender=HOSPITAL, receiver=MUNICIPALITY, now=NOW)).activity
        for _ in range(60)
    }
    assert len(activities) > 3
    assert activities <= set().union(*(expected[2] for expected in EXPECTED_STAY.values()))
    with pytest.raises(ValueError, match="event"):
        generator.hospital_notification(sender=HOSPITAL, receiver=MUNICIPALITY, event="XXXX", now=NOW)


@pytest.mark.parametrize("with_attachment", [False, True])
def test_care_communication(with_attachment: bool) -> None:
    message = MessageGenerator(seed=2).care_communication(
        sender=MUNICIPALITY, receiver=HOSPITAL, with_attachment=with_attachment, now=NOW
    )
    _assert_well_formed(message)
    facts = read_facts(message)
    assert facts.event == "care-communication-message"
    assert facts.activity == "new-message"
    assert facts.sender == MUNICIPALITY
    assert [(d.use, d.organisation) for d in facts.destinations] == [("primary", HOSPITAL)]
    assert facts.patient_cpr is not None and cpr_problem(facts.patient_cpr) is None

    header = message["entry"][0]["resource"]
    [communication] = _resources(message, "Communication")
    [provenance] = _resources(message, "Provenance")
    assert header["focus"] == [{"reference": f"Communication/{communication['id']}"}]
    assert header["definition"].endswith("MedComCareCommunicationMessageDefinition|5.0")
    assert communication["status"] == "unknown"
    assert communication["identifier"][0]["value"].startswith("urn:uuid:")
    assert communication["category"][0]["coding"][0]["code"]
    payloads = communication["payload"]
    assert len(payloads) == (2 if with_attachment else 1)
    assert payloads[0]["contentString"]
    assert len(payloads[0]["extension"]) == 4
    if with_attachment:
        attachment = payloads[1]["contentAttachment"]
        assert attachment["contentType"] == "application/pdf"
        assert attachment["title"]
        assert base64.b64decode(attachment["data"]).startswith(b"%PDF-")
    segment_ids = [p["extension"][1]["valueIdentifier"]["value"] for p in payloads]
    assert [e["what"]["identifier"]["value"] for e in provenance["entity"]] == segment_ids
    assert {e["role"] for e in provenance["entity"]} == {"source"}
    assert provenance["activity"]["coding"][0]["system"] == medcom.ACTIVITY_CODE_SYSTEM
    assert _resources(message, "Practitioner")[0]["name"]


def test_fictional_cpr_numbers_have_valid_dates_and_fitting_century_digits() -> None:
    generator = MessageGenerator(seed=1)
    numbers = [generator.fictional_cpr() for _ in range(2000)]
    for number in numbers:
        assert cpr_problem(number) is None, number
        year = int(number[4:6])
        century_digit = int(number[6])
        full_year = 2000 + year if century_digit >= 4 else 1900 + year
        born = date(full_year, int(number[2:4]), int(number[0:2]))
        assert date(1960, 1, 1) <= born <= date(2009, 12, 31)
    assert len(set(numbers)) > 1990


def test_messages_never_share_ids() -> None:
    generator = MessageGenerator()
    messages = [generator.hospital_notification(sender=HOSPITAL, receiver=MUNICIPALITY, now=NOW) for _ in range(20)] + [
        generator.care_communication(sender=MUNICIPALITY, receiver=HOSPITAL, with_attachment=True, now=NOW)
        for _ in range(20)
    ]
    for message in messages:
        resource_ids = [message["id"], *(entry["resource"]["id"] for entry in message["entry"])]
        assert len(set(resource_ids)) == len(resource_ids)
    # a payload identifier recurs in its own Provenance, so count each id once per message
    counts = Counter(i for message in messages for i in set(_ids(message)))
    assert [i for i, n in counts.items() if n > 1] == []


def test_the_same_seed_gives_the_same_messages() -> None:
    def run(seed: int | None) -> list[dict[str, Any]]:
        generator = MessageGenerator(seed)
        return [
            generator.hospital_notification(sender=HOSPITAL, receiver=MUNICIPALITY, now=NOW),
            generator.care_communication(sender=MUNICIPALITY, receiver=HOSPITAL, with_attachment=True, now=NOW),
            {"cpr": generator.fictional_cpr()},
        ]

    assert run(42) == run(42)
    assert run(42) != run(43)
    assert run(None) != run(None)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        MessageGenerator(1).care_communication(sender=MUNICIPALITY, receiver=HOSPITAL, now=datetime(2025, 1, 1))


# -- the demo register ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def register() -> dict[str, Any]:
    loaded = yaml.safe_load(REGISTER.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def test_register_warns_that_the_tokens_are_for_the_demo_only() -> None:
    first_line = REGISTER.read_text(encoding="utf-8").splitlines()[0]
    assert first_line.startswith("#")
    assert "demo-<id>" in first_line and "never" in REGISTER.read_text(encoding="utf-8").split("\n\n")[0]


def test_register_identifiers_are_valid_and_unique(register: dict[str, Any]) -> None:
    parties = [register["hub"], *register["organisations"]]
    for party in parties:
        assert gln_problem(party["gln"]) is None, party
        assert party["gln"].startswith("5790000")
        assert sor_problem(party["sor"]) is None and len(party["sor"]) >= 11, party
    for key in ("sor", "gln"):
        assert len({party[key] for party in parties}) == len(parties)
    assert len({org["id"] for org in register["organisations"]}) == len(register["organisations"])


def test_register_token_hashes_are_of_the_demo_tokens(register: dict[str, Any]) -> None:
    for org in register["organisations"]:
        assert org["token_sha256"] == hashlib.sha256(f"demo-{org['id']}".encode()).hexdigest()


def test_register_has_the_demo_organisations(register: dict[str, Any]) -> None:
    organisations = register["organisations"]
    kinds = Counter(org["kind"] for org in organisations)
    assert kinds == {"hospital": 3, "municipality": 4, "gp": 3}
    regions = {org["id"].split("-")[1] for org in organisations if org["kind"] == "hospital"}
    assert len(regions) == 2
    accepts = {
        "hospital": ["care-communication-message", "acknowledgement-message"],
        "municipality": [
            "hospital-notification-message",
            "care-communication-message",
            "acknowledgement-message",
        ],
        # GPs also take the municipal acute care teams' test results (HomeCareObservation)
        "gp": ["care-communication-message", "homecareobservation-message", "acknowledgement-message"],
    }
    subscribed = {(s["receiver"], s["topic"]) for s in register.get("subscriptions", [])}
    for org in organisations:
        # what its kind takes, plus the topics it subscribes to
        expected = accepts[org["kind"]] + [t for r, t in sorted(subscribed) if r == org["id"]]
        # (the event codes: an entry may also name versions, hub.route.accepts)
        assert sorted(parse_accepts(org["accepts"]).events) == sorted(set(expected)), org["id"]
        assert ("municipality_code" in org) == (org["kind"] == "municipality"), org["id"]
        endpoint = org["endpoint"]
        if endpoint["kind"] == "http":
            assert endpoint["url"] == f"${{DEMO_RECEIVERS_URL}}/receivers/{org['id']}"
        else:
            assert endpoint == {"kind": "mailbox"}
    codes = {org["municipality_code"] for org in organisations if org["kind"] == "municipality"}
    assert codes == {"0101", "0751", "0461", "0851"}
    assert [org["id"] for org in organisations if org["endpoint"]["kind"] == "mailbox"] == ["kommune-odense"]


def test_generates_messages_between_register_organisations(register: dict[str, Any]) -> None:
    def ref(kind: str) -> OrganisationRef:
        org = next(o for o in register["organisations"] if o["kind"] == kind)
        return OrganisationRef(sor=org["sor"], gln=org["gln"], name=org["name"])

    generator = MessageGenerator(seed=9)
    notification = generator.hospital_notification(sender=ref("hospital"), receiver=ref("municipality"), now=NOW)
    letter = generator.care_communication(sender=ref("gp"), receiver=ref("municipality"), now=NOW)
    for message in (notification, letter):
        _assert_well_formed(message)
    assert read_facts(notification).destinations[0].organisation == ref("municipality")
    assert read_facts(letter).sender == ref("gp")

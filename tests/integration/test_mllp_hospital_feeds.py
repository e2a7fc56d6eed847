"""HL7 v2 ADT as hospital feeds send it, through a real hub: its MLLP listener, broker, database and mailboxes.

The register names the hospital by its local facility code (HGH) and one ward by its point of care (S103); the
municipalities have their kommunekoder, and a patient register places one patient in Copenhagen. Every message
goes over a real TCP socket; accepted ones are followed to the municipality's mailbox, refused ones are checked
ACK segment by ACK segment. Runs on SQLite and, with ``--database postgresql``, on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml

from connectors.intake import Intake
from connectors.mllp import MllpDecoder, MllpListener, encode_frame
from connectors.mllp.directory import RegisterDirectory
from connectors.mllp.framing import Frame
from hub.broker.embedded import EmbeddedBroker, free_port
from hub.broker.records import IngressRecord
from hub.domain import medcom
from hub.domain.message import read_facts
from hub.route.patients import PatientRegister
from hub.route.register import hash_token, load_register
from hub.simulate.hospital import SimulatedHospitals
from mappings.hl7v2.parse import Message, decode_message, parse_message
from tests.integration.hubtest import ROOT, HubUnderTest, eventually, running_hub, wait_for_status
from tests.unit.mappings.hl7v2.adt_samples import CPR, HOSPITAL_SOR, MUNICIPALITY_SOR, OTHER_CPR, adt

pytestmark = pytest.mark.integration

WARD_SOR = "399841000016000"
COPENHAGEN_SOR = "708991000016009"
# what a real feed sends: the hospital by its local code, an interface engine as receiver, the kommunekode in PID-11
HERLEV_ADDRESS = "Hovedgaden 12^^Herlev^^2730^DNK^H^^0163"
COPENHAGEN_ADDRESS = "Nørrebrogade 1^^København N^^2200^DNK^H^^0101"
LOCAL: dict[str, Any] = {"sender": "HGH", "receiver": "INTEGRATIONSMOTOR", "location": "S103^12^1^HGH"}


@dataclass
class FeedHub:
    hub: HubUnderTest
    mllp_port: int
    tokens: dict[str, str]  # municipality id -> its mailbox token


def _register(tokens: dict[str, str]) -> dict[str, Any]:
    def municipality(id_: str, name: str, sor: str, gln: str, code: str) -> dict[str, Any]:
        return {
            "id": id_,
            "name": name,
            "kind": "municipality",
            "sor": sor,
            "gln": gln,
            "municipality_code": code,
            "token_sha256": hash_token(tokens[id_]),
            "endpoint": {"kind": "mailbox"},
            "accepts": ["hospital-notification-message", "acknowledgement-message"],
        }

    return {
        "hub": {"name": "Sektor-hub (feeds test)", "sor": "881531000016009", "gln": "5790000583508"},
        "organisations": [
            {
                "id": "herlev-hjerte",
                "name": "Hjerteafdelingen, Herlev og Gentofte",
                "kind": "hospital",
                "sor": HOSPITAL_SOR,
                "gln": "5790000209354",
                "endpoint": {"kind": "mailbox"},
                "accepts": ["acknowledgement-message"],
                "hl7": [
                    {"namespace_id": "HGH"},
                    {"namespace_id": "HGH", "point_of_care": "S103", "unit_sor": WARD_SOR, "unit_name": "S103"},
                ],
            },
            municipality("kommune-herlev", "Herlev Kommune", MUNICIPALITY_SOR, "5790001348120", "0163"),
            municipality("kommune-koebenhavn", "Københavns Kommune", COPENHAGEN_SOR, "5790000757749", "0101"),
        ],
    }


@pytest.fixture(scope="module")
async def feeds(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FeedHub]:
    workdir = tmp_path_factory.mktemp("mllp-feeds")
    tokens = {name: secrets.token_urlsafe(24) for name in ("kommune-herlev", "kommune-koebenhavn")}
    register_file = workdir / "feeds-register.yaml"
    register_file.write_text(yaml.safe_dump(_register(tokens), allow_unicode=True), encoding="utf-8")
    patients_file: Path = workdir / "patients.csv"
    patients_file.write_text(f"cpr,municipality_code,gp\n{OTHER_CPR},101,\n", encoding="utf-8")
    port = free_port()
    async with running_hub(
        bootstrap_servers=broker.bootstrap_servers,
        workdir=workdir,
        topic_prefix=f"feeds{secrets.token_hex(4)}.",
        HUB_REGISTER_FILE=str(register_file),
        HUB_PATIENT_REGISTER_FILE=str(patients_file),
        HUB_MLLP_PORT=str(port),
    ) as hub:
        yield FeedHub(hub, port, tokens)


async def exchange(port: int, raw: bytes, timeout: float = 30.0) -> Message:
    """Send one frame over MLLP; the ACK, parsed."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(encode_frame(raw))
        await writer.drain()
        decoder = MllpDecoder()
        while True:
            chunk = await asyncio.wait_for(reader.read(65536), timeout)
            assert chunk, "the listener closed the connection without an answer"
            frames = [item for item in decoder.feed(chunk) if isinstance(item, Frame)]
            if frames:
                return parse_message(decode_message(frames[0].payload))
    finally:
        writer.close()


async def delivered(feeds: FeedHub, ack: Message, municipality: str) -> dict[str, Any]:
    """The notification an AA names, once it is in the municipality's mailbox."""
    assert ack.get("MSA-1") == "AA", [s.fields for s in ack.segments]
    tracking_id = ack.get("MSA-3").rpartition("tracking id ")[2]
    async with httpx.AsyncClient(base_url=feeds.hub.url, timeout=30) as api:
        await wait_for_status(api, tracking_id, "delivered", "acknowledged")
        headers = {"Authorization": f"Bearer {feeds.tokens[municipality]}"}

        async def in_mailbox() -> dict[str, Any] | None:
            response = await api.get("/mailbox", headers=headers)
            items = [item for item in response.json()["items"] if item["tracking_id"] == tracking_id]
            return items[0] if items else None

        item = await eventually(in_mailbox, timeout=30)
        body = await api.get(item["href"], headers=headers)
    bundle: dict[str, Any] = orjson.loads(body.content)
    return bundle


def _resources(bundle: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type]


async def test_a_feed_with_local_codes_and_iso_8859_1_reaches_the_municipality_pid_11_names(feeds: FeedHub) -> None:
    text = adt("A01", **LOCAL, control_id="FEED-1001", address=COPENHAGEN_ADDRESS, charset="8859/1")
    raw = text.encode("latin-1")
    ack = await exchange(feeds.mllp_port, raw)
    assert ack.get("MSA-2") == "FEED-1001"
    bundle = await delivered(feeds, ack, "kommune-koebenhavn")
    header = bundle["entry"][0]["resource"]
    [encounter] = _resources(bundle, "Encounter")
    organisations = {f"Organization/{o['id']}": o for o in _resources(bundle, "Organization")}
    assert organisations[header["sender"]["reference"]]["identifier"][1]["value"] == HOSPITAL_SOR
    receiver = organisations[header["destination"][0]["receiver"]["reference"]]
    assert {"system": medcom.SOR_SYSTEM, "value": COPENHAGEN_SOR} in receiver["identifier"]
    ward = organisations[encounter["serviceProvider"]["reference"]]
    assert ward["identifier"] == [{"system": medcom.SOR_SYSTEM, "value": WARD_SOR}]
    [patient] = _resources(bundle, "Patient")
    assert patient["name"][0]["family"] == "Sørensen"


async def test_without_a_municipality_code_the_patient_register_decides(feeds: FeedHub) -> None:
    # no MSH-18 and bytes that are not UTF-8: read as ISO 8859-1
    text = adt("A01", **LOCAL, control_id="FEED-2001", cpr=OTHER_CPR, address="", charset="")
    ack = await exchange(feeds.mllp_port, text.encode("latin-1"))
    bundle = await delivered(feeds, ack, "kommune-koebenhavn")
    [patient] = _resources(bundle, "Patient")
    assert patient["identifier"][0]["value"] == OTHER_CPR


async def test_a_leave_and_the_return_reach_the_municipality_with_their_leave_periods(feeds: FeedHub) -> None:
    left = await exchange(
        feeds.mllp_port,
        adt("A21", **LOCAL, control_id="FEED-3001", address=HERLEV_ADDRESS, event_time="202405071400").encode(),
    )
    back = await exchange(
        feeds.mllp_port,
        adt(
            "A22",
            **LOCAL,
            control_id="FEED-3002",
            address=HERLEV_ADDRESS,
            event_time="202405081030",
            leave_started="202405071400",
        ).encode(),
    )
    periods = []
    for ack in (left, back):
        [encounter] = _resources(await delivered(feeds, ack, "kommune-herlev"), "Encounter")
        [extension] = encounter["extension"]
        assert extension["url"] == medcom.LEAVE_PERIOD_EXTENSION
        periods.append((encounter["status"], extension["valuePeriod"]))
    assert periods == [
        ("onleave", {"start": "2024-05-07T14:00:00+02:00"}),
        ("in-progress", {"start": "2024-05-07T14:00:00+02:00", "end": "2024-05-08T10:30:00+02:00"}),
    ]


# (message, MSA-1, start of MSA-3, ERR-2 location, ERR-3.1 HL7 table 0357 code)
REFUSALS: dict[str, tuple[bytes, str, str, str, str]] = {
    "unknown sending facility": (
        adt("A01", **(LOCAL | {"sender": "XYZ"}), control_id="REF-01", address=HERLEV_ADDRESS).encode(),
        *("AR", "MSH-4: sending facility 'XYZ' is not an organisation the hub knows", "MSH^1^4", "204"),
    ),
    "not ADT": (
        adt("R01", **LOCAL, message_type="ORU", control_id="REF-02").encode(),
        *("AR", "MSH-9: message type ORU is not supported", "MSH^1^9", "200"),
    ),
    "unmapped ADT event": (
        adt("A12", **LOCAL, control_id="REF-03").encode(),
        *("AR", "MSH-9: ADT^A12 is not mapped to a MedCom HospitalNotification", "MSH^1^9", "201"),
    ),
    "municipality not found": (
        adt("A01", **LOCAL, control_id="REF-04", address="Hovedgaden 12^^Herlev^^2730^DNK").encode(),
        *("AE", "PID-11.9: the municipality of residence cannot be found", "PID^1^11^1^9", "101"),
    ),
    "municipality not registered": (
        adt("A01", **LOCAL, control_id="REF-05", address="Nørregade 1^^Frederiksberg^^2000^DNK^H^^0147").encode(),
        *("AE", "PID-11.9: the patient lives in municipality 0147", "PID^1^11^1^9", "204"),
    ),
    "return without the leave start": (
        adt("A22", **LOCAL, control_id="REF-06", address=HERLEV_ADDRESS, leave_started="").encode(),
        *("AE", "PV2-46: no start of the leave this return ends", "PV2^1^46", "101"),
    ),
    "no CPR number at all": (
        adt("A01", **LOCAL, control_id="REF-07", address=HERLEV_ADDRESS, pid3="4711093^^^SP^MR").encode(),
        *("AE", "PID-3: no CPR number", "PID^1^3", "101"),
    ),
    "malformed CPR number": (
        adt("A01", **LOCAL, control_id="REF-08", address=HERLEV_ADDRESS, cpr="3102591234").encode(),
        *("AE", "PID-3: the CPR number 310259-xxxx is not well-formed", "PID^1^3", "102"),
    ),
    "declared charset the bytes do not fit": (
        adt("A01", **LOCAL, control_id="REF-09", charset="UNICODE UTF-8").encode("latin-1"),
        *("AE", "MSH-18: the message is not in the declared character set UNICODE UTF-8", "", "102"),
    ),
}


@pytest.mark.parametrize(("raw", "code", "text", "location", "condition"), REFUSALS.values(), ids=list(REFUSALS))
async def test_every_refusal_has_its_ack_code_and_err_segment(
    feeds: FeedHub, raw: bytes, code: str, text: str, location: str, condition: str
) -> None:
    ack = await exchange(feeds.mllp_port, raw)
    assert ack.get("MSA-1") == code
    assert ack.get("MSA-3").startswith(text), ack.get("MSA-3")
    [err] = ack.all("ERR")
    assert err.raw(2) == location
    assert (err.value(3, 1), err.value(3, 3), err.value(4)) == (condition, "HL70357", "E")
    assert err.value(8).startswith(text)
    assert CPR not in ack.get("MSA-3")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (
            adt("A01", **LOCAL, control_id="SKIP-1", pid3="0703590ZZ1^^^1.2.208.176.1.6.1.1").encode(),
            "the patient has no Danish CPR number (PID-3 carries a replacement CPR number)",
        ),
        (adt("A05", **LOCAL, control_id="SKIP-2").encode(), "ADT^A05 (pre-admit a patient"),
        (
            adt("A01", **LOCAL, control_id="SKIP-3", address="Storgatan 1^^Malmö^^21120^SWE^H").encode(),
            "the patient's address is abroad",
        ),
    ],
    ids=["replacement CPR", "planned stay", "address abroad"],
)
async def test_what_medcom_does_not_notify_is_accepted_and_nothing_is_sent(
    feeds: FeedHub, raw: bytes, reason: str
) -> None:
    ack = await exchange(feeds.mllp_port, raw)
    assert ack.get("MSA-1") == "AA"
    assert ack.get("MSA-3").startswith("accepted; no MedCom notification: ")
    assert reason in ack.get("MSA-3")
    assert ack.all("ERR") == []


async def test_the_demo_hospitals_adt_traffic_is_accepted_and_takes_every_turn_of_a_stay() -> None:
    """The demo's simulated hospital sends ADT with local facility codes, PID-11 kommunekoder, leaves, ISO 8859-1;
    the demo register takes every message."""
    register = load_register(
        ROOT / "schemas" / "demo-register.yaml",
        environ={"DEMO_RECEIVERS_URL": "http://127.0.0.1:1", "DEMO_RECEIVER_TOKEN": secrets.token_hex(8)},
    )
    published: list[IngressRecord] = []

    async def publish(record: IngressRecord) -> None:
        published.append(record)

    listener = MllpListener(
        host="127.0.0.1", port=0, intake=Intake(publish), directory=RegisterDirectory(register, PatientRegister())
    )
    async with listener:
        hospitals = SimulatedHospitals(
            register=register,
            hub_url="http://127.0.0.1:1",
            tokens={},
            seed=11,
            patients=4,
            mllp=("127.0.0.1", listener.port),
        )
        try:
            answers = [await hospitals.send_adt() for _ in range(40)]
        finally:
            await hospitals.close()
    assert all(answers)
    activities = {read_facts(orjson.loads(record.raw)).activity for record in published}
    assert {"admit-inpatient", "start-leave-inpatient", "end-leave-inpatient", "discharge-inpatient-home"} <= activities

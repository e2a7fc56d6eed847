"""The MLLP listener's answers (without sockets) and the HL7 ACKs it builds."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import orjson
import pytest

from connectors.intake import Intake
from connectors.mllp import MllpDecoder, MllpListener, build_ack, encode_frame
from connectors.mllp.framing import Frame, Oversized
from hub.broker.records import IngressRecord
from hub.validate.validator import Validator
from mappings.hl7v2.adt_to_notification import Problem
from mappings.hl7v2.parse import parse_message
from tests.mailbox_organisations import MAILBOX_HOSPITAL as HOSPITAL
from tests.mailbox_organisations import MAILBOX_MUNICIPALITY as MUNICIPALITY

HOSPITAL_SOR = HOSPITAL.sor
MUNICIPALITY_SOR = MUNICIPALITY.sor
CPR = "1604721398"  # 16 April 1972, fictional
NOW = datetime(2024, 5, 8, 10, 31, 7, tzinfo=timezone(timedelta(hours=2)))

ORGANISATIONS = {o.sor: o for o in (HOSPITAL, MUNICIPALITY)}


def adt(
    trigger: str = "A01",
    *,
    control_id: str = "EPJ-7781",
    sender: str = HOSPITAL_SOR,
    pid3: str = f"{CPR}^^^CPR",
    patient_class: str = "I",
    charset: str = "",
) -> str:
    pv1 = ["PV1", "1", patient_class, "KAR^K12^1"] + [""] * 15 + ["V-5512"] + [""] * 24 + ["202405080912"]
    return "\r".join(
        [
            f"MSH|^~\\&|EPJ^Region H|{sender}|SEKTORHUB|{MUNICIPALITY_SOR}|20240508103104||ADT^{trigger}^ADT_A01|"
            f"{control_id}|P|2.5|||AL|NE|DNK|{charset}",
            f"EVN|{trigger}|20240508103104",
            f"PID|1||{pid3}||Kristensen^Ole",
            "|".join(pv1),
        ]
    )


class FakePublish:
    def __init__(self, fail: bool = False) -> None:
        self.records: list[IngressRecord] = []
        self.fail = fail

    async def __call__(self, record: IngressRecord) -> None:
        if self.fail:
            raise ConnectionError("broker unreachable")
        self.records.append(record)


def listener(publish: FakePublish) -> MllpListener:
    return MllpListener(host="127.0.0.1", port=0, intake=Intake(publish), sender_for=ORGANISATIONS.get, now=lambda: NOW)


def _segments(ack: bytes | str) -> dict[str, list[str]]:
    text = ack.decode() if isinstance(ack, bytes) else ack
    assert text.endswith("\r")
    return {line[:3]: line.split("|") for line in text.split("\r") if line}


# --- answers -----------------------------------------------------------------------------------------------


async def test_a_mapped_message_is_published_then_accepted() -> None:
    publish = FakePublish()
    answer = await listener(publish).handle(adt())
    assert answer.code == "AA"
    assert answer.control_id == "EPJ-7781"
    assert answer.notification == "STIN"
    assert len(publish.records) == 1
    record = publish.records[0]
    assert answer.tracking_id == record.tracking_id
    assert answer.text == f"accepted as STIN; tracking id {record.tracking_id}"
    assert (record.connector, record.sender_sor, record.key) == ("mllp", HOSPITAL_SOR, CPR.encode())
    assert Validator().validate(record.raw).valid
    bundle = orjson.loads(record.raw)
    names = [e["resource"].get("name") for e in bundle["entry"] if e["resource"]["resourceType"] == "Organization"]
    assert names == [HOSPITAL.name, MUNICIPALITY.name]  # known organisations are named from the register


async def test_an_unknown_sending_facility_is_rejected_and_nothing_published() -> None:
    publish = FakePublish()
    answer = await listener(publish).handle(adt(sender="123456789012345"))
    assert answer.code == "AR"
    assert answer.text.startswith("MSH-4: sending facility '123456789012345' is not an organisation the hub knows")
    assert answer.problems[0].code == "204"
    missing = await listener(publish).handle(adt(sender=""))
    assert missing.code == "AR"
    assert missing.problems[0].code == "101"
    assert publish.records == []


async def test_an_unsupported_event_is_rejected() -> None:
    publish = FakePublish()
    answer = await listener(publish).handle(adt("A12"))
    assert answer.code == "AR"
    assert answer.text.startswith("MSH-9: ADT^A12 is not mapped")
    assert publish.records == []


async def test_a_planned_event_medcom_does_not_notify_is_accepted_without_publishing() -> None:
    publish = FakePublish()
    answer = await listener(publish).handle(adt("A05"))
    assert answer.code == "AA"
    assert answer.text.startswith("accepted; no MedCom notification: ADT^A05 (pre-admit")
    assert publish.records == []


async def test_a_message_that_cannot_be_mapped_gets_ae_with_every_reason() -> None:
    publish = FakePublish()
    answer = await listener(publish).handle(adt(pid3="99887766^^^EPJ^MR", control_id="EPJ-7782"))
    assert answer.code == "AE"
    assert answer.control_id == "EPJ-7782"
    assert answer.text.startswith("PID-3: no CPR number")
    assert publish.records == []


async def test_a_message_medcom_does_not_notify_is_accepted_without_publishing() -> None:
    publish = FakePublish()
    answer = await listener(publish).handle(adt(patient_class="O"))
    assert answer.code == "AA"
    assert "no MedCom notification" in answer.text
    assert answer.tracking_id is None
    assert publish.records == []


async def test_a_failed_publish_asks_the_sender_to_resend() -> None:
    answer = await listener(FakePublish(fail=True)).handle(adt())
    assert answer.code == "AR"  # HL7 table 0008: failed for a reason unrelated to content; the sender may resend
    assert answer.text.startswith("not accepted, resend")
    assert answer.problems[0].code == "207"


async def test_frames_that_are_too_large_undecodable_or_not_hl7_are_answered() -> None:
    publish = FakePublish()
    mllp = listener(publish)
    oversized = _segments(await mllp.answer_frame(Oversized(20_000_000, adt().encode()[:300])))
    assert oversized["MSA"][1:3] == ["AR", "EPJ-7781"]
    assert "larger than the limit" in oversized["MSA"][3]

    latin = adt(charset="UNICODE UTF-8").replace("Kristensen", "Sørensen").encode("latin-1")
    undecodable = _segments(await mllp.answer_frame(Frame(latin)))
    assert undecodable["MSA"][1:3] == ["AE", "EPJ-7781"]
    assert undecodable["MSA"][3].startswith("MSH-18")

    garbage = _segments(await mllp.answer_frame(Frame(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")))
    assert garbage["MSA"][1:3] == ["AE", ""]
    assert garbage["MSH"][8] == "ACK"
    assert publish.records == []


async def test_the_ack_is_in_the_messages_character_set() -> None:
    publish = FakePublish()
    text = adt(pid3="", charset="8859/1").replace("EPJ^Region H", "EPJ^Region Sjælland")
    ack = await listener(publish).answer_frame(Frame(text.encode("latin-1")))
    assert "Sjælland".encode("latin-1") in ack
    assert _segments(ack.decode("latin-1"))["MSH"][17] == "8859/1"


async def test_stopping_answers_the_message_in_hand_and_closes_idle_connections() -> None:
    entered, release = asyncio.Event(), asyncio.Event()
    published: list[IngressRecord] = []

    async def slow(record: IngressRecord) -> None:
        entered.set()
        await release.wait()
        published.append(record)

    mllp = MllpListener(host="127.0.0.1", port=0, intake=Intake(slow), sender_for=ORGANISATIONS.get, grace_seconds=5)
    stop = asyncio.Event()
    running = asyncio.create_task(mllp.run(stop))
    for _ in range(100):
        if mllp.port:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    busy_reader, busy_writer = await asyncio.open_connection("127.0.0.1", mllp.port)
    idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", mllp.port)
    busy_writer.write(encode_frame(adt().encode()))
    await busy_writer.drain()
    await asyncio.wait_for(entered.wait(), 5)

    stop.set()
    assert await asyncio.wait_for(idle_reader.read(), 5) == b""  # the idle connection is closed at once
    release.set()
    answer = await asyncio.wait_for(busy_reader.read(), 5)  # the answer, then the end of the connection
    [frame] = MllpDecoder().feed(answer)
    assert isinstance(frame, Frame)
    assert _segments(frame.payload)["MSA"][1] == "AA"
    assert len(published) == 1
    await asyncio.wait_for(running, 5)
    for writer in (busy_writer, idle_writer):
        writer.close()
        await writer.wait_closed()


# --- the ACK message ---------------------------------------------------------------------------------------


def test_an_ack_swaps_sender_and_receiver_and_names_the_original() -> None:
    original = parse_message(adt())
    ack = build_ack(original, code="AA", text="accepted", now=NOW, ack_control_id="ACK1")
    segments = _segments(ack)
    assert list(segments) == ["MSH", "MSA"]
    msh = segments["MSH"]
    assert msh[1] == "^~\\&"
    assert msh[2:6] == ["SEKTORHUB", MUNICIPALITY_SOR, "EPJ^Region H", HOSPITAL_SOR]
    assert msh[6] == "20240508103107+0200"
    assert msh[8:12] == ["ACK^A01^ACK", "ACK1", "P", "2.5"]
    assert segments["MSA"] == ["MSA", "AA", "EPJ-7781", "accepted"]
    parsed = parse_message(ack)
    assert parsed.message_type == ("ACK", "A01")
    assert parsed.get("MSA-2") == "EPJ-7781"


def test_an_error_ack_has_one_err_segment_per_problem_with_its_location() -> None:
    problems = [
        Problem("PID-3", "no CPR number | none ^ at all", "101"),
        Problem("PV1-44", "admit date/time: bad", "102"),
        Problem(None, "not accepted, resend", "207"),
    ]
    ack = build_ack(parse_message(adt()), code="AE", text="; ".join(map(str, problems)), problems=problems, now=NOW)
    lines = [line for line in ack.split("\r") if line.startswith("ERR")]
    assert len(lines) == 3
    parsed = parse_message(ack)
    errors = parsed.all("ERR")
    assert errors[0].raw(2) == "PID^1^3"
    assert errors[0].raw(3) == "101^Required field missing^HL70357"
    assert errors[0].value(4) == "E"
    assert errors[0].value(8) == "PID-3: no CPR number | none ^ at all"  # delimiters escaped, read back intact
    assert errors[1].raw(2) == "PV1^1^44"
    assert errors[2].raw(2) == ""
    assert parsed.get("MSA-3") == "; ".join(map(str, problems))


def test_an_ack_to_an_unreadable_message_is_still_an_ack() -> None:
    ack = build_ack(None, code="AE", text="not HL7", now=NOW, control_id="")
    segments = _segments(ack)
    assert segments["MSH"][2] == "SEKTORHUB"
    assert segments["MSH"][8] == "ACK"
    assert segments["MSA"] == ["MSA", "AE", "", "not HL7"]


@pytest.mark.parametrize("code", ["AA", "AE", "AR"])
def test_ack_codes(code: str) -> None:
    assert parse_message(build_ack(parse_message(adt()), code=code, now=NOW)).get("MSA-1") == code

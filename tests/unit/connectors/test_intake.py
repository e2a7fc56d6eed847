"""The one intake: checks, then archive-then-publish, and what each failure becomes (in-memory archive and broker)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from aiokafka.errors import KafkaConnectionError

from connectors.intake import (
    SENDER,
    Accepted,
    Checked,
    Intake,
    NotAccepting,
    NotKept,
    Refusal,
    Refused,
    check,
    ingress_publisher,
    make_record,
    not_published,
    to_topic,
)
from hub.broker.records import Headers, IngressRecord
from hub.domain import medcom
from hub.fhirxml import jsontext
from hub.fhirxml.writer import write_xml
from hub.simulate import MessageGenerator
from hub.track.archive import ArchivedMessage
from tests.mailbox_organisations import MAILBOX_HOSPITAL as HOSPITAL
from tests.mailbox_organisations import MAILBOX_MUNICIPALITY as MUNICIPALITY

NOW = datetime(2024, 5, 8, 10, 31, 7, tzinfo=timezone(timedelta(hours=2)))
RECEIVED_AT = "2024-05-08T08:31:07.000000+00:00"
TRACKING_ID = "0190a1b2-0000-7000-8000-000000000001"
CPR = "2302654408"  # 23 February 1965, fictional
BY_TOKEN = f"your token belongs to {HOSPITAL.id} (SOR {HOSPITAL.sor})"


def bundle(**changes: Any) -> dict[str, Any]:
    message: dict[str, Any] = MessageGenerator(5).hospital_notification(
        sender=HOSPITAL.ref, receiver=MUNICIPALITY.ref, event="STIN", patient_cpr=CPR, now=NOW
    )
    message.update(changes)
    return message


def sender_organisation(message: dict[str, Any]) -> dict[str, Any]:
    reference = message["entry"][0]["resource"]["sender"]["reference"]
    return next(e["resource"] for e in message["entry"] if reference.endswith(e["resource"]["id"]))


RAW = orjson.dumps(bundle())


class FakeArchive:
    def __init__(self, log: list[str], *, fail: Exception | None = None) -> None:
        self.kept: list[ArchivedMessage] = []
        self.log = log
        self.fail = fail

    async def keep(self, message: ArchivedMessage) -> None:
        self.log.append("kept")
        if self.fail is not None:
            raise self.fail
        self.kept.append(message)


class FakeBroker:
    """A `Publish`: records what it stored; `fail` raises instead, `stall` never confirms."""

    def __init__(self, log: list[str], *, fail: Exception | None = None) -> None:
        self.stored: list[IngressRecord] = []
        self.log = log
        self.fail = fail

    async def __call__(self, record: IngressRecord) -> None:
        self.log.append("published")
        if self.fail is not None:
            raise self.fail
        self.stored.append(record)


class SilentProducer:
    """The hub's Publisher as `to_topic` uses it, for a broker that never confirms."""

    async def send_and_wait(self, topic: str, *, key: bytes, value: bytes, headers: Headers | None = None) -> None:
        await asyncio.Event().wait()


def intake(
    log: list[str],
    *,
    archive_fails: Exception | None = None,
    broker_fails: Exception | None = None,
    accepting: bool = True,
) -> tuple[Intake, FakeArchive, FakeBroker]:
    archive, broker = FakeArchive(log, fail=archive_fails), FakeBroker(log, fail=broker_fails)
    taking = Intake(
        broker, archive=archive, accepting=lambda: accepting, new_id=lambda: TRACKING_ID, clock=lambda: RECEIVED_AT
    )
    return taking, archive, broker


async def take(taking: Intake, raw: bytes = RAW, sender_sor: str = HOSPITAL.sor) -> Accepted | Refused:
    return await taking.take(
        raw, sender_sor=sender_sor, authenticated_as=BY_TOKEN, connector="http", max_bytes=10 * 1024 * 1024
    )


# --- accepted ------------------------------------------------------------------------------------------------


async def test_a_message_from_its_sender_is_archived_then_published_unchanged_and_accepted() -> None:
    log: list[str] = []
    taking, archive, broker = intake(log)
    taken = await take(taking)
    assert isinstance(taken, Accepted)
    assert log == ["kept", "published"]  # kept before it is published
    assert taken.tracking_id == TRACKING_ID
    record = taken.record
    assert record == IngressRecord(TRACKING_ID, HOSPITAL.sor, RECEIVED_AT, "http", RAW, CPR.encode())
    assert broker.stored == [record]
    assert archive.kept == [ArchivedMessage(TRACKING_ID, HOSPITAL.sor, "http", RECEIVED_AT, CPR.encode(), RAW)]


async def test_without_an_archive_or_accepting_the_message_is_only_published() -> None:
    log: list[str] = []
    broker = FakeBroker(log)
    taken = await Intake(broker).take(RAW, sender_sor=HOSPITAL.sor, authenticated_as=BY_TOKEN, connector="file")
    assert isinstance(taken, Accepted)
    assert log == ["published"]
    assert taken.record.connector == "file" and len(taken.tracking_id) == 36


def test_check_alone_reads_the_facts_and_the_key() -> None:
    checked = check(RAW, sender_sor=HOSPITAL.sor, authenticated_as=BY_TOKEN)
    assert isinstance(checked, Checked)
    assert checked.key == CPR.encode()
    assert checked.facts.sender is not None and checked.facts.sender.sor == HOSPITAL.sor


# --- refused by the checks: nothing kept, nothing published ---------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "code", "expression", "diagnostics"),
    [
        (b"not json", "structure", None, "the message is not valid JSON"),
        (b"", "structure", None, "the message is empty"),
        (b'["a", "list"]', "structure", None, "the message is a JSON array"),
        (b'{"resourceType": "Patient"}', "structure", "Bundle", "expected a FHIR Bundle"),
        (b'{"resourceType": "Bundle", "type": "message", "type": "x"}', "structure", "Bundle.type", "more than once"),
        (b"\xff\xfe{}", "structure", None, "not valid UTF-8"),
    ],
)
async def test_what_is_not_a_fhir_json_bundle_is_refused_as_invalid_with_the_envelopes_issues(
    raw: bytes, code: str, expression: str | None, diagnostics: str
) -> None:
    log: list[str] = []
    taken = await take(intake(log)[0], raw)
    assert isinstance(taken, Refused)
    assert taken.kind is Refusal.INVALID and not taken.retryable
    [issue] = taken.issues
    assert (issue.severity, issue.code, issue.expression) == ("fatal", code, expression)
    assert diagnostics in issue.diagnostics
    assert log == []


async def test_a_message_over_the_limit_is_refused_as_too_costly() -> None:
    log: list[str] = []
    taking = intake(log)[0]
    taken = await taking.take(RAW, sender_sor=HOSPITAL.sor, authenticated_as=BY_TOKEN, connector="http", max_bytes=100)
    assert isinstance(taken, Refused) and taken.kind is Refusal.INVALID
    assert taken.issues[0].code == "too-costly"
    assert log == []


async def test_a_message_naming_another_sender_is_forbidden() -> None:
    log: list[str] = []
    taken = await take(intake(log)[0], sender_sor=MUNICIPALITY.sor)
    assert isinstance(taken, Refused)
    assert taken.kind is Refusal.FORBIDDEN
    [issue] = taken.issues
    assert (issue.code, issue.expression) == ("security", SENDER)
    assert issue.diagnostics == f"MessageHeader.sender has SOR code {HOSPITAL.sor}; {BY_TOKEN}"
    assert log == []


async def test_a_sender_with_two_sor_codes_or_none_is_invalid() -> None:
    log: list[str] = []
    two = bundle()
    sender_organisation(two)["identifier"].append({"system": medcom.SOR_SYSTEM, "value": MUNICIPALITY.sor})
    none = bundle()
    sender_organisation(none)["identifier"] = []
    for message, code, diagnostics in (
        (two, "structure", "more than one SOR identifier"),
        (none, "required", "the first entry must be a MessageHeader whose sender resolves"),
    ):
        for sender_sor in (HOSPITAL.sor, MUNICIPALITY.sor):  # matched on neither code
            taken = await take(intake(log)[0], orjson.dumps(message), sender_sor)
            assert isinstance(taken, Refused)
            assert taken.kind is Refusal.INVALID
            [issue] = taken.issues
            assert (issue.code, issue.expression) == (code, SENDER)
            assert diagnostics in issue.diagnostics
    assert log == []


# --- refused after the checks: the sender sends again --------------------------------------------------------


async def test_while_the_hub_stops_nothing_is_kept_and_the_sender_is_told_to_retry() -> None:
    log: list[str] = []
    taken = await take(intake(log, accepting=False)[0])
    assert isinstance(taken, Refused)
    assert (taken.kind, taken.retry_after, taken.retryable) == (Refusal.UNAVAILABLE, 5, True)
    assert isinstance(taken.error, NotAccepting)
    assert taken.issues[0].code == "transient"
    assert taken.text == "the hub is shutting down; send the message again"
    assert log == []


async def test_when_the_archive_fails_nothing_is_published() -> None:
    log: list[str] = []
    failure = OSError("disk full")
    taking, archive, broker = intake(log, archive_fails=failure)
    taken = await take(taking)
    assert isinstance(taken, Refused)
    assert (taken.kind, taken.retry_after, taken.retryable) == (Refusal.FAILED, None, True)
    assert taken.error is failure  # the archive's own error, for the connector's log or the HTTP 500
    assert taken.issues[0].code == "exception"
    assert taken.text == "the hub could not keep the message (OSError); send it again"
    assert log == ["kept"]
    assert archive.kept == [] and broker.stored == []


@pytest.mark.parametrize(
    "failure", [KafkaConnectionError("broker away"), TimeoutError(), ConnectionError("refused")], ids=type
)
async def test_when_the_broker_does_not_take_it_the_archived_copy_stays_and_the_sender_retries(
    failure: Exception,
) -> None:
    log: list[str] = []
    taking, archive, broker = intake(log, broker_fails=failure)
    taken = await take(taking)
    assert isinstance(taken, Refused)
    assert (taken.kind, taken.retry_after, taken.retryable) == (Refusal.UNAVAILABLE, 2, True)
    assert taken.error is failure
    assert taken.issues[0].code == "transient"
    name = type(failure).__name__
    assert taken.text == f"the message broker did not confirm the message ({name}); send it again"
    assert log == ["kept", "published"]
    assert len(archive.kept) == 1 and broker.stored == []  # kept: a resend is harmless, nothing is lost


async def test_an_unexpected_publish_error_is_a_failure_to_retry() -> None:
    log: list[str] = []
    failure = RuntimeError("bug")
    taken = await take(intake(log, broker_fails=failure)[0])
    assert isinstance(taken, Refused)
    assert (taken.kind, taken.error, taken.error_name) == (Refusal.FAILED, failure, "RuntimeError")
    assert taken.text == "the hub could not publish the message (RuntimeError); send it again"


async def test_a_broker_that_does_not_confirm_in_time_is_unavailable() -> None:
    silent = Intake(to_topic(SilentProducer(), "t.ingress", timeout=0.05))
    taken = await silent.take(RAW, sender_sor=HOSPITAL.sor, authenticated_as=BY_TOKEN, connector="mllp")
    assert isinstance(taken, Refused)
    assert (taken.kind, taken.error_name) == (Refusal.UNAVAILABLE, "TimeoutError")


async def test_cancellation_is_not_a_refusal() -> None:
    entered = asyncio.Event()

    async def slow(record: IngressRecord) -> None:
        entered.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(
        Intake(slow).take(RAW, sender_sor=HOSPITAL.sor, authenticated_as=BY_TOKEN, connector="http")
    )
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


# --- the raising form, for connectors given a bare publish ----------------------------------------------------


def test_not_published_tells_the_kinds_apart() -> None:
    cause = OSError("disk full")
    try:
        raise NotKept("archive") from cause
    except NotKept as kept:
        not_kept = not_published(kept)
    assert (not_kept.kind, not_kept.error) == (Refusal.FAILED, cause)
    assert not_published(NotAccepting()).retry_after == 5
    assert not_published(KafkaConnectionError()).retry_after == 2
    assert not_published(ValueError()).kind is Refusal.FAILED


async def test_ingress_publisher_raises_not_kept_with_the_archives_error_and_publishes_nothing() -> None:
    log: list[str] = []
    failure = OSError("disk full")
    publish = ingress_publisher(SilentProducer(), "t", archive=FakeArchive(log, fail=failure), timeout=0.05)
    record = IngressRecord(TRACKING_ID, HOSPITAL.sor, RECEIVED_AT, "file", RAW, CPR.encode())
    with pytest.raises(NotKept) as raised:
        await publish(record)
    assert raised.value.__cause__ is failure


async def test_an_intake_around_the_ingress_publisher_classifies_what_it_raises() -> None:
    log: list[str] = []
    stopping = Intake(ingress_publisher(SilentProducer(), "t", accepting=lambda: False))
    taken = await take(stopping)
    assert isinstance(taken, Refused) and taken.kind is Refusal.UNAVAILABLE and taken.retry_after == 5
    archive_fails = ingress_publisher(SilentProducer(), "t", archive=FakeArchive(log, fail=OSError()))
    taken = await take(Intake(archive_fails))
    assert isinstance(taken, Refused) and taken.kind is Refusal.FAILED and taken.error_name == "OSError"


# --- FHIR XML ----------------------------------------------------------------------------------------------


def test_xml_is_checked_as_the_json_it_converts_to_and_kept_as_it_came() -> None:
    xml = write_xml(jsontext.loads(RAW), pretty=True)
    checked = check(xml, sender_sor=HOSPITAL.sor, authenticated_as=BY_TOKEN, max_bytes=len(xml))
    assert isinstance(checked, Checked)
    assert (checked.raw, checked.content_type) == (xml, "application/fhir+xml")
    assert checked.facts == check(RAW, sender_sor=HOSPITAL.sor, authenticated_as=BY_TOKEN).facts  # type: ignore[union-attr]
    assert make_record(checked, connector="file").content_type == "application/fhir+xml"


def test_xml_from_another_sender_is_forbidden_with_the_xml_place() -> None:
    xml = write_xml(jsontext.loads(RAW), pretty=True)
    refused = check(xml, sender_sor=MUNICIPALITY.sor, authenticated_as=BY_TOKEN, content_type="text/xml")
    assert isinstance(refused, Refused) and refused.kind is Refusal.FORBIDDEN
    [issue] = refused.issues
    line = next(n for n, text in enumerate(xml.decode().splitlines(), 1) if text.strip() == "<sender>")
    assert (issue.line, issue.column) == (line, 9)
    assert f"(XML line {line}, column 9)" in issue.diagnostics


@pytest.mark.parametrize(
    ("raw", "code", "says"),
    [
        (b"<Bundle", "structure", "not well-formed XML"),
        (b'<Patient xmlns="http://hl7.org/fhir"/>', "structure", "Bundle"),
        (b"<" + b"x" * 100, "too-costly", "the limit is 50"),
    ],
)
def test_xml_that_is_no_bundle_is_invalid(raw: bytes, code: str, says: str) -> None:
    refused = check(raw, sender_sor=HOSPITAL.sor, authenticated_as=BY_TOKEN, max_bytes=50)
    assert isinstance(refused, Refused) and refused.kind is Refusal.INVALID
    assert refused.issues[0].code == code
    assert says in refused.text

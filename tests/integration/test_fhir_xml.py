"""FHIR XML end to end: accepted at every FHIR connector, validated with the JSON rules (issues at the XML's line
and column), kept as it came, and delivered to each receiver in the format its register entry asks for.

The hub here has one receiver that takes XML (plejecenter-herlev) beside the JSON ones; the simulated XML
receiver reads the XML it is sent and answers in XML.
"""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from connectors.kafka_producer import publish_message
from hub.broker.clients import make_consumer, make_producer
from hub.broker.embedded import EmbeddedBroker
from hub.broker.records import IngressRecord
from hub.domain.message import read_facts
from hub.domain.outcome import ISSUE_COLUMN_EXTENSION, ISSUE_LINE_EXTENSION
from hub.fhirxml import jsontext
from hub.fhirxml.convert import document_of
from hub.fhirxml.writer import write_xml
from hub.settings import HubSettings
from tests.integration.hubtest import (
    HubUnderTest,
    eventually,
    fresh_message,
    post_message,
    running_hub,
    stin_template,
    wait_for_status,
)

pytestmark = pytest.mark.integration

XML = "application/fhir+xml"
XML_RECEIVER = "plejecenter-herlev"  # takes FHIR XML; herlev-hjerte and messaging-receiver take JSON


@pytest.fixture(scope="module")
async def xml_hub(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[HubUnderTest]:
    async with running_hub(
        bootstrap_servers=broker.bootstrap_servers,
        workdir=tmp_path_factory.mktemp("xml-hub"),
        topic_prefix="xml.",
        formats=f"{XML_RECEIVER}=xml",
        HUB_MAX_MESSAGE_BYTES=str(HubSettings().max_message_bytes),  # MedCom's 100 MB, not the test hubs' 10 MiB
    ) as started:
        yield started


@pytest.fixture
async def client(xml_hub: HubUnderTest) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=xml_hub.url, timeout=30) as opened:
        yield opened


def as_xml(bundle: dict[str, Any]) -> bytes:
    return write_xml(jsontext.loads(orjson.dumps(bundle)), pretty=True)


def received(hub: HubUnderTest, receiver: str, message_id: str) -> list[Any]:
    return [m for m in hub.receivers.received.get(receiver, []) if m.facts.message_id == message_id]


def acknowledgements_for(hub: HubUnderTest, receiver: str, message_id: str) -> list[Any]:
    return [
        m
        for m in hub.receivers.received.get(receiver, [])
        if m.facts.is_acknowledgement and m.facts.response and m.facts.response.identifier == message_id
    ]


def issue_place(issue: dict[str, Any]) -> tuple[int | None, int | None]:
    places = {e["url"]: e["valueInteger"] for e in issue.get("extension", [])}
    return places.get(ISSUE_LINE_EXTENSION), places.get(ISSUE_COLUMN_EXTENSION)


async def test_xml_to_an_xml_receiver_is_the_original_bytes_and_its_xml_answer_reaches_a_json_sender(
    xml_hub: HubUnderTest, client: httpx.AsyncClient, example_paths: list[Path]
) -> None:
    bundle = fresh_message(stin_template(example_paths))
    raw = as_xml(bundle)
    response = await post_message(client, raw, token=xml_hub.token("herlev-hjerte"), content_type=XML)
    assert response.status_code == 202, response.text
    tracking_id = response.headers["X-Hub-Tracking-Id"]
    await wait_for_status(client, tracking_id, "acknowledged", "failed", "rejected")
    record = await wait_for_status(client, tracking_id, "acknowledged")
    assert [r["acknowledgement"] for r in record["receivers"]] == ["ok"]

    message_id = bundle["entry"][0]["resource"]["id"]
    [delivered] = received(xml_hub, XML_RECEIVER, message_id)
    assert delivered.raw == raw  # what the sender sent, byte for byte
    assert delivered.content_type == XML
    # the XML receiver answered in XML; the JSON sender gets that acknowledgement as FHIR JSON
    [acknowledgement] = await eventually(lambda: acknowledgements_for(xml_hub, "herlev-hjerte", message_id))
    assert acknowledgement.content_type == "application/fhir+json"
    assert orjson.loads(acknowledgement.raw)["resourceType"] == "Bundle"

    # the archive keeps the message as it came in
    bundle_id = bundle["id"]
    kept = await client.get(
        f"/fhir/Bundle/{bundle_id}", headers={"Authorization": f"Bearer {xml_hub.token('herlev-hjerte')}"}
    )
    assert kept.status_code == 200, kept.text
    assert kept.content == raw and kept.headers["Content-Type"].startswith(XML)


# CareCommunications from the XML receiver's organisation to JSON receivers
@pytest.mark.parametrize(
    ("example", "content_type"), [("b56549f7", "text/xml"), ("c0426e3e", "application/xml; charset=utf-8")]
)
async def test_xml_to_a_json_receiver_is_a_faithful_conversion(
    xml_hub: HubUnderTest, client: httpx.AsyncClient, example_paths: list[Path], example: str, content_type: str
) -> None:
    original = orjson.loads(next(p for p in example_paths if example in p.name).read_bytes())
    bundle = fresh_message(original)
    facts = read_facts(bundle)
    [receiver] = [xml_hub.register.by_sor(d.organisation.sor) for d in facts.destinations if d.organisation]
    assert receiver is not None and receiver.id != XML_RECEIVER
    response = await post_message(client, as_xml(bundle), token=xml_hub.token(XML_RECEIVER), content_type=content_type)
    assert response.status_code == 202, response.text
    await wait_for_status(client, response.headers["X-Hub-Tracking-Id"], "acknowledged")
    [delivered] = received(xml_hub, receiver.id, facts.message_id or "")
    assert delivered.content_type == "application/fhir+json"
    assert jsontext.loads(delivered.raw) == jsontext.loads(orjson.dumps(bundle))
    # the JSON receiver's acknowledgement reaches the XML sender as XML
    [answer] = await eventually(lambda: acknowledgements_for(xml_hub, XML_RECEIVER, facts.message_id or ""))
    assert answer.content_type == XML and answer.raw.startswith(b"<?xml")


async def test_json_to_an_xml_receiver_is_converted_to_xml(
    xml_hub: HubUnderTest, client: httpx.AsyncClient, example_paths: list[Path]
) -> None:
    bundle = fresh_message(stin_template(example_paths))
    response = await post_message(client, bundle, token=xml_hub.token("herlev-hjerte"))
    assert response.status_code == 202, response.text
    await wait_for_status(client, response.headers["X-Hub-Tracking-Id"], "acknowledged")
    [delivered] = received(xml_hub, XML_RECEIVER, bundle["entry"][0]["resource"]["id"])
    assert delivered.content_type == XML
    assert delivered.raw.startswith(b"<?xml")
    assert document_of(delivered.raw) == bundle


async def test_an_invalid_xml_message_is_rejected_with_issues_at_its_line_and_column(
    xml_hub: HubUnderTest, client: httpx.AsyncClient, example_paths: list[Path]
) -> None:
    bundle = fresh_message(stin_template(example_paths))
    lines = as_xml(bundle).decode().splitlines()
    line = next(n for n, text in enumerate(lines, 1) if text == '  <type value="message"/>')
    lines[line - 1] = '  <type value="messages"/>'
    raw = "\n".join(lines).encode()
    response = await post_message(client, raw, token=xml_hub.token("herlev-hjerte"), content_type=XML)
    assert response.status_code == 202, response.text  # the envelope and sender are fine; validation follows
    record = await wait_for_status(client, response.headers["X-Hub-Tracking-Id"], "rejected")
    [issue] = [i for i in record["outcome"]["issue"] if i.get("expression") == ["Bundle.type"]]
    assert issue_place(issue) == (line, 3)
    assert f"(XML line {line}, column 3)" in issue["diagnostics"]
    # the sender's own system hears of it (a fatal-error acknowledgement)
    message_id = bundle["entry"][0]["resource"]["id"]
    [answer] = await eventually(lambda: acknowledgements_for(xml_hub, "herlev-hjerte", message_id))
    assert answer.facts.response.code == "fatal-error"


async def test_xml_whose_sender_cannot_be_told_is_refused_at_intake_with_its_line_and_column(
    xml_hub: HubUnderTest, client: httpx.AsyncClient, example_paths: list[Path]
) -> None:
    bundle = fresh_message(stin_template(example_paths))
    del bundle["entry"][0]["resource"]["sender"]
    response = await post_message(client, as_xml(bundle), token=xml_hub.token("herlev-hjerte"), content_type=XML)
    assert response.status_code == 400, response.text
    [issue] = response.json()["issue"]
    assert issue["code"] == "required"
    assert issue_place(issue)[0] is not None


HOSTILE = {
    "entity expansion": (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
        b'<Bundle xmlns="http://hl7.org/fhir"><id value="&lol2;"/></Bundle>',
        "security",
        "document type declaration",
    ),
    "external entity": (
        b'<?xml version="1.0"?><!DOCTYPE b [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b'<Bundle xmlns="http://hl7.org/fhir"><id value="&xxe;"/></Bundle>',
        "security",
        "document type declaration",
    ),
    "undeclared entity": (b'<Bundle xmlns="http://hl7.org/fhir"><id value="&xxe;"/></Bundle>', "structure", "entity"),
    "deep nesting": (
        b'<Bundle xmlns="http://hl7.org/fhir">' + b"<meta>" * 500 + b"</meta>" * 500 + b"</Bundle>",
        "too-costly",
        "nested more than 100",
    ),
    "not well-formed": (b'<Bundle xmlns="http://hl7.org/fhir">\n  <id value="x">\n</Bundle>', "structure", "line 3"),
    "another encoding": (
        b'<?xml version="1.0" encoding="ISO-8859-1"?><Bundle xmlns="http://hl7.org/fhir"/>',
        "structure",
        "UTF-8",
    ),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
async def test_hostile_xml_is_refused_with_a_clear_error(
    xml_hub: HubUnderTest, client: httpx.AsyncClient, name: str
) -> None:
    body, code, says = HOSTILE[name]
    response = await post_message(client, body, token=xml_hub.token("herlev-hjerte"), content_type=XML)
    assert response.status_code == 400, response.text
    [issue] = response.json()["issue"]
    assert issue["code"] == code
    assert says in issue["diagnostics"]
    assert issue_place(issue)[0] is not None
    assert (await client.get("/healthz")).status_code == 200


async def test_kafka_native_xml_is_recognised_with_or_without_a_content_type(
    xml_hub: HubUnderTest, client: httpx.AsyncClient, example_paths: list[Path]
) -> None:
    hospital = xml_hub.register.by_id("herlev-hjerte")
    assert hospital is not None
    declared, undeclared = (fresh_message(stin_template(example_paths)) for _ in range(2))
    producer = make_producer(xml_hub.bootstrap_servers, max_request_size=1024 * 1024)
    await producer.start()
    try:
        with_header = await publish_message(
            producer, xml_hub.topics.ingress, as_xml(declared), sender_sor=hospital.sor, content_type=XML
        )
        bare = IngressRecord(
            tracking_id=str(uuid.uuid4()),
            sender_sor=hospital.sor,
            received_at=datetime.now(UTC).isoformat(),
            connector="kafka",
            raw=as_xml(undeclared),
        )
        assert all(name != "content-type" for name, _ in bare.headers())
        await producer.send_and_wait(xml_hub.topics.ingress, value=bare.raw, key=b"x", headers=bare.headers())
    finally:
        await producer.stop()
    for tracking_id, bundle in ((with_header, declared), (bare.tracking_id, undeclared)):
        await wait_for_status(client, tracking_id, "acknowledged")
        [delivered] = received(xml_hub, XML_RECEIVER, bundle["entry"][0]["resource"]["id"])
        assert delivered.raw == as_xml(bundle)


async def test_a_large_xml_message_goes_through_to_both_formats(
    xml_hub: HubUnderTest, client: httpx.AsyncClient, example_paths: list[Path]
) -> None:
    """20 MB: past the old 10 MiB limit and past one partition fetch of the consumers (16 MiB)."""
    bundle = fresh_message(orjson.loads(next(p for p in example_paths if "b56549f7" in p.name).read_bytes()))
    communication = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Communication")
    attachment = next(p["contentAttachment"] for p in communication["payload"] if "contentAttachment" in p)
    attachment["data"] = base64.b64encode(os.urandom(15_000_000)).decode()
    raw = as_xml(bundle)
    assert len(raw) > 20_000_000
    response = await post_message(client, raw, token=xml_hub.token(XML_RECEIVER), content_type=XML)
    assert response.status_code == 202, response.text
    await wait_for_status(client, response.headers["X-Hub-Tracking-Id"], "acknowledged", timeout=120)
    [delivered] = received(xml_hub, "herlev-hjerte", bundle["entry"][0]["resource"]["id"])
    assert jsontext.loads(delivered.raw) == jsontext.loads(orjson.dumps(bundle))


async def test_a_record_of_the_default_size_limit_passes_the_broker(broker: EmbeddedBroker) -> None:
    """HUB_MAX_MESSAGE_BYTES' default (100 MB) and the headers fit what the hub's producer and consumers allow
    and what the embedded broker takes."""
    limit = HubSettings().max_message_bytes
    topic = f"xml.size-{uuid.uuid4().hex[:8]}"
    producer = make_producer(broker.bootstrap_servers, max_request_size=limit + 64 * 1024)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value=b"<" * limit, key=b"k", headers=[("content-type", XML.encode())])
    finally:
        await producer.stop()
    consumer = make_consumer(broker.bootstrap_servers, topic, group_id=topic, session_timeout_ms=10_000)
    await consumer.start()
    try:
        batches = await eventually(lambda: consumer.getmany(timeout_ms=1000))
        [[record]] = batches.values()
        assert len(record.value) == limit
    finally:
        await consumer.stop()

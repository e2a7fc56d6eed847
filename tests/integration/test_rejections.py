"""Bad input is answered with an OperationOutcome naming the fault; nothing accepted is lost."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from tests.integration.hubtest import HubUnderTest, eventually, post_message, wait_for_status

pytestmark = pytest.mark.integration


def load(paths: list[Path], fragment: str) -> dict[str, Any]:
    path = next(p for p in paths if fragment in p.name)
    result: dict[str, Any] = orjson.loads(path.read_bytes())
    return result


def organisation(bundle: dict[str, Any], reference: str) -> dict[str, Any]:
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if f"{resource['resourceType']}/{resource['id']}" == reference:
            return resource  # type: ignore[no-any-return]
    raise KeyError(reference)


def set_header_id(bundle: dict[str, Any], new_id: str) -> None:
    """Give the MessageHeader a new id, and everything that names it (fullUrl, Provenance.target) with it."""
    header = bundle["entry"][0]["resource"]
    old = header["id"]
    header["id"] = new_id
    bundle["entry"][0]["fullUrl"] = bundle["entry"][0]["fullUrl"].replace(old, new_id)
    for entry in bundle["entry"]:
        for target in entry["resource"].get("target", []):
            target["reference"] = target["reference"].replace(old, new_id)


def acknowledgements_to(hub: HubUnderTest, receiver: str, message_id: str) -> list[Any]:
    return [
        m
        for m in hub.receivers.received.get(receiver, [])
        if m.facts.is_acknowledgement and m.facts.response and m.facts.response.identifier == message_id
    ]


async def ingress_size(hub: HubUnderTest) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=hub.bootstrap_servers)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(hub.topics.ingress) or set()
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(hub.topics.ingress) or set()
        offsets = await consumer.end_offsets([TopicPartition(hub.topics.ingress, p) for p in partitions])
        return sum(offsets.values())
    finally:
        await consumer.stop()


async def test_malformed_message_is_rejected_and_its_sender_gets_a_fatal_error(
    hub: HubUnderTest, api: httpx.AsyncClient, example_paths: list[Path]
) -> None:
    bundle = load(example_paths, "a5e5b880")  # STIN from herlev-hjerte to plejecenter-herlev
    bundle["type"] = "collection"
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "Patient":
            entry["resource"]["identifier"][0]["value"] = "3213991234"  # no 32nd day
    set_header_id(bundle, "rejected-stin-1")
    response = await post_message(api, bundle, token=hub.token("herlev-hjerte"))
    assert response.status_code == 202
    tracking_id = response.headers["X-Hub-Tracking-Id"]

    record = await wait_for_status(api, tracking_id, "rejected")
    expressions = {e for issue in record["outcome"]["issue"] for e in issue.get("expression", [])}
    assert "Bundle.type" in expressions
    assert any("Patient" in e or "identifier" in e for e in expressions), expressions
    assert record["receivers"] == []  # nobody got it

    acks = await eventually(lambda: acknowledgements_to(hub, "herlev-hjerte", "rejected-stin-1"))
    assert acks[0].facts.response.code == "fatal-error"
    ack_bundle = orjson.loads(acks[0].raw)
    outcomes = [e["resource"] for e in ack_bundle["entry"] if e["resource"]["resourceType"] == "OperationOutcome"]
    assert outcomes and any("Bundle.type" in i.get("expression", []) for i in outcomes[0]["issue"])
    assert "plejecenter-herlev" not in {
        m.receiver for ms in hub.receivers.received.values() for m in ms if m.facts.message_id == "rejected-stin-1"
    }


async def test_message_for_an_unknown_receiver_is_tracked_as_failed(
    hub: HubUnderTest, api: httpx.AsyncClient, example_paths: list[Path]
) -> None:
    bundle = load(example_paths, "add5e7e2")  # care communication herlev-hjerte -> plejecenter-herlev
    header = bundle["entry"][0]["resource"]
    set_header_id(bundle, "to-nowhere-1")
    receiver = organisation(bundle, header["destination"][0]["receiver"]["reference"])
    for identifier in receiver["identifier"]:
        if identifier["system"] == "urn:oid:1.2.208.176.1.1":
            identifier["value"] = "999999999999999"
    response = await post_message(api, bundle, token=hub.token("herlev-hjerte"))
    assert response.status_code == 202, response.text
    record = await wait_for_status(api, response.headers["X-Hub-Tracking-Id"], "failed", "rejected")
    assert record["status"] == "failed", record
    failure = next(s for s in record["timeline"] if s["step"] == "routing-failed")
    issue = failure["detail"]["outcome"]["issue"][0]
    assert "999999999999999" in issue["diagnostics"]
    assert issue["expression"] == ["Bundle.entry[0].resource.destination[0].receiver"]
    acks = await eventually(lambda: acknowledgements_to(hub, "herlev-hjerte", "to-nowhere-1"))
    assert acks[0].facts.response.code == "fatal-error"


async def test_receiver_that_does_not_accept_the_event_is_a_routing_failure(
    hub: HubUnderTest, api: httpx.AsyncClient, example_paths: list[Path]
) -> None:
    bundle = copy.deepcopy(load(example_paths, "add5e7e2"))
    header = bundle["entry"][0]["resource"]
    set_header_id(bundle, "to-closed-gp-1")
    receiver = organisation(bundle, header["destination"][0]["receiver"]["reference"])
    receiver["identifier"] = [
        {"system": "https://www.gs1.org/gln", "value": "5790000484126"},
        {"system": "urn:oid:1.2.208.176.1.1", "value": "484121000016006"},
    ]
    response = await post_message(api, bundle, token=hub.token("herlev-hjerte"))
    record = await wait_for_status(api, response.headers["X-Hub-Tracking-Id"], "failed", "rejected")
    assert record["status"] == "failed", record
    failure = next(s for s in record["timeline"] if s["step"] == "routing-failed")
    assert "does not accept" in failure["detail"]["outcome"]["issue"][0]["diagnostics"]


@pytest.mark.parametrize(
    ("token", "status"),
    [(None, 401), ("not-a-real-token", 401)],
)
async def test_missing_or_wrong_token_is_refused_and_nothing_is_published(
    hub: HubUnderTest, api: httpx.AsyncClient, example_paths: list[Path], token: str | None, status: int
) -> None:
    before = await ingress_size(hub)
    response = await post_message(api, load(example_paths, "a5e5b880"), token=token)
    assert response.status_code == status
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == "login"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert await ingress_size(hub) == before


async def test_sender_posing_as_another_organisation_gets_403(
    hub: HubUnderTest, api: httpx.AsyncClient, example_paths: list[Path]
) -> None:
    before = await ingress_size(hub)
    # the message says herlev-hjerte sent it; the token is plejecenter-herlev's
    response = await post_message(api, load(example_paths, "a5e5b880"), token=hub.token("plejecenter-herlev"))
    assert response.status_code == 403
    issue = response.json()["issue"][0]
    assert issue["code"] == "security"
    assert issue["expression"] == ["Bundle.entry[0].resource.sender"]
    assert "265161000016000" in issue["diagnostics"]
    assert await ingress_size(hub) == before


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b'{"resourceType": "Bundle", "type": ', "application/fhir+json", 400, None),
        (b'["not", "an", "object"]', "application/fhir+json", 400, None),
        (b"<Bundle/>", "text/plain", 415, "not-supported"),
        (b"<Bundle/>", "application/fhir+xml", 400, "structure"),
        (b'{"resourceType": "Bundle", "type": "message", "entry": []}', "application/json", 400, "required"),
    ],
)
async def test_unusable_bodies_are_refused_with_an_outcome(
    hub: HubUnderTest, api: httpx.AsyncClient, body: bytes, content_type: str, status: int, code: str | None
) -> None:
    before = await ingress_size(hub)
    response = await post_message(api, body, token=hub.token("herlev-hjerte"), content_type=content_type)
    assert response.status_code == status, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["diagnostics"]
    if code:
        assert outcome["issue"][0]["code"] == code
    assert await ingress_size(hub) == before


async def test_too_large_message_gets_413(hub: HubUnderTest, api: httpx.AsyncClient) -> None:
    big = b'{"resourceType":"Bundle","pad":"' + b"x" * (11 * 1024 * 1024) + b'"}'
    response = await post_message(api, big, token=hub.token("herlev-hjerte"))
    assert response.status_code == 413
    assert response.json()["issue"][0]["code"] == "too-costly"

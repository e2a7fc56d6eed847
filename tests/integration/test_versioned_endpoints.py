"""Versioned endpoints through a real hub process: a receiver whose register entry takes CareCommunication only in
version 5.0 and HospitalNotification only in 3.0 gets a 5.0 CareCommunication, and the hub refuses one in 5.1 and a
HospitalNotification naming no version (MedCom's own example carries no MessageHeader.definition). The sender gets
a fatal-error acknowledgement whose issue carries MedCom's MSG_RECEIVER_UNABLE_TO_RECEIVE_MSG_TYPE at the
destination's FHIRPath, and the version in the diagnostics. (SQLite, and PostgreSQL with ``--database postgresql``.)"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml

from hub.broker.embedded import EmbeddedBroker, free_port
from hub.broker.topics import Topics
from hub.route.register import load_register
from hub.simulate.receivers import SimulatedReceivers
from tests.integration import hubtest
from tests.integration.hubtest import (
    TEST_ORGANISATIONS,
    HubProcess,
    HubUnderTest,
    eventually,
    fresh_message,
    hub_environment,
    post_message,
    stin_template,
    wait_for_status,
    write_register,
)
from tests.integration.test_rejections import acknowledgements_to, load

pytestmark = pytest.mark.integration

TOPIC_PREFIX = "versions."
RECEIVER = "plejecenter-herlev"
SENDER = "herlev-hjerte"
ACCEPTS = [
    "hospital-notification-message|3.0",
    {"care-communication-message": ["5.0"]},
    "acknowledgement-message",
    "empty-message",
]
SYSTEM = "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-acknowledgement-error-codes"


@asynccontextmanager
async def hub_with_versioned_receiver(broker: EmbeddedBroker, workdir: Path) -> AsyncIterator[HubUnderTest]:
    """The test register, with plejecenter-herlev taking named versions only, served by its own hub process."""
    tokens = {spec["id"]: f"tok-{spec['id']}-{secrets.token_hex(8)}" for spec in TEST_ORGANISATIONS}
    receivers_port, port = free_port(), free_port()
    register_file = workdir / "register.yaml"
    write_register(register_file, f"http://127.0.0.1:{receivers_port}", tokens)
    content = yaml.safe_load(register_file.read_text(encoding="utf-8"))
    (entry,) = [o for o in content["organisations"] if o["id"] == RECEIVER]
    entry["accepts"] = ACCEPTS
    register_file.write_text(yaml.safe_dump(content, sort_keys=False, allow_unicode=True), encoding="utf-8")
    register = load_register(register_file)
    url = f"http://127.0.0.1:{port}"
    receivers = SimulatedReceivers(register=register, hub_url=url, tokens=tokens)
    await receivers.start(port=receivers_port)
    environment = {
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
        "HUB_REGISTER_FILE": str(register_file),
        "HUB_DATABASE_URL": hubtest.new_database_url(workdir),
        "HUB_TOPIC_PREFIX": TOPIC_PREFIX,
        "HUB_CONSUMER_GROUP": f"{TOPIC_PREFIX}hub",
        "HUB_TOPIC_PARTITIONS": "4",
        "HUB_CONSUMER_SESSION_TIMEOUT_MS": "6000",
        "HUB_PORT": str(port),
    }
    process = HubProcess(hub_environment(**environment), url, workdir / "hub.log")
    try:
        await process.start()
        yield HubUnderTest(url, register, tokens, receivers, broker.bootstrap_servers, Topics(TOPIC_PREFIX), process)
    finally:
        if process.process is not None and process.process.poll() is None:
            await process.terminate(timeout=30)
        await receivers.stop()


@pytest.fixture(scope="module")
async def versioned_hub(
    broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[HubUnderTest]:
    async with hub_with_versioned_receiver(broker, tmp_path_factory.mktemp("versioned-hub")) as started:
        yield started


@pytest.fixture
async def client(versioned_hub: HubUnderTest) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=versioned_hub.url, timeout=30) as opened:
        yield opened


def care_communication(example_paths: list[Path], version: str) -> dict[str, Any]:
    """MedCom's CareCommunication example (herlev-hjerte to plejecenter-herlev), in `version`."""
    bundle = fresh_message(load(example_paths, "add5e7e2"))
    header = bundle["entry"][0]["resource"]
    url, _, shipped = header["definition"].rpartition("|")
    assert shipped == "5.0"
    header["definition"] = f"{url}|{version}"
    return bundle


async def fatal_error_issue(hub: HubUnderTest, message_id: str) -> dict[str, Any]:
    """The one OperationOutcome issue of the fatal-error acknowledgement the sender got for `message_id`."""
    (ack,) = await eventually(lambda: acknowledgements_to(hub, SENDER, message_id))
    assert ack.facts.response.code == "fatal-error"
    bundle = orjson.loads(ack.raw)
    (outcome,) = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "OperationOutcome"]
    (issue,) = outcome["issue"]
    assert isinstance(issue, dict)
    return issue


async def test_the_receivers_listing_shows_the_versions(client: httpx.AsyncClient) -> None:
    listing = (await client.get("/api/receivers")).json()
    (receiver,) = [o for o in listing["organisations"] if o["id"] == RECEIVER]
    assert receiver["accepts"] == [
        "acknowledgement-message",
        "care-communication-message",
        "empty-message",
        "hospital-notification-message",
    ]
    assert receiver["accepted_versions"] == {
        "care-communication-message": ["5.0"],
        "hospital-notification-message": ["3.0"],
    }


async def test_a_message_in_a_version_the_receiver_takes_is_delivered(
    versioned_hub: HubUnderTest, client: httpx.AsyncClient, example_paths: list[Path]
) -> None:
    bundle = care_communication(example_paths, "5.0")
    response = await post_message(client, bundle, token=versioned_hub.token(SENDER))
    assert response.status_code == 202, response.text
    await wait_for_status(client, response.headers["X-Hub-Tracking-Id"], "acknowledged")
    message_id = bundle["entry"][0]["resource"]["id"]
    received = versioned_hub.receivers.received.get(RECEIVER, [])
    assert [m.facts.message_id for m in received if m.facts.message_id == message_id] == [message_id]


async def test_a_version_the_receiver_does_not_take_is_refused_with_medcoms_code(
    versioned_hub: HubUnderTest, client: httpx.AsyncClient, example_paths: list[Path]
) -> None:
    bundle = care_communication(example_paths, "5.1")
    message_id = bundle["entry"][0]["resource"]["id"]
    response = await post_message(client, bundle, token=versioned_hub.token(SENDER))
    assert response.status_code == 202, response.text
    found = await wait_for_status(client, response.headers["X-Hub-Tracking-Id"], "failed")

    issue = await fatal_error_issue(versioned_hub, message_id)
    assert issue["code"] == "not-supported"
    assert issue["expression"] == ["Bundle.entry[0].resource.destination[0].receiver"]
    assert [(c["system"], c["code"]) for c in issue["details"]["coding"]] == [
        (SYSTEM, "MSG_RECEIVER_UNABLE_TO_RECEIVE_MSG_TYPE")
    ]
    assert "953741000016009" in issue["details"]["text"]  # the receiver, by its SOR code
    assert "does not take version 5.1 of 'care-communication-message'" in issue["diagnostics"]
    assert "it takes version 5.0" in issue["diagnostics"]
    assert not [m for m in versioned_hub.receivers.received.get(RECEIVER, []) if m.facts.message_id == message_id]
    assert found["status"] == "failed"


async def test_a_message_naming_no_version_is_refused_by_a_receiver_that_names_versions(
    versioned_hub: HubUnderTest, client: httpx.AsyncClient, example_paths: list[Path]
) -> None:
    bundle = fresh_message(stin_template(example_paths))  # MedCom's STIN: no MessageHeader.definition
    assert "definition" not in bundle["entry"][0]["resource"]
    message_id = bundle["entry"][0]["resource"]["id"]
    response = await post_message(client, bundle, token=versioned_hub.token(SENDER))
    assert response.status_code == 202, response.text
    await wait_for_status(client, response.headers["X-Hub-Tracking-Id"], "failed")

    issue = await fatal_error_issue(versioned_hub, message_id)
    assert [c["code"] for c in issue["details"]["coding"]] == ["MSG_RECEIVER_UNABLE_TO_RECEIVE_MSG_TYPE"]
    assert "names no version (MessageHeader.definition is missing)" in issue["diagnostics"]

"""Versioned endpoints through a real hub process: a receiver whose register entry takes CareCommunication only in
version 5.0 and HospitalNotification only in 3.0 gets a 5.0 CareCommunication, and the hub refuses one in 5.1 and a
HospitalNotification naming no version (MedCom's own example carries no MessageHeader.definition). The sender gets
a fatal-error acknowledgement whose issue carries MedCom's MSG_RECEIVER_UNABLE_TO_RECEIVE_MSG_TYPE at the
destination's FHIRPath, and the version in the diagnostics. (SQLite, and PostgreSQL with ``--database postgresql``.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from hub.broker.embedded import EmbeddedBroker
from tests.integration.hubtest import (
    HubUnderTest,
    eventually,
    fresh_message,
    post_message,
    running_hub,
    stin_template,
    wait_for_status,
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


@pytest.fixture(scope="module")
async def versioned_hub(
    broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[HubUnderTest]:
    """The test register, with plejecenter-herlev taking named versions only, served by its own hub process."""
    async with running_hub(
        bootstrap_servers=broker.bootstrap_servers,
        workdir=tmp_path_factory.mktemp("versioned-hub"),
        topic_prefix=TOPIC_PREFIX,
        accepts={RECEIVER: ACCEPTS},
    ) as hub:
        yield hub


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

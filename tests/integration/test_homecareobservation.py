"""HomeCareObservation through a real hub process: a municipality's acute care team sends its test results to the
patient's GP (the MessageDefinition's one receiver); the GP gets the message and its acknowledgement reaches the
municipality; a message broken against the profile is refused with the FHIRPath of the rule. (SQLite, and
PostgreSQL with ``--database postgresql``.)"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import pytest
import yaml

from hub.broker.embedded import EmbeddedBroker, free_port
from hub.broker.topics import Topics
from hub.domain.homecare import HOMECARE_OBSERVATION_EVENT
from hub.route.register import load_register
from hub.simulate.generator import MessageGenerator
from hub.simulate.receivers import SimulatedReceivers
from tests.integration import hubtest
from tests.integration.hubtest import (
    TEST_ORGANISATIONS,
    HubProcess,
    HubUnderTest,
    eventually,
    hub_environment,
    post_message,
    wait_for_status,
    write_register,
)
from tests.integration.test_rejections import acknowledgements_to

pytestmark = pytest.mark.integration

TOPIC_PREFIX = "homecare."
MUNICIPALITY = "plejecenter-herlev"
GP = "messaging-receiver"


@asynccontextmanager
async def hub_with_homecare_gp(broker: EmbeddedBroker, workdir: Path) -> AsyncIterator[HubUnderTest]:
    """The test register, with the GP messaging-receiver also taking HomeCareObservation, in its own hub."""
    tokens = {spec["id"]: f"tok-{spec['id']}-{secrets.token_hex(8)}" for spec in TEST_ORGANISATIONS}
    receivers_port, port = free_port(), free_port()
    register_file = workdir / "register.yaml"
    write_register(register_file, f"http://127.0.0.1:{receivers_port}", tokens)
    content = yaml.safe_load(register_file.read_text(encoding="utf-8"))
    (entry,) = [o for o in content["organisations"] if o["id"] == GP]
    entry["accepts"] = [*entry["accepts"], f"{HOMECARE_OBSERVATION_EVENT}|1.1"]
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
async def homecare_hub(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[HubUnderTest]:
    async with hub_with_homecare_gp(broker, tmp_path_factory.mktemp("homecare-hub")) as started:
        yield started


@pytest.fixture
async def client(homecare_hub: HubUnderTest) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=homecare_hub.url, timeout=30) as opened:
        yield opened


def homecare_message(hub: HubUnderTest) -> dict[str, object]:
    by_id = {o.id: o for o in hub.register.organisations}
    return MessageGenerator().homecare_observation(
        sender=by_id[MUNICIPALITY].ref, receiver=by_id[GP].ref, now=datetime.now(UTC)
    )


async def test_the_municipalitys_results_reach_the_gp_and_are_acknowledged(
    homecare_hub: HubUnderTest, client: httpx.AsyncClient
) -> None:
    bundle = homecare_message(homecare_hub)
    message_id = bundle["entry"][0]["resource"]["id"]  # type: ignore[index]
    response = await post_message(client, bundle, token=homecare_hub.token(MUNICIPALITY))
    assert response.status_code == 202, response.text
    found = await wait_for_status(client, response.headers["X-Hub-Tracking-Id"], "acknowledged")
    assert [d["receiver"] for d in found["receivers"]] == [GP]
    received = [m for m in homecare_hub.receivers.received.get(GP, []) if m.facts.message_id == message_id]
    assert [m.facts.event for m in received] == [HOMECARE_OBSERVATION_EVENT]
    assert orjson.loads(received[0].raw)["entry"][0]["resource"]["id"] == message_id
    (ack,) = await eventually(lambda: acknowledgements_to(homecare_hub, MUNICIPALITY, message_id))
    assert ack.facts.response.code == "ok"


async def test_a_message_broken_against_the_profile_is_refused_at_the_rule(
    homecare_hub: HubUnderTest, client: httpx.AsyncClient
) -> None:
    bundle = homecare_message(homecare_hub)
    entries = bundle["entry"]
    assert isinstance(entries, list)
    message_id = entries[0]["resource"]["id"]
    (at,) = [i for i, e in enumerate(entries) if e["resource"]["resourceType"] == "DiagnosticReport"]
    entries[at]["resource"]["status"] = "preliminary"  # the profile: status = #final
    response = await post_message(client, bundle, token=homecare_hub.token(MUNICIPALITY))
    assert response.status_code == 202, response.text
    record = await wait_for_status(client, response.headers["X-Hub-Tracking-Id"], "rejected")
    where = f"Bundle.entry[{at}].resource.status"
    assert any(
        issue.get("expression") == [where] and "medcom-homecareobservation-diagnosticreport" in issue["diagnostics"]
        for issue in record["outcome"]["issue"]
    ), record["outcome"]
    assert record["receivers"] == []
    (ack,) = await eventually(lambda: acknowledgements_to(homecare_hub, MUNICIPALITY, message_id))
    assert ack.facts.response.code == "fatal-error"
    assert not [m for m in homecare_hub.receivers.received.get(GP, []) if m.facts.message_id == message_id]

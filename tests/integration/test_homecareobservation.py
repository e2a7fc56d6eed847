"""HomeCareObservation through a real hub process: a municipality's acute care team sends its test results to the
patient's GP (the MessageDefinition's one receiver); the GP gets the message and its acknowledgement reaches the
municipality; a message broken against the profile is refused with the FHIRPath of the rule. (SQLite, and
PostgreSQL with ``--database postgresql``.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import orjson
import pytest

from hub.broker.embedded import EmbeddedBroker
from hub.domain.homecare import HOMECARE_OBSERVATION_EVENT
from hub.simulate.generator import MessageGenerator
from tests.integration.hubtest import (
    ALL_EVENTS,
    TEST_ORGANISATIONS,
    HubUnderTest,
    eventually,
    post_message,
    running_hub,
    wait_for_status,
)
from tests.integration.test_rejections import acknowledgements_to

pytestmark = pytest.mark.integration

TOPIC_PREFIX = "homecare."
MUNICIPALITY = "plejecenter-herlev"
GP = "messaging-receiver"


@pytest.fixture(scope="module")
async def homecare_hub(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[HubUnderTest]:
    """The test register, with the GP messaging-receiver also taking HomeCareObservation, in its own hub."""
    (gp_accepts,) = [spec.get("accepts", ALL_EVENTS) for spec in TEST_ORGANISATIONS if spec["id"] == GP]
    async with running_hub(
        bootstrap_servers=broker.bootstrap_servers,
        workdir=tmp_path_factory.mktemp("homecare-hub"),
        topic_prefix=TOPIC_PREFIX,
        accepts={GP: [*gp_accepts, f"{HOMECARE_OBSERVATION_EVENT}|1.1"]},
    ) as hub:
        yield hub


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

"""One embedded broker, one hub process and one set of simulated receivers for the whole session.

The hub runs as a real process (``python -m hub serve``) against the real embedded broker; receivers are
real HTTP servers in the test process that acknowledge what they get through the hub's ingest.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from hub.broker.embedded import EmbeddedBroker
from hub.broker.topics import Topics, ensure_topics
from tests.integration import hubtest
from tests.integration.hubtest import OPERATOR_TOKEN, HubUnderTest, running_hub

TOPIC_PREFIX = "itest."


@pytest.fixture(scope="session", autouse=True)
def hubs_use_the_chosen_database(new_database_url: Callable[[Path], str]) -> Iterator[None]:
    """Every hub under test, also those a test starts itself, gets its database from the session's choice."""
    hubtest.new_database_url = new_database_url
    yield
    hubtest.new_database_url = hubtest._sqlite_file


@pytest.fixture(scope="session")
async def broker(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[EmbeddedBroker]:
    async with EmbeddedBroker(log_file=tmp_path_factory.mktemp("broker") / "broker.log") as running:
        await ensure_topics(running.bootstrap_servers, Topics(TOPIC_PREFIX), partitions=4)
        yield running


@pytest.fixture(scope="session")
async def hub(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[HubUnderTest]:
    async with running_hub(
        bootstrap_servers=broker.bootstrap_servers, workdir=tmp_path_factory.mktemp("hub"), topic_prefix=TOPIC_PREFIX
    ) as started:
        yield started


@pytest.fixture(scope="session")
async def guarded_hub(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[HubUnderTest]:
    """A second hub process, as production runs it: the operator API needs the operator token (OPERATOR_TOKEN)."""
    async with running_hub(
        bootstrap_servers=broker.bootstrap_servers,
        workdir=tmp_path_factory.mktemp("guarded-hub"),
        topic_prefix="guarded.",
        HUB_OPERATOR_TOKEN=OPERATOR_TOKEN,
    ) as started:
        yield started


@pytest.fixture
async def api(hub: HubUnderTest) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=hub.url, timeout=30) as client:
        yield client

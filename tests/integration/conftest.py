"""One embedded broker, one hub process and one set of simulated receivers for the whole session.

The hub runs as a real process (``python -m hub serve``) against the real embedded broker; receivers are
real HTTP servers in the test process that acknowledge what they get through the hub's ingest.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from hubtest import TEST_ORGANISATIONS, HubUnderTest, write_register

from hub.broker.embedded import EmbeddedBroker, free_port
from hub.broker.topics import Topics, ensure_topics
from hub.route.register import load_register
from hub.simulate.receivers import SimulatedReceivers

ROOT = Path(__file__).resolve().parents[2]
TOPIC_PREFIX = "itest."


@pytest.fixture(scope="session")
async def broker(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[EmbeddedBroker]:
    async with EmbeddedBroker(log_file=tmp_path_factory.mktemp("broker") / "broker.log") as running:
        await ensure_topics(running.bootstrap_servers, Topics(TOPIC_PREFIX), partitions=4)
        yield running


async def wait_until_ready(url: str, process: subprocess.Popen[bytes], log_file: Path, timeout: float = 60) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with httpx.AsyncClient() as client:
        while loop.time() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"hub exited with {process.returncode}:\n{log_file.read_text()[-4000:]}")
            try:
                if (await client.get(f"{url}/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"hub not ready within {timeout} s:\n{log_file.read_text()[-4000:]}")


def hub_environment(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "KAFKA_"))}
    env.update(overrides)
    return env


@pytest.fixture(scope="session")
async def hub(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[HubUnderTest]:
    workdir = tmp_path_factory.mktemp("hub")
    tokens = {spec["id"]: f"tok-{spec['id']}-{secrets.token_hex(8)}" for spec in TEST_ORGANISATIONS}
    receivers_port, hub_port = free_port(), free_port()
    receivers_url = f"http://127.0.0.1:{receivers_port}"
    register_file = workdir / "register.yaml"
    write_register(register_file, receivers_url, tokens)
    register = load_register(register_file)
    url = f"http://127.0.0.1:{hub_port}"
    receivers = SimulatedReceivers(register=register, hub_url=url, tokens=tokens)
    await receivers.start(port=receivers_port)

    log_file = workdir / "hub.log"
    env = hub_environment(
        HUB_PORT=str(hub_port),
        KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap_servers,
        HUB_REGISTER_FILE=str(register_file),
        HUB_DATABASE_URL=f"sqlite+aiosqlite:///{workdir / 'hub.sqlite3'}",
        HUB_TOPIC_PREFIX=TOPIC_PREFIX,
        HUB_TOPIC_PARTITIONS="4",
        HUB_CONSUMER_SESSION_TIMEOUT_MS="6000",
        HUB_DELIVERY_RETRY_SECONDS="3",
        HUB_DELIVERY_BASE_DELAY_SECONDS="0.1",
        HUB_DELIVERY_TIMEOUT_SECONDS="5",
    )
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "hub", "serve"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        await wait_until_ready(url, process, log_file)
        yield HubUnderTest(url, register, tokens, receivers, broker.bootstrap_servers, Topics(TOPIC_PREFIX), log_file)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        await receivers.stop()


@pytest.fixture
async def api(hub: HubUnderTest) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=hub.url, timeout=30) as client:
        yield client

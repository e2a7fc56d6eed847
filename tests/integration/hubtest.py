"""Helpers for the integration tests: the test register, the hub under test, polling."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml

from hub.broker.embedded import free_port
from hub.broker.topics import Topics
from hub.route.register import (
    Register,
    hash_token,
    load_register,
)
from hub.simulate.receivers import Behaviour, SimulatedReceivers

ROOT = Path(__file__).resolve().parents[2]


def _sqlite_file(workdir: Path) -> str:
    return f"sqlite+aiosqlite:///{workdir / 'hub.sqlite3'}"


# The database each hub under test gets: a SQLite file in its work directory, unless the session chose
# PostgreSQL (`pytest --database postgresql`; tests/integration/conftest.py sets this then)
new_database_url: Callable[[Path], str] = _sqlite_file

# the operator token of the hub the tests start with one (tests/integration/conftest.py `guarded_hub`)
OPERATOR_TOKEN = "test-operator-token"

ALL_EVENTS = [
    "hospital-notification-message",
    "care-communication-message",
    "acknowledgement-message",
    "empty-message",
]

# The organisations of the official MedCom examples, plus a mailbox GP and a GP that takes nothing but
# acknowledgements. Hub SOR and GLNs are test values. Every organisation has a GLN: a MedCom Organization carries
# its SOR code and its GLN (medcom-messaging-organization), also in the messages the hub makes for it.
TEST_ORGANISATIONS: list[dict[str, Any]] = [
    {
        "id": "herlev-hjerte",
        "name": "Hjerteafdelingen, Herlev og Gentofte",
        "kind": "hospital",
        "sor": "265161000016000",
        "gln": "5790000209354",
    },
    {
        "id": "plejecenter-herlev",
        "name": "Plejecenter Herlev",
        "kind": "municipality",
        "sor": "953741000016009",
        "gln": "5790001348120",
        "municipality_code": "163",
    },
    {
        "id": "forward-receiver",
        "name": "Forwarded-to organisation",
        "kind": "municipality",
        "sor": "1042981000016003",
        "gln": "5790001042981",
        "municipality_code": "101",
    },
    {
        "id": "messaging-sender",
        "name": "Sender Organization",
        "kind": "hospital",
        "sor": "123456789012345",
        "gln": "5790001382445",
    },
    {
        "id": "messaging-receiver",
        "name": "Receiver Organization",
        "kind": "gp",
        "sor": "543210987654321",
        "gln": "5790000121526",
    },
    {
        "id": "mailbox-gp",
        "name": "Lægehuset med postkasse",
        "kind": "gp",
        "sor": "484111000016003",
        "gln": "5790000484119",
        "mailbox": True,
    },
    {
        "id": "closed-gp",
        "name": "Lægehuset der kun tager kvitteringer",
        "kind": "gp",
        "sor": "484121000016006",
        "gln": "5790000484126",
        "accepts": ["acknowledgement-message"],
    },
]

# Who may subscribe to what in the test register (hub.route.subscription_policy): the demo's two rules, and one
# for the tests only, which lets a hospital subscribe to hospital notifications from a named sender.
TEST_SUBSCRIPTION_POLICY: list[dict[str, Any]] = [
    {
        "rule": "municipality-of-residence",
        "kind": "municipality",
        "events": ["hospital-notification-message"],
        "requires": {"municipality_code": "own"},
        "basis": "MedCom HospitalNotification guideline: sent to the patient's municipality of residence",
    },
    {
        "rule": "gp-listed-patients",
        "kind": "gp",
        "events": ["hospital-notification-message"],
        "requires": {"gp_list": "own"},
        "basis": "the patient is listed at the subscribing practice",
    },
    {
        "rule": "test-hospital-by-sender",
        "kind": "hospital",
        "events": ["hospital-notification-message"],
        "requires": {"sender": "any"},
        "basis": "test register only: exercises the sender and criteria filters",
    },
]


class HubProcess:
    """A real ``python -m hub serve`` process; can be killed, stopped gracefully and started again."""

    def __init__(self, env: dict[str, str], url: str, log_file: Path) -> None:
        self.env = env
        self.url = url
        self.log_file = log_file
        self.process: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "hub", "serve"], cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        await self._wait_until_ready()

    async def _wait_until_ready(self, timeout: float = 60) -> None:
        assert self.process is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with httpx.AsyncClient() as client:
            while loop.time() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"hub exited with {self.process.returncode}:\n{self.log_tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{self.url}/readyz")).status_code == 200:
                        return
                await asyncio.sleep(0.2)
        raise RuntimeError(f"hub not ready within {timeout} s:\n{self.log_tail()}")

    def log_tail(self, size: int = 6000) -> str:
        return self.log_file.read_text(errors="replace")[-size:]

    def kill(self) -> None:
        """SIGKILL: no chance to finish anything."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    async def terminate(self, timeout: float = 60) -> int:
        """SIGTERM: the graceful way; returns the exit code."""
        assert self.process is not None
        self.process.terminate()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.process.poll() is None:
            if loop.time() > deadline:
                self.process.kill()
                break
            await asyncio.sleep(0.1)
        return self.process.wait()


@dataclass
class HubUnderTest:
    url: str
    register: Register
    tokens: dict[str, str]
    receivers: SimulatedReceivers
    bootstrap_servers: str
    topics: Topics
    process: HubProcess

    def token(self, organisation_id: str) -> str:
        return self.tokens[organisation_id]


def hub_environment(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "KAFKA_"))}
    env.update(overrides)
    return env


@asynccontextmanager
async def running_hub(
    *,
    bootstrap_servers: str,
    workdir: Path,
    topic_prefix: str,
    behaviour: Behaviour | None = None,
    formats: str = "",
    accepts: Mapping[str, Sequence[Any]] | None = None,
    **settings: str,
) -> AsyncIterator[HubUnderTest]:
    """A hub process with its own register, receivers, database, topics and consumer groups; `formats`: the FHIR
    format of the endpoints that do not take the default JSON, as ``organisation=xml`` pairs separated by commas
    (a string, as the settings are)."""
    async with running_hubs(
        1,
        bootstrap_servers=bootstrap_servers,
        workdir=workdir,
        topic_prefix=topic_prefix,
        behaviour=behaviour,
        formats=formats,
        accepts=accepts,
        **settings,
    ) as hubs:
        yield hubs[0]


@asynccontextmanager
async def running_hubs(
    count: int,
    *,
    bootstrap_servers: str,
    workdir: Path,
    topic_prefix: str,
    behaviour: Behaviour | None = None,
    formats: str = "",
    accepts: Mapping[str, Sequence[Any]] | None = None,
    **settings: str,
) -> AsyncIterator[list[HubUnderTest]]:
    """`count` hub processes as production runs them side by side: one register, database, set of topics and
    consumer group, and one set of receivers (whose acknowledgements go to the first process). `accepts` replaces
    the test register's accepts of the organisations it names."""
    workdir.mkdir(parents=True, exist_ok=True)
    tokens = {spec["id"]: f"tok-{spec['id']}-{secrets.token_hex(8)}" for spec in TEST_ORGANISATIONS}
    receivers_port, hub_ports = free_port(), [free_port() for _ in range(count)]
    register_file = workdir / "register.yaml"
    endpoint_formats = dict(pair.split("=", 1) for pair in formats.split(",") if pair)
    write_register(
        register_file, f"http://127.0.0.1:{receivers_port}", tokens, formats=endpoint_formats, accepts=accepts
    )
    register = load_register(register_file)
    urls = [f"http://127.0.0.1:{port}" for port in hub_ports]
    receivers = SimulatedReceivers(register=register, hub_url=urls[0], tokens=tokens, behaviour=behaviour)
    await receivers.start(port=receivers_port)
    environment = {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
        "HUB_REGISTER_FILE": str(register_file),
        "HUB_DATABASE_URL": new_database_url(workdir),
        "HUB_TOPIC_PREFIX": topic_prefix,
        "HUB_CONSUMER_GROUP": f"{topic_prefix}hub",
        "HUB_TOPIC_PARTITIONS": "4",
        "HUB_CONSUMER_SESSION_TIMEOUT_MS": "6000",
        "HUB_DELIVERY_RETRY_SECONDS": "3",
        "HUB_DELIVERY_BASE_DELAY_SECONDS": "0.1",
        "HUB_DELIVERY_MAX_DELAY_SECONDS": "1",
        "HUB_DELIVERY_TIMEOUT_SECONDS": "5",
        # the size-limit tests send bodies past the limit: 10 MiB keeps them quick (the default is MedCom's 100 MB)
        "HUB_MAX_MESSAGE_BYTES": str(10 * 1024 * 1024),
        **settings,
    }
    processes = [
        HubProcess(
            hub_environment(**environment, HUB_PORT=str(port)),
            url,
            workdir / ("hub.log" if count == 1 else f"hub-{number}.log"),
        )
        for number, (port, url) in enumerate(zip(hub_ports, urls, strict=True), start=1)
    ]
    try:
        for process in processes:  # one after the other: the first migrates the new database
            await process.start()
        yield [
            HubUnderTest(url, register, tokens, receivers, bootstrap_servers, Topics(topic_prefix), process)
            for url, process in zip(urls, processes, strict=True)
        ]
    finally:
        for process in processes:
            if process.process is not None and process.process.poll() is None:
                await process.terminate(timeout=30)
        await receivers.stop()


def write_register(
    path: Path,
    receivers_url: str,
    tokens: dict[str, str],
    *,
    formats: Mapping[str, str] | None = None,
    accepts: Mapping[str, Sequence[Any]] | None = None,
) -> None:
    organisations = []
    for spec in TEST_ORGANISATIONS:
        entry = {k: v for k, v in spec.items() if k not in ("mailbox", "accepts")}
        entry["token_sha256"] = hash_token(tokens[spec["id"]])
        entry["endpoint"] = (
            {"kind": "mailbox"}
            if spec.get("mailbox")
            else {"kind": "http", "url": f"{receivers_url}/receivers/{spec['id']}", "bearer_token": "test-push"}
        )
        if formats and spec["id"] in formats:
            entry["endpoint"]["format"] = formats[spec["id"]]
        entry["accepts"] = list((accepts or {}).get(spec["id"], spec.get("accepts", ALL_EVENTS)))
        organisations.append(entry)
    content = {
        "hub": {"name": "Sektor-hub (test)", "sor": "881531000016009"},
        "organisations": organisations,
        "subscription_policy": TEST_SUBSCRIPTION_POLICY,
    }
    path.write_text(yaml.safe_dump(content, sort_keys=False, allow_unicode=True), encoding="utf-8")


async def eventually(check: Callable[[], Any], *, timeout: float = 60.0, interval: float = 0.2) -> Any:
    """Poll `check` (sync or async) until it returns a truthy value; the last value is returned or raised."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s; last value: {result!r}")
        await asyncio.sleep(interval)


async def post_message(
    client: httpx.AsyncClient,
    body: bytes | dict[str, Any],
    *,
    token: str | None,
    content_type: str = "application/fhir+json",
) -> httpx.Response:
    headers = {"Content-Type": content_type}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return await client.post("/fhir/$process-message", content=raw, headers=headers)


async def message_status(client: httpx.AsyncClient, tracking_id: str) -> dict[str, Any] | None:
    response = await client.get(f"/api/messages/{tracking_id}")
    return response.json() if response.status_code == 200 else None


async def wait_for_status(
    client: httpx.AsyncClient, tracking_id: str, *statuses: str, timeout: float = 60.0
) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        found = await message_status(client, tracking_id)
        return found if found and found.get("status") in statuses else None

    result: dict[str, Any] = await eventually(reached, timeout=timeout)
    return result


def stin_template(example_paths: list[Path]) -> dict[str, Any]:
    """MedCom's STIN example, from herlev-hjerte to plejecenter-herlev (both in the test register)."""
    path = next(p for p in example_paths if "a5e5b880" in p.name)
    bundle: dict[str, Any] = orjson.loads(path.read_bytes())
    return bundle


def fresh_message(template: dict[str, Any], header_id: str | None = None) -> dict[str, Any]:
    """The template with a new Bundle.id and MessageHeader.id (and everything that names the header), so the hub
    takes it as a new message rather than a resend."""
    bundle = copy.deepcopy(template)
    bundle["id"] = str(uuid.uuid4())
    header = bundle["entry"][0]["resource"]
    old, new = header["id"], header_id or str(uuid.uuid4())
    header["id"] = new
    bundle["entry"][0]["fullUrl"] = bundle["entry"][0]["fullUrl"].replace(old, new)
    for entry in bundle["entry"]:
        for target in entry["resource"].get("target", []):
            target["reference"] = target["reference"].replace(old, new)
    return bundle

"""Helpers for the integration tests: the test register, the hub under test, polling."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml

from hub.broker.topics import Topics
from hub.route.register import Register, hash_token
from hub.simulate.receivers import SimulatedReceivers

ALL_EVENTS = [
    "hospital-notification-message",
    "care-communication-message",
    "acknowledgement-message",
    "empty-message",
]

# The organisations of the official MedCom examples, plus a mailbox GP and a GP that takes nothing but
# acknowledgements. Hub SOR and GLNs are test values.
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
    {"id": "forward-receiver", "name": "Forwarded-to organisation", "kind": "municipality", "sor": "1042981000016003"},
    {"id": "messaging-sender", "name": "Sender Organization", "kind": "hospital", "sor": "123456789012345"},
    {"id": "messaging-receiver", "name": "Receiver Organization", "kind": "gp", "sor": "543210987654321"},
    {"id": "mailbox-gp", "name": "Lægehuset med postkasse", "kind": "gp", "sor": "484111000016003", "mailbox": True},
    {
        "id": "closed-gp",
        "name": "Lægehuset der kun tager kvitteringer",
        "kind": "gp",
        "sor": "484121000016006",
        "accepts": ["acknowledgement-message"],
    },
]


@dataclass
class HubUnderTest:
    url: str
    register: Register
    tokens: dict[str, str]
    receivers: SimulatedReceivers
    bootstrap_servers: str
    topics: Topics
    log_file: Path

    def token(self, organisation_id: str) -> str:
        return self.tokens[organisation_id]


def write_register(path: Path, receivers_url: str, tokens: dict[str, str]) -> None:
    organisations = []
    for spec in TEST_ORGANISATIONS:
        entry = {k: v for k, v in spec.items() if k not in ("mailbox", "accepts")}
        entry["token_sha256"] = hash_token(tokens[spec["id"]])
        entry["endpoint"] = (
            {"kind": "mailbox"}
            if spec.get("mailbox")
            else {"kind": "http", "url": f"{receivers_url}/receivers/{spec['id']}", "bearer_token": "test-push"}
        )
        entry["accepts"] = spec.get("accepts", ALL_EVENTS)
        organisations.append(entry)
    content = {"hub": {"name": "Sektor-hub (test)", "sor": "881531000016009"}, "organisations": organisations}
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

"""The HTTP edge of a running hub: bodies counted while they stream, bounded parameters, and every refusal an
OperationOutcome with the right status (401 with an RFC 6750 challenge, 403, 404, 405, 413).

The hub under test has an operator token, as in production, so the operator API needs it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from hub.api.body_limit import API_BODY_LIMIT_BYTES
from hub.simulate.generator import MessageGenerator
from tests.integration.hubtest import OPERATOR_TOKEN, HubUnderTest

pytestmark = pytest.mark.integration

LIMIT = 10 * 1024 * 1024  # HUB_MAX_MESSAGE_BYTES of the test hubs (tests.integration.hubtest)
MIB = 1024 * 1024


@pytest.fixture
async def client(guarded_hub: HubUnderTest) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=guarded_hub.url, timeout=60) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_outcome(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/fhir+json"), response.headers
    body: dict[str, Any] = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == code, body
    return body


# --- size limits while reading ------------------------------------------------------------------------------


def memory_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for process {pid}")


def reset_peak_memory(pid: int) -> bool:
    """Start VmHWM (the peak resident set) again from the current RSS (Linux: clear_refs 5)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


async def endless_body(total: int, chunk: bytes = b"{" * 65_536) -> AsyncIterator[bytes]:
    """``total`` bytes, made as they are sent: httpx sends them chunked, with no Content-Length."""
    sent = 0
    while sent < total:
        yield chunk
        sent += len(chunk)


async def test_large_chunked_bodies_are_refused_while_they_stream_and_memory_stays_bounded(
    guarded_hub: HubUnderTest, client: httpx.AsyncClient
) -> None:
    assert guarded_hub.process.process is not None
    pid = guarded_hub.process.process.pid
    before = memory_kib(pid, "VmRSS")
    measured_peak = reset_peak_memory(pid)
    samples = [before]
    done = asyncio.Event()

    async def sample() -> None:  # also where clear_refs is not allowed: the largest RSS seen
        while not done.is_set():
            samples.append(memory_kib(pid, "VmRSS"))
            await asyncio.sleep(0.02)

    async def post_huge() -> httpx.Response:
        headers = {**bearer(guarded_hub.token("herlev-hjerte")), "Content-Type": "application/fhir+json"}
        return await client.post("/fhir/$process-message", content=endless_body(200 * MIB), headers=headers)

    sampler = asyncio.create_task(sample())
    try:
        responses = await asyncio.gather(*(post_huge() for _ in range(3)))
    finally:
        done.set()
        await sampler
    for response in responses:
        body = assert_outcome(response, 413, "too-costly")
        assert str(LIMIT) in body["issue"][0]["diagnostics"]
    peak = max(max(samples), memory_kib(pid, "VmHWM") if measured_peak else 0)
    grown_mib = (peak - before) / 1024
    # 600 MiB were sent; at most the limit is held per request (and one copy of it), plus the server's buffers
    assert grown_mib < 3 * 2 * LIMIT / MIB + 40, f"the hub grew by {grown_mib:.0f} MiB"
    assert (await client.get("/healthz")).status_code == 200  # and it is still there


async def test_declared_length_over_the_limit_is_refused_before_the_body(
    guarded_hub: HubUnderTest, client: httpx.AsyncClient
) -> None:
    headers = {
        **bearer(guarded_hub.token("herlev-hjerte")),
        "Content-Type": "application/fhir+json",
        "Content-Length": str(LIMIT + 1),
    }
    # the header promises more than the limit; the hub answers without waiting for the body
    async with httpx.AsyncClient(base_url=guarded_hub.url, timeout=10) as short:
        response = await short.post("/fhir/$process-message", content=b"{" * (LIMIT + 1), headers=headers)
    assert_outcome(response, 413, "too-costly")


async def test_chunked_message_within_the_limit_is_accepted(
    guarded_hub: HubUnderTest, client: httpx.AsyncClient
) -> None:
    hospital, gp = guarded_hub.register.by_id("herlev-hjerte"), guarded_hub.register.by_id("mailbox-gp")
    assert hospital is not None and gp is not None
    raw = orjson.dumps(
        MessageGenerator(seed=12).care_communication(sender=hospital.ref, receiver=gp.ref, now=datetime.now(UTC))
    )

    async def in_pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(raw), 1000):
            yield raw[start : start + 1000]

    headers = {**bearer(guarded_hub.token("herlev-hjerte")), "Content-Type": "application/fhir+json"}
    response = await client.post("/fhir/$process-message", content=in_pieces(), headers=headers)
    assert response.status_code == 202, response.text
    assert response.json()["resourceType"] == "OperationOutcome"


# --- bounded parameters -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "who", "expression"),
    [
        ("GET", "/api/messages?offset=18446744073709551616", "operator", "query.offset"),
        ("GET", "/api/messages?offset=-1", "operator", "query.offset"),
        ("GET", "/api/messages?limit=1001", "operator", "query.limit"),
        ("GET", "/api/messages?since=0001-01-01T00:00:00%2B01:00", "operator", "query.since"),
        ("GET", "/api/dead-letters?until=9999-12-31T23:59:59-01:00", "operator", "query.until"),
        ("GET", "/mailbox/18446744073709551616", "mailbox-gp", "path.item_id"),
        ("POST", "/mailbox/2147483648/ack", "mailbox-gp", "path.item_id"),
        ("GET", "/mailbox?limit=1964842", "mailbox-gp", "query.limit"),
        ("POST", "/api/dead-letters/18446744073709551616/redrive", "operator", "path.dead_letter_id"),
        ("POST", "/api/dead-letters/redrive?limit=10001", "operator", "query.limit"),
        # text no PostgreSQL column holds (a NUL), or longer than any id or code
        ("GET", "/api/messages?message_id=b9b4%0002de", "operator", "query.message_id"),
        ("GET", "/api/messages?patient=0101012345%00", "operator", "query.patient"),
        ("GET", "/api/messages?event=" + "e" * 257, "operator", "query.event"),
        ("GET", "/api/messages/abc%00def", "operator", "path.tracking_id"),
        ("GET", "/api/dead-letters?receiver=%00", "operator", "query.receiver"),
        ("GET", "/api/subscriptions?receiver=%00", "operator", "query.receiver"),
        ("GET", "/api/subscriptions/%00", "operator", "path.subscription_id"),
    ],
)
async def test_out_of_range_parameters_are_400_naming_the_parameter(
    guarded_hub: HubUnderTest, client: httpx.AsyncClient, method: str, path: str, who: str, expression: str
) -> None:
    token = OPERATOR_TOKEN if who == "operator" else guarded_hub.token(who)
    body = assert_outcome(await client.request(method, path, headers=bearer(token)), 400, "invalid")
    assert body["issue"][0]["expression"] == [expression]


@pytest.mark.parametrize(
    ("method", "path", "who"),
    [
        ("GET", "/mailbox/2147483647", "mailbox-gp"),
        ("POST", "/api/dead-letters/2147483647/redrive", "operator"),
    ],
)
async def test_largest_ids_are_simply_not_found(
    guarded_hub: HubUnderTest, client: httpx.AsyncClient, method: str, path: str, who: str
) -> None:
    token = OPERATOR_TOKEN if who == "operator" else guarded_hub.token(who)
    assert_outcome(await client.request(method, path, headers=bearer(token)), 404, "not-found")


async def test_largest_offset_answers_an_empty_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/messages?offset=2147483647&limit=1000", headers=bearer(OPERATOR_TOKEN))
    assert response.status_code == 200
    assert response.json()["messages"] == []


# --- unknown routes and methods -----------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), [("POST", "/fhir/%00"), ("GET", "/fhir"), ("GET", "/api/nothing")])
async def test_unknown_route_is_404_outcome(client: httpx.AsyncClient, method: str, path: str) -> None:
    assert_outcome(await client.request(method, path), 404, "not-found")


@pytest.mark.parametrize("method", ["GET", "OPTIONS", "PUT", "DELETE", "PATCH"])
async def test_method_the_route_lacks_is_405_outcome_with_allow(client: httpx.AsyncClient, method: str) -> None:
    response = await client.request(method, "/fhir/$process-message")
    assert_outcome(response, 405, "not-supported")
    assert response.headers["Allow"] == "POST"


# --- tokens -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/receivers", "/api/dead-letters", "/api/subscriptions"])
async def test_operator_api_needs_the_operator_token(
    guarded_hub: HubUnderTest, client: httpx.AsyncClient, path: str
) -> None:
    missing = await client.get(path)
    assert_outcome(missing, 401, "login")
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="sektor-hub"'

    wrong = await client.get(path, headers=bearer("not-the-operator-token"))
    assert_outcome(wrong, 401, "login")
    assert wrong.headers["WWW-Authenticate"].startswith('Bearer realm="sektor-hub", error="invalid_token"')

    organisation = await client.get(path, headers=bearer(guarded_hub.token("plejecenter-herlev")))
    body = assert_outcome(organisation, 403, "forbidden")
    assert "plejecenter-herlev" in body["issue"][0]["diagnostics"]
    assert 'error="insufficient_scope"' in organisation.headers["WWW-Authenticate"]

    assert (await client.get(path, headers=bearer(OPERATOR_TOKEN))).status_code == 200


async def test_mailbox_and_ingest_refuse_an_unknown_token_as_invalid(client: httpx.AsyncClient) -> None:
    for response in (
        await client.get("/mailbox", headers=bearer("nobody")),
        await client.post(
            "/fhir/$process-message",
            content=b"{}",
            headers={**bearer("nobody"), "Content-Type": "application/fhir+json"},
        ),
        await client.get("/mailbox", headers=bearer(OPERATOR_TOKEN)),  # the operator has no mailbox
    ):
        assert_outcome(response, 401, "login")
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


async def test_operator_api_body_over_its_limit_is_refused_while_it_streams(client: httpx.AsyncClient) -> None:
    headers = {**bearer(OPERATOR_TOKEN), "Content-Type": "application/json"}
    response = await client.post("/api/subscriptions", content=endless_body(50 * MIB), headers=headers)
    body = assert_outcome(response, 413, "too-costly")
    assert str(API_BODY_LIMIT_BYTES) in body["issue"][0]["diagnostics"]


@pytest.mark.parametrize(
    ("body", "expression"),
    [
        ({"receiver": "kommune-\u0000", "topic": "hospital-notification-message"}, "body.receiver"),
        ({"receiver": "x", "topic": "*", "filters": {"criteria": "Bundle.id\u0000"}}, "body.filters.criteria"),
        ({"receiver": "x", "topic": "*", "reason": "paused\u0000"}, "body.reason"),
        ({"receiver": "x", "topic": "t" * 300}, "body.topic"),
    ],
)
async def test_subscription_text_no_database_holds_is_400_naming_the_field(
    guarded_hub: HubUnderTest, client: httpx.AsyncClient, body: dict[str, object], expression: str
) -> None:
    response = await client.post("/api/subscriptions", json=body, headers=bearer(OPERATOR_TOKEN))
    outcome = assert_outcome(response, 400, "invalid")
    assert outcome["issue"][0]["expression"] == [expression]

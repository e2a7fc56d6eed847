"""One push against a real HTTP server on loopback: what the receiver gets, and how each answer is classified."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from aiohttp import web

from hub.broker.embedded import free_port
from hub.broker.records import OutboxRecord
from hub.deliver.http_push import push, receiver_session
from hub.deliver.policy import AttemptOutcome
from hub.fhirxml.media import FhirFormat
from hub.route.register import Endpoint, EndpointKind, Organisation, OrganisationKind

ITEM = OutboxRecord(
    tracking_id="t-1", message_id="m-1", receiver_id="kommune-x", event="hospital-notification", raw=b'{"a": 1}'
)


class Receiver:
    """Answers each POST with what `answer` holds next, and keeps what it was sent."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, dict[str, str], float]] = []
        self.received: list[tuple[dict[str, str], bytes]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.read()))
        status, headers, delay = self.answers.pop(0) if self.answers else (200, {}, 0.0)
        await asyncio.sleep(delay)
        return web.Response(status=status, headers=headers, text="ok")


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    fake = Receiver()
    app = web.Application()
    app.router.add_post("/inbox", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield fake, f"http://127.0.0.1:{port}/inbox"
    await runner.cleanup()


def organisation(url: str, token: str | None = None) -> Organisation:
    return Organisation(
        id="kommune-x",
        name="Kommune X",
        kind=OrganisationKind.MUNICIPALITY,
        sor="123456789012345",
        endpoint=Endpoint(kind=EndpointKind.HTTP, url=url, bearer_token=token),
        accepts=frozenset(),
    )


async def attempt(url: str, *, token: str | None = None, timeout: float = 5.0) -> Any:
    async with receiver_session(max_connections=4, timeout_seconds=timeout) as session:
        return await push(session, ITEM, organisation(url, token))


async def test_the_receiver_gets_the_original_bytes_with_idempotency_key_and_token(
    receiver: tuple[Receiver, str],
) -> None:
    fake, url = receiver
    result = await attempt(url, token="s3cret")
    assert (result.outcome, result.status_code, result.error) == (AttemptOutcome.DELIVERED, 200, None)
    headers, body = fake.received[0]
    assert body == ITEM.raw
    assert headers["Idempotency-Key"] == "m-1"
    assert headers["X-Hub-Tracking-Id"] == "t-1"
    assert headers["Authorization"] == "Bearer s3cret"
    assert headers["Content-Type"] == "application/fhir+json"


@pytest.mark.parametrize(
    ("status", "headers", "outcome", "retry_after"),
    [
        (429, {"Retry-After": "7"}, AttemptOutcome.RETRY, 7.0),
        (503, {}, AttemptOutcome.RETRY, None),
        (400, {}, AttemptOutcome.GIVE_UP, None),
    ],
)
async def test_answers_are_classified(
    receiver: tuple[Receiver, str], status: int, headers: dict[str, str], outcome: AttemptOutcome, retry_after: Any
) -> None:
    fake, url = receiver
    fake.answers.append((status, headers, 0.0))
    result = await attempt(url)
    assert (result.outcome, result.status_code, result.retry_after) == (outcome, status, retry_after)
    assert result.error == f"HTTP {status}"


async def test_no_answer_in_time_is_retried(receiver: tuple[Receiver, str]) -> None:
    fake, url = receiver
    fake.answers.append((200, {}, 2.0))
    result = await attempt(url, timeout=0.3)
    assert (result.outcome, result.error) == (AttemptOutcome.RETRY, "no answer within the timeout")


async def test_a_receiver_that_is_down_is_retried() -> None:
    result = await attempt(f"http://127.0.0.1:{free_port()}/inbox")
    assert result.outcome is AttemptOutcome.RETRY
    assert result.error is not None and result.error.startswith("cannot reach the receiver")


async def test_a_receiver_that_takes_xml_gets_the_message_converted_with_its_media_type(
    receiver: tuple[Receiver, str],
) -> None:
    fake, url = receiver
    json_message = b'{"resourceType": "Basic", "id": "b1"}'
    xml_receiver = organisation(url).model_copy(
        update={"endpoint": Endpoint(kind=EndpointKind.HTTP, url=url, format=FhirFormat.XML)}
    )
    async with receiver_session(max_connections=4, timeout_seconds=5) as session:
        result = await push(session, replace(ITEM, raw=json_message), xml_receiver)
        refused = await push(session, replace(ITEM, raw=b'{"resourceType": "Basic", "colour": 1}'), xml_receiver)
    assert result.outcome is AttemptOutcome.DELIVERED
    headers, body = fake.received[0]
    assert headers["Content-Type"] == "application/fhir+xml"
    assert body == b'<?xml version="1.0" encoding="UTF-8"?><Basic xmlns="http://hl7.org/fhir"><id value="b1"/></Basic>'
    # a message that cannot be written in the receiver's format is not sent in another one
    assert refused.outcome is AttemptOutcome.GIVE_UP
    assert refused.error is not None and "could not be converted to FHIR XML" in refused.error
    assert len(fake.received) == 1

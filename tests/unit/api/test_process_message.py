"""``POST /fhir/$process-message`` over the intake, without a broker: each refusal kind as its HTTP answer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import httpx
import orjson
import pytest
from aiokafka.errors import KafkaTimeoutError
from fastapi import FastAPI

from connectors.intake import Intake, to_topic
from hub.api import process_message
from hub.api.refusals import install_refusal_handlers
from hub.broker.records import Headers, IngressRecord
from hub.broker.topics import Topics
from hub.route.register import Register, hash_token, parse_register
from hub.settings import HubSettings
from hub.simulate import MessageGenerator
from hub.track.archive import ArchivedMessage
from tests.mailbox_organisations import MAILBOX_HOSPITAL as HOSPITAL
from tests.mailbox_organisations import MAILBOX_MUNICIPALITY as MUNICIPALITY

TOKENS = {HOSPITAL.id: "token-hospital", MUNICIPALITY.id: "token-municipality"}


def register() -> Register:
    organisations = [
        {
            "id": o.id,
            "name": o.name,
            "kind": str(o.kind),
            "sor": o.sor,
            "token_sha256": hash_token(TOKENS[o.id]),
            "endpoint": {"kind": "mailbox"},
            "accepts": ["acknowledgement-message"],
        }
        for o in (HOSPITAL, MUNICIPALITY)
    ]
    return parse_register(
        {"hub": {"name": "hub", "sor": "900000000000001"}, "organisations": organisations}, source="t"
    )


class Broker:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes, Headers | None]] = []
        self.fail: Exception | None = None

    async def send_and_wait(self, topic: str, *, key: bytes, value: bytes, headers: Headers | None = None) -> None:
        if self.fail is not None:
            raise self.fail
        self.sent.append((topic, key, value, headers))


class Archive:
    def __init__(self) -> None:
        self.kept: list[ArchivedMessage] = []
        self.fail: Exception | None = None

    async def keep(self, message: ArchivedMessage) -> None:
        if self.fail is not None:
            raise self.fail
        self.kept.append(message)


@pytest.fixture
def runtime() -> SimpleNamespace:
    settings = HubSettings(_env_file=None)
    return SimpleNamespace(
        settings=settings,
        register=register(),
        publisher=Broker(),
        archive=Archive(),
        topics=Topics("t."),
        accepting=True,
    )


@pytest.fixture
async def client(runtime: SimpleNamespace) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.include_router(process_message.router)
    install_refusal_handlers(app)
    app.state.intake = Intake(
        to_topic(runtime.publisher, runtime.topics.ingress),
        archive=runtime.archive,
        accepting=lambda: runtime.accepting,
    )
    app.state.register = runtime.register  # as hub.api.deps.provide puts it
    app.state.settings = runtime.settings
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
        yield client


def message() -> bytes:
    generated: dict[str, Any] = MessageGenerator(9).hospital_notification(
        sender=HOSPITAL.ref, receiver=MUNICIPALITY.ref, event="STIN", now=datetime.now(UTC)
    )
    return orjson.dumps(generated)


async def post(client: httpx.AsyncClient, body: bytes, *, who: str = HOSPITAL.id, **headers: str) -> httpx.Response:
    sent = {"Authorization": f"Bearer {TOKENS[who]}", "Content-Type": "application/fhir+json", **headers}
    return await client.post("/fhir/$process-message", content=body, headers=sent)


def issue(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    first: dict[str, Any] = body["issue"][0]
    return first


async def test_accepted_once_archived_and_on_the_ingress_topic(client: httpx.AsyncClient, runtime: Any) -> None:
    raw = message()
    response = await post(client, raw)
    assert response.status_code == 202, response.text
    tracking_id = response.headers["X-Hub-Tracking-Id"]
    assert response.headers["Location"] == f"/api/messages/{tracking_id}"
    body = response.json()
    assert body["id"] == tracking_id
    assert body["issue"][0]["diagnostics"].startswith(f"accepted for delivery; tracking id {tracking_id}")
    [(topic, key, value, headers)] = runtime.publisher.sent
    assert (topic, value) == ("t.ingress", raw)
    record = IngressRecord.from_kafka(key, value, headers or [])
    assert (record.tracking_id, record.sender_sor, record.connector) == (tracking_id, HOSPITAL.sor, "http")
    [kept] = runtime.archive.kept
    assert (kept.tracking_id, kept.connector, kept.key, kept.raw) == (tracking_id, "http", key, raw)


async def test_a_sender_posing_as_another_gets_403(client: httpx.AsyncClient, runtime: Any) -> None:
    found = issue(await post(client, message(), who=MUNICIPALITY.id), 403)
    assert (found["code"], found["expression"]) == ("security", ["Bundle.entry[0].resource.sender"])
    assert found["diagnostics"] == (
        f"MessageHeader.sender has SOR code {HOSPITAL.sor}; "
        f"your token belongs to {MUNICIPALITY.id} (SOR {MUNICIPALITY.sor})"
    )
    assert runtime.publisher.sent == [] and runtime.archive.kept == []


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"resourceType": "Bundle", "type": ', "structure"),
        (b'{"resourceType": "Bundle", "type": "message", "entry": []}', "required"),
    ],
)
async def test_unusable_bodies_get_400(client: httpx.AsyncClient, runtime: Any, body: bytes, code: str) -> None:
    assert issue(await post(client, body), 400)["code"] == code
    assert runtime.publisher.sent == []


async def test_other_media_types_get_415(client: httpx.AsyncClient) -> None:
    found = issue(await post(client, b"<Bundle/>", **{"Content-Type": "text/plain"}), 415)
    assert found["code"] == "not-supported"


@pytest.mark.parametrize("content_type", ["application/fhir+xml", "application/xml", "text/xml; charset=utf-8"])
async def test_xml_that_is_not_fhir_gets_400_at_its_line_and_column(
    client: httpx.AsyncClient, runtime: Any, content_type: str
) -> None:
    found = issue(await post(client, b"<Bundle/>", **{"Content-Type": content_type}), 400)
    assert found["code"] == "structure"
    assert "not FHIR's" in found["diagnostics"] and "line 1, column 1" in found["diagnostics"]
    assert runtime.publisher.sent == []


async def test_a_stopping_hub_answers_503_retry_after_5(client: httpx.AsyncClient, runtime: Any) -> None:
    runtime.accepting = False
    response = await post(client, message())
    assert issue(response, 503)["diagnostics"] == "the hub is shutting down; send the message again"
    assert response.headers["Retry-After"] == "5"
    assert runtime.archive.kept == []


async def test_a_broker_that_does_not_confirm_answers_503_retry_after_2(
    client: httpx.AsyncClient, runtime: Any
) -> None:
    runtime.publisher.fail = KafkaTimeoutError()
    response = await post(client, message())
    found = issue(response, 503)
    assert found["code"] == "transient"
    assert found["diagnostics"] == "the message broker did not confirm the message (KafkaTimeoutError); send it again"
    assert response.headers["Retry-After"] == "2"
    assert len(runtime.archive.kept) == 1  # kept: the hub publishes it again should the sender not


async def test_an_archive_that_fails_is_an_unexpected_error(client: httpx.AsyncClient, runtime: Any) -> None:
    runtime.archive.fail = OSError("database away")
    found = issue(await post(client, message()), 500)
    assert found["code"] == "exception"
    assert found["diagnostics"].startswith("the hub failed to handle this request (incident ")
    assert runtime.publisher.sent == []


async def test_the_operation_keeps_its_openapi_name(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    operation = schema["paths"]["/fhir/$process-message"]["post"]
    assert operation["operationId"] == "process_message_fhir__process_message_post"
    assert operation["tags"] == ["ingest"]
    assert "202" in operation["responses"]
    assert operation["requestBody"]["content"] == {
        "application/fhir+json": {"schema": {"type": "object"}},
        "application/fhir+xml": {"schema": {"type": "string"}},
    }

"""Request bodies of the operator API are counted as they stream and refused with 413 once past the limit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from pydantic import BaseModel

from hub.api.body_limit import INGEST_PATH, BodyLimit
from hub.api.refusals import install_refusal_handlers

LIMIT = 1000


class Thing(BaseModel):
    name: str


def limited_app() -> FastAPI:
    app = FastAPI()

    @app.post("/api/things")
    async def create(thing: Thing) -> dict[str, str]:
        return {"name": thing.name}

    @app.post(INGEST_PATH)
    async def ingest(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    app.add_middleware(BodyLimit, limit=LIMIT)
    install_refusal_handlers(app)
    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=limited_app()), base_url="http://hub.test") as c:
        yield c


def too_costly(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 413, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    body: dict[str, Any] = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == "too-costly"
    assert str(LIMIT) in body["issue"][0]["diagnostics"]
    return body


async def pieces(total: int, size: int = 100) -> AsyncIterator[bytes]:
    yield b'{"name": "'
    for _ in range(total // size):
        yield b"x" * size
    yield b'"}'


async def test_small_body_passes(client: httpx.AsyncClient) -> None:
    assert (await client.post("/api/things", json={"name": "ok"})).json() == {"name": "ok"}


async def test_declared_length_over_the_limit_is_refused(client: httpx.AsyncClient) -> None:
    too_costly(await client.post("/api/things", json={"name": "x" * 2 * LIMIT}))


async def test_chunked_body_over_the_limit_is_refused(client: httpx.AsyncClient) -> None:
    too_costly(
        await client.post("/api/things", content=pieces(5 * LIMIT), headers={"Content-Type": "application/json"})
    )


async def test_chunked_body_within_the_limit_passes(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/things", content=pieces(500), headers={"Content-Type": "application/json"})
    assert response.status_code == 200 and len(response.json()["name"]) == 500


async def test_ingest_counts_its_own_body(client: httpx.AsyncClient) -> None:
    assert (await client.post(INGEST_PATH, content=b"x" * 5 * LIMIT)).json() == {"bytes": 5 * LIMIT}

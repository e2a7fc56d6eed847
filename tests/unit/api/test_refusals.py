"""Every refusal is an OperationOutcome: the hub's own, bad parameters, the framework's 404 and 405, and a crash."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import FastAPI, Query

from hub.api.params import MailboxItemId, PageLimit
from hub.api.refusals import install_refusal_handlers, issue_code
from hub.api.responses import OutcomeError


def app_with_refusals() -> FastAPI:
    app = FastAPI()

    @app.post("/fhir/$process-message")
    async def process() -> dict[str, str]:
        return {}

    @app.get("/items/{item_id}")
    async def item(item_id: MailboxItemId, limit: PageLimit = 100) -> dict[str, int]:
        return {"item": item_id, "limit": limit}

    @app.get("/teapot")
    async def teapot(kind: Annotated[str, Query()] = "green") -> dict[str, str]:
        raise OutcomeError(418, "processing", "kind", f"no {kind} tea", headers={"X-Why": "tea"})

    @app.get("/crash")
    async def crash() -> dict[str, str]:
        raise RuntimeError("secret internals 0101901234")

    install_refusal_handlers(app)
    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app_with_refusals(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
        yield client


def outcome(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/fhir+json")
    body: dict[str, Any] = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"]
    return body


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/fhir/%00"), ("GET", "/no/such/route"), ("DELETE", "/fhir")],
)
async def test_unknown_route_is_404_not_found(client: httpx.AsyncClient, method: str, path: str) -> None:
    response = await client.request(method, path)
    assert response.status_code == 404
    assert outcome(response)["issue"][0]["code"] == "not-found"


@pytest.mark.parametrize("method", ["GET", "OPTIONS", "PUT", "DELETE"])
async def test_method_the_route_lacks_is_405_with_allow(client: httpx.AsyncClient, method: str) -> None:
    response = await client.request(method, "/fhir/$process-message")
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
    issue = outcome(response)["issue"][0]
    assert issue["code"] == "not-supported"
    assert method in issue["diagnostics"] and "POST" in issue["diagnostics"]


@pytest.mark.parametrize(
    ("path", "expression"),
    [
        ("/items/18446744073709551616", "path.item_id"),
        ("/items/0", "path.item_id"),
        ("/items/x", "path.item_id"),
        ("/items/1?limit=1964842", "query.limit"),
        ("/items/1?limit=0", "query.limit"),
    ],
)
async def test_out_of_range_parameter_is_400_naming_it(client: httpx.AsyncClient, path: str, expression: str) -> None:
    response = await client.get(path)
    assert response.status_code == 400
    issue = outcome(response)["issue"][0]
    assert issue["code"] == "invalid"
    assert issue["expression"] == [expression]
    assert expression.split(".")[1] in issue["diagnostics"]


async def test_in_range_parameters_pass(client: httpx.AsyncClient) -> None:
    assert (await client.get("/items/2147483647?limit=1000")).json() == {"item": 2147483647, "limit": 1000}


async def test_hub_refusal_keeps_status_and_headers(client: httpx.AsyncClient) -> None:
    response = await client.get("/teapot")
    assert response.status_code == 418
    assert response.headers["X-Why"] == "tea"
    assert outcome(response)["issue"][0]["diagnostics"] == "no green tea"


async def test_unexpected_exception_is_500_exception_without_internals(client: httpx.AsyncClient) -> None:
    response = await client.get("/crash")
    assert response.status_code == 500
    issue = outcome(response)["issue"][0]
    assert issue["code"] == "exception"
    assert "secret" not in response.text and "RuntimeError" not in response.text
    assert "0101901234" not in response.text


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "invalid"),
        (401, "login"),
        (403, "forbidden"),
        (404, "not-found"),
        (405, "not-supported"),
        (413, "too-costly"),
        (429, "throttled"),
        (410, "processing"),
        (500, "exception"),
        (503, "transient"),
    ],
)
def test_issue_code_by_status(status: int, code: str) -> None:
    assert issue_code(status) == code

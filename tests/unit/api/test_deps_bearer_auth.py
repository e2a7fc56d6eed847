"""RFC 6750 refusals: 401 with a challenge for no token or an unknown one, 403 for a valid token without the right."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from hub.api.deps import OperatorDep, OrganisationDep, ViewerDep, bearer_challenge
from hub.api.identity import Authenticator
from hub.api.refusals import install_refusal_handlers
from hub.route.register import Register, hash_token, parse_register
from hub.settings import HubSettings

OPERATOR_TOKEN = "operator-secret"


def small_register() -> Register:
    kommune = {
        "id": "kommune-a",
        "name": "Kommune A",
        "kind": "municipality",
        "sor": "200000000000001",
        "token_sha256": hash_token("token-kommune-a"),
        "endpoint": {"kind": "mailbox"},
        "accepts": ["acknowledgement-message"],
    }
    return parse_register({"hub": {"name": "hub", "sor": "900000000000001"}, "organisations": [kommune]}, source="test")


def app_with(operator_token: str | None) -> FastAPI:
    app = FastAPI()
    # the two services the bearer dependencies use (hub.api.deps): no Runtime needed
    app.state.register = small_register()
    app.state.settings = HubSettings(operator_token=operator_token, _env_file=None)
    app.state.authenticator = Authenticator(app.state.settings, app.state.register)

    @app.get("/api/thing")
    async def thing(_: OperatorDep) -> dict[str, str]:
        return {"ok": "operator"}

    @app.get("/api/view")
    async def view(viewer: ViewerDep) -> dict[str, str | None]:
        return {"organisation": viewer.organisation_id}

    @app.get("/mailbox")
    async def mailbox(organisation: OrganisationDep) -> dict[str, str]:
        return {"ok": organisation.id}

    install_refusal_handlers(app)
    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app_with(OPERATOR_TOKEN)), base_url="http://hub.test"
    ) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_challenge_follows_rfc_6750() -> None:
    assert bearer_challenge() == {"WWW-Authenticate": 'Bearer realm="sektor-hub"'}
    challenge = bearer_challenge("invalid_token", "the token is not known")["WWW-Authenticate"]
    assert challenge == 'Bearer realm="sektor-hub", error="invalid_token", error_description="the token is not known"'


@pytest.mark.parametrize("path", ["/api/thing", "/mailbox"])
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Basic dXNlcjpwdw=="}, {"Authorization": "Bearer "}])
async def test_no_token_is_401_with_a_plain_challenge(
    client: httpx.AsyncClient, path: str, headers: dict[str, str]
) -> None:
    response = await client.get(path, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="sektor-hub"'
    assert response.json()["issue"][0]["code"] == "login"


@pytest.mark.parametrize("path", ["/api/thing", "/mailbox"])
async def test_unknown_token_is_401_invalid_token(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path, headers=bearer("not-a-token"))
    assert response.status_code == 401
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="sektor-hub"') and 'error="invalid_token"' in challenge
    body = response.json()
    assert body["resourceType"] == "OperationOutcome" and body["issue"][0]["code"] == "login"


async def test_organisation_token_on_the_operator_api_is_403_naming_the_organisation(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/thing", headers=bearer("token-kommune-a"))
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    issue = response.json()["issue"][0]
    assert issue["code"] == "forbidden"
    assert "kommune-a" in issue["diagnostics"] and "no operator access" in issue["diagnostics"]


async def test_right_tokens_pass(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/thing", headers=bearer(OPERATOR_TOKEN))).json() == {"ok": "operator"}
    assert (await client.get("/mailbox", headers=bearer("token-kommune-a"))).json() == {"ok": "kommune-a"}
    # the operator token is nobody's mailbox
    assert (await client.get("/mailbox", headers=bearer(OPERATOR_TOKEN))).status_code == 401


async def test_without_an_operator_token_the_operator_api_is_open() -> None:
    transport = httpx.ASGITransport(app=app_with(None))
    async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
        assert (await client.get("/api/thing")).status_code == 200


async def test_the_view_is_the_operators_or_the_organisations_own(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/view", headers=bearer(OPERATOR_TOKEN))).json() == {"organisation": None}
    assert (await client.get("/api/view", headers=bearer("token-kommune-a"))).json() == {"organisation": "kommune-a"}
    unknown = await client.get("/api/view", headers=bearer("not-a-token"))
    assert unknown.status_code == 401 and 'error="invalid_token"' in unknown.headers["WWW-Authenticate"]
    assert (await client.get("/api/view")).status_code == 401


async def test_without_an_operator_token_only_an_organisation_token_narrows_the_view() -> None:
    transport = httpx.ASGITransport(app=app_with(None))
    async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
        assert (await client.get("/api/view")).json() == {"organisation": None}
        own = await client.get("/api/view", headers=bearer("token-kommune-a"))
        assert own.json() == {"organisation": "kommune-a"}
        # as the operator API there is open, so is the operator's view
        assert (await client.get("/api/view", headers=bearer("not-a-token"))).json() == {"organisation": None}

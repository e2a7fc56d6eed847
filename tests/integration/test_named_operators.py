"""Named operators with roles, through a running hub: operators who sign in with OpenID Connect (JWTs of a real
test issuer, which serves its discovery document and its JWKS over HTTP), and operators of the token file.

A viewer watches the traffic without patients, an operator also repairs, an administrator also changes the
subscriptions; a JWT that is expired, for another audience or signed by another key is refused (401, saying
why), one without a hub role is forbidden (403), and a key the issuer rotated in is fetched."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hub.broker.embedded import EmbeddedBroker, free_port
from hub.route.register import hash_token
from hub.serving import HubServer, make_server
from hub.simulate.generator import MessageGenerator
from tests.integration.hubtest import HubUnderTest, post_message, running_hub, wait_for_status

pytestmark = pytest.mark.integration

AUDIENCE = "sektor-hub"
FILE_TOKENS = {"vera": "vera-viewer-token", "otto": "otto-operator-token", "dora": "dora-disabled-token"}


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class Issuer:
    """An OpenID Connect issuer: its discovery document and JWKS over HTTP, and the JWTs it signs."""

    url: str
    keys: dict[str, rsa.RSAPrivateKey] = field(default_factory=dict)  # what the JWKS publishes, by kid

    def jwks(self) -> dict[str, Any]:
        published = []
        for kid, key in self.keys.items():
            public = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
            published.append({**public, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": published}

    def token(
        self,
        roles: list[str],
        *,
        name: str = "anna",
        kid: str = "k1",
        key: rsa.RSAPrivateKey | None = None,
        **claims: Any,
    ) -> str:
        now = int(time.time())
        payload = {
            "iss": self.url,
            "aud": AUDIENCE,
            "sub": f"subject-of-{name}",
            "preferred_username": name,
            "iat": now,
            "exp": now + 300,
            "realm_access": {"roles": ["offline_access", *roles]},
            **claims,
        }
        return jwt.encode(payload, key or self.keys[kid], algorithm="RS256", headers={"kid": kid})


@pytest.fixture(scope="module")
async def issuer() -> AsyncIterator[Issuer]:
    port = free_port()
    running = Issuer(url=f"http://127.0.0.1:{port}/realms/region", keys={"k1": new_key()})

    async def discovery(_: Request) -> JSONResponse:
        return JSONResponse({"issuer": running.url, "jwks_uri": f"{running.url}/protocol/openid-connect/certs"})

    async def certs(_: Request) -> JSONResponse:
        return JSONResponse(running.jwks())

    app = Starlette(
        routes=[
            Route("/realms/region/.well-known/openid-configuration", discovery),
            Route("/realms/region/protocol/openid-connect/certs", certs),
        ]
    )
    server: HubServer = make_server(app, host="127.0.0.1", port=port, grace_seconds=0)  # type: ignore[arg-type]
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "the test issuer did not start"
        await asyncio.sleep(0.05)
    yield running
    server.should_exit = True
    await task


@pytest.fixture(scope="module")
async def named_hub(
    broker: EmbeddedBroker, issuer: Issuer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[HubUnderTest]:
    workdir = tmp_path_factory.mktemp("named-hub")
    operators = [
        {"name": "vera", "role": "viewer", "token_sha256": hash_token(FILE_TOKENS["vera"])},
        {"name": "otto", "role": "operator", "token_sha256": hash_token(FILE_TOKENS["otto"])},
        {"name": "dora", "role": "operator", "token_sha256": hash_token(FILE_TOKENS["dora"]), "disabled": True},
    ]
    tokens_file = workdir / "operators.yaml"
    tokens_file.write_text(yaml.safe_dump({"operators": operators}), encoding="utf-8")
    async with running_hub(
        bootstrap_servers=broker.bootstrap_servers,
        workdir=workdir,
        topic_prefix="named.",
        HUB_OPERATOR_TOKENS_FILE=str(tokens_file),
        HUB_OIDC_ISSUER=issuer.url,
        HUB_OIDC_AUDIENCE=AUDIENCE,
        HUB_OIDC_ROLES_CLAIM="realm_access.roles",
    ) as started:
        yield started


@pytest.fixture
async def client(named_hub: HubUnderTest) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=named_hub.url, timeout=60) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
async def patient(named_hub: HubUnderTest, issuer: Issuer) -> str:
    """A message about a (fictional) patient, delivered, so that there is a patient to see or not."""
    cpr = MessageGenerator(seed=11).fictional_cpr()
    sender, receiver = named_hub.register.by_id("herlev-hjerte"), named_hub.register.by_id("plejecenter-herlev")
    assert sender is not None and receiver is not None
    message = MessageGenerator(seed=11).care_communication(
        sender=sender.ref, receiver=receiver.ref, patient_cpr=cpr, now=datetime.now(UTC)
    )
    headers = bearer(issuer.token(["administrator"], name="adam"))
    async with httpx.AsyncClient(base_url=named_hub.url, headers=headers, timeout=60) as admin:
        response = await post_message(admin, message, token=named_hub.token("herlev-hjerte"))
        assert response.status_code == 202, response.text
        await wait_for_status(admin, response.headers["X-Hub-Tracking-Id"], "delivered", "acknowledged")
    return cpr


def refused(response: httpx.Response, status: int, error: str | None) -> str:
    """The diagnostics of a refusal with ``status`` and RFC 6750's ``error`` (None: a refusal by the route, past
    the bearer check); never a stack trace."""
    assert response.status_code == status, response.text
    if error is not None:
        assert f'error="{error}"' in response.headers["WWW-Authenticate"]
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "Traceback" not in response.text
    diagnostics: str = outcome["issue"][0]["diagnostics"]
    return diagnostics


# inside the test register's policy: hospital notifications to the municipality of residence
SUBSCRIPTION = {
    "receiver": "plejecenter-herlev",
    "topic": "hospital-notification-message",
    "filters": {"municipality_code": "163"},
}


async def as_viewer_operator_administrator(
    client: httpx.AsyncClient, patient: str, viewer: dict[str, str], operator: dict[str, str], name: str
) -> None:
    """What a viewer and an operator may do and may not, the same for signed-in and token-file operators."""
    listed = await client.get("/api/messages", headers=viewer)
    assert listed.status_code == 200, listed.text
    assert listed.json()["messages"] and all(m["patient"] is None for m in listed.json()["messages"])
    shown = (await client.get("/api/messages", headers=operator)).json()["messages"]
    assert any(m["patient"] for m in shown) and patient not in str(shown)  # by birth date, never the CPR

    diagnostics = refused(await client.get("/api/messages", params={"patient": patient}, headers=viewer), 403, None)
    assert patient not in diagnostics and "searching by patient needs the operator role" in diagnostics
    assert (await client.get("/api/messages", params={"patient": patient}, headers=operator)).json()["total"] == 1

    diagnostics = refused(
        await client.post("/api/dead-letters/987654/redrive", headers=viewer), 403, "insufficient_scope"
    )
    assert f"{name} is a viewer; this needs the operator role" in diagnostics
    assert (await client.post("/api/dead-letters/987654/redrive", headers=operator)).status_code == 404
    assert (await client.get("/api/dead-letters", headers=viewer)).status_code == 200
    refused(await client.post("/api/subscriptions", json=SUBSCRIPTION, headers=operator), 403, "insufficient_scope")


async def test_signed_in_viewer_operator_and_administrator_may_what_their_roles_allow(
    client: httpx.AsyncClient, issuer: Issuer, patient: str
) -> None:
    viewer = bearer(issuer.token(["viewer"], name="vibeke"))
    operator = bearer(issuer.token(["operator", "viewer"], name="ole"))
    await as_viewer_operator_administrator(client, patient, viewer, operator, "vibeke")

    administrator = bearer(issuer.token(["sektor-hub:administrator"], name="adam"))
    created = await client.post("/api/subscriptions", json=SUBSCRIPTION, headers=administrator)
    assert created.status_code == 201, created.text
    assert created.json()["basis"]


async def test_a_valid_jwt_without_a_hub_role_is_forbidden(client: httpx.AsyncClient, issuer: Issuer) -> None:
    diagnostics = refused(
        await client.get("/api/messages", headers=bearer(issuer.token(["uma_authorization"], name="ulla"))),
        403,
        "insufficient_scope",
    )
    assert "ulla signed in" in diagnostics and "realm_access.roles" in diagnostics


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"exp": int(time.time()) - 600}, "the JWT has expired"),
        ({"aud": "another-application"}, "its audience 'another-application' does not hold 'sektor-hub'"),
        ({"iss": "http://127.0.0.1:1/realms/other"}, "the JWT is from issuer 'http://127.0.0.1:1/realms/other'"),
    ],
)
async def test_a_jwt_failing_a_check_is_401_saying_which(
    client: httpx.AsyncClient, issuer: Issuer, changes: dict[str, Any], reason: str
) -> None:
    token = issuer.token(["administrator"], **changes)
    assert reason in refused(await client.get("/api/receivers", headers=bearer(token)), 401, "invalid_token")


async def test_a_jwt_signed_by_another_key_is_401(client: httpx.AsyncClient, issuer: Issuer) -> None:
    forged = issuer.token(["administrator"], key=new_key())  # claims the issuer's own key id k1
    diagnostics = refused(await client.get("/api/receivers", headers=bearer(forged)), 401, "invalid_token")
    assert "signature does not verify with the issuer's key k1" in diagnostics
    unsigned = jwt.encode({"iss": issuer.url, "aud": AUDIENCE, "exp": int(time.time()) + 60}, "", algorithm="none")
    diagnostics = refused(await client.get("/api/receivers", headers=bearer(unsigned)), 401, "invalid_token")
    assert "signed with 'none'" in diagnostics


async def test_a_key_the_issuer_rotated_in_is_fetched(client: httpx.AsyncClient, issuer: Issuer) -> None:
    assert (await client.get("/api/receivers", headers=bearer(issuer.token(["viewer"])))).status_code == 200
    issuer.keys = {"k2": new_key()}  # the issuer rotates: a new key id, the old key gone
    response = await client.get("/api/receivers", headers=bearer(issuer.token(["viewer"], kid="k2")))
    assert response.status_code == 200, response.text
    stranger = issuer.token(["viewer"], kid="k-nobody", key=new_key())
    diagnostics = refused(await client.get("/api/receivers", headers=bearer(stranger)), 401, "invalid_token")
    assert "key 'k-nobody', which the issuer does not publish" in diagnostics


async def test_operators_of_the_token_file_may_what_their_roles_allow(client: httpx.AsyncClient, patient: str) -> None:
    viewer, operator = bearer(FILE_TOKENS["vera"]), bearer(FILE_TOKENS["otto"])
    await as_viewer_operator_administrator(client, patient, viewer, operator, "vera")
    diagnostics = refused(await client.get("/api/receivers", headers=bearer(FILE_TOKENS["dora"])), 401, "invalid_token")
    assert "dora is disabled" in diagnostics
    refused(await client.get("/api/receivers", headers=bearer("nobody's-token")), 401, "invalid_token")

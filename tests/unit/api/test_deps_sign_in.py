"""A JWT that cannot be checked because the issuer's keys cannot be fetched is 503, not a refusal of the caller."""

from __future__ import annotations

import time

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI

from hub.api.deps import WatcherDep
from hub.api.identity import Authenticator
from hub.api.refusals import install_refusal_handlers
from hub.broker.embedded import free_port
from hub.route.register import parse_register
from hub.settings import HubSettings


async def test_an_unreachable_issuer_is_503_saying_where() -> None:
    issuer = f"http://127.0.0.1:{free_port()}/realms/region"  # nothing listens there
    app = FastAPI()
    app.state.register = parse_register(
        {"hub": {"name": "hub", "sor": "900000000000001"}, "organisations": []}, source="test"
    )
    app.state.settings = HubSettings(_env_file=None, oidc_issuer=issuer, oidc_audience="sektor-hub")
    app.state.authenticator = Authenticator(app.state.settings, app.state.register)

    @app.get("/api/thing")
    async def thing(_: WatcherDep) -> dict[str, str]:
        return {"ok": "viewer"}

    install_refusal_handlers(app)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = {"iss": issuer, "aud": "sektor-hub", "sub": "anna", "exp": int(time.time()) + 60, "roles": ["viewer"]}
    token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub.test") as client:
        response = await client.get("/api/thing", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"]
    diagnostics = response.json()["issue"][0]["diagnostics"]
    assert "the sign-in cannot be checked now" in diagnostics and "/.well-known/openid-configuration" in diagnostics

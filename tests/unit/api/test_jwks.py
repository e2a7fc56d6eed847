"""Which keys of an issuer's JWKS the hub uses, which key a token names, and how often the hub asks the issuer
(a real issuer on loopback)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hub.api.jwks import IssuerKeys, KeysUnavailable, key_for, usable_keys
from hub.broker.embedded import free_port
from hub.serving import make_server

RSA = {"kty": "RSA", "kid": "r1", "n": "AQAB", "e": "AQAB"}
EC = {"kty": "EC", "kid": "e1", "crv": "P-256", "x": "AA", "y": "AA", "use": "sig"}


def test_only_public_signature_keys_are_used() -> None:
    jwks = {
        "keys": [
            RSA,
            EC,
            {"kty": "oct", "kid": "secret", "k": "c2VjcmV0"},  # a shared secret proves nothing of the issuer
            {**RSA, "kid": "enc", "use": "enc"},
            "not a key",
        ]
    }
    assert usable_keys(jwks) == {"r1": RSA, "e1": EC}


@pytest.mark.parametrize("jwks", [{}, {"keys": "r1"}, [RSA]])
def test_a_document_without_a_list_of_keys_is_no_jwks(jwks: Any) -> None:
    with pytest.raises(ValueError, match="keys"):
        usable_keys(jwks)


def test_a_token_without_a_key_id_needs_an_issuer_with_one_key() -> None:
    assert key_for({"r1": RSA}, None) == RSA
    assert key_for({"r1": RSA, "e1": EC}, None) is None
    assert key_for({"r1": RSA, "e1": EC}, "e1") == EC
    assert key_for({"r1": RSA}, "r2") is None


class Issuer:
    """A real HTTP issuer on loopback that counts how often its JWKS is fetched."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.keys: list[dict[str, Any]] = [RSA]
        self.fetches = 0

    def app(self) -> Starlette:
        async def discovery(_: Request) -> JSONResponse:
            return JSONResponse({"issuer": self.url, "jwks_uri": f"{self.url}/certs"})

        async def certs(_: Request) -> JSONResponse:
            self.fetches += 1
            return JSONResponse({"keys": self.keys})

        return Starlette(routes=[Route("/.well-known/openid-configuration", discovery), Route("/certs", certs)])


@pytest.fixture
async def issuer() -> AsyncIterator[Issuer]:
    running = Issuer()
    server = make_server(running.app(), host="127.0.0.1", port=running.port, grace_seconds=0)  # type: ignore[arg-type]
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "the test issuer did not start"
        await asyncio.sleep(0.02)
    yield running
    server.should_exit = True
    await task


async def test_keys_are_fetched_once_and_again_for_a_rotated_key(issuer: Issuer) -> None:
    keys = IssuerKeys(issuer.url)
    assert await keys.key("r1") == RSA
    assert await keys.key("r1") == RSA
    assert issuer.fetches == 1  # kept
    issuer.keys = [EC]  # rotated
    assert await keys.key("e1") == EC
    assert issuer.fetches == 2


async def test_a_made_up_key_id_asks_the_issuer_once_then_not_for_a_while(issuer: Issuer) -> None:
    keys = IssuerKeys(issuer.url)
    assert await keys.key("made-up-0") is None  # the keys just fetched: no second fetch
    assert issuer.fetches == 1
    assert await keys.key("made-up-1") is None
    assert issuer.fetches == 2  # once more for an unknown key: the issuer might have rotated
    assert await keys.key("made-up-2") is None
    assert await keys.key("made-up-3") is None
    assert issuer.fetches == 2


async def test_concurrent_requests_wait_for_one_fetch(issuer: Issuer) -> None:
    keys = IssuerKeys(issuer.url)
    assert await asyncio.gather(*(keys.key("r1") for _ in range(20))) == [RSA] * 20
    assert issuer.fetches == 1


async def test_an_issuer_that_cannot_be_reached_says_where(issuer: Issuer) -> None:
    with pytest.raises(KeysUnavailable, match=r"discovery document at http://127\.0\.0\.1:\d+/.+ cannot be fetched"):
        await IssuerKeys(f"http://127.0.0.1:{free_port()}").key("r1")
    with pytest.raises(KeysUnavailable, match="names the issuer"):
        await IssuerKeys(f"{issuer.url}/").key("r1")  # the discovery document names another issuer
    with pytest.raises(KeysUnavailable, match="answered HTTP 404"):
        await IssuerKeys(issuer.url, f"{issuer.url}/no-such-jwks").key("r1")

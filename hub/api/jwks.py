"""The signing keys of the OpenID Connect issuer the hub trusts (its JWKS), fetched when first needed and kept.

Where the keys are is read from the issuer's discovery document (``{issuer}/.well-known/openid-configuration``,
its ``jwks_uri``) unless ``HUB_OIDC_JWKS_URL`` says it. The keys are kept for an hour; a token signed with a key
the hub does not know (the issuer rotated its keys) makes the hub fetch them once more at once. When that finds
no such key either, tokens with unknown keys are refused without asking the issuer again for a while, so a
flood of made-up key ids does not become a flood of requests to the issuer.

Fetching is asynchronous (httpx), so a request that waits for the keys holds no other request up; concurrent
requests that need them wait for one fetch.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import structlog

from hub.faults import fault_kind

log = structlog.get_logger(__name__)

KEYS_MAX_AGE_SECONDS = 3600.0
UNKNOWN_KEY_QUIET_SECONDS = 30.0  # after a fetch that did not find a token's key, no fetch for unknown keys
FETCH_TIMEOUT_SECONDS = 5.0

Jwk = dict[str, Any]


class KeysUnavailable(Exception):
    """The issuer's keys cannot be fetched (and none are kept); the message says from where and why."""


def usable_keys(jwks: Any) -> dict[str, Jwk]:
    """The signature keys of a JWKS document by key id (``""`` for one without): public RSA and EC keys, not
    encryption keys, not symmetric ones (a shared secret is no proof that the issuer signed)."""
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list):
        raise ValueError("the JWKS has no list `keys`")
    found: dict[str, Jwk] = {}
    for key in keys:
        if not isinstance(key, dict) or key.get("kty") not in ("RSA", "EC") or key.get("use", "sig") != "sig":
            continue
        kid = key.get("kid", "")
        found[kid if isinstance(kid, str) else str(kid)] = key
    return found


def key_for(keys: dict[str, Jwk], kid: str | None) -> Jwk | None:
    """The key a token names; a token without a key id only when the issuer has just one key."""
    if kid is None:
        return next(iter(keys.values())) if len(keys) == 1 else None
    return keys.get(kid)


class IssuerKeys:
    def __init__(self, issuer: str, jwks_url: str | None = None) -> None:
        self.issuer = issuer
        self._jwks_url = jwks_url
        self._keys: dict[str, Jwk] = {}
        self._fetched_at: float | None = None
        self._fruitless_at: float | None = None  # when a fetch last failed to find a token's key
        self._lock = asyncio.Lock()

    async def key(self, kid: str | None) -> Jwk | None:
        """The issuer's key ``kid``, or None when the issuer has no such key. :class:`KeysUnavailable` when
        the keys were never fetched and cannot be now."""
        now = time.monotonic()
        if self._fetched_at is None or now - self._fetched_at > KEYS_MAX_AGE_SECONDS:
            await self._refresh(older_than=now)
        found = key_for(self._keys, kid)
        quiet = self._fruitless_at is not None and now - self._fruitless_at < UNKNOWN_KEY_QUIET_SECONDS
        if found is None and not quiet and self._fetched_at is not None and self._fetched_at < now:
            await self._refresh(older_than=now)  # a key we do not know: the issuer may have rotated its keys
            found = key_for(self._keys, kid)
            if found is None:
                self._fruitless_at = time.monotonic()
        return found

    async def _refresh(self, *, older_than: float) -> None:
        async with self._lock:
            if self._fetched_at is not None and self._fetched_at >= older_than:
                return  # fetched by another request while this one waited
            try:
                keys = await self._fetch()
            except KeysUnavailable as exc:
                if not self._keys:
                    raise
                log.warning(
                    "the OpenID Connect issuer's keys could not be fetched again; keeping those known", reason=str(exc)
                )
                self._fetched_at = time.monotonic()  # try again after the usual age, not at every request
                return
            self._keys, self._fetched_at = keys, time.monotonic()
            log.info("OpenID Connect signing keys fetched", issuer=self.issuer, kids=sorted(keys))

    async def _fetch(self) -> dict[str, Jwk]:
        async with httpx.AsyncClient(timeout=FETCH_TIMEOUT_SECONDS, follow_redirects=False) as client:
            url = self._jwks_url or await self._discover(client)
            jwks = await _get_json(client, url, "the JWKS")
        try:
            keys = usable_keys(jwks)
        except ValueError as exc:
            raise KeysUnavailable(f"{url}: {exc}") from None
        if not keys:
            raise KeysUnavailable(f"{url}: the JWKS holds no RSA or EC signature key")
        return keys

    async def _discover(self, client: httpx.AsyncClient) -> str:
        url = f"{self.issuer.rstrip('/')}/.well-known/openid-configuration"
        document = await _get_json(client, url, "the discovery document")
        if document.get("issuer") != self.issuer:
            raise KeysUnavailable(
                f"{url}: names the issuer {document.get('issuer')!r}, not {self.issuer!r} (HUB_OIDC_ISSUER)"
            )
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri:
            raise KeysUnavailable(f"{url}: has no jwks_uri")
        self._jwks_url = jwks_uri
        return jwks_uri


async def _get_json(client: httpx.AsyncClient, url: str, what: str) -> dict[str, Any]:
    try:
        response = await client.get(url, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise KeysUnavailable(f"{what} at {url} cannot be fetched: {fault_kind(exc)}") from None
    if response.status_code != 200:
        raise KeysUnavailable(f"{what} at {url} answered HTTP {response.status_code}")
    try:
        document = response.json()
    except ValueError:
        raise KeysUnavailable(f"{what} at {url} is not JSON") from None
    if not isinstance(document, dict):
        raise KeysUnavailable(f"{what} at {url} is not a JSON object")
    return document

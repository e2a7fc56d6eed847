"""Operators who sign in with OpenID Connect: a JWT from the issuer the hub trusts (``HUB_OIDC_ISSUER``).

A token counts when its signature verifies with one of the issuer's published keys (RSA or EC; never ``none``,
never a shared secret), it names that issuer (``iss``) and the hub (``aud`` holds ``HUB_OIDC_AUDIENCE``), and it
is valid now (``exp``, and ``nbf`` where it has one, with :data:`LEEWAY_SECONDS` for clocks that differ).

Who it is: the name claim (``HUB_OIDC_NAME_CLAIM``, else ``sub``). With which role: the highest of the hub's
roles among the values of the roles claim (``HUB_OIDC_ROLES_CLAIM``; a dotted name reads into nested objects,
as Keycloak's ``realm_access.roles``; a list, or one space-separated text as a ``scope``). A value is one of the
hub's roles by name (``viewer``, ``operator``, ``administrator``) or with the prefix :data:`ROLE_PREFIX`
(``sektor-hub:operator``), in any case. A valid token without one of them is someone the hub does not serve:
refused as ``insufficient_scope``, not as an invalid token.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import jwt
import orjson

from hub.api.jwks import IssuerKeys
from hub.domain.operators import Role

if TYPE_CHECKING:
    from hub.settings import HubSettings

ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
LEEWAY_SECONDS = 30
ROLE_PREFIX = "sektor-hub:"


class InvalidJwt(Exception):
    """A JWT the hub does not accept; the message says which check failed (never the token itself)."""


@dataclass(frozen=True, slots=True)
class OidcConfig:
    issuer: str
    audience: str
    jwks_url: str | None = None
    roles_claim: str = "roles"
    name_claim: str = "preferred_username"

    @classmethod
    def from_settings(cls, settings: HubSettings) -> OidcConfig | None:
        """The OpenID Connect sign-in the settings configure; None without ``HUB_OIDC_ISSUER``."""
        if not settings.oidc_issuer:
            return None
        if not settings.oidc_audience:
            raise ValueError("HUB_OIDC_AUDIENCE must be set when HUB_OIDC_ISSUER is")
        return cls(
            issuer=settings.oidc_issuer,
            audience=settings.oidc_audience,
            jwks_url=settings.oidc_jwks_url,
            roles_claim=settings.oidc_roles_claim,
            name_claim=settings.oidc_name_claim,
        )


def _base64url_json(part: str) -> Any:
    try:
        return orjson.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (binascii.Error, ValueError):
        return None


def looks_like_jwt(token: str) -> bool:
    """Three base64url parts, the first a JSON header naming an algorithm: a JWT, not a random bearer token."""
    parts = token.split(".")
    if len(parts) != 3 or not parts[0] or not parts[1]:
        return False
    header = _base64url_json(parts[0])
    return isinstance(header, dict) and "alg" in header


def signing_header(token: str) -> tuple[str, str | None]:
    """The algorithm and key id the token says it is signed with; :class:`InvalidJwt` for one the hub refuses."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise InvalidJwt("the token is not a readable JWT") from None
    alg, kid = header.get("alg"), header.get("kid")
    if alg not in ALGORITHMS:
        raise InvalidJwt(
            f"the JWT is signed with {alg!r}; the hub accepts only the issuer's public keys ({', '.join(ALGORITHMS)})"
        )
    return str(alg), kid if isinstance(kid, str) else None


def _when(claims: dict[str, Any], name: str) -> str:
    value = claims.get(name)
    if isinstance(value, int | float):
        return f" ({name} {datetime.fromtimestamp(value, UTC).isoformat(timespec='seconds')})"
    return ""


def why_refused(exc: jwt.PyJWTError, token: str, config: OidcConfig, kid: str | None) -> str:
    """Which of the checks a JWT failed, in words an operator can act on."""
    try:
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        claims = {}
    if isinstance(exc, jwt.ExpiredSignatureError):
        return f"the JWT has expired{_when(claims, 'exp')}"
    if isinstance(exc, jwt.ImmatureSignatureError):
        return f"the JWT is not valid yet{_when(claims, 'nbf')}"
    if isinstance(exc, jwt.InvalidAudienceError):
        return f"the JWT is not for this hub: its audience {claims.get('aud')!r} does not hold {config.audience!r}"
    if isinstance(exc, jwt.InvalidIssuerError):
        return f"the JWT is from issuer {claims.get('iss')!r}, not from {config.issuer!r}"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"the JWT has no {exc.claim!r} claim"
    if isinstance(exc, jwt.InvalidSignatureError):
        return f"the JWT's signature does not verify with the issuer's key {kid or '(the only one)'}"
    if isinstance(exc, jwt.InvalidAlgorithmError | jwt.PyJWKError):
        return f"the JWT's algorithm does not fit the issuer's key {kid or '(the only one)'}: {exc}"
    if isinstance(exc, jwt.DecodeError):
        return "the token is not a readable JWT"
    return f"the JWT is refused: {exc}"


def verified_claims(token: str, jwk: dict[str, Any], alg: str, config: OidcConfig) -> dict[str, Any]:
    """The claims of a JWT signed with ``jwk``, for this hub, from the issuer, valid now; else :class:`InvalidJwt`."""
    kid = jwk.get("kid")
    if "alg" in jwk and jwk["alg"] != alg:
        raise InvalidJwt(f"the JWT says {alg}, the issuer's key {kid} is for {jwk['alg']}")
    try:
        key = jwt.PyJWK(jwk, algorithm=alg)
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[alg],
            audience=config.audience,
            issuer=config.issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iss", "aud"]},
        )
    except jwt.PyJWTError as exc:
        raise InvalidJwt(why_refused(exc, token, config, kid)) from None
    return claims


def claim_values(claims: dict[str, Any], claim: str) -> list[str]:
    """The values of a claim: a dotted name reads into nested objects (``realm_access.roles``); a list of texts,
    or one text of space-separated values (as ``scope``)."""
    value: Any = claims.get(claim)
    if claim not in claims and "." in claim:
        value = claims
        for part in claim.split("."):
            value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def hub_role(values: list[str]) -> Role | None:
    """The highest of the hub's roles among a token's role values (``operator``, ``sektor-hub:operator``, in any
    case); None when it names none of them."""
    found = []
    for value in values:
        name = value.strip().lower().removeprefix(ROLE_PREFIX)
        if name in tuple(Role):
            found.append(Role(name))
    return max(found, key=lambda role: role.rank, default=None)


def person_in(claims: dict[str, Any], name_claim: str) -> str | None:
    """Who signed in: the name claim, else the subject."""
    for claim in (name_claim, "sub"):
        value = claims.get(claim)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A verified JWT's person and role (None: a valid sign-in without any of the hub's roles)."""

    person: str
    role: Role | None


class OidcSignIn:
    """Verifies JWTs against the issuer's keys (fetched when first needed) and says who signed in."""

    def __init__(self, config: OidcConfig, keys: IssuerKeys | None = None) -> None:
        self.config = config
        self._keys = keys or IssuerKeys(config.issuer, config.jwks_url)

    async def signed_in(self, token: str) -> SignedIn:
        """Who the JWT names, with their role; :class:`InvalidJwt` saying why it is refused;
        :class:`hub.api.jwks.KeysUnavailable` when the issuer's keys cannot be had."""
        alg, kid = signing_header(token)
        jwk = await self._keys.key(kid)
        if jwk is None:
            raise InvalidJwt(
                f"the JWT is signed with key {kid!r}, which the issuer does not publish"
                if kid
                else "the JWT names no key (kid) and the issuer has several"
            )
        claims = verified_claims(token, jwk, alg, self.config)
        person = person_in(claims, self.config.name_claim)
        if person is None:
            raise InvalidJwt(f"the JWT names nobody: it has neither {self.config.name_claim!r} nor 'sub'")
        return SignedIn(person, hub_role(claim_values(claims, self.config.roles_claim)))

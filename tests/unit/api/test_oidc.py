"""OpenID Connect sign-in: which JWTs count (signature, issuer, audience, time), who they name and with which role."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from hub.api.oidc import (
    InvalidJwt,
    OidcConfig,
    claim_values,
    hub_role,
    looks_like_jwt,
    person_in,
    signing_header,
    verified_claims,
)
from hub.domain.operators import Role

ISSUER = "https://login.example.dk/realms/region"
CONFIG = OidcConfig(issuer=ISSUER, audience="sektor-hub")
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def public_jwk(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, kid: str) -> dict[str, Any]:
    if isinstance(key, rsa.RSAPrivateKey):
        public = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    else:
        public = jwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {**public, "kid": kid, "use": "sig"}


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"iss": ISSUER, "aud": "sektor-hub", "sub": "f81d4fae", "exp": now + 300, "iat": now, "roles": ["viewer"]}
    return {key: value for key, value in {**base, **changes}.items() if value is not None}


def signed(payload: dict[str, Any], key: Any = RSA_KEY, alg: str = "RS256", kid: str = "k1") -> str:
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid})


def test_a_jwt_is_told_from_a_random_bearer_token() -> None:
    assert looks_like_jwt(signed(claims()))
    assert not looks_like_jwt("tok-herlev-hjerte-1f2e3d")
    assert not looks_like_jwt("a.b.c")  # three parts, but no JSON header
    assert not looks_like_jwt(secrets.token_urlsafe(32))  # as `hub operator-token` makes them


def test_a_valid_jwt_gives_its_claims() -> None:
    found = verified_claims(signed(claims(preferred_username="anna")), public_jwk(RSA_KEY, "k1"), "RS256", CONFIG)
    assert found["preferred_username"] == "anna"


def test_an_ec_signed_jwt_counts_too() -> None:
    token = signed(claims(), key=EC_KEY, alg="ES256", kid="e1")
    assert signing_header(token) == ("ES256", "e1")
    assert verified_claims(token, public_jwk(EC_KEY, "e1"), "ES256", CONFIG)["sub"] == "f81d4fae"


# the claims are made when the test runs (from the seconds since now), not when pytest collects it: a long
# session would otherwise see every token expired
@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        (lambda now: {"exp": now - 120}, "the JWT has expired (exp 20"),
        (lambda now: {"nbf": now + 600}, "the JWT is not valid yet"),
        (lambda now: {"aud": "another-app"}, "its audience 'another-app' does not hold 'sektor-hub'"),
        (lambda now: {"iss": "https://evil.example"}, "the JWT is from issuer 'https://evil.example'"),
        (lambda now: {"exp": None}, "the JWT has no 'exp' claim"),
        (lambda now: {"aud": None}, "the JWT has no 'aud' claim"),
    ],
)
def test_a_jwt_failing_a_check_says_which(changes: Callable[[int], dict[str, Any]], reason: str) -> None:
    payload = claims(**changes(int(time.time())))
    with pytest.raises(InvalidJwt) as refused:
        verified_claims(signed(payload), public_jwk(RSA_KEY, "k1"), "RS256", CONFIG)
    assert reason in str(refused.value)


def test_a_small_clock_difference_is_tolerated() -> None:
    token = signed(claims(exp=int(time.time()) - 5, nbf=int(time.time()) + 5))
    assert verified_claims(token, public_jwk(RSA_KEY, "k1"), "RS256", CONFIG)["sub"] == "f81d4fae"


def test_a_jwt_signed_by_another_key_is_refused() -> None:
    with pytest.raises(InvalidJwt, match="signature does not verify with the issuer's key k1"):
        verified_claims(signed(claims(), key=OTHER_RSA_KEY), public_jwk(RSA_KEY, "k1"), "RS256", CONFIG)


def test_a_key_is_used_only_for_its_own_algorithm() -> None:
    with pytest.raises(InvalidJwt, match="RS512"):
        verified_claims(signed(claims(), alg="RS512"), {**public_jwk(RSA_KEY, "k1"), "alg": "RS256"}, "RS512", CONFIG)


@pytest.mark.parametrize("alg", ["none", "HS256", "HS512"])
def test_unsigned_and_shared_secret_jwts_are_refused_before_any_key_is_looked_up(alg: str) -> None:
    key = "" if alg == "none" else "a-shared-secret-" * 4
    token = jwt.encode(claims(), key, algorithm=alg)
    assert looks_like_jwt(token)
    with pytest.raises(InvalidJwt, match=f"signed with '{alg}'"):
        signing_header(token)


def test_garbage_with_two_dots_is_not_a_readable_jwt() -> None:
    with pytest.raises(InvalidJwt, match="not a readable JWT"):
        signing_header("bm90.bm90.bm90")


@pytest.mark.parametrize(
    ("token_claims", "claim", "values"),
    [
        ({"roles": ["viewer", "other"]}, "roles", ["viewer", "other"]),
        ({"scope": "openid sektor-hub:operator"}, "scope", ["openid", "sektor-hub:operator"]),
        ({"realm_access": {"roles": ["administrator"]}}, "realm_access.roles", ["administrator"]),
        ({"resource_access": {"hub": {"roles": ["operator"]}}}, "resource_access.hub.roles", ["operator"]),
        ({"roles.flat": ["viewer"]}, "roles.flat", ["viewer"]),  # a claim whose name has a dot
        ({"roles": [1, "viewer", None]}, "roles", ["viewer"]),
        ({"roles": {"viewer": True}}, "roles", []),
        ({}, "realm_access.roles", []),
    ],
)
def test_role_values_are_read_from_the_claim(token_claims: dict[str, Any], claim: str, values: list[str]) -> None:
    assert claim_values(token_claims, claim) == values


@pytest.mark.parametrize(
    ("values", "role"),
    [
        (["viewer"], Role.VIEWER),
        (["viewer", "administrator", "operator"], Role.ADMINISTRATOR),
        (["offline_access", "sektor-hub:operator"], Role.OPERATOR),
        (["Sektor-Hub:Administrator"], Role.ADMINISTRATOR),
        (["OPERATOR"], Role.OPERATOR),
        (["offline_access", "uma_authorization"], None),
        (["other-app:administrator", "superuser"], None),
        ([], None),
    ],
)
def test_the_role_is_the_highest_of_the_hubs_roles_named(values: list[str], role: Role | None) -> None:
    assert hub_role(values) is role


def test_the_person_is_the_name_claim_else_the_subject() -> None:
    assert person_in({"preferred_username": "anna", "sub": "f81d"}, "preferred_username") == "anna"
    assert person_in({"preferred_username": " ", "sub": "f81d"}, "preferred_username") == "f81d"
    assert person_in({"upn": "anna@region.dk", "sub": "f81d"}, "upn") == "anna@region.dk"
    assert person_in({"name": 7}, "name") is None

"""The Authenticator: the shared operator token, named operators from the token file, organisations; and when the
hub is open (development: none of the operator credentials configured)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from hub.api.identity import SHARED_OPERATOR, Authenticator, UnknownToken
from hub.domain.operators import Role, Viewer
from hub.route.register import Register, hash_token, parse_register
from hub.settings import HubSettings


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


@pytest.fixture
def tokens_file(tmp_path: Path) -> Path:
    path = tmp_path / "operators.yaml"
    operators = [
        {"name": "anna", "role": "operator", "token_sha256": hash_token("anna-token")},
        {"name": "bo", "role": "viewer", "token_sha256": hash_token("bo-token"), "disabled": True},
    ]
    path.write_text(yaml.safe_dump({"operators": operators}), encoding="utf-8")
    return path


def authenticator(**settings: Any) -> Authenticator:
    return Authenticator(HubSettings(_env_file=None, **settings), small_register())


async def test_named_operators_get_their_names_and_roles(tokens_file: Path) -> None:
    hub = authenticator(operator_tokens_file=tokens_file)
    assert not hub.open
    assert await hub.identify("anna-token", address="10.0.0.7") == Viewer(
        person="anna", role=Role.OPERATOR, address="10.0.0.7"
    )
    with pytest.raises(UnknownToken, match="bo is disabled"):
        await hub.identify("bo-token")
    with pytest.raises(UnknownToken, match="neither an operator's nor an organisation's"):
        await hub.identify("nobody's-token")
    with pytest.raises(UnknownToken):
        await hub.identify(None)
    assert (await hub.identify("token-kommune-a")).organisation_id == "kommune-a"


async def test_the_shared_operator_token_is_one_administrator_beside_the_file(tokens_file: Path) -> None:
    hub = authenticator(operator_token="shared-secret", operator_tokens_file=tokens_file)
    assert await hub.identify("shared-secret") == Viewer(person=SHARED_OPERATOR, role=Role.ADMINISTRATOR)
    assert (await hub.identify("anna-token")).person == "anna"


async def test_an_issuer_alone_closes_the_hub() -> None:
    hub = authenticator(oidc_issuer="https://login.example.dk", oidc_audience="sektor-hub")
    assert not hub.open
    with pytest.raises(UnknownToken):
        await hub.identify("not-a-jwt")  # no JWT: looked up as a token, which it is not


async def test_without_any_operator_credentials_the_hub_is_open() -> None:
    hub = authenticator()
    assert hub.open
    assert await hub.identify(None) == Viewer(person=SHARED_OPERATOR, role=Role.ADMINISTRATOR)
    assert (await hub.identify("token-kommune-a")).organisation_id == "kommune-a"

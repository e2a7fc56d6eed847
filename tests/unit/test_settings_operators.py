"""Operator credentials in the settings: a faulty token file stops the hub before it starts, OpenID Connect needs
an audience, and production needs at least one way for operators to sign in."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from hub.cli import main
from hub.route.register import hash_token
from hub.settings import HubSettings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("HUB_", "KAFKA_")):
            monkeypatch.delenv(name)


def write_operators(path: Path, *operators: Mapping[str, object]) -> Path:
    path.write_text(yaml.safe_dump({"operators": list(operators)}), encoding="utf-8")
    return path


def test_a_faulty_token_file_stops_the_start_naming_entry_and_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    good = {"name": "anna", "role": "operator", "token_sha256": hash_token("a")}
    path = write_operators(
        tmp_path / "operators.yaml", good, {**good, "name": "bo", "role": "boss"}, {**good, "name": "carl"}
    )
    monkeypatch.setenv("HUB_OPERATOR_TOKENS_FILE", str(path))
    with pytest.raises(ValidationError, match=r"operators\[1\] \(bo\): role: 'boss' is not one of"):
        HubSettings()
    assert main(["serve"]) == 2
    error = capsys.readouterr().err
    assert "HUB_OPERATOR_TOKENS_FILE" in error and "operators[1] (bo): role" in error
    assert "operators[2] (carl): token_sha256: the same as operators[0] (anna)'s" in error


def test_an_issuer_needs_an_audience() -> None:
    with pytest.raises(ValidationError, match="HUB_OIDC_AUDIENCE must be set when HUB_OIDC_ISSUER is"):
        HubSettings(oidc_issuer="https://login.example.dk")
    assert HubSettings(oidc_issuer="https://login.example.dk", oidc_audience="hub").oidc_roles_claim == "roles"


def test_production_takes_any_one_of_the_three_operator_sign_ins(tmp_path: Path) -> None:
    production: dict[str, Any] = {"environment": "production", "kafka_bootstrap_servers": "kafka:9092"}
    with pytest.raises(ValidationError, match="unless HUB_OPERATOR_TOKENS_FILE or HUB_OIDC_ISSUER is"):
        HubSettings(**production)
    path = write_operators(tmp_path / "o.yaml", {"name": "a", "role": "viewer", "token_sha256": hash_token("a")})
    assert HubSettings(**production, operator_tokens_file=path)
    assert HubSettings(**production, oidc_issuer="https://login.example.dk", oidc_audience="hub")
    assert HubSettings(**production, operator_token="shared")


def test_production_signs_in_over_https_only() -> None:
    with pytest.raises(ValidationError, match="HUB_OIDC_ISSUER must be an https:// URL"):
        HubSettings(
            environment="production",
            kafka_bootstrap_servers="kafka:9092",
            oidc_issuer="http://login.example.dk",
            oidc_audience="hub",
        )

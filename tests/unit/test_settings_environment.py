"""HUB_ENVIRONMENT cannot be misspelt: development or production in any case; anything else refuses to start."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from hub.cli import main, settings_problem
from hub.settings import Environment, HubSettings

PRODUCTION_NEEDS = {"HUB_OPERATOR_TOKEN": "op-token", "KAFKA_BOOTSTRAP_SERVERS": "kafka:9092"}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("HUB_", "KAFKA_")):
            monkeypatch.delenv(name)


def test_default_is_development() -> None:
    assert HubSettings().environment is Environment.DEVELOPMENT


@pytest.mark.parametrize("spelling", ["production", "Production", "PRODUCTION", " production "])
def test_production_in_any_case_really_is_production(monkeypatch: pytest.MonkeyPatch, spelling: str) -> None:
    monkeypatch.setenv("HUB_ENVIRONMENT", spelling)
    # production's rules apply: no operator token, no start
    with pytest.raises(ValidationError, match="HUB_OPERATOR_TOKEN must be set"):
        HubSettings()
    for name, value in PRODUCTION_NEEDS.items():
        monkeypatch.setenv(name, value)
    assert HubSettings().environment is Environment.PRODUCTION


@pytest.mark.parametrize("spelling", ["prod", "staging", "", "dev", "production!", "pro duction"])
def test_unknown_environment_refuses(monkeypatch: pytest.MonkeyPatch, spelling: str) -> None:
    monkeypatch.setenv("HUB_ENVIRONMENT", spelling)
    for name, value in PRODUCTION_NEEDS.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as refused:
        HubSettings()
    problem = settings_problem(refused.value)
    assert problem.startswith(f"HUB_ENVIRONMENT={spelling.strip().lower()!r}:")
    assert "'development' or 'production'" in problem


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"HUB_ENVIRONMENT": "staging"}, "HUB_ENVIRONMENT='staging': Input should be 'development' or 'production'"),
        ({"HUB_ENVIRONMENT": "Production"}, "HUB_OPERATOR_TOKEN must be set when HUB_ENVIRONMENT=production"),
        ({"HUB_PORT": "eighty"}, "HUB_PORT='eighty': Input should be a valid integer"),
    ],
)
def test_hub_serve_refuses_with_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], variables: dict[str, str], expected: str
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("hub serve: not started, a setting is wrong: ")
    assert expected in err


def test_secret_values_are_not_repeated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_ENVIRONMENT", "production")
    monkeypatch.setenv("HUB_OPERATOR_TOKEN", "s3cret-operator-token")
    with pytest.raises(ValidationError) as refused:
        HubSettings()
    problem = settings_problem(refused.value)
    assert "KAFKA_BOOTSTRAP_SERVERS must be set" in problem
    assert "s3cret" not in problem


def test_topics_fit_a_three_broker_cluster_in_production_and_one_broker_in_development(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    development = HubSettings().topic_spec
    assert (development.replication_factor, development.min_insync_replicas) == (1, None)
    monkeypatch.setenv("HUB_ENVIRONMENT", "production")
    for name, value in PRODUCTION_NEEDS.items():
        monkeypatch.setenv(name, value)
    production = HubSettings().topic_spec
    assert (production.replication_factor, production.min_insync_replicas) == (3, 2)
    monkeypatch.setenv("HUB_TOPIC_REPLICATION_FACTOR", "1")  # a one-broker cluster says so
    assert (HubSettings().topic_spec.replication_factor, HubSettings().topic_spec.min_insync_replicas) == (1, None)
    monkeypatch.setenv("HUB_TOPIC_MIN_INSYNC_REPLICAS", "2")
    with pytest.raises(ValidationError, match="must not be more than"):
        HubSettings()

"""Every setting of the hub is in README's configuration table, under a name the hub reads."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices

from hub.settings import HubSettings

README = Path(__file__).resolve().parents[2] / "README.md"


def _names(field_name: str) -> list[str]:
    """The environment variables a setting is read from."""
    alias = HubSettings.model_fields[field_name].validation_alias
    if isinstance(alias, AliasChoices):
        return [choice for choice in alias.choices if isinstance(choice, str)]
    if isinstance(alias, str):
        return [alias]
    return [f"{HubSettings.model_config.get('env_prefix', '')}{field_name}".upper()]


def _configuration_table() -> str:
    section = README.read_text(encoding="utf-8").split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    return "\n".join(line for line in section.splitlines() if line.startswith("| `"))


def test_every_setting_is_documented() -> None:
    table = _configuration_table()
    assert "`HUB_PORT`" in table
    undocumented = [name for name in HubSettings.model_fields if not any(f"`{n}`" in table for n in _names(name))]
    assert undocumented == []


def test_an_alias_is_read_as_the_table_names_it() -> None:
    assert "KAFKA_BOOTSTRAP_SERVERS" in _names("kafka_bootstrap_servers")
    assert _names("port") == ["HUB_PORT"]

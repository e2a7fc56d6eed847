"""The operator token file: named operators with a role and a hashed token; a faulty file names entry and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from hub.api.operator_tokens import (
    NamedOperator,
    OperatorTokens,
    OperatorTokensError,
    load_operator_tokens,
    new_operator_entry,
    parse_operator_tokens,
)
from hub.domain.operators import Role
from hub.route.register import hash_token


def entry(name: str, role: str = "viewer", token: str | None = None, **more: Any) -> dict[str, Any]:
    return {"name": name, "role": role, "token_sha256": hash_token(token or f"token-of-{name}"), **more}


def parse(*entries: Any) -> tuple[NamedOperator, ...]:
    return parse_operator_tokens({"operators": list(entries)}, source="operators.yaml")


def test_a_file_lists_named_operators_with_their_roles() -> None:
    operators = parse(entry("anna", "operator"), entry("bo", "viewer", disabled=True), entry("carl", "administrator"))
    assert operators == (
        NamedOperator("anna", Role.OPERATOR, hash_token("token-of-anna")),
        NamedOperator("bo", Role.VIEWER, hash_token("token-of-bo"), disabled=True),
        NamedOperator("carl", Role.ADMINISTRATOR, hash_token("token-of-carl")),
    )


def test_a_hash_in_capitals_is_the_same_hash() -> None:
    (anna,) = parse({**entry("anna"), "token_sha256": hash_token("t").upper()})
    assert OperatorTokens([anna]).find("t") == anna


@pytest.mark.parametrize(
    ("faulty", "message"),
    [
        ({**entry("anna"), "role": "boss"}, "operators[0] (anna): role: 'boss' is not one of viewer, operator"),
        ({"name": "anna", "role": "viewer"}, "operators[0] (anna): token_sha256: missing"),
        ({"role": "viewer", "token_sha256": hash_token("x")}, "operators[0]: name: missing"),
        ({**entry("anna"), "token_sha256": "secret"}, "operators[0] (anna): token_sha256: must be the SHA-256"),
        ({**entry("anna"), "disable": True}, "operators[0] (anna): disable: unknown field"),
        ({**entry("anna"), "disabled": "yes please"}, "operators[0] (anna): disabled: must be true or false"),
        ({**entry("anna"), "name": " "}, "operators[0]: name: must be a non-empty text"),
        ("anna", "operators[0]: must be a mapping"),
    ],
)
def test_a_faulty_entry_is_named_with_its_field(faulty: Any, message: str) -> None:
    with pytest.raises(OperatorTokensError, match=r"^operators\.yaml: ") as refused:
        parse(faulty)
    assert message in str(refused.value)


def test_two_entries_may_share_neither_name_nor_token() -> None:
    with pytest.raises(OperatorTokensError) as refused:
        parse(entry("anna", token="a"), entry("anna", token="b"), entry("bo", token="a"))
    assert "operators[1] (anna): name: the same as operators[0] (anna)'s" in str(refused.value)
    assert "operators[2] (bo): token_sha256: the same as operators[0] (anna)'s" in str(refused.value)


@pytest.mark.parametrize("data", [None, [], {"operators": "anna"}, {"operators": []}, {"people": [entry("anna")]}])
def test_a_file_without_a_list_of_operators_is_refused(data: Any) -> None:
    with pytest.raises(OperatorTokensError, match="operators"):
        parse_operator_tokens(data, source="operators.yaml")


def test_a_token_finds_its_operator_and_no_other() -> None:
    tokens = OperatorTokens(parse(entry("anna", "operator"), entry("bo")))
    found = tokens.find("token-of-anna")
    assert found is not None and (found.name, found.role) == ("anna", Role.OPERATOR)
    assert tokens.find("token-of-nobody") is None
    assert tokens.find(hash_token("token-of-anna")) is None  # the hash itself is no token


def test_the_file_is_read_from_disk_and_its_faults_name_it(tmp_path: Path) -> None:
    path = tmp_path / "operators.yaml"
    path.write_text(yaml.safe_dump({"operators": [entry("anna")]}), encoding="utf-8")
    assert [operator.name for operator in load_operator_tokens(path)] == ["anna"]
    path.write_text("operators: [name: {", encoding="utf-8")
    with pytest.raises(OperatorTokensError, match="is not valid YAML"):
        load_operator_tokens(path)
    with pytest.raises(OperatorTokensError, match="cannot read"):
        load_operator_tokens(tmp_path / "missing.yaml")


def test_a_new_entry_grants_its_token_the_role() -> None:
    token, text = new_operator_entry(" dorte ", Role.OPERATOR)
    (operator,) = parse(*yaml.safe_load(text))
    assert (operator.name, operator.role) == ("dorte", Role.OPERATOR)
    assert OperatorTokens([operator]).find(token) == operator
    assert token not in text and len(token) >= 40
    assert new_operator_entry("dorte", Role.OPERATOR)[0] != token

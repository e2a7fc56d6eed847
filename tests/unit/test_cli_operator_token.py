"""``hub operator-token NAME ROLE``: a new token, and the entry that grants it the role in the token file."""

from __future__ import annotations

import pytest
import yaml

from hub.api.operator_tokens import OperatorTokens, parse_operator_tokens
from hub.cli import main
from hub.domain.operators import Role


def test_the_printed_entry_grants_the_printed_token_the_role(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["operator-token", "anna.jensen", "operator"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    token = lines[lines.index(next(line for line in lines if line.startswith("token for anna.jensen"))) + 1].strip()
    entry = yaml.safe_load(out[out.index("- name:") :])
    (operator,) = parse_operator_tokens({"operators": entry}, source="pasted")
    assert OperatorTokens([operator]).find(token) == operator
    assert (operator.name, operator.role) == ("anna.jensen", Role.OPERATOR)


def test_an_unknown_role_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as refused:
        main(["operator-token", "anna", "boss"])
    assert refused.value.code == 2
    assert "invalid choice: 'boss'" in capsys.readouterr().err

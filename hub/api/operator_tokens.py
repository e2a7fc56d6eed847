"""Named operators with their own bearer tokens, from a file (``HUB_OPERATOR_TOKENS_FILE``): for an installation
without an OpenID Connect sign-in.

The file lists each operator by name (the person the audit of reads names), role and token; the token is kept
only as its SHA-256 hash, the format the register keeps organisations' tokens in (``token_sha256``)::

    operators:
      - name: anna.jensen
        role: operator
        token_sha256: 5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8
      - name: bo.hansen
        role: viewer
        token_sha256: ...
        disabled: true        # refused, kept for the record

A file the hub cannot use (an unknown role, a missing or unknown field, two entries with one name or one hash)
stops the hub at start; the message names the file, the entry and the field. ``hub operator-token NAME ROLE``
makes a new token and the entry to paste.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hub.domain.operators import Role
from hub.route.register import hash_token

_FIELDS = ("name", "role", "token_sha256", "disabled")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_ROLES = ", ".join(role.value for role in Role)


class OperatorTokensError(ValueError):
    """The operator token file cannot be used; the message names the file, the entry and the field."""


@dataclass(frozen=True, slots=True)
class NamedOperator:
    """One operator of the file: who (``name``), with which role, and the hash of the token they present."""

    name: str
    role: Role
    token_sha256: str
    disabled: bool = False


def _entry_problems(entry: Any) -> list[str]:
    """What is wrong with one entry, each problem naming its field."""
    if not isinstance(entry, dict):
        return [f"must be a mapping with {', '.join(_FIELDS[:3])}, not {type(entry).__name__}"]
    problems = [f"{field}: unknown field (known: {', '.join(_FIELDS)})" for field in entry if field not in _FIELDS]
    problems += [f"{field}: missing" for field in _FIELDS[:3] if field not in entry]
    name, role, digest = entry.get("name"), entry.get("role"), entry.get("token_sha256")
    if "name" in entry and (not isinstance(name, str) or not name.strip()):
        problems.append("name: must be a non-empty text")
    if "role" in entry and role not in tuple(Role):
        problems.append(f"role: {role!r} is not one of {_ROLES}")
    if "token_sha256" in entry and (not isinstance(digest, str) or not _SHA256.fullmatch(digest.lower())):
        problems.append("token_sha256: must be the SHA-256 of the token, 64 hexadecimal digits")
    if "disabled" in entry and not isinstance(entry["disabled"], bool):
        problems.append(f"disabled: must be true or false, not {entry['disabled']!r}")
    return problems


def _label(index: int, entry: Any) -> str:
    name = entry.get("name") if isinstance(entry, dict) else None
    return f"operators[{index}] ({name})" if isinstance(name, str) and name.strip() else f"operators[{index}]"


def parse_operator_tokens(data: Any, *, source: str) -> tuple[NamedOperator, ...]:
    """The operators of a parsed token file; :class:`OperatorTokensError` naming every faulty entry and field."""
    if not isinstance(data, dict) or not isinstance(data.get("operators"), list):
        raise OperatorTokensError(f"{source}: must be a mapping with a list `operators`")
    entries: list[Any] = data["operators"]
    if not entries:
        raise OperatorTokensError(f"{source}: `operators` lists nobody")
    problems: list[str] = []
    if unknown := [key for key in data if key != "operators"]:
        problems.append(f"{', '.join(map(str, unknown))}: unknown (the file holds only `operators`)")
    operators: list[NamedOperator] = []
    first_with: dict[tuple[str, str], str] = {}  # (field, value) -> the entry that has it first
    for index, entry in enumerate(entries):
        label = _label(index, entry)
        if found := _entry_problems(entry):
            problems += [f"{label}: {problem}" for problem in found]
            continue
        operator = NamedOperator(
            name=entry["name"].strip(),
            role=Role(entry["role"]),
            token_sha256=entry["token_sha256"].lower(),
            disabled=entry.get("disabled", False),
        )
        for field, value in (("name", operator.name), ("token_sha256", operator.token_sha256)):
            if (field, value) in first_with:
                problems.append(f"{label}: {field}: the same as {first_with[field, value]}'s")
            first_with.setdefault((field, value), label)
        operators.append(operator)
    if problems:
        raise OperatorTokensError(f"{source}: {'; '.join(problems)}")
    return tuple(operators)


def load_operator_tokens(path: Path) -> tuple[NamedOperator, ...]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise OperatorTokensError(f"cannot read the operator token file {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise OperatorTokensError(f"the operator token file {path} is not valid YAML: {exc}") from exc
    return parse_operator_tokens(data, source=str(path))


class OperatorTokens:
    """The named operators of the file, looked up by the token presented."""

    def __init__(self, operators: Iterable[NamedOperator]) -> None:
        self._operators = tuple(operators)

    def find(self, token: str) -> NamedOperator | None:
        """The operator whose token this is (disabled or not). Every entry is compared, each in constant time,
        so the answer's timing tells nothing of which entry, or how much of a hash, matched."""
        presented = hash_token(token).encode()
        found = None
        for operator in self._operators:
            if hmac.compare_digest(presented, operator.token_sha256.encode()):
                found = operator
        return found


def new_operator_entry(name: str, role: Role) -> tuple[str, str]:
    """A new random token for ``name`` and the entry of the token file (YAML) that grants it ``role``."""
    if not name.strip():
        raise ValueError("an operator needs a name")
    token = secrets.token_urlsafe(32)
    entry = {"name": name.strip(), "role": role.value, "token_sha256": hash_token(token)}
    return token, yaml.safe_dump([entry], sort_keys=False, allow_unicode=True)

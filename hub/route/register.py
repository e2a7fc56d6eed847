"""The endpoint register: organisations, how to reach them, what they accept, and their credentials.

Loaded once at start from a YAML file (``HUB_REGISTER_FILE``); ``${VAR}`` in values is taken from the
environment, so URLs and secrets need not live in the file.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hub.domain.identifiers import gln_problem, sor_problem
from hub.domain.message import OrganisationRef


class RegisterError(ValueError):
    """The register file cannot be used; the message names the file and the entry."""


class OrganisationKind(StrEnum):
    HOSPITAL = "hospital"
    MUNICIPALITY = "municipality"
    GP = "gp"


class EndpointKind(StrEnum):
    HTTP = "http"
    MAILBOX = "mailbox"


class Endpoint(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: EndpointKind
    url: str | None = None
    bearer_token: str | None = Field(default=None, repr=False)

    @model_validator(mode="after")
    def _http_needs_url(self) -> Endpoint:
        if self.kind is EndpointKind.HTTP and not self.url:
            raise ValueError("an http endpoint needs a url")
        return self


def _check_sor(value: str) -> str:
    problem = sor_problem(value)
    if problem:
        raise ValueError(f"SOR code {value!r}: {problem}")
    return value


class Organisation(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: str
    kind: OrganisationKind
    sor: str
    gln: str | None = None
    municipality_code: str | None = None
    token_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$", repr=False)
    endpoint: Endpoint
    accepts: frozenset[str]

    _sor = field_validator("sor")(_check_sor)

    @field_validator("gln")
    @classmethod
    def _check_gln(cls, value: str | None) -> str | None:
        problem = gln_problem(value) if value else None
        if problem:
            raise ValueError(problem)
        return value

    @property
    def ref(self) -> OrganisationRef:
        return OrganisationRef(sor=self.sor, gln=self.gln, name=self.name)


class HubIdentity(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    sor: str
    gln: str | None = None

    _sor = field_validator("sor")(_check_sor)

    @property
    def ref(self) -> OrganisationRef:
        return OrganisationRef(sor=self.sor, gln=self.gln, name=self.name)


# the subscription filters a policy rule can require, and what "own" means for those that can be the subscriber's own
POLICY_FILTERS = ("municipality_code", "gp_list", "sender", "activity", "criteria")
OWN_FILTERS = {"municipality_code": "the subscriber's own municipality code", "gp_list": "the subscriber itself"}


class PolicyRule(BaseModel):
    """One entry of the subscription policy: which kind of organisation may subscribe to which events, with
    which filters required, and on what basis (hub.route.subscription_policy decides with these)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rule: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    kind: OrganisationKind
    events: frozenset[str] = Field(min_length=1)  # event codes, or "*" (a subscription to every event)
    # filter -> "own" (it must be the subscriber's own municipality / practice) or "any" (it must be given)
    requires: dict[str, Literal["own", "any"]] = {}
    basis: str = Field(min_length=1)

    @model_validator(mode="after")
    def _known_filters(self) -> PolicyRule:
        for name, value in self.requires.items():
            if name not in POLICY_FILTERS:
                raise ValueError(f"requires: {name!r} is not a subscription filter ({', '.join(POLICY_FILTERS)})")
            if value == "own" and name not in OWN_FILTERS:
                raise ValueError(f"requires: {name} cannot be 'own'; only {' and '.join(OWN_FILTERS)} can")
        return self


class RegisterFile(BaseModel):
    """The register file as written: the hub's identity, the organisations, the subscription policy."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    hub: HubIdentity
    organisations: tuple[Organisation, ...]
    # who may subscribe to what (none: nobody may); checked by hub.route.subscription_policy
    subscription_policy: tuple[PolicyRule, ...] = ()
    subscriptions: list[dict[str, Any]] = []  # parsed by hub.route.subscription.seed_from_register_file

    @model_validator(mode="after")
    def _unique(self) -> RegisterFile:
        for attribute in ("id", "sor"):
            seen: set[str] = set()
            for organisation in self.organisations:
                value = getattr(organisation, attribute)
                if value in seen:
                    raise ValueError(f"two organisations have {attribute} {value!r}")
                seen.add(value)
        rules = [r.rule for r in self.subscription_policy]
        twice = sorted({r for r in rules if rules.count(r) > 1})
        if twice:
            raise ValueError(f"two subscription_policy entries have rule {twice[0]!r}")
        return self


class Register:
    """The loaded register, indexed by SOR code, id and token hash."""

    def __init__(self, content: RegisterFile) -> None:
        self.hub = content.hub
        self.organisations = content.organisations
        self.subscription_policy = content.subscription_policy
        self._by_sor = {o.sor: o for o in content.organisations}
        self._by_id = {o.id: o for o in content.organisations}
        self._by_token = {o.token_sha256: o for o in content.organisations if o.token_sha256}

    def by_sor(self, sor: str | None) -> Organisation | None:
        return self._by_sor.get(sor) if sor else None

    def by_id(self, organisation_id: str) -> Organisation | None:
        return self._by_id.get(organisation_id)

    def by_token(self, token: str) -> Organisation | None:
        """The organisation whose bearer token this is (tokens are kept only as SHA-256 hashes)."""
        return self._by_token.get(hash_token(token))

    def name_of(self, sor: str | None) -> str:
        """The register id of an organisation, or ``sor:<code>`` for one the register does not know."""
        organisation = self.by_sor(sor)
        if organisation is not None:
            return organisation.id
        if sor is not None and sor == self.hub.sor:
            return "hub"
        return f"sor:{sor}" if sor else "unknown"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand(value: Any, environ: Mapping[str, str], where: str) -> Any:
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in environ:
                raise RegisterError(f"{where}: environment variable {name} is not set")
            return environ[name]

        return _VARIABLE.sub(substitute, value)
    if isinstance(value, dict):
        return {k: _expand(v, environ, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, environ, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def parse_register(data: Any, *, source: str, environ: Mapping[str, str] | None = None) -> Register:
    expanded = _expand(data, os.environ if environ is None else environ, source)
    try:
        return Register(RegisterFile.model_validate(expanded))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise RegisterError(f"{source}: {problems}") from exc


def load_register(path: Path, *, environ: Mapping[str, str] | None = None) -> Register:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RegisterError(f"cannot read register {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise RegisterError(f"register {path} is not valid YAML: {exc}") from exc
    return parse_register(data, source=str(path), environ=environ)

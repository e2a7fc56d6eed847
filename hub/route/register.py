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
from hub.fhirxml.media import FhirFormat
from hub.route.accepts import AcceptsError, VersionRestriction, parse_accepts


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
    # the FHIR format the receiver takes: each message goes in it, converted when it came in the other one
    format: FhirFormat = FhirFormat.JSON

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


class Hl7Identifier(BaseModel):
    """One way an organisation names itself, or one of its departments, in HL7 v2 messages.

    Real ADT feeds name the sending facility in MSH-4 by a local code (HD.1, the namespace id) or an OID (HD.2,
    the universal id), not by a SOR code, and the department in PV1-3 by a point-of-care code (PV1-3.1) within a
    facility (PV1-3.4). An identifier without `point_of_care` names a facility (MSH-4 or PV1-3.4); one with it
    names a department. `unit_sor` (and `unit_name`) is the SOR unit it stands for: the Encounter's serviceProvider
    of a HospitalNotification (mappings.hl7v2.addressing).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    namespace_id: str | None = Field(default=None, min_length=1)  # HD.1: a local facility code
    universal_id: str | None = Field(default=None, min_length=1)  # HD.2: e.g. the facility's OID
    point_of_care: str | None = Field(default=None, min_length=1)  # PV1-3.1: a department's code
    unit_sor: str | None = None
    unit_name: str | None = None

    @field_validator("unit_sor")
    @classmethod
    def _unit_sor(cls, value: str | None) -> str | None:
        return _check_sor(value) if value is not None else None

    @model_validator(mode="after")
    def _names_something(self) -> Hl7Identifier:
        if not (self.namespace_id or self.universal_id or self.point_of_care):
            raise ValueError("an hl7 identifier needs a namespace_id, a universal_id or a point_of_care")
        if self.point_of_care and self.universal_id:
            raise ValueError("a department (point_of_care) is qualified by its facility's namespace_id only")
        if self.unit_name and not self.unit_sor:
            raise ValueError("unit_name names the SOR unit: give unit_sor too")
        return self

    @property
    def unit(self) -> OrganisationRef | None:
        """The SOR unit this identifier stands for, when it names one."""
        return OrganisationRef(sor=self.unit_sor, name=self.unit_name) if self.unit_sor else None

    @property
    def facility_keys(self) -> tuple[str, ...]:
        """How a facility identifier is looked up (MSH-4, PV1-3.4); none for a department."""
        if self.point_of_care:
            return ()
        return tuple(
            f"{part}:{value}" for part, value in (("ns", self.namespace_id), ("uid", self.universal_id)) if value
        )


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
    # the event codes it takes, each in any version unless accepted_versions names its versions; written in the
    # register as event codes, <event code>|<version>, {event code: [versions]} or MessageDefinition canonicals
    # (hub.route.accepts), and read into these two fields
    accepts: frozenset[str]
    accepted_versions: tuple[VersionRestriction, ...] = ()
    # the HL7 v2 facility and department codes it sends (MSH-4, PV1-3); see Hl7Identifier
    hl7: tuple[Hl7Identifier, ...] = ()

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

    @model_validator(mode="before")
    @classmethod
    def _versions_from_accepts(cls, data: Any) -> Any:
        """Split ``accepts`` as written into the event codes and the versions named for them."""
        if not isinstance(data, dict) or "accepts" not in data:
            return data
        try:
            parsed = parse_accepts(data["accepts"])
        except AcceptsError as exc:
            raise ValueError(f"organisation {data.get('id')!r}: {exc}") from exc
        given = data.get("accepted_versions") or ()
        if parsed.restrictions and given:
            raise ValueError(
                f"organisation {data.get('id')!r}: name versions in accepts or accepted_versions, not both"
            )
        return {**data, "accepts": parsed.events, "accepted_versions": parsed.restrictions or given}

    def versions_of(self, event: str) -> frozenset[str] | None:
        """The versions of `event` it takes, or None for any version (hub.route.accepts.version_refusal decides)."""
        return next((r.versions for r in self.accepted_versions if r.event == event), None)


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
        claimed: dict[str, str] = {}
        for organisation in self.organisations:
            for identifier in organisation.hl7:
                for key in identifier.facility_keys:
                    other = claimed.setdefault(key, organisation.id)
                    if other != organisation.id:
                        code = key.partition(":")[2]
                        raise ValueError(
                            f"two organisations ({other}, {organisation.id}) send as HL7 facility {code!r}"
                        )
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
        self._by_facility = {
            key: (o, identifier)
            for o in content.organisations
            for identifier in o.hl7
            for key in identifier.facility_keys
        }
        self._by_municipality_code: dict[str, Organisation] = {}
        for o in content.organisations:
            code = kommunekode(o.municipality_code) if o.municipality_code else None
            if code is not None and o.kind is OrganisationKind.MUNICIPALITY:
                self._by_municipality_code.setdefault(code, o)

    def by_sor(self, sor: str | None) -> Organisation | None:
        return self._by_sor.get(sor) if sor else None

    def by_hl7_facility(
        self, namespace_id: str = "", universal_id: str = ""
    ) -> tuple[Organisation, Hl7Identifier | None] | None:
        """The organisation an HL7 HD (MSH-4, PV1-3.4) names: a SOR code in HD.1, else a registered universal id
        (HD.2), else a registered namespace id (HD.1); with the identifier that matched (None for a SOR code)."""
        organisation = self.by_sor(namespace_id)
        if organisation is not None:
            return organisation, None
        for key in (f"uid:{universal_id}" if universal_id else "", f"ns:{namespace_id}" if namespace_id else ""):
            if key and key in self._by_facility:
                return self._by_facility[key]
        return None

    def by_municipality_code(self, code: str | None) -> Organisation | None:
        """The municipality with this kommunekode ("101", "0101"), or None."""
        normalised = kommunekode(code) if code else None
        return self._by_municipality_code.get(normalised) if normalised else None

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


def kommunekode(value: str) -> str | None:
    """A Danish municipality code as 3 digits ("0101", "101" -> "101"); None when it is not 1-4 digits."""
    value = value.strip()
    if not (1 <= len(value) <= 4 and value.isascii() and value.isdigit()):
        return None
    return f"{int(value):03d}"


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

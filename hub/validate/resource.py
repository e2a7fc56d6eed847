"""Any FHIR R4 resource, not only a MedCom message: against the R4 core structure alone, or against one named
profile the hub knows (`hub validate --core`, `hub validate --profile URL`).

The profiles the hub knows are those compiled in schemas/compiled/ that constrain a resource (MedCom's, dk-core's
where compiled, the hub's own), and the R4 core definition of every resource type
(http://hl7.org/fhir/StructureDefinition/Patient, ...). A named profile is checked alone, on top of the core
structure: the message-level rules (event codes, the profiles an event calls for, destinations, references
between entries) are the default `hub validate` of a MedCom message (hub.validate.validator), not these.

The layers are the Validator's: the envelope (size, encoding, JSON, depth, duplicate keys; any resourceType),
the core structure, then the profile; issues carry FHIRPath expressions rooted at the resource's type
(Patient.identifier[0].system) with their line and column. Never raises, as the Validator. An extension without a
definition in schemas/ is a warning here (its content is not checked), unless it claims the FHIR core namespace:
any R4 resource may carry extensions of any implementation guide, and the official R4 examples do; a message
is held to the stricter policy of the Validator.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.domain.message import MessageFacts, read_facts
from hub.domain.outcome import Issue, error
from hub.validate.core import check_resource
from hub.validate.envelope import path_root, read_envelope
from hub.validate.fhirpath.resolution import within
from hub.validate.profiles import check_profile
from hub.validate.rules import Rules, load_rules
from hub.validate.validator import (
    DEFAULT_MAX_BYTES,
    MAX_ISSUES,
    SCHEMAS_DIR,
    Verdict,
    # the Validator's own steps (a check that failed itself, the cap on issues, their positions), shared with it
    _as_exception,
    _at_most,
    _located,
    validator_failed,
)

R4_CORE = "http://hl7.org/fhir/StructureDefinition/"
LIST_HINT = "`hub validate --list-profiles` lists the profiles the hub knows"

# where a profile comes from, by the start of its canonical URL
_SOURCES = (
    ("http://medcomfhir.dk/", "MedCom"),
    ("http://hl7.dk/fhir/core/", "dk-core"),
    ("http://sektorhub.dk/", "Sektor-hub"),
    (R4_CORE, "FHIR R4 core"),
)


@dataclass(frozen=True, slots=True)
class KnownProfile:
    """A profile `hub validate --profile` accepts: its canonical URL, the resource type it constrains, where it
    comes from, and whether it has compiled rules beyond the core structure (False: an R4 core definition)."""

    url: str
    type: str
    source: str
    compiled: bool


class UnknownProfile(ValueError):
    """A profile URL the hub has no rules for; the message says how to find the known ones."""


def source_of(url: str) -> str:
    return next((name for start, name in _SOURCES if url.startswith(start)), "other")


def known_profiles(rules: Rules) -> dict[str, KnownProfile]:
    """url -> KnownProfile: the compiled profiles of a resource type (not those of a data type or an extension),
    then the R4 core definition of each resource type; sorted by source and URL."""
    found = [
        KnownProfile(url, profile.type, source_of(url), True)
        for url, profile in rules.profiles.items()
        if profile.type in rules.resource_types
    ]
    found += [KnownProfile(R4_CORE + name, name, "FHIR R4 core", False) for name in rules.resource_types]
    order = {name: i for i, (_, name) in enumerate(_SOURCES)}
    found.sort(key=lambda p: (order.get(p.source, len(order)), p.url))
    return {profile.url: profile for profile in found}


def find_profile(rules: Rules, url: str) -> KnownProfile:
    """The known profile of a canonical URL (a `|version` suffix is ignored); UnknownProfile otherwise."""
    canonical = url.strip().split("|")[0]
    known = known_profiles(rules)
    found = known.get(canonical)
    if found is not None:
        return found
    if canonical in rules.profiles:
        kind = rules.profiles[canonical].type
        raise UnknownProfile(
            f"the profile {canonical} constrains the data type {kind}, not a resource; hub validate checks "
            f"resources against a profile of theirs ({LIST_HINT})"
        )
    close = difflib.get_close_matches(canonical, list(known), n=3, cutoff=0.8)
    also = f"; did you mean {' or '.join(close)}?" if close else ""
    raise UnknownProfile(f"unknown profile {canonical!r}: {LIST_HINT} ({len(known)} of them){also}")


class ResourceValidator:
    """Validates raw FHIR R4 resources against the core structure and, optionally, one known profile."""

    __slots__ = ("max_bytes", "profile", "rules")

    def __init__(
        self,
        *,
        profile: KnownProfile | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        rules: Rules | None = None,
        schemas_dir: Path | None = None,
    ) -> None:
        self.rules = rules if rules is not None else load_rules((schemas_dir or SCHEMAS_DIR).resolve())
        self.profile = profile
        self.max_bytes = max_bytes

    def checked_against(self, document: dict[str, Any] | None) -> str | None:
        """The URL of what a resource was checked against: the profile, or the R4 core definition of its type."""
        if self.profile is not None:
            return self.profile.url
        found = document.get("resourceType") if document is not None else None
        return R4_CORE + found if isinstance(found, str) and found in self.rules.resource_types else None

    def validate(self, raw: bytes) -> Verdict:
        """All issues of one resource; never raises (a fault of the validator is one `exception` issue)."""
        try:
            return self._validate(raw)
        except Exception as exc:
            return Verdict((validator_failed(exc, "validation"),), None, None)

    def _validate(self, raw: bytes) -> Verdict:
        envelope = read_envelope(raw, max_bytes=self.max_bytes, resource_type=None)
        document = envelope.document
        if document is None or not envelope.ok:
            return Verdict(_located(raw, envelope.issues), None, document)
        facts: MessageFacts | None = None
        failures: list[Issue] = []
        if document.get("resourceType") == "Bundle":
            try:
                facts = read_facts(document)
            except Exception as exc:
                failures.append(validator_failed(exc, "facts"))
        root = path_root(document)
        with within(document):  # resolve() in the invariants looks in this resource (contained, a Bundle's entries)
            issues = self._layers(document, root, failures)
        found = _at_most(MAX_ISSUES, [*failures, *issues])
        return Verdict(_located(raw, found, unique_keys=True), facts, document)

    def _layers(self, document: dict[str, Any], root: str, failures: list[Issue]) -> list[Issue]:
        try:
            found = check_resource(document, self.rules, root, strict_extensions=False)
            issues = [_as_exception(issue) for issue in found]
        except Exception as exc:
            failures.append(validator_failed(exc, "structure"))
            issues = []
        profile = self.profile
        if profile is not None and document.get("resourceType") != profile.type:
            issues.append(_wrong_type(profile, document, root))
            return issues
        if profile is None or not profile.compiled:
            return issues
        try:
            found = check_profile(self.rules, profile.url, document, root)
        except Exception as exc:
            failures.append(validator_failed(exc, "profiles"))
            return issues
        # a profile's issue at an element the structure layer already faulted says the same thing again
        faulted = {issue.expression for issue in issues if issue.is_error}
        reported = {(issue.expression, issue.code) for issue in issues}
        issues.extend(
            _as_exception(issue)
            for issue in found
            if issue.expression not in faulted and (issue.expression, issue.code) not in reported
        )
        return issues


def _wrong_type(profile: KnownProfile, document: dict[str, Any], root: str) -> Issue:
    found = document.get("resourceType")
    shown = repr(found) if isinstance(found, str) else "no resourceType"
    return error(
        "structure",
        root,
        f"the profile {profile.url} is for {profile.type} resources; this resource has {shown}",
    )


def profile_lines(rules: Rules) -> list[str]:
    """`hub validate --list-profiles`: one line per known profile, its URL, resource type and source."""
    known = list(known_profiles(rules).values())
    width = max((len(p.url) for p in known), default=0)
    kinds = max((len(p.type) for p in known), default=0)
    return [f"{p.url:<{width}}  {p.type:<{kinds}}  {p.source}" for p in known]


__all__ = [
    "LIST_HINT",
    "R4_CORE",
    "KnownProfile",
    "ResourceValidator",
    "UnknownProfile",
    "find_profile",
    "known_profiles",
    "profile_lines",
    "source_of",
]

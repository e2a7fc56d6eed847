"""The facts of a MedCom message that the hub acts on, read from a parsed Bundle.

Reading is lenient: it never raises on a malformed Bundle, it leaves out what it cannot find. The validator
decides whether the message is acceptable; routing and tracking only use facts of accepted messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hub.domain import medcom


@dataclass(frozen=True, slots=True)
class OrganisationRef:
    """An organisation as a message names it: SOR code and GLN from its identifiers.

    An Organization with more than one SOR identifier names no one organisation: its sor is None, and
    several_sor says why (MedCom allows one; the validator rejects the message, intake refuses it).
    """

    sor: str | None
    gln: str | None = None
    name: str | None = None
    several_sor: bool = False


@dataclass(frozen=True, slots=True)
class Destination:
    use: str  # "primary" or "cc" (MedCom destinationUse), "" when missing
    organisation: OrganisationRef | None
    expression: str  # FHIRPath of the destination, for error reports


@dataclass(frozen=True, slots=True)
class Response:
    """MessageHeader.response of an acknowledgement: which message it answers, and how."""

    identifier: str
    code: str  # ok | transient-error | fatal-error


@dataclass(frozen=True, slots=True)
class MessageFacts:
    bundle_id: str | None
    message_id: str | None  # MessageHeader.id, kept across resends: the idempotency key
    event: str | None  # MessageHeader.eventCoding.code
    sender: OrganisationRef | None
    destinations: tuple[Destination, ...] = ()
    patient_cpr: str | None = None
    response: Response | None = None
    activity: str | None = None  # Provenance activity code of this message (new-message, reply-message, ...)
    # MessageHeader.definition: the MessageDefinition's canonical, "<url>|<version>" (hub.route.accepts reads it)
    definition: str | None = None

    @property
    def is_acknowledgement(self) -> bool:
        return self.event == medcom.ACKNOWLEDGEMENT_EVENT

    @property
    def partition_key(self) -> str:
        """Messages about one patient stay in order: the key is the patient, else the message."""
        return self.patient_cpr or self.message_id or self.bundle_id or ""


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


class BundleIndex:
    """Entries of a Bundle by every way a reference may name them (fullUrl, Type/id)."""

    def __init__(self, bundle: dict[str, Any]) -> None:
        by_reference: dict[str, dict[str, Any]] = {}
        by_type: dict[str, list[dict[str, Any]]] = {}
        self.by_reference = by_reference
        self.by_type = by_type
        entries = bundle.get("entry")
        if not isinstance(entries, list):
            return
        for entry in entries:
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if not isinstance(resource, dict):
                continue
            rtype = resource.get("resourceType")
            if not isinstance(rtype, str):
                continue
            found = by_type.get(rtype)
            if found is None:
                by_type[rtype] = [resource]
            else:
                found.append(resource)
            full_url = entry.get("fullUrl")
            if full_url and isinstance(full_url, str):
                by_reference[full_url] = resource
            rid = resource.get("id")
            if rid and isinstance(rid, str):
                # a relative reference (Type/id) resolves to the entry with that type and id
                by_reference.setdefault(f"{rtype}/{rid}", resource)

    def resolve(self, reference: Any) -> dict[str, Any] | None:
        ref = _str(_as_dict(reference).get("reference"))
        if ref is None:
            return None
        return self.by_reference.get(ref)


def identifier_value(resource: dict[str, Any], systems: frozenset[str] | str) -> str | None:
    identifiers = resource.get("identifier")
    if not isinstance(identifiers, list):
        return None
    one = isinstance(systems, str)
    for identifier in identifiers:
        if not isinstance(identifier, dict):
            continue
        system = identifier.get("system")
        # (a JSON array or object here is unhashable)
        if isinstance(system, str) and (system == systems if one else system in systems):
            return _str(identifier.get("value"))
    return None


def identifier_count(resource: dict[str, Any], system: str) -> int:
    """How many identifiers of the resource have the system (with a value or not)."""
    identifiers = resource.get("identifier")
    if not isinstance(identifiers, list):
        return 0
    return sum(1 for identifier in identifiers if isinstance(identifier, dict) and identifier.get("system") == system)


def organisation_ref(resource: dict[str, Any] | None) -> OrganisationRef | None:
    if resource is None:
        return None
    several_sor = identifier_count(resource, medcom.SOR_SYSTEM) > 1
    return OrganisationRef(
        sor=None if several_sor else identifier_value(resource, medcom.SOR_SYSTEM),
        gln=identifier_value(resource, medcom.GLN_SYSTEMS),
        name=_str(resource.get("name")),
        several_sor=several_sor,
    )


def message_header(bundle: dict[str, Any]) -> dict[str, Any] | None:
    entries = _as_list(bundle.get("entry"))
    if not entries:
        return None
    first = _as_dict(_as_dict(entries[0]).get("resource"))
    return first if first.get("resourceType") == "MessageHeader" else None


def destination_use(destination: dict[str, Any]) -> str:
    for extension in _as_list(destination.get("extension")):
        extension = _as_dict(extension)
        if extension.get("url") == medcom.DESTINATION_USE_EXTENSION:
            return _str(_as_dict(extension.get("valueCoding")).get("code")) or ""
    return ""


def patient_cpr(index: BundleIndex) -> str | None:
    for patient in index.by_type.get("Patient", []):
        cpr = identifier_value(patient, medcom.CPR_SYSTEM) or identifier_value(patient, medcom.REPLACEMENT_CPR_SYSTEMS)
        if cpr:
            return cpr
    return None


def _own_activity(index: BundleIndex, header_id: str | None) -> str | None:
    """The Provenance activity whose target is this message's own MessageHeader."""
    if not header_id:
        return None
    own = f"MessageHeader/{header_id}"
    for provenance in index.by_type.get("Provenance", []):
        targets = [_str(_as_dict(t).get("reference")) or "" for t in _as_list(provenance.get("target"))]
        if any(t.endswith(own) for t in targets):
            for coding in _as_list(_as_dict(provenance.get("activity")).get("coding")):
                code = _str(_as_dict(coding).get("code"))
                if code:
                    return code
    return None


def read_facts(bundle: dict[str, Any]) -> MessageFacts:
    """The routing and tracking facts of a Bundle; missing parts are None."""
    header = message_header(bundle) or {}
    index = BundleIndex(bundle)
    destinations = tuple(
        Destination(
            use=destination_use(_as_dict(d)),
            organisation=organisation_ref(index.resolve(_as_dict(d).get("receiver"))),
            expression=f"Bundle.entry[0].resource.destination[{i}]",
        )
        for i, d in enumerate(_as_list(header.get("destination")))
    )
    response_part = _as_dict(header.get("response"))
    response = None
    if _str(response_part.get("identifier")) and _str(response_part.get("code")):
        response = Response(identifier=response_part["identifier"], code=response_part["code"])
    header_id = _str(header.get("id"))
    return MessageFacts(
        bundle_id=_str(bundle.get("id")),
        message_id=header_id,
        event=_str(_as_dict(header.get("eventCoding")).get("code")),
        sender=organisation_ref(index.resolve(header.get("sender"))),
        destinations=destinations,
        patient_cpr=patient_cpr(index),
        response=response,
        activity=_own_activity(index, header_id),
        definition=_str(header.get("definition")),
    )

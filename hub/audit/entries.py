"""One entry of the audit of reads, and the same entry as a FHIR R4 AuditEvent (pure).

An entry says who read (the person: an operator's name or an organisation's id; the role; the organisation when
it was an organisation's own system; the network address), what (the resource read and the query, CPR numbers
pseudonymised), when, about which patients (pseudonyms) and with what outcome.

As an AuditEvent it follows the DICOM/FHIR "rest" pattern for reads: type ``rest``, subtype the RESTful interaction
(``read`` of one resource, ``search-type`` of a search or a listing), action ``R`` (read) or ``E`` (execute, a
search), the agent the requestor, one entity for the resource read (with the query, base64) and one per patient,
identified by pseudonym only. These AuditEvents are the audit of the hub's own reads: they are not MedCom's EHMI
delivery statuses of ``/fhir/AuditEvent``.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from hub.domain.operators import Viewer

ORGANISATION_ROLE: Final = "organisation"  # the role an entry names for an organisation's own system
SEARCH_VERBS: Final = frozenset({"search", "list", "query"})  # an action with one of these words is a search

PSEUDONYM_SYSTEM: Final = "urn:sektor-hub:patient-pseudonym"
PERSON_SYSTEM: Final = "urn:sektor-hub:operator"
ORGANISATION_SYSTEM: Final = "urn:sektor-hub:organisation"
_AUDIT_EVENT_TYPE: Final = "http://terminology.hl7.org/CodeSystem/audit-event-type"
_RESTFUL_INTERACTION: Final = "http://hl7.org/fhir/restful-interaction"
_ENTITY_TYPE: Final = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
_OBJECT_ROLE: Final = "http://terminology.hl7.org/CodeSystem/object-role"
_SECURITY_ROLE: Final = "http://terminology.hl7.org/CodeSystem/extra-security-role-type"
_DICOM: Final = "http://dicom.nema.org/resources/ontology/DCM"
_SOURCE_TYPE: Final = "http://terminology.hl7.org/CodeSystem/security-source-type"
_OUTCOMES: Final = {"ok": "0", "refused": "4", "failed": "8"}  # AuditEvent.outcome: success, minor, serious failure


@dataclass(frozen=True, slots=True)
class ReadEntry:
    """One read of patient data, as the audit keeps it. ``patients`` are pseudonyms, never CPR numbers."""

    id: str
    recorded_at: str  # ISO 8601, UTC, microseconds
    person: str
    role: str  # viewer | operator | administrator | organisation
    organisation: str | None
    address: str | None
    action: str
    what: str
    query: Mapping[str, str] = field(default_factory=dict)
    outcome: str = "ok"
    patients: Sequence[str] = ()

    @property
    def is_search(self) -> bool:
        return is_search(self.action)

    def _fields(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "recorded_at": self.recorded_at,
            "person": self.person,
            "role": self.role,
            "organisation": self.organisation,
            "address": self.address,
            "action": self.action,
            "what": self.what,
            "query": dict(self.query),
            "outcome": self.outcome,
        }

    def as_row(self) -> dict[str, Any]:
        """The ``read_audit`` row (the patients go to ``read_audit_patient``)."""
        return {**self._fields(), "query": orjson.dumps(dict(self.query)).decode()}

    def as_json(self) -> dict[str, Any]:
        """The entry as the audit's query API answers it, with its AuditEvent form."""
        return {
            **self._fields(),
            "patients": list(self.patients),
            "audit_event": audit_event(self),
        }


def is_search(action: str) -> bool:
    """A search or a listing (many resources found by criteria), not the read of one resource."""
    return any(word in SEARCH_VERBS for word in action.replace(":", " ").lower().split())


def role_of(viewer: Viewer) -> str:
    """The role an entry names: the operator's, or ``organisation`` for an organisation's own system."""
    return str(viewer.role) if viewer.is_operator else ORGANISATION_ROLE


def new_entry(
    viewer: Viewer,
    *,
    entry_id: str,
    recorded_at: str,
    action: str,
    what: str,
    patients: Sequence[str],
    query: Mapping[str, str],
    outcome: str,
) -> ReadEntry:
    """The entry of ``viewer``'s read; ``patients`` and ``query`` already pseudonymised."""
    return ReadEntry(
        id=entry_id,
        recorded_at=recorded_at,
        person=viewer.person,
        role=role_of(viewer),
        organisation=viewer.organisation_id,
        address=viewer.address,
        action=action,
        what=what,
        query=dict(query),
        outcome=outcome,
        patients=tuple(patients),
    )


def entry_from_row(row: Any, patients: Sequence[str]) -> ReadEntry:
    """An entry read back: ``row`` a ``read_audit`` row (by column name)."""
    query = orjson.loads(row["query"]) if row["query"] else {}
    return ReadEntry(
        id=row["id"],
        recorded_at=row["recorded_at"],
        person=row["person"],
        role=row["role"],
        organisation=row["organisation"],
        address=row["address"],
        action=row["action"],
        what=row["what"],
        query={str(k): str(v) for k, v in query.items()},
        outcome=row["outcome"],
        patients=tuple(patients),
    )


def audit_event(entry: ReadEntry) -> dict[str, Any]:
    """The entry as a FHIR R4 AuditEvent of a RESTful read or search."""
    search = entry.is_search
    interaction = "search-type" if search else "read"
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": entry.id,
        "type": {"system": _AUDIT_EVENT_TYPE, "code": "rest", "display": "Restful Operation"},
        "subtype": [{"system": _RESTFUL_INTERACTION, "code": interaction, "display": interaction}],
        "action": "E" if search else "R",
        "recorded": entry.recorded_at,
        "outcome": _OUTCOMES.get(entry.outcome, "8"),
        "agent": [_agent(entry)],
        "source": {
            "observer": {"display": "Sektor-hub"},
            "type": [{"system": _SOURCE_TYPE, "code": "4", "display": "Application Server"}],
        },
        "entity": [_resource_entity(entry), *(_patient_entity(p) for p in entry.patients)],
    }
    if entry.outcome != "ok":
        event["outcomeDesc"] = entry.outcome
    return event


def _agent(entry: ReadEntry) -> dict[str, Any]:
    """The requestor: a person (an operator) or an organisation's system (an application)."""
    if entry.organisation is not None:
        kind = {"system": _DICOM, "code": "110150", "display": "Application"}
        who = {"identifier": {"system": ORGANISATION_SYSTEM, "value": entry.organisation}, "display": entry.person}
    else:
        kind = {"system": _SECURITY_ROLE, "code": "humanuser", "display": "human user"}
        who = {"identifier": {"system": PERSON_SYSTEM, "value": entry.person}, "display": entry.person}
    agent: dict[str, Any] = {
        "type": {"coding": [kind]},
        "role": [{"text": entry.role}],
        "who": who,
        "requestor": True,
    }
    if entry.address:
        agent["network"] = {"address": entry.address, "type": "2"}  # 2: an IP address
    return agent


def _resource_entity(entry: ReadEntry) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "what": {"display": entry.what},
        "type": {"system": _ENTITY_TYPE, "code": "2", "display": "System Object"},
        "role": {"system": _OBJECT_ROLE, "code": "24" if entry.is_search else "4", "display": _role(entry)},
        "description": entry.action,
    }
    if entry.query:
        text = "&".join(f"{k}={v}" for k, v in entry.query.items())
        entity["query"] = base64.b64encode(text.encode()).decode()
    return entity


def _role(entry: ReadEntry) -> str:
    return "Query" if entry.is_search else "Domain Resource"


def _patient_entity(patient_pseudonym: str) -> dict[str, Any]:
    return {
        "what": {"identifier": {"system": PSEUDONYM_SYSTEM, "value": patient_pseudonym}},
        "type": {"system": _ENTITY_TYPE, "code": "1", "display": "Person"},
        "role": {"system": _OBJECT_ROLE, "code": "1", "display": "Patient"},
    }

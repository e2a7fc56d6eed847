"""The tracking API: search messages, follow one message's timeline, see the register.

The operator sees every message; an organisation, with its own bearer token, the same search and timeline
over the messages it sent or received (another's message is 404, as if it did not exist; a receiver that is
not the sender sees its own delivery only). The register is the operator's.

Nobody sees a CPR number here: patients are shown by birth date only, and every other string of an answer about
messages (ids a sender chose, outcomes, the timeline's details, receivers' errors) has its CPR-shaped numbers masked
on the way out (hub.domain.identifiers.mask_cpr_everywhere), whatever the tracking store holds.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from hub.api.deps import CircuitsDep, ReadAuditDep, RegisterDep, TrackingDep, ViewerDep, WatcherDep
from hub.api.params import Instant, PageLimit, PageOffset, Text
from hub.api.responses import OutcomeError
from hub.audit.reads import multi_query
from hub.domain.identifiers import mask_cpr_everywhere
from hub.domain.operators import Viewer
from hub.domain.status import MessageStatus
from hub.track.store import MessageQuery

router = APIRouter(prefix="/api", tags=["operator"])


def utc_text(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _no_patients(viewer: Viewer, where: str) -> OutcomeError:
    return OutcomeError(
        403,
        "forbidden",
        where,
        f"{viewer.person} is a {viewer.role}, who sees no patient data; searching by patient needs the operator role",
    )


def _as_seen_by(viewer: Viewer, message: dict[str, Any]) -> dict[str, Any]:
    """The message as ``viewer`` may see it: without its patient for the viewer role."""
    if viewer.sees_patients:
        return message
    return {**message, "patient": None}


@router.get("/messages")
async def list_messages(
    request: Request,
    tracking: TrackingDep,
    viewer: ViewerDep,
    read_audit: ReadAuditDep,
    status: MessageStatus | None = None,
    event: Annotated[Text | None, Query(description="MedCom event code")] = None,
    sender: Annotated[Text | None, Query(description="register id of the sending organisation")] = None,
    receiver: Annotated[Text | None, Query(description="register id of a receiving organisation")] = None,
    patient: Annotated[
        Text | None, Query(description="CPR number, 10 digits (an organisation finds only its own messages)")
    ] = None,
    message_id: Annotated[Text | None, Query(description="MessageHeader.id")] = None,
    since: Annotated[Instant | None, Query(description="received at or after (ISO 8601)")] = None,
    until: Annotated[Instant | None, Query(description="received before (ISO 8601)")] = None,
    overdue: Annotated[bool, Query(description="only messages with an overdue acknowledgement")] = False,
    limit: PageLimit = 100,
    offset: PageOffset = 0,
) -> dict[str, Any]:
    """Messages, newest first: every message for the operator, an organisation's own for its token.
    Patients are shown masked (birth date only); to the viewer role not at all, nor may it search by patient.
    A search that touched patients (by patient, or answering messages about patients) is in the audit of reads."""
    if patient is not None and not viewer.sees_patients:
        raise _no_patients(viewer, "http.patient")
    total, found = await tracking.find_messages(
        MessageQuery(
            status=str(status) if status else None,
            event=event,
            sender=sender,
            receiver=receiver,
            patient=patient,
            message_id=message_id,
            since=utc_text(since),
            until=utc_text(until),
            overdue=overdue,
            party=viewer.organisation_id,
            limit=limit,
            offset=offset,
        )
    )
    shown = [_as_seen_by(viewer, m) for m in found]
    if viewer.sees_patients:
        of_found = await tracking.patients_of(m["tracking_id"] for m in found) if patient is None else {}
        await read_audit.record(
            viewer,
            action="search messages",
            what="messages search",
            patients=[patient] if patient is not None else of_found.values(),
            query=multi_query(request.query_params.multi_items()),
        )
    return {"total": total, "limit": limit, "offset": offset, "messages": mask_cpr_everywhere(shown)}


@router.get("/messages/{tracking_id}")
async def get_message(
    tracking_id: Text, tracking: TrackingDep, viewer: ViewerDep, read_audit: ReadAuditDep
) -> dict[str, Any]:
    """One message: its receivers, their deliveries and acknowledgements, and the timeline of every step.
    For an organisation that neither sent nor received it: 404, as for a message that does not exist.
    The read of a message about a patient is in the audit of reads."""
    found = await tracking.get_message(tracking_id, party=viewer.organisation_id)
    if found is None:
        raise OutcomeError(404, "not-found", None, f"no message with tracking id {tracking_id}")
    if viewer.sees_patients:
        await read_audit.record(
            viewer,
            action="read message",
            what=f"/api/messages/{tracking_id}",
            patients=[await tracking.patient_of(tracking_id)],
        )
    masked: dict[str, Any] = mask_cpr_everywhere(_as_seen_by(viewer, found))
    return masked


@router.get("/receivers")
async def list_receivers(register: RegisterDep, circuits: CircuitsDep, _: WatcherDep) -> dict[str, Any]:
    """The endpoint register as loaded (credentials left out), with each receiver's delivery circuit and the
    MessageDefinition versions it takes where it names them."""
    states = circuits()
    closed = {"circuit": "closed", "parked": 0, "in_flight": 0}
    return {
        "hub": {"name": register.hub.name, "sor": register.hub.sor},
        "organisations": [
            {
                "id": o.id,
                "name": o.name,
                "kind": str(o.kind),
                "sor": o.sor,
                "gln": o.gln,
                "municipality_code": o.municipality_code,
                "endpoint": {"kind": str(o.endpoint.kind), "url": o.endpoint.url},
                "accepts": sorted(o.accepts),
                # the events it takes only in named MessageDefinition versions (any other: any version)
                "accepted_versions": {r.event: sorted(r.versions) for r in o.accepted_versions},
                "delivery": states.get(o.id, closed),
            }
            for o in register.organisations
        ],
    }

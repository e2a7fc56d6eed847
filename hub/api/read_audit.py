"""The audit of reads for administrators, and the one read of personal data in full: a message's CPR number.

``GET /api/audit/reads`` answers who read patient data: by person, organisation, period, and by patient (the CPR
number given is pseudonymised and looked up; the answer shows patients as pseudonyms only, never a CPR number).
Each entry comes as JSON and as a FHIR AuditEvent of a RESTful read or search (field ``audit_event``); these are
not MedCom's delivery statuses of ``/fhir/AuditEvent``. Asking by patient is itself a read of patient data, and
recorded.

``GET /api/messages/{tracking_id}/patient`` shows an administrator the CPR number of a message's patient, every
such read recorded ("read personal data").
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from hub.api.deps import OperatorDep, ReadAuditDep, TrackingDep
from hub.api.operator import utc_text
from hub.api.params import Instant, PageLimit, PageOffset, Text
from hub.api.responses import OutcomeError
from hub.audit.reads import multi_query

router = APIRouter(prefix="/api", tags=["audit"])


@router.get("/audit/reads")
async def audit_of_reads(
    request: Request,
    read_audit: ReadAuditDep,
    administrator: OperatorDep,
    person: Annotated[Text | None, Query(description="who read: an operator's name or an organisation's id")] = None,
    patient: Annotated[Text | None, Query(description="the patient's CPR number (looked up by its pseudonym)")] = None,
    organisation: Annotated[Text | None, Query(description="register id of the organisation that read")] = None,
    since: Annotated[Instant | None, Query(description="recorded at or after (ISO 8601)")] = None,
    until: Annotated[Instant | None, Query(description="recorded before (ISO 8601)")] = None,
    limit: PageLimit = 100,
    offset: PageOffset = 0,
) -> dict[str, Any]:
    """Entries of the audit of reads, newest first; patients as pseudonyms. Administrators only."""
    if since is not None and until is not None and since >= until:
        raise OutcomeError(400, "invalid", "http.since", "since must be before until")
    total, entries = await read_audit.find(
        person=person,
        patient=patient,
        organisation=organisation,
        since=utc_text(since),
        until=utc_text(until),
        limit=limit,
        offset=offset,
    )
    if patient is not None:
        await read_audit.record(
            administrator,
            action="query read audit",
            what="/api/audit/reads",
            patients=[patient],
            query=multi_query(request.query_params.multi_items()),
        )
    return {"total": total, "limit": limit, "offset": offset, "entries": [e.as_json() for e in entries]}


@router.get("/messages/{tracking_id}/patient")
async def patient_of_message(
    tracking_id: Text, tracking: TrackingDep, read_audit: ReadAuditDep, administrator: OperatorDep
) -> dict[str, Any]:
    """The CPR number of the message's patient, in full. Administrators only; every such read recorded."""
    cpr = await tracking.patient_of(tracking_id)
    if cpr is None:
        raise OutcomeError(404, "not-found", None, f"no message with tracking id {tracking_id} that names a patient")
    await read_audit.record(
        administrator, action="read personal data", what=f"/api/messages/{tracking_id}/patient", patients=[cpr]
    )
    return {"tracking_id": tracking_id, "patient": cpr}

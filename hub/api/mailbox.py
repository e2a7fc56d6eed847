"""Mailboxes: receivers without an HTTP endpoint pull their messages here, with their own token.

What an organisation's system fetches about patients (the listing with the messages, one message) is in the audit
of reads, naming the organisation."""

from __future__ import annotations

import base64
from typing import Any

from fastapi import APIRouter, Request, Response

from hub.api.deps import MailboxDep, OrganisationDep, ReadAuditDep, TrackingDep
from hub.api.params import MailboxItemId, PageLimit
from hub.api.responses import OutcomeError
from hub.domain.operators import Viewer
from hub.fhirxml.media import MEDIA_TYPES, sniffed_format
from hub.route.register import Organisation

router = APIRouter(prefix="/mailbox", tags=["mailbox"])


def _system_of(organisation: Organisation, request: Request) -> Viewer:
    """The organisation's system, as the audit of reads names it."""
    return Viewer(organisation.id, person=organisation.id, address=request.client.host if request.client else None)


@router.get("")
async def list_mailbox(
    request: Request,
    organisation: OrganisationDep,
    mailbox: MailboxDep,
    tracking: TrackingDep,
    read_audit: ReadAuditDep,
    limit: PageLimit = 100,
) -> dict[str, Any]:
    """Messages waiting for the authenticated organisation, oldest first; only its own."""
    items = await mailbox.items(organisation.id, limit=limit)
    await read_audit.record(
        _system_of(organisation, request),
        action="list mailbox",
        what=f"/mailbox of {organisation.id}",
        patients=(await tracking.patients_of(item.tracking_id for item in items)).values(),
        query={"limit": str(limit)},
    )
    return {
        "receiver": organisation.id,
        "items": [
            {
                "id": item.id,
                "tracking_id": item.tracking_id,
                "message_id": item.message_id,
                "event": item.event,
                "created_at": item.created_at,
                "href": f"/mailbox/{item.id}",
                "message_base64": base64.b64encode(item.body).decode(),
            }
            for item in items
        ],
    }


@router.get("/{item_id}")
async def get_mailbox_item(
    request: Request,
    item_id: MailboxItemId,
    organisation: OrganisationDep,
    mailbox: MailboxDep,
    tracking: TrackingDep,
    read_audit: ReadAuditDep,
) -> Response:
    """The message exactly as the sender sent it (converted when the receiver takes the other FHIR format)."""
    item = await mailbox.item(organisation.id, item_id)
    if item is None:
        raise OutcomeError(404, "not-found", None, f"mailbox of {organisation.id} has no item {item_id}")
    await read_audit.record(
        _system_of(organisation, request),
        action="fetch mailbox item",
        what=f"/mailbox/{item_id}",
        patients=[await tracking.patient_of(item.tracking_id)],
    )
    media_type = MEDIA_TYPES[sniffed_format(item.body)]
    return Response(item.body, media_type=media_type, headers={"X-Hub-Tracking-Id": item.tracking_id})


@router.post("/{item_id}/ack", status_code=204)
async def confirm_mailbox_item(item_id: MailboxItemId, organisation: OrganisationDep, mailbox: MailboxDep) -> Response:
    """The receiver has the message safely in its own system; it leaves the mailbox."""
    if await mailbox.confirm(organisation.id, item_id) is None:
        raise OutcomeError(404, "not-found", None, f"mailbox of {organisation.id} has no item {item_id}")
    return Response(status_code=204)

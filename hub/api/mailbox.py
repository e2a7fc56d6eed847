"""Mailboxes: receivers without an HTTP endpoint pull their messages here, with their own token."""

from __future__ import annotations

import base64
from typing import Any

from fastapi import APIRouter, Response

from hub.api.deps import MailboxDep, OrganisationDep
from hub.api.params import MailboxItemId, PageLimit
from hub.api.responses import FHIR_JSON, OutcomeError

router = APIRouter(prefix="/mailbox", tags=["mailbox"])


@router.get("")
async def list_mailbox(organisation: OrganisationDep, mailbox: MailboxDep, limit: PageLimit = 100) -> dict[str, Any]:
    """Messages waiting for the authenticated organisation, oldest first; only its own."""
    items = await mailbox.items(organisation.id, limit=limit)
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
async def get_mailbox_item(item_id: MailboxItemId, organisation: OrganisationDep, mailbox: MailboxDep) -> Response:
    """The message exactly as the sender sent it."""
    item = await mailbox.item(organisation.id, item_id)
    if item is None:
        raise OutcomeError(404, "not-found", None, f"mailbox of {organisation.id} has no item {item_id}")
    return Response(item.body, media_type=FHIR_JSON, headers={"X-Hub-Tracking-Id": item.tracking_id})


@router.post("/{item_id}/ack", status_code=204)
async def confirm_mailbox_item(item_id: MailboxItemId, organisation: OrganisationDep, mailbox: MailboxDep) -> Response:
    """The receiver has the message safely in its own system; it leaves the mailbox."""
    if await mailbox.confirm(organisation.id, item_id) is None:
        raise OutcomeError(404, "not-found", None, f"mailbox of {organisation.id} has no item {item_id}")
    return Response(status_code=204)

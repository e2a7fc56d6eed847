"""Dead letters: deliveries the hub gave up on, with reason and attempts; operators redrive them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from hub.api.deps import DeadLettersDep, RedriveDep, RepairerDep, WatcherDep
from hub.api.operator import utc_text
from hub.api.params import DeadLetterId, Instant, PageLimit, RedriveLimit, Text
from hub.api.responses import OutcomeError
from hub.deliver.parking import DeadLetterQuery
from hub.domain.identifiers import mask_cpr_everywhere

router = APIRouter(prefix="/api/dead-letters", tags=["dead letters"])

Since = Annotated[Instant | None, Query(description="dead at or after (ISO 8601)")]
Until = Annotated[Instant | None, Query(description="dead before (ISO 8601)")]


@router.get("")
async def list_dead_letters(
    dead_letters: DeadLettersDep,
    _: WatcherDep,
    receiver: Text | None = None,
    event: Text | None = None,
    tracking_id: Text | None = None,
    since: Since = None,
    until: Until = None,
    include_redriven: bool = False,
    limit: PageLimit = 100,
) -> dict[str, Any]:
    """Dead letters, oldest first; each with its reason and every delivery attempt."""
    query = DeadLetterQuery(
        receiver=receiver,
        event=event,
        tracking_id=tracking_id,
        since=utc_text(since),
        until=utc_text(until),
        include_redriven=include_redriven,
        limit=limit,
    )
    # no CPR number in what operators see: the reasons and attempts may quote a receiver's answer
    return {"dead_letters": mask_cpr_everywhere(await dead_letters.find(query))}


@router.post("/{dead_letter_id}/redrive")
async def redrive_one(dead_letter_id: DeadLetterId, redrive: RedriveDep, _: RepairerDep) -> dict[str, Any]:
    """Send one dead letter back to delivery."""
    redriven = await redrive.one(dead_letter_id)
    if redriven is None:
        raise OutcomeError(404, "not-found", None, f"no dead letter {dead_letter_id} waiting for redrive")
    return {"redriven": [redriven.as_json()]}


@router.post("/redrive")
async def redrive_many(
    redrive: RedriveDep,
    _: RepairerDep,
    receiver: Text | None = None,
    event: Text | None = None,
    since: Since = None,
    until: Until = None,
    limit: RedriveLimit = 1000,
) -> dict[str, Any]:
    """Send every matching dead letter back to delivery (all of one receiver, say), oldest first, so the
    order per receiver and patient holds."""
    redriven = await redrive.matching(
        DeadLetterQuery(receiver=receiver, event=event, since=utc_text(since), until=utc_text(until), limit=limit)
    )
    return {"redriven": [r.as_json() for r in redriven]}

"""Dead letters: deliveries the hub gave up on, with reason and attempts; operators redrive them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from hub.api.deps import OperatorDep, RuntimeDep
from hub.api.operator import utc_text
from hub.api.params import DeadLetterId, Instant, PageLimit, RedriveLimit
from hub.api.responses import OutcomeError
from hub.deliver.parking import DeadLetterQuery
from hub.domain.identifiers import mask_cpr_everywhere
from hub.domain.tracking import Step, TrackingEvent
from hub.runtime import Runtime

router = APIRouter(prefix="/api/dead-letters", tags=["dead letters"])

Since = Annotated[Instant | None, Query(description="dead at or after (ISO 8601)")]
Until = Annotated[Instant | None, Query(description="dead before (ISO 8601)")]


@router.get("")
async def list_dead_letters(
    runtime: RuntimeDep,
    _: OperatorDep,
    receiver: str | None = None,
    event: str | None = None,
    tracking_id: str | None = None,
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
    return {"dead_letters": mask_cpr_everywhere(await runtime.dead_letters.find(query))}


@router.post("/{dead_letter_id}/redrive")
async def redrive_one(dead_letter_id: DeadLetterId, runtime: RuntimeDep, _: OperatorDep) -> dict[str, Any]:
    """Send one dead letter back to delivery."""
    found = await runtime.dead_letters.take_by_id(dead_letter_id)
    if found is None:
        raise OutcomeError(404, "not-found", None, f"no dead letter {dead_letter_id} waiting for redrive")
    return {"redriven": await _redrive(runtime, [found])}


@router.post("/redrive")
async def redrive_many(
    runtime: RuntimeDep,
    _: OperatorDep,
    receiver: str | None = None,
    event: str | None = None,
    since: Since = None,
    until: Until = None,
    limit: RedriveLimit = 1000,
) -> dict[str, Any]:
    """Send every matching dead letter back to delivery (all of one receiver, say), oldest first, so the
    order per receiver and patient holds."""
    taken = await runtime.dead_letters.take_for_redrive(
        DeadLetterQuery(receiver=receiver, event=event, since=utc_text(since), until=utc_text(until), limit=limit)
    )
    return {"redriven": await _redrive(runtime, taken)}


async def _redrive(runtime: Runtime, taken: list[tuple[int, Any]]) -> list[dict[str, Any]]:
    records = []
    for dead_letter_id, item in taken:
        event = TrackingEvent(
            Step.REDRIVEN,
            item.tracking_id,
            message_id=item.message_id,
            event=item.event,
            receiver=item.receiver_id,
            detail={"dead_letter": dead_letter_id},
        )
        records.append((runtime.topics.events, event.key, event.to_bytes(), None))
        records.append((runtime.topics.outbox, item.key, item.raw, item.headers()))
    await runtime.publisher.send_all(records)
    return [{"dead_letter": i, "tracking_id": item.tracking_id, "receiver": item.receiver_id} for i, item in taken]

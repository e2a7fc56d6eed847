"""Figures of a period for the operator (every message) or one organisation (its own): how many messages by
status and MedCom event, and the time from acceptance to delivery and to acknowledgement (p50, p95), with how many
acknowledgements came within MedCom's deadline, so that "on time" can be shown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query

from hub.api.deps import SettingsDep, TrackingDep, ViewerDep
from hub.api.operator import utc_text
from hub.api.params import Instant
from hub.api.responses import OutcomeError

router = APIRouter(prefix="/api", tags=["tracking"])

DEFAULT_PERIOD = timedelta(days=1)


@router.get("/figures")
async def period_figures(
    tracking: TrackingDep,
    settings: SettingsDep,
    viewer: ViewerDep,
    since: Annotated[
        Instant | None, Query(description="received at or after (ISO 8601); default: a day before until")
    ] = None,
    until: Annotated[Instant | None, Query(description="received before (ISO 8601); default: now")] = None,
) -> dict[str, Any]:
    """Messages received in the period by status and event, and delivery and acknowledgement times."""
    end = until or datetime.now(UTC)
    start = since or end - DEFAULT_PERIOD
    if start >= end:
        raise OutcomeError(400, "invalid", "http.since", "since must be before until")
    found = await tracking.figures(
        since=utc_text(start) or "",
        until=utc_text(end) or "",
        party=viewer.organisation_id,
        acknowledgement_deadline=settings.acknowledgement_timeout_seconds,
    )
    return {"organisation": viewer.organisation_id, "since": utc_text(start), "until": utc_text(end), **found}

"""Figures of a period: messages by status and event, and how long deliveries and acknowledgements took.

Pure: the tracking store reads the rows, these functions count them. Times are ISO 8601 text as the store keeps
them; percentiles are by nearest rank (the p95 is a time at least 95 % of the deliveries kept to).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class DeliveryTimes:
    """One delivery of the period: when its message was accepted, first handed over, acknowledged (or None)."""

    received_at: str
    delivered_at: str | None
    acknowledged_at: str | None


def nearest_rank(values: Sequence[float], share: float) -> float | None:
    """The smallest value that at least `share` (0 < share <= 1) of the values are at or below; None if none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _instant(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _seconds_between(start: str, end: str | None) -> float | None:
    if end is None:
        return None
    return max(0.0, (_instant(end) - _instant(start)).total_seconds())


def _spread(durations: list[float]) -> dict[str, Any]:
    p50, p95 = nearest_rank(durations, 0.50), nearest_rank(durations, 0.95)
    return {
        "count": len(durations),
        "p50_seconds": None if p50 is None else round(p50, 3),
        "p95_seconds": None if p95 is None else round(p95, 3),
    }


def timings(deliveries: Iterable[DeliveryTimes], *, acknowledgement_deadline: float) -> dict[str, Any]:
    """From acceptance to delivery and to acknowledgement, p50 and p95, and how many acknowledgements came
    within the deadline (MedCom: 30 minutes) - what "on time" means to a sender."""
    to_delivery: list[float] = []
    to_acknowledgement: list[float] = []
    for delivery in deliveries:
        delivered = _seconds_between(delivery.received_at, delivery.delivered_at)
        if delivered is not None:
            to_delivery.append(delivered)
        acknowledged = _seconds_between(delivery.received_at, delivery.acknowledged_at)
        if acknowledged is not None:
            to_acknowledgement.append(acknowledged)
    acknowledgement = _spread(to_acknowledgement)
    acknowledgement["deadline_seconds"] = acknowledgement_deadline
    acknowledgement["within_deadline"] = sum(1 for s in to_acknowledgement if s <= acknowledgement_deadline)
    return {"delivery": _spread(to_delivery), "acknowledgement": acknowledgement}


def counts(rows: Iterable[tuple[str | None, str, int]]) -> dict[str, Any]:
    """(event, status, count) rows as totals by status and, per MedCom event, by status again."""
    by_status: dict[str, int] = {}
    by_event: dict[str, dict[str, Any]] = {}
    total = 0
    for event, status, count in rows:
        total += count
        by_status[status] = by_status.get(status, 0) + count
        entry = by_event.setdefault(event or "unknown", {"total": 0, "by_status": {}})
        entry["total"] += count
        entry["by_status"][status] = entry["by_status"].get(status, 0) + count
    return {"total": total, "by_status": dict(sorted(by_status.items())), "by_event": dict(sorted(by_event.items()))}

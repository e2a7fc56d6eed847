"""When a message was accepted, and how long ago that was (pure).

A tracking id is a UUID version 7 made at the moment the intake accepted the message
(`connectors.intake.make_record`, `hub.domain.ids`): its first 48 bits are that moment in Unix milliseconds.
So the delivery worker knows a delivery's acceptance time from the outbox record alone, without asking the
tracking store. A tracking id that is not a version 7 UUID (a Kafka-native producer may choose its own) tells
nothing.
"""

from __future__ import annotations

import uuid
from datetime import datetime


def accepted_at(tracking_id: str) -> float | None:
    """The Unix time (seconds) the message with this tracking id was accepted; None when the id does not say."""
    try:
        parsed = uuid.UUID(tracking_id)
    except (ValueError, TypeError, AttributeError):
        return None
    if parsed.version != 7:
        return None
    return (parsed.int >> 80) / 1000


def seconds_since(start: float | None, now: float) -> float | None:
    """Seconds from `start` to `now`; None when `start` is unknown or after `now` (clocks of two machines)."""
    if start is None or start > now:
        return None
    return now - start


def seconds_between(start: str | None, end: str | None) -> float | None:
    """Seconds from one ISO 8601 time to another (as the tracking store keeps them); None when either is missing
    or unreadable, or the end is before the start."""
    if not start or not end:
        return None
    try:
        began, ended = datetime.fromisoformat(start), datetime.fromisoformat(end)
        seconds = (ended - began).total_seconds()
    except (ValueError, TypeError):  # unreadable, or one with a time zone and one without
        return None
    return seconds if seconds >= 0 else None

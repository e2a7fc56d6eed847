"""Values made storable in every database the hub runs on, before they are written.

SQLite stores a string of any length with any character; PostgreSQL refuses a string longer than its
``VARCHAR(n)`` column and any string with a NUL character. A tracking event carries what a message said of
itself (its ids, its event code, its patient), so a hostile or broken message could otherwise make its events
unwritable, and stop the tracking projection. Strings are cut to their column's length and NULs removed; such
values only come from invalid messages, whose rejection is what the event records.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

import sqlalchemy as sa

from hub.domain.tracking import TrackingEvent
from hub.store.tables import messages, steps

NUL = "\x00"


def fit_text(value: str, limit: int | None) -> str:
    """`value` without NUL characters and at most `limit` characters long."""
    if NUL in value:
        value = value.replace(NUL, "")
    if limit is not None and len(value) > limit:
        value = value[:limit]
    return value


@cache
def column_limits(table: sa.Table) -> Mapping[str, int | None]:
    """The string columns of `table` and their lengths (None for unbounded text)."""
    return {
        column.name: column.type.length
        for column in table.columns
        if isinstance(column.type, sa.String)  # Text is a String without a length
    }


def fit_row(table: sa.Table, row: Mapping[str, Any]) -> dict[str, Any]:
    """The row with each string value fitted to its column."""
    limits = column_limits(table)
    fitted = dict(row)
    for name, value in row.items():
        if isinstance(value, str) and name in limits:
            fitted[name] = fit_text(value, limits[name])
    return fitted


def fit_rows(table: sa.Table, rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [fit_row(table, row) for row in rows]


# an event's own fields and the columns they end up in (the ids are keys: fitted before the projection, so a
# later event of the same message finds the rows its earlier ones wrote)
_EVENT_FIELDS: dict[str, tuple[sa.Table, str]] = {
    "tracking_id": (messages, "tracking_id"),
    "message_id": (messages, "message_id"),
    "event": (messages, "event"),
    "sender": (messages, "sender"),
    "receiver": (steps, "receiver"),
    "patient": (messages, "patient"),
    "at": (steps, "at"),
    "id": (steps, "id"),
}


def storable(event: TrackingEvent) -> TrackingEvent:
    """The event with its own string fields fitted to their columns (the same event when they fit already).
    Its detail is stored as JSON text, in which a NUL is escaped; what the projection takes from it into a
    column of its own is fitted when the row is written (``fit_row``)."""
    changes: dict[str, str] = {}
    for name, (table, column) in _EVENT_FIELDS.items():
        value = getattr(event, name)
        if isinstance(value, str):
            fitted = fit_text(value, column_limits(table)[column])
            if fitted != value:
                changes[name] = fitted
    return dataclasses.replace(event, **changes) if changes else event  # type: ignore[arg-type]

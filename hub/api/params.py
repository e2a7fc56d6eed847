"""The ranges of the HTTP interface's parameters, as Annotated aliases.

Every integer a caller can put in a path or query has a range, so that no value reaches the database that
it cannot hold: outside it, FastAPI refuses the request with 400 and an OperationOutcome naming the parameter
(hub.app), rather than the database driver failing with a 500. The row ids are SQL ``INTEGER`` columns
(PostgreSQL ``int4``), so ids and offsets stop at 2**31 - 1. Instants must be in the years 1 to 9999 in UTC
too, the years a Python datetime holds. Text (ids, codes, names searched for) has a length limit and never a NUL
character, which no PostgreSQL text column holds.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Path, Query
from pydantic import AfterValidator, StringConstraints

LARGEST_ROW_ID = 2**31 - 1  # the largest value of an SQL INTEGER (PostgreSQL int4) column
LARGEST_PAGE = 1000  # the most rows one listing answers with
LARGEST_REDRIVE = 10_000  # the most dead letters one bulk redrive takes
LONGEST_TEXT = 256  # the longest id, code or name a caller can search for or name in a path

MailboxItemId = Annotated[int, Path(ge=1, le=LARGEST_ROW_ID, description="the mailbox item's id")]
DeadLetterId = Annotated[int, Path(ge=1, le=LARGEST_ROW_ID, description="the dead letter's id")]
PageLimit = Annotated[int, Query(ge=1, le=LARGEST_PAGE, description=f"at most this many (1 to {LARGEST_PAGE})")]
PageOffset = Annotated[int, Query(ge=0, le=LARGEST_ROW_ID, description="skip this many")]
RedriveLimit = Annotated[
    int, Query(ge=1, le=LARGEST_REDRIVE, description=f"redrive at most this many (1 to {LARGEST_REDRIVE})")
]


def in_utc(value: datetime) -> datetime:
    """The instant in UTC (one without an offset is taken as UTC); refused when UTC would leave the years 1-9999."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("the instant is outside the years 1 to 9999 in UTC") from exc


Instant = Annotated[datetime, AfterValidator(in_utc)]


def without_nul(value: str) -> str:
    """The text, refused when it holds a NUL character (U+0000)."""
    if "\x00" in value:
        raise ValueError("the text holds a NUL character (U+0000), which the hub never stores")
    return value


Text = Annotated[str, StringConstraints(max_length=LONGEST_TEXT), AfterValidator(without_nul)]

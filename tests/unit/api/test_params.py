"""The ranges of the HTTP parameters, and instants that must stay in the years a datetime holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from hub.api.params import LARGEST_ROW_ID, in_utc


def test_row_ids_fit_an_sql_integer() -> None:
    assert LARGEST_ROW_ID == 2_147_483_647


def test_instant_without_an_offset_is_utc() -> None:
    assert in_utc(datetime(2026, 1, 2, 3, 4)) == datetime(2026, 1, 2, 3, 4, tzinfo=UTC)


def test_instant_is_converted_to_utc() -> None:
    converted = in_utc(datetime(2026, 1, 2, 3, 4, tzinfo=timezone(timedelta(hours=2))))
    assert converted == datetime(2026, 1, 2, 1, 4, tzinfo=UTC) and converted.tzinfo is UTC


@pytest.mark.parametrize(
    "value",
    [
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))),
        datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-1))),
    ],
)
def test_instant_that_leaves_the_datetime_range_in_utc_is_refused(value: datetime) -> None:
    with pytest.raises(ValueError, match="years 1 to 9999"):
        in_utc(value)

"""The figures of a period, counted without I/O."""

from __future__ import annotations

import pytest

from hub.track.figures import DeliveryTimes, counts, nearest_rank, timings

AT = "2026-01-01T12:00:00+00:00"


@pytest.mark.parametrize(
    ("values", "share", "expected"),
    [([], 0.5, None), ([7.0], 0.95, 7.0), ([1.0, 2.0, 3.0, 4.0], 0.5, 2.0), ([*range(1, 101)], 0.95, 95)],
)
def test_nearest_rank(values: list[float], share: float, expected: float | None) -> None:
    assert nearest_rank(values, share) == expected


def test_timings_from_acceptance_to_delivery_and_to_acknowledgement() -> None:
    deliveries = [
        DeliveryTimes(AT, "2026-01-01T12:00:02+00:00", "2026-01-01T12:10:00+00:00"),
        DeliveryTimes(AT, "2026-01-01T12:00:04+00:00", "2026-01-01T13:00:00+00:00"),  # acknowledged late
        DeliveryTimes(AT, None, None),  # not delivered yet: in neither figure
        DeliveryTimes("2026-01-01T12:00:00", "2026-01-01T12:00:01+00:00", None),  # stored without an offset: UTC
    ]
    found = timings(deliveries, acknowledgement_deadline=1800)
    assert found["delivery"] == {"count": 3, "p50_seconds": 2.0, "p95_seconds": 4.0}
    assert found["acknowledgement"] == {
        "count": 2,
        "p50_seconds": 600.0,
        "p95_seconds": 3600.0,
        "deadline_seconds": 1800,
        "within_deadline": 1,
    }


def test_counts_by_status_and_by_event() -> None:
    found = counts(
        [
            ("care-communication-message", "acknowledged", 3),
            ("care-communication-message", "failed", 1),
            (None, "rejected", 2),
        ]
    )
    assert found["total"] == 6
    assert found["by_status"] == {"acknowledged": 3, "failed": 1, "rejected": 2}
    assert found["by_event"]["care-communication-message"] == {
        "total": 4,
        "by_status": {"acknowledged": 3, "failed": 1},
    }
    assert found["by_event"]["unknown"]["total"] == 2

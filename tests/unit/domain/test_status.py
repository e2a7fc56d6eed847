from __future__ import annotations

import pytest

from hub.domain.status import DeliveryStatus as D
from hub.domain.status import MessageStatus as M
from hub.domain.status import message_status, next_delivery_status


@pytest.mark.parametrize(
    ("current", "proposed", "expected"),
    [
        (None, D.PENDING, D.PENDING),
        (D.PENDING, D.DELIVERED, D.DELIVERED),
        (D.PENDING, D.RETRYING, D.RETRYING),
        (D.RETRYING, D.DELIVERED, D.DELIVERED),
        (D.DELIVERED, D.ACKNOWLEDGED, D.ACKNOWLEDGED),
        (D.ACKNOWLEDGED, D.DELIVERED, D.ACKNOWLEDGED),  # a late delivery report does not step back
        (D.ACKNOWLEDGED, D.RETRYING, D.ACKNOWLEDGED),
        (D.DELIVERED, D.RETRYING, D.DELIVERED),
        (D.FAILED, D.ACKNOWLEDGED, D.ACKNOWLEDGED),  # a late acknowledgement lifts a failure
        (D.FAILED, D.RETRYING, D.FAILED),
    ],
)
def test_delivery_transitions(current: D | None, proposed: D, expected: D) -> None:
    assert next_delivery_status(current, proposed) is expected


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"rejected": True, "routing_failed": False, "routed": False, "deliveries": []}, M.REJECTED),
        ({"rejected": False, "routing_failed": False, "routed": False, "deliveries": []}, M.RECEIVED),
        ({"rejected": False, "routing_failed": True, "routed": False, "deliveries": []}, M.FAILED),
        ({"rejected": False, "routing_failed": False, "routed": True, "deliveries": [(D.PENDING, None)]}, M.ROUTED),
        (
            {
                "rejected": False,
                "routing_failed": False,
                "routed": True,
                "deliveries": [(D.DELIVERED, None), (D.ACKNOWLEDGED, "ok")],
            },
            M.DELIVERED,
        ),
        (
            {
                "rejected": False,
                "routing_failed": False,
                "routed": True,
                "deliveries": [(D.ACKNOWLEDGED, "ok"), (D.ACKNOWLEDGED, "ok")],
            },
            M.ACKNOWLEDGED,
        ),
        (
            {
                "rejected": False,
                "routing_failed": False,
                "routed": True,
                "deliveries": [(D.ACKNOWLEDGED, "fatal-error")],
            },
            M.FAILED,
        ),
        (
            {
                "rejected": False,
                "routing_failed": False,
                "routed": True,
                "deliveries": [(D.ACKNOWLEDGED, "ok"), (D.FAILED, None)],
            },
            M.FAILED,
        ),
        (
            {"rejected": False, "routing_failed": True, "routed": True, "deliveries": [(D.ACKNOWLEDGED, "ok")]},
            M.FAILED,
        ),
    ],
)
def test_message_status_follows_its_deliveries(kwargs: dict[str, object], expected: M) -> None:
    assert message_status(**kwargs) is expected  # type: ignore[arg-type]

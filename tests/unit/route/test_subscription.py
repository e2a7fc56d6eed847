"""The subscription model: validation against the register, parsing, and seeding from the register file."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from hub.route.subscription import (
    SubscriptionError,
    SubscriptionFilters,
    SubscriptionStatus,
    seed_from_register_file,
    subscription_from_dict,
    validate_subscription,
)
from tests.unit.route.subscription_examples import EVENTS, REGISTER, sub


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"receiver_id": "nobody"}, "receiver"),
        ({"topic": "no-such-event"}, "topic"),
        ({"topic": "acknowledgement-message"}, "topic"),
        ({"id": "has space"}, "id"),
        ({"filters": SubscriptionFilters(gp_list="kommune-a")}, "filters.gp_list"),
        ({"filters": SubscriptionFilters(gp_list="nobody")}, "filters.gp_list"),
        ({"filters": SubscriptionFilters(sender="nobody")}, "filters.sender"),
        ({"filters": SubscriptionFilters(municipality_code="1O1")}, "filters.municipality_code"),
        ({"filters": SubscriptionFilters(criteria="entry.where(")}, "filters.criteria"),
        ({"filters": SubscriptionFilters(criteria="entry.resource.nosuchfunction()")}, "filters.criteria"),
        ({"filters": SubscriptionFilters(activity=frozenset({"Admit Inpatient"}))}, "filters.activity"),
    ],
)
def test_validation_names_the_faulty_field(change: dict[str, Any], field: str) -> None:
    base = sub("s1", "gp-a")
    faulty = replace(base, **change)
    with pytest.raises(SubscriptionError) as raised:
        validate_subscription(faulty, REGISTER, EVENTS)
    assert raised.value.field == field


def test_subscription_from_dict_flat_or_nested() -> None:
    flat = subscription_from_dict(
        {"id": "a", "receiver": "gp-a", "topic": "*", "gp_list": "self", "municipality_code": 101}
    )
    assert flat.filters == SubscriptionFilters(gp_list="gp-a", municipality_code="101")
    nested = subscription_from_dict(
        {"id": "b", "receiver": "gp-a", "topic": "*", "filters": {"activity": "admit-inpatient"}, "status": "paused"}
    )
    assert nested.filters.activity == frozenset({"admit-inpatient"}) and nested.status is SubscriptionStatus.PAUSED
    for bad, field in (
        ({"receiver": "gp-a", "topic": "*"}, "id"),
        ({"id": "c", "receiver": "gp-a", "topic": "*", "colour": "red"}, "colour"),
        ({"id": "c", "receiver": "gp-a", "topic": "*", "status": "off"}, "status"),
        ({"id": "c", "receiver": "gp-a", "topic": "*", "sender": "x", "filters": {"sender": "y"}}, "sender"),
    ):
        with pytest.raises(SubscriptionError) as raised:
            subscription_from_dict(bad)
        assert raised.value.field == field


def test_seed_from_register_file(tmp_path: Path) -> None:
    path = tmp_path / "register.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "hub": {"name": "hub", "sor": "900000000000001"},
                "organisations": [],
                "subscriptions": [
                    {
                        "id": "gp-a-listed",
                        "receiver": "gp-a",
                        "topic": "hospital-notification-message",
                        "gp_list": "self",
                    },
                    {
                        "id": "kbh",
                        "receiver": "kommune-kbh",
                        "topic": "hospital-notification-message",
                        "municipality_code": "101",
                        "status": "paused",
                    },
                ],
            }
        )
    )
    seeds = seed_from_register_file(path, register=REGISTER, known_events=EVENTS)
    assert [(s.id, s.filters.gp_list, str(s.status)) for s in seeds] == [
        ("gp-a-listed", "gp-a", "active"),
        ("kbh", None, "paused"),
    ]
    path.write_text(yaml.safe_dump({"subscriptions": [{"id": "x", "receiver": "nobody", "topic": "*"}]}))
    with pytest.raises(SubscriptionError, match=r"subscriptions\[0\]\.receiver"):
        seed_from_register_file(path, register=REGISTER, known_events=EVENTS)
    path.write_text(yaml.safe_dump({"hub": {}}))
    assert seed_from_register_file(path) == []

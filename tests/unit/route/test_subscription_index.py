"""The subscription index: only active subscriptions, immutable, and only candidates are evaluated."""

from __future__ import annotations

from typing import Any

from hub.route.subscription import CompiledSubscription, Subscription, SubscriptionStatus, validate_subscription
from hub.route.subscription_index import SubscriptionIndex
from tests.unit.route.subscription_examples import EVENTS, LISTED, REGISTER, index, matched, notification, sub


def test_paused_subscriptions_are_not_indexed_and_index_changes_make_new_indexes() -> None:
    paused = Subscription("p", "gp-a", "*", status=SubscriptionStatus.PAUSED)
    idx = index(paused, sub("s1", "kommune-b"))
    assert len(idx) == 1 and "p" not in idx
    resumed = idx.with_subscription(validate_subscription(Subscription("p", "gp-a", "*"), REGISTER, EVENTS))
    assert matched(resumed, notification(LISTED)) == ["gp-a", "kommune-b"]
    assert matched(idx, notification(LISTED)) == ["kommune-b"]  # the old index is unchanged
    assert matched(resumed.without("s1"), notification(LISTED)) == ["gp-a"]


def test_the_index_only_evaluates_candidates() -> None:
    calls = 0

    def counting(_: dict[str, Any]) -> list[Any]:
        nonlocal calls
        calls += 1
        return [True]

    others = [CompiledSubscription(sub(f"o{i}", "gp-b", gp_list="gp-b", criteria="x"), counting) for i in range(500)]
    elsewhere = [
        CompiledSubscription(sub(f"m{i}", "kommune-b", municipality_code="999", criteria="x"), counting)
        for i in range(500)
    ]
    mine = CompiledSubscription(sub("mine", "gp-a", gp_list="gp-a", criteria="x"), counting)
    idx = SubscriptionIndex([*others, *elsewhere, mine])
    assert matched(idx, notification(LISTED)) == ["gp-a"]
    assert calls == 1


def test_index_build_leaves_out_what_no_longer_fits_the_register() -> None:
    idx = index(sub("gone", "no-longer-registered"), sub("ok", "kommune-b"))
    assert [s.id for s in idx.subscriptions()] == ["ok"]

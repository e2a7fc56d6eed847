"""The index of active subscriptions: keyed by topic, and within a topic by the most selective filter a
subscription has (GP practice, else municipality, else sender), so one message looks only at the
subscriptions that can possibly match it. Immutable: a change makes a new index.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import structlog

from hub.domain.medcom import ACKNOWLEDGEMENT_EVENT
from hub.route.register import Register
from hub.route.subscription import (
    WILDCARD,
    CompiledSubscription,
    Subscription,
    SubscriptionError,
    validate_subscription,
)

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class _Bucket:
    """The subscriptions of one topic, each filed under its most selective filter."""

    by_gp: dict[str, list[CompiledSubscription]] = field(default_factory=dict)
    by_municipality: dict[str, list[CompiledSubscription]] = field(default_factory=dict)
    by_sender: dict[str, list[CompiledSubscription]] = field(default_factory=dict)
    rest: list[CompiledSubscription] = field(default_factory=list)

    def add(self, compiled: CompiledSubscription) -> None:
        filters = compiled.subscription.filters
        if filters.gp_list is not None:
            self.by_gp.setdefault(filters.gp_list, []).append(compiled)
        elif filters.municipality_code is not None:
            self.by_municipality.setdefault(filters.municipality_code, []).append(compiled)
        elif filters.sender is not None:
            self.by_sender.setdefault(filters.sender, []).append(compiled)
        else:
            self.rest.append(compiled)

    def candidates(self, gp: str | None, municipality: str | None, sender: str) -> Iterable[CompiledSubscription]:
        """Every subscription of this topic that can match; each appears at most once."""
        if gp is not None:
            yield from self.by_gp.get(gp, ())
        if municipality is not None:
            yield from self.by_municipality.get(municipality, ())
        yield from self.by_sender.get(sender, ())
        yield from self.rest


class SubscriptionIndex:
    """The active subscriptions, indexed for matching. Immutable: changes make a new index."""

    def __init__(self, subscriptions: Iterable[CompiledSubscription] = ()) -> None:
        self._all: dict[str, CompiledSubscription] = {}
        self._by_event: dict[str, _Bucket] = {}
        self._wildcard = _Bucket()
        for compiled in subscriptions:
            if not compiled.subscription.active:
                continue
            self._all[compiled.id] = compiled
            topic = compiled.subscription.topic
            bucket = self._wildcard if topic == WILDCARD else self._by_event.setdefault(topic, _Bucket())
            bucket.add(compiled)

    @classmethod
    def build(
        cls, subscriptions: Iterable[Subscription], register: Register, known_events: Iterable[str]
    ) -> SubscriptionIndex:
        """Validate and compile stored subscriptions; one that no longer fits the register is left out (logged)."""
        events = frozenset(known_events)
        compiled: list[CompiledSubscription] = []
        for subscription in subscriptions:
            try:
                compiled.append(validate_subscription(subscription, register, events))
            except SubscriptionError as exc:
                log.warning("subscription left out", subscription=subscription.id, field=exc.field, problem=exc.message)
        return cls(compiled)

    def __len__(self) -> int:
        return len(self._all)

    def __contains__(self, subscription_id: object) -> bool:
        return subscription_id in self._all

    def subscriptions(self) -> list[Subscription]:
        return [c.subscription for c in self._all.values()]

    def with_subscription(self, compiled: CompiledSubscription) -> SubscriptionIndex:
        """A new index where this subscription replaces any of the same id (left out when not active)."""
        others = [c for c in self._all.values() if c.id != compiled.id]
        return SubscriptionIndex([*others, compiled])

    def without(self, subscription_id: str) -> SubscriptionIndex:
        return SubscriptionIndex(c for c in self._all.values() if c.id != subscription_id)

    def candidates(
        self, event: str, gp: str | None, municipality: str | None, sender: str
    ) -> Iterable[CompiledSubscription]:
        bucket = self._by_event.get(event)
        if bucket is not None:
            yield from bucket.candidates(gp, municipality, sender)
        if event != ACKNOWLEDGEMENT_EVENT:
            yield from self._wildcard.candidates(gp, municipality, sender)

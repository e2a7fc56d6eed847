"""A rest-hook subscription's events, numbered and kept (table ``subscription_events``).

Each copy of a message the hub hands to a subscriber through a rest-hook subscription is an event of that
subscription, numbered from 1 in the order the delivery worker takes them. A copy is numbered once, however often
it is tried or taken again (after a crash, a rebalance, a redrive): the number and the counter
(``subscriptions.events_count``) are written in one transaction, so two processes that take the same copy at once
cannot give it two numbers, nor leave a gap. The events stay while their message is kept (the retention purge
takes them with it), for ``$events``.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.broker.records import OutboxRecord
from hub.domain.tracking import utc_now
from hub.messages.subscription_notification import SubscriptionEvent
from hub.store.engine import writing
from hub.store.tables import messages, subscription_events, subscriptions

LONGEST_PAGE = 100  # events in one $events answer


@dataclass(frozen=True, slots=True)
class Numbered:
    """The event of one copy, and how many events the subscription has had so far."""

    event: SubscriptionEvent
    events_since_start: int


def _event(row: sa.Row[tuple[object, ...]], bundle_id: str | None) -> SubscriptionEvent:
    return SubscriptionEvent(
        number=int(row.number),
        at=str(row.at),
        tracking_id=str(row.tracking_id),
        bundle_id=bundle_id,
        event=row.event,
    )


class _NumberedBefore(Exception):
    def __init__(self, numbered: Numbered) -> None:
        self.numbered = numbered


class SubscriptionEvents:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def number(self, subscription_id: str, item: OutboxRecord, *, bundle_id: str | None) -> Numbered | None:
        """The copy's event: its number, given now if it has none yet. None when the subscription is gone."""
        for _ in range(3):  # another process numbering the same copy at the same moment: read its number then
            try:
                return await self._number(subscription_id, item, bundle_id)
            except sa.exc.IntegrityError:
                continue
        return await self._number(subscription_id, item, bundle_id)

    async def _number(self, subscription_id: str, item: OutboxRecord, bundle_id: str | None) -> Numbered | None:
        # the counter first: the write lock (a PostgreSQL row lock, SQLite's database lock) is taken before anything
        # is read, so numbering one subscription's events is serial; a copy numbered already undoes the increment
        try:
            async with writing(self._engine) as connection:
                updated = await connection.execute(
                    subscriptions.update()
                    .where(subscriptions.c.id == subscription_id)
                    .values(events_count=subscriptions.c.events_count + 1)
                )
                if not updated.rowcount:
                    return None
                number = int(
                    await connection.scalar(
                        sa.select(subscriptions.c.events_count).where(subscriptions.c.id == subscription_id)
                    )
                    or 0
                )
                existing = (
                    await connection.execute(
                        sa.select(subscription_events).where(
                            subscription_events.c.subscription_id == subscription_id,
                            subscription_events.c.tracking_id == item.tracking_id,
                        )
                    )
                ).first()
                if existing is not None:
                    raise _NumberedBefore(Numbered(_event(existing, bundle_id), number - 1))
                at = utc_now()
                await connection.execute(
                    subscription_events.insert().values(
                        subscription_id=subscription_id,
                        number=number,
                        tracking_id=item.tracking_id,
                        message_id=item.message_id,
                        sender=item.sender_id,
                        event=item.event or None,
                        at=at,
                    )
                )
        except _NumberedBefore as before:  # the transaction rolled back: the counter is as it was
            return before.numbered
        return Numbered(SubscriptionEvent(number, at, item.tracking_id, bundle_id, item.event or None), number)

    async def carrying(self, tracking_id: str, receiver: str) -> str | None:
        """The rest-hook subscription of `receiver` that carried this message's copy as an event (None: none)."""
        query = (
            sa.select(subscription_events.c.subscription_id)
            .join(subscriptions, subscriptions.c.id == subscription_events.c.subscription_id)
            .where(subscription_events.c.tracking_id == tracking_id, subscriptions.c.receiver == receiver)
            .limit(1)
        )
        async with self._engine.connect() as connection:
            found = await connection.scalar(query)
        return str(found) if found is not None else None

    async def count(self, subscription_id: str) -> int:
        """How many events the subscription has had (its last event's number)."""
        async with self._engine.connect() as connection:
            value = await connection.scalar(
                sa.select(subscriptions.c.events_count).where(subscriptions.c.id == subscription_id)
            )
        return int(value or 0)

    async def between(self, subscription_id: str, since: int, until: int) -> list[tuple[SubscriptionEvent, str, str]]:
        """The kept events numbered `since` to `until` (both included, at most LONGEST_PAGE), oldest first, each
        with its message's sender and MessageHeader.id."""
        query = (
            sa.select(subscription_events, messages.c.bundle_id)
            .outerjoin(messages, messages.c.tracking_id == subscription_events.c.tracking_id)
            .where(
                subscription_events.c.subscription_id == subscription_id,
                subscription_events.c.number >= since,
                subscription_events.c.number <= until,
            )
            .order_by(subscription_events.c.number)
            .limit(LONGEST_PAGE)
        )
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [(_event(row, row.bundle_id), row.sender, row.message_id) for row in rows]

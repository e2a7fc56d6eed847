"""Mailboxes: receivers without an HTTP endpoint pull their messages from the hub, with their own token.

The delivery worker puts a message in its receiver's mailbox (``MailboxStore.put``); the receiver lists its
items, fetches one, and confirms it has it (``Mailbox.confirm``), which takes the item out of the mailbox and
tells the audit trail (a ``fetched`` step).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.broker.records import Headers
from hub.broker.topics import Topics
from hub.domain.tracking import Step, TrackingEvent, utc_now
from hub.store.engine import writing
from hub.store.tables import mailbox


@dataclass(frozen=True, slots=True)
class MailboxItem:
    id: int
    tracking_id: str
    message_id: str
    event: str | None
    created_at: str
    body: bytes


class MailboxStore:
    """The mailbox table: one row per (receiver, message), taken once the receiver confirms it."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def put(self, *, receiver: str, tracking_id: str, message_id: str, event: str | None, body: bytes) -> None:
        """Idempotent: a redelivered outbox record does not put a second copy in the mailbox."""
        async with writing(self.engine) as connection:
            exists = await connection.scalar(
                sa.select(mailbox.c.id).where(mailbox.c.receiver == receiver, mailbox.c.tracking_id == tracking_id)
            )
            if exists is None:
                await connection.execute(
                    mailbox.insert().values(
                        receiver=receiver,
                        tracking_id=tracking_id,
                        message_id=message_id,
                        event=event,
                        body=body,
                        created_at=utc_now(),
                    )
                )

    async def items(self, receiver: str, *, limit: int = 100) -> list[MailboxItem]:
        """The receiver's items not yet taken, oldest first."""
        async with self.engine.connect() as connection:
            rows = await connection.execute(
                sa.select(mailbox)
                .where(mailbox.c.receiver == receiver, mailbox.c.fetched_at.is_(None))
                .order_by(mailbox.c.id)
                .limit(limit)
            )
            return [_mailbox_item(r) for r in rows.mappings()]

    async def item(self, receiver: str, item_id: int) -> MailboxItem | None:
        """One of the receiver's items (taken or not); None when the receiver has no such item."""
        async with self.engine.connect() as connection:
            row = (
                (
                    await connection.execute(
                        sa.select(mailbox).where(mailbox.c.receiver == receiver, mailbox.c.id == item_id)
                    )
                )
                .mappings()
                .one_or_none()
            )
        return _mailbox_item(row) if row else None

    async def take(self, receiver: str, item_id: int) -> MailboxItem | None:
        """Mark an item taken; returns it, or None when the receiver has no such item. Taking it again
        returns it again and changes nothing."""
        async with writing(self.engine) as connection:
            row = (
                (
                    await connection.execute(
                        sa.select(mailbox).where(mailbox.c.receiver == receiver, mailbox.c.id == item_id)
                    )
                )
                .mappings()
                .one_or_none()
            )
            if row is None:
                return None
            if row["fetched_at"] is None:
                await connection.execute(mailbox.update().where(mailbox.c.id == item_id).values(fetched_at=utc_now()))
        return _mailbox_item(row)


class EventSender(Protocol):
    """What the mailbox needs of the broker's publisher (hub.broker.clients.Publisher)."""

    async def send_and_wait(self, topic: str, *, key: bytes, value: bytes, headers: Headers | None = None) -> None: ...


class Mailbox:
    """What a receiver does with its mailbox: list, fetch, confirm."""

    def __init__(self, store: MailboxStore, publisher: EventSender, topics: Topics) -> None:
        self.store = store
        self._publisher = publisher
        self._topics = topics

    async def items(self, receiver: str, *, limit: int = 100) -> list[MailboxItem]:
        return await self.store.items(receiver, limit=limit)

    async def item(self, receiver: str, item_id: int) -> MailboxItem | None:
        return await self.store.item(receiver, item_id)

    async def confirm(self, receiver: str, item_id: int) -> MailboxItem | None:
        """The receiver has the item safely in its own system: it leaves the mailbox, and the audit trail gets
        a ``fetched`` step once the broker has it. None when the receiver has no such item (nothing is sent).
        Confirming an item again returns it again and sends the step again."""
        item = await self.store.take(receiver, item_id)
        if item is None:
            return None
        event = TrackingEvent(
            Step.FETCHED,
            item.tracking_id,
            message_id=item.message_id,
            event=item.event,
            receiver=receiver,
            detail={"mailbox_item": item.id},
        )
        await self._publisher.send_and_wait(self._topics.events, key=event.key, value=event.to_bytes())
        return item


def _mailbox_item(row: Any) -> MailboxItem:
    return MailboxItem(
        id=row["id"],
        tracking_id=row["tracking_id"],
        message_id=row["message_id"],
        event=row["event"],
        created_at=row["created_at"],
        body=row["body"],
    )

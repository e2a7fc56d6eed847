"""The tracking store: a projection of the events topic (SQLite by default, PostgreSQL at scale) and mailboxes.

SQLAlchemy Core keeps one code path for both databases. The projection is idempotent: every event has an
id, and an event seen twice (the events topic is read at least once) changes nothing the second time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.domain.identifiers import mask_cpr
from hub.domain.medcom import ACKNOWLEDGEMENT_EVENT
from hub.domain.status import DeliveryStatus, MessageStatus, message_status, next_delivery_status
from hub.track.database import open_database
from hub.track.events import Step, TrackingEvent, utc_now
from hub.track.tables import deliveries, mailbox, messages, steps


@dataclass(frozen=True, slots=True)
class MessageQuery:
    status: str | None = None
    event: str | None = None
    sender: str | None = None
    receiver: str | None = None
    patient: str | None = None
    message_id: str | None = None
    since: str | None = None
    until: str | None = None
    overdue: bool = False  # delivered, but a receiver's acknowledgement is overdue
    limit: int = 100
    offset: int = 0


@dataclass(frozen=True, slots=True)
class OverdueDelivery:
    tracking_id: str
    message_id: str | None
    event: str | None
    sender: str | None
    receiver: str
    times_flagged: int


@dataclass(frozen=True, slots=True)
class MailboxItem:
    id: int
    tracking_id: str
    message_id: str
    event: str | None
    created_at: str
    body: bytes


class TrackingStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @classmethod
    async def open(cls, url: str) -> TrackingStore:
        return cls(await open_database(url))

    async def close(self) -> None:
        await self.engine.dispose()

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(sa.text("SELECT 1"))

    # --- the projection -------------------------------------------------------------------------

    async def record(self, events: Sequence[TrackingEvent]) -> None:
        """Apply a batch of events in one transaction."""
        if not events:
            return
        async with self.engine.begin() as connection:
            seen = await self._known_event_ids(connection, [e.id for e in events])
            touched: set[str] = set()
            for event in events:
                if event.id in seen:
                    continue
                seen.add(event.id)
                touched.update(await self._apply(connection, event))
            for tracking_id in touched:
                await self._refresh_status(connection, tracking_id)

    async def _known_event_ids(self, connection: AsyncConnection, ids: list[str]) -> set[str]:
        rows = await connection.execute(sa.select(steps.c.id).where(steps.c.id.in_(ids)))
        return {row.id for row in rows}

    async def _apply(self, connection: AsyncConnection, event: TrackingEvent) -> set[str]:
        now = utc_now()
        tracking_ids = {event.tracking_id}
        if event.step is Step.RECEIVED:
            exists = await connection.scalar(
                sa.select(messages.c.tracking_id).where(messages.c.tracking_id == event.tracking_id)
            )
            if exists is None:
                await connection.execute(
                    messages.insert().values(
                        tracking_id=event.tracking_id,
                        message_id=event.message_id,
                        bundle_id=event.detail.get("bundle_id"),
                        event=event.event,
                        sender=event.sender,
                        patient=event.patient,
                        connector=event.detail.get("connector"),
                        received_at=event.at,
                        status=MessageStatus.RECEIVED,
                        routed=False,
                        routing_failed=False,
                        rejected=False,
                        updated_at=now,
                    )
                )
        elif event.step in (Step.REJECTED, Step.ROUTING_FAILED):
            flag = "rejected" if event.step is Step.REJECTED else "routing_failed"
            await connection.execute(
                messages.update()
                .where(messages.c.tracking_id == event.tracking_id)
                .values({flag: True, "outcome": orjson.dumps(event.detail.get("outcome")).decode()})
            )
        elif event.step is Step.ROUTED:
            await connection.execute(
                messages.update().where(messages.c.tracking_id == event.tracking_id).values(routed=True)
            )
            for receiver in event.detail.get("receivers", []):
                await self._ensure_delivery(connection, event.tracking_id, receiver["receiver"], receiver.get("use"))
        elif event.step is Step.ACKNOWLEDGEMENT_OVERDUE:
            await connection.execute(
                deliveries.update()
                .where(deliveries.c.tracking_id == event.tracking_id, deliveries.c.receiver == event.receiver)
                .values(overdue_count=deliveries.c.overdue_count + 1, updated_at=utc_now())
            )
        elif event.step in _DELIVERY_OUTCOMES:
            await self._advance_delivery(connection, event.tracking_id, event, _DELIVERY_OUTCOMES[event.step])
        elif event.step is Step.ACKNOWLEDGED:
            tracking_ids = await self._acknowledge(connection, event)
        await self._insert_steps(connection, event, tracking_ids)
        return tracking_ids

    async def _insert_steps(self, connection: AsyncConnection, event: TrackingEvent, tracking_ids: set[str]) -> None:
        detail = orjson.dumps(event.detail).decode() if event.detail else None
        for index, tracking_id in enumerate(sorted(tracking_ids)):
            await connection.execute(
                steps.insert().values(
                    id=event.id if index == 0 else f"{event.id[:24]}{index:08d}",
                    tracking_id=tracking_id,
                    at=event.at,
                    step=str(event.step),
                    receiver=event.receiver,
                    detail=detail,
                )
            )

    async def _ensure_delivery(
        self, connection: AsyncConnection, tracking_id: str, receiver: str, use: str | None
    ) -> None:
        exists = await connection.scalar(
            sa.select(deliveries.c.status).where(
                deliveries.c.tracking_id == tracking_id, deliveries.c.receiver == receiver
            )
        )
        if exists is None:
            await connection.execute(
                deliveries.insert().values(
                    tracking_id=tracking_id,
                    receiver=receiver,
                    use=use,
                    status=DeliveryStatus.PENDING,
                    attempts=0,
                    overdue_count=0,
                    updated_at=utc_now(),
                )
            )

    async def _advance_delivery(
        self, connection: AsyncConnection, tracking_id: str, event: TrackingEvent, proposed: DeliveryStatus
    ) -> None:
        receiver = event.receiver or ""
        await self._ensure_delivery(connection, tracking_id, receiver, None)
        row = (
            await connection.execute(
                sa.select(deliveries.c.status, deliveries.c.attempts).where(
                    deliveries.c.tracking_id == tracking_id, deliveries.c.receiver == receiver
                )
            )
        ).one()
        values: dict[str, Any] = {
            "status": next_delivery_status(DeliveryStatus(row.status), proposed),
            "updated_at": utc_now(),
        }
        if event.step in (Step.DELIVERED, Step.DELIVERY_ATTEMPT_FAILED, Step.DELIVERY_FAILED):
            values["attempts"] = max(row.attempts, int(event.detail.get("attempt", row.attempts + 1)))
        if "error" in event.detail:
            values["last_error"] = str(event.detail["error"])
        if "code" in event.detail:
            values["ack_code"] = event.detail["code"]
        await connection.execute(
            deliveries.update()
            .where(deliveries.c.tracking_id == tracking_id, deliveries.c.receiver == receiver)
            .values(values)
        )

    async def _acknowledge(self, connection: AsyncConnection, event: TrackingEvent) -> set[str]:
        """Mark every tracked copy of the acknowledged message for that receiver; returns their tracking ids."""
        conditions = [messages.c.message_id == event.message_id, deliveries.c.receiver == event.receiver]
        if event.sender:  # message ids are unique per sender
            conditions.append(messages.c.sender == event.sender)
        rows = await connection.execute(
            sa.select(deliveries.c.tracking_id)
            .join(messages, messages.c.tracking_id == deliveries.c.tracking_id)
            .where(*conditions)
        )
        tracking_ids = {row.tracking_id for row in rows}
        for tracking_id in tracking_ids:
            await self._advance_delivery(connection, tracking_id, event, DeliveryStatus.ACKNOWLEDGED)
        if not tracking_ids:
            # the acknowledgement answers nothing the hub carried to that receiver: keep it on its own record
            tracking_ids = {event.tracking_id}
            event.detail.setdefault("note", "no message with this id was delivered to the acknowledging receiver")
        return tracking_ids

    async def _refresh_status(self, connection: AsyncConnection, tracking_id: str) -> None:
        row = (
            await connection.execute(
                sa.select(messages.c.rejected, messages.c.routing_failed, messages.c.routed, messages.c.event).where(
                    messages.c.tracking_id == tracking_id
                )
            )
        ).one_or_none()
        if row is None:
            return
        delivery_rows = await connection.execute(
            sa.select(deliveries.c.status, deliveries.c.ack_code).where(deliveries.c.tracking_id == tracking_id)
        )
        status = message_status(
            rejected=row.rejected,
            routing_failed=row.routing_failed,
            routed=row.routed,
            deliveries=[(DeliveryStatus(d.status), d.ack_code) for d in delivery_rows],
        )
        await connection.execute(
            messages.update().where(messages.c.tracking_id == tracking_id).values(status=status, updated_at=utc_now())
        )

    # --- operator queries -------------------------------------------------------------------------

    async def find_messages(self, query: MessageQuery) -> tuple[int, list[dict[str, Any]]]:
        conditions = []
        for column in ("status", "event", "sender", "patient", "message_id"):
            value = getattr(query, column)
            if value is not None:
                conditions.append(messages.c[column] == value)
        if query.since:
            conditions.append(messages.c.received_at >= query.since)
        if query.until:
            conditions.append(messages.c.received_at < query.until)
        if query.overdue:
            conditions.append(
                messages.c.tracking_id.in_(
                    sa.select(deliveries.c.tracking_id).where(
                        deliveries.c.status == DeliveryStatus.DELIVERED, deliveries.c.overdue_count > 0
                    )
                )
            )
        if query.receiver:
            conditions.append(
                messages.c.tracking_id.in_(
                    sa.select(deliveries.c.tracking_id).where(deliveries.c.receiver == query.receiver)
                )
            )
        async with self.engine.connect() as connection:
            total = await connection.scalar(sa.select(sa.func.count()).select_from(messages).where(*conditions))
            rows = (
                (
                    await connection.execute(
                        sa.select(messages)
                        .where(*conditions)
                        .order_by(messages.c.received_at.desc())
                        .limit(query.limit)
                        .offset(query.offset)
                    )
                )
                .mappings()
                .all()
            )
            by_message = await self._deliveries_of(connection, [r["tracking_id"] for r in rows])
        return int(total or 0), [_message_view(r, by_message.get(r["tracking_id"], [])) for r in rows]

    async def get_message(self, tracking_id: str) -> dict[str, Any] | None:
        async with self.engine.connect() as connection:
            row = (
                (await connection.execute(sa.select(messages).where(messages.c.tracking_id == tracking_id)))
                .mappings()
                .one_or_none()
            )
            step_rows = (
                (
                    await connection.execute(
                        sa.select(steps).where(steps.c.tracking_id == tracking_id).order_by(steps.c.at, steps.c.id)
                    )
                )
                .mappings()
                .all()
            )
            if row is None and not step_rows:
                return None
            by_message = await self._deliveries_of(connection, [tracking_id])
        view: dict[str, Any] = (
            _message_view(row, by_message.get(tracking_id, [])) if row else {"tracking_id": tracking_id}
        )
        if row is not None and row["outcome"]:
            view["outcome"] = orjson.loads(row["outcome"])
        view["timeline"] = [
            {
                "at": s["at"],
                "step": s["step"],
                "receiver": s["receiver"],
                "detail": orjson.loads(s["detail"]) if s["detail"] else {},
            }
            for s in step_rows
        ]
        return view

    async def _deliveries_of(
        self, connection: AsyncConnection, tracking_ids: Iterable[str]
    ) -> dict[str, list[dict[str, Any]]]:
        ids = list(tracking_ids)
        result: dict[str, list[dict[str, Any]]] = {}
        if not ids:
            return result
        rows = await connection.execute(
            sa.select(deliveries).where(deliveries.c.tracking_id.in_(ids)).order_by(deliveries.c.receiver)
        )
        for d in rows.mappings():
            result.setdefault(d["tracking_id"], []).append(
                {
                    "receiver": d["receiver"],
                    "use": d["use"],
                    "status": d["status"],
                    "attempts": d["attempts"],
                    "acknowledgement": d["ack_code"],
                    "acknowledgement_overdue": d["overdue_count"] > 0 and d["status"] == DeliveryStatus.DELIVERED,
                    "last_error": d["last_error"],
                    "updated_at": d["updated_at"],
                }
            )
        return result

    async def overdue_deliveries(
        self, *, delivered_before: str, max_flags: int, limit: int = 500
    ) -> list[OverdueDelivery]:
        """Delivered, not acknowledged, last touched before `delivered_before`, flagged at most `max_flags`
        times; acknowledgements themselves are never acknowledged, so they are never overdue."""
        async with self.engine.connect() as connection:
            rows = await connection.execute(
                sa.select(
                    deliveries.c.tracking_id,
                    deliveries.c.receiver,
                    deliveries.c.overdue_count,
                    messages.c.message_id,
                    messages.c.event,
                    messages.c.sender,
                )
                .join(messages, messages.c.tracking_id == deliveries.c.tracking_id)
                .where(
                    deliveries.c.status == DeliveryStatus.DELIVERED,
                    deliveries.c.updated_at < delivered_before,
                    deliveries.c.overdue_count <= max_flags,
                    messages.c.event != ACKNOWLEDGEMENT_EVENT,
                )
                .limit(limit)
            )
            return [
                OverdueDelivery(r.tracking_id, r.message_id, r.event, r.sender, r.receiver, r.overdue_count)
                for r in rows
            ]

    async def counts(self) -> dict[str, dict[str, int]]:
        """Figures for the metrics: messages per status, deliveries per status, overdue acknowledgements."""
        async with self.engine.connect() as connection:
            by_status = await connection.execute(
                sa.select(messages.c.status, sa.func.count()).group_by(messages.c.status)
            )
            by_delivery = await connection.execute(
                sa.select(deliveries.c.status, sa.func.count()).group_by(deliveries.c.status)
            )
            overdue = await connection.scalar(
                sa.select(sa.func.count())
                .select_from(deliveries)
                .where(deliveries.c.status == DeliveryStatus.DELIVERED, deliveries.c.overdue_count > 0)
            )
            return {
                "messages": {str(s): int(n) for s, n in by_status},
                "deliveries": {str(s): int(n) for s, n in by_delivery},
                "overdue": {"acknowledgements": int(overdue or 0)},
            }

    # --- mailboxes ----------------------------------------------------------------------------------

    async def put_in_mailbox(
        self, *, receiver: str, tracking_id: str, message_id: str, event: str | None, body: bytes
    ) -> None:
        """Idempotent: a redelivered outbox record does not put a second copy in the mailbox."""
        async with self.engine.begin() as connection:
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

    async def mailbox_items(self, receiver: str, *, limit: int = 100) -> list[MailboxItem]:
        async with self.engine.connect() as connection:
            rows = await connection.execute(
                sa.select(mailbox)
                .where(mailbox.c.receiver == receiver, mailbox.c.fetched_at.is_(None))
                .order_by(mailbox.c.id)
                .limit(limit)
            )
            return [_mailbox_item(r) for r in rows.mappings()]

    async def mailbox_item(self, receiver: str, item_id: int) -> MailboxItem | None:
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

    async def confirm_mailbox_item(self, receiver: str, item_id: int) -> MailboxItem | None:
        """Mark an item taken; returns it, or None when the receiver has no such item."""
        async with self.engine.begin() as connection:
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


_DELIVERY_OUTCOMES = {
    Step.DELIVERY_ATTEMPT_FAILED: DeliveryStatus.RETRYING,
    Step.DELIVERED: DeliveryStatus.DELIVERED,
    Step.DELIVERY_FAILED: DeliveryStatus.FAILED,
    Step.REDRIVEN: DeliveryStatus.PENDING,
}


def _mailbox_item(row: Any) -> MailboxItem:
    return MailboxItem(
        id=row["id"],
        tracking_id=row["tracking_id"],
        message_id=row["message_id"],
        event=row["event"],
        created_at=row["created_at"],
        body=row["body"],
    )


def _message_view(row: Any, receivers: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "tracking_id": row["tracking_id"],
        "message_id": row["message_id"],
        "bundle_id": row["bundle_id"],
        "event": row["event"],
        "sender": row["sender"],
        "patient": mask_cpr(row["patient"]),
        "connector": row["connector"],
        "received_at": row["received_at"],
        "status": row["status"],
        "updated_at": row["updated_at"],
        "receivers": receivers,
    }

"""The tracking store: a projection of the events topic (SQLite by default, PostgreSQL at scale).

SQLAlchemy Core keeps one code path for both databases. The projection is idempotent: every event has an
id, and an event seen twice (the events topic is read at least once) changes nothing the second time. A batch
of events costs a fixed number of statements: the rows it can touch are read at once, the events applied to
them in memory (hub.track.projection), and the changes written back with one executemany per table.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.deliver.mailbox import MailboxStore
from hub.domain.identifiers import mask_cpr
from hub.domain.medcom import ACKNOWLEDGEMENT_EVENT
from hub.domain.status import DeliveryStatus
from hub.domain.tracking import Step, TrackingEvent, utc_now
from hub.store.engine import chunks, open_database, writing
from hub.store.fitting import fit_rows, storable
from hub.store.tables import deliveries, messages, steps
from hub.track import figures, projection


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
    # an organisation's own view: only the messages it sent or is a receiver of (None: every message)
    party: str | None = None
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
class TrafficCount:
    """How many messages came in during one minute (``2026-12-06T21:15``, UTC) over one connector with one status."""

    minute: str
    connector: str
    status: str
    count: int


class TrackingStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        # the mailboxes share the database; the delivery worker reaches them through its tracking store
        self.mailbox = MailboxStore(engine)

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
        """Apply a batch of events in one transaction, in a fixed number of statements however long the batch:
        load the rows it can touch, apply the events in memory (hub.track.projection), write back the changes.

        Values are fitted to their columns first (hub.store.fitting): an over-long id or a NUL character from
        a broken message must not make its events unwritable in PostgreSQL."""
        if not events:
            return
        events = [storable(event) for event in events]
        async with writing(self.engine) as connection:
            fresh = projection.fresh_events(events, await self._known_step_ids(connection, [e.id for e in events]))
            if not fresh:
                return
            wanted = projection.rows_wanted(fresh)
            message_rows = await self._load_messages(connection, wanted)
            tracking_ids = wanted.tracking_ids | {row["tracking_id"] for row in message_rows}
            delivery_rows = await self._load_deliveries(connection, tracking_ids)
            changes = projection.project(fresh, messages=message_rows, deliveries=delivery_rows, now=utc_now())
            await self._write(connection, changes)

    async def _known_step_ids(self, connection: AsyncConnection, ids: list[str]) -> set[str]:
        known: set[str] = set()
        for chunk in chunks(sorted(set(ids)), _IN_LIMIT):
            known.update(await connection.scalars(sa.select(steps.c.id).where(steps.c.id.in_(chunk))))
        return known

    async def _load_messages(self, connection: AsyncConnection, wanted: projection.Wanted) -> list[dict[str, Any]]:
        """The messages of the batch's tracking ids and the acknowledged ones (with their other copies)."""
        conditions: list[list[sa.ColumnElement[bool]]] = [
            [messages.c.tracking_id.in_(chunk)] for chunk in chunks(sorted(wanted.tracking_ids), _IN_LIMIT)
        ]
        for index, chunk in enumerate(chunks(sorted(wanted.message_ids), _IN_LIMIT)):  # one statement, two lists
            if index < len(conditions):
                conditions[index].append(messages.c.message_id.in_(chunk))
            else:
                conditions.append([messages.c.message_id.in_(chunk)])
        if wanted.unnamed_receivers:  # an acknowledgement naming no message matches the messages that have none
            delivered_to = sa.exists().where(
                deliveries.c.tracking_id == messages.c.tracking_id,
                deliveries.c.receiver.in_(sorted(wanted.unnamed_receivers)),
            )
            conditions[0].append(sa.and_(messages.c.message_id.is_(None), delivered_to))
        found: dict[str, dict[str, Any]] = {}
        for condition in conditions:
            rows = await connection.execute(sa.select(messages).where(sa.or_(*condition)))
            found.update((row["tracking_id"], dict(row)) for row in rows.mappings())
        return list(found.values())

    async def _load_deliveries(self, connection: AsyncConnection, tracking_ids: Iterable[str]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for chunk in chunks(sorted(tracking_ids), _IN_LIMIT):
            rows = await connection.execute(sa.select(deliveries).where(deliveries.c.tracking_id.in_(chunk)))
            found.extend(dict(row) for row in rows.mappings())
        return found

    async def _write(self, connection: AsyncConnection, changes: projection.Changes) -> None:
        """One executemany per table and kind of change, every value fitted to its column."""
        if changes.new_messages:
            await connection.execute(messages.insert(), fit_rows(messages, changes.new_messages))
        if changes.changed_messages:
            await connection.execute(
                _UPDATE_MESSAGE,
                [{f"b_{k}": row[k] for k in _MESSAGE_CHANGES} for row in fit_rows(messages, changes.changed_messages)],
            )
        if changes.new_deliveries:
            await connection.execute(deliveries.insert(), fit_rows(deliveries, changes.new_deliveries))
        if changes.changed_deliveries:
            await connection.execute(
                _UPDATE_DELIVERY,
                [
                    {f"b_{k}": row[k] for k in _DELIVERY_CHANGES}
                    for row in fit_rows(deliveries, changes.changed_deliveries)
                ],
            )
        if changes.steps:
            await connection.execute(steps.insert(), fit_rows(steps, changes.steps))

    # --- operator queries -------------------------------------------------------------------------

    async def patient_of(self, tracking_id: str) -> str | None:
        """The CPR number of the message's patient, in full, as stored; None without such a message or patient.
        Personal data: for an administrator's audited read, and for the audit of reads itself."""
        return (await self.patients_of([tracking_id])).get(tracking_id)

    async def patients_of(self, tracking_ids: Iterable[str]) -> dict[str, str]:
        """The CPR number of each message's patient (messages without one left out), for the audit of reads."""
        ids = list(dict.fromkeys(tracking_ids))
        found: dict[str, str] = {}
        async with self.engine.connect() as connection:
            for some in chunks(ids):
                rows = await connection.execute(
                    sa.select(messages.c.tracking_id, messages.c.patient).where(
                        messages.c.tracking_id.in_(list(some)), messages.c.patient.is_not(None)
                    )
                )
                found.update((tracking_id, patient) for tracking_id, patient in rows if patient)
        return found

    async def copy_of_bundle(self, bundle_id: str, *, party: str | None) -> str | None:
        """The tracking id of the newest message with this Bundle.id that `party` sent or was routed (any
        party's, with None); None when there is none."""
        query = sa.select(messages.c.tracking_id).where(messages.c.bundle_id == bundle_id)
        if party is not None:
            routed_to = sa.select(deliveries.c.tracking_id).where(
                deliveries.c.receiver == party, deliveries.c.tracking_id == messages.c.tracking_id
            )
            query = query.where(sa.or_(messages.c.sender == party, sa.exists(routed_to)))
        async with self.engine.connect() as connection:
            found = await connection.scalar(query.order_by(messages.c.received_at.desc()).limit(1))
        return str(found) if found is not None else None

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
        if query.party is not None:
            conditions.append(_party_to(query.party))
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
        return int(total or 0), [
            _message_view(r, _seen_by(query.party, r, by_message.get(r["tracking_id"], []))) for r in rows
        ]

    async def get_message(self, tracking_id: str, *, party: str | None = None) -> dict[str, Any] | None:
        """One message with its deliveries and timeline; None when there is no such message.

        With `party` (an organisation's own view) also None when that organisation neither sent the message
        nor is one of its receivers; a receiver that is not the sender sees its own delivery only, and only
        the steps that concern it or the message as a whole."""
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
            if row is None and (party is not None or not step_rows):
                return None  # a message not yet recorded has no parties to show it to
            by_message = await self._deliveries_of(connection, [tracking_id])
        receivers = by_message.get(tracking_id, [])
        if row is not None and party is not None:
            if row["sender"] != party and all(d["receiver"] != party for d in receivers):
                return None
            receivers = _seen_by(party, row, receivers)
            step_rows = [s for s in step_rows if _step_seen_by(party, row, s)]
        view: dict[str, Any] = _message_view(row, receivers) if row else {"tracking_id": tracking_id}
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
        if row is not None and party is not None and row["sender"] != party:
            for step in view["timeline"]:
                _only_receiver(step["detail"], party)
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

    async def figures(
        self, *, since: str, until: str, party: str | None = None, acknowledgement_deadline: float
    ) -> dict[str, Any]:
        """Messages received in [since, until) by status and event, and the times from acceptance to delivery
        and to acknowledgement (hub.track.figures). With `party`, of that organisation's messages only: all the
        deliveries of those it sent, its own of those it received."""
        window = [messages.c.received_at >= since, messages.c.received_at < until]
        if party is not None:
            window.append(_party_to(party))
        delivered_at = sa.func.min(steps.c.at).label("delivered_at")
        timed = (
            sa.select(messages.c.received_at, deliveries.c.status, deliveries.c.updated_at, delivered_at)
            .select_from(
                deliveries.join(messages, messages.c.tracking_id == deliveries.c.tracking_id).outerjoin(
                    steps,
                    sa.and_(
                        steps.c.tracking_id == deliveries.c.tracking_id,
                        steps.c.receiver == deliveries.c.receiver,
                        steps.c.step == Step.DELIVERED,
                    ),
                )
            )
            .where(*window)
            .group_by(
                deliveries.c.tracking_id,
                deliveries.c.receiver,
                messages.c.received_at,
                deliveries.c.status,
                deliveries.c.updated_at,
            )
        )
        if party is not None:
            timed = timed.where(sa.or_(messages.c.sender == party, deliveries.c.receiver == party))
        async with self.engine.connect() as connection:
            counted = await connection.execute(
                sa.select(messages.c.event, messages.c.status, sa.func.count())
                .where(*window)
                .group_by(messages.c.event, messages.c.status)
            )
            by_event = figures.counts((event, status, int(n)) for event, status, n in counted)
            rows = (await connection.execute(timed)).all()
        times = figures.timings(
            (
                figures.DeliveryTimes(
                    received_at=r.received_at,
                    delivered_at=r.delivered_at,
                    acknowledged_at=r.updated_at if r.status == DeliveryStatus.ACKNOWLEDGED else None,
                )
                for r in rows
                if r.received_at
            ),
            acknowledgement_deadline=acknowledgement_deadline,
        )
        return {"messages": by_event, **times}

    async def overdue_deliveries(
        self, *, delivered_before: str, max_flags: int, limit: int = 500
    ) -> list[OverdueDelivery]:
        """Delivered, not acknowledged, last touched before `delivered_before`, flagged at most `max_flags`
        times; acknowledgements themselves are never acknowledged, so they are never overdue."""
        async with self.engine.connect() as connection:
            rows = await connection.execute(
                _DELIVERIES_WITH_THEIR_MESSAGE.where(
                    deliveries.c.status == DeliveryStatus.DELIVERED,
                    deliveries.c.updated_at < delivered_before,
                    deliveries.c.overdue_count <= max_flags,
                    messages.c.event != ACKNOWLEDGEMENT_EVENT,
                ).limit(limit)
            )
            return [_overdue(row) for row in rows]

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

    async def unresolved_transient_errors(self, *, acknowledged_before: str, limit: int = 500) -> list[OverdueDelivery]:
        """Deliveries whose receiver's latest acknowledgement is transient-error, given before
        `acknowledged_before` (no ok since), whose sender has not been told yet (no sender-notified step for that
        receiver); acknowledgements and the hub's own messages are never among them."""
        notified = sa.exists().where(
            steps.c.tracking_id == deliveries.c.tracking_id,
            steps.c.receiver == deliveries.c.receiver,
            steps.c.step == str(Step.SENDER_NOTIFIED),
        )
        async with self.engine.connect() as connection:
            rows = await connection.execute(
                _DELIVERIES_WITH_THEIR_MESSAGE.where(
                    deliveries.c.status == DeliveryStatus.ACKNOWLEDGED,
                    deliveries.c.ack_code == "transient-error",
                    deliveries.c.updated_at < acknowledged_before,
                    messages.c.event != ACKNOWLEDGEMENT_EVENT,
                    messages.c.sender != "hub",
                    ~notified,
                )
                .order_by(deliveries.c.updated_at)
                .limit(limit)
            )
            return [_overdue(row) for row in rows]

    async def traffic(self, *, since: str, party: str | None = None) -> list[TrafficCount]:
        """Messages received at or after `since`, counted per minute, connector and status (the console's chart),
        oldest minute first. With `party`, only the messages that organisation sent or is a receiver of."""
        minute = sa.func.substr(messages.c.received_at, 1, 16)  # "2026-12-06T21:15" of the ISO 8601 text
        conditions = [messages.c.received_at >= since]
        if party is not None:
            conditions.append(_party_to(party))
        async with self.engine.connect() as connection:
            rows = await connection.execute(
                sa.select(minute, messages.c.connector, messages.c.status, sa.func.count())
                .where(*conditions)
                .group_by(minute, messages.c.connector, messages.c.status)
                .order_by(minute)
            )
            return [TrafficCount(str(m), c or "unknown", str(s), int(n)) for m, c, s, n in rows]


_IN_LIMIT = 500  # values in one IN (...) list

# a delivery with what the acknowledgement watch needs of its message
_DELIVERIES_WITH_THEIR_MESSAGE = sa.select(
    deliveries.c.tracking_id,
    deliveries.c.receiver,
    deliveries.c.overdue_count,
    messages.c.message_id,
    messages.c.event,
    messages.c.sender,
).join(messages, messages.c.tracking_id == deliveries.c.tracking_id)


def _overdue(row: Any) -> OverdueDelivery:
    return OverdueDelivery(row.tracking_id, row.message_id, row.event, row.sender, row.receiver, row.overdue_count)


# executemany updates of whole rows, by primary key (bind names differ from the columns', as SQLAlchemy wants).
# A message's row may also be touched from another partition (an acknowledgement that answers nothing is kept
# on the acknowledgement's own record), so its flags, which are only ever set, and its outcome are merged, not
# overwritten: what another recorder wrote since this one read the row stays.
_MESSAGE_CHANGES = ("tracking_id", "status", "routed", "routing_failed", "rejected", "outcome", "updated_at")
_UPDATE_MESSAGE = (
    messages.update()
    .where(messages.c.tracking_id == sa.bindparam("b_tracking_id"))
    .values(
        status=sa.bindparam("b_status"),
        routed=sa.or_(messages.c.routed, sa.bindparam("b_routed", type_=sa.Boolean)),
        routing_failed=sa.or_(messages.c.routing_failed, sa.bindparam("b_routing_failed", type_=sa.Boolean)),
        rejected=sa.or_(messages.c.rejected, sa.bindparam("b_rejected", type_=sa.Boolean)),
        outcome=sa.func.coalesce(sa.bindparam("b_outcome", type_=sa.Text), messages.c.outcome),
        updated_at=sa.bindparam("b_updated_at"),
    )
)
_DELIVERY_CHANGES = (
    "tracking_id",
    "receiver",
    "status",
    "attempts",
    "ack_code",
    "overdue_count",
    "last_error",
    "updated_at",
)
_UPDATE_DELIVERY = (
    deliveries.update()
    .where(
        deliveries.c.tracking_id == sa.bindparam("b_tracking_id"),
        deliveries.c.receiver == sa.bindparam("b_receiver"),
    )
    .values({k: sa.bindparam(f"b_{k}") for k in _DELIVERY_CHANGES if k not in ("tracking_id", "receiver")})
)


def _party_to(party: str) -> sa.ColumnElement[bool]:
    """The messages an organisation sent or is a receiver of."""
    return sa.or_(
        messages.c.sender == party,
        messages.c.tracking_id.in_(sa.select(deliveries.c.tracking_id).where(deliveries.c.receiver == party)),
    )


def _seen_by(party: str | None, row: Any, receivers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The deliveries an organisation may see: all of them as the sender (or operator), else its own."""
    if party is None or row["sender"] == party:
        return receivers
    return [d for d in receivers if d["receiver"] == party]


def _step_seen_by(party: str, row: Any, step: Any) -> bool:
    return bool(row["sender"] == party or step["receiver"] in (None, party))


def _only_receiver(detail: dict[str, Any], party: str) -> None:
    """A routing step lists every receiver and why; a receiver that is not the sender sees its own line only."""
    listed = detail.get("receivers")
    if isinstance(listed, list):
        detail["receivers"] = [r for r in listed if isinstance(r, dict) and r.get("receiver") == party]


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

"""The retention purge: deletes what has outlived its retention (hub.store.retention), leaves counts, reclaims space.

What goes is counted first, per kind, by the day the data was from, its MedCom event, its sender and its
status, and those counts are kept in ``purged``: nothing in them names a patient or holds a message. A dry
run counts and deletes nothing. Rows go in slices, each slice its own short transaction, so the hub keeps
working meanwhile. Afterwards the space is made reusable: PostgreSQL's VACUUM, SQLite's incremental vacuum
(databases the hub creates keep free pages for it), or a whole VACUUM when ``hub purge`` asks for it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.domain.medcom import ACKNOWLEDGEMENT_EVENT
from hub.domain.status import MessageStatus
from hub.store.engine import writing
from hub.store.leases import Leases
from hub.store.retention import FINISHED, Kind, RetentionPolicy
from hub.store.tables import (
    acknowledgements,
    archive,
    dead_letters,
    deliveries,
    handed_over,
    mailbox,
    messages,
    purged,
    read_audit,
    read_audit_patient,
    steps,
    subscription_events,
)
from hub.ticks import ticks

log = structlog.get_logger(__name__)

LEASE = "retention-purge"
SLICE = 500  # rows per delete statement and transaction

# (day the data was from, event, sender, status)
Group = tuple[str, str | None, str | None, str | None]


@dataclass
class PurgeReport:
    """What one purge deleted (or, dry, would delete): per kind, the counts by group."""

    dry_run: bool
    groups: dict[Kind, Counter[Group]] = field(default_factory=dict)

    def total(self, kind: Kind) -> int:
        return sum(self.groups.get(kind, Counter()).values())

    def totals(self) -> dict[str, int]:
        return {str(kind): self.total(kind) for kind in Kind}


def _finished() -> sa.ColumnElement[bool]:
    return sa.or_(
        messages.c.status.in_([str(s) for s in FINISHED]),
        sa.and_(messages.c.status == MessageStatus.DELIVERED, messages.c.event == ACKNOWLEDGEMENT_EVENT),
    )


def _day(column: sa.ColumnElement[Any]) -> sa.ColumnElement[str]:
    return sa.func.substr(column, 1, 10)


class Purge:
    def __init__(self, engine: AsyncEngine, policy: RetentionPolicy) -> None:
        self._engine = engine
        self._policy = policy

    async def run(self, *, now: datetime | None = None, dry_run: bool = False) -> PurgeReport:
        cutoffs = self._policy.cutoffs(now or datetime.now(UTC))
        report = PurgeReport(dry_run=dry_run)
        # the raw bytes before the tracking rows: whether a message is finished is read off those rows
        for kind in (Kind.ARCHIVE, Kind.TRACKING, Kind.MAILBOX, Kind.LEDGER, Kind.DEAD_LETTERS, Kind.READ_AUDIT):
            if kind in cutoffs:
                plans = _plans(kind, cutoffs[kind], archive_cutoff=cutoffs.get(Kind.ARCHIVE))
                report.groups[kind] = await self._purge_kind(plans, dry_run=dry_run)
        if not dry_run:
            await self._keep_counts(report, now or datetime.now(UTC))
        return report

    async def _purge_kind(self, plans: list[tuple[sa.Select[Any], Any]], *, dry_run: bool) -> Counter[Group]:
        counts: Counter[Group] = Counter()
        for select, delete in plans:
            after: Any = None
            while True:
                async with self._engine.connect() as connection:
                    query = select if after is None else select.where(_after(select, after))
                    rows = (await connection.execute(query.limit(SLICE))).all()
                if not rows:
                    break
                for row in rows:
                    counts[(row[1], row[2], row[3], row[4])] += 1
                if not dry_run:
                    async with writing(self._engine) as connection:
                        await delete(connection, [row[0] for row in rows])
                after = rows[-1][0]
                if len(rows) < SLICE:
                    break
        return counts

    async def _keep_counts(self, report: PurgeReport, now: datetime) -> None:
        at = now.isoformat(timespec="microseconds")
        rows = [
            {"purged_at": at, "kind": str(kind), "day": g[0], "event": g[1], "sender": g[2], "status": g[3], "count": n}
            for kind, groups in report.groups.items()
            for g, n in groups.items()
        ]
        if rows:
            async with writing(self._engine) as connection:
                await connection.execute(purged.insert(), rows)

    async def reclaim_space(self, *, full: bool = False) -> str:
        """Make the freed space reusable; ``full`` rewrites a SQLite file that keeps no free pages (slow, and
        the database is locked meanwhile). Returns what was done."""
        if self._engine.dialect.name == "postgresql":
            autocommit = self._engine.execution_options(isolation_level="AUTOCOMMIT")
            async with autocommit.connect() as connection:
                for table in (archive, steps, deliveries, messages, mailbox, handed_over, acknowledgements):
                    await connection.execute(sa.text(f"VACUUM (ANALYZE) {table.name}"))
                for table in (dead_letters, read_audit, read_audit_patient):
                    await connection.execute(sa.text(f"VACUUM {table.name}"))
            return "vacuum"
        async with self._engine.connect() as connection:
            mode = await connection.scalar(sa.text("PRAGMA auto_vacuum"))
            if mode == 2:  # incremental
                # SQLite frees one page per step of this statement, and Python's execute() steps it once:
                # executescript runs it to the end
                raw = await connection.get_raw_connection()
                driver: Any = raw.driver_connection
                await driver.executescript("PRAGMA incremental_vacuum;")
                return "incremental vacuum"
        if full:
            async with writing(self._engine) as connection:
                await connection.commit()  # VACUUM runs outside a transaction
                await connection.execute(sa.text("VACUUM"))
            return "vacuum"
        return "none (this SQLite file keeps no free pages: `hub purge --vacuum` rewrites it)"


def _after(select: sa.Select[Any], after: Any) -> sa.ColumnElement[bool]:
    """Keyset paging on the first key column (unique per plan), so a dry run, which deletes nothing, moves on."""
    first: sa.ColumnElement[Any] = next(iter(select.selected_columns))
    condition: sa.ColumnElement[bool] = first > after
    return condition


def _plans(kind: Kind, cutoff: str, *, archive_cutoff: str | None) -> list[tuple[sa.Select[Any], Any]]:
    """Per kind: the rows to go (key column first, unique; then day, event, sender, status) and their delete.

    A message's tracking rows go only with its raw bytes gone, or going in the same purge (a dry run has
    deleted nothing, and must count them all the same)."""
    if kind is Kind.ARCHIVE:
        rows = (
            sa.select(
                archive.c.tracking_id,
                _day(archive.c.received_at),
                messages.c.event,
                archive.c.sender_sor,
                messages.c.status,
            )
            .join(messages, messages.c.tracking_id == archive.c.tracking_id)
            .where(_finished(), messages.c.updated_at < cutoff, archive.c.received_at < cutoff)
            .order_by(archive.c.tracking_id)
        )
        return [(rows, _delete_by(archive.c.tracking_id))]
    if kind is Kind.TRACKING:
        rows = (
            sa.select(
                messages.c.tracking_id,
                _day(messages.c.received_at),
                messages.c.event,
                messages.c.sender,
                messages.c.status,
            )
            .where(_finished(), messages.c.updated_at < cutoff)
            .where(
                ~sa.exists().where(
                    archive.c.tracking_id == messages.c.tracking_id,
                    sa.true() if archive_cutoff is None else archive.c.received_at >= archive_cutoff,
                )
            )
            .order_by(messages.c.tracking_id)
        )
        return [(rows, _delete_tracking)]
    if kind is Kind.MAILBOX:
        rows = (
            sa.select(
                mailbox.c.id, _day(mailbox.c.created_at), mailbox.c.event, mailbox.c.receiver, sa.literal("taken")
            )
            .where(mailbox.c.fetched_at.is_not(None), mailbox.c.fetched_at < cutoff)
            .order_by(mailbox.c.id)
        )
        return [(rows, _delete_by(mailbox.c.id))]
    if kind is Kind.LEDGER:
        given = (
            sa.select(
                _joined_key(handed_over),
                _day(handed_over.c.at),
                sa.null(),
                handed_over.c.sender,
                sa.literal("handed over"),
            )
            .where(handed_over.c.at < cutoff)
            .order_by(_joined_key(handed_over))
        )
        answered = (
            sa.select(
                _joined_key(acknowledgements),
                _day(acknowledgements.c.at),
                sa.literal(ACKNOWLEDGEMENT_EVENT),
                acknowledgements.c.sender,
                acknowledgements.c.code,
            )
            .where(acknowledgements.c.at < cutoff)
            .order_by(_joined_key(acknowledgements))
        )
        return [(given, _delete_by_joined_key(handed_over)), (answered, _delete_by_joined_key(acknowledgements))]
    if kind is Kind.READ_AUDIT:
        # counted by day, action (as the event) and outcome (as the status): never the person or the patients
        rows = (
            sa.select(
                read_audit.c.id, _day(read_audit.c.recorded_at), read_audit.c.action, sa.null(), read_audit.c.outcome
            )
            .where(read_audit.c.recorded_at < cutoff)
            .order_by(read_audit.c.id)
        )
        return [(rows, _delete_read_audit)]
    rows = (
        sa.select(
            dead_letters.c.id,
            _day(dead_letters.c.dead_at),
            dead_letters.c.event,
            dead_letters.c.sender,
            sa.literal("redriven"),
        )
        .where(dead_letters.c.redriven_at.is_not(None), dead_letters.c.redriven_at < cutoff)
        .order_by(dead_letters.c.id)
    )
    return [(rows, _delete_by(dead_letters.c.id))]


def _delete_by(column: sa.Column[Any]) -> Any:
    async def delete(connection: AsyncConnection, keys: Sequence[Any]) -> None:
        await connection.execute(sa.delete(column.table).where(column.in_(list(keys))))

    return delete


def _joined_key(table: sa.Table) -> sa.ColumnElement[str]:
    key: sa.ColumnElement[str] = table.c.sender + "|" + table.c.message_id + "|" + table.c.receiver
    return key


def _delete_by_joined_key(table: sa.Table) -> Any:
    """The ledger tables' three-part keys, joined with '|' for paging (ids and SOR codes hold no '|')."""

    async def delete(connection: AsyncConnection, keys: Sequence[Any]) -> None:
        parts = [str(key).split("|") for key in keys]
        await connection.execute(
            sa.delete(table).where(
                sa.or_(
                    *(sa.and_(table.c.sender == s, table.c.message_id == m, table.c.receiver == r) for s, m, r in parts)
                )
            )
        )

    return delete


async def _delete_read_audit(connection: AsyncConnection, keys: Sequence[Any]) -> None:
    """Entries of the audit of reads with their patients, in one transaction."""
    ids = list(keys)
    await connection.execute(read_audit_patient.delete().where(read_audit_patient.c.entry_id.in_(ids)))
    await connection.execute(read_audit.delete().where(read_audit.c.id.in_(ids)))


async def _delete_tracking(connection: AsyncConnection, keys: Sequence[Any]) -> None:
    """A message's tracking, with the rest-hook events that carried it ($events then names them as not kept)."""
    ids = list(keys)
    await connection.execute(subscription_events.delete().where(subscription_events.c.tracking_id.in_(ids)))
    await connection.execute(steps.delete().where(steps.c.tracking_id.in_(ids)))
    await connection.execute(deliveries.delete().where(deliveries.c.tracking_id.in_(ids)))
    await connection.execute(messages.delete().where(messages.c.tracking_id.in_(ids)))


class RetentionPurge:
    """The periodic purge, run by the one hub process that holds its lease."""

    def __init__(self, purge: Purge, leases: Leases, *, interval: float) -> None:
        self._purge = purge
        self._leases = leases
        self._interval = interval
        self.lease_seconds = max(3 * interval, 600.0)

    async def run(self, stop: asyncio.Event) -> None:
        try:
            async for _ in ticks(self._interval, stop):
                try:
                    if await self._leases.hold(LEASE, ttl=self.lease_seconds):
                        report = await self._purge.run()
                        if any(report.totals().values()):
                            reclaimed = await self._purge.reclaim_space()
                            log.info("retention purge", **report.totals(), space=reclaimed)
                except Exception:  # the database may be away for a moment; the next round tries again
                    log.exception("retention purge failed")
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._leases.release(LEASE))

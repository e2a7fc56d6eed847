"""The audit of reads in the database: ``read_audit`` (one row per read), ``read_audit_patient`` (the pseudonyms of
the patients each read touched) and ``read_audit_key`` (the pseudonymisation key the hub made itself)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.audit.entries import ReadEntry, entry_from_row
from hub.domain.tracking import utc_now
from hub.store.engine import insert_new, writing
from hub.store.tables import read_audit, read_audit_key, read_audit_patient

_KEY_ROW = 1


@dataclass(frozen=True, slots=True)
class ReadAuditQuery:
    """Which entries: all criteria given must hold. ``patient`` is a pseudonym; instants ISO 8601 UTC."""

    person: str | None = None
    patient: str | None = None
    organisation: str | None = None
    since: str | None = None  # recorded at or after
    until: str | None = None  # recorded before
    limit: int = 100
    offset: int = 0


class ReadAuditStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, entry: ReadEntry) -> None:
        """The entry and its patients, in one transaction: both or neither."""
        async with writing(self._engine) as connection:
            await connection.execute(read_audit.insert().values(entry.as_row()))
            if entry.patients:
                await connection.execute(
                    read_audit_patient.insert(),
                    [{"entry_id": entry.id, "patient_pseudonym": p} for p in entry.patients],
                )

    async def find(self, query: ReadAuditQuery) -> tuple[int, list[ReadEntry]]:
        """How many entries match, and one page of them, newest first."""
        conditions: list[sa.ColumnElement[bool]] = []
        if query.person is not None:
            conditions.append(read_audit.c.person == query.person)
        if query.organisation is not None:
            conditions.append(read_audit.c.organisation == query.organisation)
        if query.since is not None:
            conditions.append(read_audit.c.recorded_at >= query.since)
        if query.until is not None:
            conditions.append(read_audit.c.recorded_at < query.until)
        if query.patient is not None:
            conditions.append(
                read_audit.c.id.in_(
                    sa.select(read_audit_patient.c.entry_id).where(
                        read_audit_patient.c.patient_pseudonym == query.patient
                    )
                )
            )
        async with self._engine.connect() as connection:
            total = await connection.scalar(sa.select(sa.func.count()).select_from(read_audit).where(*conditions))
            rows = (
                (
                    await connection.execute(
                        sa.select(read_audit)
                        .where(*conditions)
                        .order_by(read_audit.c.recorded_at.desc(), read_audit.c.id.desc())
                        .limit(query.limit)
                        .offset(query.offset)
                    )
                )
                .mappings()
                .all()
            )
            patients = await self._patients_of(connection, [r["id"] for r in rows])
        return int(total or 0), [entry_from_row(r, patients.get(r["id"], [])) for r in rows]

    async def _patients_of(self, connection: AsyncConnection, ids: Sequence[str]) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        if not ids:
            return found
        rows = await connection.execute(
            sa.select(read_audit_patient.c.entry_id, read_audit_patient.c.patient_pseudonym)
            .where(read_audit_patient.c.entry_id.in_(list(ids)))
            .order_by(read_audit_patient.c.entry_id, read_audit_patient.c.patient_pseudonym)
        )
        for entry_id, patient in rows:
            found.setdefault(entry_id, []).append(patient)
        return found

    async def stored_key(self) -> bytes:
        """The key the hub made itself, made now when there is none: the first hub process to ask writes it,
        every other one (at the same moment or later) reads that one."""
        async with self._engine.connect() as connection:
            key = await connection.scalar(sa.select(read_audit_key.c.key).where(read_audit_key.c.id == _KEY_ROW))
        if key is None:
            async with writing(self._engine) as connection:
                await connection.execute(
                    insert_new(connection, read_audit_key).values(
                        id=_KEY_ROW, key=secrets.token_hex(32), created_at=utc_now()
                    )
                )
                key = await connection.scalar(sa.select(read_audit_key.c.key).where(read_audit_key.c.id == _KEY_ROW))
        return bytes.fromhex(str(key))

"""Parked deliveries and dead letters, kept in the database.

A delivery its receiver did not take is parked: taken out of Kafka (so the consumer can commit and other
receivers are not held up) and retried from here in order. One that cannot be delivered within the retry
window becomes a dead letter, with its reason and every attempt, until an operator redrives it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.broker.records import OutboxRecord
from hub.domain.tracking import utc_now
from hub.store.engine import writing
from hub.store.tables import dead_letters, parked


@dataclass(frozen=True, slots=True)
class Attempt:
    at: str
    error: str

    def as_dict(self) -> dict[str, str]:
        return {"at": self.at, "error": self.error}


@dataclass(frozen=True, slots=True)
class ParkedDelivery:
    seq: int
    item: OutboxRecord
    first_attempt_at: float
    next_attempt_at: float
    attempts: tuple[Attempt, ...]


def _item(row: Any) -> OutboxRecord:
    return OutboxRecord(
        tracking_id=row["tracking_id"],
        message_id=row["message_id"],
        receiver_id=row["receiver"],
        event=row["event"] or "",
        raw=row["raw"],
        patient_key=row["patient_key"] or "",
        sender_id=row["sender"],
        resend=bool(row["resend"]),
        via=row["via"],
    )


def _columns(item: OutboxRecord) -> dict[str, Any]:
    """The delivery's columns, shared by parked deliveries and dead letters; `_item` reads them back."""
    return {
        "receiver": item.receiver_id,
        "tracking_id": item.tracking_id,
        "message_id": item.message_id,
        "sender": item.sender_id,
        "event": item.event,
        "patient_key": item.patient_key,
        "raw": item.raw,
        "resend": item.resend,
        "via": item.via,
    }


def _attempts(text: str) -> tuple[Attempt, ...]:
    return tuple(Attempt(a["at"], a["error"]) for a in orjson.loads(text))


def _attempts_json(attempts: tuple[Attempt, ...]) -> str:
    return orjson.dumps([a.as_dict() for a in attempts]).decode()


class ParkingLot:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def park(
        self, item: OutboxRecord, *, first_attempt_at: float, next_attempt_at: float, attempts: tuple[Attempt, ...]
    ) -> None:
        async with writing(self._engine) as connection:
            await connection.execute(
                parked.insert().values(
                    **_columns(item),
                    first_attempt_at=first_attempt_at,
                    next_attempt_at=next_attempt_at,
                    attempts=_attempts_json(attempts),
                )
            )

    async def head(self, receiver: str) -> ParkedDelivery | None:
        """The oldest parked delivery of a receiver: the next one it must get."""
        async with self._engine.connect() as connection:
            row = (
                (
                    await connection.execute(
                        sa.select(parked).where(parked.c.receiver == receiver).order_by(parked.c.seq).limit(1)
                    )
                )
                .mappings()
                .one_or_none()
            )
        if row is None:
            return None
        return ParkedDelivery(
            seq=row["seq"],
            item=_item(row),
            first_attempt_at=row["first_attempt_at"],
            next_attempt_at=row["next_attempt_at"],
            attempts=_attempts(row["attempts"]),
        )

    async def reschedule(self, seq: int, *, next_attempt_at: float, attempts: tuple[Attempt, ...]) -> None:
        async with writing(self._engine) as connection:
            await connection.execute(
                parked.update()
                .where(parked.c.seq == seq)
                .values(next_attempt_at=next_attempt_at, attempts=_attempts_json(attempts))
            )

    async def remove(self, seq: int) -> None:
        async with writing(self._engine) as connection:
            await connection.execute(parked.delete().where(parked.c.seq == seq))

    async def counts(self) -> dict[str, int]:
        """Parked deliveries per receiver."""
        async with self._engine.connect() as connection:
            rows = await connection.execute(sa.select(parked.c.receiver, sa.func.count()).group_by(parked.c.receiver))
            return {receiver: int(count) for receiver, count in rows}


@dataclass(frozen=True, slots=True)
class DeadLetterQuery:
    receiver: str | None = None
    event: str | None = None
    tracking_id: str | None = None
    since: str | None = None
    until: str | None = None
    include_redriven: bool = False
    limit: int = 100


class DeadLetterStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, item: OutboxRecord, *, reason: str, attempts: tuple[Attempt, ...]) -> int:
        async with writing(self._engine) as connection:
            result = await connection.execute(
                dead_letters.insert().values(
                    **_columns(item),
                    reason=reason,
                    attempts=_attempts_json(attempts),
                    dead_at=utc_now(),
                )
            )
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    def _conditions(self, query: DeadLetterQuery) -> list[Any]:
        conditions: list[Any] = []
        if not query.include_redriven:
            conditions.append(dead_letters.c.redriven_at.is_(None))
        for column in ("receiver", "event", "tracking_id"):
            value = getattr(query, column)
            if value is not None:
                conditions.append(dead_letters.c[column] == value)
        if query.since:
            conditions.append(dead_letters.c.dead_at >= query.since)
        if query.until:
            conditions.append(dead_letters.c.dead_at < query.until)
        return conditions

    async def pending_count(self) -> int:
        async with self._engine.connect() as connection:
            count = await connection.scalar(
                sa.select(sa.func.count()).select_from(dead_letters).where(dead_letters.c.redriven_at.is_(None))
            )
        return int(count or 0)

    async def find(self, query: DeadLetterQuery) -> list[dict[str, Any]]:
        async with self._engine.connect() as connection:
            rows = await connection.execute(
                sa.select(dead_letters).where(*self._conditions(query)).order_by(dead_letters.c.id).limit(query.limit)
            )
            return [_dead_letter_view(row) for row in rows.mappings()]

    async def take_by_id(self, dead_letter_id: int) -> tuple[int, OutboxRecord] | None:
        async with writing(self._engine) as connection:
            row = (
                (
                    await connection.execute(
                        sa.select(dead_letters).where(
                            dead_letters.c.id == dead_letter_id, dead_letters.c.redriven_at.is_(None)
                        )
                    )
                )
                .mappings()
                .one_or_none()
            )
            if row is None:
                return None
            await connection.execute(
                dead_letters.update().where(dead_letters.c.id == dead_letter_id).values(redriven_at=utc_now())
            )
        return row["id"], _item(row)

    async def take_for_redrive(self, query: DeadLetterQuery) -> list[tuple[int, OutboxRecord]]:
        """Mark matching dead letters redriven and return them in the order they became dead letters, which for
        each receiver and patient is the order of their messages (one lane delivers them one after another)."""
        async with writing(self._engine) as connection:
            rows = (
                (
                    await connection.execute(
                        sa.select(dead_letters)
                        .where(*self._conditions(query))
                        .order_by(dead_letters.c.id)
                        .limit(query.limit)
                    )
                )
                .mappings()
                .all()
            )
            if rows:
                await connection.execute(
                    dead_letters.update()
                    .where(dead_letters.c.id.in_([row["id"] for row in rows]))
                    .values(redriven_at=utc_now())
                )
        return [(row["id"], _item(row)) for row in rows]


def _dead_letter_view(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "receiver": row["receiver"],
        "tracking_id": row["tracking_id"],
        "message_id": row["message_id"],
        "event": row["event"],
        "reason": row["reason"],
        "attempts": orjson.loads(row["attempts"]),
        "dead_at": row["dead_at"],
        "redriven_at": row["redriven_at"],
    }

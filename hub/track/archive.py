"""The archive of accepted messages: raw bytes kept before a sender is told "accepted".

The embedded broker keeps its log in memory; a production broker can lose a log too. What the archive
holds and the tracking store has not seen finished is published again by ``hub replay`` (and by the hub
itself when it sees that the broker lost its topics).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.domain.status import MessageStatus
from hub.store.engine import insert_new, writing
from hub.store.group_commit import GroupCommit
from hub.store.tables import archive, messages

# A message in one of these states needs nothing more from the broker.
FINISHED = (
    MessageStatus.REJECTED,
    MessageStatus.DELIVERED,
    MessageStatus.ACKNOWLEDGED,
    MessageStatus.FAILED,
)


@dataclass(frozen=True, slots=True)
class ArchivedMessage:
    tracking_id: str
    sender_sor: str
    connector: str
    received_at: str
    key: bytes
    raw: bytes


class MessageArchive:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        # messages arriving together are kept in one transaction (hub.store.group_commit)
        self._keeping: GroupCommit[ArchivedMessage, None] = GroupCommit(self._keep_all)

    async def keep(self, message: ArchivedMessage) -> None:
        """Keep the message (a message kept already, such as a replayed one, stays as it is)."""
        await self._keeping.submit(message)

    async def _keep_all(self, batch: Sequence[ArchivedMessage]) -> list[None]:
        async with writing(self._engine) as connection:
            await connection.execute(
                insert_new(connection, archive),
                [
                    {
                        "tracking_id": m.tracking_id,
                        "sender_sor": m.sender_sor,
                        "connector": m.connector,
                        "received_at": m.received_at,
                        "key": m.key,
                        "raw": m.raw,
                    }
                    for m in batch
                ],
            )
        return [None] * len(batch)

    async def get(self, tracking_id: str) -> ArchivedMessage | None:
        async with self._engine.connect() as connection:
            row = (
                (await connection.execute(sa.select(archive).where(archive.c.tracking_id == tracking_id)))
                .mappings()
                .one_or_none()
            )
        return _archived(row) if row else None

    async def unfinished(self, *, recent_since: str | None = None, batch: int = 500) -> AsyncIterator[ArchivedMessage]:
        """Accepted messages whose tracking record is missing or not finished, oldest first; with
        `recent_since`, also every message received since then, finished or not (what a lost log may have
        held besides: an acknowledgement whose own record is finished but whose effect on the message it
        answers was still on its way)."""
        wanted: list[sa.ColumnElement[bool]] = [
            messages.c.status.is_(None),
            messages.c.status.not_in([str(s) for s in FINISHED]),
        ]
        if recent_since is not None:
            wanted.append(archive.c.received_at >= recent_since)
        after: tuple[str, str] = ("", "")
        while True:
            async with self._engine.connect() as connection:
                rows = (
                    (
                        await connection.execute(
                            sa.select(archive)
                            .outerjoin(messages, messages.c.tracking_id == archive.c.tracking_id)
                            .where(
                                sa.or_(*wanted),
                                sa.or_(
                                    archive.c.received_at > after[0],
                                    sa.and_(archive.c.received_at == after[0], archive.c.tracking_id > after[1]),
                                ),
                            )
                            .order_by(archive.c.received_at, archive.c.tracking_id)
                            .limit(batch)
                        )
                    )
                    .mappings()
                    .all()
                )
            for row in rows:
                yield _archived(row)
            if len(rows) < batch:
                return
            after = (rows[-1]["received_at"], rows[-1]["tracking_id"])


def _archived(row: Any) -> ArchivedMessage:
    return ArchivedMessage(
        tracking_id=row["tracking_id"],
        sender_sor=row["sender_sor"],
        connector=row["connector"],
        received_at=row["received_at"],
        key=row["key"],
        raw=row["raw"],
    )

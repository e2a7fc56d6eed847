"""The delivery ledger: who already has which message, and the acknowledgements they sent.

Entries are per sender: a MessageHeader.id identifies a message only together with its sender, so one
sender can never learn of, or block, another sender's message by reusing its id.

It makes delivery idempotent across redelivery, crashes and resent messages: a receiver that has a
message (by MessageHeader.id) never gets it again, and a resent message is answered with the
acknowledgement the receiver already gave.

Lookups and entries from concurrent deliveries are grouped (hub.store.group_commit): one statement serves
every delivery waiting at that moment, so the ledger costs a few round trips per batch, not per message.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.domain.tracking import utc_now
from hub.store.engine import KEYS_PER_STATEMENT, chunks, insert_new, keys_in, writing
from hub.store.group_commit import GroupCommit
from hub.store.tables import acknowledgements, handed_over

# (sender, MessageHeader.id, receiver)
Holding = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class KeptAcknowledgement:
    """`receiver`'s acknowledgement of `sender`'s message `message_id`."""

    sender: str
    message_id: str
    receiver: str
    code: str
    raw: bytes


class DeliveryLedger:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._lookups: GroupCommit[Holding, bool] = GroupCommit(self._holding)
        self._entries: GroupCommit[tuple[Holding, str], None] = GroupCommit(self._enter)

    async def has(self, *, sender: str, message_id: str, receiver: str) -> bool:
        return await self._lookups.submit((sender, message_id, receiver))

    async def add(self, *, sender: str, message_id: str, receiver: str, tracking_id: str) -> None:
        """Record that `receiver` has the message (a second record of the same changes nothing)."""
        await self._entries.submit(((sender, message_id, receiver), tracking_id))

    async def _holding(self, wanted: Sequence[Holding]) -> list[bool]:
        key = (handed_over.c.sender, handed_over.c.message_id, handed_over.c.receiver)
        found: set[Holding] = set()
        async with self._engine.connect() as connection:
            for part in chunks(sorted(set(wanted)), KEYS_PER_STATEMENT):
                rows = await connection.execute(sa.select(*key).where(keys_in(key, part)))
                found.update((row.sender, row.message_id, row.receiver) for row in rows)
        return [holding in found for holding in wanted]

    async def _enter(self, entries: Sequence[tuple[Holding, str]]) -> list[None]:
        at = utc_now()
        async with writing(self._engine) as connection:
            await _enter_holdings(connection, entries, at)
        return [None] * len(entries)

    async def keep_acknowledgements(self, kept: Iterable[KeptAcknowledgement]) -> None:
        """Remember each receiver's acknowledgement of a sender's message (the latest wins), and that the
        receiver has that message."""
        latest = {(k.sender, k.message_id, k.receiver): k for k in kept}
        if not latest:
            return
        at = utc_now()
        key = (acknowledgements.c.sender, acknowledgements.c.message_id, acknowledgements.c.receiver)
        async with writing(self._engine) as connection:
            for part in chunks(sorted(latest), KEYS_PER_STATEMENT):
                await connection.execute(acknowledgements.delete().where(keys_in(key, part)))
            await connection.execute(
                acknowledgements.insert(),
                [
                    {"sender": s, "message_id": m, "receiver": r, "code": k.code, "raw": k.raw, "at": at}
                    for (s, m, r), k in latest.items()
                ],
            )
            await _enter_holdings(connection, [(holding, "acknowledged") for holding in latest], at)

    async def keep_acknowledgement(self, *, sender: str, message_id: str, receiver: str, code: str, raw: bytes) -> None:
        await self.keep_acknowledgements([KeptAcknowledgement(sender, message_id, receiver, code, raw)])

    async def acknowledgements_of(self, *, sender: str, message_id: str) -> dict[str, tuple[str, bytes]]:
        """The acknowledgements already given for a sender's message: receiver -> (code, raw bytes)."""
        return (await self.acknowledgements_for([(sender, message_id)])).get((sender, message_id), {})

    async def acknowledgements_for(
        self, messages: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], dict[str, tuple[str, bytes]]]:
        """For each (sender, message id): the acknowledgements already given, receiver -> (code, raw bytes);
        messages with none are left out."""
        wanted = sorted(set(messages))
        found: dict[tuple[str, str], dict[str, tuple[str, bytes]]] = {}
        if not wanted:
            return found
        key = (acknowledgements.c.sender, acknowledgements.c.message_id)
        async with self._engine.connect() as connection:
            for part in chunks(wanted, KEYS_PER_STATEMENT):
                rows = await connection.execute(
                    sa.select(
                        acknowledgements.c.sender,
                        acknowledgements.c.message_id,
                        acknowledgements.c.receiver,
                        acknowledgements.c.code,
                        acknowledgements.c.raw,
                    ).where(keys_in(key, part))
                )
                for row in rows:
                    found.setdefault((row.sender, row.message_id), {})[row.receiver] = (row.code, row.raw)
        return found


async def _enter_holdings(connection: AsyncConnection, entries: Sequence[tuple[Holding, str]], at: str) -> None:
    await connection.execute(
        insert_new(connection, handed_over),
        [
            {"sender": s, "message_id": m, "receiver": r, "tracking_id": tracking_id, "at": at}
            for (s, m, r), tracking_id in entries
        ],
    )

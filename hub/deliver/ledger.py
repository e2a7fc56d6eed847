"""The delivery ledger: who already has which message, and the acknowledgements they sent.

Entries are per sender: a MessageHeader.id identifies a message only together with its sender, so one
sender can never learn of, or block, another sender's message by reusing its id.

It makes delivery idempotent across redelivery, crashes and resent messages: a receiver that has a
message (by MessageHeader.id) never gets it again, and a resent message is answered with the
acknowledgement the receiver already gave.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.track.events import utc_now
from hub.track.tables import acknowledgements, handed_over


class DeliveryLedger:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def has(self, *, sender: str, message_id: str, receiver: str) -> bool:
        async with self._engine.connect() as connection:
            found = await connection.scalar(
                sa.select(handed_over.c.tracking_id).where(
                    handed_over.c.sender == sender,
                    handed_over.c.message_id == message_id,
                    handed_over.c.receiver == receiver,
                )
            )
        return found is not None

    async def add(self, *, sender: str, message_id: str, receiver: str, tracking_id: str) -> None:
        try:
            async with self._engine.begin() as connection:
                await connection.execute(
                    handed_over.insert().values(
                        sender=sender, message_id=message_id, receiver=receiver, tracking_id=tracking_id, at=utc_now()
                    )
                )
        except IntegrityError:
            pass  # already recorded: the ledger only ever says "has it"

    async def keep_acknowledgement(self, *, sender: str, message_id: str, receiver: str, code: str, raw: bytes) -> None:
        """Remember `receiver`'s acknowledgement of `sender`'s message (the latest wins), and that the
        receiver has that message."""
        where = (
            acknowledgements.c.sender == sender,
            acknowledgements.c.message_id == message_id,
            acknowledgements.c.receiver == receiver,
        )
        async with self._engine.begin() as connection:
            await connection.execute(acknowledgements.delete().where(*where))
            await connection.execute(
                acknowledgements.insert().values(
                    sender=sender, message_id=message_id, receiver=receiver, code=code, raw=raw, at=utc_now()
                )
            )
        await self.add(sender=sender, message_id=message_id, receiver=receiver, tracking_id="acknowledged")

    async def acknowledgements_of(self, *, sender: str, message_id: str) -> dict[str, tuple[str, bytes]]:
        """The acknowledgements already given for a sender's message: receiver -> (code, raw bytes)."""
        async with self._engine.connect() as connection:
            rows = await connection.execute(
                sa.select(acknowledgements.c.receiver, acknowledgements.c.code, acknowledgements.c.raw).where(
                    acknowledgements.c.sender == sender, acknowledgements.c.message_id == message_id
                )
            )
            return {row.receiver: (row.code, row.raw) for row in rows}

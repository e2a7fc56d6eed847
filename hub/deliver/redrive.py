"""Redrive: an operator sends dead letters back to delivery.

A dead letter taken for redrive is marked redriven in the database, then its outbox record goes back to the
outbox topic with a ``redriven`` step on the events topic, all in one send that waits for the broker. The
delivery worker takes it from there like any other outbox record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from hub.broker.records import Headers, OutboxRecord
from hub.broker.topics import Topics
from hub.deliver.parking import DeadLetterQuery, DeadLetterStore
from hub.domain.tracking import Step, TrackingEvent
from hub.observe import metrics


@dataclass(frozen=True, slots=True)
class Redriven:
    """One dead letter sent back to delivery."""

    dead_letter: int
    tracking_id: str
    receiver: str

    def as_json(self) -> dict[str, Any]:
        return {"dead_letter": self.dead_letter, "tracking_id": self.tracking_id, "receiver": self.receiver}


class BatchSender(Protocol):
    """What redrive needs of the broker's publisher (hub.broker.clients.Publisher)."""

    async def send_all(self, records: Sequence[tuple[str, bytes, bytes, Headers | None]]) -> None: ...


class Redrive:
    def __init__(self, dead_letters: DeadLetterStore, publisher: BatchSender, topics: Topics) -> None:
        self._dead_letters = dead_letters
        self._publisher = publisher
        self._topics = topics

    async def one(self, dead_letter_id: int) -> Redriven | None:
        """Send one dead letter back; None when there is no such dead letter waiting (or it was redriven)."""
        found = await self._dead_letters.take_by_id(dead_letter_id)
        if found is None:
            return None
        (redriven,) = await self._send_back([found])
        return redriven

    async def matching(self, query: DeadLetterQuery) -> list[Redriven]:
        """Send every matching dead letter back (up to ``query.limit``), oldest first, so that the order per
        receiver and patient holds."""
        return await self._send_back(await self._dead_letters.take_for_redrive(query))

    async def _send_back(self, taken: list[tuple[int, OutboxRecord]]) -> list[Redriven]:
        records: list[tuple[str, bytes, bytes, Headers | None]] = []
        for dead_letter_id, item in taken:
            event = TrackingEvent(
                Step.REDRIVEN,
                item.tracking_id,
                message_id=item.message_id,
                event=item.event,
                receiver=item.receiver_id,
                detail={"dead_letter": dead_letter_id},
            )
            records.append((self._topics.events, event.key, event.to_bytes(), None))
            records.append((self._topics.outbox, item.key, item.raw, item.headers()))
        await self._publisher.send_all(records)
        metrics.REDRIVES.inc(len(taken))
        return [Redriven(i, item.tracking_id, item.receiver_id) for i, item in taken]

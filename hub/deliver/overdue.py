"""Acknowledgement timeouts: a delivered message that no acknowledgement answered in time is flagged
(visible in the API and the metrics) and, when configured, delivered again.

With several hub processes on one database, one of them watches: the one holding the ``acknowledgement-watch``
lease (hub.store.leases), renewed each round; when it dies, another takes over within the lease's time."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

import structlog

from hub.broker.clients import Publisher
from hub.broker.records import OutboxRecord
from hub.broker.topics import Topics
from hub.domain.tracking import Step, TrackingEvent
from hub.store.leases import Leases
from hub.ticks import ticks
from hub.track.archive import MessageArchive
from hub.track.store import OverdueDelivery, TrackingStore

log = structlog.get_logger(__name__)

LEASE = "acknowledgement-watch"


class AcknowledgementWatch:
    def __init__(
        self,
        *,
        store: TrackingStore,
        archive: MessageArchive,
        publisher: Publisher,
        topics: Topics,
        timeout_seconds: float,
        redeliveries: int,
        interval: float,
        leases: Leases | None = None,
    ) -> None:
        self._store = store
        self._archive = archive
        self._publisher = publisher
        self._topics = topics
        self._timeout = timeout_seconds
        self._redeliveries = redeliveries
        self._interval = interval
        self._leases = leases
        # renewed every round: three rounds missed before another process takes over
        self.lease_seconds = max(3 * interval, 30.0)

    async def run(self, stop: asyncio.Event) -> None:
        try:
            async for _ in ticks(self._interval, stop):
                try:
                    if self._leases is None or await self._leases.hold(LEASE, ttl=self.lease_seconds):
                        await self.scan(datetime.now(UTC))
                except Exception:  # the store or broker may be away for a moment; the next round tries again
                    log.exception("acknowledgement scan failed")
        finally:
            if self._leases is not None:
                with contextlib.suppress(Exception):  # not given back: it expires
                    await asyncio.shield(self._leases.release(LEASE))

    async def scan(self, now: datetime) -> int:
        cutoff = (now - timedelta(seconds=self._timeout)).isoformat(timespec="microseconds")
        overdue = await self._store.overdue_deliveries(delivered_before=cutoff, max_flags=self._redeliveries)
        for delivery in overdue:
            redeliver = delivery.times_flagged < self._redeliveries and await self._redeliver(delivery)
            event = TrackingEvent(
                Step.ACKNOWLEDGEMENT_OVERDUE,
                delivery.tracking_id,
                message_id=delivery.message_id,
                event=delivery.event,
                receiver=delivery.receiver,
                detail={"waited_seconds": self._timeout, "delivered_again": redeliver},
            )
            await self._publisher.send_and_wait(self._topics.events, key=event.key, value=event.to_bytes())
        if overdue:
            log.warning("acknowledgements overdue", deliveries=len(overdue))
        return len(overdue)

    async def _redeliver(self, delivery: OverdueDelivery) -> bool:
        archived = await self._archive.get(delivery.tracking_id)
        if archived is None:
            return False
        item = OutboxRecord(
            tracking_id=delivery.tracking_id,
            message_id=delivery.message_id or "",
            receiver_id=delivery.receiver,
            event=delivery.event or "",
            raw=archived.raw,
            patient_key=archived.key.decode(errors="replace"),
            sender_id=delivery.sender or "",
            resend=True,
        )
        await self._publisher.send_and_wait(self._topics.outbox, key=item.key, value=item.raw, headers=item.headers())
        return True

"""Acknowledgement timeouts: a delivered message that no acknowledgement answered in time is flagged
(visible in the API and the metrics) and, when configured, delivered again. A receiver's transient-error that
no ok followed in that time is told to the message's sender, with a failure notice of the hub's own
(hub.messages.failure_notice), once per receiver and message.

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
from hub.deliver.notices import publish_notice
from hub.deliver.subscription_events import SubscriptionEvents
from hub.domain.tracking import Step, TrackingEvent
from hub.messages.failure_notice import FailedDelivery, FailureKind, failure_notice
from hub.observe import metrics
from hub.route.register import Register
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
        register: Register | None = None,
        subscription_events: SubscriptionEvents | None = None,
    ) -> None:
        self._store = store
        # a copy that went as a rest-hook notification is delivered again the same way
        self._subscription_events = subscription_events
        # who the senders are, for the notices about unresolved transient errors (None: no notices)
        self._register = register
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
            metrics.ACKNOWLEDGEMENT_TIMEOUTS.labels(delivery.receiver).inc()
        if overdue:
            log.warning("acknowledgements overdue", deliveries=len(overdue))
        await self.notify_unresolved(now)
        return len(overdue)

    async def notify_unresolved(self, now: datetime) -> int:
        """Tell the sender of every delivery whose receiver answered transient-error more than one timeout ago,
        and has not answered ok since, that its receiver has still not taken the message (transient-error,
        MSG_Mailbox_Out_Of_Operation). The notice's SENDER_NOTIFIED step keeps the next scan from asking again."""
        if self._register is None:
            return 0
        cutoff = (now - timedelta(seconds=self._timeout)).isoformat(timespec="microseconds")
        unresolved = await self._store.unresolved_transient_errors(acknowledged_before=cutoff)
        told = 0
        for delivery in unresolved:
            failed = FailedDelivery(
                tracking_id=delivery.tracking_id,
                message_id=delivery.message_id or "",
                event=delivery.event,
                sender_id=delivery.sender or "",
                receiver_id=delivery.receiver,
                kind=FailureKind.TRANSIENT_UNRESOLVED,
                reason=f"answered transient-error, and no ok followed within {self._timeout:g} s",
            )
            notice = failure_notice(failed, self._register, now=now)
            if notice is None:
                continue
            await publish_notice(self._publisher, self._topics, notice)
            told += 1
        if told:
            log.warning("transient errors unresolved; senders notified", deliveries=told)
        return told

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
            via=await self._subscription_events.carrying(delivery.tracking_id, delivery.receiver)
            if self._subscription_events is not None
            else None,
        )
        await self._publisher.send_and_wait(self._topics.outbox, key=item.key, value=item.raw, headers=item.headers())
        return True

"""The recorder: projects the events topic into the tracking store."""

from __future__ import annotations

import structlog
from aiokafka import ConsumerRecord

from hub.track.events import TrackingEvent
from hub.track.store import TrackingStore

log = structlog.get_logger(__name__)


class Recorder:
    def __init__(self, store: TrackingStore) -> None:
        self._store = store

    async def handle(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        events = []
        for record in records:
            try:
                events.append(TrackingEvent.from_bytes(record.value or b""))
            except (ValueError, KeyError):
                # not a hub event: keep going, the events topic is the audit trail and stays as it is
                log.error("unreadable tracking event skipped", partition=record.partition, offset=record.offset)
        await self._store.record(events)

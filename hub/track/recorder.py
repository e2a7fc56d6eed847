"""The recorder: projects the events topic into the tracking store."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import sqlalchemy as sa
import structlog
from sqlalchemy.exc import DataError

from hub.broker.outcomes import DeadLetter, underlying
from hub.broker.poison import is_outage
from hub.broker.port import Record
from hub.domain.tracking import Step, TrackingEvent
from hub.faults import fault_kind, fault_place
from hub.observe import metrics
from hub.observe.timing import seconds_between
from hub.store.tables import messages, steps
from hub.track.store import TrackingStore

log = structlog.get_logger(__name__)


class Recorder:
    def __init__(self, store: TrackingStore) -> None:
        self._store = store

    async def handle(self, records: Sequence[Record]) -> None:
        """Record a batch of events (run by hub.broker.clients.consume_batches, which commits after it). Values
        the store refuses are refused for good (DeadLetter): consume_batches then records the batch's other
        events without the one refused, which `quarantine` records in a reduced form."""
        events = []
        for record in records:
            try:
                events.append(TrackingEvent.from_bytes(record.value or b""))
            except (ValueError, KeyError, TypeError):
                # not a hub event: keep going, the events topic is the audit trail and stays as it is
                log.error("unreadable tracking event skipped", partition=record.partition, offset=record.offset)
        try:
            await self._store.record(events)
        except DataError as exc:  # a value the database refuses: refused again however often it is tried
            raise DeadLetter(f"the tracking store refused a value ({fault_kind(exc)})") from exc
        await self._time_acknowledgements(events)

    async def _time_acknowledgements(self, events: Sequence[TrackingEvent]) -> None:
        """Observe, for each acknowledgement the projection matched to a message it recorded, the time from that
        message's acceptance to the acknowledgement (hub_acknowledgement_latency_seconds). One read for the batch,
        only when it holds acknowledgements; the events are recorded whether or not it succeeds. An
        acknowledgement that answers nothing the hub carried stays on its own record and is not timed."""
        acknowledged = {event.id: event.tracking_id for event in events if event.step is Step.ACKNOWLEDGED}
        if not acknowledged:
            return
        query = (
            sa.select(steps.c.id, steps.c.tracking_id, steps.c.at, messages.c.received_at, messages.c.event)
            .join(messages, messages.c.tracking_id == steps.c.tracking_id)
            .where(steps.c.id.in_(sorted(acknowledged)), steps.c.step == str(Step.ACKNOWLEDGED))
        )
        try:
            async with self._store.engine.connect() as connection:
                rows = (await connection.execute(query)).all()
        except Exception as exc:  # a figure lost, nothing more
            log.warning("acknowledgement latency not observed", error=fault_kind(exc))
            return
        for row in rows:
            if row.tracking_id != acknowledged.get(row.id):  # matched to the message it acknowledges
                metrics.observe_acknowledgement(row.event, seconds_between(row.received_at, row.at))

    async def quarantine(self, record: Record, failure: BaseException) -> None:
        """An event the store cannot write even alone (hub.broker.isolation) is recorded in a reduced form: its
        step, ids and time, with a note instead of its detail, so the message still shows in its timeline. If
        even that cannot be written it is skipped; it stays on the events topic, the audit trail. (A failure of
        the database itself is raised: the event is then read again, not skipped.) Logged without content."""
        where = {"partition": record.partition, "offset": record.offset}
        try:
            event = TrackingEvent.from_bytes(record.value or b"")
        except Exception:
            log.error("unreadable tracking event skipped", **where)
            return
        kind = fault_kind(underlying(failure))
        note = f"the hub could not record this step in full ({kind}); it is kept on the events topic"
        reduced = dataclasses.replace(event, patient=None, detail={"note": note})
        try:
            await self._store.record([reduced])
        except Exception as exc:
            if is_outage(exc):
                raise
            log.error(
                "tracking event skipped: not even its reduced form can be recorded",
                step=str(event.step),
                tracking_id=event.tracking_id,
                error=fault_kind(exc),
                at=fault_place(exc),
                **where,
            )
            return
        log.warning(
            "tracking event recorded in a reduced form",
            step=str(event.step),
            tracking_id=event.tracking_id,
            error=kind,
            **where,
        )

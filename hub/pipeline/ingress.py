"""The ingress worker: validates each accepted message, routes it, and publishes deliveries and events."""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from aiokafka import ConsumerRecord

from hub.broker.clients import Publisher
from hub.broker.records import Headers, IngressRecord
from hub.broker.topics import Topics
from hub.pipeline.plan import plan
from hub.route.register import Register
from hub.validate.validator import Validator

log = structlog.get_logger(__name__)


class IngressWorker:
    def __init__(self, *, validator: Validator, register: Register, publisher: Publisher, topics: Topics) -> None:
        self._validator = validator
        self._register = register
        self._publisher = publisher
        self._topics = topics

    async def handle(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        out: list[tuple[str, bytes, bytes, Headers | None]] = []
        now = datetime.now(UTC)
        for record in records:
            incoming = IngressRecord.from_kafka(record.key, record.value or b"", record.headers)
            verdict = self._validator.validate(incoming.raw)
            result = plan(incoming, verdict, self._register, now=now)
            for delivery in result.outbox:
                out.append((self._topics.outbox, delivery.key, delivery.raw, delivery.headers()))
            for event in result.events:
                out.append((self._topics.events, event.key, event.to_bytes(), None))
            if not verdict.valid:
                log.info(
                    "message rejected",
                    tracking_id=incoming.tracking_id,
                    errors=sum(1 for issue in verdict.issues if issue.is_error),
                )
        await self._publisher.send_all(out)

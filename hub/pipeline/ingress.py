"""The ingress worker: validates each accepted message, routes it, and publishes deliveries and events."""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from aiokafka import ConsumerRecord

from hub.broker.clients import Publisher
from hub.broker.records import Headers, IngressRecord
from hub.broker.topics import Topics
from hub.deliver.ledger import DeliveryLedger, KeptAcknowledgement
from hub.pipeline.plan import EarlierAcknowledgement, plan
from hub.route.register import Register
from hub.route.subscriptions import LiveSubscriptions
from hub.validate.pool import Validation
from hub.validate.validator import Verdict

log = structlog.get_logger(__name__)


class IngressWorker:
    def __init__(
        self,
        *,
        validation: Validation,
        register: Register,
        ledger: DeliveryLedger,
        publisher: Publisher,
        topics: Topics,
        subscriptions: LiveSubscriptions | None = None,
    ) -> None:
        self._validation = validation
        self._register = register
        self._ledger = ledger
        self._publisher = publisher
        self._topics = topics
        self._subscriptions = subscriptions

    async def handle(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        out: list[tuple[str, bytes, bytes, Headers | None]] = []
        now = datetime.now(UTC)
        incoming_records = [IngressRecord.from_kafka(r.key, r.value or b"", r.headers) for r in records]
        verdicts = await self._validation.validate_all([incoming.raw for incoming in incoming_records])
        checked = list(zip(incoming_records, verdicts, strict=True))
        earlier = await self._remember_acknowledgements(checked)
        for incoming, verdict in checked:
            message_id = verdict.facts.message_id if verdict.facts else None
            given = earlier.get((self._register.name_of(incoming.sender_sor), message_id or ""), {})
            known = tuple(EarlierAcknowledgement(r, code, raw) for r, (code, raw) in sorted(given.items()))
            result = plan(
                incoming,
                verdict,
                self._register,
                now=now,
                earlier_acknowledgements=known,
                subscriptions=self._subscriptions,
            )
            for delivery in result.outbox:
                out.append((self._topics.outbox, delivery.key, delivery.raw, delivery.headers()))
            for event in result.events:
                out.append((self._topics.events, event.key, event.to_bytes(), None))
            if result.dead_letter_reason:
                headers = [*incoming.headers(), ("hub-reason", result.dead_letter_reason.encode())]
                out.append((self._topics.dead_letters, incoming.key, incoming.raw, headers))
            if not verdict.valid:
                log.info(
                    "message rejected",
                    tracking_id=incoming.tracking_id,
                    errors=sum(1 for issue in verdict.issues if issue.is_error),
                )
        await self._publisher.send_all(out)

    async def _remember_acknowledgements(
        self, checked: list[tuple[IngressRecord, Verdict]]
    ) -> dict[tuple[str, str], dict[str, tuple[str, bytes]]]:
        """Keep the batch's incoming acknowledgements; for its other messages, find those already given:
        (sender, MessageHeader.id) -> receiver -> (code, raw). Two statements for the whole batch."""
        kept: list[KeptAcknowledgement] = []
        asked: list[tuple[str, str]] = []
        for incoming, verdict in checked:
            facts = verdict.facts
            if not verdict.valid or facts is None or not facts.message_id:
                continue
            if not facts.is_acknowledgement:
                asked.append((self._register.name_of(incoming.sender_sor), facts.message_id))
                continue
            primary = next((d for d in facts.destinations if d.use == "primary"), None)
            if facts.response is not None and primary is not None and primary.organisation is not None:
                kept.append(
                    KeptAcknowledgement(
                        sender=self._register.name_of(primary.organisation.sor),  # the acknowledged message's sender
                        message_id=facts.response.identifier,
                        receiver=self._register.name_of(incoming.sender_sor),
                        code=facts.response.code,
                        raw=incoming.raw,
                    )
                )
        await self._ledger.keep_acknowledgements(kept)
        return await self._ledger.acknowledgements_for(asked)

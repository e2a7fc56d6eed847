"""The delivery worker: reads the outbox and hands each message to its receiver, in order per receiver."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import structlog
from aiokafka import ConsumerRecord

from hub.broker.clients import Publisher
from hub.broker.records import OutboxRecord
from hub.broker.topics import Topics
from hub.deliver.policy import AttemptOutcome, RetryPolicy, classify, parse_retry_after
from hub.route.register import EndpointKind, Organisation, Register
from hub.track.events import Step, TrackingEvent
from hub.track.store import TrackingStore

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class AttemptResult:
    outcome: AttemptOutcome
    error: str | None = None
    retry_after: float | None = None
    status_code: int | None = None


class DeliveryWorker:
    def __init__(
        self,
        *,
        register: Register,
        store: TrackingStore,
        publisher: Publisher,
        topics: Topics,
        client: httpx.AsyncClient,
        policy: RetryPolicy,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._register = register
        self._store = store
        self._publisher = publisher
        self._topics = topics
        self._client = client
        self._policy = policy
        self._clock = clock or asyncio.get_running_loop().time
        self._pending: list[asyncio.Future[object]] = []

    async def handle(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        """Deliver a batch: each receiver's records in order, receivers side by side."""
        by_receiver: dict[str, list[OutboxRecord]] = {}
        for record in records:
            item = OutboxRecord.from_kafka(record.key, record.value or b"", record.headers)
            by_receiver.setdefault(item.receiver_id, []).append(item)
        await asyncio.gather(*(self._deliver_in_order(items) for items in by_receiver.values()))
        pending, self._pending = self._pending, []
        if pending:
            await asyncio.gather(*pending)

    async def _deliver_in_order(self, items: list[OutboxRecord]) -> None:
        for item in items:
            await self._deliver(item)

    async def _deliver(self, item: OutboxRecord) -> None:
        receiver = self._register.by_id(item.receiver_id)
        if receiver is None:
            await self._report(item, Step.DELIVERY_FAILED, attempt=0, error="receiver is no longer in the register")
            return
        if receiver.endpoint.kind is EndpointKind.MAILBOX:
            await self._store.put_in_mailbox(
                receiver=receiver.id,
                tracking_id=item.tracking_id,
                message_id=item.message_id,
                event=item.event,
                body=item.raw,
            )
            await self._report(item, Step.DELIVERED, attempt=1, endpoint="mailbox")
            return
        await self._push_with_retries(item, receiver)

    async def _push_with_retries(self, item: OutboxRecord, receiver: Organisation) -> None:
        started = self._clock()
        attempt = 0
        while True:
            attempt += 1
            result = await self._push(item, receiver)
            if result.outcome is AttemptOutcome.DELIVERED:
                await self._report(item, Step.DELIVERED, attempt=attempt, endpoint="http", status=result.status_code)
                return
            delay = self._policy.delay(attempt, retry_after=result.retry_after)
            if result.outcome is AttemptOutcome.GIVE_UP or not self._policy.may_retry(
                elapsed=self._clock() - started, next_delay=delay
            ):
                await self._report(item, Step.DELIVERY_FAILED, attempt=attempt, error=result.error)
                log.warning("delivery failed", receiver=receiver.id, tracking_id=item.tracking_id, error=result.error)
                return
            await self._report(item, Step.DELIVERY_ATTEMPT_FAILED, attempt=attempt, error=result.error, retry_in=delay)
            await asyncio.sleep(delay)

    async def _push(self, item: OutboxRecord, receiver: Organisation) -> AttemptResult:
        headers = {
            "Content-Type": "application/fhir+json",
            "Idempotency-Key": item.message_id,
            "X-Hub-Tracking-Id": item.tracking_id,
        }
        if receiver.endpoint.bearer_token:
            headers["Authorization"] = f"Bearer {receiver.endpoint.bearer_token}"
        assert receiver.endpoint.url is not None
        try:
            response = await self._client.post(receiver.endpoint.url, content=item.raw, headers=headers)
        except httpx.TimeoutException:
            return AttemptResult(AttemptOutcome.RETRY, error="no answer within the timeout")
        except httpx.TransportError as exc:
            return AttemptResult(AttemptOutcome.RETRY, error=f"cannot reach the receiver: {type(exc).__name__}")
        outcome = classify(response.status_code)
        return AttemptResult(
            outcome,
            error=None if outcome is AttemptOutcome.DELIVERED else f"HTTP {response.status_code}",
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
            status_code=response.status_code,
        )

    async def _report(self, item: OutboxRecord, step: Step, **detail: object) -> None:
        event = TrackingEvent(
            step,
            item.tracking_id,
            message_id=item.message_id or None,
            event=item.event or None,
            receiver=item.receiver_id,
            detail={k: v for k, v in detail.items() if v is not None},
        )
        self._pending.append(await self._publisher.send(self._topics.events, key=event.key, value=event.to_bytes()))

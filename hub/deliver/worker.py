"""The delivery worker: hands each outbox record to its receiver, per receiver and patient in order.

Each receiver has a lane. A lane delivers directly while its receiver takes messages; records of one
patient wait for the one before, other patients go side by side. When the receiver fails, the lane
opens its circuit: the failed delivery and every later one for that receiver are parked in the
database (so the Kafka offset moves on and no other receiver waits), and one drainer retries the oldest
with backoff until the receiver is back, or the retry window has passed and the delivery becomes a dead
letter. Before any push the ledger is asked whether the receiver already has the message.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson
import structlog

from hub.broker.outcomes import DeadLetter, reason_of
from hub.broker.poison import worth_another_try
from hub.broker.port import Record, RecordPublisher
from hub.broker.progress import WorkerProgress
from hub.broker.records import OutboxRecord
from hub.broker.topics import Topics
from hub.deliver.formats import NotConvertible, body_for
from hub.deliver.http_push import AttemptResult, push
from hub.deliver.ledger import DeliveryLedger
from hub.deliver.notices import publish_notice
from hub.deliver.parking import Attempt, DeadLetterStore, ParkedDelivery, ParkingLot
from hub.deliver.policy import AttemptOutcome, RetryPolicy, worth_reporting
from hub.deliver.rest_hook import RestHooks
from hub.domain.tracking import Step, TrackingEvent, utc_now
from hub.faults import fault_kind, fault_place
from hub.messages.failure_notice import FailedDelivery, FailureKind, failure_notice
from hub.observe import metrics
from hub.observe.timing import accepted_at, seconds_since
from hub.route.register import EndpointKind, Register
from hub.store.leases import Leases
from hub.track.store import TrackingStore

log = structlog.get_logger(__name__)

RETRY, GIVE_UP = "retry", "give up"


def after_failure(exc: BaseException, failures: int, attempts: int) -> str:
    """What follows a delivery step that raised (hub.broker.poison decides): an outage, or a RetryLater, is
    waited out, retried with backoff for as long as it lasts; a DeadLetter is given up at once; any other
    failure is tried `attempts` times, then the delivery is given up as a dead letter, so it is never retried
    for ever and never holds up the records after it."""
    return RETRY if worth_another_try(exc, tries=failures, attempts=attempts) else GIVE_UP


def failure_kind(outcome: AttemptOutcome, *, receiver_known: bool) -> FailureKind:
    """Why a delivery whose last attempt had `outcome` is given up, as its sender is told: a receiver gone from
    the register, a refusal for good, or (a retry that was not allowed any more) a receiver out of operation for
    the whole retry window."""
    if not receiver_known:
        return FailureKind.RECEIVER_UNKNOWN
    return FailureKind.OUT_OF_OPERATION if outcome is AttemptOutcome.RETRY else FailureKind.REFUSED


def undeliverable_reason(failure: BaseException) -> str:
    """The dead letter's reason: the one a DeadLetter gave, else the exception's type only (its text may quote
    the message)."""
    return reason_of(failure) or f"the hub could not deliver this message: {fault_kind(failure)}"


class DeliveryWorker:
    def __init__(
        self,
        *,
        register: Register,
        store: TrackingStore,
        ledger: DeliveryLedger,
        parking: ParkingLot,
        dead_letters: DeadLetterStore,
        publisher: RecordPublisher,
        topics: Topics,
        client: aiohttp.ClientSession,
        policy: RetryPolicy,
        concurrency_per_receiver: int = 16,
        clock: Callable[[], float] = time.time,
        poison_attempts: int = 3,
        poison_base_delay: float = 0.2,
        progress: WorkerProgress | None = None,
        leases: Leases | None = None,
        drain_lease_seconds: float = 30.0,
        rest_hooks: RestHooks | None = None,
    ) -> None:
        self.register = register
        self.store = store
        self.ledger = ledger
        self.parking = parking
        self.dead_letters = dead_letters
        self.publisher = publisher
        self.topics = topics
        self.client = client
        self.policy = policy
        self.clock = clock
        # a delivery whose handling raises (not an outage: hub.broker.poison) is tried this often, then buried
        self.poison_attempts = poison_attempts
        self.poison_base_delay = poison_base_delay
        self.progress = progress or WorkerProgress("delivery")
        # with several hub processes on one database, one drains a receiver's parked deliveries: the holder of
        # that receiver's lease (None: this process is the only one)
        self.leases = leases
        self.drain_lease_seconds = drain_lease_seconds
        # a copy through a rest-hook subscription (OutboxRecord.via) goes as its event notification
        self.rest_hooks = rest_hooks
        self._concurrency = concurrency_per_receiver
        self._lanes: dict[str, ReceiverLane] = {}
        self.closing = False

    async def resume_parked(self) -> None:
        """At start: take up the parked deliveries a previous run left."""
        for receiver, count in (await self.parking.counts()).items():
            self.lane(receiver).resume(count)

    def lane(self, receiver_id: str) -> ReceiverLane:
        lane = self._lanes.get(receiver_id)
        if lane is None:
            lane = self._lanes[receiver_id] = ReceiverLane(receiver_id, self, self._concurrency)
        return lane

    def submit(self, item: OutboxRecord, done: Callable[[], None]) -> None:
        self.lane(item.receiver_id).submit(item, done)

    def take(self, record: Record, done: Callable[[], None]) -> None:
        """An outbox record from the consume loop (hub.broker.clients.consume_concurrently): read as a delivery
        and submitted; `done` is called once it is delivered, parked or a dead letter. One that cannot be read is
        refused with DeadLetter (it reads the same every time), and the loop sets it aside through `quarantine`."""
        try:
            item = OutboxRecord.from_kafka(record.key, record.value or b"", record.headers)
        except Exception as exc:
            raise DeadLetter(undeliverable_reason(exc)) from exc
        self.submit(item, done)

    async def quarantine(self, record: Record, failure: BaseException) -> None:
        """An outbox record that cannot even be read as a delivery (consume_concurrently): onto the dead-letter
        topic with its reason, as it came."""
        reason = undeliverable_reason(failure)
        headers = [*(record.headers or ()), ("hub-reason", reason.encode())]
        await self.publisher.send_and_wait(
            self.topics.dead_letters, key=record.key or b"", value=record.value or b"", headers=list(headers)
        )

    def circuits(self) -> dict[str, dict[str, Any]]:
        return {receiver: lane.state() for receiver, lane in sorted(self._lanes.items())}

    def begin_closing(self) -> None:
        """Start no new push: pushes under way finish; records not yet pushed are handed back (their
        offsets are not committed, so they come back to whoever reads the outbox next)."""
        self.closing = True

    async def close(self, *, timeout: float = 15.0) -> None:
        """Wait for pushes under way (up to `timeout`), then drop the rest. Parked deliveries stay parked."""
        self.begin_closing()
        await asyncio.gather(*(lane.close(timeout) for lane in self._lanes.values()))

    # --- what lanes do ------------------------------------------------------------------------------

    async def attempt(self, item: OutboxRecord) -> AttemptResult:
        receiver = self.register.by_id(item.receiver_id)
        if receiver is None:
            return AttemptResult(AttemptOutcome.GIVE_UP, error="the receiver is no longer in the register")
        if item.via is not None and self.rest_hooks is not None:
            notified = await self.rest_hooks.notify(item)
            if notified is not None:
                return notified
        if receiver.endpoint.kind is EndpointKind.MAILBOX:
            try:
                body = body_for(item.raw, receiver.endpoint.format)  # kept in the format the receiver fetches
            except NotConvertible as exc:
                return AttemptResult(AttemptOutcome.GIVE_UP, error=str(exc))
            await self.store.mailbox.put(
                receiver=receiver.id,
                tracking_id=item.tracking_id,
                message_id=item.message_id,
                event=item.event,
                body=body.content,
            )
            return AttemptResult(AttemptOutcome.DELIVERED)
        return await push(self.client, item, receiver)

    async def delivered(self, item: OutboxRecord, *, attempt: int, status_code: int | None = None) -> None:
        await self.ledger.add(
            sender=item.sender_id, message_id=item.message_id, receiver=item.receiver_id, tracking_id=item.tracking_id
        )
        await self.report(item, Step.DELIVERED, attempt=attempt, status=status_code, subscription=item.via)
        metrics.count_attempt(item.receiver_id, metrics.DELIVERED)
        if not item.resend:  # delivered again for want of an acknowledgement: its first delivery was timed
            metrics.observe_delivery(item.event, seconds_since(accepted_at(item.tracking_id), self.clock()))

    def kind_of_failure(self, item: OutboxRecord, outcome: AttemptOutcome) -> FailureKind:
        return failure_kind(outcome, receiver_known=self.register.by_id(item.receiver_id) is not None)

    async def bury(self, item: OutboxRecord, *, reason: str, attempts: tuple[Attempt, ...], kind: FailureKind) -> None:
        """Make the delivery a dead letter: kept in the database and on the dead-letter topic; then its sender is
        told (hub.messages.failure_notice), unless it is an acknowledgement or the hub's own message."""
        dead_letter_id = await self.dead_letters.add(item, reason=reason, attempts=attempts)
        history = orjson.dumps([a.as_dict() for a in attempts])
        await self.publisher.send_and_wait(
            self.topics.dead_letters,
            key=item.key,
            value=item.raw,
            headers=[*item.headers(), ("hub-reason", reason.encode()), ("hub-attempts", history)],
        )
        await self.report(
            item,
            Step.DELIVERY_FAILED,
            attempt=len(attempts),
            error=reason,
            dead_letter=dead_letter_id,
        )
        metrics.DEAD_LETTERS_MADE.labels(item.receiver_id).inc()
        log.warning("delivery failed; dead letter", receiver=item.receiver_id, tracking_id=item.tracking_id)
        await self.notify_sender(item, kind=kind, reason=reason)

    async def notify_sender(self, item: OutboxRecord, *, kind: FailureKind, reason: str) -> None:
        """Publish the failure notice for a delivery given up: its tracking events, then its outbox record. The
        notice is the same each time (hub.messages.failure_notice), so doing this twice delivers it once."""
        failed = FailedDelivery(
            tracking_id=item.tracking_id,
            message_id=item.message_id,
            event=item.event or None,
            sender_id=item.sender_id,
            receiver_id=item.receiver_id,
            kind=kind,
            reason=reason,
        )
        try:
            notice = failure_notice(failed, self.register, now=datetime.fromtimestamp(self.clock(), UTC))
        except Exception as exc:  # a notice that cannot be made must not unmake the dead letter, which is stored
            log.error(
                "sender not notified: the notice could not be made",
                receiver=item.receiver_id,
                tracking_id=item.tracking_id,
                error=fault_kind(exc),
                at=fault_place(exc),
            )
            return
        if notice is None:
            return
        await publish_notice(self.publisher, self.topics, notice)
        log.info(
            "sender notified",
            sender=item.sender_id,
            receiver=item.receiver_id,
            tracking_id=item.tracking_id,
            code=notice.code,
            detail_code=notice.detail_code,
        )

    async def report(self, item: OutboxRecord, step: Step, **detail: object) -> None:
        event = TrackingEvent(
            step,
            item.tracking_id,
            message_id=item.message_id or None,
            event=item.event or None,
            receiver=item.receiver_id,
            detail={k: v for k, v in detail.items() if v is not None},
        )
        await self.publisher.send_and_wait(self.topics.events, key=event.key, value=event.to_bytes())


class ReceiverLane:
    """Delivery to one receiver: direct while it answers, parked and drained in order while it does not."""

    def __init__(self, receiver_id: str, worker: DeliveryWorker, concurrency: int) -> None:
        self.receiver_id = receiver_id
        self._worker = worker
        self._parked = 0
        self._chains: dict[str, asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(concurrency)
        self._drainer: asyncio.Task[None] | None = None

    @property
    def open(self) -> bool:
        """An open circuit: the receiver failed and has deliveries parked; nothing goes to it directly."""
        return self._parked > 0 or (self._drainer is not None and not self._drainer.done())

    def state(self) -> dict[str, Any]:
        return {"circuit": "open" if self.open else "closed", "parked": self._parked, "in_flight": len(self._chains)}

    def resume(self, parked: int) -> None:
        self._parked = parked
        self._ensure_drainer()

    def submit(self, item: OutboxRecord, done: Callable[[], None]) -> None:
        previous = self._chains.get(item.patient_key)
        task = asyncio.create_task(self._run(item, previous, done))
        self._chains[item.patient_key] = task

        def forget(finished: asyncio.Task[None], key: str = item.patient_key) -> None:
            if self._chains.get(key) is finished:
                del self._chains[key]

        task.add_done_callback(forget)

    async def _run(self, item: OutboxRecord, previous: asyncio.Task[None] | None, done: Callable[[], None]) -> None:
        if previous is not None:
            await asyncio.wait([previous])  # the same patient's earlier message first
        failures = 0
        while True:
            if self._worker.closing:
                return  # handed back: not done, so not committed
            try:
                async with self._slots:
                    await self._deliver_or_park(item)
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                decision = after_failure(exc, failures, self._worker.poison_attempts)
                log.warning(
                    "delivery step failed",
                    receiver=self.receiver_id,
                    tracking_id=item.tracking_id,
                    error=fault_kind(exc),
                    at=fault_place(exc),
                    then=decision,
                )
                if decision == GIVE_UP:
                    if not await self._give_up(item, exc):
                        return  # closing before even the dead letter could be written: handed back
                    break
                await asyncio.sleep(min(30.0, self._worker.poison_base_delay * 2**failures))
        done()

    async def _give_up(self, item: OutboxRecord, failure: BaseException) -> bool:
        """Make a delivery whose handling raised every time a dead letter, with the reason. Tried until it is
        written (the database or broker may be away meanwhile) or the worker closes (False: handed back)."""
        worker = self._worker
        reason = undeliverable_reason(failure)
        tries = 0
        while not worker.closing:
            tries += 1
            try:
                await worker.bury(
                    item, reason=reason, attempts=(Attempt(utc_now(), reason),), kind=FailureKind.UNDELIVERABLE
                )
                worker.progress.quarantined()
                return True
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not worth_another_try(exc, tries=tries, attempts=worker.poison_attempts):
                    # it cannot even be made a dead letter: said in the log (without content), and passed
                    log.error(
                        "delivery given up; it could not be made a dead letter",
                        receiver=self.receiver_id,
                        tracking_id=item.tracking_id,
                        reason=reason,
                        error=fault_kind(exc),
                        at=fault_place(exc),
                    )
                    with contextlib.suppress(Exception):  # at least its timeline says so
                        await worker.report(item, Step.DELIVERY_FAILED, error=reason, dead_letter=None)
                    worker.progress.quarantined()
                    return True
                await asyncio.sleep(min(30.0, worker.poison_base_delay * 2**tries))
        return False

    async def _deliver_or_park(self, item: OutboxRecord) -> None:
        worker = self._worker
        if not item.resend and await worker.ledger.has(
            sender=item.sender_id, message_id=item.message_id, receiver=self.receiver_id
        ):
            await worker.report(item, Step.DELIVERED, duplicate=True, note="the receiver already has this message")
            return
        now = worker.clock()
        if self.open:
            if item.via is not None and worker.rest_hooks is not None:
                # parked untried: numbered now, so $status and $events know of it (an attempt numbers it itself)
                await worker.rest_hooks.number(item)
            await self._park(item, first_attempt_at=now, next_attempt_at=now, attempts=())
            return
        result = await worker.attempt(item)
        if result.outcome is AttemptOutcome.DELIVERED:
            await worker.delivered(item, attempt=1, status_code=result.status_code)
            return
        attempts = (Attempt(utc_now(), result.error or "refused"),)
        if result.outcome is AttemptOutcome.GIVE_UP:
            metrics.count_attempt(self.receiver_id, metrics.DEAD_LETTER)  # counted as made: before the dead letter
            kind = worker.kind_of_failure(item, result.outcome)
            await worker.bury(item, reason=result.error or "refused", attempts=attempts, kind=kind)
            return
        delay = worker.policy.delay(1, retry_after=result.retry_after)
        metrics.count_attempt(self.receiver_id, metrics.RETRY)
        await self._park(item, first_attempt_at=now, next_attempt_at=now + delay, attempts=attempts)
        await worker.report(
            item, Step.DELIVERY_ATTEMPT_FAILED, attempt=1, error=result.error, retry_in=round(delay, 3), parked=True
        )

    async def _park(
        self, item: OutboxRecord, *, first_attempt_at: float, next_attempt_at: float, attempts: tuple[Attempt, ...]
    ) -> None:
        await self._worker.parking.park(
            item, first_attempt_at=first_attempt_at, next_attempt_at=next_attempt_at, attempts=attempts
        )
        metrics.DELIVERIES_PARKED.labels(self.receiver_id).inc()
        self._parked += 1
        self._ensure_drainer()

    def _ensure_drainer(self) -> None:
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain(), name=f"drain-{self.receiver_id}")

    async def _drain(self) -> None:
        worker = self._worker
        failing: tuple[int, int] | None = None  # (seq, failures) of a parked head whose retry raises
        while not worker.closing:
            head = None
            try:
                head = await worker.parking.head(self.receiver_id)
                if head is None:
                    self._parked = 0
                    await self._release_drain_lease()
                    return
                if worker.leases is not None and not await worker.leases.hold(
                    self._drain_lease, ttl=worker.drain_lease_seconds
                ):
                    head = None
                    await asyncio.sleep(1.0)  # another process drains this receiver; ours stay parked behind
                    continue
                wait = head.next_attempt_at - worker.clock()
                if wait > 0:
                    await asyncio.sleep(min(wait, 1.0))  # re-read: an operator may change what is parked
                    continue
                await self._retry(head)
                failing = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures = failing[1] + 1 if failing and head and failing[0] == head.seq else 1
                failing = (head.seq, failures) if head is not None else None
                decision = after_failure(exc, failures, worker.poison_attempts)
                log.warning(
                    "drain step failed",
                    receiver=self.receiver_id,
                    error=fault_kind(exc),
                    at=fault_place(exc),
                    then=decision,
                )
                if head is not None and decision == GIVE_UP:
                    await self._give_up_parked(head, exc)
                    failing = None
                    continue
                await asyncio.sleep(1.0)
        await self._release_drain_lease()  # closing: another process may take over at once

    @property
    def _drain_lease(self) -> str:
        return f"drain:{self.receiver_id}"

    async def _release_drain_lease(self) -> None:
        if self._worker.leases is not None:
            with contextlib.suppress(Exception):  # not given back: it expires
                await asyncio.shield(self._worker.leases.release(self._drain_lease))

    async def _give_up_parked(self, head: ParkedDelivery, failure: BaseException) -> None:
        """A parked delivery whose retry raised every time: a dead letter, out of the lane, so the next goes."""
        if await self._give_up(head.item, failure):
            try:
                await self._worker.parking.remove(head.seq)
                self._parked = max(0, self._parked - 1)
            except Exception as exc:  # removed next time round: the ledger or dead letter shows it is done
                log.warning("parked delivery not removed", receiver=self.receiver_id, error=fault_kind(exc))

    async def _retry(self, head: ParkedDelivery) -> None:
        worker = self._worker
        item = head.item
        if not item.resend and await worker.ledger.has(
            sender=item.sender_id, message_id=item.message_id, receiver=self.receiver_id
        ):
            await worker.parking.remove(head.seq)
            self._parked = max(0, self._parked - 1)
            await worker.report(item, Step.DELIVERED, duplicate=True, note="the receiver already has this message")
            return
        result = await worker.attempt(item)
        metrics.DELIVERY_RETRIES.labels(self.receiver_id).inc()
        number = len(head.attempts) + 1
        if result.outcome is AttemptOutcome.DELIVERED:
            await worker.delivered(item, attempt=number, status_code=result.status_code)
        else:
            attempts = (*head.attempts, Attempt(utc_now(), result.error or "refused"))
            delay = worker.policy.delay(number, retry_after=result.retry_after)
            elapsed = worker.clock() - head.first_attempt_at
            if result.outcome is AttemptOutcome.RETRY and worker.policy.may_retry(elapsed=elapsed, next_delay=delay):
                metrics.count_attempt(self.receiver_id, metrics.RETRY)
                await worker.parking.reschedule(head.seq, next_attempt_at=worker.clock() + delay, attempts=attempts)
                if worth_reporting(number):
                    await worker.report(
                        item, Step.DELIVERY_ATTEMPT_FAILED, attempt=number, error=result.error, retry_in=round(delay, 3)
                    )
                return
            reason = result.error or "refused"
            if result.outcome is AttemptOutcome.RETRY:
                reason = f"not delivered within {worker.policy.retry_window:g} s; last error: {reason}"
            metrics.count_attempt(self.receiver_id, metrics.DEAD_LETTER)  # counted as made: before the dead letter
            await worker.bury(item, reason=reason, attempts=attempts, kind=worker.kind_of_failure(item, result.outcome))
        await worker.parking.remove(head.seq)
        self._parked = max(0, self._parked - 1)

    async def close(self, timeout: float) -> None:
        tasks = [t for t in (self._drainer, *self._chains.values()) if t is not None and not t.done()]
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

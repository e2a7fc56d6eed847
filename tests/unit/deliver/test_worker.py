"""The delivery worker on the in-memory broker, as the hub runs it (hub.broker.clients.consume_concurrently), with
its database (SQLite) and scripted receivers: deliveries arrive per receiver and patient in order, an offset is
committed only once every delivery up to it is done, a restart hands back what was not, an unreadable record and
a delivery that fails for good become dead letters with their reason while the others go on, and an outage is
waited out without burying anything.

The receivers stand in for the push (DeliveryWorker.attempt), the one step that leaves the hub."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.broker.clients import consume_concurrently
from hub.broker.memory import MemoryBroker, MemoryConsumer
from hub.broker.outcomes import DeadLetter, RetryLater
from hub.broker.records import OutboxRecord
from hub.broker.topics import Topics
from hub.deliver.http_push import AttemptResult
from hub.deliver.ledger import DeliveryLedger
from hub.deliver.parking import DeadLetterQuery, DeadLetterStore, ParkingLot
from hub.deliver.policy import AttemptOutcome, RetryPolicy
from hub.deliver.redrive import Redrive
from hub.deliver.worker import DeliveryWorker
from hub.domain.message import read_facts
from hub.domain.tracking import Step, TrackingEvent
from hub.messages.failure_notice import FailureKind
from hub.observe import metrics
from hub.route.register import Register, parse_register
from hub.store.engine import open_database
from tests.memory_workers import until

TOPICS = Topics("t.")
RECEIVERS = ["kommune-a", "kommune-b", "kommune-c"]
GROUP = "hub-delivery"

# what a receiver answers the n-th push of a delivery with: None delivers; an exception is raised by the step
Script = Callable[[OutboxRecord, int], AttemptResult | Exception | None]


@pytest.fixture(scope="module")
def register() -> Register:
    return parse_register(
        {
            "hub": {"name": "hub", "sor": "881531000016009"},
            "organisations": [
                {
                    "id": name,
                    "name": name,
                    "kind": "municipality",
                    "sor": f"95374100001600{index}",
                    "endpoint": {"kind": "mailbox"},
                    "accepts": ["care-communication-message"],
                }
                for index, name in enumerate(RECEIVERS)
            ],
        },
        source="test",
    )


class Receivers:
    """What the receivers got, in the order they got it; `gates` hold a receiver's pushes until opened."""

    def __init__(self) -> None:
        self.script: Script = lambda item, n: None
        self.got: dict[str, list[OutboxRecord]] = defaultdict(list)
        self.pushes: Counter[str] = Counter()  # by message id
        self.gates: dict[str, asyncio.Event] = {}
        self.waiting: set[str] = set()

    async def push(self, item: OutboxRecord) -> AttemptResult:
        self.pushes[item.message_id] += 1
        gate = self.gates.get(item.receiver_id)
        if gate is not None:
            self.waiting.add(item.message_id)
            await gate.wait()
        answer = self.script(item, self.pushes[item.message_id])
        if isinstance(answer, Exception):
            raise answer
        result = answer or AttemptResult(AttemptOutcome.DELIVERED, status_code=200)
        if result.outcome is AttemptOutcome.DELIVERED:
            self.got[item.receiver_id].append(item)
        return result

    def message_ids(self, receiver: str, patient: str | None = None) -> list[str]:
        return [i.message_id for i in self.got[receiver] if patient is None or i.patient_key == patient]


class ScriptedDelivery(DeliveryWorker):
    receivers: Receivers

    async def attempt(self, item: OutboxRecord) -> AttemptResult:
        return await self.receivers.push(item)


class FlakyLedger(DeliveryLedger):
    """The real ledger, whose lookups raise `failures` first."""

    failures: list[Exception]

    async def has(self, *, sender: str, message_id: str, receiver: str) -> bool:
        if self.failures:
            raise self.failures.pop(0)
        return await super().has(sender=sender, message_id=message_id, receiver=receiver)


class Delivery:
    """The delivery worker on a MemoryBroker and a SQLite database, run, stopped and started again as the hub's."""

    def __init__(self, register: Register, engine: AsyncEngine) -> None:
        self.register = register
        self.engine = engine
        self.broker = MemoryBroker(partitions=3)
        for topic in TOPICS.all():
            self.broker.create_topic(topic)
        self.receivers = Receivers()
        self.ledger = FlakyLedger(engine)
        self.ledger.failures = []
        self.dead_letters = DeadLetterStore(engine)
        self.policy = RetryPolicy(base_delay=0.01, max_delay=0.05, retry_window=60)
        self.worker = self._new_worker()
        self._consumer: MemoryConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self.sent: list[OutboxRecord] = []

    def _new_worker(self) -> ScriptedDelivery:
        worker = ScriptedDelivery(
            register=self.register,
            store=None,  # type: ignore[arg-type]  # only the push uses it, and the receivers stand in for the push
            ledger=self.ledger,
            parking=ParkingLot(self.engine),
            dead_letters=self.dead_letters,
            publisher=self.broker.publisher(),
            topics=TOPICS,
            client=None,  # type: ignore[arg-type]
            policy=self.policy,
            poison_base_delay=0.001,
        )
        worker.receivers = self.receivers
        return worker

    def outbox(self, receiver: str, patient: str, number: int) -> OutboxRecord:
        item = OutboxRecord(
            tracking_id=f"trk-{receiver}-{patient}-{number}",
            message_id=f"msg-{receiver}-{patient}-{number}",
            receiver_id=receiver,
            event="care-communication-message",
            raw=f"{receiver} {patient} {number}".encode(),
            patient_key=patient,
            sender_id="hospital",
        )
        self.broker.append(TOPICS.outbox, item.raw, key=item.key, headers=item.headers())
        self.sent.append(item)
        return item

    async def start(self) -> None:
        await self.worker.resume_parked()
        self._consumer = self.broker.consumer(TOPICS.outbox, group_id=GROUP)
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(
            consume_concurrently(
                self._consumer,
                self.worker.take,
                name="delivery",
                stop=self._stop,
                grace_seconds=0.5,
                quarantine=self.worker.quarantine,
                progress=self.worker.progress,
                fetch_retry_delay=0.01,
            )
        )

    async def stop(self) -> None:
        """As the hub stops: no new push, the loop commits what finished, pushes under way are given up."""
        assert self._task is not None and self._consumer is not None
        self.worker.begin_closing()
        self._stop.set()
        await asyncio.wait_for(self._task, 5)
        await self.worker.close(timeout=0.1)
        await self._consumer.stop()

    async def restart(self) -> None:
        await self.stop()
        self.worker = self._new_worker()
        await self.start()

    def lag(self) -> int:
        return self.broker.lag(GROUP, TOPICS.outbox)

    async def drained(self, timeout: float = 10.0) -> None:
        await until(lambda: self.lag() == 0 and not any(lane["in_flight"] for lane in self.worker.circuits().values()))

    def steps(self, item: OutboxRecord) -> list[Step]:
        events = [TrackingEvent.from_bytes(r.value or b"") for r in self.broker.records(TOPICS.events)]
        return [e.step for e in events if e.tracking_id == item.tracking_id]

    def dead_letter_topic(self) -> list[tuple[bytes | None, dict[str, bytes]]]:
        return [(r.value, dict(r.headers)) for r in self.broker.records(TOPICS.dead_letters)]


@pytest.fixture
async def delivery(
    register: Register, tmp_path: Path, new_database_url: Callable[[Path], str]
) -> AsyncIterator[Delivery]:
    engine = await open_database(new_database_url(tmp_path))
    running = Delivery(register, engine)
    await running.start()
    yield running
    with contextlib.suppress(Exception):
        await running.stop()
    await engine.dispose()


async def test_deliveries_arrive_per_receiver_and_patient_in_order_and_are_committed_once_done(
    delivery: Delivery,
) -> None:
    for number in range(6):
        for receiver in RECEIVERS:
            for patient in ("p1", "p2", "p3"):
                delivery.outbox(receiver, patient, number)
    await delivery.drained()
    for receiver in RECEIVERS:
        for patient in ("p1", "p2", "p3"):
            expected = [i.message_id for i in delivery.sent if (i.receiver_id, i.patient_key) == (receiver, patient)]
            assert delivery.receivers.message_ids(receiver, patient) == expected
    assert set(delivery.receivers.pushes.values()) == {1}
    assert all(delivery.steps(item) == [Step.DELIVERED] for item in delivery.sent)
    assert delivery.worker.progress.busy_since is None


async def test_the_offset_is_committed_only_up_to_the_first_delivery_not_done(delivery: Delivery) -> None:
    slow = asyncio.Event()
    delivery.receivers.gates["kommune-a"] = slow
    held = delivery.outbox("kommune-a", "p1", 0)
    partition = delivery.broker.partition_for(TOPICS.outbox, held.key)
    later = [delivery.outbox(receiver, "p1", 0) for receiver in ("kommune-b", "kommune-c")]
    later += [delivery.outbox(receiver, f"p{n}", 1) for receiver in ("kommune-b", "kommune-c") for n in range(10)]
    behind = [i for i in later if delivery.broker.partition_for(TOPICS.outbox, i.key) == partition]
    assert behind, "some deliveries after it share its partition"
    await until(lambda: all(delivery.receivers.pushes[i.message_id] for i in later))
    await until(lambda: all(delivery.steps(i) == [Step.DELIVERED] for i in later))
    await asyncio.sleep(0.2)
    # everything after it is delivered, but its partition's offset stays at it: a restart would hand it back
    assert delivery.broker.committed(GROUP, TOPICS.outbox, partition) == 0
    for other in set(range(3)) - {partition}:
        assert delivery.broker.committed(GROUP, TOPICS.outbox, other) == len(
            delivery.broker.records(TOPICS.outbox, other)
        )
    slow.set()
    await delivery.drained()
    assert delivery.receivers.message_ids("kommune-a") == [held.message_id]


async def test_a_restart_hands_back_what_was_not_done_and_nothing_is_pushed_twice(delivery: Delivery) -> None:
    delivery.receivers.gates["kommune-a"] = asyncio.Event()  # never opens before the restart
    held = delivery.outbox("kommune-a", "p1", 0)
    others = [delivery.outbox(receiver, f"p{n}", 0) for receiver in ("kommune-b", "kommune-c") for n in range(6)]
    await until(lambda: held.message_id in delivery.receivers.waiting)
    await until(lambda: all(delivery.steps(i) == [Step.DELIVERED] for i in others))
    await delivery.restart()  # the push under way is given up: it is handed back, not done
    assert delivery.lag() > 0
    delivery.receivers.gates.clear()
    await delivery.drained()
    assert delivery.receivers.message_ids("kommune-a") == [held.message_id]
    assert all(delivery.receivers.message_ids(i.receiver_id).count(i.message_id) == 1 for i in others)
    # what was delivered but not yet committed came back, and the ledger kept it from being pushed again
    assert all(delivery.receivers.pushes[i.message_id] == 1 for i in others)
    partition = delivery.broker.partition_for(TOPICS.outbox, held.key)
    behind = [i for i in others if delivery.broker.partition_for(TOPICS.outbox, i.key) == partition]
    assert behind, "some deliveries after it share its partition"
    assert all(delivery.steps(i) == [Step.DELIVERED, Step.DELIVERED] for i in behind)  # the second: a duplicate


async def test_an_outbox_record_that_cannot_be_read_is_dead_lettered_and_the_records_after_it_go_on(
    delivery: Delivery,
) -> None:
    first = delivery.outbox("kommune-a", "p1", 0)
    delivery.broker.append(
        TOPICS.outbox, b"unreadable", key=first.key, headers=[("hub-receiver", b"\xff"), ("hub-message-id", b"m")]
    )
    after = [delivery.outbox("kommune-a", "p1", n) for n in (1, 2)]
    await delivery.drained()
    ((value, headers),) = delivery.dead_letter_topic()
    assert value == b"unreadable"
    assert headers["hub-reason"] == b"the hub could not deliver this message: UnicodeDecodeError"
    assert delivery.receivers.message_ids("kommune-a") == [i.message_id for i in (first, *after)]
    assert delivery.worker.progress.poisoned == 1


async def test_a_delivery_whose_step_fails_every_time_is_a_dead_letter_after_a_bounded_number_of_tries(
    delivery: Delivery,
) -> None:
    broken = "msg-kommune-a-p1-0"
    delivery.receivers.script = lambda item, n: KeyError("a bug") if item.message_id == broken else None
    items = [delivery.outbox("kommune-a", "p1", n) for n in range(3)]
    await delivery.drained()
    assert delivery.receivers.pushes[broken] == delivery.worker.poison_attempts
    (dead,) = await delivery.dead_letters.find(DeadLetterQuery())
    assert (dead["message_id"], dead["reason"]) == (broken, "the hub could not deliver this message: KeyError")
    assert [h["hub-reason"] for _, h in delivery.dead_letter_topic()] == [dead["reason"].encode()]
    assert delivery.steps(items[0]) == [Step.DELIVERY_FAILED]
    # the same patient's next messages waited for it, then went
    assert delivery.receivers.message_ids("kommune-a") == [i.message_id for i in items[1:]]
    assert delivery.worker.progress.poisoned == 1


async def test_a_dead_letter_a_delivery_step_raises_is_given_up_at_once_with_its_reason(delivery: Delivery) -> None:
    reason = "the receiver's endpoint is not a valid URL"
    delivery.receivers.script = lambda item, n: DeadLetter(reason) if item.receiver_id == "kommune-b" else None
    refused = delivery.outbox("kommune-b", "p1", 0)
    fine = delivery.outbox("kommune-a", "p1", 0)
    await delivery.drained()
    assert delivery.receivers.pushes[refused.message_id] == 1  # not tried again
    (dead,) = await delivery.dead_letters.find(DeadLetterQuery())
    assert (dead["message_id"], dead["reason"]) == (refused.message_id, reason)
    assert delivery.steps(refused) == [Step.DELIVERY_FAILED]
    assert delivery.receivers.message_ids("kommune-a") == [fine.message_id]


async def test_retry_later_from_a_delivery_step_is_retried_until_it_goes_through(delivery: Delivery) -> None:
    delivery.receivers.script = lambda item, n: RetryLater("the mailbox is being moved") if n <= 5 else None
    item = delivery.outbox("kommune-a", "p1", 0)
    await delivery.drained()
    assert delivery.receivers.pushes[item.message_id] == 6
    assert delivery.receivers.message_ids("kommune-a") == [item.message_id]
    assert await delivery.dead_letters.find(DeadLetterQuery()) == []
    assert delivery.worker.progress.poisoned == 0


async def test_a_receiver_that_is_down_has_its_deliveries_parked_and_then_delivered_in_order(
    delivery: Delivery,
) -> None:
    down = {"kommune-a"}
    refused = AttemptResult(AttemptOutcome.RETRY, error="503")
    delivery.receivers.script = lambda item, n: refused if item.receiver_id in down else None
    items = [delivery.outbox("kommune-a", patient, n) for n in range(3) for patient in ("p1", "p2")]
    other = delivery.outbox("kommune-b", "p1", 0)
    await until(lambda: delivery.lag() == 0)  # parked: the offsets move on, no other receiver waits
    assert delivery.worker.circuits()["kommune-a"]["circuit"] == "open"
    assert delivery.receivers.message_ids("kommune-b") == [other.message_id]
    down.clear()
    await until(lambda: delivery.worker.circuits()["kommune-a"]["circuit"] == "closed")
    assert delivery.receivers.message_ids("kommune-a") == [i.message_id for i in items]
    assert await delivery.dead_letters.find(DeadLetterQuery()) == []


async def test_a_refusal_for_good_is_a_dead_letter_with_the_receivers_reason(delivery: Delivery) -> None:
    delivery.receivers.script = lambda item, n: AttemptResult(AttemptOutcome.GIVE_UP, error="400: not ours")
    item = delivery.outbox("kommune-c", "p1", 0)
    await delivery.drained()
    (dead,) = await delivery.dead_letters.find(DeadLetterQuery())
    assert (dead["message_id"], dead["reason"]) == (item.message_id, "400: not ours")
    assert delivery.receivers.pushes[item.message_id] == 1


class WatchedDeadLetters(DeadLetterStore):
    """The real store, noting for each dead letter how many failed-for-good attempts its receiver had counted
    when the dead letter was written."""

    counted_at_write: list[float]

    async def add(self, item: OutboxRecord, **kwargs: Any) -> int:
        self.counted_at_write.append(attempts_given_up(item.receiver_id))
        return await super().add(item, **kwargs)


def attempts_given_up(receiver: str) -> float:
    sample = metrics.REGISTRY.get_sample_value(
        "hub_delivery_attempts_total", {"receiver": receiver, "outcome": metrics.DEAD_LETTER}
    )
    return sample or 0.0


@pytest.mark.parametrize("outcome", [AttemptOutcome.GIVE_UP, AttemptOutcome.RETRY])
async def test_the_attempt_behind_a_dead_letter_is_counted_before_the_dead_letter_is_written(
    delivery: Delivery, outcome: AttemptOutcome
) -> None:
    # a scrape between the two must not see a dead letter without the attempt that made it
    watched = WatchedDeadLetters(delivery.engine)
    watched.counted_at_write = []
    delivery.dead_letters = watched
    delivery.policy = dataclasses.replace(delivery.policy, retry_window=0.2)
    await delivery.restart()
    delivery.receivers.script = lambda item, n: AttemptResult(outcome, error="refused")
    before = attempts_given_up("kommune-b")
    delivery.outbox("kommune-b", "p1", 0)
    await until(lambda: bool(watched.counted_at_write))
    assert watched.counted_at_write == [before + 1]


async def test_a_database_outage_is_waited_out_and_nothing_is_buried(delivery: Delivery) -> None:
    delivery.ledger.failures = [OperationalError("select", {}, ConnectionRefusedError())] * 6
    items = [delivery.outbox("kommune-a", "p1", n) for n in range(3)]
    await delivery.drained()
    assert delivery.ledger.failures == []
    assert delivery.receivers.message_ids("kommune-a") == [i.message_id for i in items]
    assert await delivery.dead_letters.find(DeadLetterQuery()) == []
    assert delivery.worker.progress.poisoned == 0


async def test_a_broker_outage_after_the_push_is_waited_out_and_the_message_is_not_pushed_again(
    delivery: Delivery,
) -> None:
    delivery.broker.faults.down("send")  # the delivered event cannot be published
    items = [delivery.outbox("kommune-a", "p1", n) for n in range(2)]
    await until(lambda: delivery.broker.faults.raised["send"] >= 3)
    assert delivery.lag() == 2  # not done: its event is not out yet
    delivery.broker.faults.up()
    await delivery.drained()
    assert delivery.receivers.message_ids("kommune-a") == [i.message_id for i in items]
    assert all(delivery.receivers.pushes[i.message_id] == 1 for i in items)  # the ledger knew it was delivered
    assert all(Step.DELIVERED in delivery.steps(i) for i in items)
    assert await delivery.dead_letters.find(DeadLetterQuery()) == []


def _resend(delivery: Delivery, item: OutboxRecord) -> OutboxRecord:
    """The same delivery again, marked as the acknowledgement watch marks a redelivery (hub-resend)."""
    again = dataclasses.replace(item, resend=True)
    delivery.broker.append(TOPICS.outbox, again.raw, key=again.key, headers=again.headers())
    return again


async def test_a_redelivery_that_meets_a_receiver_down_is_parked_as_one_and_pushed_when_it_is_back(
    delivery: Delivery,
) -> None:
    item = delivery.outbox("kommune-a", "p1", 0)
    await delivery.drained()
    assert delivery.receivers.pushes[item.message_id] == 1  # delivered, and in the ledger
    down = {"kommune-a"}
    refused = AttemptResult(AttemptOutcome.RETRY, error="503")
    delivery.receivers.script = lambda pushed, n: refused if pushed.receiver_id in down else None
    _resend(delivery, item)
    await until(lambda: delivery.lag() == 0 and delivery.worker.circuits()["kommune-a"]["circuit"] == "open")
    await delivery.restart()  # parked: read back from the database by a new worker, the mark with it
    down.clear()
    await until(lambda: delivery.worker.circuits()["kommune-a"]["circuit"] == "closed")
    assert delivery.receivers.message_ids("kommune-a") == [item.message_id, item.message_id]
    assert all(got.resend for got in delivery.receivers.got["kommune-a"][1:])


async def test_a_redelivery_that_becomes_a_dead_letter_is_pushed_when_redriven(delivery: Delivery) -> None:
    item = delivery.outbox("kommune-c", "p1", 0)
    await delivery.drained()
    delivery.receivers.script = lambda pushed, n: AttemptResult(AttemptOutcome.GIVE_UP, error="400: later")
    _resend(delivery, item)
    await delivery.drained()
    (dead,) = await delivery.dead_letters.find(DeadLetterQuery())
    delivery.receivers.script = lambda pushed, n: None
    redriven = await Redrive(delivery.dead_letters, delivery.broker.publisher(), TOPICS).one(dead["id"])
    assert redriven is not None
    await until(lambda: len(delivery.receivers.got["kommune-c"]) == 2)
    assert [got.resend for got in delivery.receivers.got["kommune-c"]] == [False, True]
    assert delivery.receivers.pushes[item.message_id] == 3  # delivered, refused as a redelivery, redriven


# --- failure notices: a dead letter tells its sender, once ----------------------------------------------------


@pytest.fixture
async def with_sender(
    register: Register, tmp_path: Path, new_database_url: Callable[[Path], str]
) -> AsyncIterator[Delivery]:
    """The delivery worker with a register that knows the sender ("hospital"), whose endpoint takes notices."""
    hospital = {
        "id": "hospital",
        "name": "Hospitalet",
        "kind": "hospital",
        "sor": "265161000016000",
        "endpoint": {"kind": "mailbox"},
        "accepts": ["acknowledgement-message"],
    }
    organisations = [o.model_dump(mode="json") for o in register.organisations]
    knowing = parse_register(
        {"hub": {"name": "hub", "sor": "881531000016009"}, "organisations": [*organisations, hospital]},
        source="test",
    )
    engine = await open_database(new_database_url(tmp_path))
    running = Delivery(knowing, engine)
    await running.start()
    yield running
    with contextlib.suppress(Exception):
        await running.stop()
    await engine.dispose()


def notices(delivery: Delivery) -> list[OutboxRecord]:
    """What the outbox holds for the sender: the hub's notices."""
    records = [
        OutboxRecord.from_kafka(r.key, r.value or b"", r.headers) for r in delivery.broker.records(TOPICS.outbox)
    ]
    return [r for r in records if r.receiver_id == "hospital"]


def events(delivery: Delivery) -> list[TrackingEvent]:
    return [TrackingEvent.from_bytes(r.value or b"") for r in delivery.broker.records(TOPICS.events)]


def response_and_detail(notice: OutboxRecord) -> tuple[str, str]:
    bundle = orjson.loads(notice.raw)
    response = bundle["entry"][0]["resource"]["response"]
    (outcome,) = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "OperationOutcome"]
    return response["code"], outcome["issue"][0]["details"]["coding"][0]["code"]


async def test_a_refusal_for_good_tells_the_sender_once_after_the_dead_letter_is_stored(with_sender: Delivery) -> None:
    with_sender.receivers.script = lambda item, n: (
        AttemptResult(AttemptOutcome.GIVE_UP, error="HTTP 400", status_code=400)
        if item.receiver_id != "hospital"
        else None
    )
    item = with_sender.outbox("kommune-a", "p1", 0)
    await with_sender.drained()
    (notice,) = notices(with_sender)
    assert (notice.sender_id, notice.event) == ("hub", "acknowledgement-message")
    assert response_and_detail(notice) == ("fatal-error", "MSG_RECEIVER_UNABLE_TO_RECEIVE_MSG_TYPE")
    assert read_facts(orjson.loads(notice.raw)).response.identifier == item.message_id  # type: ignore[union-attr]
    on_original = [e.step for e in events(with_sender) if e.tracking_id == item.tracking_id]
    assert on_original == [Step.DELIVERY_FAILED, Step.SENDER_NOTIFIED]  # told after it became a dead letter
    (notified,) = [e for e in events(with_sender) if e.step is Step.SENDER_NOTIFIED]
    assert notified.detail["acknowledgement_message_id"] == notice.message_id
    assert notified.receiver == "kommune-a"
    # and the notice itself reached the sender, through the same worker
    await until(lambda: with_sender.receivers.message_ids("hospital") == [notice.message_id])


async def test_a_receiver_out_of_operation_for_the_whole_window_gets_a_transient_error_notice(
    with_sender: Delivery,
) -> None:
    with_sender.policy = dataclasses.replace(with_sender.policy, retry_window=0.3)
    await with_sender.restart()
    with_sender.receivers.script = lambda item, n: (
        AttemptResult(AttemptOutcome.RETRY, error="HTTP 503", status_code=503)
        if item.receiver_id != "hospital"
        else None
    )
    item = with_sender.outbox("kommune-b", "p1", 0)
    await until(lambda: bool(notices(with_sender)))
    await with_sender.drained()
    (notice,) = notices(with_sender)
    assert response_and_detail(notice) == ("transient-error", "MSG_Mailbox_Out_Of_Operation")
    (dead,) = await with_sender.dead_letters.find(DeadLetterQuery())
    assert dead["tracking_id"] == item.tracking_id and dead["reason"].startswith("not delivered within 0.3 s")


async def test_a_notice_that_becomes_a_dead_letter_gets_no_notice_of_its_own(with_sender: Delivery) -> None:
    with_sender.receivers.script = lambda item, n: AttemptResult(AttemptOutcome.GIVE_UP, error="HTTP 400")
    with_sender.outbox("kommune-a", "p1", 0)
    await until(lambda: len(with_sender.dead_letter_topic()) == 2)  # the message, then its notice
    await with_sender.drained()
    await asyncio.sleep(0.1)
    assert len(notices(with_sender)) == 1
    assert len(await with_sender.dead_letters.find(DeadLetterQuery())) == 2
    assert len([e for e in events(with_sender) if e.step is Step.SENDER_NOTIFIED]) == 1


async def test_burying_the_same_delivery_twice_makes_the_same_notice_which_the_sender_gets_once(
    with_sender: Delivery,
) -> None:
    """A crash between the dead letter and the commit, or a second hub process, buries a delivery again."""
    item = OutboxRecord("trk-x", "msg-x", "kommune-c", "care-communication-message", b"x", "p9", "hospital")
    for _ in range(2):
        await with_sender.worker.bury(item, reason="HTTP 400", attempts=(), kind=FailureKind.REFUSED)
    first, second = notices(with_sender)
    assert (first.message_id, first.tracking_id) == (second.message_id, second.tracking_id)
    notified = [e for e in events(with_sender) if e.step is Step.SENDER_NOTIFIED]
    assert len(notified) == 2 and notified[0].id == notified[1].id  # the projection records it once
    await with_sender.drained()
    assert with_sender.receivers.message_ids("hospital") == [first.message_id]  # the ledger let one through


async def test_a_dead_letter_whose_sender_the_register_does_not_know_tells_nobody(delivery: Delivery) -> None:
    delivery.receivers.script = lambda item, n: AttemptResult(AttemptOutcome.GIVE_UP, error="HTTP 400")
    delivery.outbox("kommune-a", "p1", 0)  # from "hospital", which this register does not hold
    await delivery.drained()
    assert len(await delivery.dead_letters.find(DeadLetterQuery())) == 1
    assert notices(delivery) == []
    assert not [e for e in events(delivery) if e.step is Step.SENDER_NOTIFIED]

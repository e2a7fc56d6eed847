"""A delivery whose handling raises unexpectedly ends as a dead letter with its reason, after a bounded number of
tries, and is done (its offset passes); an outage is waited out instead, and nothing is buried for it."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from hub.api.health import workers_check
from hub.broker.progress import WorkerProgress
from hub.broker.records import OutboxRecord
from hub.broker.topics import Topics
from hub.deliver.policy import RetryPolicy
from hub.deliver.worker import GIVE_UP, RETRY, DeliveryWorker, after_failure
from hub.domain.tracking import TrackingEvent
from hub.runtime import Runtime

TOPICS = Topics("t.")
ITEM = OutboxRecord("trk-1", "msg-1", "kommune", "care-communication-message", b"{}", "p1", "hospital")


class Ledger:
    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.asked = 0

    async def has(self, **_: Any) -> bool:
        self.asked += 1
        if self.failures:
            raise self.failures.pop(0)
        return True  # the receiver has it: reported delivered, nothing pushed


class DeadLetters:
    def __init__(self) -> None:
        self.added: list[tuple[str, str]] = []

    async def add(self, item: OutboxRecord, *, reason: str, attempts: Any) -> int:
        self.added.append((item.tracking_id, reason))
        return len(self.added)


class Publisher:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, list[Any]]] = []

    async def send_and_wait(self, topic: str, *, key: bytes, value: bytes, headers: Any = None) -> None:
        self.sent.append((topic, value, list(headers or [])))


def worker(ledger: Ledger) -> tuple[DeliveryWorker, DeadLetters, Publisher]:
    dead, publisher = DeadLetters(), Publisher()
    delivery = DeliveryWorker(
        register=None,  # type: ignore[arg-type]
        store=None,  # type: ignore[arg-type]
        ledger=ledger,  # type: ignore[arg-type]
        parking=None,  # type: ignore[arg-type]
        dead_letters=dead,  # type: ignore[arg-type]
        publisher=publisher,  # type: ignore[arg-type]
        topics=TOPICS,
        client=None,  # type: ignore[arg-type]
        policy=RetryPolicy(),
        poison_base_delay=0.001,
    )
    return delivery, dead, publisher


async def deliver(delivery: DeliveryWorker) -> None:
    done = asyncio.Event()
    delivery.submit(ITEM, done.set)
    await asyncio.wait_for(done.wait(), 10)


async def test_a_delivery_whose_handling_raises_becomes_a_dead_letter_and_is_done() -> None:
    ledger = Ledger([KeyError("x")] * 10)
    delivery, dead, publisher = worker(ledger)
    await deliver(delivery)
    assert ledger.asked == delivery.poison_attempts  # bounded
    assert dead.added == [("trk-1", "the hub could not deliver this message: KeyError")]
    assert any(topic == TOPICS.dead_letters for topic, _, _ in publisher.sent)
    events = [TrackingEvent.from_bytes(value) for topic, value, _ in publisher.sent if topic == TOPICS.events]
    assert [str(e.step) for e in events] == ["delivery-failed"]
    assert events[0].detail["error"] == "the hub could not deliver this message: KeyError"
    assert delivery.progress.poisoned == 1


async def test_an_outage_is_waited_out_and_nothing_is_buried() -> None:
    ledger = Ledger([OperationalError("select", {}, ConnectionRefusedError())] * 5)
    delivery, dead, publisher = worker(ledger)
    await deliver(delivery)
    assert ledger.asked == 6  # five failures, then through
    assert dead.added == []
    assert [TrackingEvent.from_bytes(v).step for t, v, _ in publisher.sent if t == TOPICS.events] == ["delivered"]


async def test_an_outbox_record_that_cannot_be_read_is_dead_lettered_with_its_reason() -> None:
    from aiokafka import ConsumerRecord

    delivery, _, publisher = worker(Ledger([]))
    record = ConsumerRecord("t.outbox", 0, 3, 0, 0, b"k", b"raw", None, 1, 3, [("hub-receiver", b"\xff")])
    await delivery.quarantine(record, UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"))
    ((topic, value, headers),) = publisher.sent
    assert topic == TOPICS.dead_letters and value == b"raw"
    assert ("hub-reason", b"the hub could not deliver this message: UnicodeDecodeError") in headers


@pytest.mark.parametrize(
    ("failure", "failures", "then"),
    [
        (KeyError("x"), 1, RETRY),
        (KeyError("x"), 3, GIVE_UP),
        (ConnectionResetError(), 50, RETRY),
    ],
)
def test_what_follows_a_failed_delivery_step(failure: Exception, failures: int, then: str) -> None:
    assert after_failure(failure, failures, 3) == then


def test_readiness_names_stopped_and_stalled_workers() -> None:
    assert workers_check([], []) == "ok"
    assert workers_check([], ["ingress"]) == "stalled: ingress"
    assert workers_check(["mllp"], ["ingress", "recorder"]) == "stopped: mllp; stalled: ingress, recorder"


def test_a_worker_holding_records_past_the_threshold_is_stalled() -> None:
    now = [0.0]
    ingress, recorder = (
        WorkerProgress("ingress", clock=lambda: now[0]),
        WorkerProgress("recorder", clock=lambda: now[0]),
    )
    runtime = SimpleNamespace(
        settings=SimpleNamespace(worker_stall_seconds=60.0), progress={"ingress": ingress, "recorder": recorder}
    )
    ingress.took()
    now[0] = 61.0
    assert Runtime.stalled_workers(runtime) == ["ingress"]  # type: ignore[arg-type]

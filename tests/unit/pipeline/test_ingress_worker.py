"""The ingress worker on the in-memory broker, as the hub runs it (hub.broker.clients.consume_batches): accepted
messages are routed in order and their offsets committed only once what they became is published; a crash before
the commit has them handled again; a record that fails for good is rejected and dead-lettered, and the messages
after it go on; an outage of the database or the broker is waited out, and rejects nothing."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy.exc import OperationalError

import hub.pipeline.ingress as ingress_module
import hub.pipeline.plan as plan_module
from hub.broker.memory import MemoryBroker
from hub.broker.outcomes import DeadLetter, RetryLater
from hub.broker.records import IngressRecord
from hub.broker.topics import Topics
from hub.domain.tracking import Step, TrackingEvent
from hub.pipeline.ingress import IngressWorker
from hub.route.register import Register
from hub.store.engine import open_database
from hub.track.archive import MessageArchive
from hub.validate.pool import InProcess
from hub.validate.validator import Validator
from tests.memory_workers import FAST, HOSPITAL_SOR, RunningWorker, two_organisations, until

TOPICS = Topics("t.")
PATIENT = b"2509479989"


@pytest.fixture(scope="module")
def register() -> Register:
    return two_organisations()


@pytest.fixture(scope="module")
def validation() -> InProcess:
    return InProcess(Validator(max_bytes=1024 * 1024))


@pytest.fixture(scope="module")
def template(example_paths: list[Path]) -> dict[str, Any]:
    """MedCom's hospital notification example, from the hospital to the municipality of the register above."""
    bundle: dict[str, Any] = orjson.loads(next(p for p in example_paths if "a5e5b880" in p.name).read_bytes())
    return bundle


def fresh(template: dict[str, Any]) -> tuple[str, bytes]:
    """The template as a new message (new Bundle.id and MessageHeader.id): its MessageHeader.id and bytes."""
    bundle = copy.deepcopy(template)
    bundle["id"] = str(uuid.uuid4())
    header = bundle["entry"][0]["resource"]
    old, new = header["id"], str(uuid.uuid4())
    header["id"] = new
    bundle["entry"][0]["fullUrl"] = bundle["entry"][0]["fullUrl"].replace(old, new)
    for entry in bundle["entry"]:
        for target in entry["resource"].get("target", []):
            target["reference"] = target["reference"].replace(old, new)
    return new, orjson.dumps(bundle)


class Ledger:
    """The delivery ledger as the ingress worker uses it, with its failures on demand: `failures` are raised by
    the next lookups; `fail_for(message_id)` gives what to raise when the lookup asks about that message; a
    closed `gate` holds every lookup."""

    def __init__(self) -> None:
        self.failures: list[Exception] = []
        self.fail_for: Callable[[str], Exception | None] = lambda _: None
        self.gate = asyncio.Event()
        self.gate.set()
        self.entered = asyncio.Event()
        self.asked: list[str] = []

    async def keep_acknowledgements(self, kept: Sequence[Any]) -> None:
        return None

    async def acknowledgements_for(self, asked: Sequence[tuple[str, str]]) -> dict[Any, Any]:
        self.entered.set()
        await self.gate.wait()
        self.asked.extend(message_id for _, message_id in asked)
        if self.failures:
            raise self.failures.pop(0)
        for _, message_id in asked:
            failure = self.fail_for(message_id)
            if failure is not None:
                raise failure
        return {}


class Ingress(RunningWorker):
    """The ingress worker on a MemoryBroker, run, stopped, crashed and started again like the hub's."""

    def __init__(self, register: Register, validation: InProcess, archive: MessageArchive | None = None) -> None:
        broker = MemoryBroker(partitions=4)
        for topic in TOPICS.all():
            broker.create_topic(topic)
        self.ledger = Ledger()
        self.worker = IngressWorker(
            validation=validation,
            register=register,
            ledger=self.ledger,  # type: ignore[arg-type]
            publisher=broker.publisher(),
            topics=TOPICS,
            archive=archive,
        )
        super().__init__(
            broker,
            topic=TOPICS.ingress,
            group="hub-ingress",
            name="ingress",
            handle=self.worker.handle,
            quarantine=self.worker.quarantine,
        )

    def accept(
        self,
        raw: bytes,
        *,
        headers: list[tuple[str, bytes]] | None = None,
        connector: str = "http",
        tracking_id: str | None = None,
    ) -> IngressRecord:
        """What a connector (or, with connector "kafka", a Kafka-native producer) publishes for a message."""
        received_at = datetime.now(UTC).isoformat()
        incoming = IngressRecord(tracking_id or str(uuid.uuid4()), HOSPITAL_SOR, received_at, connector, raw, PATIENT)
        self.broker.append(TOPICS.ingress, raw, key=incoming.key, headers=headers or incoming.headers())
        return incoming

    def deliveries(self, receiver: str = "municipality") -> list[str]:
        """The message ids on the outbox for `receiver`, partition by partition in offset order."""
        return [
            dict(r.headers)["hub-message-id"].decode()
            for r in self.broker.records(TOPICS.outbox)
            if dict(r.headers)["hub-receiver"] == receiver.encode()
        ]

    def steps(self, tracking_id: str) -> list[Step]:
        return [e.step for e in self.events() if e.tracking_id == tracking_id]

    def events(self) -> list[TrackingEvent]:
        return [TrackingEvent.from_bytes(r.value or b"") for r in self.broker.records(TOPICS.events)]

    def dead_letters(self) -> list[dict[str, bytes]]:
        return [dict(r.headers) for r in self.broker.records(TOPICS.dead_letters)]


@pytest.fixture
async def ingress(register: Register, validation: InProcess) -> Any:
    running = Ingress(register, validation)
    running.start()
    yield running
    with contextlib.suppress(Exception):
        await running.stop()


def rejection(ingress: Ingress, tracking_id: str) -> dict[str, Any]:
    (rejected,) = [e for e in ingress.events() if e.tracking_id == tracking_id and e.step is Step.REJECTED]
    (issue,) = rejected.detail["outcome"]["issue"]
    return dict(issue)


async def test_accepted_messages_are_routed_in_order_and_committed_once_published(
    ingress: Ingress, template: dict[str, Any]
) -> None:
    sent = [fresh(template) for _ in range(12)]
    accepted = [ingress.accept(raw) for _, raw in sent]
    await ingress.drained()
    assert ingress.deliveries() == [message_id for message_id, _ in sent]  # one partition, in the order accepted
    assert len({r.partition for r in ingress.broker.records(TOPICS.outbox)}) == 1
    for incoming in accepted:
        assert ingress.steps(incoming.tracking_id) == [Step.RECEIVED, Step.ROUTED]
    assert ingress.dead_letters() == []
    assert ingress.progress.busy_since is None and ingress.progress.poisoned == 0


async def test_the_offset_is_committed_only_after_what_the_messages_became_is_published(
    ingress: Ingress, template: dict[str, Any]
) -> None:
    ingress.ledger.gate.clear()
    for _ in range(3):
        ingress.accept(fresh(template)[1])
    await asyncio.wait_for(ingress.ledger.entered.wait(), 5)
    await asyncio.sleep(0.05)
    assert ingress.lag() == 3 and ingress.deliveries() == []
    ingress.ledger.gate.set()
    await ingress.drained()
    assert len(ingress.deliveries()) == 3


async def test_a_crash_before_the_commit_has_the_messages_handled_after_the_restart(
    ingress: Ingress, template: dict[str, Any]
) -> None:
    ingress.ledger.gate.clear()
    sent = [fresh(template) for _ in range(3)]
    for _, raw in sent:
        ingress.accept(raw)
    await asyncio.wait_for(ingress.ledger.entered.wait(), 5)
    await ingress.crash()
    assert ingress.lag() == 3
    ingress.ledger.gate.set()
    ingress.start()
    await ingress.drained()
    assert ingress.deliveries() == [message_id for message_id, _ in sent]


async def test_a_restart_after_publishing_but_before_the_commit_publishes_again(
    ingress: Ingress, template: dict[str, Any]
) -> None:
    ingress.broker.faults.fail("commit", times=1_000_000)
    sent = [fresh(template) for _ in range(2)]
    for _, raw in sent:
        ingress.accept(raw)
    await until(lambda: len(ingress.deliveries()) == 2)
    await ingress.crash()
    assert ingress.lag() == 2
    ingress.broker.faults.clear()
    ingress.start()
    await ingress.drained()
    # at least once: published again (the delivery ledger keeps the receiver from getting it twice)
    assert ingress.deliveries() == [message_id for message_id, _ in sent] * 2


async def test_a_record_that_cannot_be_read_is_rejected_and_dead_lettered_and_the_messages_after_it_go_on(
    ingress: Ingress, template: dict[str, Any]
) -> None:
    ingress.ledger.gate.clear()  # all in one batch
    before = ingress.accept(fresh(template)[1])
    poison_id, poison_raw = fresh(template)
    poison = IngressRecord(str(uuid.uuid4()), HOSPITAL_SOR, datetime.now(UTC).isoformat(), "kafka", poison_raw, PATIENT)
    ingress.accept(poison_raw, headers=[(k, b"\xff\xfe" if k == "hub-connector" else v) for k, v in poison.headers()])
    after = [ingress.accept(fresh(template)[1]) for _ in range(3)]
    ingress.ledger.gate.set()
    await ingress.drained()

    (dead,) = ingress.dead_letters()
    assert dead["hub-reason"] == b"the hub could not process this message: UnicodeDecodeError"
    assert ingress.steps(poison.tracking_id) == [Step.RECEIVED, Step.REJECTED]
    issue = rejection(ingress, poison.tracking_id)
    assert issue["code"] == "exception" and "UnicodeDecodeError" in issue["diagnostics"]
    # its sender is answered with a fatal error, as for any rejected message
    (answer,) = [r for r in ingress.broker.records(TOPICS.outbox) if dict(r.headers)["hub-receiver"] == b"hospital"]
    header = orjson.loads(answer.value or b"")["entry"][0]["resource"]
    assert header["response"]["code"] == "fatal-error" and header["response"]["identifier"] == poison_id
    for incoming in [before, *after]:
        assert ingress.steps(incoming.tracking_id) == [Step.RECEIVED, Step.ROUTED]
    assert len(ingress.deliveries()) == 4
    assert ingress.progress.poisoned == 1


async def test_a_message_the_hub_fails_on_every_time_is_rejected_after_a_bounded_number_of_tries(
    ingress: Ingress, template: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    broken_id, broken_raw = fresh(template)
    real_plan = plan_module.plan  # the function ingress_module imported, and the test replaces there
    tries = {"count": 0}

    def plan(incoming: IngressRecord, verdict: Any, *args: Any, **kwargs: Any) -> Any:
        if verdict.valid and verdict.facts.message_id == broken_id:
            tries["count"] += 1
            raise RuntimeError("a bug the message brings out")
        return real_plan(incoming, verdict, *args, **kwargs)

    monkeypatch.setattr(ingress_module, "plan", plan)
    ingress.ledger.gate.clear()
    broken = ingress.accept(broken_raw)
    others = [ingress.accept(fresh(template)[1]) for _ in range(3)]
    ingress.ledger.gate.set()
    await ingress.drained()
    assert tries["count"] <= FAST.attempts * 2  # the batch's tries, and its own alone: not for ever
    assert ingress.steps(broken.tracking_id) == [Step.RECEIVED, Step.REJECTED]
    assert (
        "the hub could not process this message: RuntimeError" in rejection(ingress, broken.tracking_id)["diagnostics"]
    )
    assert [d["hub-reason"] for d in ingress.dead_letters()] == [
        b"the hub could not process this message: RuntimeError"
    ]
    for incoming in others:
        assert ingress.steps(incoming.tracking_id) == [Step.RECEIVED, Step.ROUTED]


async def test_a_dead_letter_the_handler_raises_rejects_the_message_at_once_with_its_reason(
    ingress: Ingress, template: dict[str, Any]
) -> None:
    refused_id, refused_raw = fresh(template)
    reason = "the hub does not take messages of this sender"
    ingress.ledger.fail_for = lambda message_id: DeadLetter(reason) if message_id == refused_id else None
    ingress.ledger.gate.clear()
    first = ingress.accept(fresh(template)[1])
    refused = ingress.accept(refused_raw)
    last = ingress.accept(fresh(template)[1])
    ingress.ledger.gate.set()
    await ingress.drained()
    assert ingress.ledger.asked.count(refused_id) == 2  # once in its batch, once alone: no further tries
    assert ingress.steps(refused.tracking_id) == [Step.RECEIVED, Step.REJECTED]
    assert reason in rejection(ingress, refused.tracking_id)["diagnostics"]
    assert [d["hub-reason"] for d in ingress.dead_letters()] == [reason.encode()]
    assert ingress.steps(first.tracking_id) == ingress.steps(last.tracking_id) == [Step.RECEIVED, Step.ROUTED]


async def test_a_database_outage_is_waited_out_rejects_nothing_and_keeps_the_order(
    ingress: Ingress, template: dict[str, Any]
) -> None:
    ingress.ledger.failures = [OperationalError("select", {}, ConnectionRefusedError())] * 15
    sent = [fresh(template) for _ in range(6)]
    for _, raw in sent:
        ingress.accept(raw)
    await ingress.drained()
    assert ingress.ledger.failures == []
    assert ingress.deliveries() == [message_id for message_id, _ in sent]
    assert ingress.dead_letters() == [] and ingress.progress.poisoned == 0
    assert Step.REJECTED not in {e.step for e in ingress.events()}


async def test_a_broker_outage_while_publishing_is_waited_out_and_rejects_nothing(
    ingress: Ingress, template: dict[str, Any]
) -> None:
    ingress.broker.faults.down("send")
    sent = [fresh(template) for _ in range(4)]
    for _, raw in sent:
        ingress.accept(raw)
    await until(lambda: ingress.broker.faults.raised["send"] >= 40)  # tried, and read again after pauses
    assert ingress.lag() == 4 and ingress.deliveries() == []
    ingress.broker.faults.up()
    await ingress.drained()
    assert ingress.deliveries() == [message_id for message_id, _ in sent]
    assert ingress.dead_letters() == [] and ingress.progress.poisoned == 0


async def test_a_handler_that_says_retry_later_is_retried_until_it_goes_through_in_order(
    ingress: Ingress, template: dict[str, Any]
) -> None:
    sent = [fresh(template) for _ in range(5)]
    waiting_id = sent[2][0]
    refusals = {"left": 8}

    def fail_for(message_id: str) -> Exception | None:
        if message_id == waiting_id and refusals["left"] > 0:
            refusals["left"] -= 1
            return RetryLater("the subscriptions are being reloaded")
        return None

    ingress.ledger.fail_for = fail_for
    for _, raw in sent:
        ingress.accept(raw)
    await ingress.drained()
    assert refusals["left"] == 0
    assert ingress.deliveries() == [message_id for message_id, _ in sent]  # nothing after it went first
    assert ingress.dead_letters() == [] and ingress.progress.poisoned == 0


async def test_kafka_native_records_are_archived_before_they_are_handled_and_the_connectors_are_not_again(
    register: Register,
    validation: InProcess,
    template: dict[str, Any],
    tmp_path: Path,
    new_database_url: Callable[[Path], str],
) -> None:
    engine = await open_database(new_database_url(tmp_path))
    archive = MessageArchive(engine)
    running = Ingress(register, validation, archive)
    running.start()
    try:
        native = running.accept(fresh(template)[1], connector="kafka")
        over_long = running.accept(fresh(template)[1], connector="kafka", tracking_id="t" * 200)
        through_http = running.accept(fresh(template)[1])
        await until(lambda: running.lag() == 0)
        kept = await archive.get(native.tracking_id)
        assert kept is not None and (kept.raw, kept.connector, kept.key) == (native.raw, "kafka", native.key)
        assert await archive.get("t" * 64) is not None  # fitted to the column, as the tracking store fits it
        assert running.steps(over_long.tracking_id)  # and handled like any other
        assert await archive.get(through_http.tracking_id) is None  # its connector kept it (connectors.intake)
        assert [kept.tracking_id async for kept in archive.unfinished()] != []  # replay would publish them again
    finally:
        await running.stop()
        await engine.dispose()

"""One record whose handling raises does not stop a batch worker: it is tried a bounded number of times, set
aside through the worker's quarantine, and the records after it go on; an outage sets nothing aside."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError
from sqlalchemy.exc import DataError, OperationalError

from hub.broker.clients import consume_batches, consume_concurrently, resume_positions
from hub.broker.isolation import Isolation, Record
from hub.broker.memory import MemoryBroker, MemoryConsumer, MemoryRecord
from hub.broker.outcomes import DeadLetter, Rejected, RetryLater
from hub.broker.poison import is_final, is_outage, is_poison, worth_another_try
from hub.broker.port import Partition
from hub.broker.progress import WorkerProgress

FAST = Isolation(
    attempts=3,
    base_delay=0.001,
    max_delay=0.002,
    outage_base_delay=0.001,
    outage_max_delay=0.005,
    fetch_retry_delay=0.001,
)


class Log:
    """A topic "t" of a MemoryBroker holding `values` per partition, and one consumer of group "g" reading it."""

    def __init__(self, values: dict[int, list[bytes]], *, max_records: int = 100) -> None:
        self.broker = MemoryBroker()
        self.broker.create_topic("t", partitions=max(values) + 1)
        for partition, given in values.items():
            for value in given:
                self.broker.append("t", value, partition=partition)
        self.consumer: MemoryConsumer = self.broker.consumer("t", group_id="g", max_records=max_records)

    def committed(self, partition: int = 0) -> int:
        return self.broker.committed("g", "t", partition)

    def all_committed(self) -> bool:
        return self.broker.lag("g", "t") == 0


class Handler:
    """Records what it handled; `fails(record)` gives the exception to raise for it, or None."""

    def __init__(self, fails: Callable[[Record], Exception | None]) -> None:
        self.fails = fails
        self.handled: Counter[bytes] = Counter()
        self.calls: Counter[bytes] = Counter()

    async def __call__(self, records: list[Record]) -> None:
        for r in records:
            self.calls[r.value or b""] += 1
        for r in records:
            failure = self.fails(r)
            if failure is not None:
                raise failure
        for r in records:
            self.handled[r.value or b""] += 1


class Quarantine:
    def __init__(self, fail_first: int = 0) -> None:
        self.set_aside: list[tuple[bytes, str]] = []
        self.fail_first = fail_first

    async def __call__(self, r: Record, exc: BaseException) -> None:
        if self.fail_first:
            self.fail_first -= 1
            raise OperationalError("insert", {}, ConnectionError("database away"))
        self.set_aside.append((r.value or b"", type(exc).__name__))


async def run_until(
    log: Log,
    handler: Handler,
    done: Callable[[], bool],
    *,
    quarantine: Any = None,
    timeout: float = 10.0,
    progress: WorkerProgress | None = None,
) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(
        consume_batches(
            log.consumer,
            handler,
            name="test",
            stop=stop,
            batch_timeout_ms=10,
            quarantine=quarantine,
            isolation=FAST,
            progress=progress,
        )
    )
    try:
        await until(done, timeout)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


async def until(done: Callable[[], bool], timeout: float) -> None:
    for _ in range(int(timeout / 0.005)):
        if done():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"not done within {timeout} s")


def values(n: int, bad: dict[int, bytes] | None = None, *, partition: int = 0) -> list[bytes]:
    return [(bad or {}).get(i, f"good-{partition}-{i}".encode()) for i in range(n)]


async def test_good_batches_are_handled_once_and_committed() -> None:
    log = Log({0: values(5), 1: values(3, partition=1)})
    handler = Handler(lambda r: None)
    await run_until(log, handler, log.all_committed)
    assert sum(handler.handled.values()) == 8
    assert set(handler.handled.values()) == {1}


async def test_a_poison_record_is_set_aside_and_the_others_go_on() -> None:
    log = Log({0: values(6, {2: b"poison"}), 1: values(4, partition=1)})
    handler = Handler(lambda r: IndexError("string index out of range") if r.value == b"poison" else None)
    quarantine = Quarantine()
    progress = WorkerProgress("test")
    await run_until(log, handler, log.all_committed, quarantine=quarantine, progress=progress)
    assert quarantine.set_aside == [(b"poison", "IndexError")]
    assert handler.handled[b"poison"] == 0
    good = [v for v in values(6) if v != b"good-0-2"] + values(4, partition=1)
    assert all(handler.handled[v] >= 1 for v in good)  # every good record went on
    # bounded: the batch's tries plus the record's tries alone, not for ever
    assert handler.calls[b"poison"] <= FAST.attempts * 2
    assert progress.poisoned == 1
    assert progress.busy_since is None  # committed: no work held


async def test_a_poison_record_in_a_batch_of_its_own_is_set_aside() -> None:
    log = Log({0: [b"poison"]})
    handler = Handler(lambda r: ValueError("bad") if r.value == b"poison" else None)
    quarantine = Quarantine()
    await run_until(log, handler, log.all_committed, quarantine=quarantine)
    assert quarantine.set_aside == [(b"poison", "ValueError")]


async def test_later_batches_are_not_held_up_by_a_poison_record() -> None:
    log = Log({0: values(20, {0: b"poison", 7: b"poison-2"})}, max_records=5)
    handler = Handler(lambda r: KeyError("x") if r.value and r.value.startswith(b"poison") else None)
    quarantine = Quarantine()
    await run_until(log, handler, log.all_committed, quarantine=quarantine)
    assert [v for v, _ in quarantine.set_aside] == [b"poison", b"poison-2"]
    assert len(handler.handled) == 18


async def test_an_outage_sets_nothing_aside_and_everything_goes_through_once_it_ends() -> None:
    log = Log({0: values(4), 1: values(3, partition=1)})
    outage = {"calls": 0}

    def fails(r: Record) -> Exception | None:
        outage["calls"] += 1
        return OperationalError("select", {}, ConnectionRefusedError()) if outage["calls"] <= 60 else None

    handler = Handler(fails)
    quarantine = Quarantine()
    await run_until(log, handler, log.all_committed, quarantine=quarantine)
    assert quarantine.set_aside == []
    assert all(handler.handled[v] >= 1 for v in values(4) + values(3, partition=1))


async def test_a_broker_outage_sets_nothing_aside() -> None:
    log = Log({0: values(5)})
    handler = Handler(lambda r: KafkaConnectionError())
    quarantine = Quarantine()
    stop_after = asyncio.get_running_loop().time() + 0.5
    await run_until(log, handler, lambda: asyncio.get_running_loop().time() > stop_after, quarantine=quarantine)
    assert quarantine.set_aside == []
    assert log.committed() == 0  # nothing passed
    assert log.consumer.fetches > 1  # read again, with the pause between


async def test_an_outage_that_starts_while_records_are_handled_alone_sets_nothing_aside() -> None:
    # the batch fails (one poison record), then the database goes away while its records are handled alone
    log = Log({0: values(8, {0: b"poison"})})
    state = {"good_handled": 0}

    def fails(r: Record) -> Exception | None:
        if r.value == b"poison":
            return ValueError("poison")
        if state["good_handled"] >= 3:
            return OperationalError("insert", {}, ConnectionResetError())
        return None

    handler = Handler(fails)
    original = handler.__call__

    async def counting(records: list[Record]) -> None:
        await original(records)
        if len(records) == 1:
            state["good_handled"] += 1

    quarantine = Quarantine()
    stop_after = asyncio.get_running_loop().time() + 0.5
    await run_until(log, counting, lambda: asyncio.get_running_loop().time() > stop_after, quarantine=quarantine)  # type: ignore[arg-type]
    assert quarantine.set_aside == [(b"poison", "ValueError")]  # the poison record, and none of the others
    assert log.committed() == 4  # the finished prefix: poison and three good ones


async def test_an_outage_like_failure_of_one_record_alone_is_poison_when_the_others_go_through() -> None:
    log = Log({0: values(5, {1: b"too-large"})})
    handler = Handler(lambda r: KafkaConnectionError() if r.value == b"too-large" else None)
    quarantine = Quarantine()
    await run_until(log, handler, log.all_committed, quarantine=quarantine)
    assert quarantine.set_aside == [(b"too-large", "KafkaConnectionError")]
    assert len(handler.handled) == 4


async def test_a_quarantine_that_fails_leaves_the_record_to_be_read_again() -> None:
    log = Log({0: values(3, {1: b"poison"})})
    handler = Handler(lambda r: ValueError("bad") if r.value == b"poison" else None)
    quarantine = Quarantine(fail_first=2)
    await run_until(log, handler, log.all_committed, quarantine=quarantine)
    assert quarantine.set_aside == [(b"poison", "ValueError")]  # in the end, not lost
    assert handler.handled[b"good-0-2"] >= 1


async def test_without_a_quarantine_a_poison_record_is_not_passed() -> None:
    log = Log({0: values(3, {1: b"poison"})})
    handler = Handler(lambda r: ValueError("bad") if r.value == b"poison" else None)
    stop_after = asyncio.get_running_loop().time() + 0.3
    await run_until(log, handler, lambda: asyncio.get_running_loop().time() > stop_after)
    assert log.committed() == 1  # up to the poison record, not past it


async def test_a_record_the_concurrent_worker_cannot_take_is_set_aside_and_later_offsets_commit() -> None:
    log = Log({0: values(5, {2: b"unreadable"})})
    quarantine = Quarantine()
    progress = WorkerProgress("delivery")

    def submit(r: Record, done: Callable[[], None]) -> None:
        if r.value == b"unreadable":
            raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")
        asyncio.get_running_loop().call_soon(done)

    stop = asyncio.Event()
    task = asyncio.create_task(
        consume_concurrently(log.consumer, submit, name="delivery", stop=stop, quarantine=quarantine, progress=progress)
    )
    await until(log.all_committed, 5)
    stop.set()
    await asyncio.wait_for(task, 15)
    assert quarantine.set_aside == [(b"unreadable", "UnicodeDecodeError")]
    assert progress.poisoned == 1


def test_where_to_read_again_is_the_first_unfinished_record_of_each_partition() -> None:
    p0, p1 = Partition("t", 0), Partition("t", 1)
    batches: dict[Partition, list[MemoryRecord]] = {
        p0: [MemoryRecord("t", 0, o, None, b"") for o in (10, 11, 12)],
        p1: [MemoryRecord("t", 1, o, None, b"") for o in (3, 4)],
    }
    assert resume_positions(batches, [batches[p0][1], batches[p0][2]]) == {p0: 11, p1: 5}
    assert resume_positions(batches, []) == {p0: 13, p1: 5}


@pytest.mark.parametrize(
    ("failure", "outage"),
    [
        (KafkaConnectionError(), True),
        (ConnectionResetError(), True),
        (TimeoutError(), True),
        (OperationalError("select 1", {}, Exception("server closed the connection")), True),
        (RuntimeError("wrapped"), False),
        (IndexError("string index out of range"), False),
        (DataError("insert", {}, Exception("value too long for type character varying(64)")), False),
        (MessageSizeTooLargeError(), False),
    ],
)
def test_which_failures_look_like_an_outage(failure: Exception, outage: bool) -> None:
    assert is_outage(failure) is outage
    assert is_poison(failure, others_went_through=False) is not outage
    assert is_poison(failure, others_went_through=True)


def test_an_outage_raised_from_within_another_exception_is_an_outage() -> None:
    try:
        try:
            raise ConnectionRefusedError()
        except ConnectionRefusedError as exc:
            raise RuntimeError("could not publish") from exc
    except RuntimeError as wrapped:
        assert is_outage(wrapped)


def test_a_worker_is_stalled_when_it_holds_work_without_progress_for_longer_than_the_threshold() -> None:
    now = [100.0]
    progress = WorkerProgress("ingress", clock=lambda: now[0])
    now[0] = 500.0
    assert not progress.stalled(60)  # idle for long is not stalled
    progress.took()
    now[0] = 550.0
    assert not progress.stalled(60)
    now[0] = 561.0
    assert progress.stalled(60)
    progress.advanced()  # one record went through: not stalled
    assert not progress.stalled(60)
    now[0] = 700.0
    assert progress.stalled(60)
    progress.idle()
    assert not progress.stalled(60) and progress.stalled_for() == 0.0


# --- outcomes a handler raises (hub.broker.outcomes) ---------------------------------------------------------


async def test_a_dead_letter_is_set_aside_after_its_first_failure_and_the_others_go_on() -> None:
    log = Log({0: values(5, {2: b"dead"}), 1: values(3, partition=1)})
    handler = Handler(lambda r: DeadLetter("refused for good") if r.value == b"dead" else None)
    quarantine = Quarantine()
    progress = WorkerProgress("test")
    await run_until(log, handler, log.all_committed, quarantine=quarantine, progress=progress)
    assert quarantine.set_aside == [(b"dead", "DeadLetter")]
    assert handler.calls[b"dead"] == 2  # once in its batch (not tried again as a whole), once alone
    assert all(handler.handled[v] >= 1 for v in values(5) + values(3, partition=1) if v != b"good-0-2")
    assert progress.poisoned == 1


async def test_a_dead_letter_in_a_batch_of_its_own_is_handled_once() -> None:
    log = Log({0: [b"dead"]})
    handler = Handler(lambda r: Rejected("no", outcome=("an issue",)))
    quarantine = Quarantine()
    await run_until(log, handler, log.all_committed, quarantine=quarantine)
    assert quarantine.set_aside == [(b"dead", "Rejected")]
    assert handler.calls[b"dead"] == 1


async def test_a_record_whose_handler_says_retry_later_is_never_set_aside_and_goes_through_in_the_end() -> None:
    log = Log({0: values(5, {1: b"later"})})
    refusals = {"left": 12}

    def fails(r: Record) -> Exception | None:
        if r.value == b"later" and refusals["left"] > 0:
            refusals["left"] -= 1
            return RetryLater("the register is being reloaded")
        return None

    handler = Handler(fails)
    quarantine = Quarantine()
    await run_until(log, handler, log.all_committed, quarantine=quarantine)
    assert quarantine.set_aside == []
    assert handler.handled[b"later"] == 1
    assert all(handler.handled[v] >= 1 for v in values(5) if v != b"good-0-1")
    assert refusals["left"] == 0


async def test_a_record_that_keeps_saying_retry_later_holds_its_partition_and_nothing_is_set_aside() -> None:
    log = Log({0: values(4, {1: b"later"}), 1: values(2, partition=1)})
    handler = Handler(lambda r: RetryLater("not yet") if r.value == b"later" else None)
    quarantine = Quarantine()
    stop_after = asyncio.get_running_loop().time() + 0.5
    await run_until(log, handler, lambda: asyncio.get_running_loop().time() > stop_after, quarantine=quarantine)
    assert quarantine.set_aside == []
    assert log.committed(0) == 1  # up to it, not past it
    assert log.committed(1) == 2  # the other partition goes on
    assert handler.calls[b"later"] > FAST.attempts * 2  # read again and again


async def test_a_record_the_concurrent_worker_refuses_for_now_stays_unfinished_and_a_dead_letter_is_set_aside() -> None:
    log = Log({0: values(4, {1: b"later", 2: b"dead"})})
    quarantine = Quarantine()

    def submit(r: Record, done: Callable[[], None]) -> None:
        if r.value == b"later":
            raise RetryLater("not yet")
        if r.value == b"dead":
            raise DeadLetter("cannot be read")
        asyncio.get_running_loop().call_soon(done)

    stop = asyncio.Event()
    task = asyncio.create_task(
        consume_concurrently(
            log.consumer, submit, name="delivery", stop=stop, quarantine=quarantine, grace_seconds=0.05
        )
    )
    await until(lambda: quarantine.set_aside != [] and log.consumer.commits > 0, 5)
    stop.set()
    await asyncio.wait_for(task, 15)
    assert quarantine.set_aside == [(b"dead", "DeadLetter")]
    assert log.committed() == 1  # the record refused for now is not passed


@pytest.mark.parametrize(
    ("failure", "outage", "poison_alone", "poison_after_others", "final"),
    [
        (RetryLater("away"), True, False, False, False),
        (DeadLetter("never"), False, True, True, True),
        (Rejected("never", outcome=()), False, True, True, True),
        (ValueError("a bug"), False, True, True, False),
        (ConnectionResetError(), True, False, True, False),
    ],
)
def test_what_an_outcome_means(
    failure: Exception, outage: bool, poison_alone: bool, poison_after_others: bool, final: bool
) -> None:
    assert is_outage(failure) is outage
    assert is_poison(failure, others_went_through=False) is poison_alone
    assert is_poison(failure, others_went_through=True) is poison_after_others
    assert is_final(failure) is final


def test_an_outcome_decides_whatever_it_was_raised_from() -> None:
    def raised(outer: Exception, inner: Exception) -> Exception:
        try:
            try:
                raise inner
            except Exception as exc:
                raise outer from exc
        except Exception as caught:
            return caught

    assert not is_outage(raised(DeadLetter("a value refused"), ConnectionResetError()))
    assert is_outage(raised(RetryLater("away"), ValueError("x")))
    assert is_final(raised(RuntimeError("wrapped"), DeadLetter("never")))


@pytest.mark.parametrize(
    ("failure", "tries", "again"),
    [
        (ValueError("a bug"), 1, True),
        (ValueError("a bug"), 3, False),
        (DeadLetter("never"), 1, False),
        (RetryLater("away"), 100, True),
        (OperationalError("select", {}, ConnectionRefusedError()), 100, True),
    ],
)
def test_whether_a_failure_is_worth_another_try(failure: Exception, tries: int, again: bool) -> None:
    assert worth_another_try(failure, tries=tries, attempts=3) is again


async def test_no_record_after_one_that_says_retry_later_is_handled_before_it() -> None:
    log = Log({0: values(5, {1: b"later"})})
    refusals = {"left": 7}
    order: list[bytes] = []

    async def handle(records: list[Record]) -> None:
        if any(r.value == b"later" for r in records) and refusals["left"] > 0:
            refusals["left"] -= 1
            raise RetryLater("not yet")
        order.extend(r.value or b"" for r in records)

    await run_until(log, handle, log.all_committed)  # type: ignore[arg-type]
    first_seen = list(dict.fromkeys(order))
    assert first_seen == [b"good-0-0", b"later", b"good-0-2", b"good-0-3", b"good-0-4"]


async def test_an_outage_ending_while_records_are_handled_alone_keeps_the_order_of_each_key() -> None:
    # one partition, two keys; the first record fails as in an outage just long enough to be held, then the
    # outage ends: a record of another key may go first (and shows the database is back), its own key's may not
    log = Log({0: []})
    for key, value in [(b"k1", b"k1-0"), (b"k1", b"k1-1"), (b"k2", b"k2-0"), (b"k1", b"k1-2")]:
        log.broker.append("t", value, key=key, partition=0)
    failures = {"left": FAST.attempts * 2}  # its batch's tries, and its tries alone
    order: list[bytes] = []

    async def handle(records: list[Record]) -> None:
        if records[0].value == b"k1-0" and failures["left"] > 0:
            failures["left"] -= 1
            raise OperationalError("insert", {}, ConnectionResetError())
        order.extend(r.value or b"" for r in records)

    quarantine = Quarantine()
    await run_until(log, handle, log.all_committed, quarantine=quarantine)  # type: ignore[arg-type]
    assert quarantine.set_aside == []
    assert order == [b"k2-0", b"k1-0", b"k1-1", b"k1-2"]

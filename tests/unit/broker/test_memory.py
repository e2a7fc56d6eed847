"""The in-memory broker keeps what the hub relies on Kafka for: keyed partitioning as Kafka's, per-group committed
offsets, redelivery of what was not committed after a restart or a rebalance, and failures on demand; and the
consume loop on it commits only what was handled."""

from __future__ import annotations

import asyncio
import random

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import (
    CommitFailedError,
    ConsumerStoppedError,
    IllegalStateError,
    KafkaConnectionError,
    MessageSizeTooLargeError,
)
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2

from hub.broker.clients import consume_batches
from hub.broker.isolation import BatchHandler, Isolation, Record
from hub.broker.memory import MemoryBroker, MemoryConsumer, kafka_partition, murmur2
from hub.broker.poison import is_outage
from hub.broker.port import Partition
from tests.memory_workers import until

FAST = Isolation(
    base_delay=0.001, max_delay=0.002, outage_base_delay=0.001, outage_max_delay=0.01, fetch_retry_delay=0.005
)


def seeded(count: int, *, partitions: int = 1, topic: str = "t") -> MemoryBroker:
    broker = MemoryBroker(partitions=partitions)
    for i in range(count):
        broker.append(topic, f"v{i}".encode(), partition=i % partitions)
    return broker


# --- the log ---------------------------------------------------------------------------------------------------


def test_keyed_records_go_to_the_partition_kafkas_default_partitioner_picks() -> None:
    assert murmur2(b"21") == -973932308 & 0xFFFFFFFF  # the Java client's own test value
    rng = random.Random(7)
    partitioner = DefaultPartitioner()
    for _ in range(500):
        key = rng.randbytes(rng.randrange(0, 40))
        count = rng.randrange(1, 13)
        assert murmur2(key) == aiokafka_murmur2(key) & 0xFFFFFFFF
        assert kafka_partition(key, count) == partitioner(key, list(range(count)), list(range(count)))


async def test_one_keys_records_share_a_partition_in_order_and_records_without_a_key_go_round_robin() -> None:
    broker = MemoryBroker(partitions=4)
    publisher = broker.publisher()
    for i in range(20):
        await publisher.send_and_wait("t", key=b"receiver|patient", value=f"{i}".encode())
    partition = broker.partition_for("t", b"receiver|patient")
    assert [r.value for r in broker.records("t", partition)] == [f"{i}".encode() for i in range(20)]
    assert [r.offset for r in broker.records("t", partition)] == list(range(20))
    for i in range(8):
        broker.append("u", f"{i}".encode())
    assert sorted(len(broker.records("u", p)) for p in range(4)) == [2, 2, 2, 2]


async def test_send_all_publishes_in_order_and_without_transactions() -> None:
    broker = MemoryBroker(partitions=1)
    publisher = broker.publisher()
    await publisher.send_all([("t", b"k", b"a", None), ("t", b"k", b"b", [("h", b"1")])])
    assert [(r.value, r.headers) for r in broker.records("t")] == [(b"a", ()), (b"b", (("h", b"1"),))]
    broker.faults.fail("send", topic="t")
    await publisher.send_and_wait("other", key=b"k", value=b"not this topic's fault")
    with pytest.raises(KafkaConnectionError):
        await publisher.send_all([("t", b"k", b"c", None), ("t", b"k", b"d", None)])
    assert [r.value for r in broker.records("t")] == [b"a", b"b", b"d"]  # the one after the failure is written


async def test_a_record_larger_than_the_limit_is_refused_as_the_records_own_fault() -> None:
    broker = MemoryBroker(max_record_bytes=10)
    with pytest.raises(MessageSizeTooLargeError) as refused:
        await broker.publisher().send_and_wait("t", key=b"k", value=b"x" * 11)
    assert not is_outage(refused.value)
    assert broker.records("t") == []


# --- groups and offsets ----------------------------------------------------------------------------------------


async def test_a_new_consumer_of_a_group_reads_on_from_the_committed_offset() -> None:
    broker = seeded(5)
    consumer = broker.consumer("t", group_id="g")
    fetched = await consumer.getmany(timeout_ms=10)
    assert [r.offset for r in fetched[Partition("t", 0)]] == [0, 1, 2, 3, 4]
    await consumer.commit({Partition("t", 0): 3})
    await consumer.stop()
    again = broker.consumer("t", group_id="g")
    assert [r.offset for r in (await again.getmany(timeout_ms=10))[Partition("t", 0)]] == [3, 4]
    other = broker.consumer("t", group_id="other")  # another group has offsets of its own
    assert len((await other.getmany(timeout_ms=10))[Partition("t", 0)]) == 5
    assert broker.committed("g", "t") == 3 and broker.committed("other", "t") == 0
    assert broker.lag("g", "t") == 2


async def test_commit_without_offsets_commits_everything_fetched() -> None:
    broker = seeded(6, partitions=2)
    consumer = broker.consumer("t", group_id="g", max_records=4)
    await consumer.getmany(timeout_ms=10)
    await consumer.commit()
    assert broker.lag("g", "t") == 2
    await consumer.getmany(timeout_ms=10)
    await consumer.commit()
    assert broker.lag("g", "t") == 0


async def test_after_a_rebalance_what_was_not_committed_is_read_again_and_an_older_commit_fails() -> None:
    broker = seeded(4)
    consumer = broker.consumer("t", group_id="g")
    await consumer.getmany(timeout_ms=10)
    await consumer.commit({Partition("t", 0): 1})
    broker.rebalance("g")
    with pytest.raises(CommitFailedError):
        await consumer.commit()  # from before the rebalance: its records are read again
    assert broker.committed("g", "t") == 1
    again = await consumer.getmany(timeout_ms=10)
    assert [r.offset for r in again[Partition("t", 0)]] == [1, 2, 3]
    await consumer.commit()
    assert broker.committed("g", "t") == 4


async def test_a_groups_consumers_share_its_partitions_and_one_leaving_hands_its_own_over() -> None:
    broker = seeded(8, partitions=4)
    first = broker.consumer("t", group_id="g")
    second = broker.consumer("t", group_id="g")
    assert first.assignment().isdisjoint(second.assignment())
    assert first.assignment() | second.assignment() == set(broker.partitions_of("t"))
    assert len(first.assignment()) == 2
    await second.stop()
    assert first.assignment() == set(broker.partitions_of("t"))
    fetched = await first.getmany(timeout_ms=10)
    assert sum(len(records) for records in fetched.values()) == 8
    with pytest.raises(ConsumerStoppedError):
        await second.getmany()


async def test_only_assigned_partitions_are_sought_and_committed_and_aiokafkas_partitions_name_them_too() -> None:
    broker = seeded(3)
    consumer = broker.consumer("t", group_id="g")
    with pytest.raises(IllegalStateError):
        consumer.seek(Partition("t", 5), 0)
    with pytest.raises(IllegalStateError):
        await consumer.commit({Partition("elsewhere", 0): 1})
    await consumer.getmany(timeout_ms=10)
    consumer.seek(TopicPartition("t", 0), 1)
    assert [r.offset for r in (await consumer.getmany(timeout_ms=10))[Partition("t", 0)]] == [1, 2]
    await consumer.commit({TopicPartition("t", 0): 2})
    assert broker.committed("g", "t") == 2


async def test_a_fetch_waits_for_records_up_to_its_timeout_and_takes_no_more_than_asked() -> None:
    broker = MemoryBroker(partitions=2)
    consumer = broker.consumer("t", group_id="g", max_records=3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await consumer.getmany(timeout_ms=50) == {}
    assert loop.time() - started >= 0.04
    fetching = asyncio.create_task(consumer.getmany(timeout_ms=5000))
    await asyncio.sleep(0.01)
    broker.append("t", b"arrived")
    assert [r.value for records in (await asyncio.wait_for(fetching, 1)).values() for r in records] == [b"arrived"]
    for i in range(10):
        broker.append("t", f"{i}".encode())
    assert sum(map(len, (await consumer.getmany(timeout_ms=10)).values())) == 3
    assert sum(map(len, (await consumer.getmany(timeout_ms=10, max_records=2)).values())) == 2


async def test_faults_fail_the_next_calls_and_a_broker_that_is_down_fails_all_until_it_is_up() -> None:
    broker = seeded(2)
    consumer = broker.consumer("t", group_id="g")
    broker.faults.fail("fetch", times=2)
    for _ in range(2):
        with pytest.raises(KafkaConnectionError):
            await consumer.getmany(timeout_ms=10)
    assert (await consumer.getmany(timeout_ms=10))[Partition("t", 0)]
    broker.faults.fail("commit", error=CommitFailedError)
    with pytest.raises(CommitFailedError):
        await consumer.commit()
    broker.faults.down()
    publisher = broker.publisher()
    for call in (consumer.getmany, consumer.commit, lambda: publisher.send_and_wait("t", key=b"k", value=b"v")):
        with pytest.raises(KafkaConnectionError):
            await call()
    broker.faults.up()
    await consumer.commit()
    await publisher.send_and_wait("t", key=b"k", value=b"v")
    assert broker.committed("g", "t") == 2 and len(broker.records("t")) == 3
    assert broker.faults.raised == {"fetch": 3, "commit": 2, "send": 1}


# --- the consume loop on it ------------------------------------------------------------------------------------


class Gate:
    """A batch handler that records what it handled, and waits at `closed` until opened."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.entered = asyncio.Event()
        self.handled: list[bytes] = []

    async def __call__(self, records: list[Record]) -> None:
        self.entered.set()
        await self.open.wait()
        self.handled.extend(r.value or b"" for r in records)


def run(consumer: MemoryConsumer, handle: BatchHandler, stop: asyncio.Event) -> asyncio.Task[None]:
    return asyncio.create_task(
        consume_batches(consumer, handle, name="test", stop=stop, batch_timeout_ms=10, isolation=FAST)
    )


async def test_the_consume_loop_commits_only_after_the_batch_is_handled() -> None:
    broker = seeded(3)
    consumer = broker.consumer("t", group_id="g")
    gate, stop = Gate(), asyncio.Event()
    task = run(consumer, gate, stop)
    await asyncio.wait_for(gate.entered.wait(), 5)
    await asyncio.sleep(0.05)
    assert consumer.position(Partition("t", 0)) == 3  # fetched ...
    assert broker.committed("g", "t") == 0  # ... not committed while it is handled
    gate.open.set()
    await until(lambda: broker.committed("g", "t") == 3)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert gate.handled == [b"v0", b"v1", b"v2"]


async def test_a_crash_before_the_commit_has_the_batch_read_again_by_the_next_consumer() -> None:
    broker = seeded(3)
    consumer = broker.consumer("t", group_id="g")
    gate, stop = Gate(), asyncio.Event()
    task = run(consumer, gate, stop)
    await asyncio.wait_for(gate.entered.wait(), 5)
    task.cancel()  # the process dies while handling
    with pytest.raises(asyncio.CancelledError):
        await task
    await consumer.stop()
    assert broker.committed("g", "t") == 0
    restarted, after = broker.consumer("t", group_id="g"), Gate()
    after.open.set()
    task = run(restarted, after, stop)
    await until(lambda: broker.lag("g", "t") == 0)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert after.handled == [b"v0", b"v1", b"v2"]


async def test_a_rebalance_while_a_batch_is_handled_has_it_read_again_and_nothing_is_lost() -> None:
    broker = seeded(4)
    consumer = broker.consumer("t", group_id="g")
    seen: list[bytes] = []

    async def handle(records: list[Record]) -> None:
        if not seen:
            broker.rebalance("g")  # the partition is taken away (and given back) under the handler
        seen.extend(r.value or b"" for r in records)

    stop = asyncio.Event()
    task = run(consumer, handle, stop)
    await until(lambda: broker.lag("g", "t") == 0)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert seen == [b"v0", b"v1", b"v2", b"v3"] * 2  # its commit failed: handled again, from the committed offset


async def test_a_broker_outage_is_waited_out_and_consuming_resumes() -> None:
    broker = seeded(2)
    consumer = broker.consumer("t", group_id="g")
    handled: list[bytes] = []

    async def handle(records: list[Record]) -> None:
        handled.extend(r.value or b"" for r in records)

    broker.faults.down()
    stop = asyncio.Event()
    task = run(consumer, handle, stop)
    await until(lambda: broker.faults.raised["fetch"] >= 3)
    assert handled == []
    broker.faults.up()
    await until(lambda: broker.lag("g", "t") == 0)
    broker.append("t", b"after")
    await until(lambda: broker.lag("g", "t") == 0 and b"after" in handled)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert handled == [b"v0", b"v1", b"after"]

"""An in-memory broker: Kafka as the hub's workers rely on it, without a broker process. For unit tests.

What it keeps of Kafka:

- topics of partitions, each an append-only log; a record with a key goes to the partition Kafka's default
  partitioner picks (murmur2 of the key, as the Java client and aiokafka do), so one key's records share a
  partition and stay in order; a record without a key goes round-robin
- consumer groups: each has its committed offset per partition; a consumer reads its partitions from the
  group's committed offset (the log's start when none), and commits by hand
- redelivery: what a consumer fetched and did not commit is read again after a restart (it stops, a new
  consumer of the group starts) or a rebalance (``MemoryBroker.rebalance``, or a consumer joining or leaving):
  every consumer of the group then reads on from the committed offsets, and a commit from before the
  rebalance fails with ``CommitFailedError``
- failures on demand (``MemoryBroker.faults``): the next sends, fetches or commits fail, or the broker is
  down until it comes back, with aiokafka's errors, as the real one raises them; a record larger than
  ``max_record_bytes`` is refused as Kafka refuses it.

Not kept: replication, retention, transactions, idempotent producers, fetch sizes in bytes, timestamps.

Implements ``hub.broker.port``: ``MemoryPublisher`` is a ``RecordPublisher``, ``MemoryConsumer`` a
``RecordConsumer``, ``MemoryRecord`` a ``Record``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from aiokafka.errors import (
    CommitFailedError,
    ConsumerStoppedError,
    IllegalStateError,
    KafkaConnectionError,
    MessageSizeTooLargeError,
)

from hub.broker.port import Outgoing, Partition
from hub.broker.records import Headers

if TYPE_CHECKING:
    from hub.broker.port import Record, RecordConsumer, RecordPublisher

Operation = Literal["send", "fetch", "commit"]


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 hash of `data` (``org.apache.kafka.common.utils.Utils.murmur2``), as an unsigned 32-bit int."""
    length = len(data)
    m, r = 0x5BD1E995, 24
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    for start in range(0, length - length % 4, 4):
        k = int.from_bytes(data[start : start + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    tail, rest = length % 4, length - length % 4
    if tail == 3:
        h ^= data[rest + 2] << 16
    if tail >= 2:
        h ^= data[rest + 1] << 8
    if tail >= 1:
        h ^= data[rest]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h


def kafka_partition(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a keyed record."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


@dataclass(frozen=True, slots=True)
class MemoryRecord:
    """A record in a partition's log, as a consumer yields it (a ``hub.broker.port.Record``)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(slots=True)
class _Planned:
    operation: Operation
    times: int
    error: Callable[[], BaseException]
    topic: str | None


class Faults:
    """Failures for the broker to raise: ``fail`` for the next calls of one operation, ``down`` for every call
    until ``up``. `raised` counts the failures raised, per operation."""

    def __init__(self) -> None:
        self._planned: list[_Planned] = []
        self._down: set[Operation] = set()
        self.raised: Counter[str] = Counter()

    def fail(
        self,
        operation: Operation,
        *,
        times: int = 1,
        error: Callable[[], BaseException] = KafkaConnectionError,
        topic: str | None = None,
    ) -> None:
        """The next `times` calls of `operation` (sends to `topic` only, when given) raise `error()`."""
        self._planned.append(_Planned(operation, times, error, topic))

    def down(self, *operations: Operation) -> None:
        """The broker is away: every send, fetch and commit (or only those of `operations`) fails with
        ``KafkaConnectionError`` until ``up``."""
        self._down = set(operations or ("send", "fetch", "commit"))

    def up(self) -> None:
        self._down = set()

    def clear(self) -> None:
        """No more failures: the broker is up, and nothing planned is left."""
        self._planned.clear()
        self._down = set()

    @property
    def is_down(self) -> bool:
        return bool(self._down)

    def check(self, operation: Operation, topic: str | None = None) -> None:
        """Raise the failure due for this call, if any."""
        if operation in self._down:
            self.raised[operation] += 1
            raise KafkaConnectionError("the broker is down")
        for planned in self._planned:
            if planned.operation == operation and planned.times > 0 and planned.topic in (None, topic):
                planned.times -= 1
                self._planned = [p for p in self._planned if p.times > 0]
                self.raised[operation] += 1
                raise planned.error()


class _Group:
    def __init__(self) -> None:
        self.committed: dict[Partition, int] = {}
        self.members: list[MemoryConsumer] = []
        self.generation = 0
        self.assignment: dict[int, frozenset[Partition]] = {}  # by id() of the member


class MemoryBroker:
    """Topics, consumer groups and their committed offsets, in memory; see the module's docstring."""

    def __init__(self, *, partitions: int = 4, max_record_bytes: int | None = None) -> None:
        self.default_partitions = partitions
        self.max_record_bytes = max_record_bytes
        self.faults = Faults()
        self._logs: dict[str, list[list[MemoryRecord]]] = {}
        self._groups: dict[str, _Group] = {}
        self._round_robin: dict[str, itertools.count[int]] = {}
        self._arrived = asyncio.Event()

    # --- topics and their logs ----------------------------------------------------------------------

    def create_topic(self, topic: str, *, partitions: int | None = None) -> None:
        """Create `topic` (with the broker's default number of partitions); one that exists is left as it is."""
        if topic not in self._logs:
            self._logs[topic] = [[] for _ in range(partitions or self.default_partitions)]

    def partitions_of(self, topic: str) -> list[Partition]:
        self.create_topic(topic)
        return [Partition(topic, number) for number in range(len(self._logs[topic]))]

    def partition_for(self, topic: str, key: bytes | None) -> int:
        """Where a record of `key` goes: Kafka's keyed partitioning, round-robin without a key."""
        count = len(self.partitions_of(topic))
        if key is None:
            return next(self._round_robin.setdefault(topic, itertools.count())) % count
        return kafka_partition(key, count)

    def append(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: bytes | None = None,
        headers: Sequence[tuple[str, bytes]] | None = None,
        partition: int | None = None,
    ) -> MemoryRecord:
        """Put a record on the log at once (no faults, no size limit): what a test seeds a topic with."""
        self.create_topic(topic)
        number = self.partition_for(topic, key) if partition is None else partition
        log = self._logs[topic][number]
        record = MemoryRecord(topic, number, len(log), key, value, tuple(headers or ()))
        log.append(record)
        self._arrived.set()
        self._arrived = asyncio.Event()
        return record

    def publish(
        self, topic: str, value: bytes, *, key: bytes | None, headers: Sequence[tuple[str, bytes]] | None
    ) -> MemoryRecord:
        """A producer's write: faults apply, and Kafka's size limit."""
        self.faults.check("send", topic)
        if self.max_record_bytes is not None:
            size = len(value) + len(key or b"") + sum(len(name) + len(data) for name, data in headers or ())
            if size > self.max_record_bytes:
                raise MessageSizeTooLargeError(f"the record has {size} bytes, more than {self.max_record_bytes}")
        return self.append(topic, value, key=key, headers=headers)

    def records(self, topic: str, partition: int | None = None) -> list[MemoryRecord]:
        """What `topic` holds (one partition's, or all, partition by partition), in offset order."""
        logs = self._logs.get(topic, [])
        chosen = logs if partition is None else [logs[partition]]
        return [record for log in chosen for record in log]

    def end_offsets(self, topic: str) -> dict[Partition, int]:
        return {p: len(self._logs[topic][p.partition]) for p in self.partitions_of(topic)}

    async def arrival(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for the next record to be appended anywhere."""
        arrived = self._arrived
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(arrived.wait(), timeout)

    # --- groups --------------------------------------------------------------------------------------

    def publisher(self) -> MemoryPublisher:
        return MemoryPublisher(self)

    def consumer(self, *topics: str, group_id: str, max_records: int = 500) -> MemoryConsumer:
        """A new consumer of `topics` in `group_id`: it joins the group, which rebalances."""
        consumer = MemoryConsumer(self, topics, group_id, max_records)
        group = self._group(group_id)
        group.members.append(consumer)
        self.rebalance(group_id)
        consumer._sync()  # it joined with this assignment; the group's other consumers learn of it later
        return consumer

    def committed(self, group_id: str, topic: str, partition: int = 0) -> int:
        """The group's committed offset of a partition (0, the log's start, when it committed none)."""
        return self._group(group_id).committed.get(Partition(topic, partition), 0)

    def lag(self, group_id: str, topic: str) -> int:
        """How many records of `topic` the group has not committed yet."""
        return sum(end - self.committed(group_id, topic, p.partition) for p, end in self.end_offsets(topic).items())

    def rebalance(self, group_id: str) -> None:
        """Share the group's partitions among its consumers again (round-robin per topic). Every consumer of
        the group reads on from the committed offsets; a commit from before this fails."""
        group = self._group(group_id)
        group.generation += 1
        shares: dict[int, set[Partition]] = {id(member): set() for member in group.members}
        for topic in sorted({topic for member in group.members for topic in member.topics}):
            readers = [member for member in group.members if topic in member.topics]
            for index, partition in enumerate(self.partitions_of(topic)):
                shares[id(readers[index % len(readers)])].add(partition)
        group.assignment = {member: frozenset(share) for member, share in shares.items()}

    def _log(self, partition: Partition) -> list[MemoryRecord]:
        return self._logs[partition.topic][partition.partition]

    def _group(self, group_id: str) -> _Group:
        return self._groups.setdefault(group_id, _Group())

    def _leave(self, consumer: MemoryConsumer) -> None:
        group = self._group(consumer.group_id)
        if consumer in group.members:
            group.members.remove(consumer)
            self.rebalance(consumer.group_id)

    def _assigned(self, consumer: MemoryConsumer) -> frozenset[Partition]:
        return self._group(consumer.group_id).assignment.get(id(consumer), frozenset())


class MemoryPublisher:
    """Publishing to a MemoryBroker (a ``hub.broker.port.RecordPublisher``)."""

    def __init__(self, broker: MemoryBroker) -> None:
        self._broker = broker

    async def send(
        self, topic: str, *, key: bytes, value: bytes, headers: Headers | None = None
    ) -> asyncio.Future[MemoryRecord]:
        await asyncio.sleep(0)
        future: asyncio.Future[MemoryRecord] = asyncio.get_running_loop().create_future()
        try:
            future.set_result(self._broker.publish(topic, value, key=key, headers=headers))
        except MessageSizeTooLargeError:
            raise  # refused at once, as aiokafka's send does
        except Exception as exc:  # the broker did not take it: the future says so, as aiokafka's does
            future.set_exception(exc)
        return future

    async def send_and_wait(self, topic: str, *, key: bytes, value: bytes, headers: Headers | None = None) -> None:
        await (await self.send(topic, key=key, value=value, headers=headers))

    async def send_all(self, records: Sequence[Outgoing]) -> None:
        futures = [
            await self.send(topic, key=key, value=value, headers=headers) for topic, key, value, headers in records
        ]
        if futures:
            await asyncio.gather(*futures)


class MemoryConsumer:
    """A consumer in a group of a MemoryBroker, committing by hand (a ``hub.broker.port.RecordConsumer``).
    `fetches` and `commits` count its calls."""

    def __init__(self, broker: MemoryBroker, topics: Sequence[str], group_id: str, max_records: int) -> None:
        self._broker = broker
        self.topics = tuple(topics)
        self.group_id = group_id
        self.max_records = max_records
        self._positions: dict[Partition, int] = {}
        self._generation = -1  # the group's generation this consumer's positions are from
        self._closed = False
        self.fetches = 0
        self.commits = 0
        for topic in self.topics:
            broker.create_topic(topic)

    async def start(self) -> None:
        """Nothing to do (it joined its group when made); here for the likeness to aiokafka's consumer."""

    async def stop(self) -> None:
        """Leave the group (it rebalances); nothing is committed. Fetching afterwards raises."""
        self._closed = True
        self._broker._leave(self)

    def assignment(self) -> frozenset[Partition]:
        return self._broker._assigned(self)

    async def getmany(
        self, *partitions: Partition, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[Partition, list[MemoryRecord]]:
        self._ensure_open()
        self.fetches += 1
        self._broker.faults.check("fetch")
        await asyncio.sleep(0)
        limit = min(max_records or self.max_records, self.max_records)
        found = self._take(partitions, limit)
        if not found and timeout_ms > 0:
            await self._broker.arrival(timeout_ms / 1000)
            self._ensure_open()
            found = self._take(partitions, limit)
        return found

    def seek(self, partition: Partition, offset: int) -> None:
        if offset < 0:
            raise ValueError("Offset must be a positive integer")
        if partition not in self.assignment():
            raise IllegalStateError(f"Partition {partition} is not assigned")
        self._positions[Partition(*partition)] = offset

    async def seek_to_beginning(self, *partitions: Partition) -> None:
        for partition in partitions or tuple(self.assignment()):
            self.seek(partition, 0)

    async def commit(self, offsets: Mapping[Partition, int] | None = None) -> None:
        self._ensure_open()
        self._broker.faults.check("commit")
        await asyncio.sleep(0)
        group = self._broker._group(self.group_id)
        if self._generation != group.generation:
            self._sync()
            raise CommitFailedError()  # the group rebalanced since this consumer's last fetch
        chosen = dict(self._positions) if offsets is None else {Partition(*p): o for p, o in offsets.items()}
        assigned = self.assignment()
        for partition in chosen:
            if partition not in assigned:
                raise IllegalStateError(f"Partition {partition} is not assigned")
        group.committed.update(chosen)
        self.commits += 1

    def position(self, partition: Partition) -> int:
        """The offset this consumer fetches `partition` from next."""
        return self._positions.get(Partition(*partition), 0)

    def _ensure_open(self) -> None:
        if self._closed:
            raise ConsumerStoppedError()

    def _sync(self) -> None:
        """After a rebalance: the partitions assigned now, each from the group's committed offset."""
        group = self._broker._group(self.group_id)
        self._generation = group.generation
        self._positions = {p: group.committed.get(p, 0) for p in sorted(self.assignment())}

    def _take(self, partitions: Sequence[Partition], limit: int) -> dict[Partition, list[MemoryRecord]]:
        if self._generation != self._broker._group(self.group_id).generation:
            self._sync()
        chosen = [Partition(*p) for p in partitions] or list(self._positions)
        if len(chosen) > 1:  # a different partition first each time, so none waits behind a busy one
            start = self.fetches % len(chosen)
            chosen = chosen[start:] + chosen[:start]
        found: dict[Partition, list[MemoryRecord]] = {}
        room = limit
        for partition in chosen:
            if room <= 0:
                break
            if partition not in self._positions:
                continue
            position = self._positions[partition]
            taken = self._broker._log(partition)[position : position + room]
            if taken:
                found[partition] = taken
                self._positions[partition] = position + len(taken)
                room -= len(taken)
        return found


if TYPE_CHECKING:

    def _implements_the_port(
        consumer: MemoryConsumer, publisher: MemoryPublisher, record: MemoryRecord
    ) -> tuple[RecordConsumer, RecordPublisher, Record]:
        return consumer, publisher, record

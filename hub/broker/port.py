"""The broker as the hub's workers see it: what they publish with, what they take records from, what they commit.

Small protocols, so a worker asks for no more than it uses, and a test runs it on ``hub.broker.memory``:

- :class:`RecordPublisher`: ``send``, ``send_and_wait``, ``send_all``. Kafka: ``hub.broker.clients.Publisher``
  over an ``AIOKafkaProducer``; in memory: ``hub.broker.memory.MemoryPublisher``.
- :class:`RecordFetcher` (``getmany``, ``seek``, ``assignment``) and :class:`OffsetCommitter` (``commit``),
  together :class:`RecordConsumer`: what ``hub.broker.clients.consume_batches`` and ``consume_concurrently``
  drive. Kafka: an ``AIOKafkaConsumer`` as ``hub.broker.clients.make_consumer`` makes it (auto-commit off);
  in memory: ``hub.broker.memory.MemoryConsumer``.
- :class:`Record`: a record as a consumer yields it. aiokafka's ``ConsumerRecord`` is one as it is, and so is
  ``hub.broker.memory.MemoryRecord``; workers read nothing else of a record.

Both implementations raise aiokafka's errors (``aiokafka.errors.KafkaError`` and its kinds) for what goes wrong
on the broker, so the consume loops and ``hub.broker.poison`` treat them alike.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any, NamedTuple, Protocol, TypeAlias

from hub.broker.records import Headers

# (topic, key, value, headers): one record to publish, as send_all takes them
Outgoing: TypeAlias = tuple[str, bytes, bytes, Headers | None]


class Partition(NamedTuple):
    """A topic's partition. Equal to aiokafka's ``TopicPartition`` of the same topic and number (both are
    plain tuples), so either may key what a consumer returns and what it is asked to commit."""

    topic: str
    partition: int


class Record(Protocol):
    """One consumed record: where it is in its partition, and its key, value and headers."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...


class RecordPublisher(Protocol):
    """Publishing, acknowledged by the broker: a write counts once the broker has it."""

    async def send(self, topic: str, *, key: bytes, value: bytes, headers: Headers | None = None) -> Awaitable[Any]:
        """Queue one record; returns what resolves (awaited) once the broker has it, or raises why not."""
        ...

    async def send_and_wait(self, topic: str, *, key: bytes, value: bytes, headers: Headers | None = None) -> None:
        """Publish one record and wait until the broker has it."""
        ...

    async def send_all(self, records: Sequence[Outgoing]) -> None:
        """Publish the records, in order, and wait until the broker has every one (raises if one fails; those
        before it may be published: there are no transactions, so a handler that fails is run again whole)."""
        ...


class RecordFetcher(Protocol):
    """Taking records, partition by partition in offset order, from where the group left off."""

    async def getmany(
        self, *partitions: Partition, timeout_ms: int = 0, max_records: int | None = None
    ) -> Mapping[Partition, Sequence[Record]]:
        """The next records of the assigned partitions (up to `max_records`), waiting up to `timeout_ms` for some;
        empty when none came."""
        ...

    def seek(self, partition: Partition, offset: int) -> None:
        """Read `partition` from `offset` on at the next fetch (an assigned partition only)."""
        ...

    def assignment(self) -> AbstractSet[Partition]:
        """The partitions this consumer reads now (they move between a group's consumers on a rebalance)."""
        ...


class OffsetCommitter(Protocol):
    async def commit(self, offsets: Mapping[Partition, int] | None = None) -> None:
        """Commit, for the consumer's group, the next offset to read per partition: `offsets`, or everything
        fetched so far. After a restart or a rebalance the group reads on from what was committed; what was
        fetched and not committed is read again. Raises a ``KafkaError`` when the partitions went elsewhere."""
        ...


class RecordConsumer(RecordFetcher, OffsetCommitter, Protocol):
    """A consumer in a group, committing by hand: what the hub's consume loops drive."""

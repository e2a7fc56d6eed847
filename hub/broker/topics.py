"""Topic names and their creation (always explicit: the embedded broker loses records on auto-created topics)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError


@dataclass(frozen=True, slots=True)
class Topics:
    prefix: str = "hub."

    @property
    def ingress(self) -> str:
        """Raw bytes of every message a connector accepted, keyed by patient."""
        return f"{self.prefix}ingress"

    @property
    def outbox(self) -> str:
        """One record per (message, receiver) to deliver, keyed by receiver and patient."""
        return f"{self.prefix}outbox"

    @property
    def events(self) -> str:
        """The audit trail: every step of every message, keyed by message."""
        return f"{self.prefix}events"

    @property
    def dead_letters(self) -> str:
        """Deliveries given up on, with their reason and attempts; operators redrive them."""
        return f"{self.prefix}deadletter"

    def all(self) -> tuple[str, ...]:
        return (self.ingress, self.outbox, self.events, self.dead_letters)


async def ensure_topics(bootstrap_servers: str, topics: Topics, *, partitions: int, timeout: float = 30.0) -> list[str]:
    """Create the hub's topics when missing and wait until the broker lists them all; returns those created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(name, num_partitions=partitions, replication_factor=1)
            for name in topics.all()
            if name not in existing
        ]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another hub process was first
                await admin.create_topics(missing)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not set(topics.all()) <= set(await admin.list_topics()):
            if loop.time() > deadline:
                raise KafkaError(f"topics {topics.all()} did not appear within {timeout} s")
            await asyncio.sleep(0.1)
    finally:
        await admin.close()
    return [topic.name for topic in missing]

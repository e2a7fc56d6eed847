"""A batch worker of the hub (ingress, recorder) run on the in-memory broker as the hub runs it
(hub.broker.clients.consume_batches): started, stopped, crashed and started again; shared by the workers' unit
tests, with the two-organisation register the ingress tests route with."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from hub.broker.clients import consume_batches
from hub.broker.isolation import Isolation
from hub.broker.memory import MemoryBroker, MemoryConsumer
from hub.broker.progress import WorkerProgress
from hub.route.register import Register, parse_register

HOSPITAL_SOR, MUNICIPALITY_SOR = "265161000016000", "953741000016009"

# the isolation policy with its waits cut to milliseconds
FAST = Isolation(
    base_delay=0.001, max_delay=0.002, outage_base_delay=0.005, outage_max_delay=0.02, fetch_retry_delay=0.01
)


async def until(done: Callable[[], bool], timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.005)):
        if done():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"not done within {timeout} s")


class RunningWorker:
    """One consumer group reading one topic of `broker` into a worker's `handle`, with its `quarantine`."""

    def __init__(
        self,
        broker: MemoryBroker,
        *,
        topic: str,
        group: str,
        name: str,
        handle: Callable[[Sequence[Any]], Awaitable[None]],
        quarantine: Callable[[Any, BaseException], Awaitable[None]],
    ) -> None:
        self.broker = broker
        self.progress = WorkerProgress(name)
        self._topic, self._group, self._name = topic, group, name
        self._handle, self._quarantine = handle, quarantine
        self._consumer: MemoryConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    def start(self) -> None:
        self._consumer = self.broker.consumer(self._topic, group_id=self._group)
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(
            consume_batches(
                self._consumer,
                self._handle,
                name=self._name,
                stop=self._stop,
                batch_timeout_ms=10,
                quarantine=self._quarantine,
                isolation=FAST,
                progress=self.progress,
            )
        )

    async def stop(self) -> None:
        assert self._task is not None and self._consumer is not None
        self._stop.set()
        await asyncio.wait_for(self._task, 5)
        await self._consumer.stop()

    async def crash(self) -> None:
        """The process dies: the loop is cancelled wherever it is, and nothing more is committed."""
        assert self._task is not None and self._consumer is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._consumer.stop()

    def lag(self) -> int:
        return self.broker.lag(self._group, self._topic)

    async def drained(self, timeout: float = 10.0) -> None:
        await until(lambda: self.lag() == 0, timeout)


def two_organisations() -> Register:
    """A hospital and a municipality, both with a mailbox, both taking notifications and acknowledgements."""

    def org(org_id: str, sor: str) -> dict[str, Any]:
        return {
            "id": org_id,
            "name": org_id,
            "kind": "municipality",
            "sor": sor,
            "endpoint": {"kind": "mailbox"},
            "accepts": ["hospital-notification-message", "acknowledgement-message"],
        }

    return parse_register(
        {
            "hub": {"name": "hub", "sor": "881531000016009"},
            "organisations": [org("hospital", HOSPITAL_SOR), org("municipality", MUNICIPALITY_SOR)],
        },
        source="test",
    )

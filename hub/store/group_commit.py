"""Group commit: many callers' small database writes (or lookups) done together in one round trip.

Each caller awaits its own result; whatever arrives while one batch is being written waits for the next
batch, so under load a batch grows by itself and when idle a lone call goes through at once (no timer, no
added latency). A batch that fails fails every caller in it, as their own call would have.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class GroupCommit(Generic[Item, Result]):
    """Calls `run(items)` with everything submitted since its last call; `run` returns one result per item."""

    def __init__(self, run: Callable[[Sequence[Item]], Awaitable[Sequence[Result]]], *, max_batch: int = 500) -> None:
        self._run = run
        self._max_batch = max_batch
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_all())
        return await future

    async def _flush_all(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[: self._max_batch], self._waiting[self._max_batch :]
            live = [(item, future) for item, future in batch if not future.done()]  # a cancelled caller needs nothing
            if not live:
                continue
            try:
                results = await self._run([item for item, _ in live])
            except asyncio.CancelledError:  # the hub is stopping: nobody waiting gets an answer
                for _, future in [*live, *self._waiting]:
                    future.cancel()
                self._waiting = []
                raise
            except Exception as exc:  # handed to each caller, who sees it as their own
                for _, future in live:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(live, results, strict=True):
                if not future.done():
                    future.set_result(result)

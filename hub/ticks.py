"""Periodic work that stops promptly: ``async for _ in ticks(interval, stop): ...``"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


async def ticks(interval: float, stop: asyncio.Event) -> AsyncIterator[None]:
    """Yield once every `interval` seconds until `stop` is set (checked while waiting, not only between)."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
        if stop.is_set():
            return
        yield

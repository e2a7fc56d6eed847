"""A simulated party's pace: one message after another at about `rate` per second, jittered, going on when the
hub cannot be reached (it may be restarting)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

import httpx
import structlog

log = structlog.get_logger(__name__)


async def send_at_rate(send_one: Callable[[], Awaitable[object]], *, rate: float, rng: random.Random, who: str) -> None:
    """Call `send_one` for ever, between 0.5 and 1.5 intervals apart; an unreachable hub is logged, not raised."""
    interval = 1.0 / rate if rate > 0 else 1.0
    while True:
        try:
            await send_one()
        except (httpx.HTTPError, OSError, TimeoutError) as exc:
            log.warning(f"{who} cannot reach the hub", error=type(exc).__name__)
        await asyncio.sleep(rng.uniform(0.5 * interval, 1.5 * interval))

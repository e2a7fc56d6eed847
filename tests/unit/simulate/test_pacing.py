"""A simulated party's pace: it goes on sending while the hub cannot be reached (a restart in the middle)."""

from __future__ import annotations

import asyncio
import random

import httpx
import pytest

from hub.simulate.pacing import send_at_rate


async def test_a_hub_that_cannot_be_reached_is_waited_out_and_sending_goes_on() -> None:
    calls: list[int] = []
    sent_after_outage = asyncio.Event()
    failures = [httpx.ConnectError("refused"), OSError("reset"), TimeoutError()]

    async def send_one() -> None:
        calls.append(len(calls))
        if failures:
            raise failures.pop(0)
        sent_after_outage.set()

    task = asyncio.create_task(send_at_rate(send_one, rate=1000, rng=random.Random(1), who="simulated hospital"))
    await asyncio.wait_for(sent_after_outage.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(calls) >= 4  # three refused sends, then one that went through


async def test_a_fault_that_is_not_the_hub_being_away_is_raised() -> None:
    async def send_one() -> None:
        raise ValueError("a bug in the simulator")

    with pytest.raises(ValueError, match="a bug in the simulator"):
        await asyncio.wait_for(send_at_rate(send_one, rate=1000, rng=random.Random(1), who="simulated hospital"), 10)

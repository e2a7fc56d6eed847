"""Two hub processes' acknowledgement watches on one database: one scans, and the other takes over when the
first stops (its lease given back) — so an overdue delivery is flagged and delivered again once, not twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.deliver.overdue import LEASE, AcknowledgementWatch
from hub.store.engine import open_database
from hub.store.leases import Leases


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    opened = await open_database(f"sqlite+aiosqlite:///{tmp_path / 'hub.sqlite3'}")
    yield opened
    await opened.dispose()


class CountingWatch(AcknowledgementWatch):
    """The real watch with its lease handling; its scan only counts (the scan itself is tested elsewhere)."""

    def __init__(self, leases: Leases) -> None:
        unused: Any = None
        super().__init__(
            store=unused,
            archive=unused,
            publisher=unused,
            topics=unused,
            timeout_seconds=60,
            redeliveries=1,
            interval=0.01,
            leases=leases,
        )
        self.scans = 0

    async def scan(self, now: datetime) -> int:
        self.scans += 1
        return 0


async def _until(condition: Any) -> None:
    for _ in range(2_000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never held")


async def test_one_watch_scans_and_the_other_takes_over_when_it_stops(engine: AsyncEngine) -> None:
    first, second = CountingWatch(Leases(engine, holder="first")), CountingWatch(Leases(engine, holder="second"))
    assert await Leases(engine, holder="first").hold(LEASE, ttl=60)  # the first process got there first
    stop_first, stop_second = asyncio.Event(), asyncio.Event()
    running = [asyncio.create_task(first.run(stop_first)), asyncio.create_task(second.run(stop_second))]
    await _until(lambda: first.scans >= 20)
    assert second.scans == 0

    stop_first.set()
    await running[0]
    await _until(lambda: second.scans >= 5)
    scanned_by_first = first.scans
    stop_second.set()
    await running[1]
    assert first.scans == scanned_by_first
    assert await Leases(engine, holder="third").hold(LEASE, ttl=60)  # the last one gave it back too

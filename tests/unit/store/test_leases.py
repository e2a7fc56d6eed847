"""Leases on a real SQLite file (the integration suite runs the multi-process tests on PostgreSQL too)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.store.engine import open_database
from hub.store.leases import Leases, holder_name


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    opened = await open_database(f"sqlite+aiosqlite:///{tmp_path / 'hub.sqlite3'}")
    yield opened
    await opened.dispose()


async def test_one_holder_at_a_time_and_an_expired_lease_moves_on(engine: AsyncEngine) -> None:
    clock = Clock()
    first, second = Leases(engine, holder="a", clock=clock), Leases(engine, holder="b", clock=clock)
    assert await first.hold("drain:sor:1", ttl=30)
    assert not await second.hold("drain:sor:1", ttl=30)
    assert await second.hold("drain:sor:2", ttl=30)  # another lease is free
    clock.now += 29
    assert await first.hold("drain:sor:1", ttl=30)  # renewed inside its time
    clock.now += 29
    assert not await second.hold("drain:sor:1", ttl=30)
    clock.now += 2  # "a" stopped renewing: expired
    assert await second.hold("drain:sor:1", ttl=30)
    assert not await first.hold("drain:sor:1", ttl=30)
    assert await second.holders() == {"drain:sor:1": "b"}  # drain:sor:2 was not renewed: expired too


async def test_a_released_lease_is_free_at_once_and_only_its_holder_releases_it(engine: AsyncEngine) -> None:
    clock = Clock()
    first, second = Leases(engine, holder="a", clock=clock), Leases(engine, holder="b", clock=clock)
    assert await first.hold("acknowledgement-watch", ttl=90)
    await second.release("acknowledgement-watch")  # not b's: nothing happens
    assert not await second.hold("acknowledgement-watch", ttl=90)
    await first.release("acknowledgement-watch")
    assert await second.hold("acknowledgement-watch", ttl=90)
    assert await first.holders() == {"acknowledgement-watch": "b"}


def test_holder_names_differ_per_lease_owner() -> None:
    assert holder_name() != holder_name()

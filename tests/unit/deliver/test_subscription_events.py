"""Numbering a rest-hook subscription's events, on a real SQLite file: once per copy, from 1, no gaps."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.broker.records import OutboxRecord
from hub.deliver.subscription_events import SubscriptionEvents
from hub.route.subscription import RestHook, Subscription
from hub.route.subscription_store import SubscriptionStore
from hub.store.engine import open_database


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    opened = await open_database(f"sqlite+aiosqlite:///{tmp_path / 'hub.sqlite3'}")
    yield opened
    await opened.dispose()


def copy(number: int) -> OutboxRecord:
    return OutboxRecord(f"t-{number}", f"m-{number}", "kommune-101", "hospital-notification-message", b"{}", "p", "rh")


async def stored(engine: AsyncEngine) -> SubscriptionEvents:
    await SubscriptionStore(engine).create(
        Subscription("s-1", "kommune-101", "*", rest_hook=RestHook("https://x.example/n"), channel="rest-hook")
    )
    return SubscriptionEvents(engine)


async def test_each_copy_gets_the_next_number_once_however_often_it_is_taken(engine: AsyncEngine) -> None:
    events = await stored(engine)
    first = await events.number("s-1", copy(1), bundle_id="b-1")
    second = await events.number("s-1", copy(2), bundle_id=None)
    again = await events.number("s-1", copy(1), bundle_id="b-1")
    assert first is not None and second is not None and again is not None
    assert (first.event.number, second.event.number, again.event.number) == (1, 2, 1)
    assert (again.events_since_start, await events.count("s-1")) == (2, 2)


async def test_copies_numbered_at_once_get_distinct_numbers_without_gaps(engine: AsyncEngine) -> None:
    events = await stored(engine)
    results = await asyncio.gather(*(events.number("s-1", copy(n % 10), bundle_id=None) for n in range(30)))
    numbers = {r.event.tracking_id: r.event.number for r in results if r is not None}
    assert sorted(numbers.values()) == list(range(1, 11))
    assert await events.count("s-1") == 10
    kept = await events.between("s-1", 1, 10)
    assert [e.number for e, _, _ in kept] == list(range(1, 11))
    assert {(e.tracking_id, sender, message) for e, sender, message in kept} == {
        (f"t-{n}", "rh", f"m-{n}") for n in range(10)
    }


async def test_a_subscription_gone_numbers_nothing(engine: AsyncEngine) -> None:
    events = SubscriptionEvents(engine)
    assert await events.number("nope", copy(1), bundle_id=None) is None
    assert await events.count("nope") == 0


async def test_the_subscription_that_carried_a_copy_is_found_by_message_and_receiver(engine: AsyncEngine) -> None:
    events = await stored(engine)
    await events.number("s-1", copy(1), bundle_id=None)
    assert await events.carrying("t-1", "kommune-101") == "s-1"
    assert await events.carrying("t-1", "kommune-999") is None  # another receiver's copy was not carried by it
    assert await events.carrying("t-2", "kommune-101") is None

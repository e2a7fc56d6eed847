"""The delivery ledger on a real SQLite file: grouped lookups and entries, acknowledgements kept per sender."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.deliver.ledger import DeliveryLedger, KeptAcknowledgement
from hub.store.engine import open_database


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    opened = await open_database(f"sqlite+aiosqlite:///{tmp_path / 'hub.sqlite3'}")
    yield opened
    await opened.dispose()


def count_statements(engine: AsyncEngine) -> list[str]:
    statements: list[str] = []
    sa.event.listen(engine.sync_engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    return statements


async def test_concurrent_entries_and_lookups_are_grouped_and_answer_each_caller(engine: AsyncEngine) -> None:
    ledger = DeliveryLedger(engine)
    statements = count_statements(engine)
    await asyncio.gather(
        *(ledger.add(sender="hospital", message_id=f"m{i}", receiver="gp", tracking_id=f"t{i}") for i in range(100))
    )
    assert len(statements) <= 3  # one insert, not one per message (plus what a transaction needs)
    answers = await asyncio.gather(
        *(ledger.has(sender="hospital", message_id=f"m{i}", receiver="gp") for i in range(0, 200, 2))
    )
    assert answers == [i < 100 for i in range(0, 200, 2)]
    assert not await ledger.has(sender="other-hospital", message_id="m1", receiver="gp")
    assert not await ledger.has(sender="hospital", message_id="m1", receiver="municipality")


async def test_a_second_entry_for_the_same_message_changes_nothing(engine: AsyncEngine) -> None:
    ledger = DeliveryLedger(engine)
    await ledger.add(sender="hospital", message_id="m1", receiver="gp", tracking_id="t1")
    await asyncio.gather(
        ledger.add(sender="hospital", message_id="m1", receiver="gp", tracking_id="t2"),
        ledger.add(sender="hospital", message_id="m1", receiver="gp", tracking_id="t3"),
    )
    async with engine.connect() as connection:
        rows = (await connection.execute(sa.text("SELECT tracking_id FROM handed_over"))).all()
    assert [row.tracking_id for row in rows] == ["t1"]


async def test_acknowledgements_are_kept_per_sender_and_the_latest_wins(engine: AsyncEngine) -> None:
    ledger = DeliveryLedger(engine)
    await ledger.keep_acknowledgements(
        [
            KeptAcknowledgement("hospital", "m1", "gp", "ok", b"first"),
            KeptAcknowledgement("hospital", "m1", "municipality", "ok", b"muni"),
            KeptAcknowledgement("other-hospital", "m1", "gp", "fatal-error", b"other"),
        ]
    )
    await ledger.keep_acknowledgement(
        sender="hospital", message_id="m1", receiver="gp", code="transient-error", raw=b"2"
    )
    found = await ledger.acknowledgements_for([("hospital", "m1"), ("other-hospital", "m1"), ("hospital", "m2")])
    assert found == {
        ("hospital", "m1"): {"gp": ("transient-error", b"2"), "municipality": ("ok", b"muni")},
        ("other-hospital", "m1"): {"gp": ("fatal-error", b"other")},
    }
    assert await ledger.acknowledgements_of(sender="hospital", message_id="m2") == {}
    # an acknowledging receiver has the message
    assert await ledger.has(sender="hospital", message_id="m1", receiver="municipality")
    assert not await ledger.has(sender="hospital", message_id="m1", receiver="hospital")

"""Lookups by composite key (the same rows as a row-value IN, found by index search, not a table scan), and
write transactions that take turns on SQLite."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest
import sqlalchemy as sa

from hub.store.engine import keys_in, open_database, writing
from hub.store.tables import handed_over, metadata

ROWS = [
    {"sender": s, "message_id": f"m{m}", "receiver": r, "tracking_id": f"t{s}{m}{r}", "at": "2026-01-01"}
    for s, m, r in itertools.product("ab", range(20), "xyz")
]
KEY = (handed_over.c.sender, handed_over.c.message_id, handed_over.c.receiver)


def test_keys_in_finds_exactly_the_rows_with_those_keys_by_index_search() -> None:
    engine = sa.create_engine("sqlite://")
    metadata.create_all(engine)
    wanted = [("a", "m3", "x"), ("b", "m19", "z"), ("a", "m3", "q"), ("c", "m1", "x")]  # two are not there
    with engine.begin() as connection:
        connection.execute(handed_over.insert(), ROWS)
        query = sa.select(*KEY).where(keys_in(KEY, wanted))
        found = {tuple(row) for row in connection.execute(query)}
        plan = [
            row[-1]
            for row in connection.exec_driver_sql(
                "EXPLAIN QUERY PLAN " + str(query.compile(engine, compile_kwargs={"literal_binds": True}))
            )
        ]
        none = list(connection.execute(sa.select(*KEY).where(keys_in(KEY, []))))
    assert found == {("a", "m3", "x"), ("b", "m19", "z")}
    assert not any(step.startswith("SCAN") for step in plan), plan
    assert none == []


def test_any_number_of_keys_makes_one_of_a_few_statements() -> None:
    engine = sa.create_engine("sqlite://")
    statements = {
        str(sa.select(*KEY).where(keys_in(KEY, [("a", f"m{i}", "x") for i in range(n)])).compile(engine))
        for n in range(1, 65)
    }
    assert len(statements) == 4
    with pytest.raises(ValueError, match="at most 64"):
        keys_in(KEY, [("a", f"m{i}", "x") for i in range(65)])


async def test_sqlite_writers_in_one_process_take_turns(tmp_path: Path) -> None:
    engine = await open_database(f"sqlite+aiosqlite:///{tmp_path / 'hub.sqlite3'}")
    inside, most = 0, 0

    async def write(row: dict[str, str]) -> None:
        nonlocal inside, most
        async with writing(engine) as connection:
            inside += 1
            most = max(most, inside)
            await connection.execute(handed_over.insert(), row)
            await asyncio.sleep(0.01)  # the transaction stays open: another writer would have to wait here
            inside -= 1

    try:
        await asyncio.gather(*(write(row) for row in ROWS[:20]))
        async with engine.connect() as connection:
            kept = await connection.scalar(sa.select(sa.func.count()).select_from(handed_over))
    finally:
        await engine.dispose()
    assert (most, kept) == (1, 20)

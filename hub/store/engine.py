"""Opening the hub's database: SQLite by default (WAL), PostgreSQL in production; its schema migrated on opening."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from hub.store.migrate import migrate, require_head

Item = TypeVar("Item")


def _ensure_sqlite_directory(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


async def open_database(url: str, *, migrate_schema: bool = True) -> AsyncEngine:
    """The engine of the hub's database, its schema at this hub's revision: migrated here, or (with
    ``migrate_schema`` off, as ``HUB_MIGRATE_AT_START=false`` asks) checked and refused when behind."""
    engine = connect_database(url)
    try:
        if migrate_schema:
            await migrate(engine)
        else:
            await require_head(engine)
    except BaseException:
        await engine.dispose()
        raise
    return engine


def connect_database(url: str) -> AsyncEngine:
    """The engine alone, its schema untouched (SQLite: WAL, and the file's directory made)."""
    _ensure_sqlite_directory(url)
    engine = create_async_engine(url)
    if engine.dialect.name == "sqlite":

        @sa.event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            # a new file keeps its free pages apart, for the retention purge's incremental vacuum (on a file
            # that has tables already this changes nothing)
            cursor.execute("PRAGMA auto_vacuum=INCREMENTAL")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.close()

    return engine


@asynccontextmanager
async def writing(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A write transaction (``engine.begin()``); on SQLite, one at a time in this process.

    SQLite has one writer at a time, and a writer that finds the database locked polls, sleeping 1 to 100 ms
    between tries: with the hub's concurrent writers (archive, ledger, projection) that added 20 to 30 ms to
    every write. Queued here instead, the next writer starts the moment the last one commits. Writers in
    another process still meet SQLite's busy timeout. PostgreSQL takes concurrent writers as they come.
    """
    if engine.dialect.name != "sqlite":
        async with engine.begin() as connection:
            yield connection
        return
    lock = _sqlite_writers.get(engine)
    if lock is None:
        lock = _sqlite_writers[engine] = asyncio.Lock()
    async with lock, engine.begin() as connection:
        yield connection


_sqlite_writers: weakref.WeakKeyDictionary[AsyncEngine, asyncio.Lock] = weakref.WeakKeyDictionary()


def insert_new(connection: AsyncConnection, table: sa.Table) -> Any:
    """An INSERT that skips rows whose primary key is already there (SQLite and PostgreSQL), for executemany."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    if connection.dialect.name == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    raise NotImplementedError(f"the hub's database is SQLite or PostgreSQL, not {connection.dialect.name}")


def chunks(items: Sequence[Item], size: int = 300) -> Iterator[Sequence[Item]]:
    """`items` in slices of at most `size`: bound the parameters of one IN (...) statement."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def keys_in(columns: Sequence[sa.ColumnElement[Any]], keys: Sequence[Sequence[Any]]) -> sa.ColumnElement[bool]:
    """`(a, b) IN ((1, 2), (3, 4))` written as `(a = 1 AND b = 2) OR (a = 3 AND b = 4)`.

    SQLite scans the whole table for a row-value IN (its plan: SCAN ... LIST SUBQUERY), so a lookup by
    composite key grew slower with every message kept; the OR of equalities is one index search per key on
    SQLite and PostgreSQL alike. The keys are padded (the last one repeated) to one of a few sizes: each
    size is a statement of its own in SQLAlchemy's and SQLite's statement caches, and a statement for every
    count from 1 to 200 filled both with large statements (the hub's memory grew by hundreds of MiB).
    At most KEYS_PER_STATEMENT keys.
    """
    if not keys:
        return sa.false()
    if len(keys) > KEYS_PER_STATEMENT:
        raise ValueError(f"{len(keys)} keys in one statement; at most {KEYS_PER_STATEMENT}")
    size = next(size for size in _KEY_COUNTS if size >= len(keys))
    padded = [*keys, *[keys[-1]] * (size - len(keys))]
    return sa.or_(*(sa.and_(*(c == value for c, value in zip(columns, key, strict=True))) for key in padded))


_KEY_COUNTS = (1, 4, 16, 64)
KEYS_PER_STATEMENT = _KEY_COUNTS[-1]

"""Schema migrations (Alembic): a database is brought to the hub's schema when the hub starts or by ``hub migrate``.

The revisions live in ``hub/store/migrations/versions``; ``0001`` is the schema of release 0.1. A database
the hub made before it had migrations (its tables there, no ``alembic_version``) is stamped ``0001`` first and
upgraded from there. Several hub processes starting together on one PostgreSQL take turns under an advisory
lock; on SQLite the loser of a race finds the work done when it looks again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.store.tables import metadata

BASELINE = "0001"  # the schema of release 0.1: what a database made before migrations holds
_MIGRATIONS = Path(__file__).with_name("migrations")
_LOCK_KEY = 0x5E670B  # pg_advisory_xact_lock key: one migrating process at a time per PostgreSQL database


@dataclass(frozen=True, slots=True)
class Migration:
    """What ``migrate`` found and left: revisions before and after (None: a database without the hub's tables)."""

    before: str | None
    after: str
    stamped: bool  # a database from before migrations, stamped with the baseline

    @property
    def changed(self) -> bool:
        return self.before != self.after


class SchemaBehind(RuntimeError):
    """The database is older than this hub and migrations at start are off: run ``hub migrate``."""


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None, "the hub ships at least one migration"
    return head


def _current(connection: sa.Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _has_hub_tables(connection: sa.Connection) -> bool:
    return sa.inspect(connection).has_table("messages")


def _add_missing_indexes(connection: sa.Connection) -> None:
    """A database from before release 0.1's last indexes gets them, so that it is the baseline it is stamped."""
    inspector = sa.inspect(connection)
    for table in metadata.sorted_tables:
        if inspector.has_table(table.name):
            for index in table.indexes:
                index.create(connection, checkfirst=True)


def _upgrade(connection: sa.Connection) -> Migration:
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    config = _config()
    config.attributes["connection"] = connection
    before = _current(connection)
    stamped = before is None and _has_hub_tables(connection)
    if stamped:
        _add_missing_indexes(connection)
        command.stamp(config, BASELINE)
    command.upgrade(config, "head")
    after = _current(connection)
    assert after is not None
    return Migration(before=BASELINE if stamped else before, after=after, stamped=stamped)


async def migrate(engine: AsyncEngine, *, attempts: int = 5) -> Migration:
    """Upgrade the database to this hub's head revision; nothing happens at head."""
    for attempt in range(1, attempts + 1):
        try:
            async with engine.begin() as connection:
                return await connection.run_sync(_upgrade)
        except (sa.exc.OperationalError, sa.exc.ProgrammingError, sa.exc.IntegrityError, CommandError):
            # two SQLite processes creating one new database: the loser finds the tables when it looks again (or,
            # having seen the tables before the winner recorded its revision, stamps the baseline beside the
            # winner's head, which Alembic refuses as overlapping revisions; rolled back, it finds the head)
            if attempt == attempts:
                raise
            await asyncio.sleep(0.05 * attempt)
    raise AssertionError("unreachable")


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await connection.run_sync(_current)


async def require_head(engine: AsyncEngine) -> None:
    """Refuse a database this hub would misread (migrations at start switched off)."""
    current, head = await current_revision(engine), head_revision()
    if current != head:
        raise SchemaBehind(
            f"the database is at schema revision {current or 'none'}, this hub needs {head}: run `hub migrate`"
        )

"""Where a bench environment's hub processes keep their tracking store: a fresh SQLite file, or a fresh database
on a PostgreSQL server (given by URL, or a throw-away cluster the bench starts itself, as the tests do).

Several hub processes are a production shape only on PostgreSQL: on SQLite they share one file and its lock.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

SQLITE = "sqlite"
POSTGRESQL = "postgresql"
DATABASES = (SQLITE, POSTGRESQL)


def sqlite_url(workdir: Path) -> str:
    return f"sqlite+aiosqlite:///{workdir / 'hub.sqlite3'}"


def _libpq_dsn(url: str) -> str:
    """The SQLAlchemy URL as asyncpg takes it (no driver suffix)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def new_postgresql_database(server_url: str, *, prefix: str = "bench") -> str:
    """A new, empty database on the server `server_url` names (any database of it that the user may connect
    to); the hub's URL for it. The user must be allowed to create databases."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    connection = await asyncpg.connect(_libpq_dsn(server_url))
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return (
        make_url(server_url).set(drivername="postgresql+asyncpg", database=name).render_as_string(hide_password=False)
    )


async def drop_postgresql_database(url: str) -> None:
    """Drop the database `url` names, connected to the server's `postgres` database."""
    target = make_url(url)
    connection = await asyncpg.connect(
        _libpq_dsn(target.set(database="postgres").render_as_string(hide_password=False))
    )
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)')
    finally:
        await connection.close()


@contextlib.contextmanager
def postgresql_server() -> Iterator[str]:
    """A throw-away PostgreSQL cluster on a free loopback port (Debian's postgresql package, as `make test`
    installs it); the URL of its `postgres` database. Stopped and removed on exit."""
    from tests.postgres import running_cluster  # the tests' own cluster: development-only, like the bench

    with running_cluster() as cluster:
        yield cluster.url("postgres")

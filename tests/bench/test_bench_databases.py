"""The bench on PostgreSQL: the options, the scale-out plan (1, 2 and 3 hub processes), and a database of its
own for each environment, made and dropped on a real PostgreSQL server."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from bench.cli import _parser, config_from
from bench.databases import _libpq_dsn, drop_postgresql_database, new_postgresql_database, postgresql_server
from bench.scenarios import scaleout_hub_counts


def test_scale_out_runs_three_hub_processes_on_postgresql_and_two_on_sqlite(tmp_path: Path) -> None:
    on_postgresql = config_from(_parser().parse_args(["--database", "postgresql", "--out", str(tmp_path)]))
    on_sqlite = config_from(_parser().parse_args(["--out", str(tmp_path)]))
    assert (on_postgresql.database, on_postgresql.database_server) == ("postgresql", None)
    assert scaleout_hub_counts(on_postgresql) == (1, 2, 3)
    assert (on_sqlite.database, scaleout_hub_counts(on_sqlite)) == ("sqlite", (1, 2))


def test_a_server_url_is_only_for_postgresql(tmp_path: Path) -> None:
    given = ["--database", "postgresql", "--database-url", "postgresql+asyncpg://bench@db/postgres"]
    assert config_from(_parser().parse_args(given)).database_server == "postgresql+asyncpg://bench@db/postgres"
    with pytest.raises(SystemExit, match="--database-url is for --database postgresql"):
        config_from(_parser().parse_args(["--database-url", "postgresql+asyncpg://bench@db/postgres"]))


@pytest.mark.integration
async def test_each_environment_gets_a_database_of_its_own_and_it_is_dropped_afterwards() -> None:
    with postgresql_server() as server:
        first, second = await new_postgresql_database(server), await new_postgresql_database(server)
        assert first != second and first.startswith("postgresql+asyncpg://")
        connection = await asyncpg.connect(_libpq_dsn(first))
        try:
            assert await connection.fetchval("SELECT current_database()") == first.rsplit("/", 1)[1]
        finally:
            await connection.close()
        await drop_postgresql_database(first)
        listing = await asyncpg.connect(_libpq_dsn(server))
        try:
            names = {row["datname"] for row in await listing.fetch("SELECT datname FROM pg_database")}
        finally:
            await listing.close()
        assert first.rsplit("/", 1)[1] not in names and second.rsplit("/", 1)[1] in names

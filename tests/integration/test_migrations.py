"""Schema migrations on SQLite and PostgreSQL (``--database``): a new database, one made by release 0.1 before
the hub had migrations, a database migrated twice, and a hub that must not start on a schema it would misread."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from hub.store.engine import connect_database, open_database
from hub.store.migrate import BASELINE, SchemaBehind, current_revision, head_revision, migrate
from hub.store.tables import metadata
from hub.track.store import TrackingStore
from tests.integration import release_0_1_tables as release_0_1

NOW = "2026-12-03T10:00:00+00:00"


def _differences(connection: sa.Connection) -> list[object]:
    return list(compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), metadata))


async def test_a_new_database_is_migrated_to_exactly_the_hubs_tables(
    tmp_path: Path, new_database_url: Callable[[Path], str]
) -> None:
    engine = await open_database(new_database_url(tmp_path))
    try:
        assert await current_revision(engine) == head_revision()
        async with engine.connect() as connection:
            assert await connection.run_sync(_differences) == []
    finally:
        await engine.dispose()


async def test_migrating_twice_changes_nothing(tmp_path: Path, new_database_url: Callable[[Path], str]) -> None:
    engine = connect_database(new_database_url(tmp_path))
    try:
        first = await migrate(engine)
        again = await migrate(engine)
    finally:
        await engine.dispose()
    assert (first.before, first.after, first.changed) == (None, head_revision(), True)
    assert (again.before, again.after, again.changed, again.stamped) == (head_revision(), head_revision(), False, False)


async def _a_release_0_1_database(url: str) -> None:
    engine = connect_database(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(release_0_1.metadata.create_all)
            await connection.execute(
                release_0_1.messages.insert().values(
                    tracking_id="t-release-0-1",
                    message_id="m-1",
                    event="hospital-notification-message",
                    sender="sor:1234",
                    status="acknowledged",
                    routed=True,
                    routing_failed=False,
                    rejected=False,
                    received_at=NOW,
                    updated_at=NOW,
                )
            )
            await connection.execute(
                release_0_1.deliveries.insert().values(
                    tracking_id="t-release-0-1", receiver="sor:5678", status="acknowledged", attempts=1, updated_at=NOW
                )
            )
    finally:
        await engine.dispose()


async def test_hub_migrate_upgrades_a_database_made_by_release_0_1_and_keeps_its_rows(
    tmp_path: Path, new_database_url: Callable[[Path], str]
) -> None:
    url = new_database_url(tmp_path)
    await _a_release_0_1_database(url)

    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")} | {"HUB_DATABASE_URL": url}
    finished = subprocess.run(
        [sys.executable, "-m", "hub", "migrate"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert f"stamped with revision {BASELINE}" in finished.stdout
    assert f"schema migrated from revision {BASELINE} to {head_revision()}" in finished.stdout
    assert head_revision() != BASELINE  # a real upgrade, not only a stamp
    assert "password" not in finished.stdout.lower()

    store = await TrackingStore.open(url)
    try:
        assert await current_revision(store.engine) == head_revision()
        message = await store.get_message("t-release-0-1")
        assert message is not None
        assert message["status"] == "acknowledged"
        assert [r["receiver"] for r in message["receivers"]] == ["sor:5678"]
        async with store.engine.connect() as connection:
            assert await connection.run_sync(_differences) == []
    finally:
        await store.close()

    again = subprocess.run(
        [sys.executable, "-m", "hub", "migrate"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"schema at revision {head_revision()}, nothing to do" in again.stdout


async def test_with_migrations_at_start_off_a_database_behind_is_refused_with_the_command_to_run(
    tmp_path: Path, new_database_url: Callable[[Path], str]
) -> None:
    url = new_database_url(tmp_path)
    with pytest.raises(SchemaBehind, match=r"revision none, this hub needs .*run `hub migrate`"):
        await open_database(url, migrate_schema=False)
    engine = await open_database(url)  # migrated: now it opens either way
    await engine.dispose()
    engine = await open_database(url, migrate_schema=False)
    await engine.dispose()

"""Hub processes started together on a new database: each one creates the missing tables, none fails."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import inspect

from hub.store.engine import open_database
from hub.store.tables import metadata

OPEN = """
import asyncio, pathlib, sys, time
from hub.store.engine import open_database

async def main(url, go):
    while not pathlib.Path(go).exists():
        time.sleep(0.001)
    engine = await open_database(url)
    await engine.dispose()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def test_processes_opening_a_new_database_together_all_start(
    tmp_path: Path, new_database_url: Callable[[Path], str]
) -> None:
    for round_ in range(3):
        (tmp_path / str(round_)).mkdir()
        database = new_database_url(tmp_path / str(round_))
        go = tmp_path / f"go-{round_}"
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", OPEN, database, str(go)],
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(4)
        ]
        await asyncio.sleep(1.5)  # every process imported and waits at the start line
        go.touch()
        failures = [p.communicate(timeout=60)[1] for p in processes if p.wait(timeout=60) != 0]
        assert failures == []
        engine = await open_database(database)
        async with engine.connect() as connection:
            tables = set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
        await engine.dispose()
        assert set(metadata.tables) - tables == set()

"""Hub processes started together on a new database: each one creates the missing tables, none fails."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from hub.track.tables import metadata

OPEN = """
import asyncio, pathlib, sys, time
from hub.track.database import open_database

async def main(url, go):
    while not pathlib.Path(go).exists():
        time.sleep(0.001)
    engine = await open_database(url)
    await engine.dispose()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def test_processes_opening_a_new_database_together_all_start(tmp_path: Path) -> None:
    for round_ in range(3):
        database = tmp_path / f"hub-{round_}.sqlite3"
        go = tmp_path / f"go-{round_}"
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", OPEN, f"sqlite+aiosqlite:///{database}", str(go)],
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(4)
        ]
        time.sleep(1.5)  # every process imported and waits at the start line
        go.touch()
        failures = [p.communicate(timeout=60)[1] for p in processes if p.wait(timeout=60) != 0]
        assert failures == []
        with sqlite3.connect(database) as connection:
            tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert set(metadata.tables) - tables == set()

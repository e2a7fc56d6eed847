"""The retention purge on SQLite and PostgreSQL (``--database``): what has outlived its retention goes, nothing
unfinished goes, a dry run deletes nothing, the counts left name no patient, and the space is reclaimed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.store.engine import open_database
from hub.store.purge import Purge
from hub.store.retention import Kind, RetentionPolicy
from hub.store.tables import (
    acknowledgements,
    archive,
    dead_letters,
    deliveries,
    handed_over,
    mailbox,
    messages,
    purged,
    steps,
)

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
POLICY = RetentionPolicy(archive_days=30, tracking_days=90, mailbox_days=7, ledger_days=90, dead_letter_days=90)
CPR = "0101901234"
SENDER = "sor:1234567"
RECEIVER = "sor:7654321"


def ago(days: float) -> str:
    return (NOW - timedelta(days=days)).isoformat(timespec="microseconds")


async def _message(
    engine: AsyncEngine, tracking_id: str, *, status: str, days: float, event: str = "hospital-notification-message"
) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            messages.insert().values(
                tracking_id=tracking_id,
                message_id=f"m-{tracking_id}",
                event=event,
                sender=SENDER,
                patient=CPR,
                status=status,
                routed=True,
                routing_failed=False,
                rejected=status == "rejected",
                received_at=ago(days + 0.01),
                updated_at=ago(days),
            )
        )
        await connection.execute(
            deliveries.insert().values(
                tracking_id=tracking_id, receiver=RECEIVER, status=status, attempts=1, updated_at=ago(days)
            )
        )
        await connection.execute(
            steps.insert().values(id=f"s-{tracking_id}", tracking_id=tracking_id, at=ago(days), step="received")
        )
        await connection.execute(
            archive.insert().values(
                tracking_id=tracking_id,
                sender_sor=SENDER,
                connector="http",
                received_at=ago(days + 0.01),
                key=CPR.encode(),
                raw=b"{" + b"x" * 20_000 + b"}",
            )
        )


async def _fill(engine: AsyncEngine) -> None:
    await _message(engine, "acked-100", status="acknowledged", days=100)  # everything goes
    await _message(engine, "acked-40", status="acknowledged", days=40)  # raw bytes go, tracking stays
    await _message(engine, "acked-5", status="acknowledged", days=5)  # stays
    await _message(engine, "rejected-100", status="rejected", days=100)  # goes
    await _message(engine, "ack-msg-100", status="delivered", days=100, event="acknowledgement-message")  # goes
    await _message(engine, "failed-400", status="failed", days=400)  # unfinished: stays
    await _message(engine, "routed-400", status="routed", days=400)  # unfinished: stays
    await _message(engine, "delivered-400", status="delivered", days=400)  # waits for its acknowledgement: stays
    async with engine.begin() as connection:
        await connection.execute(
            mailbox.insert(),
            [
                {
                    "receiver": RECEIVER,
                    "tracking_id": "acked-100",
                    "message_id": "m-1",
                    "body": b"{}",
                    "created_at": ago(20),
                    "fetched_at": ago(10),
                },  # taken 10 days ago: goes
                {
                    "receiver": RECEIVER,
                    "tracking_id": "acked-5",
                    "message_id": "m-2",
                    "body": b"{}",
                    "created_at": ago(20),
                    "fetched_at": ago(2),
                },  # stays
                {
                    "receiver": RECEIVER,
                    "tracking_id": "routed-400",
                    "message_id": "m-3",
                    "body": b"{}",
                    "created_at": ago(400),
                    "fetched_at": None,
                },  # not taken: stays
            ],
        )
        await connection.execute(
            handed_over.insert(),
            [
                {"sender": SENDER, "message_id": "m-old", "receiver": RECEIVER, "tracking_id": "x", "at": ago(100)},
                {"sender": SENDER, "message_id": "m-new", "receiver": RECEIVER, "tracking_id": "y", "at": ago(10)},
            ],
        )
        await connection.execute(
            acknowledgements.insert(),
            [
                {
                    "sender": SENDER,
                    "message_id": "m-old",
                    "receiver": RECEIVER,
                    "code": "ok",
                    "raw": b"{}",
                    "at": ago(100),
                },
                {
                    "sender": SENDER,
                    "message_id": "m-new",
                    "receiver": RECEIVER,
                    "code": "ok",
                    "raw": b"{}",
                    "at": ago(10),
                },
            ],
        )
        dead: dict[str, Any] = {
            "receiver": RECEIVER,
            "tracking_id": "t",
            "message_id": "m",
            "sender": SENDER,
            "raw": b"{}",
            "reason": "refused",
            "attempts": "[]",
        }
        await connection.execute(
            dead_letters.insert(),
            [
                {**dead, "dead_at": ago(200), "redriven_at": ago(100)},  # redriven long ago: goes
                {**dead, "dead_at": ago(400), "redriven_at": None},  # never redriven: stays
            ],
        )


async def _left(engine: AsyncEngine) -> dict[str, Any]:
    async with engine.connect() as connection:

        async def column(query: sa.Select[Any]) -> list[Any]:
            return sorted((await connection.execute(query)).scalars())

        return {
            "messages": await column(sa.select(messages.c.tracking_id)),
            "deliveries": await column(sa.select(deliveries.c.tracking_id)),
            "steps": await column(sa.select(steps.c.tracking_id)),
            "archive": await column(sa.select(archive.c.tracking_id)),
            "mailbox": await column(sa.select(mailbox.c.message_id)),
            "handed_over": await column(sa.select(handed_over.c.message_id)),
            "acknowledgements": await column(sa.select(acknowledgements.c.message_id)),
            "dead_letters": await column(sa.select(dead_letters.c.dead_at)),
        }


UNFINISHED = ["delivered-400", "failed-400", "routed-400"]


async def test_purge_deletes_what_outlived_its_retention_and_nothing_unfinished(
    tmp_path: Path, new_database_url: Callable[[Path], str]
) -> None:
    engine = await open_database(new_database_url(tmp_path))
    try:
        await _fill(engine)
        before = await _left(engine)
        purge = Purge(engine, POLICY)

        dry = await purge.run(now=NOW, dry_run=True)
        assert await _left(engine) == before
        assert dry.totals() == {
            "archive": 4,
            "tracking": 3,
            "mailbox": 1,
            "ledger": 2,
            "dead_letters": 1,
            "read_audit": 0,
        }

        done = await purge.run(now=NOW)
        assert done.totals() == dry.totals()
        left = await _left(engine)
        tracked = sorted(["acked-40", "acked-5", *UNFINISHED])
        assert left["messages"] == left["deliveries"] == left["steps"] == tracked
        assert left["archive"] == sorted(["acked-5", *UNFINISHED])
        assert left["mailbox"] == ["m-2", "m-3"]
        assert left["handed_over"] == left["acknowledgements"] == ["m-new"]
        assert left["dead_letters"] == [ago(400)]

        # a second purge finds nothing more; the tracking rows of acked-40 go once their time has come
        assert sum((await purge.run(now=NOW)).totals().values()) == 0
        later = await purge.run(now=NOW + timedelta(days=60))
        assert later.total(Kind.TRACKING) == 1
        assert sorted((await _left(engine))["messages"]) == sorted(["acked-5", *UNFINISHED])

        async with engine.connect() as connection:
            counts = (await connection.execute(sa.select(purged))).mappings().all()
        assert sum(row["count"] for row in counts if row["kind"] == "tracking") == 4
        archive_groups = {(r["day"], r["event"], r["sender"], r["status"]) for r in counts if r["kind"] == "archive"}
        assert (ago(100.01)[:10], "hospital-notification-message", SENDER, "acknowledged") in archive_groups
        assert not any(re.search(r"\d{10}", str(value)) for row in counts for value in row.values())
    finally:
        await engine.dispose()


async def test_the_space_of_what_was_purged_is_reclaimed(
    tmp_path: Path, new_database_url: Callable[[Path], str]
) -> None:
    engine = await open_database(new_database_url(tmp_path))
    try:
        for n in range(60):
            await _message(engine, f"old-{n}", status="acknowledged", days=200)
        purge = Purge(engine, POLICY)
        size_before = await _size(engine, tmp_path)
        assert (await purge.run(now=NOW)).total(Kind.ARCHIVE) == 60
        done = await purge.reclaim_space()
        if engine.dialect.name == "sqlite":
            assert done == "incremental vacuum"
            async with engine.connect() as connection:
                assert await connection.scalar(sa.text("PRAGMA freelist_count")) == 0
            assert await _size(engine, tmp_path) < size_before / 2
        else:
            assert done == "vacuum"
            async with engine.connect() as connection:
                vacuumed = await connection.scalar(
                    sa.text("SELECT last_vacuum IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'archive'")
                )
            assert vacuumed
    finally:
        await engine.dispose()


async def _size(engine: AsyncEngine, directory: Path) -> int:
    if engine.dialect.name == "sqlite":
        async with engine.connect() as connection:
            await connection.execute(sa.text("PRAGMA wal_checkpoint(TRUNCATE)"))
        return (directory / "hub.sqlite3").stat().st_size
    return 0


async def test_hub_purge_dry_run_counts_and_deletes_nothing(
    tmp_path: Path, new_database_url: Callable[[Path], str]
) -> None:
    url = new_database_url(tmp_path)
    engine = await open_database(url)
    try:
        await _message(engine, "old", status="acknowledged", days=10_000)
    finally:
        await engine.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")} | {"HUB_DATABASE_URL": url}
    finished = subprocess.run(
        [sys.executable, "-m", "hub", "purge", "--dry-run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert re.search(r"archive\s+would delete\s+1\s+\(kept 30 days\)", finished.stdout), finished.stdout
    assert re.search(r"tracking\s+would delete\s+1\s+\(kept 90 days\)", finished.stdout), finished.stdout
    engine = await open_database(url)
    try:
        assert (await _left(engine))["archive"] == ["old"]
    finally:
        await engine.dispose()

    wrong = subprocess.run(
        [sys.executable, "-m", "hub", "purge", "--dry-run"],
        env=env | {"HUB_RETENTION_ARCHIVE_DAYS": "100"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert wrong.returncode == 2
    assert "HUB_RETENTION_ARCHIVE_DAYS (100) must not be longer than HUB_RETENTION_TRACKING_DAYS (90)" in wrong.stderr

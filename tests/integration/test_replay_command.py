"""``hub replay``: accepted messages the broker lost are published again from the archive."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from hub.broker.embedded import EmbeddedBroker
from hub.store.engine import open_database
from hub.track.archive import ArchivedMessage, MessageArchive
from tests.integration.hubtest import ROOT, eventually, hub_environment

pytestmark = pytest.mark.integration


async def test_replay_publishes_unfinished_archived_messages(
    broker: EmbeddedBroker, tmp_path: Path, new_database_url: Callable[[Path], str]
) -> None:
    database = new_database_url(tmp_path)
    engine = await open_database(database)
    archive = MessageArchive(engine)
    for n in range(3):
        await archive.keep(
            ArchivedMessage(f"t-{n}", "265161000016000", "http", f"2026-01-01T00:00:0{n}+00:00", b"k", b"{}")
        )
    await engine.dispose()
    env = hub_environment(
        KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap_servers, HUB_DATABASE_URL=database, HUB_TOPIC_PREFIX="replay."
    )
    done = subprocess.run(
        [sys.executable, "-m", "hub", "replay"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "published 3 accepted, unfinished messages" in done.stdout

    consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap_servers, auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign([TopicPartition("replay.ingress", p) for p in range(8)])
        seen: list[bytes] = []

        async def all_three() -> bool:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                seen.extend(dict(r.headers)["hub-tracking-id"] for r in records)
            return len(seen) >= 3

        assert await eventually(all_three, timeout=30)
        assert sorted(seen) == [b"t-0", b"t-1", b"t-2"]
    finally:
        await consumer.stop()

    without_broker = subprocess.run(
        [sys.executable, "-m", "hub", "replay"],
        cwd=ROOT,
        env=hub_environment(HUB_DATABASE_URL=database),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert without_broker.returncode == 2
    assert "KAFKA_BOOTSTRAP_SERVERS" in without_broker.stderr

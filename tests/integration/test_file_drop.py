"""The file drop against the real embedded broker: files in, records on the ingress topic, restart mid-batch.

Each test gets its own topics, so the records on them are exactly what the file drop published.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord

from connectors.file_drop import FileDrop
from connectors.intake import Intake
from connectors.kafka_producer import Publish, ingress_publisher
from hub.broker.clients import Publisher, make_producer
from hub.broker.embedded import EmbeddedBroker
from hub.broker.records import IngressRecord
from hub.broker.topics import Topics, ensure_topics
from hub.route.register import Organisation
from hub.simulate import MessageGenerator
from tests.mailbox_organisations import MAILBOX_HOSPITAL as HOSPITAL
from tests.mailbox_organisations import MAILBOX_MUNICIPALITY as MUNICIPALITY

pytestmark = pytest.mark.integration

NOW = datetime(2024, 5, 8, 10, 31, 7, tzinfo=timezone(timedelta(hours=2)))


def sender_for(name: str) -> Organisation | None:
    return next((o for o in (HOSPITAL, MUNICIPALITY) if name in (o.id, o.sor)), None)


class Crash(BaseException):
    """The hub process dies."""


class Ingress:
    def __init__(self, bootstrap_servers: str, topic: str, publish: Publish) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.publish = publish

    async def records(self, *, expected: int, settle: float = 1.0) -> list[ConsumerRecord[bytes, bytes]]:
        """Every record of the topic: waits for `expected`, then `settle` seconds more for any extra."""
        consumer = AIOKafkaConsumer(
            self.topic,
            bootstrap_servers=self.bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        found: list[ConsumerRecord[bytes, bytes]] = []
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 15.0
            while loop.time() < deadline:
                batches = await consumer.getmany(timeout_ms=200)
                found.extend(record for batch in batches.values() for record in batch)
                if len(found) >= expected:
                    deadline = min(deadline, loop.time() + settle)
        finally:
            await consumer.stop()
        return found


@pytest.fixture
async def ingress(broker: EmbeddedBroker) -> AsyncIterator[Ingress]:
    topics = Topics(f"itest-file-{uuid.uuid4().hex[:10]}.")
    await ensure_topics(broker.bootstrap_servers, topics, partitions=2)
    producer = make_producer(broker.bootstrap_servers, max_request_size=2 * 1024 * 1024)
    await producer.start()
    try:
        yield Ingress(broker.bootstrap_servers, topics.ingress, ingress_publisher(Publisher(producer), topics.ingress))
    finally:
        await producer.stop()


def batch(count: int, seed: int) -> list[bytes]:
    generator = MessageGenerator(seed)
    return [
        orjson.dumps(generator.hospital_notification(sender=HOSPITAL.ref, receiver=MUNICIPALITY.ref, now=NOW))
        for _ in range(count)
    ]


def drop_batch(root: Path, raws: list[bytes]) -> list[str]:
    """Write the batch the way a sender should: a temporary name, then renamed into place; oldest first."""
    incoming = root / HOSPITAL.id / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    names = []
    for i, raw in enumerate(raws):
        name = f"hn-{i:04d}.json"
        temporary = incoming / f"{name}.part"
        temporary.write_bytes(raw)
        stamp = temporary.stat().st_mtime - 100 + i
        os.utime(temporary, (stamp, stamp))
        temporary.rename(incoming / name)
        names.append(name)
    return names


def bundle_ids(records: list[ConsumerRecord[bytes, bytes]]) -> list[str]:
    return [orjson.loads(record.value)["id"] for record in records]


async def test_files_are_published_unchanged_with_the_contract_headers_and_moved_to_done(
    ingress: Ingress, tmp_path: Path
) -> None:
    raws = batch(3, seed=21)
    drop_batch(tmp_path, raws)
    refused = tmp_path / HOSPITAL.id / "incoming" / "broken.json"
    refused.write_bytes(b'{"resourceType": "Bundle",')
    watcher = FileDrop(tmp_path, intake=Intake(ingress.publish), sender_for=sender_for, poll_interval=0.05)
    try:
        await watcher.poll_once()
        report = await watcher.poll_once()
    finally:
        watcher.close()
    assert report.published == ["hn-0000.json", "hn-0001.json", "hn-0002.json"]
    assert report.refused == ["broken.json"]

    records = await ingress.records(expected=3)
    assert sorted(record.value for record in records) == sorted(raws)  # the bytes exactly as dropped
    for record in records:
        headers = {key: value.decode() for key, value in record.headers}
        assert headers["hub-connector"] == "file"
        assert headers["hub-sender-sor"] == HOSPITAL.sor
        incoming = IngressRecord.from_kafka(record.key, record.value, record.headers)
        assert incoming.tracking_id
        cpr = orjson.loads(record.value)["entry"][1]["resource"]["identifier"][0]["value"]
        assert record.key == cpr.encode()
    assert sorted(p.name for p in (tmp_path / HOSPITAL.id / "done").iterdir()) == report.published
    assert (tmp_path / HOSPITAL.id / "error" / "broken.json.outcome.json").is_file()


async def test_a_restart_mid_batch_neither_loses_nor_publishes_twice(ingress: Ingress, tmp_path: Path) -> None:
    raws = batch(6, seed=22)
    names = drop_batch(tmp_path, raws)

    class DiesAfterPublishingTheFourth(FileDrop):
        moves = 0

        def _move_to_done(self, path: Path) -> None:
            self.moves += 1
            if self.moves == 4:
                raise Crash  # the fourth file is on the topic, its marker written, the file not yet moved
            super()._move_to_done(path)

    first = DiesAfterPublishingTheFourth(tmp_path, intake=Intake(ingress.publish), sender_for=sender_for)
    await first.poll_once()
    with pytest.raises(Crash):
        await first.poll_once()
    first.close()
    incoming = tmp_path / HOSPITAL.id / "incoming"
    assert sorted(p.name for p in incoming.iterdir()) == names[3:]
    assert len(await ingress.records(expected=4)) == 4

    restarted = FileDrop(tmp_path, intake=Intake(ingress.publish), sender_for=sender_for, poll_interval=0.05)
    task = asyncio.create_task(restarted.run())
    try:
        for _ in range(200):
            if not any(incoming.iterdir()):
                break
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    records = await ingress.records(expected=6)
    ids = bundle_ids(records)
    assert len(records) == 6, ids  # no loss, no double publish
    assert sorted(ids) == sorted(orjson.loads(raw)["id"] for raw in raws)
    assert sorted(p.name for p in (tmp_path / HOSPITAL.id / "done").iterdir()) == names
    assert [p.name for p in (tmp_path / ".journal").iterdir()] == ["lock"]


async def test_while_the_broker_refuses_nothing_moves_and_nothing_is_lost(ingress: Ingress, tmp_path: Path) -> None:
    raws = batch(2, seed=23)
    names = drop_batch(tmp_path, raws)
    down = True

    async def publish(record: IngressRecord) -> None:
        if down:
            raise ConnectionError("broker unreachable")
        await ingress.publish(record)

    watcher = FileDrop(tmp_path, intake=Intake(publish), sender_for=sender_for)
    try:
        for _ in range(3):
            assert (await watcher.poll_once()).published == []
        assert sorted(p.name for p in (tmp_path / HOSPITAL.id / "incoming").iterdir()) == names
        down = False
        assert (await watcher.poll_once()).published == names
    finally:
        watcher.close()
    assert sorted(bundle_ids(await ingress.records(expected=2))) == sorted(orjson.loads(r)["id"] for r in raws)

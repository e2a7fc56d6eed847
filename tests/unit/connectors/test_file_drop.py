"""The file drop, with a publish that records: completeness, refusals, journal and restart, lock."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest

from connectors.file_drop import FileDrop
from connectors.intake import Intake
from hub.broker.records import IngressRecord
from hub.fhirxml import jsontext
from hub.fhirxml.writer import write_xml
from hub.route.register import Organisation
from hub.simulate import MessageGenerator
from tests.mailbox_organisations import MAILBOX_HOSPITAL as HOSPITAL
from tests.mailbox_organisations import MAILBOX_MUNICIPALITY as MUNICIPALITY

NOW = datetime(2024, 5, 8, 10, 31, 7, tzinfo=timezone(timedelta(hours=2)))


def sender_for(name: str) -> Organisation | None:
    return next((o for o in (HOSPITAL, MUNICIPALITY) if name in (o.id, o.sor)), None)


class Recorder:
    def __init__(self) -> None:
        self.records: list[IngressRecord] = []
        self.fail = False

    async def __call__(self, record: IngressRecord) -> None:
        if self.fail:
            raise ConnectionError("broker unreachable")
        self.records.append(record)


class Crash(BaseException):
    """The process dies."""


def messages(count: int, *, seed: int = 11, sender: Organisation = HOSPITAL) -> list[bytes]:
    generator = MessageGenerator(seed)
    return [
        orjson.dumps(generator.hospital_notification(sender=sender.ref, receiver=MUNICIPALITY.ref, now=NOW))
        for _ in range(count)
    ]


def drop(root: Path, sender: str, name: str, raw: bytes, *, age: int = 0) -> Path:
    incoming = root / sender / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    path = incoming / name
    path.write_bytes(raw)
    if age:
        stamp = path.stat().st_mtime - age
        os.utime(path, (stamp, stamp))
    return path


def files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []


async def poll_twice(watcher: FileDrop) -> None:
    await watcher.poll_once()
    await watcher.poll_once()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def watcher(tmp_path: Path, recorder: Recorder) -> Iterator[FileDrop]:
    watching = FileDrop(tmp_path, intake=Intake(recorder), sender_for=sender_for, poll_interval=0.05)
    yield watching
    watching.close()


async def test_a_file_is_taken_once_it_is_stable_published_unchanged_and_moved_to_done(
    tmp_path: Path, watcher: FileDrop, recorder: Recorder
) -> None:
    raw = messages(1)[0]
    drop(tmp_path, HOSPITAL.id, "stin-0001.json", raw)
    first = await watcher.poll_once()
    assert first.waiting == 1 and recorder.records == []
    second = await watcher.poll_once()
    assert second.published == ["stin-0001.json"]
    [record] = recorder.records
    assert record.raw == raw
    assert (record.connector, record.sender_sor) == ("file", HOSPITAL.sor)
    cpr = orjson.loads(raw)["entry"][1]["resource"]["identifier"][0]["value"]
    assert record.key == cpr.encode()
    assert files(tmp_path / HOSPITAL.id / "incoming") == []
    assert (tmp_path / HOSPITAL.id / "done" / "stin-0001.json").read_bytes() == raw
    assert files(tmp_path / ".journal") == ["lock"]
    assert (await watcher.poll_once()).published == []


async def test_a_batch_is_published_oldest_first(tmp_path: Path, watcher: FileDrop, recorder: Recorder) -> None:
    batch = messages(3)
    for age, (name, raw) in zip((10, 30, 20), zip(("b.json", "a.json", "c.json"), batch, strict=True), strict=True):
        drop(tmp_path, HOSPITAL.id, name, raw, age=age)
    await poll_twice(watcher)
    assert [r.raw for r in recorder.records] == [batch[1], batch[2], batch[0]]


async def test_temporary_names_are_never_read(tmp_path: Path, watcher: FileDrop, recorder: Recorder) -> None:
    raw = messages(1)[0]
    for name in (".stin.json", "stin.json.tmp", "stin.json.part"):
        drop(tmp_path, HOSPITAL.id, name, raw)
    for _ in range(3):
        await watcher.poll_once()
    assert recorder.records == []
    assert files(tmp_path / HOSPITAL.id / "incoming") == [".stin.json", "stin.json.part", "stin.json.tmp"]
    # renamed into place, it is taken
    (tmp_path / HOSPITAL.id / "incoming" / "stin.json.tmp").rename(tmp_path / HOSPITAL.id / "incoming" / "stin.json")
    await poll_twice(watcher)
    assert len(recorder.records) == 1


async def test_a_file_still_being_written_waits(tmp_path: Path, watcher: FileDrop, recorder: Recorder) -> None:
    raw = messages(1)[0]
    path = drop(tmp_path, HOSPITAL.id, "growing.json", raw[:100])
    await watcher.poll_once()
    path.write_bytes(raw)
    assert (await watcher.poll_once()).waiting == 1
    assert recorder.records == []
    await watcher.poll_once()
    assert [r.raw for r in recorder.records] == [raw]


def _outcome(tmp_path: Path, sender: str, name: str) -> dict[str, Any]:
    error = tmp_path / sender / "error"
    assert (error / name).is_file()
    outcome: dict[str, Any] = orjson.loads((error / f"{name}.outcome.json").read_bytes())
    assert outcome["resourceType"] == "OperationOutcome"
    return outcome


@pytest.mark.parametrize(
    ("sender", "name", "content", "diagnostics"),
    [
        (HOSPITAL.id, "broken.json", b'{"resourceType": "Bundle", ', "JSON"),
        (HOSPITAL.id, "patient.json", b'{"resourceType": "Patient"}', "Bundle"),
        (HOSPITAL.id, "letter.txt", b"<Bundle/>", "only *.json and *.xml files are read"),
        (HOSPITAL.id, "letter.xml", b"<Bundle/>", "not FHIR's"),
        (HOSPITAL.id, "letter.xml", messages(1)[0], "not well-formed XML"),
        ("unknown-hospital", "stin.json", None, "the directory 'unknown-hospital' names no organisation"),
        (MUNICIPALITY.id, "stin.json", None, "MessageHeader.sender has SOR code 265161000016000"),
    ],
)
async def test_refused_files_go_to_error_with_an_operation_outcome(
    tmp_path: Path,
    watcher: FileDrop,
    recorder: Recorder,
    sender: str,
    name: str,
    content: bytes | None,
    diagnostics: str,
) -> None:
    raw = content if content is not None else messages(1)[0]
    drop(tmp_path, sender, name, raw)
    await watcher.poll_once()
    report = await watcher.poll_once()
    assert report.refused == [name]
    assert recorder.records == []
    outcome = _outcome(tmp_path, sender, name)
    assert diagnostics in " ".join(issue["diagnostics"] for issue in outcome["issue"])
    assert (tmp_path / sender / "error" / name).read_bytes() == raw  # unchanged, nothing deleted


async def test_a_symbolic_link_is_refused_unread(tmp_path: Path, watcher: FileDrop, recorder: Recorder) -> None:
    secret = tmp_path / "secret.json"
    secret.write_bytes(messages(1)[0])
    incoming = tmp_path / HOSPITAL.id / "incoming"
    incoming.mkdir(parents=True)
    (incoming / "link.json").symlink_to(secret)
    await poll_twice(watcher)
    assert recorder.records == []
    assert (tmp_path / HOSPITAL.id / "error" / "link.json").is_symlink()
    assert "symbolic links" in _outcome(tmp_path, HOSPITAL.id, "link.json")["issue"][0]["diagnostics"]
    assert secret.is_file()


async def test_a_file_that_is_too_large_is_refused_unread(tmp_path: Path, recorder: Recorder) -> None:
    watcher = FileDrop(tmp_path, intake=Intake(recorder), sender_for=sender_for, max_bytes=1000)
    drop(tmp_path, HOSPITAL.id, "big.json", messages(1)[0])
    await poll_twice(watcher)
    outcome = _outcome(tmp_path, HOSPITAL.id, "big.json")
    assert outcome["issue"][0]["code"] == "too-costly"
    assert recorder.records == []


async def test_the_sender_directory_may_be_named_by_sor_code(tmp_path: Path, watcher: FileDrop) -> None:
    drop(tmp_path, HOSPITAL.sor, "stin.json", messages(1)[0])
    await watcher.poll_once()
    assert (await watcher.poll_once()).published == ["stin.json"]


async def test_names_taken_in_done_and_error_get_a_number(tmp_path: Path, watcher: FileDrop) -> None:
    first, second = messages(2)
    for raw in (first, second):
        drop(tmp_path, HOSPITAL.id, "stin.json", raw)
        await poll_twice(watcher)
    assert files(tmp_path / HOSPITAL.id / "done") == ["stin.1.json", "stin.json"]
    assert (tmp_path / HOSPITAL.id / "done" / "stin.1.json").read_bytes() == second
    for _ in range(2):
        drop(tmp_path, HOSPITAL.id, "bad.json", b"not json")
        await poll_twice(watcher)
    assert files(tmp_path / HOSPITAL.id / "error") == [
        "bad.1.json",
        "bad.1.json.outcome.json",
        "bad.json",
        "bad.json.outcome.json",
    ]


async def test_a_failed_publish_leaves_the_batch_in_incoming(
    tmp_path: Path, watcher: FileDrop, recorder: Recorder
) -> None:
    batch = messages(2)
    for i, raw in enumerate(batch):
        drop(tmp_path, HOSPITAL.id, f"m{i}.json", raw, age=10 - i)
    recorder.fail = True
    await poll_twice(watcher)
    assert files(tmp_path / HOSPITAL.id / "incoming") == ["m0.json", "m1.json"]
    assert files(tmp_path / ".journal") == ["lock"]
    recorder.fail = False
    report = await watcher.poll_once()
    assert report.published == ["m0.json", "m1.json"]
    assert [r.raw for r in recorder.records] == batch


async def test_a_crash_between_publish_and_move_neither_loses_nor_publishes_twice(
    tmp_path: Path, recorder: Recorder
) -> None:
    batch = messages(4)
    for i, raw in enumerate(batch):
        drop(tmp_path, HOSPITAL.id, f"m{i}.json", raw, age=10 - i)

    class CrashingOnThirdMove(FileDrop):
        moves = 0

        def _move_to_done(self, path: Path) -> None:
            self.moves += 1
            if self.moves == 3:
                raise Crash
            super()._move_to_done(path)

    before = CrashingOnThirdMove(tmp_path, intake=Intake(recorder), sender_for=sender_for)
    await before.poll_once()
    with pytest.raises(Crash):
        await before.poll_once()
    before.close()
    assert [r.raw for r in recorder.records] == batch[:3]
    assert files(tmp_path / HOSPITAL.id / "incoming") == ["m2.json", "m3.json"]
    assert len(files(tmp_path / ".journal")) == 2  # the lock and m2's marker

    after = FileDrop(tmp_path, intake=Intake(recorder), sender_for=sender_for)
    await after.poll_once()
    report = await after.poll_once()
    assert report.moved_without_publishing == ["m2.json"]
    assert report.published == ["m3.json"]
    assert [r.raw for r in recorder.records] == batch
    assert files(tmp_path / HOSPITAL.id / "done") == ["m0.json", "m1.json", "m2.json", "m3.json"]
    assert files(tmp_path / ".journal") == ["lock"]


async def test_a_marker_left_after_the_move_is_removed_at_start(tmp_path: Path, recorder: Recorder) -> None:
    journal = tmp_path / ".journal"
    journal.mkdir()
    (journal / ("ab" * 32)).write_bytes(b'{"file": "herlev-hjerte/incoming/gone.json"}')
    await FileDrop(tmp_path, intake=Intake(recorder), sender_for=sender_for).poll_once()
    assert files(journal) == ["lock"]


async def test_only_one_process_watches_a_directory(tmp_path: Path, recorder: Recorder) -> None:
    first = FileDrop(tmp_path, intake=Intake(recorder), sender_for=sender_for)
    second = FileDrop(tmp_path, intake=Intake(recorder), sender_for=sender_for)
    drop(tmp_path, HOSPITAL.id, "stin.json", messages(1)[0])
    await first.poll_once()
    await poll_twice(second)
    assert recorder.records == []
    await first.poll_once()
    assert len(recorder.records) == 1
    first.close()
    drop(tmp_path, HOSPITAL.id, "stin-2.json", messages(2)[1])
    await poll_twice(second)
    assert len(recorder.records) == 2
    second.close()


async def test_run_polls_until_asked_to_stop(tmp_path: Path, watcher: FileDrop, recorder: Recorder) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(watcher.run(stop))
    drop(tmp_path, HOSPITAL.id, "stin.json", messages(1)[0])
    for _ in range(100):
        if recorder.records:
            break
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert len(recorder.records) == 1
    # the lock was released: another watcher can take over
    other = FileDrop(tmp_path, intake=Intake(recorder), sender_for=sender_for)
    drop(tmp_path, HOSPITAL.id, "stin-2.json", messages(2)[1])
    await poll_twice(other)
    other.close()
    assert len(recorder.records) == 2


async def test_a_stopping_hub_finishes_the_file_in_hand_and_leaves_the_rest(tmp_path: Path, recorder: Recorder) -> None:
    stop = asyncio.Event()

    async def publish_then_stop(record: IngressRecord) -> None:
        await recorder(record)
        stop.set()

    batch = messages(3)
    for i, raw in enumerate(batch):
        drop(tmp_path, HOSPITAL.id, f"m{i}.json", raw, age=10 - i)
    watcher = FileDrop(tmp_path, intake=Intake(publish_then_stop), sender_for=sender_for, poll_interval=0.01)
    await asyncio.wait_for(watcher.run(stop), 5)
    assert [r.raw for r in recorder.records] == batch[:1]
    assert files(tmp_path / HOSPITAL.id / "done") == ["m0.json"]
    assert files(tmp_path / HOSPITAL.id / "incoming") == ["m1.json", "m2.json"]


async def test_an_xml_file_is_published_as_it_is_with_its_media_type(
    tmp_path: Path, watcher: FileDrop, recorder: Recorder
) -> None:
    raw = write_xml(jsontext.loads(messages(1)[0]), pretty=True)
    drop(tmp_path, HOSPITAL.id, "stin-0001.xml", raw)
    await poll_twice(watcher)
    [record] = recorder.records
    assert (record.raw, record.content_type) == (raw, "application/fhir+xml")
    assert ("content-type", b"application/fhir+xml") in record.headers()
    assert (tmp_path / HOSPITAL.id / "done" / "stin-0001.xml").read_bytes() == raw

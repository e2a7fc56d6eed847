"""Validation in worker processes gives exactly the verdicts of the hub's own process, and survives a worker
that dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from hub.validate.pool import InProcess, ValidationPool
from hub.validate.validator import Validator

HOSTILE = [
    b"",
    b"not json",
    b"\xef\xbb\xbf" + orjson.dumps({"resourceType": "Bundle", "type": "message"}),
    b"[" * 200 + b"]" * 200,
    orjson.dumps({"resourceType": "Patient"}),
    b'{"resourceType": "Bundle", "entry": "not a list"}',
]


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator()


@pytest.fixture
async def pool(validator: Validator) -> AsyncIterator[ValidationPool]:
    started = ValidationPool(validator, processes=2)
    await started.start()
    yield started
    await started.close()


def messages(example_paths: list[Path]) -> list[bytes]:
    raws = [path.read_bytes() for path in example_paths]
    broken = orjson.loads(raws[0])
    broken["entry"][0]["resource"]["eventCoding"]["code"] = "no-such-event"
    return [*raws, orjson.dumps(broken), *HOSTILE]


async def test_the_pool_gives_the_verdicts_of_the_hubs_own_process(
    pool: ValidationPool, validator: Validator, example_paths: list[Path]
) -> None:
    raws = messages(example_paths)
    expected = await InProcess(validator).validate_all(raws)
    found = await pool.validate_all(raws)
    assert found == expected
    assert sum(verdict.valid for verdict in found) == len(example_paths)  # and the faulty ones are faulty


async def test_a_worker_that_dies_is_replaced_and_no_batch_is_lost(
    pool: ValidationPool, validator: Validator, example_paths: list[Path]
) -> None:
    raws = messages(example_paths)
    expected = await InProcess(validator).validate_all(raws)
    executor = pool._executor
    assert executor is not None
    for pid in list(executor._processes):
        os.kill(pid, signal.SIGKILL)
    assert await pool.validate_all(raws) == expected  # this batch: in the hub's own process
    assert pool._executor is not executor  # a new pool, which validates the next batch
    assert await pool.validate_all(raws) == expected


async def test_an_empty_batch_needs_no_worker(pool: ValidationPool) -> None:
    assert await pool.validate_all([]) == []


HUB_WITH_POOL = """
import asyncio, sys, time
from hub.validate.pool import ValidationPool
from hub.validate.validator import Validator

async def main():
    pool = ValidationPool(Validator(), processes=2)
    await pool.start()
    print(" ".join(str(pid) for pid in pool._executor._processes), flush=True)
    time.sleep(600)

asyncio.run(main())
"""


def test_workers_exit_when_the_hub_is_killed() -> None:
    hub = subprocess.Popen([sys.executable, "-c", HUB_WITH_POOL], stdout=subprocess.PIPE, text=True)
    assert hub.stdout is not None
    workers = [int(pid) for pid in hub.stdout.readline().split()]
    assert len(workers) == 2 and all(_alive(pid) for pid in workers)
    hub.kill()
    hub.wait(timeout=10)
    deadline = time.monotonic() + 15
    try:
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(pid) for pid in workers)
    finally:
        for pid in filter(_alive, workers):
            os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"

"""A Ctrl-C in the terminal (SIGINT to the whole process group) is the hub's to handle: the validation workers
ignore it, keep validating until the hub closes the pool, and print no traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

HUB_WITH_POOL = """
import asyncio, signal
from hub.validate.pool import ValidationPool
from hub.validate.validator import Validator

async def main():
    pool = ValidationPool(Validator(), processes=2)
    await pool.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGINT, stop.set)
    executor = pool._executor
    print(" ".join(str(pid) for pid in executor._processes), flush=True)
    await stop.wait()
    verdicts = await pool.validate_all([b"not json"] * 4)
    print("validated", len(verdicts), "same pool", pool._executor is executor, flush=True)
    await pool.close()
    print("closed", flush=True)

asyncio.run(main())
"""


def test_sigint_to_the_process_group_leaves_the_workers_to_the_hub() -> None:
    hub = subprocess.Popen(
        [sys.executable, "-c", HUB_WITH_POOL],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal gives a command
    )
    try:
        assert hub.stdout is not None
        workers = hub.stdout.readline().split()
        assert len(workers) == 2, hub.stderr.read() if hub.stderr else ""
        os.killpg(hub.pid, signal.SIGINT)  # what Ctrl-C does
        out, err = hub.communicate(timeout=60)
    finally:
        if hub.poll() is None:
            os.killpg(hub.pid, signal.SIGKILL)
            hub.wait()
    assert hub.returncode == 0, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert out.splitlines() == ["validated 4 same pool True", "closed"]  # no worker died of it

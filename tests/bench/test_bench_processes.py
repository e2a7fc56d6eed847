"""The bench counts a process together with the processes it started (the hub's validation workers)."""

from __future__ import annotations

import subprocess
import sys
import time

from bench.processes import cpu_seconds, descendants, rss_kib

# a child that starts a grandchild burning CPU, and waits for it
PARENT = (
    "import subprocess, sys; "
    "subprocess.run([sys.executable, '-c', 'import time\\nend = time.time() + 30\\nwhile time.time() < end: pass'])"
)


def test_a_process_is_counted_with_its_descendants() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT])
    try:
        deadline = time.monotonic() + 20
        while not descendants(parent.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        (grandchild,) = descendants(parent.pid)
        time.sleep(1.0)  # the grandchild burns CPU; the parent only waits
        own = cpu_seconds(grandchild)
        assert own is not None and own > 0.3
        family = cpu_seconds(parent.pid)
        assert family is not None and family >= own
        assert (rss_kib(parent.pid) or 0) > (rss_kib(grandchild) or 0) > 0
    finally:
        for pid in descendants(parent.pid):
            subprocess.run(["kill", str(pid)], check=False)
        parent.wait(timeout=20)
    assert cpu_seconds(parent.pid) is None and rss_kib(parent.pid) is None

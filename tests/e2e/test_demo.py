"""``hub demo`` brings everything up, messages get delivered and acknowledged, and Ctrl-C leaves nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from hub.broker.embedded import free_port

ROOT = Path(__file__).resolve().parents[2]


def children_of(pid: int) -> set[int]:
    found = set()
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = status.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(status.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.integration
def test_demo_delivers_and_acknowledges_then_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "KAFKA_"))}
    env["HUB_PORT"] = str(port)
    log = (tmp_path / "demo.log").open("wb")
    demo = subprocess.Popen(
        [sys.executable, "-m", "hub", "demo", "--rate", "5"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, as a terminal gives a command
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        acknowledged: list[dict[str, object]] = []
        while time.monotonic() < deadline and not acknowledged:
            assert demo.poll() is None, (tmp_path / "demo.log").read_text()
            try:
                body = httpx.get(f"{url}/api/messages", params={"status": "acknowledged"}, timeout=5).json()
                acknowledged = body["messages"]
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        assert acknowledged, (tmp_path / "demo.log").read_text()[-3000:]
        detail = httpx.get(f"{url}/api/messages/{acknowledged[0]['tracking_id']}", timeout=5).json()
        assert {"received", "routed", "delivered", "acknowledged"} <= {s["step"] for s in detail["timeline"]}
        banner = (tmp_path / "demo.log").read_text()
        assert f"{url}/api/messages" in banner and "curl" in banner
        assert banner.index(f"Console: {url}/console ") < banner.index("Sektor-hub demo is running")  # first
        console = httpx.get(f"{url}/console", timeout=5)
        assert console.status_code == 200 and console.headers["content-type"].startswith("text/html")
        children = children_of(demo.pid)
        assert children, "the embedded broker runs as a child of the demo"
    finally:
        os.killpg(demo.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the whole process group
        try:
            code = demo.wait(timeout=60)
        finally:
            if demo.poll() is None:
                demo.kill()
            log.close()
    assert code == 0, (tmp_path / "demo.log").read_text()[-3000:]
    assert "Traceback" not in (tmp_path / "demo.log").read_text(), "a process of the demo printed a traceback"
    time.sleep(0.5)
    assert not [pid for pid in children if alive(pid)], "a process of the demo outlived it"

"""The bench's child processes (hub, receivers, py-spy): start, wait until they answer, read /proc, stop."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def descendants(pid: int) -> list[int]:
    """The processes `pid` started, and theirs (the hub's validation processes), from /proc."""
    children: dict[int, list[int]] = {}
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text(encoding="utf-8", errors="replace").rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat_file.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    found, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(children.get(child, []))
    return found


def rss_kib(pid: int) -> int | None:
    """Resident memory of a process and its descendants (VmRSS summed), or None when it is gone."""
    own = own_rss_kib(pid)
    if own is None:
        return None
    return own + sum(own_rss_kib(child) or 0 for child in descendants(pid))


def own_rss_kib(pid: int) -> int | None:
    """Resident memory of the process alone (VmRSS), or None when it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time a process and its live descendants have used so far, or None when it is gone."""
    own = cpu_seconds_of(Path(f"/proc/{pid}/stat"))
    if own is None:
        return None
    return own + sum(cpu_seconds_of(Path(f"/proc/{child}/stat")) or 0.0 for child in descendants(pid))


def cpu_seconds_of(stat_file: Path) -> float | None:
    split = user_system_seconds(stat_file)
    return sum(split) if split is not None else None


def user_system_seconds(stat_file: Path) -> tuple[float, float] | None:
    """User and system CPU seconds from a /proc stat file (fields 14 and 15: utime, stime)."""
    try:
        fields = stat_file.read_text(encoding="utf-8", errors="replace").rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[11]) / _CLOCK_TICKS, int(fields[12]) / _CLOCK_TICKS


def thread_cpu_seconds(pid: int) -> dict[str, float]:
    """CPU seconds of the main thread, of the other threads by name (e.g. aiosqlite's, libuv's), and of the
    child processes together."""
    found: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            name = (task / "comm").read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            continue
        used = cpu_seconds_of(task / "stat")
        if used is not None:
            key = "main thread" if task.name == str(pid) else f"other {name} threads"
            found[key] = found.get(key, 0.0) + used
    for child in descendants(pid):
        used = cpu_seconds_of(Path(f"/proc/{child}/stat"))
        if used is not None:
            found["child processes (validation)"] = found.get("child processes (validation)", 0.0) + used
    return found


def child_environment(**overrides: str) -> dict[str, str]:
    """This process's environment without any HUB_* or KAFKA_* setting, plus `overrides`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "KAFKA_"))}
    # the bench is not installed with the hub: its children find it from the repository's root
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(ROOT), env.get("PYTHONPATH"))))
    env.update(overrides)
    return env


class ChildProcess:
    """One child process with its log file; stopped with SIGTERM, then SIGKILL."""

    def __init__(self, name: str, argv: Sequence[str], *, log_file: Path, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.log_file = log_file
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("ab") as log:
            self._process = subprocess.Popen(
                list(argv),
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process.poll() is None

    def rss_kib(self) -> int | None:
        return rss_kib(self.pid) if self.running else None

    def cpu_seconds(self) -> float | None:
        return cpu_seconds(self.pid) if self.running else None

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def interrupt(self) -> None:
        """SIGINT: py-spy writes its profile and exits."""
        if self.running:
            self._process.send_signal(signal.SIGINT)

    async def stop(self, *, timeout: float = 30.0) -> int | None:
        if self.running:
            self._process.terminate()
        try:
            await asyncio.to_thread(self._process.wait, timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            await asyncio.to_thread(self._process.wait, 10)
        return self._process.returncode

    async def wait(self, timeout: float) -> int | None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            await asyncio.to_thread(self._process.wait, timeout)
        return self._process.poll()


async def wait_until_answering(url: str, process: ChildProcess, *, timeout: float = 90.0) -> None:
    """Poll `url` until it answers 200; fail early, with the log's tail, when the process exits."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        while loop.time() < deadline:
            if not process.running:
                raise RuntimeError(f"{process.name} exited early:\n{process.tail()}")
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{process.name} did not answer {url} within {timeout:.0f} s:\n{process.tail()}")


def start_hub(
    *,
    name: str,
    port: int,
    bootstrap_servers: str,
    register_file: Path,
    database_url: str,
    topic_prefix: str,
    partitions: int,
    consumer_group: str,
    log_file: Path,
) -> ChildProcess:
    """``python -m hub serve`` configured by environment variables, as the integration tests start it."""
    env = child_environment(
        HUB_PORT=str(port),
        KAFKA_BOOTSTRAP_SERVERS=bootstrap_servers,
        HUB_REGISTER_FILE=str(register_file),
        HUB_DATABASE_URL=database_url,
        HUB_TOPIC_PREFIX=topic_prefix,
        HUB_TOPIC_PARTITIONS=str(partitions),
        HUB_CONSUMER_GROUP=consumer_group,
        HUB_CONSUMER_SESSION_TIMEOUT_MS="6000",
        HUB_LOG_LEVEL="WARNING",
    )
    return ChildProcess(name, [sys.executable, "-m", "hub", "serve"], log_file=log_file, env=env)


def start_receivers(
    *, port: int, register_file: Path, tokens_file: Path, hub_urls: Sequence[str], log_file: Path
) -> ChildProcess:
    argv = [
        sys.executable,
        "-m",
        "bench.receivers",
        "--port",
        str(port),
        "--register",
        str(register_file),
        "--tokens",
        str(tokens_file),
    ]
    for url in hub_urls:
        argv += ["--hub-url", url]
    return ChildProcess("receivers", argv, log_file=log_file, env=child_environment())


def py_spy_binary() -> str | None:
    candidate = Path(sys.executable).parent / "py-spy"
    if candidate.exists():
        return str(candidate)
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        found = Path(directory) / "py-spy"
        if found.exists():
            return str(found)
    return None


def start_py_spy(*, pid: int, output: Path, fmt: str, log_file: Path, rate: int = 100) -> ChildProcess | None:
    """``py-spy record`` of `pid` until interrupted; `fmt` is flamegraph, raw or speedscope."""
    binary = py_spy_binary()
    if binary is None:
        return None
    argv = [binary, "record", "--pid", str(pid), "--format", fmt, "--output", str(output), "--rate", str(rate)]
    argv.append("--gil")  # only samples that hold the GIL: Python's own CPU work, not idle waits
    return ChildProcess(f"py-spy ({fmt})", argv, log_file=log_file)

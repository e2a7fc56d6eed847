"""A background sampler: progress, resident memory and CPU time of every process of an environment."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bench.environment import BenchEnvironment
from bench.processes import cpu_seconds, cpu_seconds_of, own_rss_kib

MIB = 1024


@dataclass(slots=True)
class Sampler:
    """Every `interval` seconds: the hub's acknowledged count, what the receivers saw, VmRSS and CPU time."""

    env: BenchEnvironment
    interval: float = 1.0
    poll_hub: bool = True
    samples: list[dict[str, Any]] = field(default_factory=list)
    journal: Path | None = None  # each sample also appended here as a JSON line, as it is taken (long runs)
    started: float = 0.0
    _task: asyncio.Task[None] | None = None

    def start(self, *, started: float | None = None) -> None:
        self.started = started if started is not None else time.monotonic()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> list[dict[str, Any]]:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.sample()
        return self.samples

    async def _run(self) -> None:
        while True:
            await self.sample()
            await asyncio.sleep(self.interval)

    async def sample(self) -> dict[str, Any]:
        env = self.env
        row: dict[str, Any] = {"t": time.monotonic() - self.started}
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            if self.poll_hub:
                row["acknowledged"] = (await env.acknowledged()).acknowledged
            stats = await env.receiver_stats()
            row["received"] = stats["received"]
            row["acks_sent"] = stats["acks_sent"]
            row["acks_received"] = stats["acks_received"]
        for index, hub in enumerate(env.hubs):
            rss, cpu = hub.rss_kib(), hub.cpu_seconds()
            if rss is not None:
                row[f"hub{index + 1}_rss_mib"] = rss / MIB  # with its validation processes
                own = own_rss_kib(hub.pid)
                if own is not None:
                    row[f"hub{index + 1}_main_rss_mib"] = own / MIB
            if cpu is not None:
                row[f"hub{index + 1}_cpu_s"] = cpu
        broker_rss = env.broker_rss_kib()
        if broker_rss is not None:
            row["broker_rss_mib"] = broker_rss / MIB
        self.samples.append(row)
        if self.journal is not None:
            with self.journal.open("ab") as journal:
                journal.write(orjson.dumps(row) + b"\n")
        return row


def cpu_snapshot(env: BenchEnvironment) -> dict[str, float]:
    """CPU seconds used so far by each process of the environment and by this bench process."""
    found: dict[str, float] = {}
    for hub in env.hubs:
        used = hub.cpu_seconds()
        if used is not None:
            found[hub.name] = used
    if env.receivers is not None and (used := env.receivers.cpu_seconds()) is not None:
        found["receivers"] = used
    if env.broker_pid is not None and (used := cpu_seconds(env.broker_pid)) is not None:
        found["broker"] = used
    # this process alone: its children are the processes counted above (and py-spy when profiling)
    if (used := cpu_seconds_of(Path(f"/proc/{os.getpid()}/stat"))) is not None:
        found["bench (load generator)"] = used
    return found


def cpu_used(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: round(after[name] - before.get(name, 0.0), 2) for name in after}

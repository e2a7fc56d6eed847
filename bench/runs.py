"""Measurements against a running environment: warm-up, maximum throughput, latency at an offered load, and a
long run with a bounded backlog. Each returns plain data; scenarios decide which environment they run in.

End to end, precisely: the clock starts when the first POST of the run leaves the bench and stops when the
hub's tracking store first reports every message of the run ``acknowledged`` (``GET /api/messages?
status=acknowledged`` total >= warm-up + N, polled every 0.5 s and every 0.1 s over the last 10 %). A
message is acknowledged once its receiver got it by HTTP, answered 200, sent a MedCom Acknowledgement back
through the hub's ingest, and the hub validated, routed and recorded that acknowledgement.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from bench.client import IngestClient, PostLog, post_closed_loop, post_open_loop
from bench.environment import BenchEnvironment, Progress, Stalled
from bench.load import Outgoing, Workload
from bench.processes import ChildProcess, start_py_spy, thread_cpu_seconds, user_system_seconds
from bench.profile import render, summarise
from bench.sampler import Sampler, cpu_snapshot, cpu_used


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile of sorted `values` (share 0..1)."""
    if not values:
        return float("nan")
    rank = max(0, min(len(values) - 1, math.ceil(share * len(values)) - 1))
    return values[rank]


def distribution_ms(seconds: Iterable[float]) -> dict[str, float]:
    values = sorted(s * 1000 for s in seconds)
    if not values:
        return {"count": 0}
    return {
        "count": len(values),
        "p50_ms": percentile(values, 0.50),
        "p95_ms": percentile(values, 0.95),
        "p99_ms": percentile(values, 0.99),
        "max_ms": values[-1],
        "mean_ms": sum(values) / len(values),
    }


def progress_bar(total: int, description: str, *, enabled: bool) -> tqdm[Any]:
    return tqdm(total=total, desc=description, unit="msg", disable=not enabled, mininterval=1.0, smoothing=0.1)


async def warm_up(env: BenchEnvironment, client: IngestClient, workload: Workload, *, count: int) -> int:
    """Send `count` messages and wait until all are acknowledged: consumer groups joined, connections open.
    Returns the acknowledged count the next run starts from."""
    baseline = (await env.acknowledged()).acknowledged
    await post_closed_loop(client, workload.take(count), concurrency=min(8, count), log=PostLog(keep_times=False))
    done = await env.wait_acknowledged(baseline + count, stall_timeout=120)
    return done.acknowledged


class Profiler:
    """py-spy on one hub process during a run: a raw profile (summarised) and an SVG flame graph."""

    def __init__(self, pid: int, out: Path) -> None:
        self.out = out
        self._recorders: list[ChildProcess] = []
        self._pid = pid

    def start(self) -> bool:
        for fmt, name in (("raw", "profile-hub.txt"), ("flamegraph", "profile-hub.svg")):
            recorder = start_py_spy(
                pid=self._pid, output=self.out / name, fmt=fmt, log_file=self.out / f"py-spy-{fmt}.log", rate=67
            )
            if recorder is not None:
                self._recorders.append(recorder)
        return bool(self._recorders)

    async def stop(self) -> dict[str, Any]:
        for recorder in self._recorders:
            recorder.interrupt()
        for recorder in self._recorders:
            if await recorder.wait(60) is None:
                await recorder.stop()
        raw = self.out / "profile-hub.txt"
        if not raw.exists():
            return {"error": "py-spy wrote no profile (is ptrace allowed?)"}
        summary = summarise(raw, top=25)
        (self.out / "profile-hub-top.txt").write_text(render(summary), encoding="utf-8")
        return {
            "raw": str(raw),
            "flamegraph": str(self.out / "profile-hub.svg"),
            "top_self": [{"where": s.where, "share": round(s.share, 4)} for s in summary["self"][:12]],
            "top_project_inclusive": [
                {"where": s.where, "share": round(s.share, 4)} for s in summary["project code, inclusive"][:25]
            ],
            "top_packages": [{"where": s.where, "share": round(s.share, 4)} for s in summary["packages"][:10]],
        }


async def max_throughput(
    env: BenchEnvironment,
    client: IngestClient,
    items: Sequence[Outgoing],
    *,
    baseline: int,
    concurrency: int,
    stall_timeout: float,
    show_progress: bool,
    sample_interval: float = 1.0,
    profile_to: Path | None = None,
) -> dict[str, Any]:
    """Post `items` with `concurrency` in flight; the run ends when the hub has acknowledged them all."""
    count = len(items)
    threads_before = {hub.name: thread_cpu_seconds(hub.pid) for hub in env.hubs}
    split_before = {hub.name: user_system_seconds(Path(f"/proc/{hub.pid}/stat")) or (0.0, 0.0) for hub in env.hubs}
    cpu_before = cpu_snapshot(env)
    profiler = Profiler(env.hubs[0].pid, profile_to) if profile_to is not None else None
    profiling = profiler.start() if profiler is not None else False
    sampler = Sampler(env, interval=sample_interval)
    log = PostLog(keep_times=False)
    started = time.monotonic()
    sampler.start(started=started)
    posting = asyncio.create_task(post_closed_loop(client, items, concurrency=concurrency, log=log))
    bar = progress_bar(count, f"{len(env.hubs)} hub(s), end to end", enabled=show_progress)
    try:
        done = await _acknowledged_while_posting(env, posting, bar, baseline, count, stall_timeout)
    finally:
        bar.close()
        samples = await sampler.stop()
    profile = await profiler.stop() if profiler is not None and profiling else None
    first = log.first_sent or started
    elapsed = done.at - first
    cpu = cpu_used(cpu_before, cpu_snapshot(env))
    hub_cpu = sum(v for k, v in cpu.items() if k.startswith("hub-"))
    threads = {
        hub.name: {
            k: round(v - threads_before[hub.name].get(k, 0.0), 2) for k, v in thread_cpu_seconds(hub.pid).items()
        }
        for hub in env.hubs
    }
    split = {}
    for hub in env.hubs:
        user, system = user_system_seconds(Path(f"/proc/{hub.pid}/stat")) or (0.0, 0.0)
        split[hub.name] = {
            "user": round(user - split_before[hub.name][0], 2),
            "system": round(system - split_before[hub.name][1], 2),
        }
    result: dict[str, Any] = {
        "messages": count,
        "hubs": len(env.hubs),
        "concurrency": concurrency,
        "statuses": {str(k): v for k, v in log.statuses.items()},
        "post_errors": dict(log.errors),
        "ingest_s": (log.last_accepted or first) - first,
        "ingest_msgs_per_s": count / max(1e-9, (log.last_accepted or first) - first),
        "end_to_end_s": elapsed,
        "end_to_end_msgs_per_s": count / elapsed,
        "cpu_s": cpu,
        "hub_threads_cpu_s": threads,
        "hub_user_system_s": split,
        "hub_cpu_ms_per_msg": hub_cpu / count * 1000,
        "hub_rss_mib": [(hub.rss_kib() or 0) / 1024 for hub in env.hubs],
        "broker_rss_mib": (env.broker_rss_kib() or 0) / 1024,
        "receivers": await env.receiver_stats(),
        "timeline": samples,
    }
    if profile is not None:
        result["profile"] = profile
    return result


async def latency_at(
    env: BenchEnvironment,
    client: IngestClient,
    items: Sequence[Outgoing],
    *,
    rate: float,
    baseline: int,
    stall_timeout: float,
) -> dict[str, Any]:
    """Open-loop load at `rate` messages/s; latency from the hub's 202 to the receiver's arrival."""
    await env.reset_arrivals()
    log = PostLog(keep_times=True)
    pacing = await post_open_loop(client, items, rate=rate, max_in_flight=2000, log=log)
    stalled = None
    try:
        await env.wait_acknowledged(baseline + len(items), stall_timeout=stall_timeout)
    except Stalled as exc:  # report what arrived; the next run starts from what was acknowledged
        stalled = str(exc)
    arrivals, ack_arrivals = await env.arrivals()
    accepted_to_delivered = [arrivals[m] - t for m, t in log.accepted.items() if m in arrivals]
    sent_to_delivered = [arrivals[m] - t for m, t in log.sent_at.items() if m in arrivals]
    round_trip = [ack_arrivals[m] - t for m, t in log.sent_at.items() if m in ack_arrivals]
    ingest = [log.accepted[m] - t for m, t in log.sent_at.items() if m in log.accepted]
    result: dict[str, Any] = {
        "offered_per_s": rate,
        "messages": len(items),
        "accepted": log.accepted_count,
        "delivered": len(accepted_to_delivered),
        **{k: v for k, v in pacing.items() if k != "offered_per_s"},
        "accepted_to_delivered": distribution_ms(accepted_to_delivered),
        "post_to_202": distribution_ms(ingest),
        "post_to_delivered": distribution_ms(sent_to_delivered),
        "post_to_acknowledgement_back": distribution_ms(round_trip),
        "latencies_ms": sorted(v * 1000 for v in accepted_to_delivered),
    }
    if stalled:
        result["stalled"] = stalled
    return result


class Backlog:
    """Holds the senders back while more than `size` posted messages are not yet acknowledged back."""

    def __init__(self, env: BenchEnvironment, *, size: int, already: int) -> None:
        self._env = env
        self.size = size
        self.posted = 0
        self.done = 0
        self._already = already
        self._moved = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._follow())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _follow(self) -> None:
        while True:
            with contextlib.suppress(Exception):
                done = (await self._env.receiver_stats())["acks_received"] - self._already
                async with self._moved:
                    self.done = done
                    self._moved.notify_all()
            await asyncio.sleep(0.2)

    async def admit(self) -> None:
        async with self._moved:
            await self._moved.wait_for(lambda: self.posted - self.done < self.size)
            self.posted += 1


async def long_run(
    env: BenchEnvironment,
    client: IngestClient,
    workload: Workload,
    *,
    count: int,
    baseline: int,
    concurrency: int,
    backlog: int,
    sample_interval: float,
    stall_timeout: float,
    show_progress: bool,
    journal: Path | None = None,
) -> dict[str, Any]:
    """`count` messages made on the fly (fresh ids), at most `backlog` unacknowledged; memory sampled (and
    each sample appended to `journal` as it is taken, so a run stopped early still leaves its figures)."""
    already = (await env.receiver_stats())["acks_received"]
    window = Backlog(env, size=backlog, already=already)
    if journal is not None:
        journal.parent.mkdir(parents=True, exist_ok=True)
        journal.unlink(missing_ok=True)
    sampler = Sampler(env, interval=sample_interval, journal=journal)
    log = PostLog(keep_times=False)
    started = time.monotonic()
    sampler.start(started=started)
    window.start()
    bar = progress_bar(count, "long run", enabled=show_progress)
    posting = asyncio.create_task(
        post_closed_loop(client, workload.stream(count), concurrency=concurrency, log=log, admit=window.admit)
    )
    try:
        done = await _acknowledged_while_posting(env, posting, bar, baseline, count, stall_timeout)
    finally:
        bar.close()
        await window.stop()
        samples = await sampler.stop()
    for row in samples:
        if "acknowledged" in row:
            row["processed"] = max(0, row["acknowledged"] - baseline)
    rss = [row["hub1_rss_mib"] for row in samples if "hub1_rss_mib" in row]
    return {
        "messages": count,
        "backlog": backlog,
        "end_to_end_s": done.at - (log.first_sent or started),
        "end_to_end_msgs_per_s": count / (done.at - (log.first_sent or started)),
        "hub_rss_mib_first": rss[0] if rss else None,
        "hub_rss_mib_last": rss[-1] if rss else None,
        "hub_rss_mib_peak": max(rss) if rss else None,
        "broker_rss_mib_last": samples[-1].get("broker_rss_mib") if samples else None,
        "statuses": {str(k): v for k, v in log.statuses.items()},
        "timeline": samples,
    }


async def _acknowledged_while_posting(
    env: BenchEnvironment,
    posting: asyncio.Task[Any],
    bar: tqdm[Any],
    baseline: int,
    count: int,
    stall_timeout: float,
) -> Progress:
    """Wait until `count` more messages are acknowledged, the bar following; posting is stopped if that fails."""
    try:
        done = await env.wait_acknowledged(
            baseline + count,
            stall_timeout=stall_timeout,
            on_progress=lambda acknowledged: bar.update(max(0, acknowledged - baseline - bar.n)),
        )
        await posting
        return done
    finally:
        if not posting.done():
            posting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await posting

"""The scenarios of ``python -m bench``, each in its own environment (fresh broker and tracking store) unless quick.

- throughput: N messages end to end at bounded concurrency; then, on the same broker with the hub stopped,
  the raw Kafka passthrough of the same bytes (scenario ``raw``);
- latency: open-loop offered loads, latency from the 202 to the receiver;
- validation: the hub's Validator and fhir.resources' parse, in this process;
- memory: a long run with a bounded backlog, the hub's VmRSS over messages processed;
- scaleout: one hub process against two in one consumer group.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import kafka_raw, validation
from bench.client import IngestClient
from bench.environment import PARTITIONS, BenchEnvironment
from bench.load import Workload
from bench.register import BenchRegister
from bench.runs import latency_at, long_run, max_throughput, warm_up
from hub.broker.embedded import EmbeddedBroker

ALL_SCENARIOS = ("throughput", "raw", "latency", "validation", "matching", "memory", "scaleout")
QUICK_SCENARIOS = ("throughput", "raw", "latency", "validation")
DEFAULT_MESSAGES = 100_000
DEFAULT_SCALEOUT_MESSAGES = 20_000


@dataclass(frozen=True, slots=True)
class BenchConfig:
    out: Path
    scenarios: tuple[str, ...] = ALL_SCENARIOS
    quick: bool = False
    messages: int = DEFAULT_MESSAGES
    long: int = 500_000
    concurrency: int = 128
    rates: tuple[float, ...] = (100.0, 300.0, 1000.0)
    latency_seconds: float = 15.0
    warmup: int = 50
    scaleout_messages: int = DEFAULT_SCALEOUT_MESSAGES
    validation_messages: int = 2_000
    backlog: int = 2_000
    patients: int = 20_000
    pool: int = 50_000
    stall_timeout: float = 120.0
    profile: bool = False
    keep_databases: bool = False
    database: str = "sqlite"  # or "postgresql" (bench.databases)
    database_server: str | None = None  # the PostgreSQL server's URL, once known (given, or started by the bench)
    show_progress: bool = True

    @classmethod
    def quick_config(cls, out: Path, **overrides: Any) -> BenchConfig:
        settings: dict[str, Any] = {
            "scenarios": QUICK_SCENARIOS,
            "quick": True,
            "messages": 400,
            "long": 2_000,
            "rates": (300.0,),
            "latency_seconds": 1.0,
            "warmup": 20,
            "scaleout_messages": 300,
            "validation_messages": 300,
            "patients": 2_000,
            "pool": 2_000,
            "stall_timeout": 60.0,
            "show_progress": False,
        }
        settings.update(overrides)
        return cls(out=out, **settings)


@asynccontextmanager
async def environment(
    config: BenchConfig, register: BenchRegister, name: str, *, hubs: int = 1
) -> AsyncIterator[tuple[BenchEnvironment, IngestClient]]:
    workdir = config.out / "work" / name
    async with BenchEnvironment(
        workdir=workdir,
        register=register,
        hubs=hubs,
        keep_database=config.keep_databases,
        database_server=config.database_server,
    ) as env:
        client = IngestClient(env.hub_urls, register.tokens(), connections=max(64, config.concurrency))
        try:
            yield env, client
        finally:
            await client.close()


async def throughput_and_raw(config: BenchConfig, register: BenchRegister, workload: Workload) -> dict[str, Any]:
    """Maximum throughput end to end (and latency too when quick), then raw Kafka on the same broker."""
    results: dict[str, Any] = {}
    items = workload.take(config.messages)  # made before the clock starts
    async with environment(config, register, "throughput") as (env, client):
        baseline = await warm_up(env, client, workload, count=config.warmup)
        if "throughput" in config.scenarios:
            results["throughput"] = await max_throughput(
                env,
                client,
                items,
                baseline=baseline,
                concurrency=config.concurrency,
                stall_timeout=config.stall_timeout,
                show_progress=config.show_progress,
                sample_interval=0.5 if config.quick else 1.0,
                profile_to=config.out if config.profile else None,
            )
            baseline += config.messages
        if config.quick and "latency" in config.scenarios:
            results["latency"] = await _latency_runs(config, env, client, workload, baseline)
        if "raw" in config.scenarios:
            await env.stop_hubs_and_receivers()
            results["raw"] = await kafka_raw.passthrough(
                env.bootstrap_servers, items, partitions=PARTITIONS, hop_records=30 if config.quick else 100
            )
    return results


async def raw_only(config: BenchConfig, workload: Workload) -> dict[str, Any]:
    async with EmbeddedBroker(log_file=config.out / "work" / "raw" / "broker.log") as broker:
        return await kafka_raw.passthrough(
            broker.bootstrap_servers, workload.take(config.messages), partitions=PARTITIONS
        )


async def _latency_runs(
    config: BenchConfig, env: BenchEnvironment, client: IngestClient, workload: Workload, baseline: int
) -> dict[str, Any]:
    runs = []
    for rate in config.rates:
        items = workload.take(max(1, round(rate * config.latency_seconds)))
        run = await latency_at(env, client, items, rate=rate, baseline=baseline, stall_timeout=config.stall_timeout)
        baseline = (await env.acknowledged()).acknowledged
        runs.append(run)
    return {"seconds_per_rate": config.latency_seconds, "runs": runs}


async def latency(config: BenchConfig, register: BenchRegister, workload: Workload) -> dict[str, Any]:
    async with environment(config, register, "latency") as (env, client):
        baseline = await warm_up(env, client, workload, count=config.warmup)
        return await _latency_runs(config, env, client, workload, baseline)


async def memory(config: BenchConfig, register: BenchRegister, workload: Workload) -> dict[str, Any]:
    async with environment(config, register, "memory") as (env, client):
        baseline = await warm_up(env, client, workload, count=config.warmup)
        return await long_run(
            env,
            client,
            workload,
            count=config.long,
            baseline=baseline,
            concurrency=config.concurrency,
            backlog=config.backlog,
            sample_interval=0.5 if config.quick else 2.0,
            stall_timeout=config.stall_timeout,
            show_progress=config.show_progress,
            journal=config.out / "memory-samples.jsonl",
        )


def scaleout_hub_counts(config: BenchConfig) -> tuple[int, ...]:
    """1, 2 and 3 hub processes on PostgreSQL; 1 and 2 on SQLite, where more share one file's write lock and
    are not a shape the hub is run in."""
    return (1, 2, 3) if config.database == "postgresql" else (1, 2)


async def scaleout(config: BenchConfig, register: BenchRegister, workload: Workload) -> dict[str, Any]:
    runs = []
    for hubs in scaleout_hub_counts(config):
        items = workload.take(config.scaleout_messages)
        async with environment(config, register, f"scaleout-{hubs}", hubs=hubs) as (env, client):
            baseline = await warm_up(env, client, workload, count=config.warmup * hubs)
            run = await max_throughput(
                env,
                client,
                items,
                baseline=baseline,
                concurrency=config.concurrency,
                stall_timeout=config.stall_timeout,
                show_progress=config.show_progress,
            )
            run.pop("timeline", None)
            runs.append(run)
    one = runs[0]["end_to_end_msgs_per_s"]
    speedups = {f"speedup_{r['hubs']}_vs_1": r["end_to_end_msgs_per_s"] / one if one else None for r in runs[1:]}
    return {"messages": config.scaleout_messages, "database": config.database, "runs": runs, **speedups}


async def validation_alone(config: BenchConfig, workload: Workload) -> dict[str, Any]:
    items = workload.pool[: config.validation_messages]  # the bench is otherwise idle while this runs
    return validation.measure(items, rounds=3)

"""``python -m bench``: run the benchmark scenarios, print tables, write JSON and PNG plots.

``main(["--quick", "--json", "bench.json"])`` is the smoke run (well under a minute on an idle 2-core machine);
without ``--quick`` every scenario runs at full size (``--messages``, default 100,000; ``--long``, default
500,000), which takes a long time at the hub's present speed: choose sizes, or ``--scenarios``, to fit.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import matching, scenarios
from bench import results as report
from bench.databases import DATABASES, POSTGRESQL, SQLITE, postgresql_server
from bench.load import Workload
from bench.processes import ROOT
from bench.register import build_register
from bench.scenarios import ALL_SCENARIOS, DEFAULT_MESSAGES, DEFAULT_SCALEOUT_MESSAGES, BenchConfig

DEFAULT_OUT = Path("var/bench")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmarks of the hub: end to end, latency, raw Kafka, validation, memory, scale-out. "
        "Prints tables; writes results.json and PNG plots to --out. See bench/README.md.",
    )
    parser.add_argument("--quick", action="store_true", help="a small smoke run: throughput, raw, latency, validation")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results to FILE")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR", help="results, plots, logs (var/bench)")
    parser.add_argument("--messages", type=int, metavar="N", help="messages for max throughput and raw Kafka")
    parser.add_argument("--long", type=int, metavar="N", help="messages for the memory run")
    parser.add_argument(
        "--scenarios", metavar="LIST", help=f"comma-separated, from {','.join(ALL_SCENARIOS)} (default: all)"
    )
    parser.add_argument("--concurrency", type=int, metavar="N", help="requests in flight (default 128)")
    parser.add_argument("--rates", metavar="LIST", help="offered loads for latency, msgs/s (default 100,300,1000)")
    parser.add_argument("--latency-seconds", type=float, metavar="S", help="seconds per offered load (default 15)")
    parser.add_argument("--scaleout-messages", type=int, metavar="N", help="messages per scale-out run (20,000)")
    parser.add_argument("--profile", action="store_true", help="py-spy the hub during max throughput (slows it)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--keep-databases", action="store_true", help="keep each scenario's tracking store")
    parser.add_argument(
        "--database",
        choices=DATABASES,
        default=SQLITE,
        help="the hubs' tracking store: a SQLite file, or PostgreSQL (scale-out then runs 1, 2 and 3 hub processes)",
    )
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="with --database postgresql: a server to create each scenario's database on "
        "(postgresql+asyncpg://USER@HOST/DB, password in the URL or PGPASSWORD; the user may create "
        "databases); default: start a throw-away cluster from Debian's postgresql package",
    )
    return parser


def config_from(args: argparse.Namespace) -> BenchConfig:
    overrides: dict[str, Any] = {}
    if args.scenarios:
        chosen = tuple(s.strip() for s in args.scenarios.split(",") if s.strip())
        unknown = sorted(set(chosen) - set(ALL_SCENARIOS))
        if unknown:
            raise SystemExit(f"bench: unknown scenarios {', '.join(unknown)}; choose from {', '.join(ALL_SCENARIOS)}")
        overrides["scenarios"] = chosen
    for name in ("messages", "long", "concurrency", "latency_seconds", "scaleout_messages"):
        value = getattr(args, name)
        if value is not None:
            overrides[name] = value
    if args.rates:
        overrides["rates"] = tuple(float(r) for r in args.rates.split(","))
    overrides["profile"] = args.profile
    overrides["keep_databases"] = args.keep_databases
    if args.database_url and args.database != POSTGRESQL:
        raise SystemExit("bench: --database-url is for --database postgresql")
    overrides["database"] = args.database
    overrides["database_server"] = args.database_url
    if args.no_progress:
        overrides["show_progress"] = False
    if args.quick:
        return BenchConfig.quick_config(args.out, **overrides)
    messages = overrides.get("messages", DEFAULT_MESSAGES)
    overrides.setdefault("scaleout_messages", min(messages, DEFAULT_SCALEOUT_MESSAGES))
    return BenchConfig(out=args.out, **overrides)


def _machine() -> dict[str, Any]:
    def git(*argv: str) -> str:
        try:
            return subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "commit": git("rev-parse", "--short", "HEAD"),
        "uncommitted_files": len([line for line in git("status", "--porcelain").splitlines() if line.strip()]),
    }


def _pool_size(config: BenchConfig) -> int:
    needed = config.warmup * 4 + config.messages
    return max(1, min(config.pool, max(needed, config.validation_messages)))


async def run(config: BenchConfig) -> dict[str, Any]:
    """Every chosen scenario; on PostgreSQL without a server given, on a throw-away cluster for the whole run."""
    if config.database == POSTGRESQL and config.database_server is None:
        with postgresql_server() as server:
            return await _run(dataclasses.replace(config, database_server=server))
    return await _run(config)


async def _run(config: BenchConfig) -> dict[str, Any]:
    started = time.monotonic()
    out: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
        "database": config.database,
    }
    register = build_register()
    generating = time.perf_counter()
    workload = Workload(register, pool=_pool_size(config), patients=config.patients)
    out["workload"] = workload.describe() | {
        "generation_s": round(time.perf_counter() - generating, 2),
        "organisations": {kind: len(register.of_kind(kind)) for kind in ("hospital", "municipality", "gp")},
    }
    found: dict[str, Any] = {}
    errors: dict[str, str] = {}

    async def attempt(name: str, step: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        try:
            found.update(await step())
        except Exception as exc:  # a failed scenario is reported; the others still run
            errors[name] = f"{type(exc).__name__}: {exc}"
            traceback.print_exc()

    chosen = config.scenarios
    if "throughput" in chosen:
        await attempt("throughput", lambda: scenarios.throughput_and_raw(config, register, workload))
    elif "raw" in chosen:
        await attempt("raw", lambda: _named("raw", scenarios.raw_only(config, workload)))
    if "latency" in chosen and "latency" not in found:
        await attempt("latency", lambda: _named("latency", scenarios.latency(config, register, workload)))
    if "validation" in chosen:
        await attempt("validation", lambda: _named("validation", scenarios.validation_alone(config, workload)))
    if "matching" in chosen:
        await attempt("matching", lambda: _named("matching", asyncio.to_thread(matching.measure)))
    if "memory" in chosen:
        await attempt("memory", lambda: _named("memory", scenarios.memory(config, register, workload)))
    if "scaleout" in chosen:
        await attempt("scaleout", lambda: _named("scaleout", scenarios.scaleout(config, register, workload)))
    out["machine"]["load_average_after"] = os.getloadavg()
    out["duration_s"] = round(time.monotonic() - started, 1)
    out["scenarios"] = found
    out["errors"] = errors
    return out


async def _named(name: str, result: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    return {name: await result}


def _config_view(config: BenchConfig) -> dict[str, Any]:
    return {f.name: _plain(getattr(config, f.name)) for f in dataclasses.fields(config)}


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Path) else value


def main(argv: Sequence[str] | None = None) -> int:
    from bench.client import event_loop_runner
    from hub.logs import configure_logging

    args = _parser().parse_args(argv)
    config = config_from(args)
    configure_logging("WARNING", json=False)
    config.out.mkdir(parents=True, exist_ok=True)
    with event_loop_runner() as runner:
        outcome = runner.run(run(config))
    found = outcome["scenarios"]
    figures = report.headline(found)
    print()
    for text in report.tables(found):
        print(text, end="\n\n")
    print(report.table("Headline", ["figure", "value"], [[k, v] for k, v in figures.items() if v is not None]))
    if outcome["errors"]:
        print("\nScenarios that failed: " + "; ".join(f"{k}: {v}" for k, v in outcome["errors"].items()))
    plotted = report.plots(found, config.out)
    for run_ in (found.get("latency") or {}).get("runs", []):
        run_.pop("latencies_ms", None)  # plotted; too long for the JSON file
    document = {
        **figures,
        "config": _config_view(config),
        **{k: v for k, v in outcome.items() if k != "scenarios"},
        "plots": [str(p) for p in plotted],
        "scenarios": found,
    }
    written = [report.write_json(config.out / "results.json", document)]
    if args.json:
        written.append(report.write_json(args.json, document))
    print(f"\nWrote {', '.join(str(p) for p in written + plotted)}")
    return 1 if outcome["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The PNG plots of a bench run (matplotlib, Agg backend; selected by :func:`bench.results.plots`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt


def _save(figure: Any, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def throughput(results: dict[str, Any], out: Path) -> Path:
    run = results["throughput"]
    rows = run["timeline"]
    timed = [r for r in rows if "acknowledged" in r and "received" in r]
    first = timed[0] if timed else {}
    figure, (counts, memory) = plt.subplots(2, 1, figsize=(9, 7), sharex=True)
    t = [r["t"] for r in timed]
    for key, label in (
        ("received", "messages received by their receivers"),
        ("acks_sent", "acknowledgements accepted by the hub (202)"),
        ("acks_received", "acknowledgements delivered back to the senders"),
        ("acknowledged", "messages acknowledged in the hub's store"),
    ):
        counts.plot(t, [r.get(key, 0) - first.get(key, 0) for r in timed], label=label)
    counts.set_ylabel("messages")
    counts.set_title(
        f"{run['messages']:,} messages end to end: {run['end_to_end_msgs_per_s']:,.0f} msgs/s "
        f"(ingest {run['ingest_msgs_per_s']:,.0f}/s)"
    )
    counts.legend()
    counts.grid(alpha=0.3)
    memory.plot(
        [r["t"] for r in rows if "hub1_rss_mib" in r],
        [r["hub1_rss_mib"] for r in rows if "hub1_rss_mib" in r],
        label="hub RSS",
    )
    memory.plot(
        [r["t"] for r in rows if "broker_rss_mib" in r],
        [r["broker_rss_mib"] for r in rows if "broker_rss_mib" in r],
        label="broker RSS",
    )
    memory.set_ylabel("MiB")
    memory.set_xlabel("seconds since the first POST")
    memory.legend()
    memory.grid(alpha=0.3)
    return _save(figure, out / "throughput.png")


def latency(results: dict[str, Any], out: Path) -> Path:
    figure, axes = plt.subplots(figsize=(9, 5))
    for run in results["latency"]["runs"]:
        values = run.get("latencies_ms") or []
        if not values:
            continue
        share = [(i + 1) / len(values) for i in range(len(values))]
        d = run["accepted_to_delivered"]
        axes.plot(
            values,
            share,
            label=f"{run['offered_per_s']:g}/s offered: p50 {d['p50_ms']:.0f} ms, p99 {d['p99_ms']:.0f} ms",
        )
    axes.set_xscale("log")
    axes.set_xlabel("ms from 202 Accepted to arrival at the receiver (log)")
    axes.set_ylabel("share of messages")
    axes.set_title("Latency at fixed offered loads (open loop)")
    axes.grid(alpha=0.3, which="both")
    axes.legend()
    return _save(figure, out / "latency.png")


def kafka(results: dict[str, Any], out: Path) -> Path:
    raw = results["raw"]
    labels = ["raw Kafka produce", "raw Kafka produce+consume"]
    values = [raw["produce_msgs_per_s"], raw["raw_kafka_msgs_per_s"]]
    if results.get("throughput"):
        labels.append("hub end to end")
        values.append(results["throughput"]["end_to_end_msgs_per_s"])
    figure, axes = plt.subplots(figsize=(8, 4.5))
    bars = axes.bar(labels, values, color=["#7a9", "#596", "#c64"][: len(values)])
    axes.bar_label(bars, labels=[f"{v:,.0f}/s" for v in values])
    axes.set_yscale("log")
    axes.set_ylabel("messages/s (log)")
    axes.set_title(f"Same {raw['messages']:,} messages, same broker")
    return _save(figure, out / "raw_kafka.png")


def validation(results: dict[str, Any], out: Path) -> Path:
    checked = results["validation"]
    kinds = list(checked["by_kind"])
    hub = [checked["by_kind"][k]["validate_us"] for k in kinds]
    fhir = [checked["by_kind"][k]["fhir_parse_us"] for k in kinds]
    figure, axes = plt.subplots(figsize=(9, 4.5))
    positions = range(len(kinds))
    axes.bar([p - 0.2 for p in positions], hub, width=0.4, label="hub Validator().validate(raw)")
    axes.bar([p + 0.2 for p in positions], fhir, width=0.4, label="fhir.resources R4B Bundle.model_validate")
    axes.set_xticks(list(positions), kinds, rotation=10)
    axes.set_ylabel("µs per message")
    axes.set_title(
        f"Validation alone: {checked['validate_us_per_msg']:.0f} µs (hub) vs "
        f"{checked['fhir_resources_parse_us_per_msg']:.0f} µs (fhir.resources parse)"
    )
    axes.legend()
    return _save(figure, out / "validation.png")


def memory(results: dict[str, Any], out: Path) -> Path:
    rows = [r for r in results["memory"]["timeline"] if "processed" in r]
    figure, axes = plt.subplots(figsize=(9, 5))
    axes.plot(
        [r["processed"] for r in rows if "hub1_rss_mib" in r],
        [r["hub1_rss_mib"] for r in rows if "hub1_rss_mib" in r],
        label="hub VmRSS",
    )
    broker = axes.twinx()
    broker.plot(
        [r["processed"] for r in rows if "broker_rss_mib" in r],
        [r["broker_rss_mib"] for r in rows if "broker_rss_mib" in r],
        color="grey",
        alpha=0.6,
        label="embedded broker VmRSS (keeps every record in memory)",
    )
    axes.set_xlabel("messages acknowledged")
    axes.set_ylabel("hub MiB")
    broker.set_ylabel("broker MiB")
    axes.set_title(f"Resident memory over {results['memory']['messages']:,} messages")
    axes.grid(alpha=0.3)
    lines = axes.get_lines() + broker.get_lines()
    axes.legend(lines, [str(line.get_label()) for line in lines], loc="lower right")
    return _save(figure, out / "memory.png")


def scaleout(results: dict[str, Any], out: Path) -> Path:
    runs = results["scaleout"]["runs"]
    figure, axes = plt.subplots(figsize=(6, 4.5))
    values = [r["end_to_end_msgs_per_s"] for r in runs]
    colours = ["#58a", "#8ac", "#bcd"][: len(runs)]
    bars = axes.bar([f"{r['hubs']} hub process(es)" for r in runs], values, color=colours)
    axes.bar_label(bars, labels=[f"{v:,.0f}/s" for v in values])
    axes.set_ylabel("messages/s end to end")
    database = results["scaleout"].get("database", "sqlite")
    axes.set_title(f"Scale-out on this machine, {database} ({results['scaleout']['messages']:,} messages each)")
    return _save(figure, out / "scaleout.png")

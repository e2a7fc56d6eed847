"""What a bench run reports: the headline figures, plain-text tables, a JSON file and PNG plots (Agg)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

HEADLINE_KEYS = (
    "end_to_end_msgs_per_s",
    "raw_kafka_msgs_per_s",
    "hub_to_raw_ratio",
    "p99_ms_at_300",
    "validate_us_per_msg",
    "fhir_resources_parse_us_per_msg",
    "danish_validate_ms",
    "danish_fhir_parse_ms",
    "danish_validate_to_fhir_parse_ratio",
)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def headline(results: dict[str, Any]) -> dict[str, float | None]:
    """The flat figures: end to end, raw Kafka and their ratio, latency percentiles per rate, validation,
    memory and scale-out, each None when its scenario did not run."""
    found: dict[str, float | None] = dict.fromkeys(HEADLINE_KEYS)
    throughput, raw = results.get("throughput"), results.get("raw")
    if throughput:
        found["end_to_end_msgs_per_s"] = throughput["end_to_end_msgs_per_s"]
        found["ingest_msgs_per_s"] = throughput["ingest_msgs_per_s"]
        found["hub_cpu_ms_per_msg"] = throughput["hub_cpu_ms_per_msg"]
    if raw:
        found["raw_kafka_msgs_per_s"] = raw["raw_kafka_msgs_per_s"]
    if throughput and raw:
        found["hub_to_raw_ratio"] = throughput["end_to_end_msgs_per_s"] / raw["raw_kafka_msgs_per_s"]
    for run in (results.get("latency") or {}).get("runs", []):
        rate = f"{run['offered_per_s']:g}"
        for name in ("p50", "p95", "p99", "max"):
            found[f"{name}_ms_at_{rate}"] = _number(run["accepted_to_delivered"].get(f"{name}_ms"))
    checked = results.get("validation")
    if checked:
        found["validate_us_per_msg"] = checked["validate_us_per_msg"]
        found["fhir_resources_parse_us_per_msg"] = checked["fhir_resources_parse_us_per_msg"]
        found["validate_to_fhir_parse_ratio"] = checked["validate_to_fhir_parse_ratio"]
        danish = checked.get("danish_message")
        if danish:
            found["danish_validate_ms"] = danish["validate_ms"]
            found["danish_fhir_parse_ms"] = danish["fhir_resources_parse_ms"]
            found["danish_validate_to_fhir_parse_ratio"] = danish["validate_to_fhir_parse_ratio"]
    long = results.get("memory")
    if long:
        for key in ("hub_rss_mib_first", "hub_rss_mib_last", "hub_rss_mib_peak"):
            found[key] = long[key]
        found["long_run_msgs_per_s"] = long["end_to_end_msgs_per_s"]
    scaled = results.get("scaleout")
    if scaled:
        for run in scaled["runs"]:
            found[f"scaleout_{run['hubs']}_hubs_msgs_per_s"] = run["end_to_end_msgs_per_s"]
            found[f"scaleout_{run['hubs']}_hubs_cpu_ms_per_msg"] = run["hub_cpu_ms_per_msg"]
        found["scaleout_speedup"] = scaled["speedup_2_vs_1"]
        if "speedup_3_vs_1" in scaled:
            found["scaleout_speedup_3_vs_1"] = scaled["speedup_3_vs_1"]
    return {k: _number(v) for k, v in found.items()}


# --- tables ------------------------------------------------------------------------------------------


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) if cells else len(str(h)) for i, h in enumerate(header)]
    line = "  ".join("-" * w for w in widths)
    out = [title, line]
    if any(str(h) for h in header):
        out += ["  ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)), line]
    for row in cells:
        out.append("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))))
    out.append(line)
    return "\n".join(out)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "-"
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}" if abs(value) >= 1 else f"{value:.4f}"
    return str(value)


def tables(results: dict[str, Any]) -> list[str]:
    out: list[str] = []
    throughput, raw = results.get("throughput"), results.get("raw")
    if throughput:
        rows: list[list[Any]] = [
            ["messages", throughput["messages"]],
            ["concurrency (requests in flight)", throughput["concurrency"]],
            ["ingest (202s) msgs/s", throughput["ingest_msgs_per_s"]],
            ["end to end s", throughput["end_to_end_s"]],
            ["end to end msgs/s", throughput["end_to_end_msgs_per_s"]],
            ["hub CPU ms per message", throughput["hub_cpu_ms_per_msg"]],
            ["hub RSS MiB at the end", throughput["hub_rss_mib"][0]],
            ["broker RSS MiB at the end", throughput["broker_rss_mib"]],
        ]
        rows += [[f"CPU s: {name}", used] for name, used in throughput["cpu_s"].items()]
        out.append(table("Maximum throughput (POST -> validate -> route -> deliver -> acknowledged)", ["", ""], rows))
    if raw:
        rows = [
            ["messages", raw["messages"]],
            ["produce msgs/s", raw["produce_msgs_per_s"]],
            ["produce + consume msgs/s", raw["raw_kafka_msgs_per_s"]],
        ]
        if throughput:
            rows.append(
                ["hub end to end / raw Kafka", throughput["end_to_end_msgs_per_s"] / raw["raw_kafka_msgs_per_s"]]
            )
        for name, hop in raw.get("hop_latency_ms", {}).items():
            rows.append(
                [f"one hop, {name.replace('_', ' ')}: p50 / p99 ms", f"{hop['p50_ms']:.1f} / {hop['p99_ms']:.1f}"]
            )
        out.append(table("Raw Kafka passthrough (same broker, same bytes)", ["", ""], rows))
    runs = (results.get("latency") or {}).get("runs", [])
    if runs:
        rows = []
        for run in runs:
            d = run["accepted_to_delivered"]
            rows.append(
                [
                    f"{run['offered_per_s']:g}/s",
                    run["sent_per_s"],
                    f"{run['delivered']}/{run['messages']}",
                    d.get("p50_ms"),
                    d.get("p95_ms"),
                    d.get("p99_ms"),
                    d.get("max_ms"),
                    run["post_to_202"].get("p99_ms"),
                ]
            )
        header = ["offered", "sent/s", "delivered", "p50 ms", "p95 ms", "p99 ms", "max ms", "202 p99 ms"]
        out.append(table("Latency: 202 Accepted -> arrival at the receiver (open loop)", header, rows))
    checked = results.get("validation")
    if checked:
        rows = [
            [
                "all",
                checked["messages"],
                None,
                checked["validate_us_per_msg"],
                checked["fhir_resources_parse_us_per_msg"],
            ]
        ]
        rows += [
            [kind, v["messages"], v["mean_bytes"], v["validate_us"], v["fhir_parse_us"]]
            for kind, v in checked["by_kind"].items()
        ]
        header = ["messages", "n", "mean bytes", "Validator µs", "fhir.resources parse µs"]
        out.append(table("Validation alone (µs per message)", header, rows))
        danish = checked.get("danish_message")
        if danish:
            row = [
                danish["bytes"],
                danish["issues"],
                danish["validate_ms"],
                danish["fhir_resources_parse_ms"],
                danish["validate_to_fhir_parse_ratio"],
            ]
            header = ["bytes", "issues", "full validation ms", "fhir.resources R4B parse ms", "ratio (goal <= 0.5)"]
            out.append(table("The realistic Danish message (CPU ms, median of alternating rounds)", header, [row]))
    long = results.get("memory")
    if long:
        rows = [
            ["messages", long["messages"]],
            ["msgs/s", long["end_to_end_msgs_per_s"]],
            [
                "hub RSS MiB first / last / peak",
                f"{long['hub_rss_mib_first']:.0f} / {long['hub_rss_mib_last']:.0f} / {long['hub_rss_mib_peak']:.0f}",
            ],
            ["broker RSS MiB at the end", long["broker_rss_mib_last"]],
        ]
        out.append(table("Memory over a long run", ["", ""], rows))
    scaled = results.get("scaleout")
    if scaled:
        rows = [[r["hubs"], r["messages"], r["end_to_end_msgs_per_s"], r["hub_cpu_ms_per_msg"]] for r in scaled["runs"]]
        rows += [
            [f"{n} vs 1", None, scaled[f"speedup_{n}_vs_1"], None] for n in (2, 3) if f"speedup_{n}_vs_1" in scaled
        ]
        title = f"Scale-out (one consumer group, {scaled.get('database', 'sqlite')})"
        out.append(table(title, ["hubs", "messages", "msgs/s", "hub CPU ms/msg"], rows))
    return out


# --- files -------------------------------------------------------------------------------------------


def write_json(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
    return path


def plots(results: dict[str, Any], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    from bench import plots as drawing

    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for key, draw in (
        ("throughput", drawing.throughput),
        ("latency", drawing.latency),
        ("raw", drawing.kafka),
        ("validation", drawing.validation),
        ("memory", drawing.memory),
        ("scaleout", drawing.scaleout),
    ):
        if results.get(key):
            written.append(draw(results, out))
    return written

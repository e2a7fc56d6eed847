"""The shipped deploy/ files: the Prometheus rules pass ``promtool check rules`` and their own unit tests
(``promtool test rules``), the Grafana dashboard is one Grafana imports with the Prometheus data source as a
variable, and every metric the rules and the dashboard use is one the hub exports (hub.observe.metrics).

promtool comes with Debian's prometheus package (`make test` installs it); without it these tests fail."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from hub.observe.metrics import exported_names

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "rules.yml"
RULES_TEST = ROOT / "deploy" / "prometheus" / "rules_test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "sektor-hub.json"

# PromQL words that look like metric names
KEYWORDS = frozenset({"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool"})
KEYWORDS |= {"offset", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The metric (and recorded series) names a PromQL expression reads: what is left once strings, label
    matchers, ranges, label lists, numbers, functions and keywords are taken out."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\boffset\s+\w+", " ", text)
    names = set()
    for found in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        name = found.group()
        before = text[found.start() - 1] if found.start() else " "
        if before.isdigit() or before == ".":  # a number such as 1e3 or 0.95
            continue
        if re.match(r"\s*\(", text[found.end() :]) or name.lower() in KEYWORDS:
            continue  # a function or aggregation, or a keyword
        names.add(name)
    return names


def test_metric_names_are_found_in_expressions() -> None:
    expr = (
        'sum by (le, event) (rate(hub_x_bucket{outcome=~"a|b", rule="c d"}[$__rate_interval])) / on (event) '
        "hub:y:sum offset 10m > 0.95 and count(max by (receiver) (hub_z == 1)) or vector(0)"
    )
    assert metric_names(expr) == {"hub_x_bucket", "hub:y:sum", "hub_z"}


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool is missing: install Debian's prometheus package (make system-packages)")
    return found


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_promtool_checks_the_rules() -> None:
    checked = subprocess.run([promtool(), "check", "rules", str(RULES)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout


def test_the_rules_pass_their_unit_tests() -> None:
    tested = subprocess.run([promtool(), "test", "rules", str(RULES_TEST)], capture_output=True, text=True)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    alerts = {rule["alert"] for rule in rules() if "alert" in rule}
    assert alerts == {
        "ReceiverCircuitOpen",
        "AcknowledgementsOverdue",
        "DeadLettersWaiting",
        "ConsumerLagGrowing",
        "ValidationFailureRateHigh",
    }
    cases = yaml.safe_load(RULES_TEST.read_text(encoding="utf-8"))["tests"]
    checks = [check for case in cases for check in case["alert_rule_test"]]
    for alert in alerts:
        expected = [check["exp_alerts"] for check in checks if check["alertname"] == alert]
        assert any(len(alerts_then) == 1 for alerts_then in expected), f"{alert} is never seen firing once"
        assert any(alerts_then == [] for alerts_then in expected), f"{alert} is never seen not firing"
    assert all("for" in rule for rule in rules() if "alert" in rule)  # no alert on a single bad scrape


def dashboard() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return document


def dashboard_exprs(document: dict[str, Any]) -> list[str]:
    return [target["expr"] for panel in document["panels"] for target in panel.get("targets", [])]


def test_the_dashboard_takes_its_prometheus_as_a_variable() -> None:
    document = dashboard()
    assert document["schemaVersion"] >= 36
    (variable,) = [v for v in document["templating"]["list"] if v["type"] == "datasource"]
    assert variable["query"] == "prometheus"
    reference = {"type": "prometheus", "uid": f"${{{variable['name']}}}"}
    for panel in document["panels"]:
        assert panel["datasource"] == reference, panel["title"]
        assert panel["targets"] and all(target["datasource"] == reference for target in panel["targets"])
    ids = [panel["id"] for panel in document["panels"]]
    assert len(ids) == len(set(ids))


def test_the_dashboard_has_the_panels_operators_look_at() -> None:
    used = set().union(*(metric_names(expr) for expr in dashboard_exprs(dashboard())))
    assert {
        "hub_messages_received_total",
        "hub_messages_rejected_total",
        "hub_validation_seconds_bucket",
        "hub_delivery_attempts_total",
        "hub_delivery_latency_seconds_bucket",
        "hub_acknowledgement_latency_seconds_bucket",
        "hub_dead_letters",
        "hub_parked_deliveries",
        "hub_circuit_open",
        "hub_consumer_lag",
        "hub_acknowledgements_overdue",
    } <= used
    p95 = [expr for expr in dashboard_exprs(dashboard()) if expr.startswith("histogram_quantile(0.95")]
    assert len(p95) == 3  # validation, to delivery, to acknowledgement


def test_the_rules_and_the_dashboard_use_only_what_the_hub_exports() -> None:
    recorded = {rule["record"] for rule in rules() if "record" in rule}
    exprs = [rule["expr"] for rule in rules()] + dashboard_exprs(dashboard())
    used = set().union(*(metric_names(expr) for expr in exprs))
    assert used, "no metric found in the expressions"
    unknown = used - exported_names() - recorded
    assert unknown == set(), f"not exported by the hub: {sorted(unknown)}"

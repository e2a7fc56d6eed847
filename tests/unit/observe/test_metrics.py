"""The hub's metrics: work counted once per process and kept across scrapes, state built for each scrape,
every name by Prometheus conventions."""

from __future__ import annotations

import re

import pytest
from prometheus_client.parser import text_string_to_metric_families

from hub.observe import metrics
from hub.observe.metrics import REGISTRY, State, exported_names, exposition

# a batch's validation time as the ingress worker reports it: a figure the test hands in, nothing is measured
BATCH_VALIDATION_SECONDS = 0.004


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_handled_messages_are_counted_by_connector_outcome_and_rule() -> None:
    before = {
        "accepted": value("hub_messages_received_total", connector="http", outcome="accepted"),
        "rejected": value("hub_messages_received_total", connector="kafka", outcome="rejected"),
        "other": value("hub_messages_received_total", connector="other", outcome="rejected"),
        "rule": value("hub_messages_rejected_total", rule="required/MessageHeader"),
        "validated": value("hub_validation_seconds_count"),
        "sum": value("hub_validation_seconds_sum"),
        "bucket": value("hub_validation_seconds_bucket", le="0.002"),
    }
    handled = [("http", None), ("http", None), ("kafka", "required/MessageHeader"), ("made-up", "value/Patient")]
    metrics.count_handled(handled, BATCH_VALIDATION_SECONDS)
    assert value("hub_messages_received_total", connector="http", outcome="accepted") == before["accepted"] + 2
    assert value("hub_messages_received_total", connector="kafka", outcome="rejected") == before["rejected"] + 1
    assert value("hub_messages_received_total", connector="other", outcome="rejected") == before["other"] + 1
    assert value("hub_messages_rejected_total", rule="required/MessageHeader") == before["rule"] + 1
    assert value("hub_validation_seconds_count") == before["validated"] + 4
    # the batch's time split evenly over its four messages: a quarter each, in the bucket above it
    assert value("hub_validation_seconds_sum") == pytest.approx(before["sum"] + BATCH_VALIDATION_SECONDS)
    assert value("hub_validation_seconds_bucket", le="0.002") == before["bucket"] + 4


def test_every_connector_and_outcome_is_there_from_the_start() -> None:
    for connector in metrics.CONNECTORS:
        for outcome in ("accepted", "rejected", "refused"):
            assert (
                REGISTRY.get_sample_value("hub_messages_received_total", {"connector": connector, "outcome": outcome})
                is not None
            )


def test_latencies_are_observed_by_event_and_unknown_ones_skipped() -> None:
    before = value("hub_delivery_latency_seconds_count", event="care-communication-message")
    metrics.observe_delivery("care-communication-message", 0.2)
    metrics.observe_delivery("care-communication-message", None)
    assert value("hub_delivery_latency_seconds_count", event="care-communication-message") == before + 1
    acknowledged = value("hub_acknowledgement_latency_seconds_bucket", event="unknown", le="1800.0")
    metrics.observe_acknowledgement(None, 1799.0)  # within MedCom's 30 minutes
    assert value("hub_acknowledgement_latency_seconds_bucket", event="unknown", le="1800.0") == acknowledged + 1


def test_the_scrape_has_the_work_and_the_state() -> None:
    metrics.count_attempt("gp-a", metrics.DELIVERED)
    state = State(
        messages={"delivered": 3},
        deliveries={"acknowledged": 2},
        overdue_acknowledgements=1,
        dead_letters_waiting=4,
        circuits={"gp-a": {"circuit": "open", "parked": 2, "in_flight": 0}, "gp-b": {"circuit": "closed", "parked": 0}},
        poisoned={"ingress": 1},
        stalled_seconds={"delivery": 0.0},
        lag={("t.outbox", "hub-delivery"): 7},
    )
    text = exposition(state).decode()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("hub_delivery_attempts_total", (("outcome", "delivered"), ("receiver", "gp-a")))] >= 1
    assert samples[("hub_messages", (("status", "delivered"),))] == 3
    assert samples[("hub_deliveries", (("status", "acknowledged"),))] == 2
    assert samples[("hub_acknowledgements_overdue", ())] == 1
    assert samples[("hub_dead_letters", ())] == 4
    assert samples[("hub_circuit_open", (("receiver", "gp-a"),))] == 1
    assert samples[("hub_circuit_open", (("receiver", "gp-b"),))] == 0
    assert samples[("hub_parked_deliveries", (("receiver", "gp-a"),))] == 2
    assert samples[("hub_poison_records_total", (("worker", "ingress"),))] == 1
    assert samples[("hub_consumer_lag", (("group", "hub-delivery"), ("topic", "t.outbox")))] == 7
    assert not any(name.endswith("_created") for name, _ in samples)
    # a second scrape: the work is still counted, the state is what it is now
    again = exposition(State()).decode()
    assert 'hub_delivery_attempts_total{outcome="delivered",receiver="gp-a"}' in again
    assert "hub_circuit_open{" not in again and "hub_dead_letters 0.0" in again


def test_names_follow_prometheus_conventions() -> None:
    names = exported_names()
    ours = {name for name in names if name.startswith("hub_")}
    assert {
        "hub_messages_received_total",
        "hub_messages_rejected_total",
        "hub_validation_seconds_bucket",
        "hub_delivery_attempts_total",
        "hub_delivery_latency_seconds_count",
        "hub_acknowledgement_latency_seconds_sum",
        "hub_delivery_retries_total",
        "hub_deliveries_parked_total",
        "hub_dead_letters_total",
        "hub_redrives_total",
        "hub_consumer_lag",
        "hub_dead_letters",
        "hub_circuit_open",
    } <= ours
    assert all(re.fullmatch(r"hub_[a-z_]+", name) for name in ours)
    for family in REGISTRY.collect():
        if family.name.startswith("hub_") and family.type == "histogram":
            assert family.name.endswith("_seconds")  # durations in base units

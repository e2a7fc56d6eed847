"""Every metric the hub exports, defined once.

Two kinds:

- **work**, counted where it happens (messages in, rejections, validation time, delivery attempts and their
  outcomes, latencies, redrives, acknowledgement timeouts): module-level counters and histograms in `REGISTRY`,
  one per process. Each hub process exposes its own ``/metrics``; Prometheus sums them across instances.
- **state**, read when Prometheus scrapes (messages and deliveries by status, overdue acknowledgements, dead
  letters waiting, parked deliveries and open circuits per receiver, poison records, stalled workers, consumer
  lag): built afresh for each scrape by `state_registry`, from the tracking store and the running workers.

Labels are low-cardinality only: connector, outcome, rule (`hub.observe.rejections`), receiver (a register
id), event (a MedCom event code), topic and consumer group. Never a CPR number, message id or tracking id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)

disable_created_metrics()  # type: ignore[no-untyped-call]  # no *_created series: one series per counter child

REGISTRY: Final = CollectorRegistry()
ProcessCollector(registry=REGISTRY)  # process_cpu_seconds_total, process_resident_memory_bytes, ...

# the connectors as their records name them (hub.broker.records.IngressRecord.connector); any other is "other"
CONNECTORS: Final = ("http", "mllp", "file", "kafka")
ACCEPTED, REJECTED, REFUSED = "accepted", "rejected", "refused"
# delivery attempt outcomes: taken by the receiver; failed and parked to be tried again; failed and given up
DELIVERED, RETRY, DEAD_LETTER = "delivered", "retry", "dead-letter"

# validation of one message takes from a fraction of a millisecond (a small notification) to about a second
VALIDATION_BUCKETS: Final = (0.0003, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# from acceptance to delivery (milliseconds when all is well) and to acknowledgement (MedCom allows 30 minutes);
# a receiver out of operation stretches both to hours
LATENCY_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600, 1800, 3600, 7200, 21600, 86400)

MESSAGES_RECEIVED: Final = Counter(
    "hub_messages_received_total",
    "messages offered to the hub, each counted once: refused by the intake (never accepted), or accepted and then"
    " passed (accepted) or failed (rejected) validation at the ingress worker",
    ["connector", "outcome"],
    registry=REGISTRY,
)
MESSAGES_REJECTED: Final = Counter(
    "hub_messages_rejected_total",
    "messages rejected at the ingress worker, by the rule of their first fatal or error issue"
    " (OperationOutcome issue code / resource type: hub.observe.rejections)",
    ["rule"],
    registry=REGISTRY,
)
VALIDATION_SECONDS: Final = Histogram(
    "hub_validation_seconds",
    "validation time per message (the ingress worker validates a batch at a time: each of its messages counts"
    " the batch's time divided by its size)",
    buckets=VALIDATION_BUCKETS,
    registry=REGISTRY,
)
DELIVERY_ATTEMPTS: Final = Counter(
    "hub_delivery_attempts_total",
    "attempts to hand a delivery to its receiver, by outcome: delivered, retry (failed; parked to be tried"
    " again), dead-letter (failed; given up)",
    ["receiver", "outcome"],
    registry=REGISTRY,
)
DELIVERY_RETRIES: Final = Counter(
    "hub_delivery_retries_total",
    "attempts at parked deliveries (every attempt after the first), whatever their outcome",
    ["receiver"],
    registry=REGISTRY,
)
DELIVERIES_PARKED: Final = Counter(
    "hub_deliveries_parked_total",
    "deliveries parked: their first attempt failed, or their receiver's circuit was open",
    ["receiver"],
    registry=REGISTRY,
)
DEAD_LETTERS_MADE: Final = Counter(
    "hub_dead_letters_total",
    "deliveries given up as dead letters (refused for good, retry window over, or undeliverable)",
    ["receiver"],
    registry=REGISTRY,
)
REDRIVES: Final = Counter("hub_redrives_total", "dead letters an operator sent back to delivery", registry=REGISTRY)
ACKNOWLEDGEMENT_TIMEOUTS: Final = Counter(
    "hub_acknowledgement_timeouts_total",
    "deliveries flagged because no acknowledgement came within the acknowledgement timeout",
    ["receiver"],
    registry=REGISTRY,
)
DELIVERY_LATENCY: Final = Histogram(
    "hub_delivery_latency_seconds",
    "time from the message's acceptance to its delivery to a receiver, by MedCom event",
    ["event"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
ACKNOWLEDGEMENT_LATENCY: Final = Histogram(
    "hub_acknowledgement_latency_seconds",
    "time from the message's acceptance to a receiver's acknowledgement of it, by MedCom event",
    ["event"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)

for _connector in CONNECTORS:  # every series of the messages-in panel exists from the start, at 0
    for _outcome in (ACCEPTED, REJECTED, REFUSED):
        MESSAGES_RECEIVED.labels(_connector, _outcome)


def connector_label(connector: str) -> str:
    """The connector label of a record (its header may say anything: a Kafka-native producer sets it)."""
    return connector if connector in CONNECTORS else "other"


def event_label(event: str | None) -> str:
    return event or "unknown"


def count_message(connector: str, outcome: str) -> None:
    MESSAGES_RECEIVED.labels(connector_label(connector), outcome).inc()


def count_handled(handled: Sequence[tuple[str, str | None]], validation_seconds: float | None = None) -> None:
    """Messages the ingress worker handled, as (connector, rule of the rejection or None when accepted), and the
    time validating them took together."""
    for connector, rule in handled:
        count_message(connector, ACCEPTED if rule is None else REJECTED)
        if rule is not None:
            MESSAGES_REJECTED.labels(rule).inc()
    if validation_seconds is not None and handled:
        each = validation_seconds / len(handled)
        for _ in handled:
            VALIDATION_SECONDS.observe(each)


def count_attempt(receiver: str, outcome: str) -> None:
    DELIVERY_ATTEMPTS.labels(receiver, outcome).inc()


def observe_delivery(event: str | None, seconds: float | None) -> None:
    if seconds is not None:
        DELIVERY_LATENCY.labels(event_label(event)).observe(seconds)


def observe_acknowledgement(event: str | None, seconds: float | None) -> None:
    if seconds is not None:
        ACKNOWLEDGEMENT_LATENCY.labels(event_label(event)).observe(seconds)


# --- state, read at each scrape -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class State:
    """What the hub holds at the moment of a scrape."""

    messages: Mapping[str, int] = field(default_factory=dict)  # tracked messages by status
    deliveries: Mapping[str, int] = field(default_factory=dict)  # deliveries by status
    overdue_acknowledgements: int = 0
    dead_letters_waiting: int = 0
    circuits: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # DeliveryWorker.circuits()
    poisoned: Mapping[str, int] = field(default_factory=dict)  # poison records per worker
    stalled_seconds: Mapping[str, float] = field(default_factory=dict)  # per worker
    lag: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (topic, group) -> records behind


def state_registry(state: State) -> CollectorRegistry:
    """The state gauges of one scrape, in a registry of their own (they are not counts of work)."""
    registry = CollectorRegistry()
    messages = Gauge("hub_messages", "tracked messages by status", ["status"], registry=registry)
    for status, n in state.messages.items():
        messages.labels(status).set(n)
    deliveries = Gauge("hub_deliveries", "deliveries by status", ["status"], registry=registry)
    for status, n in state.deliveries.items():
        deliveries.labels(status).set(n)
    Gauge("hub_acknowledgements_overdue", "delivered messages whose acknowledgement is overdue", registry=registry).set(
        state.overdue_acknowledgements
    )
    Gauge("hub_dead_letters", "dead letters waiting for an operator", registry=registry).set(state.dead_letters_waiting)
    parked = Gauge("hub_parked_deliveries", "deliveries parked per receiver", ["receiver"], registry=registry)
    circuit = Gauge(
        "hub_circuit_open", "1 while a receiver's delivery circuit is open", ["receiver"], registry=registry
    )
    for receiver, lane in state.circuits.items():
        parked.labels(receiver).set(lane["parked"])
        circuit.labels(receiver).set(1 if lane["circuit"] == "open" else 0)
    poison = Counter(
        "hub_poison_records",
        "records whose handling raised every time, set aside (rejected, dead-lettered or recorded reduced)",
        ["worker"],
        registry=registry,
    )
    stalled = Gauge(
        "hub_worker_stalled_seconds",
        "how long a worker has held records without finishing any",
        ["worker"],
        registry=registry,
    )
    for worker, n in state.poisoned.items():
        poison.labels(worker).inc(n)
    for worker, seconds in state.stalled_seconds.items():
        stalled.labels(worker).set(seconds)
    lag = Gauge(
        "hub_consumer_lag",
        "records on the topic this process's consumer has not fetched yet (highwater - position), over its"
        " assigned partitions",
        ["topic", "group"],
        registry=registry,
    )
    for (topic, group), behind in state.lag.items():
        lag.labels(topic, group).set(behind)
    return registry


def exposition(state: State) -> bytes:
    """The whole ``/metrics`` answer (Prometheus text format 0.0.4): the work counted so far, then the state."""
    return generate_latest(REGISTRY) + generate_latest(state_registry(state))


def sample_names(registries: Iterable[CollectorRegistry]) -> frozenset[str]:
    """The names of every series the registries can export (``_total``, ``_bucket``, ``_count``, ``_sum``, ...),
    whether or not a series has a value yet."""
    names: set[str] = set()
    for registry in registries:
        for family in registry.collect():
            suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}.get(family.type, ("",))
            names.update(f"{family.name}{suffix}" for suffix in suffixes)
    return frozenset(names)


def exported_names() -> frozenset[str]:
    """Every series name the hub exports: what the shipped dashboard and alert rules may use."""
    return sample_names([REGISTRY, state_registry(State())])

"""``/metrics`` in Prometheus text format: message and delivery figures from the tracking store,
parked deliveries, open circuits, poison records and stalled workers from this process."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest

from hub.api.deps import CircuitsDep, DeadLettersDep, ProgressDep, TrackingDep

router = APIRouter(tags=["health"])


@router.get("/metrics")
async def metrics(
    tracking: TrackingDep, dead_letters: DeadLettersDep, circuits: CircuitsDep, progress: ProgressDep
) -> Response:
    counts = await tracking.counts()
    dead = await dead_letters.pending_count()
    registry = CollectorRegistry()
    messages = Gauge("hub_messages", "tracked messages by status", ["status"], registry=registry)
    for status, n in counts["messages"].items():
        messages.labels(status).set(n)
    deliveries = Gauge("hub_deliveries", "deliveries by status", ["status"], registry=registry)
    for status, n in counts["deliveries"].items():
        deliveries.labels(status).set(n)
    Gauge("hub_acknowledgements_overdue", "delivered messages whose acknowledgement is overdue", registry=registry).set(
        counts["overdue"]["acknowledgements"]
    )
    Gauge("hub_dead_letters", "dead letters waiting for an operator", registry=registry).set(dead)
    parked = Gauge("hub_parked_deliveries", "deliveries parked per receiver", ["receiver"], registry=registry)
    circuit = Gauge(
        "hub_circuit_open", "1 while a receiver's delivery circuit is open", ["receiver"], registry=registry
    )
    for receiver, state in circuits().items():
        parked.labels(receiver).set(state["parked"])
        circuit.labels(receiver).set(1 if state["circuit"] == "open" else 0)
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
    for worker, heartbeat in progress.items():
        poison.labels(worker).inc(heartbeat.poisoned)
        stalled.labels(worker).set(heartbeat.stalled_for())
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

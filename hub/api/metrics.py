"""``/metrics`` in Prometheus text format: the work this process counted as it happened (hub.observe.metrics),
then the state at this moment: message and delivery figures from the tracking store, dead letters waiting,
parked deliveries and open circuits, poison records and stalled workers, and each consumer's lag.

Each hub process answers for itself; Prometheus sums across instances."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from hub.api.deps import CircuitsDep, ConsumersDep, DeadLettersDep, ProgressDep, TrackingDep
from hub.observe.lag import consumer_lag
from hub.observe.metrics import State, exposition

router = APIRouter(tags=["health"])


@router.get("/metrics")
async def metrics(
    tracking: TrackingDep,
    dead_letters: DeadLettersDep,
    circuits: CircuitsDep,
    progress: ProgressDep,
    consumers: ConsumersDep,
) -> Response:
    counts = await tracking.counts()
    state = State(
        messages=counts["messages"],
        deliveries=counts["deliveries"],
        overdue_acknowledgements=counts["overdue"]["acknowledgements"],
        dead_letters_waiting=await dead_letters.pending_count(),
        circuits=circuits(),
        poisoned={worker: heartbeat.poisoned for worker, heartbeat in progress.items()},
        stalled_seconds={worker: heartbeat.stalled_for() for worker, heartbeat in progress.items()},
        lag=await consumer_lag(consumers),
    )
    return Response(exposition(state), media_type=CONTENT_TYPE_LATEST)

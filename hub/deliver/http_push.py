"""One HTTP push of a message to a receiver's system; the answer classified by the retry policy."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from hub.broker.records import OutboxRecord
from hub.deliver.policy import AttemptOutcome, classify, parse_retry_after
from hub.route.register import Organisation


@dataclass(frozen=True, slots=True)
class AttemptResult:
    outcome: AttemptOutcome
    error: str | None = None
    retry_after: float | None = None
    status_code: int | None = None


async def push(client: httpx.AsyncClient, item: OutboxRecord, receiver: Organisation) -> AttemptResult:
    """POST the original bytes, with the MessageHeader.id as idempotency key."""
    headers = {
        "Content-Type": "application/fhir+json",
        "Idempotency-Key": item.message_id,
        "X-Hub-Tracking-Id": item.tracking_id,
    }
    if receiver.endpoint.bearer_token:
        headers["Authorization"] = f"Bearer {receiver.endpoint.bearer_token}"
    if receiver.endpoint.url is None:
        return AttemptResult(AttemptOutcome.GIVE_UP, error="the receiver has no URL in the register")
    try:
        response = await client.post(receiver.endpoint.url, content=item.raw, headers=headers)
    except httpx.TimeoutException:
        return AttemptResult(AttemptOutcome.RETRY, error="no answer within the timeout")
    except httpx.TransportError as exc:
        return AttemptResult(AttemptOutcome.RETRY, error=f"cannot reach the receiver: {type(exc).__name__}")
    outcome = classify(response.status_code)
    return AttemptResult(
        outcome,
        error=None if outcome is AttemptOutcome.DELIVERED else f"HTTP {response.status_code}",
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
        status_code=response.status_code,
    )

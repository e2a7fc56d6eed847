"""One HTTP push of a message to a receiver's system; the answer classified by the retry policy.

aiohttp directly: a push is the hub's most frequent outgoing request (each message and each
acknowledgement), and httpx over the same transport cost about four times the CPU per request here.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp

from hub.broker.records import OutboxRecord
from hub.deliver.formats import NotConvertible, body_for
from hub.deliver.policy import AttemptOutcome, classify, parse_retry_after
from hub.route.register import Organisation


@dataclass(frozen=True, slots=True)
class AttemptResult:
    outcome: AttemptOutcome
    error: str | None = None
    retry_after: float | None = None
    status_code: int | None = None


def receiver_session(*, max_connections: int, timeout_seconds: float) -> aiohttp.ClientSession:
    """The pushes' connection pool: `timeout_seconds` for a whole attempt, connect to last byte."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=max_connections, limit_per_host=0),
        timeout=aiohttp.ClientTimeout(total=timeout_seconds),
        auto_decompress=False,
        skip_auto_headers=("User-Agent",),
        headers={"User-Agent": "sektor-hub"},
    )


async def push(session: aiohttp.ClientSession, item: OutboxRecord, receiver: Organisation) -> AttemptResult:
    """POST the message in the receiver's format (the original bytes when it came in that format), with the
    MessageHeader.id as idempotency key."""
    if receiver.endpoint.url is None:
        return AttemptResult(AttemptOutcome.GIVE_UP, error="the receiver has no URL in the register")
    try:
        body = body_for(item.raw, receiver.endpoint.format)
    except NotConvertible as exc:
        return AttemptResult(AttemptOutcome.GIVE_UP, error=str(exc))
    headers = {
        "Content-Type": body.media_type,
        "Idempotency-Key": item.message_id,
        "X-Hub-Tracking-Id": item.tracking_id,
    }
    if receiver.endpoint.bearer_token:
        headers["Authorization"] = f"Bearer {receiver.endpoint.bearer_token}"
    return await post(session, receiver.endpoint.url, body.content, headers, who="the receiver")


async def post(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    who: str,
    timeout: aiohttp.ClientTimeout | None = None,
) -> AttemptResult:
    """One POST, its answer classified by the retry policy (`who` names the other side in the error)."""
    try:
        # without a timeout of its own, the session's
        async with session.post(url, data=body, headers=headers, timeout=timeout or session.timeout) as response:
            await response.read()  # the answer is not used, but the connection is reused only once it is read
            status, retry_after = response.status, response.headers.get("Retry-After")
    except TimeoutError:
        return AttemptResult(AttemptOutcome.RETRY, error="no answer within the timeout")
    except (aiohttp.ClientError, OSError) as exc:
        return AttemptResult(AttemptOutcome.RETRY, error=f"cannot reach {who}: {type(exc).__name__}")
    outcome = classify(status)
    return AttemptResult(
        outcome,
        error=None if outcome is AttemptOutcome.DELIVERED else f"HTTP {status}",
        retry_after=parse_retry_after(retry_after),
        status_code=status,
    )

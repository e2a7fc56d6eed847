"""Posting messages to the hub's HTTP ingest, as hospital and municipal integrations would.

Two disciplines: closed loop (a fixed number of requests in flight, as fast as the hub answers) and open loop
(a fixed offered rate, each message sent at its scheduled time whether or not earlier ones were answered).
Times are ``time.monotonic()``, which on Linux is one clock for every process on the machine, so they compare
directly with the receivers' arrival times.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import aiohttp

from bench.load import Outgoing

INGEST_PATH = "/fhir/$process-message"


@dataclass(slots=True)
class PostLog:
    """What happened to the posts of one run."""

    first_sent: float | None = None
    last_accepted: float | None = None
    accepted: dict[str, float] = field(default_factory=dict)  # MessageHeader.id -> when the 202 arrived
    sent_at: dict[str, float] = field(default_factory=dict)  # MessageHeader.id -> when the POST went out
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    keep_times: bool = True

    @property
    def accepted_count(self) -> int:
        return self.statuses[202]


class IngestClient:
    """Posts to one or more hub processes in turn, each message with its sender's bearer token."""

    def __init__(self, hub_urls: Sequence[str], tokens: Mapping[str, str], *, connections: int) -> None:
        self._urls = [f"{url.rstrip('/')}{INGEST_PATH}" for url in hub_urls]
        self._headers = {
            sender: {"Content-Type": "application/fhir+json", "Authorization": f"Bearer {token}"}
            for sender, token in tokens.items()
        }
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=connections, limit_per_host=connections),
            timeout=aiohttp.ClientTimeout(total=120),
        )
        self._turn = 0

    async def post(self, item: Outgoing, log: PostLog, *, attempts: int = 5) -> None:
        url = self._urls[self._turn % len(self._urls)]
        self._turn += 1
        for attempt in range(attempts):
            sent = time.monotonic()
            if log.first_sent is None:
                log.first_sent = sent
            try:
                async with self._session.post(url, data=item.raw, headers=self._headers[item.sender]) as response:
                    await response.read()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.errors[type(exc).__name__] += 1
                await asyncio.sleep(0.2 * (attempt + 1))
                continue
            now = time.monotonic()
            log.statuses[status] += 1
            if status == 202:
                log.last_accepted = now
                if log.keep_times:
                    log.accepted[item.message_id] = now
                    log.sent_at[item.message_id] = sent
                return
            if status < 500:
                return  # a refusal the bench does not expect; counted, not retried
            await asyncio.sleep(0.2 * (attempt + 1))

    async def close(self) -> None:
        await self._session.close()


async def post_closed_loop(
    client: IngestClient,
    items: Iterable[Outgoing],
    *,
    concurrency: int,
    log: PostLog,
    admit: Callable[[], Awaitable[None]] | None = None,
) -> PostLog:
    """Post everything with `concurrency` requests in flight. `admit`, when given, is awaited before each
    message and may hold the sender back: the memory run uses it to bound the backlog."""
    source = iter(items)

    async def sender() -> None:
        for item in source:  # one shared iterator: each message is taken by exactly one sender
            if admit is not None:
                await admit()
            await client.post(item, log)

    await asyncio.gather(*(sender() for _ in range(concurrency)))
    return log


async def post_open_loop(
    client: IngestClient, items: Sequence[Outgoing], *, rate: float, max_in_flight: int, log: PostLog
) -> dict[str, float]:
    """Send item i at start + i / rate. Returns the offered and achieved rates and how far sends slipped."""
    slots = asyncio.Semaphore(max_in_flight)
    tasks: set[asyncio.Task[None]] = set()
    start = time.monotonic()
    worst_slip = 0.0

    async def one(item: Outgoing) -> None:
        try:
            await client.post(item, log)
        finally:
            slots.release()

    for index, item in enumerate(items):
        due = start + index / rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await slots.acquire()
        worst_slip = max(worst_slip, time.monotonic() - due)
        task = asyncio.create_task(one(item))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    sending_time = time.monotonic() - start
    if tasks:
        await asyncio.gather(*tasks)
    return {
        "offered_per_s": rate,
        "sent_per_s": len(items) / sending_time if sending_time > 0 else 0.0,
        "worst_send_slip_ms": worst_slip * 1000,
    }


def event_loop_runner() -> asyncio.Runner:
    """An asyncio runner on uvloop (as uvicorn runs the hub), or on the standard loop without it."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        return asyncio.Runner()
    return asyncio.Runner(loop_factory=uvloop.new_event_loop)

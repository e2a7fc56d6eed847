"""Lean receiving systems for the bench, run as their own process so they do not share the hub's event loop.

``python -m bench.receivers --port P --register FILE --tokens FILE --hub-url URL [--hub-url URL2]``

One aiohttp server stands in for every organisation (``POST /receivers/<id>``). Each message is answered with
HTTP 200 at once; an acknowledgement-worker pool then sends a real MedCom Acknowledgement (``ok``, built by
:func:`hub.messages.acknowledgement.build_acknowledgement`) through the hub's ingest with the receiver's own
token. When an acknowledgement comes back to the original sender it is noted too (the full round trip).

Arrival times are ``time.monotonic()`` (one clock for the whole machine on Linux). The bench reads them, and
counters, from ``GET /bench/stats`` and ``GET /bench/arrivals``; ``POST /bench/reset`` forgets arrivals.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import orjson
from aiohttp import web

from bench.client import event_loop_runner
from bench.register import read_tokens
from hub.domain.message import MessageFacts, read_facts
from hub.messages.acknowledgement import build_acknowledgement
from hub.route.register import Register, load_register


@dataclass(slots=True)
class Counters:
    received: int = 0  # messages (not acknowledgements) that reached their receiver
    duplicates: int = 0  # the same MessageHeader.id received again by the same receiver (at-least-once delivery)
    acks_sent: int = 0  # acknowledgements the hub accepted (202)
    acks_refused: int = 0
    acks_failed: int = 0  # gave up after retries
    acks_received: int = 0  # acknowledgements delivered back to the original senders
    arrivals: dict[str, float] = field(default_factory=dict)  # message id -> arrival at its first receiver
    taken: set[tuple[str, str]] = field(default_factory=set)  # (receiver, message id): each acknowledges once
    ack_arrivals: dict[str, float] = field(default_factory=dict)  # message id -> its ack back at the sender


class BenchReceivers:
    def __init__(
        self, *, register: Register, tokens: dict[str, str], hub_urls: Sequence[str], ack_concurrency: int = 32
    ) -> None:
        self._register = register
        self._tokens = tokens
        self._ingest = [f"{url.rstrip('/')}/fhir/$process-message" for url in hub_urls]
        self._ack_concurrency = ack_concurrency
        self._queue: asyncio.Queue[tuple[str, MessageFacts]] = asyncio.Queue()
        self._turn = 0
        self.counters = Counters()
        self._session: aiohttp.ClientSession | None = None
        self._workers: list[asyncio.Task[None]] = []

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/receivers/{receiver}", self._receive)
        app.router.add_get("/bench/stats", self._stats)
        app.router.add_get("/bench/arrivals", self._arrivals)
        app.router.add_post("/bench/reset", self._reset)
        app.on_startup.append(self._start)
        app.on_cleanup.append(self._stop)
        return app

    async def _start(self, _: web.Application) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self._ack_concurrency),
            timeout=aiohttp.ClientTimeout(total=60),
        )
        self._workers = [asyncio.create_task(self._acknowledge_forever()) for _ in range(self._ack_concurrency)]

    async def _stop(self, _: web.Application) -> None:
        for task in self._workers:
            task.cancel()
        for task in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._session is not None:
            await self._session.close()

    async def _receive(self, request: web.Request) -> web.Response:
        raw = await request.read()
        arrived = time.monotonic()
        facts = read_facts(orjson.loads(raw))
        counters = self.counters
        if facts.is_acknowledgement:
            if facts.response is not None:
                counters.acks_received += 1
                counters.ack_arrivals.setdefault(facts.response.identifier, arrived)
            return web.Response(text="ok")
        message_id, receiver = facts.message_id or "", request.match_info["receiver"]
        if (receiver, message_id) in counters.taken:
            counters.duplicates += 1
            return web.Response(text="ok")  # this receiver acknowledged it once already
        counters.taken.add((receiver, message_id))
        counters.received += 1
        counters.arrivals.setdefault(message_id, arrived)  # a message to two receivers: its first arrival
        self._queue.put_nowait((receiver, facts))
        return web.Response(text="ok")

    async def _acknowledge_forever(self) -> None:
        while True:
            receiver_id, facts = await self._queue.get()
            try:
                await self._acknowledge(receiver_id, facts)
            except Exception:  # one bad acknowledgement must not stop the worker
                self.counters.acks_failed += 1

    async def _acknowledge(self, receiver_id: str, facts: MessageFacts) -> None:
        organisation = self._register.by_id(receiver_id)
        token = self._tokens.get(receiver_id)
        if organisation is None or token is None or facts.sender is None:
            self.counters.acks_failed += 1
            return
        body = orjson.dumps(
            build_acknowledgement(
                original=facts, responder=organisation.ref, recipient=facts.sender, code="ok", now=datetime.now(UTC)
            )
        )
        headers = {"Content-Type": "application/fhir+json", "Authorization": f"Bearer {token}"}
        assert self._session is not None
        for attempt in range(8):
            url = self._ingest[self._turn % len(self._ingest)]
            self._turn += 1
            try:
                async with self._session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError):
                await asyncio.sleep(0.25 * (attempt + 1))
                continue
            if status == 202:
                self.counters.acks_sent += 1
                return
            if status < 500:
                self.counters.acks_refused += 1
                return
            await asyncio.sleep(0.25 * (attempt + 1))
        self.counters.acks_failed += 1

    async def _stats(self, _: web.Request) -> web.Response:
        c = self.counters
        return web.json_response(
            {
                "received": c.received,
                "duplicates": c.duplicates,
                "acks_sent": c.acks_sent,
                "acks_refused": c.acks_refused,
                "acks_failed": c.acks_failed,
                "acks_received": c.acks_received,
                "ack_queue": self._queue.qsize(),
            },
            dumps=lambda value: orjson.dumps(value).decode(),
        )

    async def _arrivals(self, _: web.Request) -> web.Response:
        body = orjson.dumps({"arrivals": self.counters.arrivals, "ack_arrivals": self.counters.ack_arrivals})
        return web.Response(body=body, content_type="application/json")

    async def _reset(self, _: web.Request) -> web.Response:
        self.counters.arrivals.clear()
        self.counters.ack_arrivals.clear()
        return web.json_response({"status": "reset"})


async def serve(args: argparse.Namespace) -> None:
    receivers = BenchReceivers(
        register=load_register(args.register),
        tokens=read_tokens(args.tokens),
        hub_urls=args.hub_url,
        ack_concurrency=args.ack_concurrency,
    )
    runner = web.AppRunner(receivers.app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", args.port, backlog=1024).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.receivers", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--register", type=Path, required=True)
    parser.add_argument("--tokens", type=Path, required=True)
    parser.add_argument("--hub-url", action="append", required=True, help="repeat to spread acknowledgements")
    parser.add_argument("--ack-concurrency", type=int, default=32)
    args = parser.parse_args(argv)
    with event_loop_runner() as runner:
        runner.run(serve(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

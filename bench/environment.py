"""One bench environment: a fresh embedded broker, the receivers process, one or more hub processes, a fresh
tracking store (a SQLite file, or a database of its own on a PostgreSQL server: bench.databases), and the
questions the bench asks of them (how many acknowledged, what arrived when)."""

from __future__ import annotations

import asyncio
import secrets
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
import orjson

from bench.databases import drop_postgresql_database, new_postgresql_database, sqlite_url
from bench.processes import ChildProcess, rss_kib, start_hub, start_receivers, wait_until_answering
from bench.register import BenchRegister, write_register, write_tokens
from hub.broker.embedded import EmbeddedBroker, free_port
from hub.broker.topics import Topics, ensure_topics

TOPIC_PREFIX = "bench."
PARTITIONS = 8


class Stalled(RuntimeError):
    """The hub stopped making progress before every message was acknowledged."""


@dataclass(frozen=True, slots=True)
class Progress:
    acknowledged: int
    at: float  # time.monotonic() when the hub answered


class BenchEnvironment:
    """``async with BenchEnvironment(...) as env``: everything up and warmed; everything stopped on exit."""

    def __init__(
        self,
        *,
        workdir: Path,
        register: BenchRegister,
        hubs: int = 1,
        partitions: int = PARTITIONS,
        keep_database: bool = False,
        database_server: str | None = None,
    ) -> None:
        self.workdir = workdir
        self.database_server = database_server  # a PostgreSQL server's URL; None: a SQLite file
        self.keep_database = keep_database
        self.register = register
        self.hub_count = hubs
        self.partitions = partitions
        self.topics = Topics(TOPIC_PREFIX)
        self.broker = EmbeddedBroker(log_file=workdir / "broker.log")
        self.hubs: list[ChildProcess] = []
        self.hub_urls: list[str] = []
        self.receivers: ChildProcess | None = None
        self.receivers_url = ""
        self._stack = AsyncExitStack()
        self._session: aiohttp.ClientSession | None = None

    @property
    def bootstrap_servers(self) -> str:
        return self.broker.bootstrap_servers

    @property
    def broker_pid(self) -> int | None:
        process = getattr(self.broker, "_process", None)  # EmbeddedBroker keeps its Popen private
        return process.pid if process is not None else None

    def broker_rss_kib(self) -> int | None:
        pid = self.broker_pid
        return rss_kib(pid) if pid is not None else None

    async def __aenter__(self) -> BenchEnvironment:
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stack.aclose()

    async def _start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        database_url = await self._fresh_database()
        await self.broker.start()
        self._stack.callback(self.broker.stop)
        await ensure_topics(self.bootstrap_servers, self.topics, partitions=self.partitions)

        receivers_port = free_port()
        self.receivers_url = f"http://127.0.0.1:{receivers_port}"
        register_file = write_register(self.register, self.workdir / "register.yaml", receivers_url=self.receivers_url)
        tokens_file = write_tokens(self.register, self.workdir / "tokens.json")
        ports = [free_port() for _ in range(self.hub_count)]
        self.hub_urls = [f"http://127.0.0.1:{port}" for port in ports]

        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        self._stack.push_async_callback(self._session.close)

        self.receivers = start_receivers(
            port=receivers_port,
            register_file=register_file,
            tokens_file=tokens_file,
            hub_urls=self.hub_urls,
            log_file=self.workdir / "receivers.log",
        )
        self._stack.push_async_callback(self.receivers.stop)
        group = f"bench-{secrets.token_hex(4)}"
        for index, port in enumerate(ports):
            hub = start_hub(
                name=f"hub-{index + 1}",
                port=port,
                bootstrap_servers=self.bootstrap_servers,
                register_file=register_file,
                database_url=database_url,
                topic_prefix=TOPIC_PREFIX,
                partitions=self.partitions,
                consumer_group=group,
                log_file=self.workdir / f"hub-{index + 1}.log",
            )
            self.hubs.append(hub)
            self._stack.push_async_callback(hub.stop)
        await wait_until_answering(f"{self.receivers_url}/bench/stats", self.receivers)
        for hub, url in zip(self.hubs, self.hub_urls, strict=True):
            await wait_until_answering(f"{url}/readyz", hub)

    @property
    def database(self) -> str:
        return "postgresql" if self.database_server else "sqlite"

    async def _fresh_database(self) -> str:
        """A fresh tracking store for every environment, shared by its hub processes; removed afterwards
        unless kept (about 20 KB per message: gigabytes after a long run)."""
        if self.database_server is not None:
            url = await new_postgresql_database(self.database_server)
            if not self.keep_database:
                self._stack.push_async_callback(drop_postgresql_database, url)
            return url
        self._remove_database()
        if not self.keep_database:
            self._stack.callback(self._remove_database)
        return sqlite_url(self.workdir)

    def _remove_database(self) -> None:
        for path in self.workdir.glob("hub.sqlite3*"):
            path.unlink(missing_ok=True)

    async def stop_hubs_and_receivers(self) -> None:
        """Leave only the broker running (for the raw Kafka run on the same broker)."""
        for process in [*self.hubs, *([self.receivers] if self.receivers else [])]:
            await process.stop()

    # --- questions to the hub and the receivers ---------------------------------------------------------

    async def _get_json(self, url: str) -> Any:
        assert self._session is not None
        async with self._session.get(url) as response:
            response.raise_for_status()
            return orjson.loads(await response.read())

    async def count(self, status: str) -> int:
        """How many messages the hub's tracking store has in `status` (the operator API's total)."""
        found = await self._get_json(f"{self.hub_urls[0]}/api/messages?status={status}&limit=1")
        return int(found["total"])

    async def acknowledged(self) -> Progress:
        total = await self.count("acknowledged")
        return Progress(total, time.monotonic())

    async def receiver_stats(self) -> dict[str, int]:
        stats: dict[str, int] = await self._get_json(f"{self.receivers_url}/bench/stats")
        return stats

    async def arrivals(self) -> tuple[dict[str, float], dict[str, float]]:
        found = await self._get_json(f"{self.receivers_url}/bench/arrivals")
        return found["arrivals"], found["ack_arrivals"]

    async def reset_arrivals(self) -> None:
        assert self._session is not None
        async with self._session.post(f"{self.receivers_url}/bench/reset") as response:
            response.raise_for_status()

    async def wait_acknowledged(
        self, target: int, *, stall_timeout: float = 60.0, on_progress: Any = None, near: float = 0.9
    ) -> Progress:
        """Wait until the hub has `target` messages acknowledged. Polls the hub's
        store every 0.5 s, and every 0.1 s once `near` of the target is reached.
        Raises Stalled when the count does not move for `stall_timeout` seconds."""
        last_value, last_change = -1, time.monotonic()
        while True:
            progress = await self.acknowledged()
            if on_progress is not None:
                on_progress(progress.acknowledged)
            if progress.acknowledged >= target:
                return progress
            if progress.acknowledged != last_value:
                last_value, last_change = progress.acknowledged, time.monotonic()
            elif time.monotonic() - last_change > stall_timeout:
                raise Stalled(
                    f"{progress.acknowledged} of {target} acknowledged; no progress for {stall_timeout:.0f} s "
                    f"(failed: {await self.count('failed')}, rejected: {await self.count('rejected')})"
                )
            await asyncio.sleep(0.1 if progress.acknowledged >= near * target else 0.5)

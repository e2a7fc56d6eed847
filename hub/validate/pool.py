"""Validation in worker processes, off the hub's event loop.

Validation is the hub's largest piece of pure CPU work (about 0.3 ms a message, more under load). In the
hub's own process it holds the event loop, so HTTP intake, pushes and the tracking projection wait for it;
in worker processes it runs on another core while the loop goes on. A batch of raw messages is split over
the workers; each sends back the issues and facts (a few hundred bytes), not the parsed document, which the
hub parses again itself (orjson, about 7 µs) for subscription matching.

A worker that dies (killed, out of memory) breaks the pool: it is started again, and the batch in hand is
validated in the hub's own process, so no message waits for the restart.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Protocol

import orjson
import structlog

from hub.domain.message import MessageFacts
from hub.domain.outcome import Issue
from hub.faults import fault_kind
from hub.validate.envelope import UTF8_BOM
from hub.validate.validator import Validator, Verdict

log = structlog.get_logger(__name__)

_worker_validator: Validator | None = None  # one per worker process, built by _start_worker


def _start_worker(max_bytes: int, schemas_dir: Path | None, hub_pid: int) -> None:
    from hub.heap import settle_after_start
    from hub.logs import configure_logging

    global _worker_validator
    # A Ctrl-C in the terminal reaches the whole process group: the worker leaves it to the hub, which shuts
    # the pool down itself (without this, each worker would die with a KeyboardInterrupt traceback)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    configure_logging()  # JSON lines on stderr, masked, like the hub's own (a validator fault is logged)
    threading.Thread(target=_exit_with_hub, args=(hub_pid,), name="exit-with-hub", daemon=True).start()
    _worker_validator = Validator(max_bytes=max_bytes, schemas_dir=schemas_dir)
    settle_after_start()


def _exit_with_hub(hub_pid: int, interval: float = 1.0) -> None:
    """A worker outlives a hub that was killed (SIGKILL, out of memory): it then belongs to another parent.
    It notices within `interval` and exits, so no orphaned validators pile up over restarts."""
    while os.getppid() == hub_pid:
        time.sleep(interval)
    os._exit(0)


def _validate_in_worker(raws: list[bytes]) -> list[tuple[tuple[Issue, ...], MessageFacts | None]]:
    assert _worker_validator is not None, "the worker was started without its validator"
    verdicts = [_worker_validator.validate(raw) for raw in raws]  # never raises: a failure is an `exception` issue
    return [(verdict.issues, verdict.facts) for verdict in verdicts]


def _ready() -> bool:
    return _worker_validator is not None


def _document(raw: bytes) -> dict[str, Any] | None:
    """The parsed document again, in the hub's process (the worker found it to be a JSON object)."""
    try:
        document = orjson.loads(raw[len(UTF8_BOM) :] if raw.startswith(UTF8_BOM) else raw)
    except orjson.JSONDecodeError:  # cannot happen for what the worker parsed; without it, no subscription matches
        return None
    return document if isinstance(document, dict) else None


class Validation(Protocol):
    """What the ingress worker validates with: in the hub's own process, or in a ValidationPool."""

    async def validate_all(self, raws: Sequence[bytes]) -> list[Verdict]: ...


class InProcess:
    """Validation in the hub's own process (``HUB_VALIDATION_PROCESSES=0``, or a one-core machine)."""

    def __init__(self, validator: Validator) -> None:
        self._validator = validator

    async def validate_all(self, raws: Sequence[bytes]) -> list[Verdict]:
        return [self._validator.validate(raw) for raw in raws]


class ValidationPool:
    """``await pool.validate_all(raws)``: one Verdict per message, in order, as Validator.validate gives."""

    def __init__(self, validator: Validator, *, processes: int, schemas_dir: Path | None = None) -> None:
        if processes < 1:
            raise ValueError("a validation pool needs at least one process")
        self.processes = processes
        self._local = validator  # for a batch whose worker died
        self._schemas_dir = schemas_dir
        self._executor: ProcessPoolExecutor | None = None

    def _new_executor(self) -> ProcessPoolExecutor:
        # spawn, not fork: the hub's process has threads (the database driver's) and a running event loop
        return ProcessPoolExecutor(
            max_workers=self.processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(self._local.max_bytes, self._schemas_dir, os.getpid()),
        )

    async def start(self) -> None:
        """Start the workers and wait until they answer (each builds its validator as it starts; one that
        cannot fails the start, with the reason)."""
        self._executor = self._new_executor()
        loop = asyncio.get_running_loop()
        ready = await asyncio.gather(*(loop.run_in_executor(self._executor, _ready) for _ in range(self.processes)))
        if not all(ready):
            raise RuntimeError("a validation process started without its validator")

    async def close(self) -> None:
        if self._executor is not None:
            executor, self._executor = self._executor, None
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)

    async def validate_all(self, raws: Sequence[bytes]) -> list[Verdict]:
        if not raws:
            return []
        size = -(-len(raws) // self.processes)
        parts = [list(raws[start : start + size]) for start in range(0, len(raws), size)]
        found = await asyncio.gather(*(self._validate_part(part) for part in parts))
        return [verdict for part in found for verdict in part]

    async def _validate_part(self, raws: list[bytes]) -> list[Verdict]:
        executor = self._executor
        if executor is None:
            raise RuntimeError("the validation pool is not started")
        try:
            results = await asyncio.get_running_loop().run_in_executor(executor, _validate_in_worker, raws)
        except BrokenProcessPool:
            self._restart(executor)
            return [self._local.validate(raw) for raw in raws]
        except Exception as exc:  # the part did not come back (it could not be sent or read): validate it here
            log.error("a validation process failed a batch; validating it here", error=fault_kind(exc))
            return [self._local.validate(raw) for raw in raws]
        return [
            Verdict(issues, facts, _document(raw) if facts is not None else None)
            for raw, (issues, facts) in zip(raws, results, strict=True)
        ]

    def _restart(self, broken: ProcessPoolExecutor) -> None:
        if self._executor is not broken:
            return  # another batch restarted it already
        log.warning("a validation process died; starting the pool again", processes=self.processes)
        broken.shutdown(wait=False, cancel_futures=True)
        self._executor = self._new_executor()

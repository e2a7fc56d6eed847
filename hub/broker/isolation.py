"""Handling a failed batch record by record, so one poison record does not hold up the others.

``hub.broker.clients.consume_batches`` calls :func:`isolate` once a batch has failed as a whole a bounded
number of times. The rule (see also ``hub.broker.poison``):

1. Each record is handled alone, in the batch's order, with up to ``attempts`` tries (short backoff).
2. A record that still fails with a failure of its own (not outage-like) is handed to the worker's
   ``quarantine`` (which rejects or dead-letters it, visibly) and its offset is passed: the next goes on.
3. A record that still fails with an outage-like failure (broker or database away) is *held*, not set
   aside: if a record after it then goes through, the broker and database are evidently there, so the held
   one is tried once more and, failing again, set aside as poison. If instead ``outage_streak`` records in a
   row fail outage-like, or the batch ends with records held, it is an outage: nothing is set aside, and the
   batch is read again from the first unfinished record after the worker's outage backoff.

So nothing accepted is lost silently (every record is handled, or set aside by the worker with its reason, or
read again), and a database or broker outage sets nothing aside: every record fails alike, none goes through.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeAlias

import structlog
from aiokafka import ConsumerRecord

from hub.broker.poison import is_outage, is_poison
from hub.broker.progress import WorkerProgress
from hub.faults import fault_kind, fault_place

log = structlog.get_logger(__name__)

Record: TypeAlias = ConsumerRecord[bytes, bytes]
BatchHandler = Callable[[list[Record]], Awaitable[None]]
# The worker's way to set a poison record aside (reject it, dead-letter it, record a reduced form); it may raise
# an outage-like error, and the record is then read again, not lost.
Quarantine = Callable[[Record, BaseException], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Isolation:
    """How often, and how far apart, a failing batch and its records are tried."""

    attempts: int = 3  # tries of the whole batch, and of each record alone
    base_delay: float = 0.1  # seconds before the second try; doubled for each further one
    max_delay: float = 2.0
    outage_streak: int = 3  # records in a row failing outage-like, none through: an outage
    outage_base_delay: float = 0.5  # pause before a batch is read again after an outage, doubled per outage
    outage_max_delay: float = 30.0

    def delay(self, tries: int) -> float:
        """The pause after `tries` failed tries (1, 2, ...)."""
        return min(self.max_delay, self.base_delay * 2 ** max(0, tries - 1))

    def outage_delay(self, outages: int) -> float:
        return min(self.outage_max_delay, self.outage_base_delay * 2 ** min(max(0, outages - 1), 10))


async def handle_with_tries(
    handle: BatchHandler, records: list[Record], tries: int, policy: Isolation
) -> Exception | None:
    """Handle `records` up to `tries` times; None once it went through, else the last failure."""
    failure: Exception | None = None
    for attempt in range(tries):
        if attempt:
            await asyncio.sleep(policy.delay(attempt))
        try:
            await handle(records)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failure = exc
        else:
            return None
    return failure


async def isolate(
    records: Sequence[Record],
    handle: BatchHandler,
    *,
    quarantine: Quarantine | None,
    policy: Isolation,
    progress: WorkerProgress,
) -> list[Record]:
    """Handle `records` one by one (the rule is in the module's docstring). Returns the records to read again,
    from the first unfinished one on; empty when every record was handled or set aside."""
    name = progress.name
    held: list[tuple[int, Exception]] = []  # (position, failure) of records that failed outage-like
    for position, record in enumerate(records):
        failure = await handle_with_tries(handle, [record], policy.attempts, policy)
        if failure is None:
            progress.advanced()
            for suspect, _ in held:  # a later record went through: the held ones failed on their own
                again = await handle_with_tries(handle, [records[suspect]], 1, policy)
                if again is None:
                    progress.advanced()
                elif not await _set_aside(records[suspect], again, quarantine, progress, others_went_through=True):
                    return list(records[suspect:])
            held.clear()
            continue
        if is_poison(failure, others_went_through=False):
            if not await _set_aside(record, failure, quarantine, progress, others_went_through=False):
                return list(records[position:])
            continue
        held.append((position, failure))
        if len(held) >= policy.outage_streak:
            break
    if held:
        first, failure = held[0]
        log.warning(
            "records fail alone as in an outage; nothing set aside, they will be read again",
            worker=name,
            records=len(records) - first,
            error=fault_kind(failure),
        )
        return list(records[first:])
    return []


async def _set_aside(
    record: Record,
    failure: Exception,
    quarantine: Quarantine | None,
    progress: WorkerProgress,
    *,
    others_went_through: bool,
) -> bool:
    """Hand a poison record to the worker's quarantine; False when it could not be (the record is read again)."""
    where = {"partition": record.partition, "offset": record.offset}
    if quarantine is None:
        log.error("poison record, and no quarantine: it will be read again", worker=progress.name, **where)
        return False
    log.error(
        "poison record set aside",
        worker=progress.name,
        error=fault_kind(failure),
        at=fault_place(failure),
        outage_like=is_outage(failure),
        others_went_through=others_went_through,
        **where,
    )
    try:
        await quarantine(record, failure)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.error(
            "poison record could not be set aside; it will be read again",
            worker=progress.name,
            error=fault_kind(exc),
            at=fault_place(exc),
            **where,
        )
        return False
    progress.quarantined()
    return True

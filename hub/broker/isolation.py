"""Handling a failed batch record by record, so one poison record does not hold up the others.

``hub.broker.clients.consume_batches`` calls :func:`isolate` once a batch has failed as a whole a bounded
number of times. This is the one place where a batch worker's failures are acted on; what they mean is decided
in ``hub.broker.poison``, and a handler may say it itself by raising an outcome (``hub.broker.outcomes``).
The rule:

1. Each record is handled alone, in the batch's order, with up to ``attempts`` tries (short backoff).
2. A record that still fails with a failure of its own (not outage-like) is handed to the worker's
   ``quarantine`` (which rejects or dead-letters it, visibly) and its offset is passed: the next goes on.
   A ``DeadLetter`` (or ``Rejected``) is such a failure, and final: it is set aside after its first failure,
   and a batch that fails with one is not tried again as a whole either.
3. A record that still fails with an outage-like failure (broker or database away) is *held*, not set
   aside: if a record of another key after it then goes through, the broker and database are evidently there,
   so the held one is tried once more and, failing again, set aside as poison. If instead ``outage_streak``
   records in a row fail outage-like, or the batch ends with records held, it is an outage: nothing is set
   aside, and the batch is read again from the first unfinished record after the worker's outage backoff.
   Records of a held record's key are not handled before it is settled: they wait behind it, and go on once
   it has gone through or been set aside, so an outage that ends in the middle of a batch does not change the
   order of a key's records.
4. A record whose handler says ``RetryLater`` is never set aside, and no record after it is handled before it
   (so the order of its key's records is kept): the batch is read again from it (or from the first record
   held before it), after the outage backoff, until it goes through.

So nothing accepted is lost silently (every record is handled, or set aside by the worker with its reason, or
read again), and a database or broker outage sets nothing aside: every record fails alike, none goes through.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import structlog

from hub.broker.outcomes import reason_of
from hub.broker.poison import is_final, is_outage, is_poison
from hub.broker.port import Record
from hub.broker.progress import WorkerProgress
from hub.faults import fault_kind, fault_place

log = structlog.get_logger(__name__)

__all__ = ["BatchHandler", "Isolation", "Quarantine", "Record", "handle_with_tries", "isolate"]

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
    fetch_retry_delay: float = 1.0  # pause after a fetch the broker failed

    def delay(self, tries: int) -> float:
        """The pause after `tries` failed tries (1, 2, ...)."""
        return min(self.max_delay, self.base_delay * 2.0 ** max(0, tries - 1))

    def outage_delay(self, outages: int) -> float:
        return min(self.outage_max_delay, self.outage_base_delay * 2.0 ** min(max(0, outages - 1), 10))


async def handle_with_tries(
    handle: BatchHandler, records: list[Record], tries: int, policy: Isolation
) -> Exception | None:
    """Handle `records` up to `tries` times; None once it went through, else the last failure. A final failure
    (DeadLetter) ends the tries at once: it would fail the same way again."""
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
            if is_final(exc):
                break
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
    failure: Exception | None = None,
) -> list[Record]:
    """Handle `records` one by one (the rule is in the module's docstring). Returns the records to read again
    (none handled or set aside), in the batch's order; empty when every record was handled or set aside.
    `failure` is what the batch as a whole failed with: a final one of a batch of one record sets it aside
    without another try."""
    name = progress.name
    if len(records) == 1 and failure is not None and is_final(failure):
        set_aside = await _set_aside(records[0], failure, quarantine, progress, others_went_through=False)
        return [] if set_aside else list(records)
    finished: set[int] = set()  # positions handled or set aside

    def unfinished() -> list[Record]:
        return [record for position, record in enumerate(records) if position not in finished]

    held: list[tuple[int, Exception]] = []  # (position, failure) of records that failed outage-like
    waiting: list[int] = []  # positions of records of a held record's key: not handled before it is settled
    queue = list(range(len(records)))
    while queue:
        position = queue.pop(0)
        record = records[position]
        if any(_same_key(records[suspect], record) for suspect, _ in held):
            waiting.append(position)
            continue
        failed = await handle_with_tries(handle, [record], policy.attempts, policy)
        if failed is None:
            finished.add(position)
            progress.advanced()
            for suspect, _ in held:  # a record of another key went through: the held ones failed on their own
                again = await handle_with_tries(handle, [records[suspect]], 1, policy)
                if again is None:
                    finished.add(suspect)
                    progress.advanced()
                    continue
                if not is_poison(again, others_went_through=True):  # it asked to be retried later
                    _read_again(name, len(unfinished()), again)
                    return unfinished()
                if not await _set_aside(records[suspect], again, quarantine, progress, others_went_through=True):
                    return unfinished()
                finished.add(suspect)
            held.clear()
            queue[:0], waiting = waiting, []  # the records that waited behind them go next, in their order
            continue
        if is_poison(failed, others_went_through=False):
            if not await _set_aside(record, failed, quarantine, progress, others_went_through=False):
                return unfinished()
            finished.add(position)
            continue
        if not is_poison(failed, others_went_through=True):  # it asked to be retried later: nothing goes first
            _read_again(name, len(unfinished()), failed)
            return unfinished()
        held.append((position, failed))
        if len(held) >= policy.outage_streak:
            break
    if held:
        _read_again(name, len(unfinished()), held[0][1])
        return unfinished()
    return []


def _same_key(held: Record, record: Record) -> bool:
    """Whether `record` must wait for `held`: a record of the same key, whose order Kafka keeps (records without
    a key have no order to keep beyond their partition's, which is kept by reading again from the first
    unfinished one)."""
    return (
        held.key is not None
        and held.key == record.key
        and held.partition == record.partition
        and held.topic == record.topic
    )


def _read_again(name: str, count: int, failure: Exception) -> None:
    if reason_of(failure) is None:  # held for an outage-like failure, not for a handler's RetryLater
        log.warning(
            "records fail alone as in an outage; nothing set aside, they will be read again",
            worker=name,
            records=count,
            error=fault_kind(failure),
        )
    else:
        log.warning(
            "a record is to be retried later; nothing set aside, it will be read again",
            worker=name,
            records=count,
            error=fault_kind(failure),
            reason=reason_of(failure),
        )


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
        reason=reason_of(failure),
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

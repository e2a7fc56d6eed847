"""Poison records: which failures are a record's own, and which are an outage of what every record needs.

Pure decisions, no I/O; ``hub.broker.isolation`` (the batch workers' consume loop) and the delivery worker's
lanes act on them.

- A handler's own verdict comes first (``hub.broker.outcomes``): ``RetryLater`` is outage-like and never
  poison; a ``DeadLetter`` (``Rejected`` too) is poison at once, and final: no further try.
- Otherwise a failure is *outage-like* when it is what an unreachable broker or database raises: a
  ``KafkaError`` (but not one about the record itself, such as its size), an ``OSError`` (connections,
  timeouts), or a database error of the connection rather than of the statement (``OperationalError``,
  ``InterfaceError``, a disconnect, a pool timeout).
- Any other failure (a bug in the hub, a value the database refuses, a ``DataError``) is the record's own.
"""

from __future__ import annotations

from aiokafka.errors import (
    CorruptRecordException,
    InvalidMessageError,
    InvalidTimestampError,
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)
from sqlalchemy import exc as db

from hub.broker.outcomes import DeadLetter, Outcome, RetryLater, causes, outcome_of

# Kafka errors about the record being written, not about the broker: the next record may well go through
_RECORD_KAFKA_ERRORS = (
    CorruptRecordException,
    InvalidMessageError,
    InvalidTimestampError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)
_DATABASE_OUTAGES = (db.OperationalError, db.InterfaceError, db.DisconnectionError, db.TimeoutError)


def is_outage(exc: BaseException) -> bool:
    """Whether `exc` (or the exception it was raised from) looks like an outage of the broker or database.
    An outcome decides by its kind: RetryLater is one, a DeadLetter is not, whatever it was raised from."""
    for current in causes(exc):
        if isinstance(current, Outcome):
            return isinstance(current, RetryLater)
        if _is_outage_itself(current):
            return True
    return False


def _is_outage_itself(exc: BaseException) -> bool:
    if isinstance(exc, KafkaError):
        return not isinstance(exc, _RECORD_KAFKA_ERRORS)
    if isinstance(exc, OSError):  # ConnectionError, TimeoutError, a socket that closed
        return True
    if isinstance(exc, _DATABASE_OUTAGES):
        return True
    return isinstance(exc, db.DBAPIError) and exc.connection_invalidated


def is_poison(exc: BaseException, *, others_went_through: bool) -> bool:
    """A record that failed every time it was handled alone is poison when its failure is its own, or when
    records handled after it went through (so the broker and database are there) and it failed once more.
    One whose handler said RetryLater is never poison: it is read again until it goes through."""
    if isinstance(outcome_of(exc), RetryLater):
        return False
    return others_went_through or not is_outage(exc)


def is_final(exc: BaseException) -> bool:
    """Whether no further try can help: the handler said DeadLetter (or Rejected)."""
    return isinstance(outcome_of(exc), DeadLetter)


def worth_another_try(exc: BaseException, *, tries: int, attempts: int) -> bool:
    """Whether a record whose handling raised `exc` on try number `tries` is tried again: never after a
    DeadLetter; always in an outage (RetryLater included), for as long as it lasts; otherwise up to `attempts`
    tries, then it is set aside, so it is never retried for ever."""
    if is_final(exc):
        return False
    return is_outage(exc) or tries < attempts

"""Poison records: which failures are a record's own, and which are an outage of what every record needs.

Pure decisions, no I/O; ``hub.broker.clients.consume_batches`` acts on them.

- A failure is *outage-like* when it is what an unreachable broker or database raises: a ``KafkaError`` (but
  not one about the record itself, such as its size), an ``OSError`` (connections, timeouts), or a database
  error of the connection rather than of the statement (``OperationalError``, ``InterfaceError``, a
  disconnect, a pool timeout).
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
    """Whether `exc` (or the exception it was raised from) looks like an outage of the broker or database."""
    seen = 0
    current: BaseException | None = exc
    while current is not None and seen < 5:
        if _is_outage_itself(current):
            return True
        current, seen = current.__cause__, seen + 1
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
    records handled after it went through (so the broker and database are there) and it failed once more."""
    return others_went_through or not is_outage(exc)

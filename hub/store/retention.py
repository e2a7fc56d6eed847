"""Retention: how long each kind of data is kept, and which rows have outlived it (pure; the purge does I/O).

A message is finished when nothing more will happen to it without an operator: acknowledged by every
receiver, rejected at intake, or, for an acknowledgement (which is not answered), delivered. Everything else
(received, routed, delivered and waiting for its acknowledgement, failed and waiting for a redrive) is kept
whatever its age: nothing unfinished is ever purged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from hub.domain.medcom import ACKNOWLEDGEMENT_EVENT
from hub.domain.status import MessageStatus


class Kind(StrEnum):
    """The kinds of data the purge deletes, each with its own retention setting."""

    ARCHIVE = "archive"  # raw bytes of accepted messages
    TRACKING = "tracking"  # messages, deliveries and timeline steps
    MAILBOX = "mailbox"  # items receivers have taken
    LEDGER = "ledger"  # handed-over records and receivers' acknowledgements
    DEAD_LETTERS = "dead_letters"  # redriven dead letters
    READ_AUDIT = "read_audit"  # entries of the audit of reads (hub.audit), by when the read was


FINISHED: frozenset[MessageStatus] = frozenset({MessageStatus.ACKNOWLEDGED, MessageStatus.REJECTED})


def finished(status: str, event: str | None) -> bool:
    if status in FINISHED:
        return True
    return status == MessageStatus.DELIVERED and event == ACKNOWLEDGEMENT_EVENT


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """Days each kind is kept; 0 keeps it for ever."""

    archive_days: int
    tracking_days: int
    mailbox_days: int
    ledger_days: int
    dead_letter_days: int
    read_audit_days: int = 5 * 365 + 1

    def days(self, kind: Kind) -> int:
        return {
            Kind.ARCHIVE: self.archive_days,
            Kind.TRACKING: self.tracking_days,
            Kind.MAILBOX: self.mailbox_days,
            Kind.LEDGER: self.ledger_days,
            Kind.DEAD_LETTERS: self.dead_letter_days,
            Kind.READ_AUDIT: self.read_audit_days,
        }[kind]

    def cutoffs(self, now: datetime) -> dict[Kind, str]:
        """Per kind kept for a limited time, the instant (ISO 8601, as the tables store it) before which it goes."""
        return {
            kind: (now - timedelta(days=days)).isoformat(timespec="microseconds")
            for kind in Kind
            if (days := self.days(kind)) > 0
        }

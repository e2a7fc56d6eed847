"""The audit of reads has a retention of its own: five years unless set, 0 for ever."""

from __future__ import annotations

from datetime import UTC, datetime

from hub.settings import HubSettings
from hub.store.retention import Kind, RetentionPolicy

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def test_the_audit_of_reads_is_kept_five_years_unless_set() -> None:
    policy = HubSettings().retention_policy
    assert policy.days(Kind.READ_AUDIT) == 5 * 365 + 1
    assert policy.cutoffs(NOW)[Kind.READ_AUDIT] == "2021-12-03T12:00:00.000000+00:00"
    assert HubSettings(retention_read_audit_days=30).retention_policy.days(Kind.READ_AUDIT) == 30


def test_zero_keeps_the_audit_of_reads_for_ever() -> None:
    policy = RetentionPolicy(
        archive_days=30, tracking_days=90, mailbox_days=7, ledger_days=90, dead_letter_days=90, read_audit_days=0
    )
    assert Kind.READ_AUDIT not in policy.cutoffs(NOW)

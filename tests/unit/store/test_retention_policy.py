"""The retention decisions, without a database: what is finished, the cutoffs, and settings that contradict."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from hub.domain.medcom import ACKNOWLEDGEMENT_EVENT
from hub.settings import HubSettings
from hub.store.retention import Kind, RetentionPolicy, finished

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "event", "expected"),
    [
        ("acknowledged", "hospital-notification-message", True),
        ("rejected", None, True),
        ("delivered", ACKNOWLEDGEMENT_EVENT, True),  # an acknowledgement is not answered: delivered is its end
        ("delivered", "hospital-notification-message", False),  # still waits for its acknowledgement
        ("failed", "hospital-notification-message", False),  # waits for an operator's repair
        ("routed", "hospital-notification-message", False),
        ("received", None, False),
    ],
)
def test_only_a_finished_message_may_go(status: str, event: str | None, expected: bool) -> None:
    assert finished(status, event) is expected


def test_cutoffs_per_kind_and_zero_keeps_for_ever() -> None:
    policy = RetentionPolicy(archive_days=30, tracking_days=90, mailbox_days=0, ledger_days=1, dead_letter_days=90)
    cutoffs = policy.cutoffs(NOW)
    assert Kind.MAILBOX not in cutoffs
    assert cutoffs[Kind.ARCHIVE] == "2026-11-03T12:00:00.000000+00:00"
    assert cutoffs[Kind.LEDGER] == "2026-12-02T12:00:00.000000+00:00"


def test_settings_default_to_a_policy_and_refuse_raw_bytes_outliving_their_tracking() -> None:
    policy = HubSettings().retention_policy
    assert (policy.archive_days, policy.tracking_days, policy.mailbox_days) == (30, 90, 7)
    with pytest.raises(ValidationError, match="HUB_RETENTION_ARCHIVE_DAYS"):
        HubSettings(retention_archive_days=0, retention_tracking_days=90)
    assert HubSettings(retention_archive_days=0, retention_tracking_days=0).retention_policy.cutoffs(NOW) != {}

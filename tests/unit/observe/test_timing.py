"""The acceptance time a tracking id carries, and the seconds between two stored times."""

from __future__ import annotations

import uuid

from hub.domain.ids import new_tracking_id, uuid7
from hub.observe.timing import accepted_at, seconds_between, seconds_since


def test_a_tracking_id_says_when_its_message_was_accepted() -> None:
    assert accepted_at(str(uuid7(now_ms=1_765_000_000_123))) == 1_765_000_000.123
    assert accepted_at(new_tracking_id()) is not None


def test_an_id_that_is_no_version_7_uuid_says_nothing() -> None:
    assert accepted_at(str(uuid.uuid4())) is None
    assert accepted_at("trace-42") is None
    assert accepted_at("") is None


def test_seconds_since_acceptance() -> None:
    assert seconds_since(100.0, 102.5) == 2.5
    assert seconds_since(None, 102.5) is None
    assert seconds_since(103.0, 102.5) is None  # another machine's clock ahead: no figure rather than a wrong one


def test_seconds_between_stored_times() -> None:
    assert seconds_between("2026-12-06T10:00:00.000000+00:00", "2026-12-06T10:30:00.500000+00:00") == 1800.5
    assert seconds_between("2026-12-06T10:00:00+00:00", "2026-12-06T09:00:00+00:00") is None
    assert seconds_between(None, "2026-12-06T10:00:00+00:00") is None
    assert seconds_between("yesterday", "2026-12-06T10:00:00+00:00") is None
    assert seconds_between("2026-12-06T10:00:00", "2026-12-06T10:00:00+00:00") is None  # naive against aware

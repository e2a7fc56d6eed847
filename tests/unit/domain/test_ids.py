"""The hub's own ids are UUID version 7: valid UUIDs, unique, and ordered by the millisecond they were made."""

from __future__ import annotations

import time
import uuid

from hub.domain.ids import new_event_id, new_tracking_id, uuid7


def test_a_tracking_id_is_a_version_7_rfc_uuid_carrying_its_time() -> None:
    before = time.time_ns() // 1_000_000
    made = uuid.UUID(new_tracking_id())
    after = time.time_ns() // 1_000_000
    assert made.version == 7
    assert made.variant == uuid.RFC_4122
    assert before <= made.int >> 80 <= after


def test_ids_of_later_milliseconds_sort_later_whatever_their_random_part() -> None:
    ids = [str(uuid7(now_ms=ms)) for ms in range(1_700_000_000_000, 1_700_000_000_000 + 2000, 7) for _ in range(3)]
    assert sorted(ids, key=lambda i: i[:13]) == ids


def test_ids_are_unique_even_within_one_millisecond() -> None:
    ids = {uuid7(now_ms=1_700_000_000_000) for _ in range(10_000)}
    assert len(ids) == 10_000
    assert len({new_event_id() for _ in range(10_000)}) == 10_000

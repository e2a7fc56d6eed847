"""Which copies a recovery's fence passes by (hub.pipeline.fence): only copies of messages its replay carries,
published before the recovery ended and not by its complete replay."""

from __future__ import annotations

from hub.pipeline.fence import Fence, header, superseded

CARRIED = frozenset({"t-1", "t-2"})
UNDER_WAY = Fence(replay="r-2", carried=CARRIED)
ENDED = UNDER_WAY.ended(1_000)


def passes_by(tracking_id: str, published_at_ms: int | None, replay: str | None, fence: Fence | None) -> bool:
    return superseded(tracking_id=tracking_id, published_at_ms=published_at_ms, replay=replay, fence=fence)


def test_without_a_recovery_nothing_is_passed_by() -> None:
    assert not passes_by("t-1", 10, None, None)


def test_a_copy_published_before_the_replay_ended_is_passed_by() -> None:
    # a publish under way when the loss was noticed, or an ingress batch being handled: the replay carries it
    assert passes_by("t-1", 999, None, ENDED)
    assert passes_by("t-1", 5_000, None, UNDER_WAY)  # while under way, every copy is from before the end


def test_the_complete_replay_is_not_passed_by() -> None:
    assert not passes_by("t-1", 999, "r-2", ENDED)
    assert not passes_by("t-1", 5_000, "r-2", UNDER_WAY)


def test_an_attempt_that_failed_half_way_is_passed_by() -> None:
    assert passes_by("t-2", 900, "r-1", ENDED)
    assert passes_by("t-2", 900, "r-1", UNDER_WAY)


def test_a_message_the_replay_does_not_carry_is_not_passed_by() -> None:
    # a Kafka-native record the archive never saw, a failure notice, a message accepted after the recovery
    assert not passes_by("t-9", 10, None, ENDED)
    assert not passes_by("", 10, None, ENDED)


def test_a_copy_published_after_the_end_is_not_passed_by() -> None:
    # an operator's `hub replay` or a redrive afterwards: the replay's copy was handled before it
    assert not passes_by("t-1", 1_000, None, ENDED)
    assert not passes_by("t-1", 2_000, "r-9", ENDED)


def test_a_copy_without_a_publish_time_is_not_passed_by() -> None:
    assert not passes_by("t-1", None, None, UNDER_WAY)


def test_header_reads_the_first_of_its_name_as_text() -> None:
    headers = [("hub-replay", b"r-1"), ("hub-replay", b"r-2"), ("bad", b"\xff")]
    assert header(headers, "hub-replay") == "r-1"
    assert header(headers, "bad") is None
    assert header(headers, "missing") is None
    assert header(None, "hub-replay") is None

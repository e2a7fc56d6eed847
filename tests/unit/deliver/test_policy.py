from __future__ import annotations

import random

import pytest

from hub.deliver.policy import AttemptOutcome, RetryPolicy, classify, parse_retry_after, worth_reporting


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, AttemptOutcome.DELIVERED),
        (202, AttemptOutcome.DELIVERED),
        (None, AttemptOutcome.RETRY),
        (500, AttemptOutcome.RETRY),
        (503, AttemptOutcome.RETRY),
        (408, AttemptOutcome.RETRY),
        (429, AttemptOutcome.RETRY),
        (400, AttemptOutcome.GIVE_UP),
        (401, AttemptOutcome.GIVE_UP),
        (404, AttemptOutcome.GIVE_UP),
        (301, AttemptOutcome.GIVE_UP),
    ],
)
def test_classify(status: int | None, outcome: AttemptOutcome) -> None:
    assert classify(status) is outcome


def test_backoff_grows_exponentially_within_jitter_and_cap() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0, retry_window=100.0)
    rng = random.Random(1)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 8.0), (10, 8.0)]:
        delays = [policy.delay(attempt, rng=rng) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1  # jittered


def test_retry_after_is_honoured_but_bounded_by_the_window() -> None:
    policy = RetryPolicy(base_delay=0.1, max_delay=1.0, retry_window=60.0)
    assert policy.delay(1, retry_after=30.0) == 30.0
    assert policy.delay(1, retry_after=600.0) == 60.0


def test_retry_window() -> None:
    policy = RetryPolicy(retry_window=10.0)
    assert policy.may_retry(elapsed=5.0, next_delay=4.0)
    assert not policy.may_retry(elapsed=5.0, next_delay=6.0)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("5", 5.0), ("0", 0.0), (None, None), ("", None), ("Wed, 21 Oct 2015 07:28:00 GMT", None), ("-3", None)],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value) == seconds


def test_a_long_outage_reports_the_first_attempts_then_one_in_ten() -> None:
    reported = [n for n in range(1, 2017) if worth_reporting(n)]  # a week of tries, five minutes apart
    assert reported[:10] == list(range(1, 11))
    assert reported[10:13] == [20, 30, 40]
    assert len(reported) == 10 + 2016 // 10 - 1

"""The retry policy: which answers are worth another try, and how long to wait. Pure, no I/O."""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum


class AttemptOutcome(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"  # timeouts, connection errors, 5xx, 408, 429
    GIVE_UP = "give-up"  # any other refusal: retrying would get the same answer


RETRYABLE_STATUS = frozenset({408, 429})


def classify(status_code: int | None) -> AttemptOutcome:
    """The outcome of one HTTP attempt; ``None`` stands for no answer (timeout, refused connection)."""
    if status_code is None or status_code >= 500 or status_code in RETRYABLE_STATUS:
        return AttemptOutcome.RETRY
    if 200 <= status_code < 300:
        return AttemptOutcome.DELIVERED
    return AttemptOutcome.GIVE_UP


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base_delay: float = 0.5
    max_delay: float = 30.0
    retry_window: float = 300.0  # seconds from the first attempt after which a delivery is failed

    def delay(self, attempt: int, *, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based): exponential backoff with "equal
        jitter" (a random wait in the upper half of the step, so that retries spread out but never come at once),
        never shorter than what the receiver asked for with Retry-After."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        wait = (rng or random).uniform(ceiling / 2, ceiling)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.retry_window))
        return wait

    def may_retry(self, *, elapsed: float, next_delay: float) -> bool:
        return elapsed + next_delay <= self.retry_window


REPORTED_EVERY = 10  # after the first this many failed attempts, the timeline shows one in this many


def worth_reporting(attempt: int) -> bool:
    """Whether failed attempt number `attempt` (1-based) goes into the message's timeline: each of the first
    REPORTED_EVERY, then one in REPORTED_EVERY. A receiver away for a week is tried some 2,000 times; its
    timeline stays readable, and the parked delivery (later the dead letter) keeps every attempt."""
    return attempt <= REPORTED_EVERY or attempt % REPORTED_EVERY == 0


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (only the delta-seconds form; an HTTP date is treated as absent)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None

"""Outcomes: what a worker's handler says of a record it cannot handle, by raising; acted on in one place.

A handler (ingress, delivery, recorder) raises one of these when it knows what kind of failure it has, rather
than let a bare exception be guessed at:

- :class:`RetryLater`: *transient*. Nothing is wrong with the record; something it needs is away for now. The
  record is not set aside, however often it fails: it is read again after a pause that grows (the consume
  loop's outage backoff). Raise it only for what passes by itself.
- :class:`DeadLetter`: *deterministic*. The record fails the same way however often it is tried. It is set
  aside at once, with its reason, through the worker's quarantine (ingress: rejected, and copied to the
  dead-letter topic; delivery: a dead letter; recorder: recorded in a reduced form); it is not tried again.
- :class:`Rejected`: a DeadLetter whose message is refused with an `outcome`: the issues its sender is
  answered with (the ingress worker's ``hub.domain.outcome.Issue``).

Any other exception is classified by ``hub.broker.poison``: an outage of the broker, the OS or the database
connection is retried like RetryLater; anything else is tried a bounded number of times, then set aside like
a DeadLetter. The decisions are made in ``hub.broker.poison`` and acted on by ``hub.broker.isolation`` (the
batch workers' consume loop) and the delivery worker's lanes (``hub.deliver.worker.after_failure``).

A reason is said in logs, tracking events and dead letters: it names what failed, never quotes the message.
"""

from __future__ import annotations

from collections.abc import Sequence


class Outcome(Exception):
    """A handler's verdict on the record it was handling, with the reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RetryLater(Outcome):
    """Not now: the record is read again later, never set aside for this."""


class DeadLetter(Outcome):
    """Never: the record is set aside at once through the worker's quarantine, with `reason`."""


class Rejected(DeadLetter):
    """Never, and the sender is told: the message is refused with `outcome`, the issues its sender is answered
    with (empty: one ``exception`` issue saying `reason`)."""

    def __init__(self, reason: str, outcome: Sequence[object] = ()) -> None:
        super().__init__(reason)
        self.outcome = tuple(outcome)


def outcome_of(exc: BaseException) -> Outcome | None:
    """The outcome `exc` is, or was raised from (``raise ... from``, a few levels deep); None for a bare failure."""
    for current in causes(exc):
        if isinstance(current, Outcome):
            return current
    return None


def causes(exc: BaseException, depth: int = 5) -> list[BaseException]:
    """`exc` and the exceptions it was raised from, innermost last, at most `depth` of them."""
    found: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(found) < depth:
        found.append(current)
        current = current.__cause__
    return found


def reason_of(exc: BaseException) -> str | None:
    """The reason a handler gave with its outcome, if `exc` is (or was raised from) one."""
    outcome = outcome_of(exc)
    return outcome.reason if outcome is not None else None


def underlying(exc: BaseException) -> BaseException:
    """What went wrong: for an outcome raised from another exception, that exception; else `exc` itself."""
    if isinstance(exc, Outcome) and exc.__cause__ is not None:
        return exc.__cause__
    return exc

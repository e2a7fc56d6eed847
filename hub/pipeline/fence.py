"""Which records a recovery from a lost broker log has superseded (pure: no I/O).

When the broker loses its log, the hub publishes the archive again in acceptance order (hub.pipeline.recovery).
Copies of the same messages can still reach the new log *before* that replay: publishes that were under way
when the loss was detected (the producer sends them as soon as the topics exist again), an ingress batch that
was being handled, or a replay attempt that failed half way. Read first, such a copy would be delivered before
older messages of the same patient that come only with the replay. The `Fence` of a recovery names what its
complete replay carries; a copy of one of those that was published before the intake was held (or by another
replay attempt) is superseded: the workers pass it by, and the replay's copy takes its place, in order.

Only copies of messages the replay carries are passed by, so nothing is lost; what is not in it (a Kafka-native
record the archive never saw, a failure notice, a resend for want of an acknowledgement) is handled as always.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

REPLAY_HEADER: Final = "hub-replay"  # the id of the replay a record was published by


@dataclass(frozen=True, slots=True)
class Fence:
    """What one recovery replays: `replay`, the id its complete replay's records carry; `carried`, the tracking
    ids of the messages it publishes again; `until_ms`, when it ended (record timestamps, milliseconds since the
    epoch), None while it is under way. Every other copy of a carried message that reaches the new log was
    published before the recovery ended: intake was held and the ingress worker waited until then."""

    replay: str
    carried: frozenset[str]
    until_ms: int | None = None

    def ended(self, at_ms: int) -> Fence:
        return Fence(self.replay, self.carried, at_ms)


def superseded(*, tracking_id: str, published_at_ms: int | None, replay: str | None, fence: Fence | None) -> bool:
    """True when this copy of a message is to be passed by, because the fence's replay carries the message again,
    behind the older messages of its patient: a copy from another replay (an attempt that failed, a replay of an
    earlier recovery) or not from a replay, published before the recovery ended (any, while it is under way); a
    copy published later (a `hub replay` an operator runs afterwards, a redrive) is not passed by. The caller
    never asks for a resend (it is meant to reach a receiver that has the message); a record without a tracking
    id or a publish time is not passed by."""
    if fence is None or not tracking_id or tracking_id not in fence.carried or published_at_ms is None:
        return False
    before_the_end = fence.until_ms is None or published_at_ms < fence.until_ms
    if replay is not None:
        return before_the_end and replay != fence.replay
    return before_the_end


def header(headers: Sequence[tuple[str, bytes | None]] | None, name: str) -> str | None:
    """A record header's value as text (the first of that name), None when it is missing or not UTF-8."""
    for key, value in headers or ():
        if key == name:
            try:
                return (value or b"").decode()
            except UnicodeDecodeError:
                return None
    return None

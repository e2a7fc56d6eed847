"""A worker's heartbeat: when it last finished work, whether it holds work it has not finished, and how many
poison records it set aside. Pure bookkeeping with an injectable clock; ``/readyz`` and ``/metrics`` read it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(slots=True)
class WorkerProgress:
    name: str
    clock: Callable[[], float] = time.monotonic
    last_progress_at: float = field(init=False)
    busy_since: float | None = field(default=None, init=False)  # records fetched and not yet committed
    poisoned: int = field(default=0, init=False)  # poison records set aside (quarantined) since the start

    def __post_init__(self) -> None:
        self.last_progress_at = self.clock()

    def took(self) -> None:
        """Records were fetched: the worker has work until `idle`."""
        if self.busy_since is None:
            self.busy_since = self.clock()

    def advanced(self) -> None:
        """Some of the work finished (a record handled, set aside or committed)."""
        self.last_progress_at = self.clock()

    def idle(self) -> None:
        """Everything fetched is finished and committed."""
        self.busy_since = None
        self.advanced()

    def quarantined(self) -> None:
        self.poisoned += 1
        self.advanced()

    def stalled_for(self) -> float:
        """Seconds the worker has held work without finishing any of it; 0 when it holds none."""
        if self.busy_since is None:
            return 0.0
        return max(0.0, self.clock() - max(self.busy_since, self.last_progress_at))

    def stalled(self, threshold_seconds: float) -> bool:
        return self.stalled_for() > threshold_seconds

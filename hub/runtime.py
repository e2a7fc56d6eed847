"""What a running hub holds: built once by the app's lifespan, handed to routes through ``deps``."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from hub.broker.clients import Publisher
from hub.broker.progress import WorkerProgress
from hub.broker.topics import Topics
from hub.deliver.ledger import DeliveryLedger
from hub.deliver.parking import DeadLetterStore
from hub.deliver.worker import DeliveryWorker
from hub.route.register import Register
from hub.route.subscription_store import SubscriptionService
from hub.settings import HubSettings
from hub.track.archive import MessageArchive
from hub.track.store import TrackingStore
from hub.validate.validator import Validator


@dataclass
class Runtime:
    settings: HubSettings
    register: Register
    store: TrackingStore
    archive: MessageArchive
    ledger: DeliveryLedger
    dead_letters: DeadLetterStore
    delivery: DeliveryWorker
    publisher: Publisher
    topics: Topics
    validator: Validator
    bootstrap_servers: str
    subscriptions: SubscriptionService
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    workers: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    # the heartbeats of the workers that take records from the broker (ingress, delivery, recorder)
    progress: dict[str, WorkerProgress] = field(default_factory=dict)
    accepting: bool = True

    def stopped_workers(self) -> list[str]:
        return [name for name, task in self.workers.items() if task.done()]

    def stalled_workers(self) -> list[str]:
        """Workers that have held records for longer than ``worker_stall_seconds`` without finishing any."""
        threshold = self.settings.worker_stall_seconds
        return [name for name, progress in self.progress.items() if progress.stalled(threshold)]

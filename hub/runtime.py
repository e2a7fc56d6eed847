"""What a running hub holds: built once by the app's lifespan (hub.app), which puts the services the routes
need on ``app.state`` one by one (hub.api.deps.provide); no route is handed the whole of it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from connectors.intake import Intake, to_topic
from hub.broker.clients import Publisher
from hub.broker.progress import WorkerProgress
from hub.broker.topics import Topics
from hub.deliver.ledger import DeliveryLedger
from hub.deliver.mailbox import Mailbox
from hub.deliver.parking import DeadLetterStore
from hub.deliver.redrive import Redrive
from hub.deliver.rest_hook import RestHooks
from hub.deliver.worker import DeliveryWorker
from hub.observe.lag import Consumer
from hub.pipeline.recovery import Recovery
from hub.route.register import Register
from hub.route.subscription_store import SubscriptionService
from hub.settings import HubSettings
from hub.store.leases import Leases
from hub.track.archive import MessageArchive
from hub.track.store import TrackingStore
from hub.validate.validator import Validator


@dataclass(frozen=True, slots=True)
class Health:
    """What readiness looks at: the store answers, and the workers run without stalling."""

    ping: Callable[[], Awaitable[None]]
    stopped_workers: Callable[[], list[str]]
    stalled_workers: Callable[[], list[str]]


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
    mailbox: Mailbox
    redrive: Redrive
    leases: Leases  # for the work one hub process does at a time
    rest_hooks: RestHooks  # rest-hook subscriptions' handshakes, notifications, heartbeats and events
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    workers: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    # the heartbeats of the workers that take records from the broker (ingress, delivery, recorder)
    progress: dict[str, WorkerProgress] = field(default_factory=dict)
    consumers: dict[str, Consumer] = field(default_factory=dict)  # by consumer group, for their lag (hub.observe)
    accepting: bool = True
    # the intake's gate and the fence of the last recovery from a lost broker log (hub.pipeline.recovery)
    recovery: Recovery = field(default_factory=Recovery)

    def intake(self) -> Intake:
        """The intake every connector and $process-message take messages through: archived first, then onto the
        ingress topic; refused once the hub stops accepting; held while the hub recovers from a lost broker log
        (through the recovery's gate, which archives and publishes)."""
        publish = self.recovery.gate.admit(to_topic(self.publisher, self.topics.ingress), archive=self.archive)
        return Intake(publish, accepting=lambda: self.accepting)

    def stopped_workers(self) -> list[str]:
        return [name for name, task in self.workers.items() if task.done()]

    def stalled_workers(self) -> list[str]:
        """Workers that have held records for longer than ``worker_stall_seconds`` without finishing any."""
        threshold = self.settings.worker_stall_seconds
        return [name for name, progress in self.progress.items() if progress.stalled(threshold)]

    def health(self) -> Health:
        return Health(self.store.ping, self.stopped_workers, self.stalled_workers)

"""What a running hub holds: built once by the app's lifespan, handed to routes through ``deps``."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from hub.broker.clients import Publisher
from hub.broker.topics import Topics
from hub.route.register import Register
from hub.settings import HubSettings
from hub.track.store import TrackingStore
from hub.validate.validator import Validator


@dataclass
class Runtime:
    settings: HubSettings
    register: Register
    store: TrackingStore
    publisher: Publisher
    topics: Topics
    validator: Validator
    bootstrap_servers: str
    workers: dict[str, asyncio.Task[None]] = field(default_factory=dict)

    def stopped_workers(self) -> list[str]:
        return [name for name, task in self.workers.items() if task.done()]

"""Rest-hook subscriptions at the edge: the handshake, event notifications and heartbeats POSTed to the
subscriber's ``channel.endpoint`` (hub.messages.subscription_notification shapes them).

An event notification is how a copy of a message goes to a subscriber whose matching subscription is a rest-hook:
the delivery worker hands it here instead of to the register's endpoint, and its answer is classified like any
push (2xx delivered, 408/429/5xx and no answer retried, other 4xx refused), so the copy has every guarantee a
delivery has. A copy whose subscription has been deleted, or is no rest-hook any more, goes to the register's
endpoint instead: it was matched, and is not dropped.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson
import structlog

from hub.broker.records import OutboxRecord
from hub.deliver import http_push
from hub.deliver.http_push import AttemptResult
from hub.deliver.policy import AttemptOutcome
from hub.deliver.subscription_events import SubscriptionEvents
from hub.fhirxml.convert import document_of, json_text
from hub.messages.subscription_notification import NotificationType, notification_bundle
from hub.route.subscription import RestHook, Subscription, SubscriptionStatus
from hub.route.subscription_store import SubscriptionStore
from hub.store.leases import Leases
from hub.ticks import ticks

log = structlog.get_logger(__name__)

HEARTBEAT_LEASE = "rest-hook-heartbeats"


def _headers(rest_hook: RestHook, *, kind: NotificationType, subscription_id: str) -> dict[str, str]:
    headers = {
        "Content-Type": "application/fhir+json",
        "X-Hub-Subscription": subscription_id,
        "X-Hub-Notification-Type": str(kind),
    }
    for header in rest_hook.headers:
        name, _, value = header.partition(":")
        headers[name.strip()] = value.strip()
    return headers


async def post(
    session: aiohttp.ClientSession,
    rest_hook: RestHook,
    bundle: dict[str, Any],
    *,
    kind: NotificationType,
    subscription_id: str,
    default_timeout: float,
) -> AttemptResult:
    """POST one notification Bundle; the answer classified as a push's."""
    timeout = aiohttp.ClientTimeout(total=float(rest_hook.timeout_seconds or default_timeout))
    headers = _headers(rest_hook, kind=kind, subscription_id=subscription_id)
    return await http_push.post(
        session, rest_hook.endpoint, orjson.dumps(bundle), headers, who="the endpoint", timeout=timeout
    )


class RestHooks:
    """Sends a rest-hook subscription's notifications: handshakes, events, heartbeats."""

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession,
        subscriptions: SubscriptionStore,
        events: SubscriptionEvents,
        base_url: str,
        timeout_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.session = session
        self.subscriptions = subscriptions
        self.events = events
        self.base_url = base_url
        self.timeout_seconds = timeout_seconds
        self.clock = clock
        self.last_sent: dict[str, float] = {}  # subscription id -> when this process last sent it anything

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    async def _send(self, subscription: Subscription, kind: NotificationType, bundle: dict[str, Any]) -> AttemptResult:
        assert subscription.rest_hook is not None
        result = await post(
            self.session,
            subscription.rest_hook,
            bundle,
            kind=kind,
            subscription_id=subscription.id,
            default_timeout=self.timeout_seconds,
        )
        if result.outcome is AttemptOutcome.DELIVERED:
            self.last_sent[subscription.id] = self.clock()
        return result

    async def handshake(self, subscription: Subscription) -> str | None:
        """The handshake on activation: None when the endpoint took it, else what went wrong."""
        if subscription.rest_hook is None:
            return None
        bundle = notification_bundle(
            subscription,
            base=self.base_url,
            kind=NotificationType.HANDSHAKE,
            events_since_start=await self.events.count(subscription.id),
            now=self._now(),
            notification_id=str(uuid.uuid4()),
        )
        result = await self._send(subscription, NotificationType.HANDSHAKE, bundle)
        if result.outcome is AttemptOutcome.DELIVERED:
            return None
        return f"{subscription.rest_hook.endpoint} answered {result.error}"

    async def number(self, item: OutboxRecord) -> None:
        """Give the copy its event number now, for a copy parked before any attempt (its receiver's circuit is
        open), so that $status and $events know of it while the endpoint is down; `notify` numbers the others."""
        if item.via is not None:
            await self.events.number(item.via, item, bundle_id=_bundle_id(item.raw))

    async def notify(self, item: OutboxRecord) -> AttemptResult | None:
        """The copy as an event notification of its subscription; None when the subscription is gone or no
        rest-hook any more (the copy then goes to the register's endpoint)."""
        assert item.via is not None
        subscription = await self.subscriptions.get(item.via)
        if subscription is None or subscription.rest_hook is None:
            log.info("rest-hook subscription gone; the copy goes to the register's endpoint", subscription=item.via)
            return None
        numbered = await self.events.number(subscription.id, item, bundle_id=_bundle_id(item.raw))
        if numbered is None:
            return None
        event = numbered.event
        bundle = notification_bundle(
            subscription,
            base=self.base_url,
            kind=NotificationType.EVENT,
            events_since_start=max(numbered.events_since_start, event.number),
            now=self._now(),
            notification_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{subscription.id}/{event.number}")),
            events=[replace(event, message=json_text(item.raw))],  # the notification Bundle is FHIR JSON
        )
        return await self._send(subscription, NotificationType.EVENT, bundle)

    async def heartbeat(self, subscription: Subscription) -> AttemptResult:
        bundle = notification_bundle(
            subscription,
            base=self.base_url,
            kind=NotificationType.HEARTBEAT,
            events_since_start=await self.events.count(subscription.id),
            now=self._now(),
            notification_id=str(uuid.uuid4()),
        )
        return await self._send(subscription, NotificationType.HEARTBEAT, bundle)

    async def send_due_heartbeats(self) -> int:
        """A heartbeat to each active rest-hook subscription that asked for one and was sent nothing for its
        period (by this process); returns how many were sent. One that fails is logged; the next comes a period
        later."""
        now = self.clock()
        sent = 0
        due = [
            s
            for s in await self.subscriptions.list(status=SubscriptionStatus.ACTIVE)
            if s.rest_hook is not None
            and s.rest_hook.heartbeat_seconds
            and now - self.last_sent.setdefault(s.id, now) >= s.rest_hook.heartbeat_seconds
        ]
        for subscription in due:
            result = await self.heartbeat(subscription)
            if result.outcome is AttemptOutcome.DELIVERED:
                sent += 1
            else:
                self.last_sent[subscription.id] = now  # try again a period later, not at every scan
                log.warning("heartbeat not taken", subscription=subscription.id, error=result.error)
        return sent

    async def run_heartbeats(self, stop: asyncio.Event, *, interval: float, leases: Leases | None) -> None:
        """Heartbeats, from one hub process at a time (the holder of the lease)."""
        async for _ in ticks(interval, stop):
            try:
                if leases is not None and not await leases.hold(HEARTBEAT_LEASE, ttl=max(30.0, 5 * interval)):
                    continue
                await self.send_due_heartbeats()
            except Exception as exc:  # the database may be away for a moment: the next scan tries again
                log.warning("heartbeats not sent", error=type(exc).__name__)


def _bundle_id(raw: bytes) -> str | None:
    try:
        value = document_of(raw).get("id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None

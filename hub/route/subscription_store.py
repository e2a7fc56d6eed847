"""Subscriptions kept in the hub's database (table ``subscriptions``), and the service
the API and the ingress worker use: it admits (validates, and finds the basis in the register's subscription
policy), stores, and keeps the live index in step with the store.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.route.live_subscriptions import LiveSubscriptions
from hub.route.patients import PatientRegister
from hub.route.register import Register
from hub.route.subscription import (
    RestHook,
    Subscription,
    SubscriptionStatus,
    admit,
    filters_from_dict,
    validate_subscription,
)
from hub.route.subscription_index import SubscriptionIndex
from hub.store.engine import writing
from hub.store.tables import subscriptions

log = structlog.get_logger(__name__)


class SubscriptionExists(ValueError):
    """A subscription with this id is already stored."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _from_row(row: Any) -> Subscription:
    return Subscription(
        id=row.id,
        receiver_id=row.receiver,
        topic=row.topic,
        filters=filters_from_dict(orjson.loads(row.filters)),
        status=SubscriptionStatus(row.status),
        reason=row.reason or "",
        created_at=row.created_at,
        basis=row.basis,
        channel=row.channel,
        created_by=row.created_by,
        rest_hook=RestHook.from_json(orjson.loads(row.rest_hook)) if row.rest_hook else None,
        error=row.error,
    )


def _rest_hook(subscription: Subscription) -> str | None:
    return orjson.dumps(subscription.rest_hook.as_json()).decode() if subscription.rest_hook else None


def _values(subscription: Subscription, *, origin: str, now: str) -> dict[str, Any]:
    return {
        "id": subscription.id,
        "receiver": subscription.receiver_id,
        "topic": subscription.topic,
        "filters": orjson.dumps(subscription.filters.as_dict()).decode(),
        "status": str(subscription.status),
        "reason": subscription.reason,
        "origin": origin,
        "created_at": subscription.created_at or now,
        "updated_at": now,
        "basis": subscription.basis,
        "channel": subscription.channel,
        "created_by": subscription.created_by,
        "rest_hook": _rest_hook(subscription),
        "error": subscription.error,
    }


class SubscriptionStore:
    """The repository: plain reads and writes, no validation (that is the service's)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create(self, subscription: Subscription, *, origin: str = "api") -> Subscription:
        values = _values(subscription, origin=origin, now=_now())
        try:
            async with writing(self._engine) as connection:
                await connection.execute(subscriptions.insert().values(**values))
        except sa.exc.IntegrityError as exc:
            raise SubscriptionExists(f"a subscription with id {subscription.id!r} exists") from exc
        return replace(subscription, created_at=values["created_at"])

    async def list(
        self, *, receiver: str | None = None, status: SubscriptionStatus | None = None
    ) -> list[Subscription]:
        query = sa.select(subscriptions).order_by(subscriptions.c.created_at, subscriptions.c.id)
        if receiver is not None:
            query = query.where(subscriptions.c.receiver == receiver)
        if status is not None:
            query = query.where(subscriptions.c.status == str(status))
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [_from_row(row) for row in rows]

    async def get(self, subscription_id: str) -> Subscription | None:
        async with self._engine.connect() as connection:
            row = (
                await connection.execute(sa.select(subscriptions).where(subscriptions.c.id == subscription_id))
            ).first()
        return _from_row(row) if row is not None else None

    async def set_status(
        self, subscription_id: str, status: SubscriptionStatus, *, error: str | None = None
    ) -> Subscription | None:
        async with writing(self._engine) as connection:
            result = await connection.execute(
                subscriptions.update()
                .where(subscriptions.c.id == subscription_id)
                .values(status=str(status), error=error, updated_at=_now())
            )
        if result.rowcount == 0:
            return None
        return await self.get(subscription_id)

    async def update(self, subscription: Subscription) -> Subscription | None:
        """Replace what a subscription routes on (topic, filters, status, reason, basis), and its channel when it
        names one; None when not stored. Its receiver, origin and creation stay as they are."""
        channel = (
            {"channel": subscription.channel, "rest_hook": _rest_hook(subscription)} if subscription.channel else {}
        )
        async with writing(self._engine) as connection:
            result = await connection.execute(
                subscriptions.update()
                .where(subscriptions.c.id == subscription.id)
                .values(
                    topic=subscription.topic,
                    filters=orjson.dumps(subscription.filters.as_dict()).decode(),
                    status=str(subscription.status),
                    reason=subscription.reason,
                    basis=subscription.basis,
                    error=subscription.error,
                    **channel,
                    updated_at=_now(),
                )
            )
        if result.rowcount == 0:
            return None
        return await self.get(subscription.id)

    async def delete(self, subscription_id: str) -> bool:
        async with writing(self._engine) as connection:
            result = await connection.execute(subscriptions.delete().where(subscriptions.c.id == subscription_id))
        return bool(result.rowcount)

    async def load_active(self) -> builtins.list[Subscription]:
        return await self.list(status=SubscriptionStatus.ACTIVE)

    async def seed(self, seeds: Iterable[Subscription]) -> builtins.list[str]:
        """Store the register file's subscriptions that are not stored yet; returns their ids.

        One already stored is left as it is: an operator may have paused it through the API.
        """
        wanted = list(seeds)
        if not wanted:
            return []
        async with writing(self._engine) as connection:
            stored = set(
                (
                    await connection.execute(
                        sa.select(subscriptions.c.id).where(subscriptions.c.id.in_([s.id for s in wanted]))
                    )
                ).scalars()
            )
            now = _now()
            new = [s for s in wanted if s.id not in stored]
            if new:
                await connection.execute(subscriptions.insert(), [_values(s, origin="register", now=now) for s in new])
        return [s.id for s in new]

    async def fingerprint(self) -> tuple[int, str | None]:
        """Changes whenever a subscription is created, changed or deleted (for processes that share a store)."""
        async with self._engine.connect() as connection:
            row = (await connection.execute(sa.select(sa.func.count(), sa.func.max(subscriptions.c.updated_at)))).one()
        return int(row[0]), row[1]


# Shakes hands with a rest-hook subscription's endpoint: None when it answered, else what went wrong.
Handshake = Callable[[Subscription], Awaitable[str | None]]


class SubscriptionService:
    """Validates and stores subscriptions, and keeps `live` (read by the ingress worker) in step.

    A rest-hook subscription is activated (made, changed while active, or resumed) only after its endpoint took the
    `handshake`: otherwise it is stored with status error and the reason, and routes nothing until activated again.
    """

    def __init__(
        self,
        store: SubscriptionStore,
        register: Register,
        known_events: Iterable[str],
        patients: PatientRegister | None = None,
        handshake: Handshake | None = None,
    ) -> None:
        self.store = store
        self.register = register
        self.known_events = frozenset(known_events)
        self.live = LiveSubscriptions(patients=patients)
        self.handshake = handshake
        self._fingerprint: tuple[int, str | None] | None = None

    async def _activated(self, subscription: Subscription, before: Subscription | None = None) -> Subscription:
        """The subscription as it may be stored: a rest-hook that becomes active (or changes its channel while
        active) shakes hands first; if its endpoint does not take the handshake, its status is error."""
        if not subscription.active or subscription.rest_hook is None or self.handshake is None:
            return replace(subscription, error=None) if subscription.active else subscription
        if before is not None and before.active and before.rest_hook == subscription.rest_hook:
            return replace(subscription, error=None)  # active, and the same endpoint: no new handshake
        problem = await self.handshake(subscription)
        if problem is None:
            return replace(subscription, error=None)
        log.warning("rest-hook handshake failed", subscription=subscription.id, problem=problem)
        return replace(subscription, status=SubscriptionStatus.ERROR, error=f"handshake failed: {problem}")

    def new_id(self) -> str:
        return str(uuid.uuid4())

    async def start(self, seeds: Sequence[Subscription] = ()) -> None:
        """Store the seeds that are new, then load every active subscription into the index."""
        added = await self.store.seed(seeds)
        if added:
            log.info("subscriptions seeded from the register file", count=len(added))
        await self.reload()

    async def reload(self) -> None:
        fingerprint = await self.store.fingerprint()
        self.live.index = SubscriptionIndex.build(await self.store.load_active(), self.register, self.known_events)
        self._fingerprint = fingerprint
        log.info("subscriptions loaded", active=len(self.live.index))

    async def reload_if_changed(self) -> bool:
        """For several hub processes sharing one database: pick up what another process changed."""
        if await self.store.fingerprint() == self._fingerprint:
            return False
        await self.reload()
        return True

    async def create(self, subscription: Subscription, *, origin: str = "api") -> Subscription:
        """Store a new subscription with its basis; raises SubscriptionError (a faulty field), SubscriptionRefused
        (outside the subscription policy) or SubscriptionExists."""
        admitted = await self._activated(admit(subscription, self.register, self.known_events))
        stored = await self.store.create(admitted, origin=origin)
        if stored.active:
            self.live.index = self.live.index.with_subscription(
                validate_subscription(stored, self.register, self.known_events)
            )
        self._fingerprint = None  # our own change: the next reload_if_changed re-reads (cheap)
        return stored

    async def set_status(self, subscription_id: str, status: SubscriptionStatus) -> Subscription | None:
        """Pause or resume; resuming one that no longer fits the register (its receiver no longer accepts the
        topic, ...) or that the subscription policy no longer allows raises SubscriptionError."""
        error = None
        if status is SubscriptionStatus.ACTIVE:
            existing = await self.store.get(subscription_id)
            if existing is None:
                return None
            admit(existing, self.register, self.known_events)
            activated = await self._activated(replace(existing, status=status), existing)
            status, error = activated.status, activated.error
        changed = await self.store.set_status(subscription_id, status, error=error)
        if changed is None:
            return None
        if changed.active:
            self.live.index = self.live.index.with_subscription(
                validate_subscription(changed, self.register, self.known_events)
            )
        else:
            self.live.index = self.live.index.without(subscription_id)
        self._fingerprint = None
        return changed

    async def update(self, subscription: Subscription) -> Subscription | None:
        """Change a stored subscription's topic, filters, status and reason, with the same checks as a new one
        (admitted again: its basis may change); None when it is not stored. Raises SubscriptionError or
        SubscriptionRefused."""
        admitted = admit(subscription, self.register, self.known_events)
        changed = await self.store.update(await self._activated(admitted, await self.store.get(subscription.id)))
        if changed is None:
            return None
        if changed.active:
            self.live.index = self.live.index.with_subscription(
                validate_subscription(changed, self.register, self.known_events)
            )
        else:
            self.live.index = self.live.index.without(changed.id)
        self._fingerprint = None
        return changed

    async def delete(self, subscription_id: str) -> bool:
        deleted = await self.store.delete(subscription_id)
        self.live.index = self.live.index.without(subscription_id)
        self._fingerprint = None
        return deleted

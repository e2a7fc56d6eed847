"""Matching a message against the subscription index, and merging the matches into the routing decision.

Pure: :func:`match` reads an immutable :class:`SubscriptionIndex` and the patient register; :func:`merge`
adds one delivery per subscribed receiver to the deliveries of the MedCom destinations.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import structlog

from hub.domain.message import MessageFacts
from hub.route.accepts import version_refusal
from hub.route.criteria import criterion_holds
from hub.route.patients import PatientRegister
from hub.route.register import Register
from hub.route.router import Delivery, RoutingDecision
from hub.route.subscription import WILDCARD, CompiledSubscription
from hub.route.subscription_index import SubscriptionIndex

log = structlog.get_logger(__name__)

SUBSCRIPTION_USE = "subscription"


@dataclass(frozen=True, slots=True)
class SubscriptionMatch:
    """One receiver that subscribed to the message; several subscriptions of one receiver make one match."""

    receiver_id: str
    subscription_id: str  # the first matching subscription (by id)
    reason: str  # "subscription <id>: <why>", one part per matching subscription, joined by "; "
    event: str
    subscription_ids: tuple[str, ...] = ()
    basis: str | None = None  # the bases of the matching subscriptions ("<rule>: <basis>"), joined by "; "
    via: str | None = None  # the first matching rest-hook subscription (by id): the copy goes as its notification
    definition: str | None = None  # the message's MessageHeader.definition ("<url>|<version>")


def _why(
    compiled: CompiledSubscription,
    facts: MessageFacts,
    bundle: dict[str, Any],
    gp: str | None,
    municipality: str | None,
    sender_id: str,
    evaluated: dict[str, bool],
) -> str | None:
    """Why the subscription matches this message, or None when a filter does not hold.

    `evaluated` holds the criteria already evaluated on this message: many subscriptions share one expression.
    """
    subscription = compiled.subscription
    filters = subscription.filters
    if filters.gp_list is not None and filters.gp_list != gp:
        return None
    if filters.municipality_code is not None and filters.municipality_code != municipality:
        return None
    if filters.sender is not None and filters.sender != sender_id:
        return None
    if filters.activity and facts.activity not in filters.activity:
        return None
    event = facts.event or ""
    parts = [f"event {event}" if subscription.topic != WILDCARD else f"any event ({event})"]
    if filters.activity:
        parts.append(f"activity {facts.activity}")
    if filters.gp_list is not None:
        parts.append(f"patient listed at {filters.gp_list}")
    if filters.municipality_code is not None:
        parts.append(f"patient resident in municipality {filters.municipality_code}")
    if filters.sender is not None:
        parts.append(f"sent by {filters.sender}")
    if compiled.criterion is not None:
        expression = filters.criteria or ""
        holds = evaluated.get(expression)
        if holds is None:
            try:
                holds = criterion_holds(compiled.criterion(bundle))
            except Exception as exc:  # a criterion never stops routing: no match, logged
                log.warning(
                    "subscription criterion failed",
                    subscription=subscription.id,
                    message_id=facts.message_id,
                    error=f"{type(exc).__name__}: {exc}"[:300],
                )
                holds = False
            evaluated[expression] = holds
        if not holds:
            return None
        parts.append(f"criteria {filters.criteria} holds")
    return f"subscription {subscription.id}: {', '.join(parts)}"


def match(
    index: SubscriptionIndex,
    facts: MessageFacts,
    bundle: dict[str, Any],
    patients: PatientRegister,
    sender_id: str,
) -> list[SubscriptionMatch]:
    """The receivers whose active subscriptions match the message, one match per receiver, by receiver id.

    The sender never gets its own message back through a subscription.
    """
    event = facts.event
    if not event or not len(index):
        return []
    entry = patients.get(facts.patient_cpr)
    gp = entry.gp if entry else None
    municipality = entry.municipality_code if entry else None
    found: dict[str, list[tuple[str, str, str | None]]] = {}
    rest_hooks: set[str] = set()  # the matching subscriptions with a rest-hook channel
    evaluated: dict[str, bool] = {}
    for compiled in index.candidates(event, gp, municipality, sender_id):
        receiver = compiled.subscription.receiver_id
        if receiver == sender_id:
            continue
        why = _why(compiled, facts, bundle, gp, municipality, sender_id, evaluated)
        if why is not None:
            found.setdefault(receiver, []).append((compiled.id, why, compiled.subscription.basis))
            if compiled.subscription.rest_hook is not None:
                rest_hooks.add(compiled.id)
    matches = []
    for receiver in sorted(found):
        reasons = sorted(found[receiver], key=lambda found_one: found_one[0])
        bases = list(dict.fromkeys(basis for _, _, basis in reasons if basis))
        matches.append(
            SubscriptionMatch(
                receiver_id=receiver,
                subscription_id=reasons[0][0],
                reason="; ".join(why for _, why, _ in reasons),
                event=event,
                subscription_ids=tuple(sid for sid, _, _ in reasons),
                basis="; ".join(bases) or None,
                via=next((sid for sid, _, _ in reasons if sid in rest_hooks), None),
                definition=facts.definition,
            )
        )
    return matches


def merge(decision: RoutingDecision, matches: Iterable[SubscriptionMatch], register: Register) -> RoutingDecision:
    """The MedCom destinations plus every subscribed receiver, one delivery per receiver.

    A receiver the destinations already name keeps its delivery (and use, and its registered endpoint: a
    rest-hook subscription carries only the copies the sender did not address); the subscription's reason is
    added to it. A copy through a rest-hook subscription names it (`via`): it goes as that subscription's
    notification. A subscriber the register no longer knows, or whose entry does not accept the event, or not in
    the message's version (hub.route.accepts.version_refusal), is skipped and logged: not a routing failure, the
    sender did not ask for it.
    """
    deliveries = {d.receiver.id: d for d in decision.deliveries}
    for found in matches:
        named = deliveries.get(found.receiver_id)
        if named is not None:
            deliveries[found.receiver_id] = replace(named, reason=f"{named.reason}; {found.reason}")
            continue
        receiver = register.by_id(found.receiver_id)
        if receiver is None:
            log.warning(
                "subscriber not in the register", receiver=found.receiver_id, subscriptions=found.subscription_ids
            )
            continue
        if found.event not in receiver.accepts:
            log.info(
                "subscriber does not accept the event",
                receiver=receiver.id,
                message_event=found.event,
                subscriptions=found.subscription_ids,
            )
            continue
        refused = version_refusal(found.event, receiver.versions_of(found.event), found.definition)
        if refused is not None:
            log.info(
                "subscriber does not accept the message's version",
                receiver=receiver.id,
                message_event=found.event,
                definition=found.definition,
                subscriptions=found.subscription_ids,
            )
            continue
        deliveries[receiver.id] = Delivery(
            receiver=receiver, use=SUBSCRIPTION_USE, reason=found.reason, basis=found.basis, via=found.via
        )
    return RoutingDecision(deliveries=tuple(deliveries.values()), failures=decision.failures)

"""The subscription: who else gets a message (in the spirit of FHIR R5 / the Subscriptions Backport IG).

A subscription names a receiver, a topic (a MedCom event code, or ``*`` for any event but acknowledgements)
and filters that must all hold: the patient's municipality of residence, the GP practice the patient is
listed at (both from the patient register), the sending organisation, the message's Provenance activity,
and a FHIRPath criterion on the Bundle.

Here: the model, reading it from its JSON/YAML form (the API, the register file's ``subscriptions:``),
validating it against the endpoint register and the event catalogue, which compiles its criterion
(:class:`CompiledSubscription`), and admitting a new one: valid, and allowed by the register's subscription
policy, whose rule becomes its basis (:func:`admit`).

No subscription that can never deliver is accepted: its receiver must accept its topic, its activity codes must be
the topic's MedCom activity codes, and its criterion must evaluate to a boolean (or nothing) on realistic messages
of the topic (hub.route.event_catalogue).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from hub.domain.medcom import ACKNOWLEDGEMENT_EVENT
from hub.route.criteria import CriteriaError, Criterion, compile_criteria
from hub.route.event_catalogue import WILDCARD as WILDCARD
from hub.route.event_catalogue import EventCatalogue, shipped_event_catalogue
from hub.route.patients import normalise_municipality_code
from hub.route.register import OrganisationKind, Register
from hub.route.subscription_policy import Refusal, basis_for

SUBSCRIPTION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_ACTIVITY_CODE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
FILTER_FIELDS = ("municipality_code", "gp_list", "sender", "activity", "criteria")


class SubscriptionStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    ERROR = "error"  # a rest-hook whose handshake failed: it routes nothing until it is activated again


class NotificationContent(StrEnum):
    """How much of the message a rest-hook notification carries (the backport's payload content)."""

    EMPTY = "empty"  # the event's number and time only
    ID_ONLY = "id-only"  # and a reference to the message, read with GET /fhir/Bundle/<id>
    FULL_RESOURCE = "full-resource"  # and the MedCom message itself


@dataclass(frozen=True, slots=True)
class RestHook:
    """A rest-hook channel: the hub POSTs subscription-notification Bundles to `endpoint`, with `headers` (each
    ``Name: value``), the message as `content` says; a heartbeat when nothing was sent for `heartbeat_seconds`;
    an attempt waits `timeout_seconds` at most (None: the hub's delivery timeout)."""

    endpoint: str
    headers: tuple[str, ...] = ()
    content: NotificationContent = NotificationContent.ID_ONLY
    heartbeat_seconds: int | None = None
    timeout_seconds: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "headers": list(self.headers),
            "content": str(self.content),
            "heartbeat_seconds": self.heartbeat_seconds,
            "timeout_seconds": self.timeout_seconds,
        }

    def shown(self) -> dict[str, Any]:
        """As the operator API shows it: the headers' values (credentials, often) left out."""
        return {**self.as_json(), "headers": [f"{h.partition(':')[0]}: ***" for h in self.headers]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RestHook:
        return cls(
            endpoint=str(data["endpoint"]),
            headers=tuple(str(h) for h in data.get("headers") or ()),
            content=NotificationContent(data.get("content") or NotificationContent.ID_ONLY),
            heartbeat_seconds=data.get("heartbeat_seconds"),
            timeout_seconds=data.get("timeout_seconds"),
        )


class SubscriptionError(ValueError):
    """A subscription that cannot be used; `field` names the faulty part (``filters.criteria``, ...)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class SubscriptionRefused(SubscriptionError):
    """A subscription the register's subscription policy does not allow; `rule` names the rule it breaks
    (None when no rule covers the subscriber's kind or the topic)."""

    def __init__(self, field: str, message: str, rule: str | None) -> None:
        super().__init__(field, message)
        self.rule = rule


@dataclass(frozen=True, slots=True)
class SubscriptionFilters:
    """All filters given must hold (AND); a filter left out does not restrict."""

    municipality_code: str | None = None  # the patient lives in this municipality (kommunekode)
    gp_list: str | None = None  # the patient is listed at this GP practice (register id)
    sender: str | None = None  # register id of the sending organisation
    activity: frozenset[str] = frozenset()  # Provenance activity codes of the message (any of them)
    criteria: str | None = None  # FHIRPath on the Bundle; matches when it yields a non-empty, non-false result

    def __post_init__(self) -> None:
        if self.municipality_code is not None:  # "0101" and "101" are the same municipality
            code = normalise_municipality_code(self.municipality_code)
            if code is not None:
                object.__setattr__(self, "municipality_code", code)

    def as_dict(self) -> dict[str, Any]:
        """The filters that are set, JSON-ready."""
        out: dict[str, Any] = {}
        for name in FILTER_FIELDS:
            value = getattr(self, name)
            if value:
                out[name] = sorted(value) if isinstance(value, frozenset) else value
        return out


@dataclass(frozen=True, slots=True)
class Subscription:
    id: str
    receiver_id: str
    topic: str  # a MedCom event code, or "*" for every event except acknowledgements
    filters: SubscriptionFilters = field(default_factory=SubscriptionFilters)
    status: SubscriptionStatus = SubscriptionStatus.ACTIVE
    reason: str = ""  # why the subscriber wants these messages (FHIR Subscription.reason)
    created_at: str | None = None
    basis: str | None = None  # "<rule>: <basis>", the subscription-policy rule that allowed it (None: made before)
    channel: str | None = None  # FHIR Subscription.channel.type when made through /fhir/Subscription
    created_by: str | None = None  # who made it through /fhir/Subscription: the organisation's id, or the operator
    rest_hook: RestHook | None = None  # channel rest-hook: the receiver's copies go as notifications to it
    error: str | None = None  # why the hub set its status to error (a failed handshake)

    @property
    def active(self) -> bool:
        return self.status is SubscriptionStatus.ACTIVE

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "receiver": self.receiver_id,
            "topic": self.topic,
            "filters": self.filters.as_dict(),
            "status": str(self.status),
            "reason": self.reason,
            "created_at": self.created_at,
            "basis": self.basis,
            "channel": self.channel,
            "created_by": self.created_by,
            **({"rest_hook": self.rest_hook.shown()} if self.rest_hook else {}),
            **({"error": self.error} if self.error else {}),
        }


# --- validation -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CompiledSubscription:
    """A validated subscription with its criterion compiled: what the index holds."""

    subscription: Subscription
    criterion: Criterion | None

    @property
    def id(self) -> str:
        return self.subscription.id


def validate_subscription(
    subscription: Subscription,
    register: Register,
    known_events: Iterable[str],
    catalogue: EventCatalogue | None = None,
) -> CompiledSubscription:
    """Check a subscription against the register, the known event codes and the event catalogue (the shipped one
    unless given), and compile its criterion.

    Raises :class:`SubscriptionError` naming the first faulty field.
    """
    catalogue = catalogue or shipped_event_catalogue()
    if not SUBSCRIPTION_ID.match(subscription.id):
        raise SubscriptionError("id", f"{subscription.id!r} is not 1-64 letters, digits, '.', '_' or '-'")
    receiver = register.by_id(subscription.receiver_id)
    if receiver is None:
        raise SubscriptionError("receiver", f"{subscription.receiver_id!r} is not in the endpoint register")
    topic = subscription.topic
    if topic == ACKNOWLEDGEMENT_EVENT:
        raise SubscriptionError("topic", "acknowledgements go only to the sender they answer; they have no topic")
    events = frozenset(known_events)
    if topic != WILDCARD and topic not in events:
        raise SubscriptionError(
            "topic", f"{topic!r} is not a known event code; use '*' or one of {', '.join(sorted(events))}"
        )
    accepted = ", ".join(sorted(receiver.accepts))
    if topic != WILDCARD and topic not in receiver.accepts:
        raise SubscriptionError(
            "receiver",
            f"{receiver.id} does not accept {topic} (its register entry accepts {accepted}): it would never get "
            f"a message through this subscription; subscribe it to one of those, or add {topic} to its accepts",
        )
    if topic == WILDCARD and not receiver.accepts - {ACKNOWLEDGEMENT_EVENT}:
        raise SubscriptionError(
            "receiver",
            f"{receiver.id} accepts nothing but acknowledgements ({accepted}), which no subscription carries: "
            "it would never get a message through this subscription",
        )
    filters = subscription.filters
    if filters.municipality_code is not None and normalise_municipality_code(filters.municipality_code) is None:
        raise SubscriptionError("filters.municipality_code", f"{filters.municipality_code!r} is not a kommunekode")
    if filters.gp_list is not None:
        practice = register.by_id(filters.gp_list)
        if practice is None:
            raise SubscriptionError("filters.gp_list", f"{filters.gp_list!r} is not in the endpoint register")
        if practice.kind is not OrganisationKind.GP:
            raise SubscriptionError("filters.gp_list", f"{filters.gp_list!r} is a {practice.kind}, not a GP practice")
    if filters.sender is not None and register.by_id(filters.sender) is None:
        raise SubscriptionError("filters.sender", f"{filters.sender!r} is not in the endpoint register")
    allowed = catalogue.activity_codes(topic)
    for code in sorted(filters.activity):
        if not _ACTIVITY_CODE.match(code):
            raise SubscriptionError("filters.activity", f"{code!r} is not an activity code")
        if allowed is not None and code not in allowed:
            of = "any event" if topic == WILDCARD else f"{topic} messages"
            raise SubscriptionError(
                "filters.activity",
                f"{code!r} is not a MedCom activity code of {of}; they carry one of {', '.join(sorted(allowed))}",
            )
    criterion = None
    if filters.criteria is not None:
        try:
            criterion = compile_criteria(filters.criteria)
        except CriteriaError as exc:
            raise SubscriptionError("filters.criteria", str(exc)) from exc
        problem = catalogue.criterion_problem(filters.criteria, criterion, topic)
        if problem is not None:
            raise SubscriptionError("filters.criteria", problem)
    return CompiledSubscription(subscription, criterion)


def admit(
    subscription: Subscription,
    register: Register,
    known_events: Iterable[str],
    catalogue: EventCatalogue | None = None,
) -> Subscription:
    """A new subscription, valid and allowed by the register's subscription policy: returned with its basis.

    Raises :class:`SubscriptionError` naming the faulty field, or :class:`SubscriptionRefused` naming the field
    and the policy rule it breaks.
    """
    validate_subscription(subscription, register, known_events, catalogue)
    receiver = register.by_id(subscription.receiver_id)
    assert receiver is not None  # validated
    decision = basis_for(subscription, receiver, register.subscription_policy)
    if isinstance(decision, Refusal):
        raise SubscriptionRefused(decision.field, decision.message, decision.rule)
    return replace(subscription, basis=str(decision))


def policy_problem(register: Register, known_events: Iterable[str]) -> str | None:
    """An event code in the register's subscription policy that the hub does not know (or an acknowledgement)."""
    events = frozenset(known_events)
    for number, rule in enumerate(register.subscription_policy):
        for event in sorted(rule.events):
            if event == ACKNOWLEDGEMENT_EVENT:
                return f"subscription_policy[{number}] (rule {rule.rule}): acknowledgements have no subscriptions"
            if event != WILDCARD and event not in events:
                return f"subscription_policy[{number}] (rule {rule.rule}): {event!r} is not a known event code"
    return None


# --- parsing ----------------------------------------------------------------------------------------------


def _optional_text(data: Mapping[str, Any], name: str, where: str) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise SubscriptionError(f"{where}{name}", "expected non-empty text")
    return value.strip()


def filters_from_dict(data: Mapping[str, Any], *, where: str = "filters.") -> SubscriptionFilters:
    activity = data.get("activity") or ()
    if isinstance(activity, str):
        activity = [activity]
    if not isinstance(activity, list | tuple | set | frozenset) or not all(isinstance(a, str) for a in activity):
        raise SubscriptionError(f"{where}activity", "expected a list of activity codes")
    municipality = _optional_text(data, "municipality_code", where)
    if municipality is not None:  # "0101", "101" and YAML's number 101 are all Copenhagen: "101"
        municipality = normalise_municipality_code(municipality) or municipality
    return SubscriptionFilters(
        municipality_code=municipality,
        gp_list=_optional_text(data, "gp_list", where),
        sender=_optional_text(data, "sender", where),
        activity=frozenset(activity),
        criteria=_optional_text(data, "criteria", where),
    )


_TOP_FIELDS = frozenset({"id", "receiver", "topic", "filters", "status", "reason", "created_at"})


def subscription_from_dict(data: Any, *, where: str = "") -> Subscription:
    """A subscription from its JSON/YAML form: filters nested under ``filters`` or given at the top level.

    ``gp_list: self`` means the receiver's own practice.
    """
    if not isinstance(data, Mapping):
        raise SubscriptionError(where or "subscription", "expected an object")
    unknown = set(data) - _TOP_FIELDS - set(FILTER_FIELDS)
    if unknown:
        raise SubscriptionError(f"{where}{sorted(map(str, unknown))[0]}", "unknown field")
    nested = data.get("filters") or {}
    if not isinstance(nested, Mapping):
        raise SubscriptionError(f"{where}filters", "expected an object")
    flat = {k: data[k] for k in FILTER_FIELDS if k in data}
    both = set(flat) & set(nested)
    if both:
        raise SubscriptionError(f"{where}{sorted(both)[0]}", "given both at the top level and under filters")
    filters = filters_from_dict({**nested, **flat}, where=f"{where}filters.")
    subscription_id = _optional_text(data, "id", where)
    receiver = _optional_text(data, "receiver", where)
    topic = _optional_text(data, "topic", where)
    if subscription_id is None:
        raise SubscriptionError(f"{where}id", "is missing")
    if receiver is None:
        raise SubscriptionError(f"{where}receiver", "is missing")
    if topic is None:
        raise SubscriptionError(f"{where}topic", "is missing")
    if filters.gp_list == "self":
        filters = replace(filters, gp_list=receiver)
    status_text = _optional_text(data, "status", where) or SubscriptionStatus.ACTIVE
    if status_text not in (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAUSED):
        raise SubscriptionError(f"{where}status", f"{status_text!r} is not active or paused")
    status = SubscriptionStatus(status_text)
    reason = data.get("reason") or ""
    if not isinstance(reason, str):
        raise SubscriptionError(f"{where}reason", "expected text")
    created_at = data.get("created_at")
    return Subscription(
        id=subscription_id,
        receiver_id=receiver,
        topic=topic,
        filters=filters,
        status=status,
        reason=reason,
        created_at=created_at if isinstance(created_at, str) else None,
    )


def seed_from_register_file(
    path: Path, *, register: Register | None = None, known_events: Iterable[str] | None = None
) -> list[Subscription]:
    """The subscriptions the register file lists under ``subscriptions:`` (none when the key is absent).

    With a register (and the known event codes), each is admitted too: validated, and allowed by the register's
    subscription policy (its basis recorded). Errors name the file and entry; the hub does not start with one.
    """
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SubscriptionError("subscriptions", f"cannot read {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise SubscriptionError("subscriptions", f"{path} is not valid YAML: {exc}") from exc
    if register is not None:
        problem = policy_problem(register, known_events or ())
        if problem is not None:
            raise SubscriptionError("subscription_policy", f"{path}: {problem}")
    entries = data.get("subscriptions") if isinstance(data, dict) else None
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise SubscriptionError("subscriptions", f"{path}: expected a list")
    seeds: list[Subscription] = []
    seen: set[str] = set()
    for number, entry in enumerate(entries):
        where = f"{path}: subscriptions[{number}]."
        subscription = subscription_from_dict(entry, where=where)
        if subscription.id in seen:
            raise SubscriptionError(f"{where}id", f"{subscription.id!r} is listed twice")
        seen.add(subscription.id)
        if register is not None:
            try:
                subscription = admit(subscription, register, known_events or ())
            except SubscriptionRefused as exc:
                raise SubscriptionRefused(f"{where}{exc.field}", exc.message, exc.rule) from exc
            except SubscriptionError as exc:
                raise SubscriptionError(f"{where}{exc.field}", exc.message) from exc
        seeds.append(subscription)
    return seeds

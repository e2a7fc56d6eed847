"""Topic-based subscriptions (in the spirit of FHIR R5 / the Subscriptions Backport IG): who else gets a message.

A subscription names a receiver, a topic (a MedCom event code, or ``*`` for any event but acknowledgements)
and filters that must all hold: the patient's municipality of residence, the GP practice the patient is
listed at (both from the patient register), the sending organisation, the message's Provenance activity,
and a FHIRPath criterion on the Bundle (compiled once, when the subscription is created or loaded).

Everything here is pure: :func:`match` reads an immutable :class:`SubscriptionIndex`, and :func:`merge` adds
the matches to the routing decision of the MedCom destinations. The index is keyed by topic, and within a
topic by the most selective filter a subscription has (GP practice, else municipality, else sender), so one
message looks only at the subscriptions that can possibly match it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any

import fhirpathpy
import structlog
import yaml
from antlr4 import CommonTokenStream, InputStream, Token
from antlr4.error.ErrorListener import ErrorListener
from fhirpathpy.models import models as fhir_models
from fhirpathpy.parser.generated.FHIRPathLexer import FHIRPathLexer
from fhirpathpy.parser.generated.FHIRPathParser import FHIRPathParser

from hub.domain.medcom import ACKNOWLEDGEMENT_EVENT
from hub.domain.message import MessageFacts
from hub.route.patients import PatientRegister, normalise_municipality_code
from hub.route.register import OrganisationKind, Register
from hub.route.router import Delivery, RoutingDecision

log = structlog.get_logger(__name__)

WILDCARD = "*"
SUBSCRIPTION_USE = "subscription"
SUBSCRIPTION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_ACTIVITY_CODE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
FILTER_FIELDS = ("municipality_code", "gp_list", "sender", "activity", "criteria")


class SubscriptionStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"


class SubscriptionError(ValueError):
    """A subscription that cannot be used; `field` names the faulty part (``filters.criteria``, ...)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


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
        }


# --- FHIRPath criteria -------------------------------------------------------------------------------------

Criterion = Callable[[dict[str, Any]], list[Any]]


class CriteriaError(ValueError):
    """A FHIRPath criterion that does not compile."""


class _RaiseOnSyntaxError(ErrorListener):
    def syntaxError(  # the ANTLR interface
        self, recognizer: Any, offendingSymbol: Any, line: int, column: int, msg: str, e: Any
    ) -> None:
        raise CriteriaError(f"syntax error at column {column + 1}: {msg}")


def _check_syntax(expression: str) -> None:
    """fhirpathpy's own parser recovers silently from syntax errors; this one refuses them."""
    lexer = FHIRPathLexer(InputStream(expression))
    lexer.removeErrorListeners()
    lexer.addErrorListener(_RaiseOnSyntaxError())
    parser = FHIRPathParser(CommonTokenStream(lexer))
    parser.removeErrorListeners()
    parser.addErrorListener(_RaiseOnSyntaxError())
    parser.expression()
    token = parser.getCurrentToken()
    if token is not None and token.type != Token.EOF:
        raise CriteriaError(f"syntax error at column {token.column + 1}: unexpected {token.text!r}")


_PROBE: dict[str, Any] = {"resourceType": "Bundle", "type": "message", "entry": []}


@lru_cache(maxsize=4096)
def compile_criteria(expression: str) -> Criterion:
    """Compile a FHIRPath criterion once (identical expressions share the compiled form).

    Besides syntax, an evaluation on an empty message Bundle catches unknown functions and wrong arities,
    which fhirpathpy reports only when it evaluates.
    """
    if not expression.strip():
        raise CriteriaError("the expression is empty")
    try:
        _check_syntax(expression)
        compiled = fhirpathpy.compile(expression, fhir_models["r4"])
    except CriteriaError:
        raise
    except Exception as exc:  # fhirpathpy raises plain Exceptions
        raise CriteriaError(f"does not compile: {exc}") from exc
    try:
        compiled(dict(_PROBE), {})
    except Exception as exc:
        raise CriteriaError(f"does not evaluate: {exc}") from exc

    def criterion(bundle: dict[str, Any]) -> list[Any]:
        result = compiled(bundle, {})
        return result if isinstance(result, list) else [result]

    return criterion


def criterion_holds(result: Sequence[Any]) -> bool:
    """FHIRPath truth for a criterion: a non-empty result with no ``false`` in it."""
    return bool(result) and all(item is not False for item in result)


# --- validation, parsing -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CompiledSubscription:
    subscription: Subscription
    criterion: Criterion | None

    @property
    def id(self) -> str:
        return self.subscription.id


def validate_subscription(
    subscription: Subscription, register: Register, known_events: Iterable[str]
) -> CompiledSubscription:
    """Check a subscription against the register and the known event codes, and compile its criterion.

    Raises :class:`SubscriptionError` naming the first faulty field.
    """
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
    if topic != WILDCARD and topic not in receiver.accepts:
        log.info("subscription to an event its receiver does not accept", subscription=subscription.id, topic=topic)
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
    for code in filters.activity:
        if not _ACTIVITY_CODE.match(code):
            raise SubscriptionError("filters.activity", f"{code!r} is not an activity code")
    criterion = None
    if filters.criteria is not None:
        try:
            criterion = compile_criteria(filters.criteria)
        except CriteriaError as exc:
            raise SubscriptionError("filters.criteria", str(exc)) from exc
    return CompiledSubscription(subscription, criterion)


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
    try:
        status = SubscriptionStatus(status_text)
    except ValueError:
        raise SubscriptionError(f"{where}status", f"{status_text!r} is not active or paused") from None
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

    With a register (and the known event codes), each is validated too. Errors name the file and entry.
    """
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SubscriptionError("subscriptions", f"cannot read {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise SubscriptionError("subscriptions", f"{path} is not valid YAML: {exc}") from exc
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
                validate_subscription(subscription, register, known_events or ())
            except SubscriptionError as exc:
                raise SubscriptionError(f"{where}{exc.field}", exc.message) from exc
        seeds.append(subscription)
    return seeds


# --- the index and matching --------------------------------------------------------------------------------


@dataclass(slots=True)
class _Bucket:
    """The subscriptions of one topic, each filed under its most selective filter."""

    by_gp: dict[str, list[CompiledSubscription]] = field(default_factory=dict)
    by_municipality: dict[str, list[CompiledSubscription]] = field(default_factory=dict)
    by_sender: dict[str, list[CompiledSubscription]] = field(default_factory=dict)
    rest: list[CompiledSubscription] = field(default_factory=list)

    def add(self, compiled: CompiledSubscription) -> None:
        filters = compiled.subscription.filters
        if filters.gp_list is not None:
            self.by_gp.setdefault(filters.gp_list, []).append(compiled)
        elif filters.municipality_code is not None:
            self.by_municipality.setdefault(filters.municipality_code, []).append(compiled)
        elif filters.sender is not None:
            self.by_sender.setdefault(filters.sender, []).append(compiled)
        else:
            self.rest.append(compiled)

    def candidates(self, gp: str | None, municipality: str | None, sender: str) -> Iterable[CompiledSubscription]:
        """Every subscription of this topic that can match; each appears at most once."""
        if gp is not None:
            yield from self.by_gp.get(gp, ())
        if municipality is not None:
            yield from self.by_municipality.get(municipality, ())
        yield from self.by_sender.get(sender, ())
        yield from self.rest


class SubscriptionIndex:
    """The active subscriptions, indexed for matching. Immutable: changes make a new index."""

    def __init__(self, subscriptions: Iterable[CompiledSubscription] = ()) -> None:
        self._all: dict[str, CompiledSubscription] = {}
        self._by_event: dict[str, _Bucket] = {}
        self._wildcard = _Bucket()
        for compiled in subscriptions:
            if not compiled.subscription.active:
                continue
            self._all[compiled.id] = compiled
            topic = compiled.subscription.topic
            bucket = self._wildcard if topic == WILDCARD else self._by_event.setdefault(topic, _Bucket())
            bucket.add(compiled)

    @classmethod
    def build(
        cls, subscriptions: Iterable[Subscription], register: Register, known_events: Iterable[str]
    ) -> SubscriptionIndex:
        """Validate and compile stored subscriptions; one that no longer fits the register is left out (logged)."""
        events = frozenset(known_events)
        compiled: list[CompiledSubscription] = []
        for subscription in subscriptions:
            try:
                compiled.append(validate_subscription(subscription, register, events))
            except SubscriptionError as exc:
                log.warning("subscription left out", subscription=subscription.id, field=exc.field, problem=exc.message)
        return cls(compiled)

    def __len__(self) -> int:
        return len(self._all)

    def __contains__(self, subscription_id: object) -> bool:
        return subscription_id in self._all

    def subscriptions(self) -> list[Subscription]:
        return [c.subscription for c in self._all.values()]

    def with_subscription(self, compiled: CompiledSubscription) -> SubscriptionIndex:
        """A new index where this subscription replaces any of the same id (left out when not active)."""
        others = [c for c in self._all.values() if c.id != compiled.id]
        return SubscriptionIndex([*others, compiled])

    def without(self, subscription_id: str) -> SubscriptionIndex:
        return SubscriptionIndex(c for c in self._all.values() if c.id != subscription_id)

    def candidates(
        self, event: str, gp: str | None, municipality: str | None, sender: str
    ) -> Iterable[CompiledSubscription]:
        bucket = self._by_event.get(event)
        if bucket is not None:
            yield from bucket.candidates(gp, municipality, sender)
        if event != ACKNOWLEDGEMENT_EVENT:
            yield from self._wildcard.candidates(gp, municipality, sender)


@dataclass(frozen=True, slots=True)
class SubscriptionMatch:
    """One receiver that subscribed to the message; several subscriptions of one receiver make one match."""

    receiver_id: str
    subscription_id: str  # the first matching subscription (by id)
    reason: str  # "subscription <id>: <why>", one part per matching subscription, joined by "; "
    event: str
    subscription_ids: tuple[str, ...] = ()


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
    found: dict[str, list[tuple[str, str]]] = {}
    evaluated: dict[str, bool] = {}
    for compiled in index.candidates(event, gp, municipality, sender_id):
        receiver = compiled.subscription.receiver_id
        if receiver == sender_id:
            continue
        why = _why(compiled, facts, bundle, gp, municipality, sender_id, evaluated)
        if why is not None:
            found.setdefault(receiver, []).append((compiled.id, why))
    matches = []
    for receiver in sorted(found):
        reasons = sorted(found[receiver])
        matches.append(
            SubscriptionMatch(
                receiver_id=receiver,
                subscription_id=reasons[0][0],
                reason="; ".join(why for _, why in reasons),
                event=event,
                subscription_ids=tuple(sid for sid, _ in reasons),
            )
        )
    return matches


def merge(decision: RoutingDecision, matches: Iterable[SubscriptionMatch], register: Register) -> RoutingDecision:
    """The MedCom destinations plus every subscribed receiver, one delivery per receiver.

    A receiver the destinations already name keeps its delivery (and use); the subscription's reason is
    added to it. A subscriber the register no longer knows, or whose entry does not accept the event, is
    skipped and logged: not a routing failure, the sender did not ask for it.
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
        deliveries[receiver.id] = Delivery(receiver=receiver, use=SUBSCRIPTION_USE, reason=found.reason)
    return RoutingDecision(deliveries=tuple(deliveries.values()), failures=decision.failures)


class LiveSubscriptions:
    """What the ingress worker reads for every message: the current index and the patient register.

    The index is replaced as a whole (never changed in place), so a message is matched against one
    consistent set of subscriptions.
    """

    def __init__(self, index: SubscriptionIndex | None = None, patients: PatientRegister | None = None) -> None:
        self.index = index or SubscriptionIndex()
        self.patients = patients or PatientRegister()

    def match(self, facts: MessageFacts, bundle: dict[str, Any], sender_id: str) -> list[SubscriptionMatch]:
        return match(self.index, facts, bundle, self.patients, sender_id)

"""Who may subscribe to what: a subscription copies patient data to an organisation the sender did not address,
so it needs a basis. The register file's ``subscription_policy`` lists them: each rule lets one kind of
organisation (municipality, gp, hospital) subscribe to some events, with some filters required, and says on what
basis. A subscription no rule allows is refused; one a rule allows records the rule as its basis.

Pure: :func:`basis_for` decides from the subscription, the subscriber's register entry and the policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hub.route.event_catalogue import WILDCARD
from hub.route.patients import normalise_municipality_code
from hub.route.register import OWN_FILTERS, Organisation, PolicyRule

if TYPE_CHECKING:  # hub.route.subscription admits subscriptions with this module's decision
    from hub.route.subscription import Subscription


@dataclass(frozen=True, slots=True)
class Basis:
    """The policy rule that allows a subscription, and the basis it gives."""

    rule: str
    text: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.text}"


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why the policy allows no such subscription: the field that breaks it, the rule (None when no rule covers
    the subscriber's kind or the topic) and what the policy allows instead."""

    field: str
    rule: str | None
    message: str


def _events(rule: PolicyRule) -> str:
    return ", ".join(sorted("every event ('*')" if e == WILDCARD else e for e in rule.events))


def _requirement(name: str, value: str) -> str:
    return f"filters.{name} = {OWN_FILTERS[name]}" if value == "own" else f"filters.{name} given"


def describe(rule: PolicyRule) -> str:
    """What the rule allows, in words: 'rule x: a municipality may subscribe to ... with filters.y = ...'."""
    required = " and ".join(_requirement(n, v) for n, v in sorted(rule.requires.items())) or "no filter required"
    return f"rule {rule.rule}: a {rule.kind} may subscribe to {_events(rule)} with {required}"


def _covers(rule: PolicyRule, topic: str) -> bool:
    """A rule for '*' covers every topic; a subscription to '*' needs a rule for '*'."""
    return WILDCARD in rule.events or topic in rule.events


def _unmet(rule: PolicyRule, subscription: Subscription, subscriber: Organisation) -> tuple[str, str] | None:
    """The first filter the rule requires that the subscription lacks: (field, what is wrong)."""
    filters = subscription.filters
    for name, value in sorted(rule.requires.items()):
        given = getattr(filters, name)
        if not given:
            return f"filters.{name}", f"{_requirement(name, value)} is required, and the subscription has none"
        if value != "own":
            continue
        if name == "gp_list" and given != subscriber.id:
            return f"filters.{name}", f"filters.gp_list must be {subscriber.id} (the subscriber itself), not {given}"
        if name == "municipality_code":
            own = normalise_municipality_code(subscriber.municipality_code) if subscriber.municipality_code else None
            if own is None:
                return f"filters.{name}", f"the register gives {subscriber.id} no municipality_code of its own"
            if given != own:
                return f"filters.{name}", (
                    f"filters.municipality_code must be {own} ({subscriber.id}'s own municipality), not {given}"
                )
    return None


def basis_for(subscription: Subscription, subscriber: Organisation, policy: Sequence[PolicyRule]) -> Basis | Refusal:
    """The basis the policy gives this subscription (the first rule that allows it), or why it gives none."""
    if not policy:
        return Refusal("receiver", None, "the register file has no subscription_policy: nobody may subscribe")
    own_kind = [r for r in policy if r.kind == subscriber.kind]
    if not own_kind:
        allowed = "; ".join(describe(r) for r in policy)
        return Refusal(
            "receiver",
            None,
            f"the subscription policy lets no {subscriber.kind} subscribe ({subscriber.id} is one); "
            f"it allows: {allowed}",
        )
    covering = [r for r in own_kind if _covers(r, subscription.topic)]
    if not covering:
        allowed = "; ".join(describe(r) for r in own_kind)
        return Refusal(
            "topic",
            None,
            f"the subscription policy lets a {subscriber.kind} subscribe to {subscription.topic!r} by no rule; "
            f"it allows: {allowed}",
        )
    first: tuple[PolicyRule, str, str] | None = None
    for rule in covering:
        unmet = _unmet(rule, subscription, subscriber)
        if unmet is None:
            return Basis(rule.rule, rule.basis)
        if first is None:
            first = (rule, *unmet)
    assert first is not None
    rule, field, problem = first
    return Refusal(field, rule.rule, f"breaks rule {rule.rule}: {problem}; {describe(rule)}")

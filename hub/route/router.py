"""Who receives a message: a pure function of the message's facts and the endpoint register."""

from __future__ import annotations

from dataclasses import dataclass

from hub.domain import medcom
from hub.domain.message import Destination, MessageFacts
from hub.domain.outcome import Issue, error
from hub.route.accepts import version_refusal
from hub.route.register import Organisation, Register


@dataclass(frozen=True, slots=True)
class Delivery:
    """One receiver that must get the message, and why."""

    receiver: Organisation
    use: str  # primary | cc | subscription
    reason: str
    basis: str | None = None  # a subscription's copy: the subscription-policy rule that allows it
    via: str | None = None  # a subscription's copy sent as a rest-hook notification: that subscription's id


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    deliveries: tuple[Delivery, ...]
    failures: tuple[Issue, ...]

    @property
    def complete(self) -> bool:
        return not self.failures


def addressed(facts: MessageFacts) -> tuple[Destination, ...]:
    """The destinations this message is for: MedCom's rule for copies (governance 040, scenario #3a).

    Both the original and its carbon copy name every destination, primary and cc, so that each receiver knows who
    was which; the original is the primary receiver's message, and the copy (its own Provenance's activity
    carboncopy-message) is the cc receivers' message. A copy that names several cc receivers goes to each of them.
    """
    wanted = "cc" if facts.activity == medcom.CARBON_COPY_ACTIVITY else "primary"
    return tuple(d for d in facts.destinations if d.use == wanted)


def route(facts: MessageFacts, register: Register) -> RoutingDecision:
    """Resolve the MedCom destinations the message is for (`addressed`: primary, or cc for a carbon copy).

    A destination the register does not know, or whose organisation does not accept the event, or not in the
    version MessageHeader.definition names (hub.route.accepts.version_refusal), is a routing failure: reported
    with the destination's FHIRPath, never silently skipped. A receiver named twice gets the message once.
    """
    deliveries: dict[str, Delivery] = {}
    failures: list[Issue] = []
    event = facts.event or ""
    for destination in addressed(facts):
        sor = destination.organisation.sor if destination.organisation else None
        receiver = register.by_sor(sor)
        where = f"{destination.expression}.receiver"
        if receiver is None:
            failures.append(error("not-found", where, f"receiver with SOR code {sor} is not in the endpoint register"))
            continue
        if event not in receiver.accepts:
            failures.append(
                error(
                    "not-supported",
                    where,
                    f"receiver {receiver.id} (SOR {receiver.sor}) does not accept {event!r}; "
                    f"it accepts {', '.join(sorted(receiver.accepts))}",
                )
            )
            continue
        refused = version_refusal(event, receiver.versions_of(event), facts.definition)
        if refused is not None:
            failures.append(error("not-supported", where, f"receiver {receiver.id} (SOR {receiver.sor}) {refused}"))
            continue
        if receiver.id not in deliveries:
            deliveries[receiver.id] = Delivery(
                receiver=receiver,
                use=destination.use,
                reason=f"MessageHeader.destination ({destination.use or 'no use'}) names SOR {sor}",
            )
    return RoutingDecision(deliveries=tuple(deliveries.values()), failures=tuple(failures))

from __future__ import annotations

from hub.domain.message import Destination, MessageFacts, OrganisationRef
from hub.route.router import route
from tests.unit.route.registers import small_register


def facts(*destinations: tuple[str, str | None], event: str = "hospital-notification-message") -> MessageFacts:
    return MessageFacts(
        bundle_id="b",
        message_id="m",
        event=event,
        sender=OrganisationRef(sor="100000000000001"),
        destinations=tuple(
            Destination(
                use=use,
                organisation=OrganisationRef(sor=sor) if sor else None,
                expression=f"Bundle.entry[0].resource.destination[{i}]",
            )
            for i, (use, sor) in enumerate(destinations)
        ),
    )


def test_primary_and_cc_are_both_delivered() -> None:
    decision = route(facts(("primary", "200000000000001"), ("cc", "200000000000002")), small_register())
    assert [(d.receiver.id, d.use) for d in decision.deliveries] == [("kommune-a", "primary"), ("kommune-b", "cc")]
    assert decision.complete


def test_receiver_named_twice_gets_the_message_once() -> None:
    decision = route(facts(("primary", "200000000000001"), ("cc", "200000000000001")), small_register())
    assert [d.receiver.id for d in decision.deliveries] == ["kommune-a"]


def test_unknown_receiver_is_a_failure_naming_the_destination() -> None:
    decision = route(facts(("primary", "200000000000001"), ("cc", "777")), small_register())
    assert [d.receiver.id for d in decision.deliveries] == ["kommune-a"]
    assert not decision.complete
    (failure,) = decision.failures
    assert failure.code == "not-found"
    assert failure.expression == "Bundle.entry[0].resource.destination[1].receiver"
    assert "777" in failure.diagnostics


def test_receiver_that_does_not_accept_the_event_is_a_failure() -> None:
    decision = route(facts(("primary", "300000000000001")), small_register())
    assert decision.deliveries == ()
    (failure,) = decision.failures
    assert failure.code == "not-supported"
    assert "gp-only-acks" in failure.diagnostics and "hospital-notification-message" in failure.diagnostics


def test_destination_without_organisation_is_a_failure() -> None:
    decision = route(facts(("primary", None)), small_register())
    assert decision.deliveries == ()
    assert decision.failures[0].expression == "Bundle.entry[0].resource.destination[0].receiver"


def test_no_destinations_routes_nowhere_and_fails_nothing() -> None:
    decision = route(facts(), small_register())
    assert decision.deliveries == () and decision.failures == ()

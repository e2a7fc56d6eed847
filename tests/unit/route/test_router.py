from __future__ import annotations

from dataclasses import replace

import pytest

from hub.domain import medcom
from hub.domain.message import Destination, MessageFacts, OrganisationRef
from hub.route.register import Register
from hub.route.router import route
from tests.unit.route.registers import organisation, small_register

CARE_DEFINITION = f"{medcom.MESSAGE_DEFINITIONS}MedComCareCommunicationMessageDefinition"


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


def copy_of(message: MessageFacts) -> MessageFacts:
    """The carbon copy of a message: the same destinations, its own Provenance's activity carboncopy-message."""
    return replace(message, message_id="copy", activity=medcom.CARBON_COPY_ACTIVITY)


def test_the_original_goes_to_the_primary_receiver_only() -> None:
    decision = route(facts(("primary", "200000000000001"), ("cc", "200000000000002")), small_register())
    assert [(d.receiver.id, d.use) for d in decision.deliveries] == [("kommune-a", "primary")]
    assert decision.complete


def test_the_carbon_copy_goes_to_the_cc_receivers_only() -> None:
    decision = route(
        copy_of(facts(("primary", "200000000000001"), ("cc", "200000000000002"), ("cc", "200000000000003"))),
        small_register(organisation("kommune-c", "200000000000003")),
    )
    assert [(d.receiver.id, d.use) for d in decision.deliveries] == [("kommune-b", "cc"), ("kommune-c", "cc")]
    assert decision.complete


def test_the_original_does_not_resolve_its_cc_receivers() -> None:
    # an unknown cc receiver is the copy's routing failure, not the original's
    decision = route(facts(("primary", "200000000000001"), ("cc", "777")), small_register())
    assert [d.receiver.id for d in decision.deliveries] == ["kommune-a"] and decision.complete


def test_receiver_named_twice_gets_the_message_once() -> None:
    decision = route(
        copy_of(facts(("primary", "1"), ("cc", "200000000000001"), ("cc", "200000000000001"))), small_register()
    )
    assert [d.receiver.id for d in decision.deliveries] == ["kommune-a"]


def test_unknown_receiver_is_a_failure_naming_the_destination() -> None:
    decision = route(copy_of(facts(("primary", "1"), ("cc", "200000000000001"), ("cc", "777"))), small_register())
    assert [d.receiver.id for d in decision.deliveries] == ["kommune-a"]
    assert not decision.complete
    (failure,) = decision.failures
    assert failure.code == "not-found"
    assert failure.expression == "Bundle.entry[0].resource.destination[2].receiver"
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


def versioned_register() -> Register:
    """kommune-5 takes CareCommunication 5.0 only; kommune-any takes it in any version."""
    return small_register(
        organisation("kommune-5", "400000000000001", accepts=["care-communication-message|5.0"]),
        organisation("kommune-any", "400000000000002", accepts=["care-communication-message"]),
    )


def care(definition: str | None, *destinations: tuple[str, str | None]) -> MessageFacts:
    return replace(facts(*destinations, event="care-communication-message"), definition=definition)


def test_a_receiver_taking_the_messages_version_gets_it() -> None:
    decision = route(care(f"{CARE_DEFINITION}|5.0", ("primary", "400000000000001")), versioned_register())
    assert [d.receiver.id for d in decision.deliveries] == ["kommune-5"] and decision.complete


def test_a_version_the_receiver_does_not_take_is_a_failure_at_its_destination() -> None:
    decision = route(
        copy_of(care(f"{CARE_DEFINITION}|5.1", ("primary", "1"), ("cc", "400000000000002"), ("cc", "400000000000001"))),
        versioned_register(),
    )
    assert [d.receiver.id for d in decision.deliveries] == ["kommune-any"]  # any version: also 5.1
    (failure,) = decision.failures
    assert (failure.code, failure.expression) == ("not-supported", "Bundle.entry[0].resource.destination[2].receiver")
    assert failure.diagnostics.startswith("receiver kommune-5 (SOR 400000000000001) does not take version 5.1")
    assert "it takes version 5.0" in failure.diagnostics


@pytest.mark.parametrize("definition", [None, CARE_DEFINITION])
def test_a_message_naming_no_version_is_refused_only_by_a_receiver_that_names_versions(definition: str | None) -> None:
    decision = route(
        copy_of(care(definition, ("primary", "1"), ("cc", "400000000000002"), ("cc", "400000000000001"))),
        versioned_register(),
    )
    assert [d.receiver.id for d in decision.deliveries] == ["kommune-any"]
    (failure,) = decision.failures
    assert failure.expression == "Bundle.entry[0].resource.destination[2].receiver"
    assert "names no version" in failure.diagnostics


def test_an_event_without_named_versions_is_taken_in_any_version() -> None:
    notification = replace(facts(("primary", "400000000000001")), definition="http://example.org/X|9")
    register = small_register(
        organisation(
            "kommune-5", "400000000000001", accepts=["care-communication-message|5.0", "hospital-notification-message"]
        )
    )
    assert route(notification, register).complete

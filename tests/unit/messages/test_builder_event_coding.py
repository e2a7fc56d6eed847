"""MessageHeader.eventCoding: the system comes from the event (MedCom's event codes or the hub's own)."""

from __future__ import annotations

import pytest

from hub.domain import medcom
from hub.domain.message import OrganisationRef
from hub.domain.sektorhub import EVENT_CODE_SYSTEM as SEKTORHUB_EVENT_CODE_SYSTEM
from hub.domain.sektorhub import EVENTS as SEKTORHUB_EVENTS
from hub.messages import builder


@pytest.mark.parametrize(
    "event", ["hospital-notification-message", "care-communication-message", "acknowledgement-message"]
)
def test_a_medcom_event_has_medcoms_event_code_system(event: str) -> None:
    assert builder.event_coding(event) == {"system": medcom.EVENT_CODE_SYSTEM, "code": event}


@pytest.mark.parametrize("event", sorted(SEKTORHUB_EVENTS))
def test_an_own_event_has_the_hubs_event_code_system(event: str) -> None:
    assert builder.event_coding(event) == {"system": SEKTORHUB_EVENT_CODE_SYSTEM, "code": event}


def test_the_message_header_takes_the_system_from_its_event() -> None:
    sender = builder.organization(OrganisationRef("232351000016000", "5790000282562"), resource_id="s")
    for event, system in (
        ("empty-message", medcom.EVENT_CODE_SYSTEM),
        ("sektorhub-referral-message", SEKTORHUB_EVENT_CODE_SYSTEM),
    ):
        header = builder.message_header(resource_id="h", profile="p", event=event, sender=sender, destinations=[])
        assert header["eventCoding"] == {"system": system, "code": event}

"""The tracking as EDS AuditEvents through a running hub: a hospital finds the delivery status of its own messages,
another organisation finds nothing of them, the operator finds everything."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from hub.simulate.generator import MessageGenerator
from tests.integration.hubtest import HubUnderTest, eventually, fresh_message, post_message, wait_for_status

pytestmark = pytest.mark.integration

HOSPITAL, MUNICIPALITY, OTHER_HOSPITAL = "herlev-hjerte", "plejecenter-herlev", "messaging-sender"


def bearer(hub: HubUnderTest, organisation_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {hub.token(organisation_id)}"}


async def send_acknowledged_notification(hub: HubUnderTest, api: httpx.AsyncClient) -> tuple[str, str, str]:
    """A STIN from the hospital to the municipality, acknowledged; its tracking id, MessageHeader.id and the CPR."""
    generator = MessageGenerator(seed=secrets.randbits(32))  # a patient of its own: searches by CPR find only it
    hospital, municipality = hub.register.by_id(HOSPITAL), hub.register.by_id(MUNICIPALITY)
    assert hospital is not None and municipality is not None
    patient = generator.fictional_cpr()
    message = fresh_message(  # new ids: the generator's repeat with its seed, and a resend would be another copy
        generator.hospital_notification(
            sender=hospital.ref, receiver=municipality.ref, patient_cpr=patient, event="STIN", now=datetime.now(UTC)
        )
    )
    response = await post_message(api, message, token=hub.token(HOSPITAL))
    assert response.status_code == 202, response.text
    tracking_id = response.headers["X-Hub-Tracking-Id"]
    await wait_for_status(api, tracking_id, "acknowledged")
    return tracking_id, message["entry"][0]["resource"]["id"], patient


async def search(api: httpx.AsyncClient, headers: dict[str, str], **params: str) -> dict[str, Any]:
    response = await api.get("/fhir/AuditEvent", params=params, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    bundle: dict[str, Any] = response.json()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
    return bundle


def subtypes(bundle: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted((e["resource"]["subtype"][0]["code"], e["resource"]["outcome"]) for e in bundle["entry"])


async def test_a_hospital_reads_the_delivery_status_of_its_message_and_no_one_else_does(
    hub: HubUnderTest, api: httpx.AsyncClient
) -> None:
    tracking_id, message_id, patient = await send_acknowledged_notification(hub, api)
    hospital, municipality = hub.register.by_id(HOSPITAL), hub.register.by_id(MUNICIPALITY)
    assert hospital is not None and municipality is not None

    own = await search(api, bearer(hub, HOSPITAL), **{"message-id": message_id})
    assert own["total"] == 3 == len(own["entry"])
    assert subtypes(own) == [("msg-finalized", "0"), ("msg-received", "0"), ("msg-sent", "0")]
    for entry in own["entry"]:
        event = entry["resource"]
        assert entry["search"] == {"mode": "match"}
        assert entry["fullUrl"] == f"{hub.url}/fhir/AuditEvent/{event['id']}"
        assert event["meta"]["profile"] == ["http://medcomehmi.dk/ig/eds/StructureDefinition/EdsBasicDeliveryStatus"]
        sender, receiver = event["agent"]
        assert sender["who"]["identifier"]["value"] == hospital.sor
        assert sender["extension"][0]["valueIdentifier"]["value"] == hospital.gln
        assert receiver["who"]["identifier"]["value"] == municipality.sor
        assert event["entity"][0]["what"]["identifier"]["value"] == message_id
        assert event["entity"][0]["detail"][0]["valueString"] == "hospital-notification-message"
    assert patient not in str(own) and patient[:6] not in str(own)  # no CPR number, not even masked

    # the same through the EDS organisation parameters, the patient's CPR number and the date range
    since = (datetime.now(UTC) - timedelta(minutes=10)).isoformat().replace("+00:00", "Z")
    narrowed = await search(
        api,
        bearer(hub, HOSPITAL),
        **{
            "senderOrg": hospital.sor,
            "receiver-gln": str(municipality.gln),
            "cpr": patient,
            "ehmiMessageType": "hospital-notification-message",
            "date": f"ge{since}",
        },
    )
    assert {e["resource"]["id"] for e in narrowed["entry"]} == {e["resource"]["id"] for e in own["entry"]}
    assert patient not in str(narrowed)  # not even in the self link
    by_cpr = await search(api, bearer(hub, HOSPITAL), cpr=patient, _count="1")
    assert by_cpr["total"] == 3 and [link["relation"] for link in by_cpr["link"]] == ["self"]  # masked: no next
    failures = await search(api, bearer(hub, HOSPITAL), **{"message-id": message_id, "outcome": "8"})
    assert failures["total"] == 0

    first = own["entry"][0]["resource"]
    read = await api.get(f"/fhir/AuditEvent/{first['id']}", headers=bearer(hub, HOSPITAL))
    assert read.status_code == 200 and read.headers["content-type"].startswith("application/fhir+json")
    assert read.json() == first

    # the receiver sees them too: it is a party to the message
    received = await search(api, bearer(hub, MUNICIPALITY), **{"message-id": message_id})
    assert received["total"] == 3

    # another hospital: nothing, and not by id either
    other = await search(api, bearer(hub, OTHER_HOSPITAL), **{"message-id": message_id})
    assert other["total"] == 0 and other["entry"] == []
    hidden = await api.get(f"/fhir/AuditEvent/{first['id']}", headers=bearer(hub, OTHER_HOSPITAL))
    assert hidden.status_code == 404
    assert hidden.json()["resourceType"] == "OperationOutcome"
    assert hidden.headers["content-type"].startswith("application/fhir+json")

    # the operator (this hub has no operator token: no token is the operator) sees everything
    operator = await search(api, {}, **{"message-id": message_id})
    assert operator["total"] == 3
    assert (await api.get(f"/fhir/AuditEvent/{first['id']}")).status_code == 200
    assert tracking_id in first["id"]


async def test_the_acknowledgement_is_a_message_with_its_own_delivery_status(
    hub: HubUnderTest, api: httpx.AsyncClient
) -> None:
    started = datetime.now(UTC) - timedelta(seconds=1)
    await send_acknowledged_notification(hub, api)
    municipality = hub.register.by_id(MUNICIPALITY)
    assert municipality is not None
    params = {
        "senderOrg": municipality.sor,
        "ehmiMessageType": "acknowledgement-message",
        "date": f"ge{started.isoformat().replace('+00:00', 'Z')}",
    }

    async def delivered_to_the_hospital() -> bool:
        bundle = await search(api, bearer(hub, HOSPITAL), **params)
        return ("msg-sent", "0") in subtypes(bundle)

    await eventually(delivered_to_the_hospital, timeout=30)


async def test_pages_follow_their_next_links(hub: HubUnderTest, api: httpx.AsyncClient) -> None:
    _, message_id, _ = await send_acknowledged_notification(hub, api)
    headers = bearer(hub, HOSPITAL)
    page = await search(api, headers, **{"message-id": message_id, "_count": "1"})
    seen = []
    while True:
        assert page["total"] == 3 and len(page["entry"]) == 1
        seen.append(page["entry"][0]["resource"]["id"])
        following = [link["url"] for link in page["link"] if link["relation"] == "next"]
        if not following:
            break
        response = await api.get(following[0], headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
    assert len(seen) == 3 == len(set(seen))
    assert (await search(api, headers, **{"message-id": message_id, "_count": "0"}))["entry"] == []


async def test_bad_searches_and_tokens_are_refused_with_an_operation_outcome(
    hub: HubUnderTest, guarded_hub: HubUnderTest, api: httpx.AsyncClient
) -> None:
    bad = await api.get("/fhir/AuditEvent", params={"date": "yesterday"}, headers=bearer(hub, HOSPITAL))
    assert bad.status_code == 400
    assert bad.headers["content-type"].startswith("application/fhir+json")
    assert bad.json()["issue"][0]["expression"] == ["http.date"]
    unknown = await api.get("/fhir/AuditEvent", params={"sender": HOSPITAL}, headers=bearer(hub, HOSPITAL))
    assert unknown.status_code == 400 and unknown.json()["issue"][0]["expression"] == ["http.sender"]
    # a hub with an operator token (as in production) refuses a token it does not know
    async with httpx.AsyncClient(base_url=guarded_hub.url, timeout=30) as guarded:
        stranger = await guarded.get("/fhir/AuditEvent", headers={"Authorization": "Bearer not-a-token"})
    assert stranger.status_code == 401 and stranger.json()["resourceType"] == "OperationOutcome"
    missing = await api.get("/fhir/AuditEvent/no-such-event")
    assert missing.status_code == 404 and missing.json()["resourceType"] == "OperationOutcome"

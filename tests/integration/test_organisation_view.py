"""Each organisation's own view, through a running hub with an operator token: a hospital reads the messages it
sent, a municipality those it received, each gets 404 for the others' messages, and the figures of a period
count what was sent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from hub.simulate.generator import MessageGenerator
from tests.integration.hubtest import OPERATOR_TOKEN, HubUnderTest, post_message, wait_for_status

pytestmark = pytest.mark.integration


@pytest.fixture
async def client(guarded_hub: HubUnderTest) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=guarded_hub.url, timeout=60) as client:
        yield client


def as_(hub: HubUnderTest, organisation_id: str | None) -> dict[str, str]:
    token = OPERATOR_TOKEN if organisation_id is None else hub.token(organisation_id)
    return {"Authorization": f"Bearer {token}"}


async def send(hub: HubUnderTest, client: httpx.AsyncClient, sender_id: str, receiver_id: str, patient: str) -> str:
    sender, receiver = hub.register.by_id(sender_id), hub.register.by_id(receiver_id)
    assert sender is not None and receiver is not None
    message = MessageGenerator(seed=hash(patient) % 1000).care_communication(
        sender=sender.ref, receiver=receiver.ref, patient_cpr=patient, now=datetime.now(UTC)
    )
    response = await post_message(client, message, token=hub.token(sender_id))
    assert response.status_code == 202, response.text
    tracking_id: str = response.headers["X-Hub-Tracking-Id"]
    operator = httpx.AsyncClient(base_url=hub.url, headers=as_(hub, None), timeout=60)
    async with operator:
        await wait_for_status(operator, tracking_id, "acknowledged")
    return tracking_id


async def listed(client: httpx.AsyncClient, headers: dict[str, str], **params: str) -> dict[str, Any]:
    response = await client.get("/api/messages", params=params, headers=headers)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def test_each_organisation_reads_its_own_messages_and_gets_404_for_others(
    guarded_hub: HubUnderTest, client: httpx.AsyncClient
) -> None:
    hub = guarded_hub
    since = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    generator = MessageGenerator(seed=1501)
    patient_a, patient_b = generator.fictional_cpr(), generator.fictional_cpr()
    herlevs = await send(hub, client, "herlev-hjerte", "plejecenter-herlev", patient_a)
    others = await send(hub, client, "messaging-sender", "messaging-receiver", patient_b)

    # the hospital: its own message, with the receiver's delivery and acknowledgement; not the other's
    hospital = as_(hub, "herlev-hjerte")
    own = await listed(client, hospital, since=since, event="care-communication-message")
    assert [m["tracking_id"] for m in own["messages"]] == [herlevs]
    assert own["messages"][0]["receivers"][0]["acknowledgement"] == "ok"
    read = await client.get(f"/api/messages/{herlevs}", headers=hospital)
    assert read.status_code == 200 and read.json()["status"] == "acknowledged"
    assert [s["step"] for s in read.json()["timeline"]][:2] == ["received", "routed"]
    theirs = await client.get(f"/api/messages/{others}", headers=hospital)
    assert theirs.status_code == 404, theirs.text
    assert theirs.json()["resourceType"] == "OperationOutcome"
    assert theirs.json() == (await client.get("/api/messages/no-such-message", headers=hospital)).json() | {
        "issue": theirs.json()["issue"]
    }
    # the receiver's acknowledgement, addressed to the hospital, is the hospital's message too
    answers = await listed(client, hospital, since=since, event="acknowledgement-message")
    assert {m["sender"] for m in answers["messages"]} == {"plejecenter-herlev"}

    # a patient is found by CPR only in the messages the organisation is a party to
    assert (await listed(client, hospital, patient=patient_a))["total"] == 1
    assert (await listed(client, hospital, patient=patient_b))["total"] == 0
    assert (await listed(client, hospital, sender="messaging-sender", since=since))["total"] == 0

    # the municipality that received it reads it; one that did not gets 404
    municipality = as_(hub, "plejecenter-herlev")
    received = await client.get(f"/api/messages/{herlevs}", headers=municipality)
    assert received.status_code == 200
    assert [d["receiver"] for d in received.json()["receivers"]] == ["plejecenter-herlev"]
    assert (await client.get(f"/api/messages/{others}", headers=municipality)).status_code == 404
    bystander = as_(hub, "forward-receiver")
    assert (await client.get(f"/api/messages/{herlevs}", headers=bystander)).status_code == 404
    assert (await listed(client, bystander, since=since))["total"] == 0

    # the operator sees both; an unknown token nothing
    everything = await listed(client, as_(hub, None), since=since, event="care-communication-message")
    assert {m["tracking_id"] for m in everything["messages"]} == {herlevs, others}
    unknown = await client.get("/api/messages", headers={"Authorization": "Bearer nobody"})
    assert unknown.status_code == 401


async def test_the_figures_of_a_period_count_what_an_organisation_sent(
    guarded_hub: HubUnderTest, client: httpx.AsyncClient
) -> None:
    hub = guarded_hub
    since = datetime.now(UTC)  # the hub stamps received_at on this machine's clock, after this
    generator = MessageGenerator(seed=1502)
    sent = [
        await send(hub, client, "messaging-sender", "plejecenter-herlev", generator.fictional_cpr()) for _ in range(3)
    ]
    until = datetime.now(UTC) + timedelta(seconds=1)
    period = {"since": since.isoformat(), "until": until.isoformat()}

    figures = (await client.get("/api/figures", params=period, headers=as_(hub, "messaging-sender"))).json()
    assert figures["organisation"] == "messaging-sender"
    care = figures["messages"]["by_event"]["care-communication-message"]
    assert care == {"total": len(sent), "by_status": {"acknowledged": len(sent)}}
    # the receiver's acknowledgements came back to the sender: its messages too
    assert figures["messages"]["by_event"]["acknowledgement-message"]["total"] == len(sent)
    assert figures["delivery"]["count"] == 2 * len(sent)  # each message to the municipality, each answer back
    assert figures["acknowledgement"]["count"] == len(sent)
    assert figures["acknowledgement"]["within_deadline"] == len(sent)
    p50, p95 = figures["acknowledgement"]["p50_seconds"], figures["acknowledgement"]["p95_seconds"]
    assert 0 <= p50 <= p95

    bystander = (await client.get("/api/figures", params=period, headers=as_(hub, "closed-gp"))).json()
    assert bystander["messages"]["total"] == 0 and bystander["delivery"]["count"] == 0

    backwards = await client.get(
        "/api/figures", params={"since": period["until"], "until": period["since"]}, headers=as_(hub, None)
    )
    assert backwards.status_code == 400
    assert backwards.json()["issue"][0]["expression"] == ["http.since"]

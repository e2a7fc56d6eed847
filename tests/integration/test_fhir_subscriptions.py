"""A municipality's system subscribes itself through /fhir/Subscription (the Subscriptions Backport IG for R4),
against a real hub process: with its own token it creates a Subscription to hospital notifications about its
residents, gets such a message delivered through it, reads, lists, pauses and deletes its own; another organisation
finds nothing of it; the hub's checks refuse what /api/subscriptions refuses, naming the element; a channel it does
not offer is refused; and the subscription survives a restart of the hub process.

The test register's policy (tests/integration/hubtest.py TEST_SUBSCRIPTION_POLICY): municipalities may subscribe to
hospital notifications about their own residents. forward-receiver is municipality 101.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from hub.broker.embedded import EmbeddedBroker
from hub.domain.message import read_facts
from hub.simulate.generator import MessageGenerator
from tests.integration.hubtest import HubUnderTest, eventually, post_message, running_hub, wait_for_status

pytestmark = pytest.mark.integration

HN = "hospital-notification-message"
RESIDENT = "0202802345"  # lives in 101 (forward-receiver's municipality)
TOPIC = f"https://sektor-hub.dk/fhir/SubscriptionTopic/{HN}"
BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
BASIS = "https://sektor-hub.dk/fhir/StructureDefinition/subscription-basis"
SUBSCRIBER = "https://sektor-hub.dk/fhir/StructureDefinition/subscriber"
REGISTER_ID = "https://sektor-hub.dk/fhir/NamingSystem/register-id"


def write_patients(path: Path) -> Path:
    path.write_text(yaml.safe_dump({"patients": [{"cpr": RESIDENT, "municipality_code": "101"}]}), encoding="utf-8")
    return path


def subscription(*filters: str, channel: dict[str, Any] | None = None, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Subscription",
        "meta": {"profile": [f"{BACKPORT}backport-subscription"]},
        "status": "requested",
        "reason": "hospital stays of our residents",
        "criteria": TOPIC,
        "_criteria": {"extension": [{"url": f"{BACKPORT}backport-filter-criteria", "valueString": f} for f in filters]},
        "channel": channel or {"type": "message", "payload": "application/fhir+json"},
    }
    return body | changes


def bearer(hub: HubUnderTest, organisation: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {hub.token(organisation)}"}


async def refused(
    api: httpx.AsyncClient, hub: HubUnderTest, organisation: str, body: dict[str, Any], status: int = 400
) -> dict[str, Any]:
    """The single issue of the OperationOutcome the hub answers the organisation's POST of `body` with."""
    response = await api.post("/fhir/Subscription", json=body, headers=bearer(hub, organisation))
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    [issue] = outcome["issue"]
    assert isinstance(issue, dict)
    return issue


async def send_about_resident(hub: HubUnderTest, api: httpx.AsyncClient) -> tuple[str, str]:
    """A hospital notification about the resident from herlev-hjerte to plejecenter-herlev (not the subscriber),
    accepted: its MessageHeader.id and tracking id."""
    bundle = MessageGenerator().hospital_notification(
        sender=hub.register.by_id("herlev-hjerte").ref,  # type: ignore[union-attr]
        receiver=hub.register.by_id("plejecenter-herlev").ref,  # type: ignore[union-attr]
        event="STIN",
        patient_cpr=RESIDENT,
        now=datetime.now(UTC),
    )
    sent = await post_message(api, bundle, token=hub.token("herlev-hjerte"))
    assert sent.status_code == 202, sent.text
    message_id = read_facts(bundle).message_id
    assert message_id is not None
    return message_id, sent.headers["X-Hub-Tracking-Id"]


async def notify(hub: HubUnderTest, api: httpx.AsyncClient) -> str:
    """A hospital notification about the resident, as send_about_resident; its message id once the hub has
    delivered it."""
    message_id, tracking_id = await send_about_resident(hub, api)
    await wait_for_status(api, tracking_id, "acknowledged", timeout=90)
    return message_id


def received_by(hub: HubUnderTest, receiver: str) -> set[str | None]:
    return {r.facts.message_id for r in hub.receivers.received.get(receiver, [])}


async def test_a_municipality_subscribes_itself_through_fhir(broker: EmbeddedBroker, tmp_path: Path) -> None:
    async with (
        running_hub(
            bootstrap_servers=broker.bootstrap_servers,
            workdir=tmp_path / "hub",
            topic_prefix="fhirsubs.",
            HUB_PATIENT_REGISTER_FILE=str(write_patients(tmp_path / "patients.yaml")),
        ) as hub,
        httpx.AsyncClient(base_url=hub.url, timeout=30) as api,
    ):
        own = bearer(hub, "forward-receiver")
        other = bearer(hub, "plejecenter-herlev")

        # --- the topics, for any authenticated caller ------------------------------------------------------
        topics = (await api.get("/fhir/SubscriptionTopic", headers=own)).json()
        assert topics["resourceType"] == "Bundle" and topics["type"] == "searchset"
        urls = {e["resource"]["url"] for e in topics["entry"]}
        assert TOPIC in urls
        assert not any(u.endswith("/acknowledgement-message") for u in urls)
        topic = (await api.get(f"/fhir/SubscriptionTopic/{HN}", headers=other)).json()
        filters = [f["filterParameter"] for f in topic["canFilterBy"]]
        assert filters == ["municipality-code", "gp-list", "sender", "activity", "criteria"]
        assert (await api.get("/fhir/SubscriptionTopic/nothing", headers=own)).status_code == 404

        # --- refusals: outside the policy, nonsense, another receiver, rest-hook ---------------------------
        elsewhere = await refused(api, hub, "forward-receiver", subscription("Bundle?municipality-code=163"))
        assert elsewhere["code"] == "business-rule"
        assert elsewhere["expression"] == ["Subscription.criteria.extension[0]"]
        assert "outside the subscription policy: breaks rule municipality-of-residence" in elsewhere["diagnostics"]
        assert "must be 101 (forward-receiver's own municipality), not 163" in elsewhere["diagnostics"]

        closed = await refused(api, hub, "closed-gp", subscription("Bundle?gp-list=self"))
        assert closed["expression"] == ["Subscription.criteria"]
        assert "closed-gp does not accept hospital-notification-message" in closed["diagnostics"]
        activity = await refused(
            api, hub, "forward-receiver", subscription("Bundle?municipality-code=101", "Bundle?activity=new-message")
        )
        assert activity["expression"] == ["Subscription.criteria.extension[1]"]
        assert "'new-message' is not a MedCom activity code of hospital-notification-message" in activity["diagnostics"]
        criteria = await refused(
            api,
            hub,
            "forward-receiver",
            subscription("Bundle?municipality-code=101", "Bundle?criteria=Bundle.timestamp > 5"),
        )
        assert criteria["expression"] == ["Subscription.criteria.extension[1]"]
        assert criteria["diagnostics"].startswith("fails on the trial message hospital-notification-message/")

        naming_another = subscription(
            "Bundle?municipality-code=163",
            extension=[{"url": SUBSCRIBER, "valueIdentifier": {"system": REGISTER_ID, "value": "plejecenter-herlev"}}],
        )
        another = await refused(api, hub, "forward-receiver", naming_another, status=403)
        assert another["expression"] == ["Subscription.extension[0]"]
        assert "subscribes only itself, not plejecenter-herlev" in another["diagnostics"]

        hook = await refused(
            api,
            hub,
            "forward-receiver",
            subscription("Bundle?municipality-code=101", channel={"type": "websocket"}),
        )
        assert hook["expression"] == ["Subscription.channel.type"]
        assert "channel 'message'" in hook["diagnostics"] and "'rest-hook'" in hook["diagnostics"]
        assert (await api.get("/api/subscriptions")).json()["total"] == 0  # none of them was stored

        # --- created with the municipality's own token -----------------------------------------------------
        created = await api.post("/fhir/Subscription", json=subscription("Bundle?municipality-code=101"), headers=own)
        assert created.status_code == 201, created.text
        made = created.json()
        subscription_id = made["id"]
        assert created.headers["Location"] == f"{hub.url}/fhir/Subscription/{subscription_id}"
        assert made["status"] == "active"
        assert made["meta"]["profile"] == [f"{BACKPORT}backport-subscription"]
        assert made["reason"] == "hospital stays of our residents"
        assert made["channel"]["type"] == "message"
        [basis] = [e["valueString"] for e in made["extension"] if e["url"] == BASIS]
        assert basis.startswith("municipality-of-residence: MedCom HospitalNotification guideline")
        operator_view = (await api.get(f"/api/subscriptions/{subscription_id}")).json()
        assert (operator_view["receiver"], operator_view["channel"], operator_view["created_by"]) == (
            "forward-receiver",
            "message",
            "forward-receiver",
        )
        assert operator_view["basis"] == basis

        # --- a message about a resident reaches it through the subscription --------------------------------
        first = await notify(hub, api)
        await eventually(lambda: first in received_by(hub, "forward-receiver"))

        # --- its own: read and listed; another organisation finds nothing --------------------------------
        assert (await api.get(f"/fhir/Subscription/{subscription_id}", headers=own)).json() == made
        listed = (await api.get("/fhir/Subscription", headers=own)).json()
        assert [e["resource"]["id"] for e in listed["entry"]] == [subscription_id]
        assert (await api.get("/fhir/Subscription", headers=own, params={"status": "off"})).json()["total"] == 0
        assert (await api.get("/fhir/Subscription", headers=other)).json()["total"] == 0
        assert (await api.get(f"/fhir/Subscription/{subscription_id}", headers=other)).status_code == 404
        paused_by_other = await api.put(
            f"/fhir/Subscription/{subscription_id}", json={**made, "status": "off"}, headers=other
        )
        assert paused_by_other.status_code == 404
        assert (await api.delete(f"/fhir/Subscription/{subscription_id}", headers=other)).status_code == 404
        operator_list = (await api.get("/fhir/Subscription")).json()  # the operator sees every one
        assert [e["resource"]["id"] for e in operator_list["entry"]] == [subscription_id]

        # --- changed with the same checks: paused (off), and back ---------------------------------------
        outside = await api.put(
            f"/fhir/Subscription/{subscription_id}",
            json=subscription("Bundle?municipality-code=163", id=subscription_id),
            headers=own,
        )
        assert outside.status_code == 400
        assert outside.json()["issue"][0]["code"] == "business-rule"
        paused = await api.put(f"/fhir/Subscription/{subscription_id}", json={**made, "status": "off"}, headers=own)
        assert paused.status_code == 200, paused.text
        assert paused.json()["status"] == "off"
        assert (await api.get(f"/api/subscriptions/{subscription_id}")).json()["status"] == "paused"
        resumed = await api.put(f"/fhir/Subscription/{subscription_id}", json=made, headers=own)
        assert resumed.json()["status"] == "active"

        # --- it survives a restart of the hub, and still delivers ----------------------------------------
        assert await hub.process.terminate() == 0
        await hub.process.start()
        after = (await api.get(f"/fhir/Subscription/{subscription_id}", headers=own)).json()
        assert (after["status"], after["criteria"], after["_criteria"]) == ("active", TOPIC, made["_criteria"])
        second = await notify(hub, api)
        await eventually(lambda: second in received_by(hub, "forward-receiver"))

        # --- unsubscribed ---------------------------------------------------------------------------------
        assert (await api.delete(f"/fhir/Subscription/{subscription_id}", headers=own)).status_code == 204
        assert (await api.get(f"/fhir/Subscription/{subscription_id}", headers=own)).status_code == 404
        assert (await api.get("/api/subscriptions")).json()["total"] == 0

"""Subscriptions end to end: a real hub process with a patient register, subscriptions made through the API,
hospital notifications posted by a hospital, and every receiver's copies counted exactly.

Who subscribes (test register ids):
- messaging-receiver (a GP): hospital notifications about the patients listed at its own practice;
- forward-receiver (the municipality 101): admissions of its residents;
- messaging-sender (a hospital, by the test register's test-only policy rule): hospital notifications sent by
  herlev-hjerte whose Encounter is acute ambulant (EMER);
- closed-gp: nothing; its register entry accepts only acknowledgements, so the API refuses its subscription.
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

LISTED = "0101701234"  # lives in Herlev (163), listed at messaging-receiver
RESIDENT = "0202802345"  # lives in 101, listed at mailbox-gp
NOBODY = "0303903456"  # not in the patient register
SUBSCRIBERS = ("messaging-receiver", "forward-receiver", "messaging-sender", "closed-gp")
EMER = "Bundle.entry.resource.ofType(Encounter).class.code = 'EMER'"


def write_patients(path: Path) -> Path:
    patients = [
        {"cpr": LISTED, "municipality_code": "163", "gp": "messaging-receiver"},
        {"cpr": RESIDENT, "municipality_code": "101", "gp": "mailbox-gp"},
    ]
    path.write_text(yaml.safe_dump({"patients": patients}), encoding="utf-8")
    return path


class Sent:
    def __init__(self, tracking_id: str, message_id: str) -> None:
        self.tracking_id = tracking_id
        self.message_id = message_id


async def send(hub: HubUnderTest, api: httpx.AsyncClient, event: str, cpr: str) -> Sent:
    bundle = MessageGenerator().hospital_notification(
        sender=hub.register.by_id("herlev-hjerte").ref,  # type: ignore[union-attr]
        receiver=hub.register.by_id("plejecenter-herlev").ref,  # type: ignore[union-attr]
        event=event,
        patient_cpr=cpr,
        now=datetime.now(UTC),
    )
    response = await post_message(api, bundle, token=hub.token("herlev-hjerte"))
    assert response.status_code == 202, response.text
    message_id = read_facts(bundle).message_id
    assert message_id
    return Sent(response.headers["X-Hub-Tracking-Id"], message_id)


def received(hub: HubUnderTest, receiver: str, sent: list[Sent]) -> set[str]:
    """The ids of our messages (not acknowledgements) that `receiver` got."""
    ours = {s.message_id for s in sent}
    return {r.facts.message_id or "" for r in hub.receivers.received.get(receiver, []) if r.facts.message_id in ours}


def routed_receivers(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    routed = [step for step in record["timeline"] if step["step"] == "routed"]
    assert len(routed) == 1, record["timeline"]
    return {r["receiver"]: r for r in routed[0]["detail"]["receivers"]}


async def subscribe(api: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.post("/api/subscriptions", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_subscriptions_route_copies_and_pausing_stops_them(broker: EmbeddedBroker, tmp_path: Path) -> None:
    async with (
        running_hub(
            bootstrap_servers=broker.bootstrap_servers,
            workdir=tmp_path / "hub",
            topic_prefix="subs.",
            HUB_PATIENT_REGISTER_FILE=str(write_patients(tmp_path / "patients.yaml")),
        ) as hub,
        httpx.AsyncClient(base_url=hub.url, timeout=30) as api,
    ):
        # --- the API refuses what cannot work, naming the field ---------------------------------------
        for body, field in (
            ({"receiver": "nobody", "topic": "hospital-notification-message"}, "receiver"),
            ({"receiver": "messaging-receiver", "topic": "no-such-event"}, "topic"),
            (
                {"receiver": "messaging-receiver", "topic": "*", "filters": {"criteria": "entry.where("}},
                "filters.criteria",
            ),
            (
                {"receiver": "messaging-receiver", "topic": "*", "filters": {"gp_list": "kommune-x"}},
                "filters.gp_list",
            ),
            ({"receiver": "closed-gp", "topic": "*"}, "receiver"),  # it would never get anything
        ):
            refused = await api.post("/api/subscriptions", json=body)
            assert refused.status_code == 400, refused.text
            outcome = refused.json()
            assert outcome["resourceType"] == "OperationOutcome"
            assert outcome["issue"][0]["expression"] == [field]
        assert (await api.get("/api/subscriptions")).json()["total"] == 0

        # --- subscriptions -----------------------------------------------------------------------------
        gp = await subscribe(
            api,
            {
                "id": "gp-listed",
                "receiver": "messaging-receiver",
                "topic": "hospital-notification-message",
                "filters": {"gp_list": "self"},
                "reason": "notifications about my listed patients",
            },
        )
        assert gp["filters"] == {"gp_list": "messaging-receiver"} and gp["status"] == "active"
        assert gp["created_at"]
        await subscribe(
            api,
            {
                "id": "residents-101",
                "receiver": "forward-receiver",
                "topic": "hospital-notification-message",
                "filters": {"municipality_code": "101", "activity": ["admit-inpatient", "admit-emergency"]},
            },
        )
        await subscribe(
            api,
            {
                "id": "herlev-acute",
                "receiver": "messaging-sender",
                "topic": "hospital-notification-message",
                "filters": {"sender": "herlev-hjerte", "criteria": EMER},
            },
        )
        listing = (await api.get("/api/subscriptions", params={"receiver": "messaging-receiver"})).json()
        assert [s["id"] for s in listing["subscriptions"]] == ["gp-listed"]
        assert (await api.get("/api/subscriptions/gp-listed")).json()["receiver"] == "messaging-receiver"
        assert (await api.get("/api/subscriptions/nope")).status_code == 404

        # --- messages ----------------------------------------------------------------------------------
        listed_admitted = await send(hub, api, "STIN", LISTED)  # IMP, admit-inpatient
        resident_acute = await send(hub, api, "STAA", RESIDENT)  # EMER, admit-emergency
        resident_leave = await send(hub, api, "STOR", RESIDENT)  # IMP, start-leave-inpatient
        stranger = await send(hub, api, "STIN", NOBODY)
        first = [listed_admitted, resident_acute, resident_leave, stranger]
        for sent in first:
            await wait_for_status(api, sent.tracking_id, "acknowledged", timeout=90)

        expected = {
            "plejecenter-herlev": {s.message_id for s in first},
            "messaging-receiver": {listed_admitted.message_id},
            "forward-receiver": {resident_acute.message_id},
            "messaging-sender": {resident_acute.message_id},
            "closed-gp": set(),
            "mailbox-gp": set(),
        }
        assert {r: received(hub, r, first) for r in expected} == expected

        record = (await api.get(f"/api/messages/{resident_acute.tracking_id}")).json()
        receivers = routed_receivers(record)
        assert set(receivers) == {"plejecenter-herlev", "forward-receiver", "messaging-sender"}
        assert receivers["plejecenter-herlev"]["use"] == "primary"
        assert receivers["forward-receiver"]["use"] == "subscription"
        assert receivers["forward-receiver"]["reason"].startswith("subscription residents-101: ")
        assert "patient resident in municipality 101" in receivers["forward-receiver"]["reason"]
        assert receivers["messaging-sender"]["reason"].startswith("subscription herlev-acute: ")
        assert EMER in receivers["messaging-sender"]["reason"]
        gp_record = (await api.get(f"/api/messages/{listed_admitted.tracking_id}")).json()
        assert "patient listed at messaging-receiver" in routed_receivers(gp_record)["messaging-receiver"]["reason"]

        # --- pausing stops delivery to the subscriber; resuming restores it ------------------------------
        paused = await api.post("/api/subscriptions/gp-listed/pause")
        assert paused.status_code == 200 and paused.json()["status"] == "paused"
        while_paused = await send(hub, api, "STIN", LISTED)
        await wait_for_status(api, while_paused.tracking_id, "acknowledged", timeout=90)
        paused_record = (await api.get(f"/api/messages/{while_paused.tracking_id}")).json()
        assert set(routed_receivers(paused_record)) == {"plejecenter-herlev"}
        assert received(hub, "messaging-receiver", [while_paused]) == set()

        resumed = await api.post("/api/subscriptions/gp-listed/resume")
        assert resumed.status_code == 200 and resumed.json()["status"] == "active"
        after_resume = await send(hub, api, "STIN", LISTED)
        await wait_for_status(api, after_resume.tracking_id, "acknowledged", timeout=90)
        await eventually(lambda: received(hub, "messaging-receiver", [after_resume]) == {after_resume.message_id})

        # --- deleting ------------------------------------------------------------------------------------
        assert (await api.delete("/api/subscriptions/herlev-acute")).status_code == 204
        assert (await api.delete("/api/subscriptions/herlev-acute")).status_code == 404
        remaining = (await api.get("/api/subscriptions", params={"status": "active"})).json()
        assert sorted(s["id"] for s in remaining["subscriptions"]) == ["gp-listed", "residents-101"]

        # in total: nobody got anything twice, and nobody got anything it was not meant to
        everything = [*first, while_paused, after_resume]
        for receiver in SUBSCRIBERS:
            copies = [r.facts.message_id for r in hub.receivers.received.get(receiver, [])]
            assert len(copies) == len(set(copies)), receiver
        assert received(hub, "messaging-receiver", everything) == {
            listed_admitted.message_id,
            after_resume.message_id,
        }
